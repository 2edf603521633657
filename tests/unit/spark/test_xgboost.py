"""XGBoost on Spark as a Zygarde learner: it trains through the trial entry point (binary,
multiclass, regression), stops early on the validation part and records its best iteration, and
its PipelineModel reloads and scores like any other (batch prediction included)."""
from __future__ import annotations

import numpy as np
import pytest
import xgboost
from pyspark.ml import PipelineModel
from sklearn import datasets as skdata

from zygarde.domain import algorithms
from zygarde.spark import predict

from .conftest import score_unseen


def _booster(request):
    return PipelineModel.load(request.model_uri).stages[-2].get_booster()  # last: IndexToString


def test_binary_stops_early_records_best_iteration_and_reloads(spark, trial):
    params = {"n_estimators": 300, "max_depth": 3, "learning_rate": 0.5, "early_stopping_rounds": 3}
    code, result, request = trial("cancer", "xgboost_classifier", params)
    assert code == 0 and result.status == "SUCCEEDED", result.error
    m = result.metrics
    assert m["areaUnderROC"] > 0.95, m
    assert m["boosted_rounds"] < 300  # stopped early
    assert m["boosted_rounds"] == m["best_iteration"] + 1 + 3  # 3 rounds without improvement
    assert _booster(request).attributes()["best_iteration"] == str(int(m["best_iteration"]))  # kept when saved
    scored = score_unseen(spark, request, {0: {"size_band": "huge"}, 1: {"mean_texture": None}})
    assert {row.predicted_label for row in scored} <= {"benign", "malignant"}
    assert all(abs(sum(row.probability) - 1.0) < 1e-6 for row in scored)


def test_multiclass_trains_reloads_and_predicts(spark, trial):
    code, result, request = trial("iris", "xgboost_classifier", {"n_estimators": 20, "max_depth": 2})
    assert code == 0 and result.status == "SUCCEEDED", result.error
    assert result.metrics["f1"] > 0.85, result.metrics
    scored = score_unseen(spark, request, {})
    assert {row.predicted_label for row in scored} <= {"setosa", "versicolor", "virginica"}
    assert all(len(row.probability) == 3 for row in scored)


def test_regression_without_early_stopping_builds_every_tree_and_batch_predicts(spark, trial, tmp_path):
    params = {"n_estimators": 30, "max_depth": 2, "learning_rate": 0.1, "early_stopping_rounds": 0}
    code, result, request = trial("diabetes", "xgboost_regressor", params)
    assert code == 0 and result.status == "SUCCEEDED", result.error
    assert result.metrics["r2"] > 0.25, result.metrics
    assert result.metrics["boosted_rounds"] == 30
    out = predict.score(spark, request.model_uri, request.dataset_uri, "csv", None, str(tmp_path / "predictions"))
    assert out["rows"] == 442 and "prediction" in out["columns"]
    values = [r.prediction for r in spark.read.parquet(str(tmp_path / "predictions")).collect()]
    assert 25 < np.mean(values) < 350  # the diabetes target's range


@pytest.mark.parametrize("name", ["xgboost_classifier", "xgboost_regressor"])
def test_xgboost_accepts_every_allowed_value(name):
    """Each catalog bound and choice is accepted by XGBoost itself (tiny data, two rounds)."""
    x, y = skdata.load_breast_cancer(return_X_y=True)
    learner = xgboost.XGBClassifier if name == "xgboost_classifier" else xgboost.XGBRegressor
    y = y if name == "xgboost_classifier" else y + 1.0  # gamma, tweedie and poisson want y > 0
    skip = {"n_estimators", "early_stopping_rounds"}  # the round counts: exercised by the trials above
    for spec in algorithms.get(name).params.values():
        values = spec.choices or [v for v in (spec.low, spec.high) if v is not None]
        for value in values if spec.name not in skip else []:
            learner(n_estimators=2, tree_method="hist", **{spec.name: spec.coerce(value)}).fit(x[:80], y[:80])
