"""The predict function under functions-framework on the Firestore emulator and fake-gcs-server,
called by `zygarde predict` with an identity token (a caller without one gets a 401, one who may not read
the model a 404, an administrator reads every model); aliases moved by `zygarde models alias`, as the
token's user, answer with no restart."""
from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from tests.unit.identities import fresh_token
from tests.unit.online_fixtures import register
from tests.integration.predict_service import running_predict_service
from zygarde.cli import main as cli
from zygarde.local.cloud import LocalPorts
from zygarde.packaging import REPO_ROOT

pytestmark = pytest.mark.integration
ANA, BOB, ADMIN = "ana@example.com", "bob@example.com", "root@example.com"


@pytest.fixture(scope="module")
def registry(module_namespace):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore, storage

    from zygarde.adapters.firestore import FirestoreJobRepository
    from zygarde.adapters.gcs import GcsBlobStore

    ns = module_namespace
    repo = FirestoreJobRepository(firestore.Client(project=ns.project))
    blobs = GcsBlobStore(storage.Client(project=ns.project, credentials=AnonymousCredentials()))
    register(repo, blobs, "churn", "job-1", sign=1.0, bucket=ns.bucket, owner=ANA)
    register(repo, blobs, "churn", "job-2", sign=-1.0, bucket=ns.bucket, owner=ANA)
    repo.set_model_grant("churn", BOB, "writer", ANA)  # bob moves its aliases too
    return repo


@pytest.fixture(scope="module")
def service(module_namespace, registry, tmp_path_factory, token_issuer):
    """functions-framework serving functions/main.py:predict on a free port, once for the module,
    verifying the test issuer's tokens: its URL."""
    port, run_dir = LocalPorts.free().scheduler, tmp_path_factory.mktemp("predict")
    env = {**os.environ, **module_namespace.env, **token_issuer, "PYTHONPATH": str(REPO_ROOT),
           "XDG_RUNTIME_DIR": str(run_dir), "ZYGARDE_WEB_ADMINS": ADMIN.upper()}
    with running_predict_service(env, port, run_dir / "predict.log") as url:
        yield url


@pytest.fixture(autouse=True)
def as_ana(service, monkeypatch):
    """Each test calls the service as ana (the CLI reads its token from the environment)."""
    monkeypatch.setenv("ZYGARDE_IDENTITY_TOKEN", fresh_token(ANA, service))


def _rows(tmp_path: Path, rows) -> str:
    path = tmp_path / f"rows-{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps(rows))
    return str(path)


def test_cli_predicts_through_the_service_and_alias_moves_need_no_restart(service, registry, tmp_path):
    runner, rows = CliRunner(), _rows(tmp_path, [{"age": 50, "color": "blue"}])
    moved = runner.invoke(cli, ["models", "alias", "churn", "production", "1"])  # as ana, the owner
    assert moved.exit_code == 0 and "moved by ana@example.com" in moved.output, moved.output
    first = runner.invoke(cli, ["predict", "churn@production", rows, "--url", service, "--format", "json"])
    assert first.exit_code == 0, first.output
    answer = json.loads(first.output)
    assert (answer["modelVersionId"], answer["predictions"][0]["label"]) == ("1", "yes")
    as_bob = {"ZYGARDE_IDENTITY_TOKEN": fresh_token(BOB, service)}  # a writer
    assert runner.invoke(cli, ["models", "alias", "churn", "production", "2"], env=as_bob).exit_code == 0
    second = json.loads(runner.invoke(cli, ["predict", "churn@production", rows, "--url", service,
                                            "--format", "json"]).output)
    assert (second["modelVersionId"], second["predictions"][0]["label"]) == ("2", "no")
    pinned = runner.invoke(cli, ["predict", "churn:1", rows, "--url", service, "--format", "json"])
    assert json.loads(pinned.output)["modelVersionId"] == "1"
    alias = registry.model_aliases("churn")["production"]
    assert (alias["version"], alias["moved_by"]) == (2, BOB)
    assert [m["moved_by"] for m in alias["history"]] == [ANA, BOB]


def test_predict_prints_a_table_by_default_as_every_command_does(service, tmp_path):
    """`zygarde predict` takes --format table|json like the other commands: the table has a row per
    instance with its prediction, label and each class's probability; json is the service's answer."""
    rows = _rows(tmp_path, [{"age": 50, "color": "blue"}, {"age": 20, "color": "red"}])
    table = CliRunner().invoke(cli, ["predict", "churn:1", rows, "--url", service], env={"COLUMNS": "200"})
    as_json = CliRunner().invoke(cli, ["predict", "churn:1", rows, "--url", service, "--format", "json"])
    assert table.exit_code == 0 and as_json.exit_code == 0, table.output + as_json.output
    answer = json.loads(as_json.output)
    assert "churn version 1" in table.output
    header = next(line for line in table.output.splitlines() if "prediction" in line)
    assert [h.strip() for h in header.strip("┃│ ").replace("┃", "|").replace("│", "|").split("|")] == [
        "row", "prediction", "label", *(f"P({c})" for c in answer["classes"])]
    for i, p in enumerate(answer["predictions"]):
        line = next(line for line in table.output.splitlines() if line.strip("│┃ ").startswith(f"{i} "))
        assert p["label"] in line and f"{p['probabilities'][1]:.4f}" in line, (line, p)
    assert CliRunner().invoke(cli, ["predict", "churn:1", rows, "--url", service, "--format", "xml"]).exit_code == 2


def test_the_verified_caller_must_be_allowed_to_read_the_model(service):
    """Issue 22: invoking the service is not enough. ana owns churn, bob writes it, the administrator
    (ZYGARDE_WEB_ADMINS, compared as the canonical e-mail) reads every model; carol gets the 404 of a model
    that does not exist, and so does a forged on-behalf-of header from a caller who is no delegate."""
    url, body = service + "/v1/models/churn/versions/1:predict", {"instances": [{"age": 50, "color": "blue"}]}

    def post(user: str, **headers: str):
        headers["Authorization"] = "Bearer " + fresh_token(user, service)
        return requests.post(url, json=body, headers=headers, timeout=30)

    for user in (ANA, BOB, ADMIN):
        assert post(user).status_code == 200, user
    refused = post("carol@example.com")
    assert (refused.status_code, refused.json()["error"]) == (404, {
        "code": 404, "field": "model", "message": "there is no model 'churn' that you may use"})
    assert post("carol@example.com", **{"X-Zygarde-On-Behalf-Of": ANA}).status_code == 401


def test_a_caller_without_a_token_that_proves_who_it_is_gets_a_401(service):
    body = {"instances": [{"age": 50, "color": "blue"}]}
    url = service + "/v1/models/churn/versions/1:predict"
    for headers in ({}, {"Authorization": "Bearer not-a-token"},
                    {"Authorization": "Bearer " + fresh_token("ana@example.com", "https://elsewhere.example")}):
        r = requests.post(url, json=body, headers=headers, timeout=30)
        assert r.status_code == 401 and r.json()["error"]["field"] == "authorization", (headers, r.text)
    ok = requests.post(url, json=body, headers={"Authorization": "Bearer " + os.environ["ZYGARDE_IDENTITY_TOKEN"]},
                       timeout=30)
    assert ok.status_code == 200 and ok.json()["modelVersionId"] == "1"


def test_bad_requests_are_clear_json_errors(service):
    auth = {"Authorization": "Bearer " + os.environ["ZYGARDE_IDENTITY_TOKEN"]}
    post = lambda path, **kw: requests.post(service + path, timeout=30, headers=auth, **kw)  # noqa: E731
    r = post("/v1/models/churn/versions/1:predict", json={"instances": [{"age": "x", "color": "red"}]})
    assert r.status_code == 400 and r.json()["error"]["field"] == "instances[0].age"
    r = post("/v1/models/churn/versions/1:predict", data=b"")
    assert r.status_code == 400 and r.json()["error"]["field"] == "body"
    r = post("/v1/models/nope/versions/1:predict", json={"instances": []})
    assert r.status_code == 404 and r.json()["error"]["field"] == "model"
    for odd in ("__x__", "..", "x" * 1600, "a%2Fb"):  # names Firestore would refuse: 404s, never a 500
        r = post(f"/v1/models/{odd}/versions/1:predict", json={"instances": []})
        assert r.status_code == 404, (odd, r.status_code, r.text[:200])
    r = post("/v1/models/churn/versions/__x__:predict", json={"instances": []})
    assert r.status_code == 400 and r.json()["error"]["field"] == "alias"
    r = post("/v1/models/churn/versions/staging:predict", json={"instances": []})
    assert r.status_code == 400 and r.json()["error"]["message"] == "model 'churn' has no alias 'staging'"


def test_unknown_alias_from_the_cli_is_an_error_not_a_trace(service, tmp_path):
    result = CliRunner().invoke(cli, ["predict", "churn@staging", _rows(tmp_path, [{"age": 1, "color": "red"}]),
                                      "--url", service])
    assert result.exit_code == 1 and "no alias 'staging'" in result.output and "Traceback" not in result.output


def test_explain_on_a_version_without_attributions_is_a_clear_error(service, tmp_path):
    result = CliRunner().invoke(cli, ["predict", "churn:1", _rows(tmp_path, [{"age": 1, "color": "red"}]),
                                      "--url", service, "--explain"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "400: churn v1 has no per-row attributions: it was registered before models carried explanations" \
        in " ".join(result.output.split())
