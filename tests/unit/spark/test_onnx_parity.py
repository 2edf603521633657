"""ONNX export of trained Zygarde pipelines vs Spark, on sklearn's bundled data sets: for every
learner with a converter, the exported graph scores the data as the PipelineModel does (labels
exactly, probabilities and predictions within tolerance); learners without one are reported."""
from __future__ import annotations


import pytest
from pyspark.ml import PipelineModel

from tests.unit.spark.conftest import DATASETS
from zygarde.spark import onnx_export, onnx_trees
from zygarde.spark.dataset import read_dataset
from zygarde.spark.online import ONNX_FILE, export_and_check
from zygarde.spark.predict import label_as_model, model_labels

# The session-wide `spark` fixture (conftest): a session of its own here would stop the shared JVM
# that later test files use.


_SMALL_TREES = {"maxDepth": 3, "numTrees": 5}
CASES = [  # (dataset, algorithm, params)
    ("cancer", "logistic_regression", {"maxIter": 20}),
    ("cancer", "linear_svc", {"maxIter": 20}),
    ("cancer", "naive_bayes", {}),
    ("cancer", "decision_tree_classifier", {"maxDepth": 4}),
    ("cancer", "random_forest_classifier", _SMALL_TREES),
    ("cancer", "gbt_classifier", {"maxDepth": 2, "maxIter": 5}),
    # size_band: a native categorical (with nulls), split by set membership
    ("cancer", "xgboost_classifier", {"n_estimators": 20, "max_depth": 3, "early_stopping_rounds": 0}),
    ("cancer_small", "multilayer_perceptron", {"maxIter": 30, "hiddenLayers": [4]}),
    ("iris", "logistic_regression", {"maxIter": 20}),
    ("iris", "naive_bayes", {}),
    ("iris", "decision_tree_classifier", {"maxDepth": 3}),
    ("iris", "random_forest_classifier", _SMALL_TREES),
    ("diabetes", "linear_regression", {"maxIter": 20}),
    ("diabetes", "decision_tree_regressor", {"maxDepth": 4}),
    ("diabetes", "random_forest_regressor", _SMALL_TREES),
    ("iris_clusters", "kmeans", {"k": 3}),
]


def _scored(spark, request):
    model = PipelineModel.load(request.model_uri)
    file = request.dataset_uri.rsplit("/", 1)[1]
    _, fmt, target, task = DATASETS[next(k for k, v in DATASETS.items() if v[0] == file)]
    data = read_dataset(spark, request.dataset_uri, fmt)
    labelled = label_as_model(data, target, task, model_labels(model))
    return model, model.transform(labelled).cache()


@pytest.mark.parametrize("dataset,algorithm,params", CASES, ids=[f"{d}-{a}" for d, a, _ in CASES])
def test_exported_model_scores_as_spark(spark, trial, tmp_path, dataset, algorithm, params):
    code, result, request = trial(dataset, algorithm, params)
    assert code == 0, result.error
    model, scored = _scored(spark, request)
    classes = model_labels(model) is not None
    online = export_and_check(spark, model, scored, classes, str(tmp_path / "package"))
    assert online["status"] == "available", online.get("reason")
    parity = online["parity"]
    assert parity["rows"] == scored.count()
    if classes:
        assert parity["labels_disagree"] == 0
        assert parity.get("max_abs_probability_diff", 0.0) <= 1e-4
        assert ("probability" in online["outputs"]) == (algorithm != "linear_svc")
    else:
        assert parity["max_rel_prediction_diff"] <= 1e-4
    assert (tmp_path / "package" / ONNX_FILE).stat().st_size == online["onnx_bytes"]
    names = [i["name"] for i in online["inputs"]]
    if dataset == "cancer":  # a categorical column (with nulls) and numeric ones with NaNs
        assert "size_band" in names and "mean_texture" in names


def test_a_learner_without_converter_is_left_offline_with_the_reason(spark, trial, tmp_path):
    code, result, request = trial("cancer_small", "fm_classifier", {"maxIter": 5})
    assert code == 0, result.error
    model, scored = _scored(spark, request)
    online = export_and_check(spark, model, scored, True, str(tmp_path / "package"))
    assert online == {"status": "unavailable", "reason": "no ONNX converter for FMClassificationModel"}
    assert not (tmp_path / "package" / ONNX_FILE).exists()


def test_failed_parity_leaves_the_model_offline_with_the_measured_difference(spark, trial, tmp_path, monkeypatch):
    def skewed(g, stage, x):  # a converter bug: predictions 1% off
        out = onnx_trees.gbt_regressor(g, stage, x)
        return {"prediction": g.op("Mul", [out["prediction"], g.const(1.01)])}

    monkeypatch.setitem(onnx_export.DOUBLE_CONVERTERS, "GBTRegressionModel", skewed)
    code, result, request = trial("diabetes", "gbt_regressor", {"maxDepth": 2, "maxIter": 5})
    assert code == 0, result.error
    model, scored = _scored(spark, request)
    online = export_and_check(spark, model, scored, False, str(tmp_path / "package"))
    assert online["status"] == "unavailable" and online["reason"].startswith("predictions differ by up to")
    assert online["parity"]["max_rel_prediction_diff"] > 1e-4 and online["parity"]["rows"] == scored.count()
    assert not (tmp_path / "package" / ONNX_FILE).exists()
