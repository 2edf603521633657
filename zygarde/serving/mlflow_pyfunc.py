"""MLflow's `python_function` loader for a Zygarde model package (the MLmodel file names this module; the
package carries a copy of it under code/zygarde_pyfunc/, serving.mlflow_model).

`mlflow.pyfunc.load_model(PACKAGE_DIR).predict(frame)` scores a pandas DataFrame as `zygarde predict`
does: with the package's model.onnx through onnxruntime, the rows passed as JSON rows are passed to the
predict service (so nulls, booleans and unseen categories are scored the same way). A version that does
not serve online (no model.onnx) is scored by its Spark PipelineModel (an ensemble: its members, averaged)
in a local Spark session, which needs Zygarde installed, pyspark and Java. The answer is a DataFrame: `prediction`, and for classifiers `label` and
`probabilities` (one list a row, in the order of the manifest's `labels`).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CHUNK_ROWS = 10_000
_INTEGRAL = {"tinyint", "smallint", "int", "bigint"}


def _rows(frame) -> list[dict[str, Any]]:
    """The frame's rows as JSON values (NaN and NaT -> null, numpy scalars -> numbers)."""
    return json.loads(frame.to_json(orient="records", date_format="iso", double_precision=15))


class ZygardeModel:
    """A loaded package: ONNX when it serves online, else its Spark PipelineModel (loaded on first use)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.manifest = json.loads((self.root / "manifest.json").read_text())
        self.labels = self.manifest.get("labels")
        online = self.manifest.get("online") or {}
        self.onnx = None
        if online.get("status") == "available" and (self.root / "model.onnx").exists():
            from zygarde.serving.runtime import OnlineModel

            self.onnx = OnlineModel((self.root / "model.onnx").read_bytes(), {**online, "max_rows": CHUNK_ROWS},
                                    self.labels)
        self._spark_model = None

    def predict(self, model_input, params: dict[str, Any] | None = None):
        import pandas as pd

        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        if self.onnx is not None:
            rows = []
            for start in range(0, len(frame), CHUNK_ROWS):
                rows += self.onnx.predict(_rows(frame.iloc[start:start + CHUNK_ROWS]))
        else:
            rows = self._spark_predict(frame)
        out = pd.DataFrame({"prediction": [r["prediction"] for r in rows]})
        if self.labels:
            out["label"] = [r.get("label") for r in rows]
            out["probabilities"] = [r.get("probabilities") for r in rows]
        return out

    def _spark_predict(self, frame) -> list[dict[str, Any]]:
        """Scores with the PipelineModel in a local Spark session (a version without an ONNX export)."""
        from pyspark.ml import PipelineModel
        from pyspark.sql import SparkSession
        from pyspark.sql import types as T

        from zygarde.spark.predict import Ensemble, is_ensemble, predictions

        spark = SparkSession.getActiveSession() or SparkSession.builder.master("local[1]") \
            .appName("zygarde-mlflow").config("spark.ui.enabled", "false").getOrCreate()
        if self._spark_model is None:
            if is_ensemble(self.manifest):  # its members under members/{i}, averaged with their weights
                self._spark_model = Ensemble(self.manifest, str(self.root.resolve()))
            else:
                self._spark_model = PipelineModel.load(str((self.root / "model").resolve()))
        schema = [c for c in self.manifest.get("input_schema") or []]
        struct = T.StructType([T.StructField(c["name"], T._parse_datatype_string(c["type"]), True) for c in schema])
        records = _rows(frame)

        def value(row: dict, column: dict):
            v = row.get(column["name"])
            if v is None:
                return None
            kind = column["type"]
            return int(v) if kind in _INTEGRAL else float(v) if kind in ("float", "double") else \
                bool(v) if kind == "boolean" else str(v) if kind == "string" else v

        data = spark.createDataFrame([tuple(value(r, c) for c in schema) for r in records], struct)
        scored = predictions(self._spark_model, data).toPandas()
        out = []
        for _, r in scored.iterrows():
            row: dict[str, Any] = {"prediction": float(r["prediction"])}
            if "predicted_label" in scored.columns:
                row["label"] = r["predicted_label"]
            if "probability" in scored.columns:
                row["probabilities"] = [float(p) for p in r["probability"]]
            out.append(row)
        return out


def _load_pyfunc(data_path: str) -> ZygardeModel:
    """MLflow's entry point: `data_path` is the package directory (the flavour's `data: .`)."""
    return ZygardeModel(data_path)
