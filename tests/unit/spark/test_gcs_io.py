"""The real entry point as a script, against gs:// on fake-gcs-server: it reads the job's prepared
parts, saves the model and writes the result through the GCS connector, in its own process and SparkSession like
a Dataproc batch, with a pack of one trial. (Failed trials' results and exit codes are tested in-process
in test_pack_of_one.)"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.unit.spark.fake_gcs import http as _http
from tests.unit.spark.fake_gcs import running_fake_gcs
from zygarde.domain.contracts import PackRequest, TrialResult

from .conftest import pack_of_one
from zygarde.local.cloud import LocalPorts

ROOT = Path(__file__).resolve().parents[3]
GCS_PORT = LocalPorts.free().storage  # free now, in $ZYGARDE_TEST_PORT_RANGE (another run may hold a fixed one)
BUCKET = "zy-spark-test"


PARTS = "artifacts/job-gcs/data/"  # where the job's preparation writes its parts


@pytest.fixture(scope="module")
def gcs(data_dir, prepared):
    """The bucket with the dataset and its train and validation parts, prepared (locally) as the job's
    preparation does for the trial's seed and validation fraction."""
    code, result = prepared(dataset_uri=str(data_dir / "cancer_small.csv"), dataset_format="csv",
                            target="diagnosis", task="binary_classification", seed=3, validation_fraction=0.25)
    assert code == 0, result.error
    with running_fake_gcs(GCS_PORT, BUCKET) as base:
        csv = (data_dir / "cancer_small.csv").read_bytes()
        _http("POST", f"{base}/upload/storage/v1/b/{BUCKET}/o?uploadType=media&name=datasets/cancer.csv", csv)
        for part in ("train", "validation"):
            for file in Path(result.parts[part]).iterdir():
                if not file.name.startswith("."):  # Hadoop's local .crc files
                    name = urllib.parse.quote(f"{PARTS}{part}/{file.name}", safe="")
                    _http("POST", f"{base}/upload/storage/v1/b/{BUCKET}/o?uploadType=media&name={name}",
                          file.read_bytes())
        yield base


def _read(base: str, name: str) -> bytes:
    return _http("GET", f"{base}/storage/v1/b/{BUCKET}/o/{urllib.parse.quote(name, safe='')}?alt=media")


def _names(base: str, prefix: str) -> list[str]:
    listing = json.loads(_http("GET", f"{base}/storage/v1/b/{BUCKET}/o?prefix={urllib.parse.quote(prefix)}"))
    return [item["name"] for item in listing.get("items", [])]


def _run_batch(base: str, request: PackRequest) -> int:
    from zygarde.local.spark_gcs import spark_conf_for_emulator

    conf = {**spark_conf_for_emulator(base), "spark.ui.enabled": "false", "spark.driver.host": "127.0.0.1",
            "spark.driver.bindAddress": "127.0.0.1", "spark.driver.port": "18370",
            "spark.blockManager.port": "18385", "spark.port.maxRetries": "10",
            "spark.sql.shuffle.partitions": "2"}
    jars = conf.pop("spark.jars")
    args = ["--master", "local[2]", "--jars", jars] + [x for k, v in conf.items() for x in ("--conf", f"{k}={v}")]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYSPARK_SUBMIT_ARGS": " ".join(args + ["pyspark-shell"])}
    proc = subprocess.Popen([sys.executable, str(ROOT / "spark_jobs" / "train_pack.py"), "--request",
                             request.to_json()], env=env, cwd=ROOT, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _, stderr = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the script and its JVM
        proc.wait()
        raise
    if os.environ.get("ZY_DEBUG"):
        print(stderr)
    return proc.returncode


def _request(trial_id: str, **overrides) -> PackRequest:
    fields = dict(target="diagnosis", task="binary_classification", metric="areaUnderROC", seed=3,
                  model_uri=f"gs://{BUCKET}/artifacts/job-gcs/{trial_id}/model",
                  result_uri=f"gs://{BUCKET}/results/job-gcs/{trial_id}/attempt-1.json",
                  train_uri=f"gs://{BUCKET}/{PARTS}train", validation_uri=f"gs://{BUCKET}/{PARTS}validation")
    fields.update(overrides)
    return pack_of_one("job-gcs", trial_id, "logistic_regression", {"maxIter": 20}, **fields)


def test_batch_script_reads_and_writes_gs(gcs):
    code = _run_batch(gcs, _request("t0000"))
    result = TrialResult.from_json(_read(gcs, "results/job-gcs/t0000/attempt-1.json"))
    assert code == 0 and result.status == "SUCCEEDED", result.error
    assert result.metrics["areaUnderROC"] > 0.9
    model_files = _names(gcs, "artifacts/job-gcs/t0000/model/")
    assert "artifacts/job-gcs/t0000/model/metadata/_SUCCESS" in model_files
    assert any("_LogisticRegression_" in name and name.endswith(".parquet") for name in model_files)
    assert result.metrics["model_bytes"] > 1000
