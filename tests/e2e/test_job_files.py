"""A job file dropped under jobs/{owner}/ in the bucket is submitted on the local cloud as on Google Cloud:
the bucket notification reaches submit_job through its filtered subscription and the job is recorded,
owned by the folder's owner; a file outside an owner's folder, or naming another owner, is refused."""
from __future__ import annotations

import json
import os
import time

import pytest

from zygarde.config import prefix
from zygarde.domain.identity import token_attributes
from zygarde.domain.model import JobState
from zygarde.service_layer.job_rejection import derived_job_id

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


def test_a_dropped_job_file_is_recorded(deps, local_cloud):
    bucket = deps.settings.bucket
    deps.blobs.write_bytes(f"gs://{bucket}/{prefix('datasets')}files/tiny.csv",
                           b"a,b,label\n" + b"".join(f"{i},{i % 7},{i % 2}\n".encode() for i in range(60)))
    spec = {"job_id": "dropped-file", "owner": "files",
            "dataset": {"uri": f"gs://{bucket}/{prefix('datasets')}files/tiny.csv", "format": "csv", "target": "label"},
            "task": "binary_classification",
            "candidates": [{"algorithm": "logistic_regression", "params": {"regParam": [0.1]}}]}
    # refused: directly under jobs/ (no owner folder), and in someone else's folder
    refused = {}
    for name, owner in ((f"{prefix('job_files')}loose.json", "(unverified)"),
                        (f"{prefix('job_files')}mallory@example.com/theirs.json", "mallory@example.com")):
        uri = f"gs://{bucket}/{name}"
        generation = deps.blobs.write_bytes(uri, json.dumps({**spec, "job_id": "stolen-id"}).encode(),
                                            "application/json")
        refused[derived_job_id(f"{uri}#{generation}")] = owner
    deps.blobs.write_bytes(f"gs://{bucket}/{prefix('job_files')}files/dropped.json", json.dumps(spec).encode(),
                           "application/json")
    job = wait_for(lambda: deps.repo.get_job("dropped-file"), what="the job file's job to be recorded")
    assert job.owner == "files" and job.state is JobState.RUNNING, job
    for job_id, owner in refused.items():
        other = wait_for(lambda: deps.repo.get_job(job_id), what="the refused job files to be recorded")
        assert other.state is JobState.REJECTED and other.owner == owner, other
    assert deps.repo.get_job("stolen-id") is None
    # no need to train it: its owner cancels it (its batches stop), with a token the local cloud issues
    deps.publisher.publish("jobs", json.dumps({"job_id": "dropped-file"}).encode(), action="cancel",
                           **token_attributes(local_cloud.identity_token("files")))
    wait_for(lambda: deps.repo.get_job("dropped-file").state is JobState.CANCELLED, what="the cancel")
