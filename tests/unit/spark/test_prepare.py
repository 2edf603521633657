"""The data preparation batch (spark_jobs/prepare_data.py) in-process on local Spark: the data report
and its warnings, the problems that fail a job, deterministic stratified splits, column and row
selection, and pinning a gs:// input on fake-gcs-server (generation and CRC32C)."""
from __future__ import annotations

import base64
import hashlib
import json
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.unit.spark.fake_gcs import http as _http
from tests.unit.spark.fake_gcs import running_fake_gcs
from tests.unit.spark.session import local_session
from zygarde.domain.contracts import PrepareRequest, PrepareResult
from zygarde.domain.row_filter_text import parse
from zygarde.local.cloud import LocalPorts
from zygarde.spark.data_report import part_sizes

# This helper's port range is 18500-18599.
SPARK_PORTS = {"spark.driver.port": "18510", "spark.blockManager.port": "18530", "spark.port.maxRetries": "15"}
GCS_PORT = LocalPorts.free().storage  # free now, in $ZYGARDE_TEST_PORT_RANGE (another run may hold a fixed one)
BUCKET = "zy-prepare-test"


@pytest.fixture(scope="module")
def spark():
    """A local[2] session on this file's ports that can also reach gs:// on fake-gcs-server. When a
    session already runs (several test files in one pytest process), it is reused and left running."""
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    if SparkContext._active_spark_context is not None:
        yield SparkSession.builder.getOrCreate()
        return
    from zygarde.local.spark_gcs import spark_conf_for_emulator

    conf = {**spark_conf_for_emulator(f"http://127.0.0.1:{GCS_PORT}", "test-project"), **SPARK_PORTS,
            "spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false",
            "spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1",
            "spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2",
            "spark.sql.adaptive.enabled": "false", "spark.driver.memory": "5g"}
    with local_session("zygarde-prepare-tests", conf) as session:
        yield session


@pytest.fixture(scope="module")
def messy_csv(data_dir, tmp_path_factory) -> Path:
    """Breast cancer plus an identifier, a constant, a mostly-null column and the target in disguise."""
    frame = pd.read_csv(data_dir / "cancer.csv")
    frame.insert(0, "patient_id", [f"P{i:05d}" for i in range(len(frame))])
    frame["site"] = "north"
    frame["notes"] = np.where(np.arange(len(frame)) % 5 == 0, "seen twice", None)
    frame["review_code"] = np.where(frame["diagnosis"] == "benign", "B", "M")
    path = tmp_path_factory.mktemp("messy") / "cancer_messy.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def prepare(spark, data_dir, tmp_path):
    """prepare(dataset_file, **fields) -> (exit code, PrepareResult, PrepareRequest)."""
    from spark_jobs.prepare_data import main

    def run(dataset: str | Path, **overrides):
        out = tmp_path / uuid.uuid4().hex[:6]
        fields = dict(job_id="job-prep", attempt=1, dataset_uri=str(data_dir / dataset), dataset_format="csv",
                      target="diagnosis", task="binary_classification", seed=11, validation_fraction=0.2,
                      test_fraction=0.15, output_prefix=f"{out}/data/", result_uri=f"{out}/result.json")
        fields.update(overrides)
        request = PrepareRequest(**fields)
        code = main(["--request", request.to_json()], spark=spark)
        text = _read(spark, request.result_uri)
        json.loads(text, parse_constant=_reject)  # strict JSON
        return code, PrepareResult.from_json(text), request

    return run


def _read(spark, uri: str) -> bytes:
    from zygarde.spark import hadoop_fs

    return hadoop_fs.read_bytes(spark, uri)


def _reject(name: str):
    raise AssertionError(f"non-standard JSON constant {name}")


def _kinds(report: dict) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for w in report["warnings"]:
        out.setdefault(w["column"], set()).add(w["kind"])
    return out


def test_report_describes_the_data_and_flags_suspicious_columns(spark, prepare, messy_csv):
    code, result, request = prepare(messy_csv)

    assert code == 0 and result.status == "SUCCEEDED", result.error
    report = result.report
    kinds = _kinds(report)
    assert "id_like" in kinds["patient_id"]
    assert "constant" in kinds["site"]
    assert "mostly_null" in kinds["notes"]
    assert kinds["review_code"] == {"target_leak"}
    leaks = [w["column"] for w in report["warnings"] if w["kind"] == "target_leak"]
    assert leaks == ["review_code"]  # no real measurement is taken for the target
    assert report["row_count"] == report["rows_with_target"] == 569 and report["problems"] == []
    assert report["class_balance"] == {"benign": 357, "malignant": 212}

    frame = pd.read_csv(messy_csv)
    radius = report["columns"]["mean_radius"]
    assert radius["type"] == "double" and radius["nulls"] == 0
    assert radius["min"] == frame["mean_radius"].min() and radius["max"] == frame["mean_radius"].max()
    assert radius["mean"] == pytest.approx(frame["mean_radius"].mean(), rel=1e-12)
    assert radius["distinct"] == frame["mean_radius"].nunique()
    assert report["columns"]["mean_texture"]["nulls"] == 40
    band = report["columns"]["size_band"]
    assert band["nulls"] == 20 and band["distinct"] == 3
    assert band["top"][0] == [frame["size_band"].value_counts().index[0], int(frame["size_band"].value_counts().iloc[0])]
    assert {s["name"] for s in report["schema"]} == set(frame.columns)

    assert sum(result.rows.values()) == 569 and set(result.parts) == {"train", "validation", "test"}
    sizes = [part_sizes(n, 0.2, 0.15) for n in (357, 212)]  # per class
    assert result.rows == {p: sum(s[i] for s in sizes) for i, p in enumerate(("train", "validation", "test"))}
    assert json.loads(_read(spark, request.output_prefix + "report.json")) == json.loads(json.dumps(report))
    part = spark.read.parquet(result.parts["train"])
    assert part.columns == list(frame.columns) and part.count() == result.rows["train"]

    pin = result.fingerprint
    content = messy_csv.read_bytes()
    assert pin["uri"] == str(messy_csv) and pin["files"] == 1 and pin["size"] == len(content)
    assert pin["checksum"] == "sha256:" + hashlib.sha256(content).hexdigest()
    assert pin["modification_time"].endswith("Z")


def test_split_is_deterministic_stratified_and_complete(spark, prepare):
    def parts(seed, fmt="json", file="iris.jsonl"):
        code, result, _ = prepare(file, dataset_format=fmt, target="species", task="multiclass_classification",
                                  seed=seed, validation_fraction=0.2, test_fraction=0.2)
        assert code == 0, result.error
        return {name: sorted(tuple(r) for r in spark.read.parquet(uri).select(
            "sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm", "species").collect())
            for name, uri in result.parts.items()}, result

    first, result = parts(5)
    again, _ = parts(5, "csv", "iris.csv")  # same rows, another file format: the same split
    other, _ = parts(6)
    assert first == again
    assert first != other
    assert part_sizes(50, 0.2, 0.2) == (30, 10, 10)
    for rows in first.values():
        by_class = pd.Series([r[-1] for r in rows]).value_counts().to_dict()
        assert set(by_class) == {"setosa", "versicolor", "virginica"}
    assert [pd.Series([r[-1] for r in first[p]]).value_counts().to_dict() for p in ("train", "validation", "test")] \
        == [{c: n for c in ("setosa", "versicolor", "virginica")} for n in (30, 10, 10)]
    everything = first["train"] + first["validation"] + first["test"]
    assert len(everything) == 150 and result.rows == {"train": 90, "validation": 30, "test": 30}
    assert result.report["split"]["stratified"] is True


def test_large_strata_are_split_by_hash_thresholds(spark, data_dir, monkeypatch):
    from pyspark.sql import functions as F

    from zygarde.spark import prepare as module
    from zygarde.spark.dataset import read_dataset

    monkeypatch.setattr(module, "SPLIT_EXACT_MAX", 300)  # the 357 benign rows go by thresholds, 212 malignant by rank
    frame = read_dataset(spark, str(data_dir / "cancer_small.csv"), "csv")

    def split(seed):
        parts = module.assign_parts(frame, seed=seed, validation_fraction=0.2, test_fraction=0.2,
                                    strata={"benign": 357, "malignant": 212}, stratum=F.col("diagnosis"))
        return {(r["diagnosis"], r["zy__part"]): r["count"] for r in parts.groupBy("diagnosis", "zy__part").count().collect()}

    counts = split(3)
    assert counts == split(3) and counts != split(4)
    assert [counts[("malignant", p)] for p in ("train", "validation", "test")] == list(part_sizes(212, 0.2, 0.2))
    assert sum(counts[("benign", p)] for p in ("train", "validation", "test")) == 357
    assert abs(counts[("benign", "train")] / 357 - 0.6) < 0.08


def test_columns_that_clash_with_model_outputs_or_go_unused(spark):
    import datetime as dt

    from zygarde.spark.data_report import schema_findings

    df = spark.createDataFrame([(1.0, dt.date(2026, 1, 1), "a")], "prediction double, day date, y string")
    problems, warnings = schema_findings(df, "y")
    assert problems == ["column 'prediction' clashes with a model output column; rename or exclude it"]
    assert [(w["column"], w["kind"]) for w in warnings] == [("day", "unused_type")]


def test_part_sizes_keep_every_part_fed_when_a_class_allows():
    assert part_sizes(1, 0.2, 0.15) == (1, 0, 0)
    assert part_sizes(2, 0.2, 0.15) == (1, 1, 0)
    assert part_sizes(3, 0.2, 0.15) == (1, 1, 1)
    assert part_sizes(4, 0.45, 0.45) == (1, 2, 1)
    assert part_sizes(100, 0.2, 0.0) == (80, 20, 0)
    assert sum(part_sizes(357, 0.2, 0.15)) == 357


def test_column_selection_row_filter_and_expectations(spark, prepare, data_dir):
    code, result, _ = prepare("cancer.csv", include_columns=["size_band", "mean_radius", "mean_texture"],
                              exclude_columns=["mean_texture"], row_filter=parse("mean_radius > 12"),
                              expectations={"mean_radius": {"type": "numeric", "min": 12, "max": 30},
                                            "size_band": {"allowed": ["small", "medium", "large"]},
                                            "diagnosis": {"type": "string", "allowed": ["benign"],
                                                          "severity": "warning"}})
    assert code == 0, result.error
    frame = pd.read_csv(data_dir / "cancer.csv")
    kept = frame[frame["mean_radius"] > 12]
    assert result.report["row_count"] == len(kept) and result.report["selection"]["rows_read"] == 569
    assert sum(result.rows.values()) == len(kept)
    assert spark.read.parquet(result.parts["validation"]).columns == ["size_band", "mean_radius", "diagnosis"]
    assert result.report["problems"] == []
    malignant = int((kept["diagnosis"] == "malignant").sum())
    assert [w["message"] for w in result.report["warnings"] if w["kind"] == "expectation"] == [
        f"{malignant} rows of column 'diagnosis' have values outside the allowed ones (e.g. 'malignant')"]


def test_regression_split_and_a_leaking_numeric_feature(spark, prepare, data_dir, tmp_path):
    frame = pd.read_csv(data_dir / "diabetes.csv")
    frame["progression_decile"] = (frame["progression"] / 35.0).round(2)
    frame.to_csv(tmp_path / "diabetes_leak.csv", index=False)
    code, result, _ = prepare(tmp_path / "diabetes_leak.csv", target="progression", task="regression")
    assert code == 0, result.error
    assert [(w["column"], w["kind"]) for w in result.report["warnings"]] == [("progression_decile", "target_leak")]
    assert "r=1.0000" in result.report["warnings"][0]["message"]
    assert result.report["class_balance"] is None and result.report["split"]["stratified"] is False
    assert tuple(result.rows[p] for p in ("train", "validation", "test")) == part_sizes(442, 0.2, 0.15)


CANNOT_SERVE = [
    (dict(target="outcome"), "target column 'outcome' is not in the dataset"),
    (dict(row_filter=parse("diagnosis = 'benign'")), "target 'diagnosis' has 1 distinct value ('benign'); "
                                              "classification needs at least 2 classes"),
    (dict(task="regression"), "regression needs a numeric target; column 'diagnosis' has type string"),
    (dict(row_filter=parse("mean_radius > 24")), "rows with a target value (after the column selection and row "
                                          "filter); at least 20 are needed"),
    (dict(expectations={"mean_radius": {"max": 20}}), "rows of column 'mean_radius' are above the expected "
                                                      "maximum 20 (highest 28.11)"),
    (dict(row_filter={"op": ">>>", "args": [{"col": "mean_radius"}, {"lit": 3}]}),
     "row_filter is refused: unknown operator '>>>'"),
    (dict(row_filter="mean_radius IN (SELECT 1)"), "row_filter is refused: expected an object"),
    (dict(exclude_columns=["diagnosis", "nope"]), "exclude_columns names columns that are not in the dataset: nope"),
]


@pytest.mark.parametrize("fields,reason", CANNOT_SERVE, ids=[r[:30] for _, r in CANNOT_SERVE])
def test_data_that_cannot_serve_fails_with_the_reports_reasons(spark, prepare, fields, reason):
    code, result, request = prepare("cancer_small.csv", **fields)

    assert code == 1 and result.status == "FAILED" and result.error_kind == "data"
    assert reason in result.error and result.error.startswith("the data cannot serve this job: ")
    assert "\n" not in result.error and "Traceback" not in result.error
    assert result.parts == {} and result.rows == {}
    assert any(reason in p for p in result.report["problems"])
    saved = json.loads(_read(spark, request.output_prefix + "report.json"))
    assert saved["problems"] == result.report["problems"]
    from zygarde.spark import hadoop_fs
    assert not hadoop_fs.exists(spark, request.output_prefix + "train")


def test_missing_dataset_and_unreadable_request(prepare, tmp_path):
    from spark_jobs.prepare_data import main

    code, result, _ = prepare(tmp_path / "nope.csv")
    assert code == 1 and result.error_kind == "data" and "nope.csv" in result.error
    assert main(["--request", "{not json"], spark=object()) == 2


def test_an_input_changed_during_preparation_fails_retryably(prepare, data_dir, tmp_path, monkeypatch):
    from zygarde.spark import prepare as module

    data = tmp_path / "moving.csv"
    data.write_bytes((data_dir / "cancer_small.csv").read_bytes())
    original = module.split_and_write

    def then_append(*args, **kwargs):
        out = original(*args, **kwargs)
        with data.open("a") as f:
            f.write("small,10,10,60,300,0.1,0.1,0.1,0.05,benign\n")
        return out

    monkeypatch.setattr(module, "split_and_write", then_append)
    code, result, _ = prepare(data)
    assert code == 1 and result.status == "FAILED" and result.error_kind == "runtime"
    assert "changed while it was being prepared" in result.error


# ---- gs:// on fake-gcs-server ----

@pytest.fixture(scope="module")
def gcs():
    with running_fake_gcs(GCS_PORT, BUCKET) as base:
        yield base


def test_libsvm_input_on_gcs_is_pinned_by_generation_and_crc32c(spark, prepare, gcs, data_dir):
    from zygarde.local.spark_gcs import hadoop_conf_for_emulator

    jvm = spark.sparkContext._jvm
    hconf = spark.sparkContext._jsc.hadoopConfiguration()
    # A session started by another test file may point gs:// at its own fake-gcs-server: point this
    # file's bucket (a fresh FileSystem instance) at ours, and restore the settings afterwards.
    ours = {k: v for k, v in hadoop_conf_for_emulator(gcs, "test-project").items() if k.startswith("fs.gs.")}
    saved = {k: hconf.get(k) for k in ours}
    for k, v in ours.items():
        hconf.set(k, v)
    try:
        try:
            jvm.org.apache.hadoop.fs.Path(f"gs://{BUCKET}/").getFileSystem(hconf)
        except Exception:  # noqa: BLE001
            pytest.skip("the running Spark session has no GCS connector (run this file on its own)")
        _pinned_libsvm_on_gcs(spark, prepare, gcs, data_dir)
    finally:
        for k, v in saved.items():
            hconf.unset(k) if v is None else hconf.set(k, v)


def _pinned_libsvm_on_gcs(spark, prepare, gcs, data_dir):
    content = (data_dir / "cancer.libsvm").read_bytes()
    name = "datasets/cancer.libsvm"
    meta = json.loads(_http("POST", f"{gcs}/upload/storage/v1/b/{BUCKET}/o?uploadType=media&name={name}", content))
    prefix = f"gs://{BUCKET}/artifacts/job-gcs/data/"

    code, result, request = prepare("unused", dataset_uri=f"gs://{BUCKET}/{name}",
                                    dataset_format="libsvm", target="label", output_prefix=prefix,
                                    result_uri=f"gs://{BUCKET}/results/job-gcs/prepare/attempt-1.json")

    assert code == 0, result.error
    pin = result.fingerprint
    assert pin["generation"] == int(meta["generation"]) and pin["size"] == len(content)
    assert pin["checksum"] == "crc32c:" + base64.b64decode(meta["crc32c"]).hex()
    assert result.report["columns"]["features"]["type"] == "vector"
    assert result.report["class_balance"] == {"1.0": 357, "0.0": 212}
    listing = json.loads(_http("GET", f"{gcs}/storage/v1/b/{BUCKET}/o?prefix="
                               + urllib.parse.quote("artifacts/job-gcs/data/")))
    names = {item["name"] for item in listing["items"]}
    assert {"artifacts/job-gcs/data/report.json", "artifacts/job-gcs/data/test/_SUCCESS"} <= names
    assert spark.read.parquet(result.parts["test"]).count() == result.rows["test"] > 0
