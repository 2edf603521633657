"""Every learner of the catalog trains and scores on its task (tiny data, few iterations), and the
catalog's hyperparameters are ones Spark itself accepts."""
from __future__ import annotations

import importlib

import pytest

from zygarde.domain import algorithms
from zygarde.domain.algorithms import METRICS

from .conftest import score_unseen

# algorithm -> (dataset, params, primary metric, threshold it must beat)
CASES = {
    "linear_svc": ("cancer_small", {"maxIter": 20, "regParam": 0.01}, "areaUnderROC", 0.9),
    "gbt_classifier": ("cancer_small", {"maxIter": 5, "maxDepth": 3}, "areaUnderROC", 0.9),
    "fm_classifier": ("cancer_small", {"maxIter": 30, "factorSize": 2, "stepSize": 0.1}, "areaUnderROC", 0.9),
    "decision_tree_classifier": ("cancer_libsvm", {"maxDepth": 4}, "areaUnderROC", 0.85),
    "logistic_regression": ("iris_parquet", {"maxIter": 30}, "f1", 0.8),
    "naive_bayes": ("iris_json", {"smoothing": 0.5}, "f1", 0.6),
    "multilayer_perceptron": ("iris", {"hiddenLayers": "8", "maxIter": 60}, "f1", 0.8),
    "generalized_linear_regression": ("diabetes", {"family": "gaussian", "link": "identity", "maxIter": 10},
                                      "r2", 0.3),
    "decision_tree_regressor": ("diabetes", {"maxDepth": 3}, "r2", 0.1),
    "random_forest_regressor": ("diabetes", {"numTrees": 8, "maxDepth": 4}, "r2", 0.2),
    "gbt_regressor": ("diabetes", {"maxIter": 5, "maxDepth": 2}, "r2", 0.2),
    "fm_regressor": ("diabetes", {"maxIter": 100, "factorSize": 2, "stepSize": 5.0}, "r2", 0.1),
    "isotonic_regression": ("diabetes", {"featureIndex": 2}, "r2", 0.1),  # bmi
    "kmeans": ("iris_clusters", {"k": 3, "maxIter": 10}, "silhouette", 0.3),
    "bisecting_kmeans": ("iris_clusters", {"k": 3, "maxIter": 5}, "silhouette", 0.3),
    "gaussian_mixture": ("iris_clusters", {"k": 3, "maxIter": 20}, "silhouette", 0.2),
}
COVERED_ELSEWHERE = {"random_forest_classifier", "linear_regression",  # test_pack_of_one.py
                     "xgboost_classifier", "xgboost_regressor"}  # test_xgboost.py


def test_every_learner_has_a_case():
    assert set(CASES) | COVERED_ELSEWHERE == set(algorithms.ALGORITHMS)


@pytest.mark.parametrize("name", sorted(CASES))
def test_learner_trains_and_scores(trial, name):
    dataset, params, metric, floor = CASES[name]
    code, result, request = trial(dataset, name, params)
    assert code == 0 and result.status == "SUCCEEDED", result.error
    expected = set(METRICS[request.task]) - ({"logLoss"} if name == "linear_svc" else set())
    assert expected <= set(result.metrics)
    assert result.metrics[metric] > floor, result.metrics
    assert result.metrics["model_bytes"] > 0 and result.metrics["train_seconds"] > 0


def test_naive_bayes_scores_values_outside_the_training_range(spark, trial):
    """Min-max scaling is clipped to the training range, so NB never sees a negative feature."""
    code, result, request = trial("iris", "naive_bayes", {"modelType": "multinomial"})
    assert code == 0, result.error
    scored = score_unseen(spark, request, {0: {"sepal_length_cm": -100.0}, 1: {"petal_width_cm": 1e6},
                                           2: {"petal_length_cm": None}})
    assert {row.predicted_label for row in scored} <= {"setosa", "versicolor", "virginica"}
    assert all(0.0 <= value <= 1.0 for row in scored for value in row.zy__features.toArray())


def _samples(spec):
    if spec.choices:
        return list(spec.choices)
    if spec.type == "bool":
        return [True, False]
    values = [v for v in (spec.low, spec.high) if v is not None] or [1]
    return [int(v) if spec.type == "int" else float(v) for v in values]


@pytest.mark.parametrize("name", sorted(algorithms.ALGORITHMS))
def test_spark_accepts_every_allowed_value(spark, name):
    """Each hyperparameter at its bounds and each choice passes Spark's own validators."""
    algo = algorithms.get(name)
    module, _, cls = algo.spark_class.rpartition(".")
    for spec in algo.params.values():
        if spec.type == "int_list":
            continue
        for value in _samples(spec):
            assert algo.params[spec.name].problem(value) is None
            estimator = getattr(importlib.import_module(module), cls)()
            estimator.set(estimator.getParam(spec.name), spec.coerce(value))
            if hasattr(estimator, "_transfer_params_to_java"):  # xgboost.spark is Python only
                estimator._transfer_params_to_java()  # raises if the JVM side rejects the value
