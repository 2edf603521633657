"""On the Firestore emulator: a job and its trials are written all or nothing, orphan trials are
swept, and transaction contention is a TransientError (Pub/Sub retries) rather than a crash."""
from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from tests.unit.conftest import job_message, spec_dict
from tests.unit.test_orphans import big_int_job, orphan
from zygarde.domain.errors import Unstorable, TransientError
from zygarde.domain.model import Job, JobState, Trial, TrialState
from zygarde.service_layer import edge
from zygarde.service_layer.edge import acknowledge_permanent_errors

pytestmark = pytest.mark.integration


def test_a_job_firestore_cannot_hold_leaves_no_trials(repo):
    job, trials = big_int_job()
    with pytest.raises(Unstorable):
        repo.add_job(job, trials)
    assert repo.get_job("job-big") is None and repo.list_trials("job-big") == []
    job, _ = big_int_job()
    bad_trial = Trial("job-big", "t0000", 0, "random_forest_classifier", {"numTrees": 2 ** 64})
    with pytest.raises(Unstorable):
        repo.add_job(Job("job-big", "ana", JobState.RUNNING, {}, job.created_at), [bad_trial])
    assert repo.get_job("job-big") is None and repo.list_trials("job-big") == []


def test_a_large_job_is_written_whole_and_only_once(repo):
    job = Job("job-l", "ana", JobState.RUNNING, {}, "2026-01-01T00:00:00+00:00")
    trials = [Trial("job-l", f"t{i:04d}", i, "logistic_regression", {"regParam": i / 1000}) for i in range(450)]
    assert repo.add_job(job, trials) is True
    assert repo.get_job("job-l") == job and len(repo.list_trials("job-l")) == 450
    changed = [Trial("job-l", "t0000", 0, "logistic_regression", {"regParam": 9.0})]
    assert repo.add_job(job, changed) is False
    assert repo.get_trial("job-l", "t0000").params == {"regParam": 0.0}


def test_the_reconciler_sweeps_orphan_trials_on_firestore(deps, caplog):
    edge.submit_job(job_message(spec_dict()), deps)
    orphan(deps.repo, "job-lost", deps.now())
    assert edge.reconcile(deps)["orphan_trials"] == 0
    deps.clock.t += timedelta(minutes=11)
    with caplog.at_level(logging.WARNING, logger="zygarde"):
        assert edge.reconcile(deps)["orphan_trials"] == 2
    assert any("orphan trials swept job_id=job-lost trials=2" in r.getMessage() for r in caplog.records)
    assert deps.repo.list_trials("job-lost") == [] and len(deps.repo.list_trials("job-1")) == 5
    assert edge.reconcile(deps)["orphan_trials"] == 0


def test_an_orphan_whose_job_arrives_is_not_swept_on_firestore(deps):
    orphan(deps.repo, "job-1", "2025-12-01T00:00:00+00:00")
    before = deps.clock().isoformat()
    assert deps.repo.orphan_jobs(before) == ["job-1"]
    edge.submit_job(job_message(spec_dict()), deps)
    assert deps.repo.delete_orphan("job-1", before) == 0 and deps.repo.orphan_jobs(before) == []
    assert len(deps.repo.list_trials("job-1")) == 5


def test_transaction_contention_is_transient(deps, monkeypatch, caplog):
    """Every commit aborted (as under contention): the library gives up with a plain ValueError;
    the adapter raises TransientError and the edge lets Pub/Sub redeliver, quietly."""
    from google.api_core import exceptions as gexc
    from google.cloud.firestore_v1.transaction import Transaction

    edge.submit_job(job_message(spec_dict()), deps)
    prepare = deps.repo.get_trial("job-1", "prepare")
    deps.launcher.finish(prepare.batch_id, "FAILED", "executor lost")  # the tick must record it

    def aborted(self, *args, **kwargs):  # the server ends an aborted transaction: release its locks
        self._client._firestore_api.rollback(request={"database": self._client._database_string,
                                                      "transaction": self._id}, metadata=self._client._rpc_metadata)
        raise gexc.Aborted("too much contention on these datastore entities")

    monkeypatch.setattr(Transaction, "_commit", aborted)
    tick = acknowledge_permanent_errors(edge.on_reconcile_tick)
    with caplog.at_level(logging.WARNING, logger="zygarde"), pytest.raises(TransientError, match="contention"):
        tick(edge.PubSubMessage(b"{}", {}, "tick-1"), deps)
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "will be redelivered" in caplog.records[0].getMessage()
    monkeypatch.undo()
    assert deps.repo.get_trial("job-1", "prepare").state is TrialState.RUNNING  # nothing half-done
    edge.reconcile(deps)  # the redelivery succeeds
    assert deps.repo.get_trial("job-1", "prepare").attempt == 2
