"""zygarde.Client.train with a Spark DataFrame: a small one goes through pandas as one Parquet object; a
large one is written by the session itself as a folder of Parquet part files under the owner's folder."""
from __future__ import annotations

import io
import json

import pandas as pd

from tests.unit.conftest import OWNER, token
from zygarde.client import Client, data


def frame(n: int) -> pd.DataFrame:
    return pd.DataFrame({"x": [float(i) for i in range(n)], "kind": ["a", "b"] * (n // 2),
                         "y": [i % 3 for i in range(n)]})


def test_a_small_spark_dataframe_is_uploaded_as_one_parquet_object(spark, deps):
    df = spark.createDataFrame(frame(40))
    job = Client(deps=deps, tokens=lambda: token(OWNER)).train(df, target="y")
    [(_, raw, _)] = deps.publisher.messages
    spec = json.loads(raw)
    assert spec["job_id"] == job.job_id and spec["task"] == "multiclass_classification"  # three classes
    uri = spec["dataset"]["uri"]
    assert uri.startswith(f"gs://bkt/datasets/{OWNER}/spark-") and uri.endswith(".parquet")
    stored = pd.read_parquet(io.BytesIO(deps.blobs.read_bytes(uri)))
    assert stored.sort_values("x").reset_index(drop=True).equals(frame(40))


def test_a_large_spark_dataframe_is_written_by_spark_as_part_files(spark, monkeypatch, tmp_path):
    monkeypatch.setattr(data, "SMALL_SPARK_ROWS", 10)
    monkeypatch.setattr(data, "owner_prefix", lambda bucket, owner: f"file://{tmp_path}/datasets/{owner}/")
    staged = data.stage(spark.createDataFrame(frame(40)), "y", OWNER, "bkt")
    assert staged.payload is None and staged.format == "parquet" and staged.uri.endswith("/")
    assert staged.uri.startswith(f"file://{tmp_path}/datasets/{OWNER}/spark-")
    assert sorted(staged.target_values) == ["0", "1", "2"] and staged.columns == ["x", "kind", "y"]
    written = spark.read.parquet(staged.uri).toPandas()
    assert written.sort_values("x").reset_index(drop=True).equals(frame(40))
