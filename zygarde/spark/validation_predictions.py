"""A trial's validation predictions, kept for the ensemble selection at finalisation (issue #24 item 2):
one small Parquet file per trial fitted on all the train rows (PackedTrial.predictions_uri), with

- zy__row_id: the row's stable id, a 64-bit hash of every column of the prepared part as read (the
  same in every trial of the job: rows equal in every column share it, and every model scores them
  alike, so rows sorted by it line up across trials);
- zy__label: the label as the trials are scored on it (class index, or the value);
- prediction: the predicted class index, or the value;
- probability: the class probabilities (classification), in the model's label order;
- zy__fold (a k-fold job's trials only): the out-of-fold predictions. Each train row is scored by the
  model of its cross-validation fold (fitted on the other folds), each validation row (zy__fold -1)
  by the model fitted on the whole train part: every row of train + validation once, by a model that
  did not see it. Copies of a row may fall in different folds and be scored differently, so rows
  line up across trials by (row id, fold): folds depend on the job's seed only.

Written with pyarrow through Hadoop's file system (gs:// included), read back the same way.
"""
from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from zygarde.spark import hadoop_fs
from zygarde.spark.dataset import LABEL

ROW_ID = "zy__row_id"
PREDICTION, PROBABILITY = "prediction", "probability"
FOLD = "zy__fold"  # the fold whose model scored a train row out of fold; VALIDATION_FOLD for a validation row
VALIDATION_FOLD = -1


def with_row_id(df: DataFrame) -> DataFrame:
    """`df` with ROW_ID: xxhash64 of its columns (maps, which Spark cannot hash, left out)."""
    columns = [F.col(f"`{f.name}`") for f in df.schema.fields if not isinstance(f.dataType, T.MapType)]
    return df.withColumn(ROW_ID, F.xxhash64(*columns) if columns else F.lit(0).cast("long"))


def _write(spark: SparkSession, uri: str, table: pa.Table) -> None:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    hadoop_fs.write_bytes(spark, uri, buffer.getvalue())


def scored_table(scored: DataFrame, fold: int | None = None) -> pa.Table:
    """The scored rows (ROW_ID, LABEL, prediction, probability?, and FOLD when `fold` is given), collected."""
    columns = [F.col(ROW_ID), F.col(LABEL).cast("double").alias(LABEL), F.col(PREDICTION).cast("double")]
    if PROBABILITY in scored.columns:
        columns.append(vector_to_array(F.col(PROBABILITY)).alias(PROBABILITY))
    if fold is not None:
        columns.append(F.lit(fold).cast("int").alias(FOLD))
    return scored.select(*columns).toArrow()


def write_scored(spark: SparkSession, uri: str, scored: DataFrame) -> None:
    """Writes the scored validation rows (ROW_ID, LABEL, prediction, probability?) to `uri`."""
    _write(spark, uri, scored_table(scored))


def write_out_of_fold(spark: SparkSession, uri: str, folds: list[pa.Table], validation: pa.Table) -> None:
    """Writes a k-fold trial's out-of-fold predictions: each fold's held-out rows (scored_table with their
    fold) and the validation rows (scored_table with VALIDATION_FOLD), in one file."""
    _write(spark, uri, pa.concat_tables([*folds, validation]))


def write_arrays(spark: SparkSession, uri: str, row_ids: np.ndarray, labels: np.ndarray, prediction: np.ndarray,
                 probabilities: np.ndarray | None) -> None:
    """The same file from arrays (a trial scored inside one Spark task)."""
    data = {ROW_ID: pa.array(np.asarray(row_ids, dtype=np.int64)),
            LABEL: pa.array(np.asarray(labels, dtype=np.float64)),
            PREDICTION: pa.array(np.asarray(prediction, dtype=np.float64))}
    if probabilities is not None:
        data[PROBABILITY] = pa.array(list(np.asarray(probabilities, dtype=np.float64)), type=pa.list_(pa.float64()))
    _write(spark, uri, pa.table(data))


def read(spark: SparkSession, uri: str) -> dict[str, np.ndarray | None]:
    """{row_id, fold, label, values}, sorted by row id (then fold); values: probabilities [rows, classes]
    or values [rows]; fold None unless the file holds out-of-fold predictions."""
    table = pq.read_table(io.BytesIO(hadoop_fs.read_bytes(spark, uri)))
    row_ids = table.column(ROW_ID).to_numpy()
    labels = table.column(LABEL).to_numpy().astype(np.float64)
    if PROBABILITY in table.column_names:
        values = np.array(table.column(PROBABILITY).to_pylist(), dtype=np.float64)
    else:
        values = table.column(PREDICTION).to_numpy().astype(np.float64)
    folds = table.column(FOLD).to_numpy().astype(np.int64) if FOLD in table.column_names else None
    order = np.lexsort((folds, row_ids)) if folds is not None else np.argsort(row_ids, kind="stable")
    return {"row_id": row_ids[order], "fold": folds[order] if folds is not None else None,
            "label": labels[order], "values": values[order]}
