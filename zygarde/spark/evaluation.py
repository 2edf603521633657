"""Validation metrics: every metric of the task (see METRICS in the algorithm catalog)."""
from __future__ import annotations

import logging
import math

from pyspark.ml.evaluation import BinaryClassificationEvaluator, ClusteringEvaluator, RegressionEvaluator
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from zygarde.domain.algorithms import BINARY, CLUSTERING, MULTICLASS, REGRESSION

log = logging.getLogger(__name__)


def finite(metrics: dict[str, float | None]) -> dict[str, float]:
    """Only real numbers: NaN, infinities and missing values never reach JSON."""
    return {k: float(v) for k, v in metrics.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


def mcc(counts: dict[tuple[float, float], int], positive: float = 1.0) -> float:
    """Matthews correlation from (label, prediction) -> count; 0.0 when undefined (as scikit-learn)."""
    tp = sum(n for (y, p), n in counts.items() if y == positive and p == positive)
    tn = sum(n for (y, p), n in counts.items() if y != positive and p != positive)
    fp = sum(n for (y, p), n in counts.items() if y != positive and p == positive)
    fn = sum(n for (y, p), n in counts.items() if y == positive and p != positive)
    denominator = math.sqrt(float(tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return (tp * tn - fp * fn) / denominator if denominator else 0.0


def _confusion(predictions: DataFrame, label_col: str) -> dict[tuple[float, float], int]:
    rows = predictions.groupBy(label_col, "prediction").count().collect()
    return {(float(r[0]), float(r[1])): int(r[2]) for r in rows}


def confusion_metrics(counts: dict[tuple[float, float], int]) -> dict[str, float]:
    """accuracy, f1, weightedPrecision, weightedRecall exactly as Spark's MulticlassMetrics defines
    them (weights: each actual class's share; precision of a never-predicted class is 0)."""
    total = sum(counts.values())
    if not total:
        return {}
    actual: dict[float, int] = {}
    predicted: dict[float, int] = {}
    for (y, p), n in counts.items():
        actual[y] = actual.get(y, 0) + n
        predicted[p] = predicted.get(p, 0) + n
    out = {"accuracy": sum(n for (y, p), n in counts.items() if y == p) / total,
           "f1": 0.0, "weightedPrecision": 0.0, "weightedRecall": 0.0}
    for label, n_actual in actual.items():
        tp, weight = counts.get((label, label), 0), n_actual / total
        precision = tp / predicted[label] if predicted.get(label) else 0.0
        recall = tp / n_actual
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out["weightedPrecision"] += precision * weight
        out["weightedRecall"] += recall * weight
        out["f1"] += f1 * weight
    return out


def log_loss(predictions: DataFrame, label_col: str, eps: float = 1e-15) -> float | None:
    """Mean negative log probability of the true class (Spark's definition, probabilities >= eps)."""
    p_true = vector_to_array(F.col("probability"))[F.col(label_col).cast("int")]
    return predictions.agg(F.avg(-F.log(F.greatest(F.lit(eps), p_true)))).first()[0]


def classification_metrics(predictions: DataFrame, label_col: str, binary: bool) -> dict[str, float]:
    """One pass for the confusion counts, one for log loss, two sorted passes for the binary areas."""
    out: dict[str, float] = {}
    # Ranked by probability when the model gives one: a decision tree's rawPrediction is its leaf's class counts.
    scores = next((c for c in ("probability", "rawPrediction") if c in predictions.columns), None)
    if binary and scores:
        for name in ("areaUnderROC", "areaUnderPR"):
            out[name] = BinaryClassificationEvaluator(labelCol=label_col, rawPredictionCol=scores,
                                                      metricName=name).evaluate(predictions)
    counts = _confusion(predictions, label_col)
    out.update(confusion_metrics(counts))
    if "probability" in predictions.columns:
        out["logLoss"] = log_loss(predictions, label_col)
    if binary:
        out["mcc"] = mcc(counts)
    return out


def regression_metrics(predictions: DataFrame, label_col: str) -> dict[str, float]:
    out = {name: RegressionEvaluator(labelCol=label_col, predictionCol="prediction", metricName=name)
           .evaluate(predictions) for name in ("rmse", "mae", "r2")}
    y = F.col(label_col)
    # MAPE over rows with a non-zero target (it is undefined at zero).
    out["mape"] = predictions.filter(y != 0).agg(F.avg(F.abs((y - F.col("prediction")) / y))).first()[0]
    return out


def clustering_metrics(predictions: DataFrame, features_col: str, distance: str = "euclidean") -> dict[str, float]:
    if predictions.select("prediction").distinct().limit(2).count() < 2:
        log.info("silhouette undefined: every validation row fell in one cluster")
        return {}
    measure = "cosine" if distance == "cosine" else "squaredEuclidean"
    return {"silhouette": ClusteringEvaluator(featuresCol=features_col, predictionCol="prediction",
                                              distanceMeasure=measure).evaluate(predictions)}


def evaluate(task: str, predictions: DataFrame, *, label_col: str, features_col: str,
             distance: str = "euclidean") -> dict[str, float]:
    """All metrics of `task` on scored validation rows, finite values only."""
    if task in (BINARY, MULTICLASS):
        metrics = classification_metrics(predictions, label_col, binary=task == BINARY)
    elif task == REGRESSION:
        metrics = regression_metrics(predictions, label_col)
    elif task == CLUSTERING:
        metrics = clustering_metrics(predictions, features_col, distance)
    else:
        raise ValueError(f"unknown task {task!r}")
    return finite(metrics)
