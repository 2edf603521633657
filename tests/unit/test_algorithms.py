"""The learner catalog: complete, consistent with Spark's classes, and strict about values."""
from __future__ import annotations

import importlib

import pytest
from pyspark.ml.param import Param

from zygarde.domain import algorithms as A

EXPECTED = {
    A.BINARY: {"logistic_regression", "linear_svc", "naive_bayes", "decision_tree_classifier",
               "random_forest_classifier", "gbt_classifier", "multilayer_perceptron", "fm_classifier"},
    A.MULTICLASS: {"logistic_regression", "naive_bayes", "decision_tree_classifier", "random_forest_classifier",
                   "multilayer_perceptron"},
    A.REGRESSION: {"linear_regression", "generalized_linear_regression", "decision_tree_regressor",
                   "random_forest_regressor", "gbt_regressor", "fm_regressor", "isotonic_regression"},
    A.CLUSTERING: {"kmeans", "bisecting_kmeans", "gaussian_mixture"},
}
XGBOOST = {A.BINARY: {"xgboost_classifier"}, A.MULTICLASS: {"xgboost_classifier"}, A.REGRESSION: {"xgboost_regressor"}}
DERIVED = {"hiddenLayers"}  # Zygarde's own; the batch turns it into Spark's `layers`


@pytest.mark.parametrize("task", A.TASKS)
def test_every_mllib_learner_is_listed_for_its_tasks(task):
    assert set(A.for_task(task)) == EXPECTED[task] | XGBOOST.get(task, set())
    assert A.DEFAULT_METRIC[task] in A.METRICS[task]


@pytest.mark.parametrize("name", sorted(A.ALGORITHMS))
def test_params_are_spark_params_of_the_class(name):
    algo = A.get(name)
    module, _, cls_name = algo.spark_class.rpartition(".")
    cls = getattr(importlib.import_module(module), cls_name)
    for key, spec in algo.params.items():
        assert spec.name == key
        if key not in DERIVED:
            assert isinstance(getattr(cls, key, None), Param), f"{cls_name} has no param {key}"
    assert algo.problems(algo.defaults) == []
    assert algo.scaler in ("standard", "unit_variance", "minmax")
    assert algo.supervised == (A.CLUSTERING not in algo.tasks)


def test_unknown_and_out_of_range_values_are_named():
    rf = A.get("random_forest_classifier")
    assert rf.problems({"numTrees": 10, "maxDepth": 5, "impurity": "gini"}) == []
    problems = dict(rf.problems({"numTrees": 0, "impurity": "mse", "nope": 1, "maxDepth": 2.5,
                                 "bootstrap": "yes"}))
    assert problems["numTrees"] == "must be >= 1, got 0"
    assert "gini, entropy" in problems["impurity"]
    assert "has no hyperparameter 'nope'" in problems["nope"]
    assert "integer" in problems["maxDepth"] and "true or false" in problems["bootstrap"]
    assert rf.params["maxDepth"].coerce(4.0) == 4 and isinstance(rf.params["maxDepth"].coerce(4.0), int)


def test_binary_only_learners():
    for name in ("linear_svc", "gbt_classifier", "fm_classifier"):
        assert A.get(name).tasks == {A.BINARY}


@pytest.mark.parametrize("value,expected", [([16, 8], [16, 8]), ((4,), [4]), ("16,8", [16, 8]),
                                            ("16 8", [16, 8]), ("", []), ([8.0], [8])])
def test_hidden_layers_accept_lists_and_strings(value, expected):
    spec = A.get("multilayer_perceptron").params["hiddenLayers"]
    assert spec.problem(value) is None
    assert spec.coerce(value) == expected


@pytest.mark.parametrize("value", ["a,b", [0], [True], 16, [1] * 9, "8;4"])
def test_hidden_layers_reject_bad_values(value):
    assert A.get("multilayer_perceptron").problems({"hiddenLayers": value})


def test_glm_family_link_rules_apply_only_with_the_family():
    glm = A.get("generalized_linear_regression")
    assert glm.problems({"family": "poisson", "link": "log"}) == []
    assert glm.problems({"link": "logit"}) == []  # one param at a time: family may come later
    assert "supports links" in dict(glm.problems({"family": "poisson", "link": "logit"}))["link"]
    assert glm.problems({"family": "tweedie", "variancePower": 1.5, "linkPower": 0.0}) == []
    assert glm.problems({"family": "tweedie", "variancePower": 0.5})
    assert glm.problems({"family": "gaussian", "linkPower": 1.0})


def test_huber_loss_is_l2_only():
    lr = A.get("linear_regression")
    assert lr.problems({"loss": "huber", "elasticNetParam": 0.5})
    assert lr.problems({"loss": "huber", "regParam": 0.1}) == []


def test_preprocessing_flags_suit_each_learner():
    for name in ("decision_tree_classifier", "random_forest_classifier", "gbt_classifier",
                 "decision_tree_regressor", "random_forest_regressor", "gbt_regressor"):
        assert not A.get(name).one_hot and not A.get(name).scale_features
    for name in ("logistic_regression", "linear_svc", "multilayer_perceptron", "fm_classifier",
                 "linear_regression", "generalized_linear_regression", "fm_regressor", "kmeans"):
        assert A.get(name).scale_features and A.get(name).scaler == "standard"
    assert A.get("naive_bayes").scaler == "minmax"


def test_v1_names_map_to_valid_learners_and_params():
    for old, (name, params) in A.V1_NAMES.items():
        assert A.get(name) is not None, old
        assert A.get(name).problems(params) == []


def test_resource_metrics_are_not_optimisable():
    for metrics in A.METRICS.values():
        assert not set(A.RESOURCE_METRICS) & set(metrics)
