"""The preparation batch re-checks every object it lists (zygarde.spark.listing): a decoy written after
the job was accepted (`datasets/B/racedir/../../A/secret.csv`) fails the stage with one sentence naming
it, instead of sending the batch's listing round a loop for ever; listings are bounded; Spark reads
the checked files by name, partition folders and names with glob characters included."""
from __future__ import annotations

import json
import subprocess
import urllib.parse

import numpy as np
import pandas as pd
import pytest

from tests.unit.spark.fake_gcs import http as _http
from tests.unit.spark.fake_gcs import run_batch, running_fake_gcs
from zygarde.domain.contracts import PrepareRequest, PrepareResult
from zygarde.domain.errors import DatasetError
from zygarde.local.cloud import LocalPorts

from .test_prepare import prepare, spark  # noqa: F401 - the preparation helper and its session

GCS_PORT = LocalPorts.free().storage  # free now, in $ZYGARDE_TEST_PORT_RANGE (another run may hold a fixed one)
BUCKET = "zy-guard"
BATCH_SECONDS = 300  # far more than the batch needs; the listing loop it replaces never ended


def _accounts(n: int = 60) -> bytes:
    rng = np.random.default_rng(8)
    return pd.DataFrame({"tenure": rng.integers(1, 60, n), "plan": rng.choice(["basic", "pro"], n),
                         "churned": np.where(np.arange(n) % 3 == 0, "yes", "no")}).to_csv(index=False).encode()


def _put(base: str, name: str, data: bytes) -> None:
    _http("POST", f"{base}/upload/storage/v1/b/{BUCKET}/o?uploadType=media&name={urllib.parse.quote(name, safe='')}",
          data)


def _run_batch(base: str, request: PrepareRequest) -> int:
    """spark_jobs/prepare_data.py in its own process and session, as a Dataproc batch runs it."""
    try:
        return run_batch(base, "prepare_data.py", request.to_json(), driver_port=18560, timeout=BATCH_SECONDS)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the preparation was still running after {BATCH_SECONDS} s (a listing loop?)") from None


def _result(base: str, name: str) -> PrepareResult:
    return PrepareResult.from_json(_http("GET", f"{base}/storage/v1/b/{BUCKET}/o/"
                                                f"{urllib.parse.quote(name, safe='')}?alt=media"))


def test_a_decoy_written_after_acceptance_fails_the_preparation_naming_it():
    with running_fake_gcs(GCS_PORT, BUCKET) as base:
        _put(base, "datasets/B/racedir/part-0.csv", _accounts())
        _put(base, "datasets/A/secret.csv", b"password,churned\nhunter2,yes\n")
        _put(base, "datasets/B/racedir/../../A/secret.csv", b"password,churned\nhunter2,yes\n")  # the decoy
        request = PrepareRequest(
            job_id="job-decoy", attempt=1, dataset_uri=f"gs://{BUCKET}/datasets/B/racedir/", dataset_format="csv",
            target="churned", task="binary_classification", seed=3, validation_fraction=0.2, test_fraction=0.1,
            output_prefix=f"gs://{BUCKET}/artifacts/job-decoy/data/",
            result_uri=f"gs://{BUCKET}/results/job-decoy/prepare/attempt-1.json",
            dataset_home=f"gs://{BUCKET}/datasets/B/")
        code = _run_batch(base, request)
        result = _result(base, "results/job-decoy/prepare/attempt-1.json")
    assert code == 1 and result.status == "FAILED" and result.error_kind == "data"  # final: never retried
    assert result.error == (f"the dataset gs://{BUCKET}/datasets/B/racedir/ takes in the object gs://{BUCKET}/datasets/B/, "
                            f"which is not inside gs://{BUCKET}/datasets/B/racedir although listing it returned it (an "
                            "object name with a '..' segment?)")
    assert "hunter2" not in json.dumps(result.report)


def test_a_dataset_outside_the_owner_s_folder_is_refused(spark, prepare, tmp_path):  # noqa: F811
    home, elsewhere = tmp_path / "datasets" / "ana", tmp_path / "datasets" / "bob"
    elsewhere.mkdir(parents=True)
    (elsewhere / "accounts.csv").write_bytes(_accounts())
    code, result, _ = prepare(elsewhere / "accounts.csv", target="churned", dataset_home=str(home))
    assert code == 1 and result.error_kind == "data"
    assert result.error.endswith(f"accounts.csv, which is outside the owner's folder file:{home}")


def test_a_folder_that_lists_itself_for_ever_is_cut_at_the_depth_bound(spark, prepare, tmp_path):  # noqa: F811
    """A link back to its own folder lists as a folder inside itself, again and again."""
    folder = tmp_path / "loop"
    folder.mkdir()
    (folder / "part-0.csv").write_bytes(_accounts())
    (folder / "again").symlink_to(folder, target_is_directory=True)
    code, result, _ = prepare(folder, target="churned")
    assert code == 1 and result.error_kind == "data"
    assert result.error == f"the dataset {folder} has folders nested more than 32 levels deep"


def test_partition_folders_and_glob_characters_in_names_are_read_as_before(spark, prepare, tmp_path):  # noqa: F811
    folder = tmp_path / "by_year"
    for year in (2023, 2024):
        (folder / f"year={year}").mkdir(parents=True)
        (folder / f"year={year}" / "part[0].csv").write_bytes(_accounts(40))  # '[' is a glob character
    (folder / "_SUCCESS").write_bytes(b"")
    code, result, _ = prepare(folder, target="churned", min_rows=10)
    assert code == 0, result.error
    assert [c["name"] for c in result.report["schema"]] == ["tenure", "plan", "churned", "year"]
    assert sum(result.rows.values()) == 80


def test_list_dataset_checks_a_glob_s_matches(spark, tmp_path):  # noqa: F811
    from zygarde.spark.listing import list_dataset

    (tmp_path / "d" / "a").mkdir(parents=True)
    (tmp_path / "d" / "a" / "x.csv").write_bytes(b"y\n1\n")
    (tmp_path / "d" / "b.csv").write_bytes(b"y\n1\n")
    found = list_dataset(spark, str(tmp_path / "d" / "*"))
    assert [str(f.getPath()).rsplit("/", 2)[-2:] for f in found.files] == [["a", "x.csv"], ["d", "b.csv"]]
    with pytest.raises(DatasetError, match="outside the owner's folder"):
        list_dataset(spark, str(tmp_path / "d" / "*"), home=str(tmp_path / "d" / "a"))
