"""A job file dropped under jobs/ in the bucket is submitted on the local cloud as on Google Cloud:
the bucket notification reaches submit_job through its filtered subscription and the job is recorded."""
from __future__ import annotations

import json
import os
import time

import pytest

from zygarde.config import prefix
from zygarde.domain.model import JobState

pytestmark = pytest.mark.e2e


def wait_for(condition, timeout: float = 120.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def deps(local_cloud):
    os.environ.update(local_cloud.env())
    from zygarde.bootstrap import build_deps

    return build_deps()


def test_a_dropped_job_file_is_recorded(deps):
    bucket = deps.settings.bucket
    deps.blobs.write_bytes(f"gs://{bucket}/{prefix('datasets')}files/tiny.csv",
                           b"a,b,label\n" + b"".join(f"{i},{i % 7},{i % 2}\n".encode() for i in range(60)))
    spec = {"job_id": "dropped-file", "owner": "files",
            "dataset": {"uri": f"gs://{bucket}/{prefix('datasets')}files/tiny.csv", "format": "csv", "target": "label"},
            "task": "binary_classification",
            "candidates": [{"algorithm": "logistic_regression", "params": {"regParam": [0.1]}}]}
    deps.blobs.write_bytes(f"gs://{bucket}/{prefix('job_files')}dropped.json", json.dumps(spec).encode(),
                           "application/json")
    job = wait_for(lambda: deps.repo.get_job("dropped-file"), what="the job file's job to be recorded")
    assert job.owner == "files" and job.state is JobState.RUNNING, job
    # no need to train it: cancel it (its batches stop)
    deps.publisher.publish("jobs", json.dumps({"job_id": "dropped-file", "requested_by": "files"}).encode(),
                           action="cancel", requested_by="files")
    wait_for(lambda: deps.repo.get_job("dropped-file").state is JobState.CANCELLED, what="the cancel")
