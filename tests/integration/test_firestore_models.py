"""Model ownership on the Firestore emulator: the first registration's owner wins the name atomically
(concurrent first registrations of one name by two owners: exactly one owns it), models registered
before owners were recorded belong to their first version's owner, grants, listings by member, the
handlers on Firestore, and the web app answering 404 (never 500) for names Firestore refuses."""
from __future__ import annotations

import threading
import uuid

import pytest

from tests.unit.conftest import CSV, SETTINGS, Clock, grant_message, job_message, spec_dict, verifier
from zygarde.adapters.memory import MemoryBatchLauncher, MemoryBlobStore, MemoryPublisher
from zygarde.config import Settings, collection
from zygarde.domain.errors import ModelNameTaken
from zygarde.domain.model import Job, JobState
from zygarde.service_layer import edge
from zygarde.service_layer.deps import Deps

pytestmark = pytest.mark.integration
ANA, BOB = "ana+ml@example.com", "bob.smith@example.com"  # owner keys with '+', '.' and '@' as map keys


def test_concurrent_first_registrations_of_one_name_leave_exactly_one_owner(repo):
    for round_ in range(8):
        name, outcomes, start = f"race-{round_}", {}, threading.Barrier(2)

        def register(owner: str, job_id: str, name: str = name, outcomes: dict = outcomes,
                     start: threading.Barrier = start) -> None:
            start.wait()
            try:
                outcomes[owner] = repo.register_model_version(name, job_id, {"registered_at": "now"}, owner)
            except ModelNameTaken as exc:
                outcomes[owner] = exc

        threads = [threading.Thread(target=register, args=(owner, f"{owner[:3]}-{round_}")) for owner in (ANA, BOB)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        winners = [owner for owner, outcome in outcomes.items() if outcome == 1]
        assert len(winners) == 1, outcomes
        [loser] = {ANA, BOB} - set(winners)
        assert isinstance(outcomes[loser], ModelNameTaken), outcomes
        doc = repo.model(name)
        assert (doc["owner"], doc["members"], doc["grants"], doc["latest_version"]) == (winners[0], [winners[0]], {}, 1)
        assert [(v["version"], v["registered_by"]) for v in repo.model_versions(name)] == [(1, winners[0])]
        assert repo.register_model_version(name, f"{winners[0][:3]}-{round_}", {}, winners[0]) == 1  # a repeat


def test_a_model_registered_before_owners_were_recorded_belongs_to_its_first_versions_owner(repo):
    repo.add_job(Job("old-job", ANA, JobState.SUCCEEDED, {"x": 1}, "2025-01-01T00:00:00"), [])
    model = repo._db.collection(collection("models")).document("legacy")  # as earlier registrations wrote it
    model.set({"name": "legacy", "next_version": 2, "jobs": {"old-job": 1}, "latest_version": 1})
    model.collection(collection("model_versions")).document("1").set({"job_id": "old-job", "version": 1})
    with pytest.raises(ModelNameTaken):
        repo.register_model_version("legacy", "bob-job", {}, BOB)
    assert repo.model("legacy").get("owner") is None and len(repo.model_versions("legacy")) == 1  # nothing written
    assert repo.register_model_version("legacy", "new-job", {}, ANA) == 2
    assert repo.model("legacy")["owner"] == ANA


def test_grants_are_set_once_revoked_and_listed_by_member(repo):
    repo.register_model_version("shared", "job-a", {}, ANA)
    repo.register_model_version("private", "job-p", {}, ANA)
    assert repo.set_model_grant("shared", BOB, "reader", ANA) is True
    assert repo.set_model_grant("shared", BOB, "reader", ANA) is False  # a repeat changes nothing
    assert repo.model("shared")["grants"] == {BOB: "reader"}
    assert repo.set_model_grant("shared", BOB, "writer", ANA) is True
    assert repo.register_model_version("shared", "job-b", {}, BOB) == 2  # a writer's job
    assert sorted(d["name"] for d in repo.list_models(BOB)) == ["shared"]
    assert sorted(d["name"] for d in repo.list_models(ANA)) == ["private", "shared"]
    assert repo.set_model_grant("shared", BOB, None, ANA) is True
    assert repo.set_model_grant("shared", BOB, None, ANA) is False
    assert repo.list_models(BOB) == [] and repo.model("shared")["members"] == [ANA]
    with pytest.raises(ModelNameTaken):
        repo.register_model_version("shared", "job-c", {}, BOB)
    with pytest.raises(KeyError):
        repo.set_model_grant("nope", BOB, "reader", ANA)


def test_handlers_on_firestore_reject_another_users_model_name_until_the_owner_grants_write(repo):
    from tests.unit.test_handlers import finish, finish_stage

    deps = Deps(repo=repo, launcher=MemoryBatchLauncher(), blobs=MemoryBlobStore(), publisher=MemoryPublisher(),
                settings=SETTINGS, clock=Clock(), verifier=verifier())  # messages signed as their owners

    def submit(job_id: str, owner: str) -> str:
        uri = f"gs://bkt/datasets/{owner}/d.csv"
        deps.blobs.write_bytes(uri, CSV)
        msg = job_message(spec_dict(job_id=job_id, owner=owner, name="churn", candidates=[
            {"algorithm": "logistic_regression", "params": {"regParam": [0.0]}}],
            dataset={"uri": uri, "format": "csv", "target": "y"}), job_id)
        edge.submit_job(msg, deps)
        return edge.submit_job(msg, deps)

    def run(job_id: str) -> None:
        finish_stage(deps, job_id, "prepare", times=2)
        finish(deps, job_id, "t0000", deliver_twice=True)

    run(submit("ana-1", ANA))
    assert repo.get_job(submit("bob-1", BOB)).state is JobState.REJECTED
    for msg in (grant_message("churn", BOB, "writer", BOB, "g0"),
                grant_message("churn", BOB, "writer", BOB, "g1", requested_by=ANA)):
        edge.submit_job(msg, deps)  # bob cannot grant himself write access, even claiming to be ana
    assert repo.get_job(submit("bob-1b", BOB)).state is JobState.REJECTED
    for _ in range(2):
        edge.submit_job(grant_message("churn", BOB, "writer", ANA, "g2"), deps)
    run(submit("bob-2", BOB))
    assert repo.get_job("bob-2").model_version == 2
    assert [v["registered_by"] for v in repo.model_versions("churn")] == [ANA, BOB]


ODD_NAMES = ["__x__", "..", ".", "x" * 1600, "Churn", "%2e%2e", "a%2Fb", "__proto__"]


def test_the_web_app_on_firestore_answers_404_for_names_firestore_refuses(repo):
    from tests.unit.web.conftest import add_job, csrf_token, sign_in
    from zygarde.web.app import create_app
    from zygarde.web.settings import WebSettings

    deps = Deps(repo=repo, launcher=MemoryBatchLauncher(), blobs=MemoryBlobStore(), publisher=MemoryPublisher(),
                settings=Settings(project="p", region="r", bucket="zb"))
    add_job(repo, "ana", "ana-job")
    app = create_app(WebSettings(bucket="zb", dev_login=True, secret_key=uuid.uuid4().hex), deps)
    ana = sign_in(app.test_client(), "ana")
    assert ana.get("/models/ana-job").status_code == 200
    token = csrf_token(ana, "/models")
    for name in ODD_NAMES:
        for route in ("/models/{}", "/models/{}/compare?a=1&b=1", "/models/{}/1/package.zip"):
            assert ana.get(route.format(name)).status_code == 404, (route, name)
        for route in ("/models/{}/predict", "/models/{}/grants"):
            resp = ana.post(route.format(name), data={"csrf_token": token, "ref": "1", "body": "[]",
                                                      "grantee": "bob", "role": "reader"})
            assert resp.status_code == 404, (route, name)
