"""FLAML's side of the auto-mode benchmark: Zygarde's own prepared train / validation / test parts,
read from the job's bucket through the platform's blob store, then FLAML with the same wall-clock
budget, validated on the validation part (holdout, no refit: FLAML keeps the model of its best
trial, fitted on train, as Zygarde's default final_fit "train" does), scored once on the test part.
"""
from __future__ import annotations

import io
import json
import math
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from bench import automl_report
from bench.packing_sklearn import _stop_spark

PARTS = ("train", "validation", "test")
# The Python package each FLAML learner needs beyond scikit-learn (FLAML fails on a missing one).
LEARNER_PACKAGES = {"lgbm": "lightgbm", "xgboost": "xgboost", "xgb_limitdepth": "xgboost", "catboost": "catboost"}


def part_files(uris: list[str], prefix: str) -> list[str]:
    """The Parquet data files under a part's prefix: not folder markers, _SUCCESS, .crc or hidden files."""
    base = prefix.rstrip("/") + "/"
    return sorted(u for u in uris if u.startswith(base) and u.endswith(".parquet")
                  and not any(seg.startswith(("_", ".")) for seg in u[len(base):].split("/")))


def read_parts(blobs, parts: dict[str, str]) -> dict[str, pd.DataFrame]:
    """{part: frame} from the job's prepared parts ({part: gs:// prefix}, the preparation's outputs)."""
    frames = {}
    for part in PARTS:
        prefix = parts[part]
        files = part_files(blobs.list(prefix.rstrip("/") + "/"), prefix)
        if not files:
            raise FileNotFoundError(f"no Parquet files under {prefix}")
        frames[part] = pd.concat([pd.read_parquet(io.BytesIO(blobs.read_bytes(f))) for f in files],
                                 ignore_index=True)
    return frames


def estimators(task: str, installed=None) -> tuple[list[str], list[str]]:
    """FLAML's own default learners for the task ("auto"), less those whose package is missing:
    (used, left out)."""
    import importlib.util

    from flaml.automl.task.factory import task_factory

    installed = installed or (lambda name: importlib.util.find_spec(name) is not None)
    default = task_factory("regression" if task == "regression" else "classification").default_estimator_list("auto")
    missing = [e for e in default if e in LEARNER_PACKAGES and not installed(LEARNER_PACKAGES[e])]
    return [e for e in default if e not in missing], missing


def _features(frame: pd.DataFrame, target: str) -> tuple[pd.DataFrame, pd.Series]:
    x = frame.drop(columns=[target])
    for c in x.columns:
        if x[c].dtype == object or str(x[c].dtype) == "string":
            x[c] = x[c].astype("category")
    return x, frame[target]


def log_counts(path: Path) -> dict:
    """Trials FLAML logged (log_type "all": one record per trial): run, failed (no finite loss),
    per learner."""
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    trials = [r for r in records if "record_id" in r]
    failed = [r for r in trials if not (isinstance(r.get("validation_loss"), (int, float))
                                        and math.isfinite(r["validation_loss"]))]
    return {"run": len(trials), "failed": len(failed), "cancelled": 0, "pruned": None,
            "by_learner": dict(Counter(r.get("learner") for r in trials)),
            "on_a_sample": sum(1 for r in trials if r.get("sample_size") and r["sample_size"] < max(
                t.get("sample_size") or 0 for t in trials))}


def test_score(metric: str, automl, x: pd.DataFrame, y: pd.Series) -> dict:
    """FLAML's best model on the test part: RMSE, or AUC exactly and as Spark's evaluator bins it.
    The positive class is the second label in string order (Zygarde's StringIndexer, alphabetAsc)."""
    from sklearn.metrics import mean_squared_error, roc_auc_score

    if metric == "rmse":
        return {"test_score": float(np.sqrt(mean_squared_error(y, automl.predict(x))))}
    labels = sorted({str(v) for v in y.unique()})
    positive_str = labels[-1]
    column = [str(c) for c in automl.classes_].index(positive_str)
    scores = automl.predict_proba(x)[:, column]
    truth = (y.astype(str) == positive_str).astype(int).tolist()
    return {"test_score": float(roc_auc_score(truth, scores)), "positive_class": positive_str,
            "test_score_spark_binned": automl_report.spark_binned_auc(truth, scores.tolist())}


def run(frames: dict[str, pd.DataFrame], target: str, task: str, metric: str, budget_seconds: float,
        n_jobs: int, seed: int, progress=print) -> dict:
    """FLAML on the parts with `budget_seconds` of search: the run's record. Importing flaml starts
    a local pandas-on-Spark session; it is stopped before the search so it takes no cores."""
    from flaml import AutoML

    _stop_spark()
    used, missing = estimators(task)
    if missing:
        progress(f"  FLAML: left out {missing}: their packages are not installed")
    x_train, y_train = _features(frames["train"], target)
    x_val, y_val = _features(frames["validation"], target)
    x_test, y_test = _features(frames["test"], target)
    automl = AutoML()
    with tempfile.TemporaryDirectory(prefix="zygarde-flaml-") as tmp:
        log_file = Path(tmp) / "flaml.log"
        started = time.monotonic()
        automl.fit(x_train, y_train, X_val=x_val, y_val=y_val, eval_method="holdout",
                   task="regression" if task == "regression" else "classification",
                   metric="rmse" if metric == "rmse" else "roc_auc", time_budget=budget_seconds,
                   estimator_list=used, n_jobs=n_jobs, seed=seed, verbose=0,
                   log_file_name=str(log_file), log_type="all")
        search_seconds = time.monotonic() - started
        scored = test_score(metric, automl, x_test, y_test)
        wall = time.monotonic() - started
        counts = log_counts(log_file)
    _stop_spark()
    best_loss = automl.best_loss
    return {"wall_seconds": wall, "search_seconds": search_seconds, "budget_seconds": budget_seconds,
            "state": "DONE", **scored, "metric": metric,
            "validation_score": (1 - best_loss) if metric != "rmse" else best_loss,
            "best_learner": automl.best_estimator, "best_config": automl.best_config,
            "estimators": used, "estimators_left_out": missing, "trials": counts, "n_jobs": n_jobs,
            "rows": {p: len(f) for p, f in frames.items()}, "refit": "none (holdout with X_val: best trial's model)"}
