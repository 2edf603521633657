"""Metrics computed in one pass match Spark's evaluators and scikit-learn."""
from __future__ import annotations

import math

import numpy as np
import pytest
from pyspark.ml.evaluation import MulticlassClassificationEvaluator
from pyspark.ml.linalg import Vectors
from sklearn.metrics import matthews_corrcoef

from zygarde.spark.evaluation import classification_metrics, confusion_metrics, finite, mcc


@pytest.fixture(scope="module")
def scored(spark):
    """Labels 0-3; class 3 is never predicted, class 4 is predicted but never true."""
    rng = np.random.default_rng(3)
    rows = []
    for _ in range(300):
        label = float(rng.integers(0, 4))
        probs = rng.dirichlet(np.ones(5))
        prediction = float(label if rng.random() < 0.6 else rng.integers(0, 5))
        prediction = 4.0 if prediction == 3.0 else prediction
        rows.append((label, prediction, Vectors.dense(probs.tolist())))
    return spark.createDataFrame(rows, ["y", "prediction", "probability"]).cache()


def test_multiclass_metrics_match_spark_evaluator(scored):
    ours = classification_metrics(scored, "y", binary=False)
    for name in ("accuracy", "f1", "weightedPrecision", "weightedRecall", "logLoss"):
        spark_value = MulticlassClassificationEvaluator(labelCol="y", metricName=name).evaluate(scored)
        assert ours[name] == pytest.approx(spark_value, rel=1e-9, abs=1e-12), name


def test_mcc_matches_scikit_learn():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    p = np.where(rng.random(200) < 0.7, y, 1 - y)
    counts = {}
    for a, b in zip(y, p):
        counts[(float(a), float(b))] = counts.get((float(a), float(b)), 0) + 1
    assert mcc(counts) == pytest.approx(matthews_corrcoef(y, p))
    assert mcc({(1.0, 1.0): 5}) == 0.0  # undefined -> 0, as scikit-learn
    assert confusion_metrics({}) == {}


def test_finite_drops_nan_inf_and_none():
    assert finite({"a": 1, "b": math.nan, "c": math.inf, "d": None, "e": True, "f": 0.5}) == {"a": 1.0, "f": 0.5}
