"""Every path that reads a model asks model_access: online predictions (a caller who may not read the
model gets the 404 of a model that does not exist), batch predictions, alias moves, the CLI; names that
cannot be model names are 404s, never a store lookup (the memory store fails on them as Firestore does)."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from tests.unit.conftest import PUBLISHED, token
from tests.unit.online_fixtures import register
from zygarde import cli, cli_common
from zygarde.adapters.memory import MemoryBlobStore, MemoryJobRepository
from zygarde.domain.errors import NotFound
from zygarde.service_layer import batch_prediction, edge, online
from zygarde.service_layer.edge import PubSubMessage
from zygarde.service_layer.online_edge import handle

ROWS = json.dumps({"instances": [{"age": 50, "color": "blue"}]}).encode()
ODD_NAMES = ["..", ".", "__x__", "x" * 2000, "Churn", "modèle", "a%2Fb", "a b", "-x", "churn\n", "%00", "ab\\c"]


@pytest.fixture
def registry():
    """ana's model churn (one version, served online); bob may read it, carol may not."""
    repo, blobs = MemoryJobRepository(), MemoryBlobStore()
    register(repo, blobs, "churn", "job-1", owner="ana")
    repo.set_model_grant("churn", "bob", "reader", "ana")
    return repo, blobs, online.ModelCache(blobs)


def predict(registry, caller, name="churn", ref="1", admin=False):
    repo, _, cache = registry
    return handle("POST", f"/v1/models/{name}/versions/{ref}:predict", ROWS, repo, cache, caller=caller, admin=admin)


def test_predictions_answer_only_callers_who_may_read_the_model(registry):
    assert predict(registry, "ana")[0] == 200 and predict(registry, "bob")[0] == 200  # owner, reader
    assert predict(registry, "root", admin=True)[0] == 200
    refused, missing = predict(registry, "carol"), predict(registry, "carol", name="nope")
    assert refused == (404, {"error": {"code": 404, "field": "model",
                                       "message": "there is no model 'churn' that you may use"}})
    assert missing[1]["error"]["message"] == "there is no model 'nope' that you may use"  # alike: no existence leak
    for ref in ("latest", "production", "2", "99999999999999999999999"):
        assert predict(registry, "carol", ref=ref) == refused
    assert predict(registry, None)[0] == 200  # a trusted internal call


@pytest.mark.parametrize("name", ODD_NAMES)
def test_odd_model_names_on_the_predict_path_are_404s(registry, name):
    status, body = predict(registry, "ana", name=name)
    assert status == 404 and body["error"]["field"] in ("model", "path"), body


@pytest.mark.parametrize("ref", ["__x__", "..", "x" * 2000, "Prod", "0", "-1", "latest\n"])
def test_odd_refs_are_400s_naming_alias_or_version(registry, ref):
    status, body = predict(registry, "ana", ref=ref)
    assert status == 400 and body["error"]["field"] in ("alias", "version"), body


def test_batch_predictions_need_read_access_to_the_model(deps):
    register(deps.repo, deps.blobs, "churn", "job-1", owner="ana", bucket="bkt")
    deps.repo.set_model_grant("churn", "bob", "reader", "ana")
    with pytest.raises(NotFound, match="there is no model 'churn' that carol may use"):
        batch_prediction.submit(deps, "churn", None, "gs://bkt/datasets/carol/x.csv", "csv", "carol")
    assert deps.launcher.requests == {}
    batch = batch_prediction.submit(deps, "churn", 1, "gs://bkt/datasets/bob/x.csv", "csv", "bob")
    assert batch.version == 1 and list(deps.launcher.requests) == [batch.batch_id]
    for name in ODD_NAMES:
        with pytest.raises(NotFound):
            batch_prediction.submit(deps, name, None, "gs://bkt/datasets/bob/x.csv", "csv", "bob")


def test_aliases_move_only_for_the_owner_and_writers(registry):
    repo = registry[0]
    online.move_alias(repo, "churn", "production", 1, "ana", "2026-01-01T00:00:00Z")
    with pytest.raises(ValueError, match="only the owner of model churn and its writers may move its aliases"):
        online.move_alias(repo, "churn", "production", 1, "bob", "2026-01-02T00:00:00Z")  # a reader
    with pytest.raises(ValueError, match="there is no model 'churn' that carol may use"):
        online.move_alias(repo, "churn", "production", 1, "carol", "2026-01-02T00:00:00Z")
    for name in ODD_NAMES:
        with pytest.raises(ValueError, match="there is no model"):
            online.move_alias(repo, name, "production", 1, "ana", "2026-01-02T00:00:00Z")
    assert [m["moved_by"] for m in repo.model_aliases("churn")["production"]["history"]] == ["ana"]


def run(deps, monkeypatch, *args, owner: str):
    """The CLI as `owner`, as their identity token proves ($ZYGARDE_IDENTITY_TOKEN)."""
    monkeypatch.setattr(cli_common, "local_deps", lambda: deps)
    return CliRunner().invoke(cli.main, list(args), env={"ZYGARDE_IDENTITY_TOKEN": token(owner)})


def test_the_cli_shows_a_model_to_who_may_read_it_and_shares_it_by_publishing(deps, monkeypatch):
    register(deps.repo, deps.blobs, "churn", "job-1", owner="ana", bucket="bkt")
    listed = run(deps, monkeypatch, "models", "churn", owner="ana")
    assert listed.exit_code == 0 and "owner: ana" in listed.output, listed.output
    for args in (["models", "churn"], ["models", "aliases", "churn"]):
        refused = run(deps, monkeypatch, *args, owner="bob")
        assert refused.exit_code == 1 and "no model churn that you (bob) may use" in refused.output, refused.output
    assert run(deps, monkeypatch, "models", "grant", "churn", "Bob", "--role", "reader", owner="bob").exit_code == 1
    assert deps.publisher.messages == []  # only the owner may share it: nothing published
    shared = run(deps, monkeypatch, "models", "grant", "churn", "Bob", "--role", "reader", owner="ana")
    assert shared.exit_code == 0 and "requested by ana: bob becomes a reader of churn" in shared.output, shared.output
    revoked = run(deps, monkeypatch, "models", "revoke", "churn", "bob", owner="ana")
    assert revoked.exit_code == 0, revoked.output
    assert [(topic, json.loads(data), attrs) for topic, data, attrs in deps.publisher.messages] == [
        ("jobs", {"model": "churn", "grantee": "bob", "role": "reader"}, {"action": "grant", "token": token("ana")}),
        ("jobs", {"model": "churn", "grantee": "bob", "role": None}, {"action": "grant", "token": token("ana")})]
    for _, data, attrs in deps.publisher.messages:  # signed by ana: the handler applies them as hers
        edge.submit_job(PubSubMessage(data, attrs, "g1", PUBLISHED), deps)
    assert deps.repo.model("churn")["grants"] == {}
    for name in ODD_NAMES[:4]:
        odd = run(deps, monkeypatch, "models", name, owner="ana")
        assert odd.exit_code in (1, 2) and "Traceback" not in odd.output, odd.output


def test_zygarde_submit_refuses_another_users_model_name_before_publishing(deps, monkeypatch, tmp_path):
    from tests.unit.conftest import spec_dict

    register(deps.repo, deps.blobs, "churn", "job-1", owner="bob", bucket="bkt")
    path = tmp_path / "job.json"
    path.write_text(json.dumps(spec_dict(name="churn")))  # ana's job
    result = run(deps, monkeypatch, "submit", str(path), owner="ana@example.com")
    assert result.exit_code == 2 and "name: the model 'churn' belongs to another user" in " ".join(result.output.split())
    assert deps.publisher.messages == []
