"""Spark reads and writes gs:// against fake-gcs-server with spark_conf_for_emulator()."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from _dataproc_helpers import REPO, kill_group, storage_client
from zygarde.local.spark_gcs import gcs_connector_jar, spark_conf_for_emulator

pytestmark = pytest.mark.integration

# Runs in its own process (and process group) so the JVM is easy to account for and kill.
SPARK_SCRIPT = """
import json, sys
from pyspark.sql import SparkSession
from zygarde.local.spark_gcs import spark_conf_for_emulator
builder = SparkSession.builder.master("local[1]").appName("spark-gcs-test")
for key, value in spark_conf_for_emulator(sys.argv[1], "test-project").items():
    builder = builder.config(key, value)
builder = builder.config("spark.ui.enabled", "false")
spark = builder.getOrCreate()
df = spark.read.option("header", True).option("inferSchema", True).csv("gs://spark-gcs/in/data.csv")
df.where("x > 1").write.mode("overwrite").parquet("gs://spark-gcs/out/filtered")
back = spark.read.parquet("gs://spark-gcs/out/filtered")
print("RESULT " + json.dumps({"read": df.count(), "written": back.count()}))
spark.stop()
"""


@pytest.fixture(scope="module")
def fake_gcs(emulator_set) -> str:
    """The session's fake-gcs-server: its URL."""
    return emulator_set.storage_url


def test_conf_uses_the_shaded_connector_and_byte_counts():
    conf = spark_conf_for_emulator("127.0.0.1:4443")
    assert conf["spark.jars"] == gcs_connector_jar() and os.path.isfile(gcs_connector_jar())
    assert conf["spark.hadoop.fs.gs.impl"] == "com.google.cloud.hadoop.fs.gcs.GoogleHadoopFileSystem"
    assert conf["spark.hadoop.fs.gs.storage.root.url"] == "http://127.0.0.1:4443/"
    for key in ("block.size", "outputstream.buffer.size", "inputstream.min.range.request.size",
                "inputstream.inplace.seek.limit", "outputstream.upload.chunk.size"):
        assert conf[f"spark.hadoop.fs.gs.{key}"].isdigit(), key


def test_spark_reads_csv_and_writes_parquet_on_fake_gcs(fake_gcs, tmp_path):
    client = storage_client(fake_gcs)
    bucket = client.create_bucket("spark-gcs")
    bucket.blob("in/data.csv").upload_from_string("x,y\n1,a\n2,b\n3,c\n", content_type="text/csv")

    proc = subprocess.Popen([sys.executable, "-c", SPARK_SCRIPT, fake_gcs], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=240)
    finally:
        kill_group(proc.pid)  # the Spark JVM lives in this group
    result_lines = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and result_lines, out[-3000:]
    assert json.loads(result_lines[-1][len("RESULT "):]) == {"read": 3, "written": 2}

    names = [b.name for b in client.list_blobs("spark-gcs", prefix="out/filtered/")]
    assert "out/filtered/_SUCCESS" in names
    parts = [n for n in names if n.endswith(".parquet")]
    assert parts
    xs = [x for part in parts
          for x in pq.read_table(io.BytesIO(bucket.blob(part).download_as_bytes())).column("x").to_pylist()]
    assert sorted(xs) == [2, 3]
