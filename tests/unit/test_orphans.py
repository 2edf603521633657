"""A job and its trials are stored all or nothing; trials left without their job are swept by the
reconciler (in-memory ports; on the Firestore emulator: tests/integration/test_firestore_atomicity.py)."""
from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from tests.unit.conftest import job_message, spec_dict
from zygarde.domain.errors import Unstorable
from zygarde.domain.model import PREPARE, Job, JobState, Trial
from zygarde.service_layer import edge


def big_int_job() -> tuple[Job, list[Trial]]:
    job = Job("job-big", "ana", JobState.RUNNING, {"seed": 2 ** 70}, "2026-01-01T00:00:00+00:00")
    trials = [Trial("job-big", PREPARE, -2, PREPARE, {}, kind=PREPARE, created_at=job.created_at),
              Trial("job-big", "t0000", 0, "random_forest_classifier", {"numTrees": 5}, created_at=job.created_at)]
    return job, trials


def orphan(repo, job_id: str, created_at: str) -> None:
    """Trials whose job document was never written."""
    repo.add_trial(Trial(job_id, PREPARE, -2, PREPARE, {}, kind=PREPARE, created_at=created_at))
    repo.add_trial(Trial(job_id, "t0000", 0, "logistic_regression", {"regParam": 0.1}, created_at=created_at))


def test_a_job_the_store_cannot_hold_leaves_nothing(deps):
    job, trials = big_int_job()
    with pytest.raises(Unstorable, match="64 bits"):
        deps.repo.add_job(job, trials)
    assert deps.repo.get_job("job-big") is None and deps.repo.list_trials("job-big") == []
    job, trials = big_int_job()
    trials[1] = Trial("job-big", "t0000", 0, "random_forest_classifier", {"numTrees": [2 ** 64]})
    with pytest.raises(Unstorable):
        deps.repo.add_job(Job("job-big", "ana", JobState.RUNNING, {}, "2026-01-01T00:00:00+00:00"), trials)
    assert deps.repo.get_job("job-big") is None and deps.repo.list_trials("job-big") == []


def test_the_reconciler_sweeps_trials_without_a_job_after_a_grace_period(deps, caplog):
    edge.submit_job(job_message(spec_dict()), deps)  # a real job: never swept
    orphan(deps.repo, "job-lost", deps.now())
    assert edge.reconcile(deps)["orphan_trials"] == 0  # may be a submission in flight
    assert len(deps.repo.list_trials("job-lost")) == 2
    deps.clock.t += timedelta(minutes=11)
    with caplog.at_level(logging.WARNING, logger="zygarde"):
        assert edge.reconcile(deps)["orphan_trials"] == 2
        assert edge.reconcile(deps)["orphan_trials"] == 0  # replayed: nothing more
    assert deps.repo.list_trials("job-lost") == []
    assert [r.getMessage() for r in caplog.records if "orphan" in r.getMessage()] == [
        "orphan trials swept job_id=job-lost trials=2 (no job document)"]
    assert len(deps.repo.list_trials("job-1")) == 5 and deps.repo.get_job("job-1").state is JobState.RUNNING


def test_an_orphan_whose_job_arrives_is_not_swept(deps):
    orphan(deps.repo, "job-1", "2025-12-01T00:00:00+00:00")
    before = deps.clock().isoformat()
    assert deps.repo.orphan_jobs(before) == ["job-1"]
    edge.submit_job(job_message(spec_dict()), deps)  # the redelivery writes the job
    assert deps.repo.delete_orphan("job-1", before) == 0
    assert deps.repo.orphan_jobs(before) == []
