"""A trial's validation predictions, kept for the ensemble selection at finalisation (issue #24 item 2):
one small Parquet file per trial fitted on all the train rows (PackedTrial.predictions_uri), with

- zy__row_id: the row's stable id, a 64-bit hash of every column of the prepared part as read (the
  same in every trial of the job: rows equal in every column share it, and every model scores them
  alike, so rows sorted by it line up across trials);
- zy__label: the label as the trials are scored on it (class index, or the value);
- prediction: the predicted class index, or the value;
- probability: the class probabilities (classification), in the model's label order.

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


def with_row_id(df: DataFrame) -> DataFrame:
    """`df` with ROW_ID: xxhash64 of its columns (maps, which Spark cannot hash, left out)."""
    columns = [F.col(f"`{f.name}`") for f in df.schema.fields if not isinstance(f.dataType, T.MapType)]
    return df.withColumn(ROW_ID, F.xxhash64(*columns) if columns else F.lit(0).cast("long"))


def _write(spark: SparkSession, uri: str, table: pa.Table) -> None:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    hadoop_fs.write_bytes(spark, uri, buffer.getvalue())


def write_scored(spark: SparkSession, uri: str, scored: DataFrame) -> None:
    """Writes the scored validation rows (ROW_ID, LABEL, prediction, probability?) to `uri`."""
    columns = [F.col(ROW_ID), F.col(LABEL).cast("double").alias(LABEL), F.col(PREDICTION).cast("double")]
    if PROBABILITY in scored.columns:
        columns.append(vector_to_array(F.col(PROBABILITY)).alias(PROBABILITY))
    _write(spark, uri, scored.select(*columns).toArrow())


def write_arrays(spark: SparkSession, uri: str, row_ids: np.ndarray, labels: np.ndarray, prediction: np.ndarray,
                 probabilities: np.ndarray | None) -> None:
    """The same file from arrays (a trial scored inside one Spark task)."""
    data = {ROW_ID: pa.array(np.asarray(row_ids, dtype=np.int64)),
            LABEL: pa.array(np.asarray(labels, dtype=np.float64)),
            PREDICTION: pa.array(np.asarray(prediction, dtype=np.float64))}
    if probabilities is not None:
        data[PROBABILITY] = pa.array(list(np.asarray(probabilities, dtype=np.float64)), type=pa.list_(pa.float64()))
    _write(spark, uri, pa.table(data))


def read(spark: SparkSession, uri: str) -> dict[str, np.ndarray]:
    """{row_id, label, values}, sorted by row id; values: probabilities [rows, classes] or values [rows]."""
    table = pq.read_table(io.BytesIO(hadoop_fs.read_bytes(spark, uri)))
    row_ids = table.column(ROW_ID).to_numpy()
    labels = table.column(LABEL).to_numpy().astype(np.float64)
    if PROBABILITY in table.column_names:
        values = np.array(table.column(PROBABILITY).to_pylist(), dtype=np.float64)
    else:
        values = table.column(PREDICTION).to_numpy().astype(np.float64)
    order = np.argsort(row_ids, kind="stable")
    return {"row_id": row_ids[order], "label": labels[order], "values": values[order]}
