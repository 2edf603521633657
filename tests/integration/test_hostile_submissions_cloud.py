"""A sample of each kind of hostile submission, published to the jobs topic of a local cloud (the
session's emulators, fake GCS, the local token issuer and the real submit_job function under functions-framework):
each is recorded REJECTED in Firestore with its reason, and the function acknowledges it (nothing reaches
the dead-letter topic). Then issue 22's bypasses through the same function: unsigned or mismatched jobs,
job files outside their owner's folder, someone else's cancel, and cancels that crashed the handler."""
from __future__ import annotations

import json
import os
import time

import pytest

from tests.emulator_set import drop_subscriptions
from tests.unit.hostile_corpus import BUCKET, OWNER, cases
from zygarde.config import prefix, resources
from zygarde.domain.identity import token_attributes
from zygarde.domain.model import JobState
from zygarde.local.cloud import function_component
from zygarde.service_layer.job_rejection import derived_job_id

pytestmark = pytest.mark.integration

SAMPLE = ["malformed-open-brackets", "malformed-lone-surrogate", "malformed-huge-digits", "malformed-latin1",
          "type-task-list", "type-options.delimiter-list", "type-v1.domain-list", "string-target-10k",
          "string-owner-slash", "number-seed-2^64", "number-range-low-neg-inf", "algorithm-algo-unknown",
          "path-dotdot-artifacts", "path-glob-decoy", "row-filter-env", "file-parquet-as-csv", "file-bom-no-target",
          "file-wide", "file-latin1-header",
          # the audit's reasons that named no field or crashed, and another user's model name
          "number-digits-seed", "number-digits-thousands", "key-option-empty", "key-option-long",
          "path-bucket-trailing-dot", "path-bucket-leading-dot", "model-taken-name", "model-taken-job-id",
          "model-name-dunder", "row-filter-digits"]


@pytest.fixture(scope="module")
def cloud(emulator_set, tmp_path_factory):
    """The real submit_job function (and the local Dataproc endpoint) on the session's emulators, in a
    project of its own and the bucket `bkt`, as the corpus names it; a fake-gcs-server of its own, whose
    bucket notifications (job files) go to this project."""
    c = emulator_set.tenant(tmp_path_factory.mktemp("hostile"), "zygarde-hostile", BUCKET,
                            components=("storage", "dataproc", function_component("submit_job")))
    saved = dict(os.environ)
    try:
        c.up()
        os.environ.update(c.env())
        yield c
    finally:
        c.down()
        drop_subscriptions(emulator_set.pubsub_host, c.project)  # no pushes to a stopped function
        os.environ.clear()
        os.environ.update(saved)


def wait_rejected(repo, job_ids: list[str], timeout: float = 120.0) -> dict:
    """Poll Firestore until every job is recorded (or the timeout)."""
    deadline, found = time.monotonic() + timeout, {}
    while time.monotonic() < deadline and len(found) < len(job_ids):
        for job_id in job_ids:
            if job_id not in found and (job := repo.get_job(job_id)) is not None:
                found[job_id] = job
        time.sleep(0.5)
    return found


def test_hostile_jobs_published_to_the_jobs_topic_are_recorded_rejected_and_acknowledged(cloud):
    from zygarde.bootstrap import build_deps

    deps = build_deps()
    by_id = {c.id: c for c in cases()}
    sample = [by_id[name] for name in SAMPLE]
    for case in sample:
        for uri, data in case.objects.items():
            deps.blobs.write_bytes(uri, data)
        for name, owner in case.models.items():  # another user's model, registered before
            deps.repo.register_model_version(name, f"{name}-v1", {"registered_at": "2026-01-01T00:00:00Z"}, owner)
    dead_letter = _subscribe_dead_letter(cloud)
    published = {}
    for case in sample:
        message_id = deps.publisher.publish("jobs", case.raw, **signed(cloud, OWNER))
        published[_named_job_id(case.raw) or derived_job_id(f"msg:{message_id}")] = case

    jobs = wait_rejected(deps.repo, list(published))
    assert sorted(c.id for j, c in published.items() if j not in jobs) == []
    for job_id, job in jobs.items():
        case = published[job_id]
        assert job.state is JobState.REJECTED, (case.id, job.error)
        assert all(words in job.error for words in case.expect), (case.id, job.error)
        if case.field:  # the reason starts with the field at fault
            assert job.error.startswith((f"{case.field}: ", f"{case.field}[", f"{case.field}.")), (case.id, job.error)
        assert "please report it" not in job.error, (case.id, job.error)
    assert _pull(dead_letter) == []


def signed(cloud, user: str, **attributes: str) -> dict[str, str]:
    """Attributes carrying `user`'s identity token, issued by the local cloud (as gcloud would print one)."""
    return {**token_attributes(cloud.identity_token(user)), **attributes}


def _named_job_id(raw: bytes) -> str | None:
    """The job id a case's spec names (its rejection is recorded under it), if any."""
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return doc.get("job_id") if isinstance(doc, dict) and isinstance(doc.get("job_id"), str) else None


def _subscribe_dead_letter(cloud) -> str:
    from google.cloud import pubsub_v1

    dead = resources()["topics"]["jobs"] + resources()["dead_letter_suffix"]
    path = f"projects/{cloud.project}/subscriptions/test-dead-{int(time.time())}"
    pubsub_v1.SubscriberClient().create_subscription(name=path, topic=f"projects/{cloud.project}/topics/{dead}")
    return path


def _pull(subscription: str) -> list[bytes]:
    from google.api_core.exceptions import DeadlineExceeded
    from google.cloud import pubsub_v1

    try:
        resp = pubsub_v1.SubscriberClient().pull(subscription=subscription, max_messages=10, timeout=5)
    except DeadlineExceeded:
        return []
    return [rm.message.data for rm in resp.received_messages]


@pytest.mark.parametrize("name, spec", [("int-beyond-64-bits", {"n": 2 ** 70}),
                                        ("lone-surrogate", {"s": "\ud800"}),
                                        ("larger-than-a-document", {"s": "x" * 1_100_000})])
def test_documents_firestore_refuses_are_unstorable_not_crashes(cloud, name, spec):
    """What the submit path relies on: the adapter reports Firestore's refusals as Unstorable."""
    from zygarde.bootstrap import build_deps
    from zygarde.domain.errors import Unstorable
    from zygarde.domain.model import Job

    repo = build_deps().repo
    job = Job(job_id=f"refused-{name}", owner="ana", state=JobState.REJECTED, spec=spec,
              created_at="2026-01-01T00:00:00+00:00", error="bad")
    with pytest.raises(Unstorable):
        repo.add_job(job, [])
    assert repo.get_job(job.job_id) is None


# ---- issue 22 through the real function: who submits and who cancels is proven -----------------------
def acknowledged(cloud, message_ids: set[str], timeout: float = 120.0) -> dict[str, list[dict]]:
    """The submit_job function's JSON log lines naming each message id, once each has been handled (a line
    saying it was acknowledged, refused or rejected); fails on a timeout."""
    import json

    log = cloud.state_dir / "logs" / "function-submit_job.log"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = []
        for raw in log.read_text(errors="replace").splitlines():
            try:
                lines.append(json.loads(raw))
            except ValueError:
                lines.append({"message": raw})
        seen = {m: [entry for entry in lines if f"message_id={m}" in entry.get("message", "")] for m in message_ids}
        if all(seen.values()):
            return seen
        time.sleep(0.5)
    raise AssertionError(f"not all handled: {sorted(m for m, v in seen.items() if not v)}")


def test_unsigned_forged_and_misfiled_jobs_are_refused_by_the_function(cloud):
    import json

    from tests.unit.conftest import CSV, DATA_URI, spec_dict
    from zygarde.bootstrap import build_deps

    deps = build_deps()
    deps.blobs.write_bytes(DATA_URI, CSV)
    spec = json.dumps(spec_dict(job_id="ana-own-job")).encode()
    expected = {}  # job id -> (owner, words of the reason)
    unsigned = deps.publisher.publish("jobs", spec)
    expected[derived_job_id(f"msg:{unsigned}")] = ("(unverified)", "carries no identity token")
    forged = deps.publisher.publish("jobs", spec, **signed(cloud, "eve@example.com"))
    expected[derived_job_id(f"msg:{forged}")] = ("eve@example.com", "a job is submitted by its owner")
    minus = json.dumps(spec_dict(job_id="minus-job", owner="owner-a@zygarde.dev")).encode()
    plus = deps.publisher.publish("jobs", minus, **signed(cloud, "owner+a@zygarde.dev"))
    expected[derived_job_id(f"msg:{plus}")] = ("owner+a@zygarde.dev", "whose owner key is 'owner+a@zygarde.dev'")
    for name, owner, words in [(f"{prefix('job_files')}loose.json", "(unverified)", "is not under jobs/{owner}/"),
                               (f"{prefix('job_files')}eve@example.com/ana.json", "eve@example.com",
                                "its file is in jobs/eve@example.com/")]:
        uri = f"gs://{BUCKET}/{name}"
        generation = deps.blobs.write_bytes(uri, spec, "application/json")
        expected[derived_job_id(f"{uri}#{generation}")] = (owner, words)

    jobs = wait_rejected(deps.repo, list(expected))
    assert set(jobs) == set(expected)
    for job_id, (owner, words) in expected.items():
        job = jobs[job_id]
        assert job.state is JobState.REJECTED and job.owner == owner and words in job.error, (job_id, job)
    assert deps.repo.get_job("ana-own-job") is None and deps.repo.get_job("minus-job") is None


def test_cancels_that_crashed_the_handler_and_other_users_cancels_are_acknowledged(cloud):
    """`{"job_id": "a/b"}`, `../zygarde_capacity/0` and `__x__` raised ValueError / InvalidArgument and were
    redelivered; someone else's cancel, or an unsigned one, is refused and recorded on the job."""
    import json

    from zygarde.bootstrap import build_deps
    from zygarde.domain.model import Job

    deps = build_deps()
    deps.repo.add_job(Job(job_id="ana-long-job", owner=OWNER, state=JobState.RUNNING, spec={"owner": OWNER},
                          created_at="2026-01-01T00:00:00+00:00"), [])
    crashing = {deps.publisher.publish("jobs", json.dumps({"job_id": bad}).encode(),
                                       **signed(cloud, OWNER, action="cancel"))
                for bad in ("a/b", "../zygarde_capacity/0", "__x__", "x" * 2000)}
    eve = deps.publisher.publish("jobs", json.dumps({"job_id": "ana-long-job", "requested_by": OWNER}).encode(),
                                 **signed(cloud, "eve@example.com", action="cancel", requested_by=OWNER))
    unsigned = deps.publisher.publish("jobs", json.dumps({"job_id": "ana-long-job"}).encode(), action="cancel",
                                      requested_by=OWNER)
    seen = acknowledged(cloud, crashing | {eve, unsigned})
    for message_id in crashing:
        [line] = seen[message_id]  # handled once: acknowledged, not redelivered after a crash
        assert "permanent error, message acknowledged" in line["message"] and "job id" in line["message"]
        assert "exception" not in line
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        refusals = [c for c in deps.repo.get_job("ana-long-job").conditions if c.reason == "CancelRefused"]
        if len(refusals) == 2:
            break
        time.sleep(0.5)
    assert sorted(c.message.rsplit("(message ", 1)[1].rstrip(")") for c in refusals) == sorted([eve, unsigned])
    assert any("eve@example.com" in c.message for c in refusals)
    assert deps.repo.get_job("ana-long-job").state is JobState.RUNNING
