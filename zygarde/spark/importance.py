"""Global feature importance of a finalised model, per input column (the manifest's `importance`).

Two measures:
- `native`, what the learner itself says: split gain for trees (Spark's impurity gain, XGBoost's total
  gain), |coefficient| x the feature's standard deviation (on the learner's own inputs) for linear
  models; none for other learners. Normalised to sum to 1.
- `permutation`, the common measure: on a sample of the validation part, how much the job's metric
  worsens when one column's values are shuffled between rows (the mean over REPEATS shuffles; > 0:
  the model relies on it). Every copy is scored in one Spark pass.
A one-hot or indexed feature counts for the column it came from (feature_layout).
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np
from pyspark.ml import PipelineModel
from pyspark.ml.functions import vector_to_array
from pyspark.ml.stat import Summarizer
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from zygarde.domain.algorithms import CLASSIFICATION, METRICS, MINIMIZE, REGRESSION
from zygarde.spark.dataset import LABEL, column
from zygarde.spark.features import FEATURES

log = logging.getLogger(__name__)

ROW_BUDGET = 60_000  # rows scored for the permutation measure, all copies together
MAX_SAMPLE = 2_000  # validation rows per copy at most
MIN_SAMPLE = 100
MAX_PERMUTED = 60  # columns shuffled at most (the natively most important first)
REPEATS = 2
RECORD_COLUMNS = 50  # the registry record keeps this many columns (the manifest keeps all)
# the job's metric -> the one computed here (the rest have no cheap exact form on a sample)
_SAME = {"areaUnderPR": "areaUnderROC", "weightedPrecision": "f1", "weightedRecall": "accuracy",
         "mcc": "accuracy", "mape": "mae"}
LINEAR = {"LogisticRegressionModel", "LinearRegressionModel", "LinearSVCModel", "GeneralizedLinearRegressionModel"}


def learner(model: PipelineModel):
    return next(s for s in reversed(model.stages) if type(s).__name__ != "IndexToString")


def _std(model: PipelineModel, sample: DataFrame) -> np.ndarray:
    row = model.transform(sample).select(Summarizer.metrics("std").summary(F.col(FEATURES)).alias("s")).first()
    return np.nan_to_num(np.asarray(row["s"]["std"].toArray(), dtype=np.float64))


def linear_weights(stage) -> np.ndarray:
    """[outputs, features] coefficients of a linear learner (binary logistic: one row)."""
    if hasattr(stage, "coefficientMatrix") and stage.coefficientMatrix.numRows > 1:
        return stage.coefficientMatrix.toArray()
    return np.asarray(stage.coefficients.toArray(), dtype=np.float64).reshape(1, -1)


def native(model: PipelineModel, sample: DataFrame, n_features: int) -> tuple[str | None, np.ndarray | None]:
    """(what the values are, per-feature values) or (None, None) for a learner that gives none."""
    stage = learner(model)
    kind = type(stage).__name__
    if hasattr(stage, "get_booster"):
        scores = stage.get_booster().get_score(importance_type="total_gain")
        values = np.zeros(n_features)
        for name, value in scores.items():
            values[int(name[1:])] = value
        return "gain", values
    if hasattr(stage, "featureImportances"):
        return "gain", np.asarray(stage.featureImportances.toArray(), dtype=np.float64)
    if kind in LINEAR:
        weights = np.abs(linear_weights(stage)).sum(axis=0)
        return "coefficient", weights * _std(model, sample)
    return None, None


def _by_column(values: np.ndarray, columns: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for value, name in zip(values, columns):
        out[name] = out.get(name, 0.0) + float(value)
    total = sum(abs(v) for v in out.values())
    return {k: v / total for k, v in out.items()} if total > 0 else out


def _ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their mean rank (Mann-Whitney's AUC)."""
    unique, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return ((ends - counts + 1 + ends) / 2.0)[inverse]


def score(metric: str, y: np.ndarray, prediction: np.ndarray, probability: np.ndarray | None) -> float:
    """The metric on numpy arrays (labels as class indices for classifiers)."""
    if metric == "areaUnderROC":
        positive = y == 1
        n1, n0 = positive.sum(), (~positive).sum()
        if n1 == 0 or n0 == 0:
            return float("nan")
        ranks = _ranks(probability[:, 1])
        return float((ranks[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))
    if metric == "accuracy":
        return float(np.mean(prediction == y))
    if metric == "f1":
        total = 0.0
        for c in np.unique(y):
            tp = np.sum((prediction == c) & (y == c))
            precision = tp / max(1, np.sum(prediction == c))
            recall = tp / max(1, np.sum(y == c))
            total += np.sum(y == c) * (2 * precision * recall / (precision + recall) if tp else 0.0)
        return float(total / len(y))
    if metric == "logLoss":
        p = np.clip(probability[np.arange(len(y)), y.astype(int)], 1e-15, 1.0)
        return float(-np.mean(np.log(p)))
    if metric == "rmse":
        return float(np.sqrt(np.mean((prediction - y) ** 2)))
    if metric == "mae":
        return float(np.mean(np.abs(prediction - y)))
    if metric == "r2":
        spread = np.sum((y - y.mean()) ** 2)
        return float(1 - np.sum((y - prediction) ** 2) / spread) if spread > 0 else float("nan")
    raise ValueError(f"no permutation measure for {metric}")


def permutation_metric(task: str, metric: str | None) -> str:
    metric = _SAME.get(metric or "", metric or "")
    if metric in ("areaUnderROC", "accuracy", "f1", "logLoss", "rmse", "mae", "r2"):
        return metric
    return {REGRESSION: "rmse"}.get(task, "accuracy")


def permutation(spark: SparkSession, model: PipelineModel, labelled: DataFrame, columns: list[str], task: str,
                metric: str, seed: int) -> dict[str, Any]:
    """{"metric", "rows", "repeats", "baseline", "values": {column: mean worsening}} on `labelled` (the
    validation part with LABEL). One Spark pass: row copies, each with at most one column shuffled."""
    k = len(columns)
    total = labelled.count()
    n = int(min(total, MAX_SAMPLE, max(MIN_SAMPLE, ROW_BUDGET // (k * REPEATS + 1))))
    sample = labelled.sample(fraction=min(1.0, 1.5 * n / max(1, total)), seed=seed).limit(n) if n < total \
        else labelled
    base = sample.withColumn("zy__row", F.row_number().over(Window.orderBy(F.monotonically_increasing_id())) - 1)
    base = base.cache()
    try:
        n = base.count()
        rng = np.random.default_rng(seed)
        plan = [(0, -1, i, i) for i in range(n)]
        for copy in range(1, k * REPEATS + 1):
            j = (copy - 1) % k
            plan += [(copy, j, i, int(d)) for i, d in enumerate(rng.permutation(n))]
        plan_df = spark.createDataFrame(plan, "zy__copy int, zy__pcol int, zy__row int, zy__drow int")
        donor = base.select(F.col("zy__row").alias("zy__drow"),
                            *[column(c).alias(f"zy__d{j}") for j, c in enumerate(columns)])
        joined = plan_df.join(base, "zy__row").join(donor, "zy__drow")
        swapped = [F.when(F.col("zy__pcol") == j, F.col(f"zy__d{j}")).otherwise(column(c)).alias(c)
                   for j, c in enumerate(columns)]
        others = [column(c) for c in base.columns if c not in columns and not c.startswith("zy__d")]
        frame = joined.select(F.col("zy__copy"), *others, *swapped)
        scored = model.transform(frame)
        keep = [F.col("zy__copy"), F.col(LABEL).cast("double").alias("y"), F.col("prediction").cast("double")]
        if "probability" in scored.columns:
            keep.append(vector_to_array(F.col("probability")).alias("p"))
        rows = scored.select(*keep).toPandas()
    finally:
        base.unpersist()
    classes = task in CLASSIFICATION
    sign = -1.0 if METRICS.get(task, {}).get(metric) == MINIMIZE else 1.0

    def of(copy: int) -> float:
        part = rows[rows["zy__copy"] == copy]
        p = np.stack(part["p"].to_numpy()) if "p" in part and len(part) else None
        y = part["y"].to_numpy()
        return score(metric, y.astype(int) if classes else y, part["prediction"].to_numpy(), p)

    baseline = of(0)
    drops = np.zeros((REPEATS, k))
    for copy in range(1, k * REPEATS + 1):
        drops[(copy - 1) // k, (copy - 1) % k] = sign * (baseline - of(copy))
    return {"metric": metric, "rows": n, "repeats": REPEATS, "baseline": baseline,
            "values": {c: float(v) for c, v in zip(columns, np.nanmean(drops, axis=0))}}


def importance(spark: SparkSession, model: PipelineModel, labelled: DataFrame, feature_cols: list[str],
               task: str, metric: str | None, seed: int) -> dict[str, Any]:
    """The manifest's `importance`: {"columns": [{"column", "permutation"?, "native"?}] most important
    first, "native": kind or None, "permutation": {metric, rows, repeats, baseline, part, columns_scored,
    fitted_on_it? (package_extras: true when final_fit also trained on the validation part)}}."""
    sources = list(dict.fromkeys(feature_cols))
    kind, values = native(model, labelled, len(feature_cols))
    natives = _by_column(values, feature_cols) if values is not None else {}
    order = sorted(sources, key=lambda c: -natives.get(c, 0.0))
    shuffled = order[:MAX_PERMUTED]
    perm = permutation(spark, model, labelled, shuffled, task, permutation_metric(task, metric), seed)
    rows = []
    for name in sources:
        row: dict[str, Any] = {"column": name}
        if name in perm["values"]:
            row["permutation"] = perm["values"][name]
        if name in natives:
            row["native"] = natives[name]
        rows.append(row)
    def rank(r: dict) -> tuple[float, float]:
        value = r.get("permutation")
        return (-value if value is not None and np.isfinite(value) else np.inf, -r.get("native", 0.0))

    rows.sort(key=rank)
    values = perm.pop("values")
    log.info("importance computed columns=%d permuted=%d native=%s rows=%d", len(sources), len(values), kind,
             perm["rows"])
    return {"status": "available", "native": kind, "columns": rows,
            "permutation": {**perm, "part": "validation", "columns_scored": len(values),
                            "columns_total": len(sources)}}


def for_record(section: dict[str, Any]) -> dict[str, Any]:
    """What the registry record keeps: the RECORD_COLUMNS most important columns."""
    out = dict(section)
    if "columns" in out:
        out["columns"] = out["columns"][:RECORD_COLUMNS]
    return out
