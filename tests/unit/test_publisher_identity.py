"""Who submits a job is proven, never read from the job (issue 22): on the jobs topic by the message's
identity token, in a job file by its folder jobs/{owner}/. The handlers against in-memory ports and the
real token verifier; every case delivered twice."""
from __future__ import annotations

import json

import pytest

from tests.unit.conftest import (DELEGATE, PUBLISHED, issuer, job_message, raw_message, signed, spec_dict, token)
from zygarde.domain.identity import token_attributes
from zygarde.domain.model import JobState
from zygarde.service_layer import edge
from zygarde.service_layer.edge import PubSubMessage
from zygarde.service_layer.job_rejection import derived_job_id

OWNER = "ana@example.com"


def twice(deps, msg) -> str:
    """Deliver `msg` twice; the second delivery writes nothing. Returns the job id."""
    job_id = edge.submit_job(msg, deps)
    writes = deps.repo.writes
    assert edge.submit_job(msg, deps) == job_id and deps.repo.writes == writes
    return job_id


def rejected(deps, job_id: str):
    job = deps.repo.get_job(job_id)
    assert job is not None and job.state is JobState.REJECTED, job
    assert deps.launcher.create_calls == 0
    return job


@pytest.mark.parametrize("attributes, words", [
    ({}, "carries no identity token"),
    ({"token": "garbage"}, "proves no sender"),
    ({"token": issuer().mint(OWNER, "https://elsewhere.example")}, "another audience"),
    (signed(OWNER, on_behalf_of="bob@example.com") | {"token": token("eve@example.com")},
     "eve@example.com may not act on behalf of another user"),
], ids=["unsigned", "garbage", "audience", "not-a-delegate"])
def test_an_unproven_job_is_refused_under_no_one_and_takes_no_job_id(deps, attributes, words):
    msg = PubSubMessage(json.dumps(spec_dict()).encode(), attributes, "m-anon", PUBLISHED)
    job_id = twice(deps, msg)
    job = rejected(deps, job_id)
    assert job_id == derived_job_id("msg:m-anon") and deps.repo.get_job("job-1") is None  # not the claimed id
    assert job.owner == "(unverified)" and words in job.error and job.error.startswith("the job was refused: ")
    assert edge.submit_job(job_message(), deps) == "job-1"  # the real owner still gets the id
    assert deps.repo.get_job("job-1").state is JobState.RUNNING


def test_a_job_naming_someone_else_is_refused_under_its_sender(deps):
    job_id = twice(deps, job_message(spec_dict(), "m-eve", sender="eve@example.com"))
    job = rejected(deps, job_id)
    assert job.owner == "eve@example.com" and job_id == derived_job_id("msg:m-eve")
    assert job.error.startswith("owner: the job names 'ana@example.com', but it was sent by eve@example.com")
    assert deps.repo.get_job("job-1") is None


def test_plus_and_minus_are_different_senders(deps):
    job = rejected(deps, twice(deps, job_message(spec_dict(owner="owner-a@zygarde.dev"), sender="owner+a@zygarde.dev")))
    assert job.owner == "owner+a@zygarde.dev" and "whose owner key is 'owner+a@zygarde.dev'" in job.error


def test_a_bad_job_is_recorded_under_its_verified_sender_not_the_owner_it_claims(deps):
    raw = json.dumps({"job_id": "bad-one", "owner": "bob@example.com", "task": "astrology"}).encode()
    job = rejected(deps, twice(deps, raw_message(raw, "m-bad", sender="eve@example.com")))
    assert job.owner == "eve@example.com"


def test_the_web_app_as_a_trusted_delegate_submits_for_the_user_it_names(deps):
    msg = PubSubMessage(json.dumps(spec_dict()).encode(), signed(DELEGATE, on_behalf_of="Ana@Example.com"), "m-web",
                  PUBLISHED)
    assert twice(deps, msg) == "job-1"
    assert deps.repo.get_job("job-1").owner == OWNER and deps.repo.get_job("job-1").state is JobState.RUNNING
    other = PubSubMessage(json.dumps(spec_dict(job_id="job-2")).encode(), signed(DELEGATE, on_behalf_of="bob@example.com"),
                    "m-web-2", PUBLISHED)
    job = deps.repo.get_job(twice(deps, other))
    assert job.state is JobState.REJECTED and job.owner == "bob@example.com"  # bob's job must name bob


def test_an_unknown_action_is_refused_under_its_sender(deps):
    job = rejected(deps, twice(deps, raw_message(json.dumps(spec_dict()).encode(), "m-x", action="delete")))
    assert "action 'delete' is unknown" in job.error and job.owner == OWNER


def test_a_long_token_spread_over_several_attributes_verifies(deps):
    big = issuer().mint(OWNER, "//pubsub.googleapis.com/projects/p/topics/zygarde-jobs", issued_at=1767225600,
                        padding="x" * 1500)
    attributes = token_attributes(big)
    assert len(attributes) == 3
    assert twice(deps, PubSubMessage(json.dumps(spec_dict()).encode(), attributes, "m-long", PUBLISHED)) == "job-1"


# ---- job files: the owner is the folder -------------------------------------------------------------
def job_file(deps, name: str, spec: dict | None, generation: str = "1") -> PubSubMessage:
    if spec is not None:
        deps.blobs.write_bytes(f"gs://bkt/{name}", json.dumps(spec).encode())
    return PubSubMessage(b"{}", {"bucketId": "bkt", "objectId": name, "objectGeneration": generation,
                           "eventType": "OBJECT_FINALIZE"}, f"n-{generation}", PUBLISHED,
                   "//pubsub.googleapis.com/projects/p/topics/zygarde-bucket-events")


def test_a_job_file_in_its_owner_s_folder_is_submitted(deps):
    assert twice(deps, job_file(deps, "jobs/ana@example.com/mine.json", spec_dict())) == "job-1"
    assert deps.repo.get_job("job-1").owner == OWNER


@pytest.mark.parametrize("name, words", [
    ("jobs/mine.json", "is not under jobs/{owner}/"),
    ("jobs/Ana@Example.com/mine.json", "is not under jobs/{owner}/"),
    ("jobs/bob@example.com/mine.json", "its file is in jobs/bob@example.com/"),
    ("jobs/ana-a@example.com/mine.json", "its file is in jobs/ana-a@example.com/"),
])
def test_a_job_file_outside_its_owner_s_folder_is_refused(deps, name, words):
    job = rejected(deps, twice(deps, job_file(deps, name, spec_dict())))
    assert words in job.error and deps.repo.get_job("job-1") is None
    assert job.owner == ("(unverified)" if "{owner}" in words else name.split("/")[1])


def test_a_message_on_the_jobs_topic_dressed_as_a_notification_is_no_job_file(deps):
    """The jobs topic carries messages anyone with publish rights wrote: attributes that name an object do
    not make a job file of them (whose owner would be its folder)."""
    deps.blobs.write_bytes("gs://bkt/jobs/ana@example.com/mine.json", json.dumps(spec_dict()).encode())
    forged = PubSubMessage(json.dumps(spec_dict(job_id="job-9", owner="eve@example.com")).encode(),
                     {"bucketId": "bkt", "objectId": "jobs/ana@example.com/mine.json", "eventType": "OBJECT_FINALIZE",
                      **signed("eve@example.com")}, "m-forged", PUBLISHED,
                     "//pubsub.googleapis.com/projects/p/topics/zygarde-jobs")
    job = rejected(deps, twice(deps, forged))
    assert job.owner == "eve@example.com" and deps.repo.get_job("job-1") is None
