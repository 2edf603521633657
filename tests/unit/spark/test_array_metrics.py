"""Trial-parallel trials score themselves inside a Spark task, on arrays: every metric must be the
one Spark's evaluators give for the same predictions (zygarde.spark.evaluation)."""
from __future__ import annotations

import numpy as np
import pytest
from pyspark.ml.linalg import Vectors

from zygarde.spark import array_metrics
from zygarde.spark.evaluation import driver_metrics, evaluate, spark_metrics


def _spark_metrics(spark, task, labels, predictions, probabilities=None, partitions=1):
    if probabilities is None:
        rows = [(float(y), float(p)) for y, p in zip(labels, predictions)]
        frame = spark.createDataFrame(rows, "label double, prediction double")
    else:
        rows = [(float(y), float(p), Vectors.dense([float(v) for v in pr]))
                for y, p, pr in zip(labels, predictions, probabilities)]
        frame = spark.createDataFrame(rows, ["label", "prediction", "probability"])
    return spark_metrics(task, frame.repartition(partitions), label_col="label", features_col="features")


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


def test_a_validation_set_that_fits_the_driver_is_scored_in_one_job_as_spark_scores_it(spark):
    """evaluate(): one collect of label, prediction and scores (a Spark job counted by the status
    tracker), every metric Spark's evaluators give; past the row limit, Spark's evaluators themselves."""
    labels, predictions, probabilities = _binary_case(np.random.default_rng(11), 3000, 400)
    rows = [(float(y), float(p), Vectors.dense([float(v) for v in pr]))
            for y, p, pr in zip(labels, predictions, probabilities)]
    frame = spark.createDataFrame(rows, ["label", "prediction", "probability"]).repartition(2).cache()
    frame.count()
    theirs = spark_metrics("binary_classification", frame, label_col="label", features_col="features")
    tracker = spark.sparkContext.statusTracker()
    spark.sparkContext.setJobGroup("driver-metrics", "one collect")
    try:
        ours = evaluate("binary_classification", frame, label_col="label", features_col="features")
        jobs = tracker.getJobIdsForGroup("driver-metrics")
    finally:
        spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)
    assert len(jobs) == 1
    assert set(ours) == set(theirs)
    for name in theirs:
        assert ours[name] == pytest.approx(theirs[name], rel=1e-12, abs=1e-12), name
    assert driver_metrics("binary_classification", frame, "label", limit=2999) is None  # too many: Spark scores
    assert driver_metrics("binary_classification", frame.limit(0), "label") is None
    assert driver_metrics("clustering", frame, "label") is None
    frame.unpersist()


def test_a_model_without_probabilities_is_ranked_by_its_raw_prediction_on_the_driver(spark):
    """Linear SVC gives rawPrediction (margins) and no probability: the areas rank by its second
    element, as BinaryClassificationEvaluator does, and there is no log loss."""
    rng = np.random.default_rng(2)
    labels = (rng.random(500) < 0.4).astype(np.float64)
    margin = rng.normal(size=500) + 1.2 * labels
    rows = [(float(y), float(m > 0), Vectors.dense([-float(m), float(m)])) for y, m in zip(labels, margin)]
    frame = spark.createDataFrame(rows, ["label", "prediction", "rawPrediction"])
    ours = driver_metrics("binary_classification", frame, "label")
    theirs = spark_metrics("binary_classification", frame, label_col="label", features_col="features")
    assert "logLoss" not in ours and set(ours) == set(theirs)
    for name in theirs:
        assert ours[name] == pytest.approx(theirs[name], rel=1e-12, abs=1e-12), name
