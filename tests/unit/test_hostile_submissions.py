"""Every hostile submission of the corpus is recorded REJECTED with a readable reason that starts with
the field at fault (one sentence, no trace), launches nothing, leaves every other stored record as it was, and is acknowledged
(the handler returns); delivered twice, it changes nothing more."""
from __future__ import annotations

import copy

import pytest

from tests.unit.conftest import job_message, raw_message
from tests.unit.hostile_corpus import cases
from zygarde.domain.model import JobState
from zygarde.domain.raw_doc import STORED_RAW_CHARS, STORED_REASON_CHARS
from zygarde.service_layer import edge

CASES = cases()


def test_the_corpus_is_large_and_covers_every_kind():
    assert len(CASES) >= 250
    assert {c.kind for c in CASES} == {"malformed", "type", "string", "number", "algorithm", "path", "row-filter",
                                       "file", "key", "model"}
    assert len({c.id for c in CASES}) == len(CASES)
    assert all(c.field for c in CASES if c.kind != "malformed")


def snapshot(deps) -> tuple:
    return (copy.deepcopy(deps.repo.jobs), copy.deepcopy(dict(deps.repo.trials)), dict(deps.blobs.objects),
            dict(deps.launcher.batches), list(deps.publisher.messages), copy.deepcopy(deps.repo.model_docs),
            copy.deepcopy(dict(deps.repo.models)))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_hostile_submission_is_rejected_with_a_specific_reason_and_changes_nothing_else(deps, case):
    assert edge.submit_job(job_message(), deps) == "job-1"  # someone else's job, already running
    for uri, data in case.objects.items():
        deps.blobs.write_bytes(uri, data)
    for name, owner in case.models.items():
        deps.repo.register_model_version(name, f"{name}-v1", {"registered_at": "2026-01-01T00:00:00Z"}, owner)
    jobs, trials, objects, batches, messages, model_docs, versions = snapshot(deps)

    msg = raw_message(case.raw, f"hostile-{case.id}")  # published by a verified user
    job_id = edge.submit_job(msg, deps)

    job = deps.repo.get_job(job_id)
    assert job is not None and job.state is JobState.REJECTED, (job_id, job)
    for words in case.expect:
        assert words in job.error, job.error
    if case.field:  # the reason names its field first, in one sentence: "field: what is wrong"
        assert job.error.startswith((f"{case.field}: ", f"{case.field}[", f"{case.field}.")), job.error
    assert "\n" not in job.error and "Traceback" not in job.error and "please report it" not in job.error
    assert "Traceback" not in job.error and len(job.error) <= STORED_REASON_CHARS + 40
    assert job.error.encode("utf-8") and job.conditions[-1].message == job.error
    assert isinstance(job.spec["raw"], str) and len(job.spec["raw"]) <= STORED_RAW_CHARS + 40
    job.spec["raw"].encode("utf-8")  # valid UTF-8: Firestore stores it
    assert {k: v for k, v in deps.repo.jobs.items() if k != job_id} == jobs
    assert dict(deps.repo.trials) == trials and deps.repo.list_trials(job_id) == []
    assert deps.blobs.objects == objects and deps.launcher.batches == batches
    assert deps.publisher.messages == messages
    assert deps.repo.model_docs == model_docs and dict(deps.repo.models) == versions

    writes = deps.repo.writes
    assert edge.submit_job(msg, deps) == job_id  # redelivered: the same record, nothing written
    assert deps.repo.writes == writes and deps.repo.get_job(job_id) == job
