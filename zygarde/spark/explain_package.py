"""At finalisation: the package's explanations (importance.py for the global measures) and what online
per-row attributions need, written beside model.onnx (zygarde.serving.attributions reads them).

- XGBoost: the booster as JSON (`booster.json`); attributions are its tree SHAP values
  (`pred_contribs`) on the margin, over the rounds it predicts with.
- Linear models (logistic regression, linear SVM, linear regression): `explanations.json` holds the
  weights, intercepts and the mean of each of the learner's input features on the validation sample;
  an attribution is weight x (value - mean) on the encoded, scaled features, the base the margin at the
  means, so they sum exactly to the row's margin (its prediction for linear regression).
Either way each feature's attribution counts for its input column (feature_layout).

`package_explanations` never raises: a failure leaves `explanations.status` "unavailable" with the reason.
"""
from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np
from pyspark.ml import PipelineModel
from pyspark.ml.stat import Summarizer
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from zygarde.domain.algorithms import CLUSTERING
from zygarde.spark import hadoop_fs
from zygarde.spark.feature_layout import feature_columns
from zygarde.spark.features import FEATURES
from zygarde.spark.importance import importance, learner

log = logging.getLogger(__name__)

EXPLANATIONS_FILE = "explanations.json"
BOOSTER_FILE = "booster.json"
ONLINE_LINEAR = {"LogisticRegressionModel", "LinearRegressionModel", "LinearSVCModel"}


def _linear(stage, means: np.ndarray) -> dict[str, Any]:
    """Weights [outputs, features] and intercepts whose product with the features is the margin ONNX
    serves (binomial fitted as multinomial: class 1 less class 0, as onnx_learners does)."""
    if hasattr(stage, "coefficientMatrix"):
        weights, intercepts = stage.coefficientMatrix.toArray(), stage.interceptVector.toArray()
        if weights.shape[0] == 2 and stage.numClasses == 2:
            weights, intercepts = (weights[1] - weights[0]).reshape(1, -1), np.array([intercepts[1] - intercepts[0]])
    else:
        weights = np.asarray(stage.coefficients.toArray()).reshape(1, -1)
        intercepts = np.array([float(stage.intercept)])
    return {"weights": weights.tolist(), "intercepts": intercepts.tolist(), "means": means.tolist()}


def _output(stage, labels: list[str] | None) -> str:
    kind = type(stage).__name__
    if labels and len(labels) > 2:
        return "the margin (log-odds before softmax) of the predicted class"
    if labels:
        return f"the margin (log-odds) of class {labels[-1]!r}" if kind != "LinearSVCModel" else \
            f"the margin of class {labels[-1]!r}"
    return "the prediction" if kind != "SparkXGBRegressorModel" else "the margin (the prediction before its link)"


def _attributions(spark: SparkSession, model: PipelineModel, sample: DataFrame, columns: list[str],
                  labels: list[str] | None, package_uri: str) -> dict[str, Any]:
    stage = learner(model)
    kind = type(stage).__name__
    base = package_uri.rstrip("/") + "/"
    spec: dict[str, Any] = {"feature_columns": columns, "output": _output(stage, labels)}
    if hasattr(stage, "get_booster"):
        from zygarde.spark.onnx_xgboost import used_rounds

        booster = stage.get_booster()
        hadoop_fs.write_bytes(spark, base + BOOSTER_FILE, bytes(booster.save_raw("json")))
        spec.update(method="tree_shap", booster_uri=base + BOOSTER_FILE, rounds=used_rounds(booster))
    elif kind in ONLINE_LINEAR:
        row = model.transform(sample).select(Summarizer.metrics("mean").summary(F.col(FEATURES)).alias("s")).first()
        spec.update(method="linear", **_linear(stage, np.asarray(row["s"]["mean"].toArray(), dtype=np.float64)))
    else:
        return {"status": "unavailable",
                "reason": f"per-row attributions exist for XGBoost and linear models, not {kind}"}
    hadoop_fs.write_bytes(spark, base + EXPLANATIONS_FILE, json.dumps(spec).encode())
    return {"status": "available", "method": spec["method"], "output": spec["output"],
            "uri": base + EXPLANATIONS_FILE, **({"booster_uri": spec["booster_uri"]} if "booster_uri" in spec else {})}


def package_explanations(spark: SparkSession, model: PipelineModel, validation: DataFrame | None, task: str,
                         metric: str | None, seed: int, labels: list[str] | None, online: dict[str, Any],
                         package_uri: str, context: str = "") -> tuple[dict[str, Any], dict[str, Any]]:
    """(the manifest's `importance`, its `explanations`), each {"status": "available", ...} or
    {"status": "unavailable", "reason"}. `validation`: the validation part labelled as the model was."""
    if task == CLUSTERING:
        reason = "a clustering model has no target to explain"
        return {"status": "unavailable", "reason": reason}, {"status": "unavailable", "reason": reason}
    if validation is None:
        reason = "the validation part is not there to measure it on"
        return {"status": "unavailable", "reason": reason}, {"status": "unavailable", "reason": reason}
    try:
        columns = feature_columns(model, validation)
        if columns is None:
            raise ValueError("the model's feature vector does not map back to its input columns")
        sample = validation.limit(5000)
        found = importance(spark, model, validation, columns, task, metric, seed)
    except Exception as exc:  # noqa: BLE001 - explanations must never fail the finalisation
        log.warning("importance failed %s", context, exc_info=True)
        reason = f"importance could not be computed: {type(exc).__name__}: {str(exc)[:200]}"
        return {"status": "unavailable", "reason": reason}, {"status": "unavailable", "reason": reason}
    if online.get("status") != "available":
        return found, {"status": "unavailable", "reason": "per-row attributions are served online, and this "
                                                         "version does not serve online"}
    try:
        return found, _attributions(spark, model, sample, columns, labels, package_uri)
    except Exception as exc:  # noqa: BLE001
        log.warning("attribution export failed %s", context, exc_info=True)
        return found, {"status": "unavailable",
                       "reason": f"attributions could not be prepared: {type(exc).__name__}: {str(exc)[:200]}"}
