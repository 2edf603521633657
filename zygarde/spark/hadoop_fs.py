"""Files through Hadoop's FileSystem API (via py4j): the same code for gs:// and local paths,
with no google-cloud-storage in the batch."""
from __future__ import annotations

import os
from urllib.parse import urlparse

from pyspark.sql import SparkSession


def qualify(uri: str) -> str:
    """A URI Spark and Hadoop resolve the same way: bare local paths become file:// URIs."""
    if urlparse(uri).scheme:
        return uri
    return "file://" + os.path.abspath(uri)


def _path_and_fs(spark: SparkSession, uri: str):
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(qualify(uri))
    return path, path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())


def write_bytes(spark: SparkSession, uri: str, data: bytes) -> None:
    """Create (or overwrite) one file. The object is complete when the stream closes."""
    path, fs = _path_and_fs(spark, uri)
    stream = fs.create(path, True)
    try:
        stream.write(bytearray(data))
    finally:
        stream.close()


def read_bytes(spark: SparkSession, uri: str) -> bytes:
    """The whole content of one (small) file."""
    path, fs = _path_and_fs(spark, uri)
    stream = fs.open(path)
    try:
        return bytes(spark.sparkContext._jvm.org.apache.commons.io.IOUtils.toByteArray(stream))
    finally:
        stream.close()


def exists(spark: SparkSession, uri: str) -> bool:
    path, fs = _path_and_fs(spark, uri)
    return bool(fs.exists(path))


def delete(spark: SparkSession, uri: str) -> None:
    """Removes a file or a directory with everything under it (nothing when it does not exist)."""
    path, fs = _path_and_fs(spark, uri)
    if fs.exists(path):
        fs.delete(path, True)


def total_bytes(spark: SparkSession, uri: str) -> int:
    """Sum of the sizes of every file under `uri` (a file or a directory)."""
    path, fs = _path_and_fs(spark, uri)
    return int(fs.getContentSummary(path).getLength())


def run_then_report(spark: SparkSession, run, request, stage: str):
    """Run a batch's work (`run(spark, request)` returns a result and never raises), then write the
    result JSON to request.result_uri as the batch's last act. Raises only if that write fails."""
    import logging

    result = run(spark, request)
    write_bytes(spark, request.result_uri, result.to_json().encode("utf-8"))
    logging.getLogger("zygarde.spark").info("result written job_id=%s stage=%s status=%s uri=%s", result.job_id,
                                            stage, result.status, request.result_uri)
    return result
