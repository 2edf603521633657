"""A model name belongs to the owner of its first registration: through the real handlers (in-memory
ports), another user's job naming it is rejected at submission, a name taken between submission and
registration fails the job and registers nothing, writers granted by the owner publish versions, and
models registered before owners were recorded belong to their first version's owner. Every message
is delivered twice."""
from __future__ import annotations

import json

from tests.unit.conftest import CSV, DELEGATE, PUBLISHED, grant_message, job_message, signed, spec_dict
from tests.unit.test_handlers import finish, finish_stage
from zygarde.domain.model import FINALIZE, PREPARE, JobState, TrialState
from zygarde.service_layer import edge
from zygarde.service_layer.edge import PubSubMessage

ANA, BOB, CAROL = "ana@example.com", "bob@example.com", "carol@example.com"


def job(deps, job_id: str, owner: str, name: str | None = "churn", **over) -> PubSubMessage:
    """A one-trial job of `owner` on a dataset in their own folder."""
    uri = f"gs://bkt/datasets/{owner}/d.csv"
    deps.blobs.write_bytes(uri, CSV)
    spec = spec_dict(job_id=job_id, owner=owner, dataset={"uri": uri, "format": "csv", "target": "y"},
                     candidates=[{"algorithm": "logistic_regression", "params": {"regParam": [0.0]}}], **over)
    if name is not None:
        spec["name"] = name
    return job_message(spec, f"m-{job_id}")


def submit_twice(deps, msg: PubSubMessage) -> str:
    job_id = edge.submit_job(msg, deps)
    assert edge.submit_job(msg, deps) == job_id  # redelivered: the same outcome
    return job_id


def run_to_the_end(deps, job_id: str) -> None:
    """Prepare, train the one trial and finalise, each result delivered twice."""
    if deps.repo.get_trial(job_id, PREPARE).state is TrialState.RUNNING:
        finish_stage(deps, job_id, PREPARE, times=2)
    finish(deps, job_id, "t0000", auc=0.9, deliver_twice=True)
    if deps.repo.get_trial(job_id, FINALIZE).state is TrialState.RUNNING:
        finish_stage(deps, job_id, FINALIZE, times=2)


def grant(deps, requester: str, grantee: str, role: str | None, model: str = "churn", **attributes: str) -> None:
    """A grant signed by `requester`, delivered twice."""
    msg = grant_message(model, grantee, role, requester, f"g-{grantee}-{role}", **attributes)
    edge.submit_job(msg, deps)
    writes = deps.repo.writes
    edge.submit_job(msg, deps)  # redelivered: nothing more
    assert deps.repo.writes == writes


def anas_model(deps) -> None:
    run_to_the_end(deps, submit_twice(deps, job(deps, "ana-1", ANA)))
    assert deps.repo.get_job("ana-1").state is JobState.SUCCEEDED
    assert [v["job_id"] for v in deps.repo.model_versions("churn")] == ["ana-1"]


def test_the_first_registration_makes_its_jobs_owner_the_models_owner(deps):
    anas_model(deps)
    doc = deps.repo.model("churn")
    assert (doc["owner"], doc["grants"], doc["members"], doc["latest_version"]) == (ANA, {}, [ANA], 1)
    assert deps.repo.model_version("churn", 1)["registered_by"] == ANA
    run_to_the_end(deps, submit_twice(deps, job(deps, "ana-2", ANA)))  # the owner's next job: version 2
    assert deps.repo.get_job("ana-2").model_version == 2 and deps.repo.model("churn")["owner"] == ANA


def test_another_users_job_naming_the_model_is_rejected_at_submission_and_launches_nothing(deps):
    anas_model(deps)
    batches, versions = dict(deps.launcher.batches), deps.repo.model_versions("churn")
    job_id = submit_twice(deps, job(deps, "bob-1", BOB))
    rejected = deps.repo.get_job(job_id)
    assert rejected.state is JobState.REJECTED and deps.repo.list_trials(job_id) == []
    assert rejected.error.startswith("name: the model 'churn' belongs to another user: choose another name, or "
                                     "ask its owner for write access"), rejected.error
    assert deps.launcher.batches == batches and deps.repo.model_versions("churn") == versions


def test_a_job_id_that_is_another_users_model_name_is_rejected_when_no_name_is_set(deps):
    anas_model(deps)
    job_id = submit_twice(deps, job(deps, "churn", BOB, name=None))
    rejected = deps.repo.get_job(job_id)
    assert rejected.state is JobState.REJECTED
    assert rejected.error.startswith("job_id: a job's model is named after its job id unless name is set, and the "
                                     "model 'churn' belongs to another user"), rejected.error


def test_a_name_taken_between_submission_and_registration_fails_the_job_and_registers_nothing(deps):
    bobs = submit_twice(deps, job(deps, "bob-1", BOB))  # accepted: nobody has the name yet
    assert deps.repo.get_job(bobs).state is JobState.RUNNING
    anas_model(deps)  # ana's job registers first: the name is hers
    run_to_the_end(deps, bobs)
    failed = deps.repo.get_job(bobs)
    assert failed.state is JobState.FAILED and failed.conditions[-1].reason == "ModelNameTaken"
    assert "the model 'churn' belongs to another user" in failed.error and "nothing was registered" in failed.error
    assert failed.model_version is None
    assert [(v["version"], v["job_id"]) for v in deps.repo.model_versions("churn")] == [(1, "ana-1")]
    assert deps.repo.model("churn")["owner"] == ANA


def test_a_writer_publishes_versions_of_the_owners_model_and_a_reader_cannot(deps):
    anas_model(deps)
    grant(deps, ANA, BOB, "writer")
    grant(deps, ANA, CAROL, "reader")
    doc = deps.repo.model("churn")
    assert doc["grants"] == {BOB: "writer", CAROL: "reader"} and doc["members"] == sorted([ANA, BOB, CAROL])
    run_to_the_end(deps, submit_twice(deps, job(deps, "bob-1", BOB)))
    assert deps.repo.get_job("bob-1").model_version == 2
    assert deps.repo.model_version("churn", 2)["registered_by"] == BOB and deps.repo.model("churn")["owner"] == ANA
    assert deps.repo.get_job(submit_twice(deps, job(deps, "carol-1", CAROL))).state is JobState.REJECTED


def test_write_access_withdrawn_before_registration_fails_the_writers_job(deps):
    anas_model(deps)
    grant(deps, ANA, BOB, "writer")
    bobs = submit_twice(deps, job(deps, "bob-1", BOB))
    grant(deps, ANA, BOB, None)  # revoked while bob's job trains
    run_to_the_end(deps, bobs)
    assert deps.repo.get_job(bobs).state is JobState.FAILED
    assert [v["registered_by"] for v in deps.repo.model_versions("churn")] == [ANA]


def test_only_the_owner_grants_and_a_refused_grant_changes_nothing(deps, caplog):
    from zygarde.service_layer import grants

    anas_model(deps)
    grant(deps, ANA, CAROL, "writer")
    writes = deps.repo.writes
    for requester in (BOB, CAROL):  # a stranger, and a writer: neither owns it
        outcome = grants.grant_access(deps, requester, "churn", requester, "writer")
        assert not outcome.applied and outcome.reason == "model: only the owner of model churn may change who may use it"
    assert grants.grant_access(deps, BOB, "nope", BOB, "reader").reason == \
        "model: only the owner of model nope may change who may use it"  # no model reads the same
    assert grants.grant_access(deps, ANA, "churn", ANA, None).reason.startswith("grantee: the owner's own access")
    assert deps.repo.writes == writes and deps.repo.model("churn")["grants"] == {CAROL: "writer"}
    assert "model access refused model=churn requested_by=bob@example.com" in caplog.text


def test_a_model_registered_before_owners_were_recorded_belongs_to_its_first_versions_owner(deps):
    from zygarde.service_layer import model_access

    anas_model(deps)
    legacy = deps.repo.model_docs["churn"]
    for key in ("owner", "grants", "members", "created_at"):  # as registrations before this change wrote it
        del legacy[key]
    assert model_access.model_document(deps.repo, "churn")["owner"] == ANA
    assert deps.repo.get_job(submit_twice(deps, job(deps, "bob-1", BOB))).state is JobState.REJECTED
    run_to_the_end(deps, submit_twice(deps, job(deps, "ana-2", ANA)))
    assert deps.repo.get_job("ana-2").model_version == 2
    assert deps.repo.model("churn")["owner"] == ANA  # written at its next registration
    grant(deps, ANA, BOB, "reader")
    assert deps.repo.model("churn")["members"] == sorted([ANA, BOB])


def test_grant_messages_that_cannot_be_read_are_acknowledged_and_change_nothing(deps):
    from zygarde.service_layer.edge import acknowledge_permanent_errors

    anas_model(deps)
    writes, doc = deps.repo.writes, deps.repo.model("churn")
    acknowledged = acknowledge_permanent_errors(edge.submit_job)
    good = {"model": "churn", "grantee": BOB, "role": "reader"}
    bodies = [b"", b"[]", b"{", b"\xff", b"null"]
    for key, values in {"model": ["a/b", "..", ".", "__x__", "x" * 5000, "Churn", "modèle", 5, None, "a%2Fb"],
                        "grantee": ["a/b", "", "..", " bob", None, 7, "x" * 300, "Bob@example.com", "~7ex"],
                        "role": ["admin", "owner", 1, "READER", ""]}.items():
        bodies += [json.dumps({**good, key: value}).encode() for value in values]
    for body in bodies:
        for attributes in (signed(ANA, action="grant"), {"action": "grant"}):
            msg = PubSubMessage(body, attributes, "bad", PUBLISHED)
            assert acknowledged(msg, deps) is None and acknowledged(msg, deps) is None  # acknowledged, twice
    assert deps.repo.writes == writes and deps.repo.model("churn") == doc


def test_a_grant_is_made_by_whom_its_token_proves_never_by_what_it_says(deps, caplog):
    """Issue 22: the requester is the signer. Unsigned, signed by another user, claiming the owner in
    requested_by, or naming a user without being a trusted delegate: refused, acknowledged, nothing changes."""
    from zygarde.service_layer.edge import acknowledge_permanent_errors

    anas_model(deps)
    writes = deps.repo.writes
    acknowledged = acknowledge_permanent_errors(edge.submit_job)
    data = json.dumps({"model": "churn", "grantee": BOB, "role": "writer", "requested_by": ANA}).encode()
    forged = [PubSubMessage(data, {"action": "grant", "requested_by": ANA}, "g1", PUBLISHED),  # unsigned
              PubSubMessage(data, signed(BOB, action="grant"), "g2", PUBLISHED),  # bob claims to be ana
              PubSubMessage(data, signed(BOB, action="grant", requested_by=ANA), "g3", PUBLISHED),
              grant_message("churn", BOB, "writer", BOB, "g4", on_behalf_of=ANA),  # bob is no delegate
              grant_message("churn", BOB, "writer", BOB, "g5")]  # bob, as himself: not the owner
    for msg in forged:
        assert acknowledged(msg, deps) is None and acknowledged(msg, deps) is None
    assert deps.repo.writes == writes and deps.repo.model("churn")["grants"] == {}
    assert "requested_by" in caplog.text and "not who signed" in caplog.text
    grant(deps, ANA, BOB, "reader", requested_by=ANA)  # a requested_by that is the signer's own key is fine
    assert deps.repo.model("churn")["grants"] == {BOB: "reader"}


def test_the_web_app_grants_on_behalf_of_the_owner_as_a_trusted_delegate(deps):
    anas_model(deps)
    grant(deps, DELEGATE, CAROL, "reader", on_behalf_of=ANA)
    assert deps.repo.model("churn")["grants"] == {CAROL: "reader"}


def test_grantees_are_owner_keys_so_two_addresses_never_share_a_grant(deps):
    """owner+a@ and owner-a@ were one owner under the old lossy name: a grant to one is not the other's."""
    from zygarde.service_layer import grants, model_access

    anas_model(deps)
    plus, problem = grants.grantee_key("Owner+A@Example.com")
    assert problem is None and plus == "owner+a@example.com"
    grant(deps, ANA, plus, "reader")
    doc = deps.repo.model("churn")
    assert model_access.may_read(doc, plus) and not model_access.may_read(doc, "owner-a@example.com")
    assert grants.grantee_key("")[1].startswith("grantee: ")
