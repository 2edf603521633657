"""A small sample dataset made at setup from one that scikit-learn ships (nothing downloaded)."""
from __future__ import annotations

import csv
import io


def breast_cancer_csv(null_every: int = 37) -> bytes:
    """scikit-learn's breast cancer data as CSV: 30 numeric features, a derived categorical column
    `size_band`, a few missing values, and a string target `diagnosis` (malignant / benign)."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    names = [n.replace(" ", "_") for n in data.feature_names]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(names + ["size_band", "diagnosis"])
    area = list(names).index("mean_area")
    for i, (row, label) in enumerate(zip(data.data, data.target)):
        values = [f"{v:.6g}" for v in row]
        if i % null_every == 5:
            values[1] = ""  # a missing mean_texture now and then: imputed by the pipeline
        band = "small" if row[area] < 500 else "medium" if row[area] < 1000 else "large"
        writer.writerow(values + [band, data.target_names[label]])
    return out.getvalue().encode()
