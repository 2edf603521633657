"""Binary areas rank rows by the model's probability of the positive class. A decision tree's
rawPrediction holds its leaf's class counts, so ranking by it puts a big leaf with few positives
above a small leaf with many: deep trees validated below 0.5 on data with few distinct rows."""
from __future__ import annotations

import pytest

from zygarde.spark.evaluation import evaluate


def test_a_decision_tree_s_auc_ranks_leaves_by_their_rate_not_their_counts(spark):
    from pyspark.ml.classification import DecisionTreeClassifier
    from pyspark.ml.feature import VectorAssembler

    # plan "basic": 900 customers, 11% churn; plan "pro": 20 customers, 75% churn.
    rows = [(0.0, 1.0)] * 100 + [(0.0, 0.0)] * 800 + [(1.0, 1.0)] * 15 + [(1.0, 0.0)] * 5
    frame = VectorAssembler(inputCols=["pro"], outputCol="features").transform(
        spark.createDataFrame(rows, "pro double, label double"))
    scored = DecisionTreeClassifier(maxDepth=2, seed=1).fit(frame).transform(frame)
    raw = {r["pro"]: list(r["rawPrediction"]) for r in scored.select("pro", "rawPrediction").distinct().collect()}
    assert raw == {0.0: [800.0, 100.0], 1.0: [5.0, 15.0]}  # counts: the big leaf has more positives

    metrics = evaluate("binary_classification", scored, label_col="label", features_col="features")
    # Pairs of (positive, negative) rows: "pro" positives beat "basic" negatives, same-leaf pairs tie.
    wins, ties = 15 * 800, 15 * 5 + 100 * 800
    assert metrics["areaUnderROC"] == pytest.approx((wins + ties / 2) / (115 * 805))  # 0.562; by counts 0.438
