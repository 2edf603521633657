"""The predict function under functions-framework on the Firestore emulator and fake-gcs-server,
called by `zygarde predict`; aliases moved by `zygarde models alias` answer with no restart."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from tests.unit.online_fixtures import register
from zygarde.cli import main as cli
from zygarde.local.cloud import LocalPorts
from zygarde.packaging import REPO_ROOT

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def registry(module_namespace):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore, storage

    from zygarde.adapters.firestore import FirestoreJobRepository
    from zygarde.adapters.gcs import GcsBlobStore

    ns = module_namespace
    repo = FirestoreJobRepository(firestore.Client(project=ns.project))
    blobs = GcsBlobStore(storage.Client(project=ns.project, credentials=AnonymousCredentials()))
    register(repo, blobs, "churn", "job-1", sign=1.0, bucket=ns.bucket)
    register(repo, blobs, "churn", "job-2", sign=-1.0, bucket=ns.bucket)
    return repo


@pytest.fixture(scope="module")
def service(module_namespace, registry, tmp_path_factory):
    """functions-framework serving functions/main.py:predict on a free port, once for the module: its URL."""
    port, run_dir = LocalPorts.free().scheduler, tmp_path_factory.mktemp("predict")
    env = {**os.environ, **module_namespace.env, "PYTHONPATH": str(REPO_ROOT), "XDG_RUNTIME_DIR": str(run_dir)}
    log = (run_dir / "predict.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "functions_framework", "--target", "predict", "--source",
                             str(REPO_ROOT / "functions" / "main.py"), "--signature-type", "http",
                             "--host", "127.0.0.1", "--port", str(port)], env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # readiness poll, not a fixed wait
        try:
            requests.get(url + "/", timeout=1)
            break
        except (requests.ConnectionError, requests.Timeout):
            assert proc.poll() is None, (run_dir / "predict.log").read_text()[-2000:]
            time.sleep(0.2)
    yield url
    proc.terminate()
    proc.wait(timeout=20)
    log.close()


def _rows(tmp_path: Path, rows) -> str:
    path = tmp_path / f"rows-{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps(rows))
    return str(path)


def test_cli_predicts_through_the_service_and_alias_moves_need_no_restart(service, registry, tmp_path):
    runner, rows = CliRunner(), _rows(tmp_path, [{"age": 50, "color": "blue"}])
    moved = runner.invoke(cli, ["models", "alias", "churn", "production", "1", "--by", "alice"])
    assert moved.exit_code == 0, moved.output
    first = runner.invoke(cli, ["predict", "churn@production", rows, "--url", service])
    assert first.exit_code == 0, first.output
    answer = json.loads(first.output)
    assert (answer["modelVersionId"], answer["predictions"][0]["label"]) == ("1", "yes")
    assert runner.invoke(cli, ["models", "alias", "churn", "production", "2", "--by", "bob"]).exit_code == 0
    second = json.loads(runner.invoke(cli, ["predict", "churn@production", rows, "--url", service]).output)
    assert (second["modelVersionId"], second["predictions"][0]["label"]) == ("2", "no")
    pinned = runner.invoke(cli, ["predict", "churn:1", rows, "--url", service])
    assert json.loads(pinned.output)["modelVersionId"] == "1"
    alias = registry.model_aliases("churn")["production"]
    assert (alias["version"], alias["moved_by"]) == (2, "bob")
    assert [m["moved_by"] for m in alias["history"]] == ["alice", "bob"]


def test_bad_requests_are_clear_json_errors(service):
    post = lambda path, **kw: requests.post(service + path, timeout=30, **kw)  # noqa: E731
    r = post("/v1/models/churn/versions/1:predict", json={"instances": [{"age": "x", "color": "red"}]})
    assert r.status_code == 400 and r.json()["error"]["field"] == "instances[0].age"
    r = post("/v1/models/churn/versions/1:predict", data=b"")
    assert r.status_code == 400 and r.json()["error"]["field"] == "body"
    r = post("/v1/models/nope/versions/1:predict", json={"instances": []})
    assert r.status_code == 400 and r.json()["error"]["field"] == "model"
    r = post("/v1/models/churn/versions/staging:predict", json={"instances": []})
    assert r.status_code == 400 and r.json()["error"]["message"] == "model 'churn' has no alias 'staging'"


def test_unknown_alias_from_the_cli_is_an_error_not_a_trace(service, tmp_path):
    result = CliRunner().invoke(cli, ["predict", "churn@staging", _rows(tmp_path, [{"age": 1, "color": "red"}]),
                                      "--url", service])
    assert result.exit_code == 1 and "no alias 'staging'" in result.output and "Traceback" not in result.output
