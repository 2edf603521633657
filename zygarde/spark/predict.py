"""Scoring with a fitted model: the target indexed as the model knows its classes (for metrics), and
predictions written as plain columns (input columns, prediction, predicted_label, probability)."""
from __future__ import annotations

import json
import logging
from typing import Any

from pyspark.ml import PipelineModel
from pyspark.ml.feature import IndexToString, StringIndexerModel
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from zygarde.domain.algorithms import CLASSIFICATION
from zygarde.domain.errors import DatasetError
from zygarde.spark import hadoop_fs
from zygarde.spark.dataset import LABEL, column, describe_columns, read_dataset, with_label

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
OUTPUTS = ("prediction", "predicted_label", "probability")


def load_model(uri: str) -> PipelineModel:
    return PipelineModel.load(hadoop_fs.qualify(uri))


def model_labels(model: PipelineModel) -> list[str] | None:
    """The class names in index order (from the model's IndexToString stage), None for regression
    and clustering models."""
    for stage in reversed(model.stages):
        if isinstance(stage, IndexToString):
            return list(stage.getLabels())
    return None


def label_as_model(df: DataFrame, target: str, task: str, labels: list[str] | None) -> DataFrame:
    """Adds LABEL the way the model was trained: class index in `labels` order (rows whose class
    the model never saw are dropped, as are rows without a target); the number for regression."""
    if task not in CLASSIFICATION or labels is None:
        return with_label(df, target, task)[0]
    if target not in df.columns:
        raise DatasetError(f"target column {target!r} is not in the data (columns: {describe_columns(df)})")
    present = column(target).isNotNull()
    if isinstance(df.schema[target].dataType, (T.FloatType, T.DoubleType)):
        present = present & ~F.isnan(column(target))
    indexer = StringIndexerModel.from_labels(labels, inputCol="zy__target", outputCol=LABEL, handleInvalid="skip")
    return indexer.transform(df.filter(present).withColumn("zy__target", column(target).cast("string"))) \
        .drop("zy__target")


def package_root(model_uri: str) -> str:
    """gs://.../{job}/model -> gs://.../{job}/ (where manifest.json lives)."""
    return model_uri.rstrip("/").rsplit("/", 1)[0] + "/"


def read_manifest(spark: SparkSession, model_uri: str) -> dict[str, Any] | None:
    uri = package_root(model_uri) + MANIFEST
    if not hadoop_fs.exists(spark, uri):
        return None
    return json.loads(hadoop_fs.read_bytes(spark, uri))


def predictions(model, df: DataFrame) -> DataFrame:
    """The input's columns, then prediction, predicted_label (classes) and probability (as an
    array of doubles, readable anywhere); internal columns and rawPrediction left out. `model`: a
    PipelineModel, or anything with its transform (an ensemble: ensemble_model)."""
    scored = model.transform(df)
    extra = []
    if "predicted_label" in scored.columns:
        extra.append(F.col("predicted_label"))
    if "probability" in scored.columns:
        extra.append(vector_to_array(F.col("probability")).alias("probability"))
    kept = [column(c) for c in df.columns if c not in OUTPUTS]
    return scored.select(*kept, F.col("prediction"), *extra)


def is_ensemble(manifest: dict[str, Any] | None) -> bool:
    """Whether a package's manifest describes an ensemble (members/{i}, no model/)."""
    return bool(((manifest or {}).get("ensemble") or {}).get("members"))


class Ensemble:
    """An ensemble package's members, with a PipelineModel's transform (`package_root`: read the members
    from a copy of the package there, as ensemble_model.load)."""

    def __init__(self, manifest: dict[str, Any], package_root: str | None = None):
        from zygarde.spark import ensemble_model

        self._transform = ensemble_model.transform
        self.members, self.labels = ensemble_model.load(manifest, package_root)

    def transform(self, df: DataFrame) -> DataFrame:
        return self._transform(self.members, df, self.labels)


def score(spark: SparkSession, model_uri: str, input_uri: str, fmt: str, options: dict[str, Any] | None,
          output_uri: str) -> dict[str, Any]:
    """Scores a dataset with a saved model and writes the predictions as Parquet to `output_uri`.
    Returns {rows, output, columns}. Raises DatasetError when the input lacks the model's columns. An
    ensemble package (its manifest's `ensemble` section) is scored by its members' weighted average."""
    manifest = read_manifest(spark, model_uri) or {}
    model = Ensemble(manifest) if is_ensemble(manifest) else load_model(model_uri)
    data = read_dataset(spark, input_uri, fmt, options)
    expected = [c["name"] for c in manifest.get("input_schema", [])]
    missing = [name for name in expected if name not in data.columns]
    try:
        out = predictions(model, data)
        out.write.mode("overwrite").parquet(hadoop_fs.qualify(output_uri))
    except Exception as exc:
        if missing:
            raise DatasetError(f"the input lacks columns the model was trained with: {', '.join(missing)}") from exc
        raise
    rows = spark.read.parquet(hadoop_fs.qualify(output_uri)).count()
    log.info("predictions written model_uri=%s input=%s rows=%d output=%s", model_uri, input_uri, rows, output_uri)
    return {"rows": rows, "output": output_uri, "columns": out.columns}
