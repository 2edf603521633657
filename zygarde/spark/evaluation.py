"""Validation metrics: every metric of the task (see METRICS in the algorithm catalog).

`evaluate` brings validation sets of up to DRIVER_ROWS rows to the driver in one Spark job (label,
prediction and scores, as Arrow) and computes every metric there with array_metrics, exactly as
Spark's evaluators define them; larger ones, and clustering, are scored by `spark_metrics`: one pass
for the confusion counts, one for log loss, two sorted passes for the binary areas."""
from __future__ import annotations

import logging

import numpy as np
from pyspark.ml.evaluation import (
    BinaryClassificationEvaluator,
    ClusteringEvaluator,
    RegressionEvaluator,
)
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from zygarde.domain.algorithms import BINARY, CLUSTERING, MULTICLASS, REGRESSION
from zygarde.spark import array_metrics
from zygarde.spark.array_metrics import confusion_metrics, finite, mcc

__all__ = ["DRIVER_ROWS", "confusion_metrics", "driver_metrics", "evaluate", "finite", "mcc", "spark_metrics"]

log = logging.getLogger(__name__)


def _confusion(predictions: DataFrame, label_col: str) -> dict[tuple[float, float], int]:
    rows = predictions.groupBy(label_col, "prediction").count().collect()
    return {(float(r[0]), float(r[1])): int(r[2]) for r in rows}


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


# 1M rows of label, prediction and two scores: about 32 MB on the driver, once per trial
DRIVER_ROWS = 1_000_000


def driver_metrics(task: str, predictions: DataFrame, label_col: str, limit: int = DRIVER_ROWS) -> dict | None:
    """Every metric of a binary, multiclass or regression task from one collect of at most `limit` rows;
    None when there are more rows (or none), or for clustering."""
    if task not in (BINARY, MULTICLASS, REGRESSION):
        return None
    columns = [F.col(label_col).cast("double").alias("y"), F.col("prediction").cast("double").alias("p")]
    # ranked by probability when the model gives one: a decision tree's rawPrediction is its leaf's counts
    scores = next((c for c in ("probability", "rawPrediction") if c in predictions.columns), None)
    if task != REGRESSION and scores:
        columns.append(vector_to_array(F.col(scores)).alias("s"))
    table = predictions.select(*columns).limit(limit + 1).toArrow()
    n = table.num_rows
    if n == 0 or n > limit:
        return None
    labels = table.column("y").to_numpy()
    predicted = table.column("p").to_numpy()
    if task == REGRESSION:
        return finite(array_metrics.regression(labels, predicted))
    matrix = None
    if "s" in table.column_names:
        matrix = np.asarray(table.column("s").combine_chunks().flatten(), dtype=np.float64).reshape(n, -1)
    return finite(array_metrics.classification(
        labels, predicted, matrix if scores == "probability" else None, binary=task == BINARY,
        ranking=matrix[:, 1] if matrix is not None and matrix.shape[1] > 1 else None))


def evaluate(task: str, predictions: DataFrame, *, label_col: str, features_col: str,
             distance: str = "euclidean") -> dict[str, float]:
    """All metrics of `task` on scored validation rows, finite values only: on the driver when the rows
    are few enough (one Spark job), else by Spark's evaluators."""
    on_driver = driver_metrics(task, predictions, label_col)
    if on_driver is not None:
        return on_driver
    return spark_metrics(task, predictions, label_col=label_col, features_col=features_col, distance=distance)


def spark_metrics(task: str, predictions: DataFrame, *, label_col: str, features_col: str,
                  distance: str = "euclidean") -> dict[str, float]:
    """All metrics of `task` by Spark's evaluators and aggregations, finite values only."""
    if task in (BINARY, MULTICLASS):
        metrics = classification_metrics(predictions, label_col, binary=task == BINARY)
    elif task == REGRESSION:
        metrics = regression_metrics(predictions, label_col)
    elif task == CLUSTERING:
        metrics = clustering_metrics(predictions, features_col, distance)
    else:
        raise ValueError(f"unknown task {task!r}")
    return finite(metrics)
