"""The CLI on the whole local cloud as two users, each with the token `zygarde local env --user` exports:
a `+` address uploads a dataset and trains on it (issue 22: the upload went to datasets/owner-a@.../ and
the job then refused it), and neither user can cancel the other's job."""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time

import pytest

from zygarde.domain.model import JobState

pytestmark = pytest.mark.e2e

PLUS, MINUS = "Owner+A@zygarde.dev", "owner-a@zygarde.dev"


def user_env(cloud, user: str) -> dict[str, str]:
    """What `eval "$(zygarde local env --user USER)"` sets."""
    out = subprocess.run([sys.executable, "-m", "zygarde.cli", "local", "env", "--state-dir", str(cloud.state_dir),
                          "--user", user], capture_output=True, text=True, timeout=120, check=True)
    env = {}
    for line in out.stdout.splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = shlex.split(value)[0]
    assert env["ZYGARDE_IDENTITY_TOKEN"]
    return env


def zygarde(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zygarde.cli", *args], env={**os.environ, **env, "COLUMNS": "200"},
                          capture_output=True, text=True, timeout=300)


def wait_for(condition, what: str, timeout: float = 180.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_plus_address_uploads_trains_and_only_its_owner_cancels(local_cloud, tmp_path):
    os.environ.update(local_cloud.env())
    from zygarde.bootstrap import build_deps

    repo = build_deps().repo
    plus, minus = user_env(local_cloud, PLUS), user_env(local_cloud, MINUS)
    data = tmp_path / "churn.csv"
    data.write_text("age,plan,label\n" + "".join(f"{20 + i},p{i % 3},{i % 2}\n" for i in range(80)))
    uploaded = zygarde(plus, "upload", str(data))
    assert uploaded.returncode == 0, uploaded.stdout + uploaded.stderr
    uri = f"gs://{local_cloud.bucket}/datasets/owner+a@zygarde.dev/churn.csv"
    assert uri in " ".join(uploaded.stdout.split())
    spec = {"job_id": "plus-upload", "owner": "owner+a@zygarde.dev", "task": "binary_classification",
            "dataset": {"uri": uri, "format": "csv", "target": "label"},
            "candidates": [{"algorithm": "logistic_regression", "params": {"regParam": [0.1]}}]}
    (tmp_path / "job.json").write_text(json.dumps(spec))
    submitted = zygarde(plus, "submit", str(tmp_path / "job.json"))
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    job = wait_for(lambda: repo.get_job("plus-upload"), "the job to be recorded")
    assert job.state is JobState.RUNNING and job.owner == "owner+a@zygarde.dev", job.error

    # the look-alike address is someone else: the CLI refuses, and a cancel it publishes anyway is refused
    refused = zygarde(minus, "cancel", "plus-upload")
    assert refused.returncode == 1 and "only its owner can cancel it" in " ".join(refused.stdout.split())
    from zygarde.domain.identity import token_attributes

    message_id = build_deps().publisher.publish("jobs", b'{"job_id": "plus-upload"}', action="cancel",
                                                **token_attributes(minus["ZYGARDE_IDENTITY_TOKEN"]))
    wait_for(lambda: any(c.reason == "CancelRefused" and message_id in c.message
                         for c in repo.get_job("plus-upload").conditions), "the refusal to be recorded")
    assert repo.get_job("plus-upload").state is JobState.RUNNING

    cancelled = zygarde(plus, "cancel", "plus-upload")
    assert cancelled.returncode == 0, cancelled.stdout + cancelled.stderr
    wait_for(lambda: repo.get_job("plus-upload").state is JobState.CANCELLED, "the owner's cancel")


def test_only_the_owner_shares_a_model_and_the_grantee_is_their_own_key(local_cloud):
    """Grants through the real submit_job: `zygarde models grant` signs as its user; the look-alike
    address cannot share (the CLI refuses, and a grant it publishes claiming the owner is refused), and a
    grant to it is not one to the `+` address."""
    os.environ.update(local_cloud.env())
    from zygarde.bootstrap import build_deps
    from zygarde.domain.identity import token_attributes

    deps = build_deps()
    plus, minus = user_env(local_cloud, PLUS), user_env(local_cloud, MINUS)
    deps.repo.register_model_version("plus-model", "plus-job", {"registered_at": "2026-01-01T00:00:00Z"},
                                     "owner+a@zygarde.dev")
    grants = lambda: deps.repo.model("plus-model").get("grants") or {}  # noqa: E731
    assert zygarde(minus, "models", "plus-model").returncode == 1  # not shared with owner-a@ yet
    refused = zygarde(minus, "models", "grant", "plus-model", MINUS, "--role", "writer")
    assert refused.returncode == 1 and "only the owner of model plus-model" in " ".join(refused.stdout.split())
    forged = json.dumps({"model": "plus-model", "grantee": MINUS, "role": "writer",
                         "requested_by": "owner+a@zygarde.dev"}).encode()
    deps.publisher.publish("jobs", forged, action="grant", **token_attributes(minus["ZYGARDE_IDENTITY_TOKEN"]))

    shared = zygarde(plus, "models", "grant", "plus-model", "Owner-A@zygarde.dev", "--role", "reader")
    assert shared.returncode == 0 and "owner-a@zygarde.dev becomes a reader" in shared.stdout, shared.stdout
    wait_for(lambda: grants() == {MINUS: "reader"}, "the owner's grant")  # the forged writer grant never landed
    listed = zygarde(minus, "models", "plus-model")
    assert listed.returncode == 0 and "owner: owner+a@zygarde.dev" in listed.stdout, listed.stdout + listed.stderr
    assert zygarde(minus, "models", "alias", "plus-model", "production", "1").returncode == 1  # a reader
    assert zygarde(plus, "models", "revoke", "plus-model", MINUS).returncode == 0
    wait_for(lambda: grants() == {}, "the revocation")
    assert zygarde(minus, "models", "plus-model").returncode == 1
