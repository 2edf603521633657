"""Trial-parallel trials score themselves inside a Spark task, on arrays: every metric must be the
one Spark's evaluators give for the same predictions (zygarde.spark.evaluation)."""
from __future__ import annotations

import numpy as np
import pytest
from pyspark.ml.linalg import Vectors

from zygarde.spark import array_metrics
from zygarde.spark.evaluation import evaluate


def _spark_metrics(spark, task, labels, predictions, probabilities=None, partitions=1):
    if probabilities is None:
        rows = [(float(y), float(p)) for y, p in zip(labels, predictions)]
        frame = spark.createDataFrame(rows, "label double, prediction double")
    else:
        rows = [(float(y), float(p), Vectors.dense([float(v) for v in pr]))
                for y, p, pr in zip(labels, predictions, probabilities)]
        frame = spark.createDataFrame(rows, ["label", "prediction", "probability"])
    return evaluate(task, frame.repartition(partitions), label_col="label", features_col="features")


def _binary_case(rng, n, distinct):
    """Churn-like scores: a float32 probability per row (as XGBoost's), `distinct` values at most, ties included."""
    labels = (rng.random(n) < 0.3).astype(np.float64)
    raw = np.round(rng.beta(2, 5, n) + 0.25 * labels, 6).clip(0, 1)
    grid = np.linspace(0, 1, distinct)
    p1 = grid[np.searchsorted(grid, raw).clip(0, distinct - 1)].astype(np.float32).astype(np.float64)
    probabilities = np.stack([1.0 - p1, p1], axis=1)
    return labels, (p1 > 0.5).astype(np.float64), probabilities


@pytest.mark.parametrize("distinct", [300, 1999])
def test_binary_metrics_equal_spark_s_without_binning(spark, distinct):
    labels, predictions, probabilities = _binary_case(np.random.default_rng(distinct), 4000, distinct)
    ours = array_metrics.evaluate("binary_classification", labels, predictions, probabilities)
    theirs = _spark_metrics(spark, "binary_classification", labels, predictions, probabilities, partitions=2)
    assert set(ours) == set(theirs) == {"areaUnderROC", "areaUnderPR", "accuracy", "f1", "weightedPrecision",
                                        "weightedRecall", "logLoss", "mcc"}
    for name in theirs:
        assert ours[name] == pytest.approx(theirs[name], rel=1e-12, abs=1e-12), name


def test_binary_areas_binned_as_spark_bins_them(spark):
    """5,000 distinct scores: Spark groups them 5 at a time, within each partition of its sort (two
    here): the one-partition figure is within a bin's area of it."""
    labels, predictions, probabilities = _binary_case(np.random.default_rng(7), 20_000, 5000)
    ours = array_metrics.evaluate("binary_classification", labels, predictions, probabilities)
    theirs = _spark_metrics(spark, "binary_classification", labels, predictions, probabilities)
    exact = array_metrics.binary_areas(labels, probabilities[:, 1], num_bins=0)
    assert ours["areaUnderROC"] != exact["areaUnderROC"]  # it does bin
    for name in ("areaUnderROC", "areaUnderPR"):
        assert ours[name] == pytest.approx(theirs[name], abs=2e-4), name


def test_multiclass_metrics_equal_spark_s(spark):
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 3, 900).astype(np.float64)
    logits = rng.normal(size=(900, 3)) + 1.5 * np.eye(3)[labels.astype(int)]
    probabilities = (np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)).astype(np.float32).astype(np.float64)
    predictions = probabilities.argmax(axis=1).astype(np.float64)
    predictions[:5] = 2.0  # a class predicted where it is not the most likely: counted as predicted
    ours = array_metrics.evaluate("multiclass_classification", labels, predictions, probabilities)
    theirs = _spark_metrics(spark, "multiclass_classification", labels, predictions, probabilities, partitions=3)
    assert set(ours) == set(theirs) == {"accuracy", "f1", "weightedPrecision", "weightedRecall", "logLoss"}
    for name in theirs:
        assert ours[name] == pytest.approx(theirs[name], rel=1e-12), name


def test_regression_metrics_equal_spark_s(spark):
    rng = np.random.default_rng(5)
    labels = np.round(rng.lognormal(7.5, 1.0, 2000), 0)  # prices, some of them 0
    labels[:20] = 0.0
    predictions = (labels * rng.normal(1.0, 0.1, 2000) + rng.normal(0, 50, 2000)).astype(np.float32).astype(np.float64)
    ours = array_metrics.evaluate("regression", labels, predictions)
    theirs = _spark_metrics(spark, "regression", labels, predictions, partitions=2)
    assert set(ours) == set(theirs) == {"rmse", "mae", "r2", "mape"}
    for name in theirs:
        assert ours[name] == pytest.approx(theirs[name], rel=1e-9), name
