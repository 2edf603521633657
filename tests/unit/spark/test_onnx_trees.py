"""Spark's tree learners as native ONNX (zygarde.spark.onnx_trees): each of the six models, fit on
sklearn's bundled data behind Zygarde's own preprocessing (nulls imputed or indexed, a categorical
column indexed with metadata so categorical splits occur), scores as Spark does; the model is read
with one save whatever its number of trees; GBTRegressionModel now gets online serving."""
from __future__ import annotations

import numpy as np
import onnx
import pandas as pd
import pytest
from onnx import numpy_helper
from pyspark.ml import PipelineModel
from sklearn import datasets as skdata

from zygarde.domain import algorithms
from zygarde.spark import onnx_export
from zygarde.spark.dataset import read_dataset
from zygarde.spark.estimators import build_estimator
from zygarde.spark.features import FEATURES, fit_preprocessing, plan_features, profile
from zygarde.spark.online import ONNX_FILE, export_and_check, parity

# The session-wide `spark` fixture (conftest): a session of its own here would stop the shared JVM.

LABEL = "target"


def _frame(loader, numeric: list[str], band_of: str, seed: int) -> pd.DataFrame:
    """Weak numeric columns, a 5-level string column made from a strong one (`band_of`), with
    labels in no particular order (so left-category sets are not ranges), and some nulls."""
    frame = loader(as_frame=True).frame
    frame.columns = [c.replace(" ", "_").replace("(", "").replace(")", "") for c in frame.columns]
    rng = np.random.default_rng(seed)
    band = pd.qcut(frame[band_of], 5, labels=["delta", "alpha", "echo", "bravo", "charlie"]).astype(str)
    out = frame[numeric].copy()
    out.insert(0, "band", band)
    out.loc[rng.choice(len(out), len(out) // 15, replace=False), numeric[0]] = np.nan
    out.loc[rng.choice(len(out), len(out) // 20, replace=False), "band"] = None
    out[LABEL] = frame[LABEL].astype(float)
    return out


DATA = {"cancer": lambda: _frame(skdata.load_breast_cancer, ["mean_texture", "mean_smoothness", "mean_symmetry",
                                                             "texture_error", "smoothness_error"], "worst_area", 1),
        "iris": lambda: _frame(skdata.load_iris, ["sepal_length_cm", "sepal_width_cm"], "petal_length_cm", 2),
        "diabetes": lambda: _frame(skdata.load_diabetes, ["age", "sex", "bp", "s1", "s2", "s3"], "bmi", 3)}


@pytest.fixture(scope="module")
def frames(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("trees")
    out = {}
    for name, make in DATA.items():
        make().to_parquet(root / f"{name}.parquet", index=False)  # NaN written as null
        out[name] = spark.read.parquet(str(root / f"{name}.parquet")).cache()
    return out


def _fit(frame, algorithm: str, params: dict) -> PipelineModel:
    """Zygarde's preprocessing for the learner, then the learner, as one PipelineModel."""
    algo = algorithms.get(algorithm)
    plan = plan_features(frame, {LABEL})
    prepared = fit_preprocessing(frame, plan, profile(frame, plan), algo)
    classes = frame.select(LABEL).distinct().count() if "classifier" in algorithm else None
    estimator = build_estimator(algo, params, seed=7, features_col=FEATURES, label_col=LABEL,
                                n_features=prepared.n_features, n_classes=classes,
                                max_categories=prepared.max_categories)
    learner = estimator.fit(prepared.model.transform(frame))
    return PipelineModel(stages=[*prepared.model.stages, learner])


def _ensemble(onnx_bytes: bytes) -> onnx.NodeProto:
    (node,) = [n for n in onnx.load_from_string(onnx_bytes).graph.node if n.op_type == "TreeEnsemble"]
    return node


def _attr(node: onnx.NodeProto, name: str):
    found = next(a for a in node.attribute if a.name == name)
    return numpy_helper.to_array(found.t) if found.type == onnx.AttributeProto.TENSOR else list(found.ints)


CASES = [  # (data, algorithm, params, Spark class)
    ("cancer", "decision_tree_classifier", {"maxDepth": 5}, "DecisionTreeClassificationModel"),
    ("iris", "decision_tree_classifier", {"maxDepth": 4}, "DecisionTreeClassificationModel"),
    ("cancer", "random_forest_classifier", {"maxDepth": 4, "numTrees": 8}, "RandomForestClassificationModel"),
    ("iris", "random_forest_classifier", {"maxDepth": 3, "numTrees": 6}, "RandomForestClassificationModel"),
    ("cancer", "gbt_classifier", {"maxDepth": 3, "maxIter": 6}, "GBTClassificationModel"),
    ("diabetes", "decision_tree_regressor", {"maxDepth": 5}, "DecisionTreeRegressionModel"),
    ("diabetes", "random_forest_regressor", {"maxDepth": 4, "numTrees": 8}, "RandomForestRegressionModel"),
    ("diabetes", "gbt_regressor", {"maxDepth": 3, "maxIter": 6}, "GBTRegressionModel"),
]


@pytest.mark.parametrize("data,algorithm,params,kind", CASES, ids=[f"{d}-{a}" for d, a, _, _ in CASES])
def test_native_tree_export_scores_as_spark(spark, frames, data, algorithm, params, kind):
    model = _fit(frames[data], algorithm, params)
    assert type(model.stages[-1]).__name__ == kind
    onnx_bytes, spec = onnx_export.export(model, spark)
    node = _ensemble(onnx_bytes)  # the native converter, not onnxmltools' graph
    assert node.domain == "ai.onnx.ml" and _attr(node, "nodes_splits").dtype == np.float64
    scored = model.transform(frames[data]).cache()
    classes = "classifier" in algorithm
    result = parity(onnx_bytes, spec, scored, classes)
    assert result["rows"] == scored.count()
    if classes:
        assert result["labels_disagree"] == 0
        assert result["max_abs_probability_diff"] <= 1e-12
    else:
        assert result["max_rel_prediction_diff"] <= 1e-12
    assert (_attr(node, "nodes_modes") == 6).any(), "no categorical split was exercised"


def test_the_model_is_read_with_one_save_whatever_its_number_of_trees(spark, frames, monkeypatch):
    model = _fit(frames["cancer"], "random_forest_classifier", {"maxDepth": 3, "numTrees": 20})
    forest = model.stages[-1]
    writer_class = type(forest.write())
    saves = []
    original = writer_class.save
    monkeypatch.setattr(writer_class, "save", lambda self, path: saves.append(path) or original(self, path))
    onnx_bytes, _ = onnx_export.export(model, spark)
    assert len(saves) == 1
    assert len(_attr(_ensemble(onnx_bytes), "tree_roots")) == forest.getNumTrees == 20


def test_thresholds_decide_the_class_or_are_refused(spark, frames):
    model = _fit(frames["iris"], "random_forest_classifier", {"maxDepth": 3, "numTrees": 4})
    model.stages[-1].setThresholds([0.5, 0.2, 0.3])
    onnx_bytes, spec = onnx_export.export(model, spark)
    scored = model.transform(frames["iris"])
    assert parity(onnx_bytes, spec, scored, True)["labels_disagree"] == 0
    model.stages[-1].setThresholds([0.5, 0.0, 0.5])
    with pytest.raises(onnx_export.Unsupported, match="thresholds"):
        onnx_export.export(model, spark)


def test_gbt_regression_now_serves_online(spark, trial, tmp_path):
    code, result, request = trial("diabetes", "gbt_regressor", {"maxDepth": 2, "maxIter": 5})
    assert code == 0, result.error
    model = PipelineModel.load(request.model_uri)
    scored = model.transform(read_dataset(spark, request.dataset_uri, request.dataset_format)).cache()
    online = export_and_check(spark, model, scored, False, str(tmp_path / "package"))
    assert online["status"] == "available", online.get("reason")
    assert online["parity"]["rows"] == scored.count() and online["parity"]["max_rel_prediction_diff"] <= 1e-12
    assert (tmp_path / "package" / ONNX_FILE).stat().st_size == online["onnx_bytes"]
