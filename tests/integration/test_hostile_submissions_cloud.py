"""A sample of each kind of hostile submission, published to the jobs topic of a local cloud (the
session's emulators and the real submit_job function under functions-framework): each is recorded
REJECTED in Firestore with its reason, and the function acknowledges it (nothing reaches the
dead-letter topic)."""
from __future__ import annotations

import os
import time

import pytest

from tests.emulator_set import drop_subscriptions
from tests.unit.hostile_corpus import BUCKET, cases
from zygarde.config import resources
from zygarde.domain.model import JobState
from zygarde.local.cloud import function_component
from zygarde.service_layer.handlers import derived_job_id

pytestmark = pytest.mark.integration

SAMPLE = ["malformed-open-brackets", "malformed-lone-surrogate", "malformed-huge-digits", "malformed-latin1",
          "type-task-list", "type-options.delimiter-list", "type-v1.domain-list", "string-target-10k",
          "string-owner-slash", "number-seed-2^64", "number-range-low-neg-inf", "algorithm-algo-unknown",
          "path-dotdot-artifacts", "path-glob-decoy", "row-filter-env", "file-parquet-as-csv", "file-bom-no-target",
          "file-wide", "file-latin1-header"]


@pytest.fixture(scope="module")
def cloud(emulator_set, tmp_path_factory):
    """The real submit_job function (and the local Dataproc endpoint) on the session's emulators, in a
    project of its own and the bucket `bkt`, as the corpus names it."""
    c = emulator_set.tenant(tmp_path_factory.mktemp("hostile"), "zygarde-hostile", BUCKET,
                            components=("dataproc", function_component("submit_job")))
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
    dead_letter = _subscribe_dead_letter(cloud)
    published = {}
    for case in sample:
        message_id = deps.publisher.publish("jobs", case.raw)
        published[derived_job_id(f"msg:{message_id}")] = case

    jobs = wait_rejected(deps.repo, list(published))
    assert sorted(c.id for j, c in published.items() if j not in jobs) == []
    for job_id, job in jobs.items():
        case = published[job_id]
        assert job.state is JobState.REJECTED, (case.id, job.error)
        assert all(words in job.error for words in case.expect), (case.id, job.error)
    assert _pull(dead_letter) == []


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
