"""What the finalisation adds to a package besides the model, its ONNX export and the test scores:
explanations (explain_package: `importance` and `explanations` in the manifest) and the MLflow model
files (serving.mlflow_model: MLmodel, the input example), so that `mlflow.pyfunc.load_model` reads it."""
from __future__ import annotations

import logging
from typing import Any

from pyspark.ml import PipelineModel
from pyspark.ml.feature import ImputerModel, StringIndexerModel
from pyspark.sql import DataFrame, SparkSession

from zygarde.domain.algorithms import CLUSTERING
from zygarde.domain.contracts import DATA_PARTS, FinalizeRequest
from zygarde.serving import mlflow_model
from zygarde.spark import hadoop_fs
from zygarde.spark.dataset import read_dataset
from zygarde.spark.explain_package import package_explanations
from zygarde.spark.feature_layout import source_columns
from zygarde.spark.predict import label_as_model

log = logging.getLogger(__name__)
_INTEGRAL = {"tinyint", "smallint", "int", "bigint"}


def validation_uri(request: FinalizeRequest) -> str:
    """The job's validation part: the refit's, else the test part's sibling (both under the data prefix)."""
    if request.refit is not None:
        return request.refit.validation_uri
    test, validation = DATA_PARTS[2], DATA_PARTS[1]
    prefix = request.test_uri[:-len(test)] if request.test_uri.endswith(test) else request.test_uri + "/../"
    return prefix + validation


def validation_part(spark: SparkSession, request: FinalizeRequest, labels: list[str] | None,
                cached: list[DataFrame]) -> DataFrame | None:
    uri = validation_uri(request)
    if not hadoop_fs.exists(spark, uri):
        return None
    frame = label_as_model(read_dataset(spark, uri, "parquet"), request.target, request.task, labels).cache()
    cached.append(frame)
    return frame


def input_example(model: PipelineModel, input_schema: list[dict[str, Any]]) -> dict[str, Any]:
    """One typical row from the fitted pipeline itself (never a row of the data): each number's training
    mean (the imputer's), each category's first (most frequent, or first in order) value."""
    names = source_columns(model)
    types = {c["name"]: c.get("type") for c in input_schema}
    row: dict[str, Any] = {}
    for stage in model.stages:
        if isinstance(stage, ImputerModel):
            means = stage.surrogateDF.first().asDict()
            for internal in stage.getInputCols():
                name, mean = names.get(internal), means.get(internal)
                if name is None or mean is None:
                    continue
                kind = types.get(name)
                row[name] = bool(mean >= 0.5) if kind == "boolean" else int(round(mean)) if kind in _INTEGRAL \
                    else float(mean)
        elif isinstance(stage, StringIndexerModel):
            for internal, labels in zip(stage.getInputCols(), stage.labelsArray):
                if names.get(internal) is not None and labels:
                    row[names[internal]] = labels[0]
    return row


def build(spark: SparkSession, request: FinalizeRequest, model: PipelineModel, online: dict[str, Any],
          labels: list[str] | None, input_schema: list[dict[str, Any]], cached: list[DataFrame],
          context: str) -> dict[str, Any]:
    """The manifest's `importance`, `explanations` and `input_example` sections. Never raises."""
    validation = None
    if request.task != CLUSTERING:
        try:
            validation = validation_part(spark, request, labels, cached)
        except Exception:  # noqa: BLE001 - explanations never fail the finalisation
            log.warning("validation part unreadable %s", context, exc_info=True)
    seed = int(request.manifest.get("seed") or 0)
    importance, explanations = package_explanations(
        spark, model, validation, request.task, request.metric, seed, labels, online, request.package_uri, context)
    if request.refit is not None and request.refit.on_train_and_validation and "permutation" in importance:
        # final_fit train_and_validation: the model has seen these rows, so the drops are optimistic
        importance["permutation"]["fitted_on_it"] = True
    try:
        example = input_example(model, input_schema)
    except Exception:  # noqa: BLE001
        log.warning("input example failed %s", context, exc_info=True)
        example = {}
    return {"importance": importance, "explanations": explanations, "input_example": example}


def write_mlflow_files(spark: SparkSession, package_uri: str, manifest: dict[str, Any]) -> None:
    """MLmodel and the input example beside manifest.json."""
    for name, data in mlflow_model.files(manifest, manifest.get("created_at") or "").items():
        hadoop_fs.write_bytes(spark, package_uri.rstrip("/") + "/" + name, data)
