"""k-fold cross-validation on the train part: the objective becomes the CV mean (request.k_folds)."""
from __future__ import annotations

import pytest
from pyspark.ml import PipelineModel

from zygarde.domain.algorithms import METRICS

PARAMS = {"maxIter": 30, "regParam": 0.01}


def test_three_folds_make_the_objective_the_cv_mean_and_k0_is_unchanged(trial):
    code, cv, request = trial("cancer_small", "logistic_regression", PARAMS, metric="areaUnderROC", k_folds=3)
    assert code == 0 and cv.status == "SUCCEEDED", cv.error
    m = cv.metrics
    assert 0.8 < m["cv_areaUnderROC_mean"] <= 1.0 and 0.0 <= m["cv_areaUnderROC_std"] < 0.2
    assert m["areaUnderROC"] == m["cv_areaUnderROC_mean"]  # the optimised value is the CV mean
    others = set(METRICS["binary_classification"]) - {"areaUnderROC"}
    assert {f"cv_{name}" for name in others} <= set(m)
    assert 0.7 < m["cv_accuracy"] <= 1.0
    PipelineModel.load(request.model_uri)  # the final model (fitted on the whole train part) is saved

    code, plain, _ = trial("cancer_small", "logistic_regression", PARAMS, metric="areaUnderROC")
    assert code == 0 and plain.status == "SUCCEEDED", plain.error
    assert not any(key.startswith(("cv_", "validation_")) for key in plain.metrics)
    # Same seed, same split, same final fit: the validation-part value is kept aside, unchanged.
    assert m["validation_areaUnderROC"] == pytest.approx(plain.metrics["areaUnderROC"])
    assert m["accuracy"] == pytest.approx(plain.metrics["accuracy"])
