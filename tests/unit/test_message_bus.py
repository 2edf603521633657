"""Every message type has one handler, and every handler is delivered twice: the second delivery changes
nothing (no document, no batch, no object, no published message). Each case brings the in-memory world to
where its message means something, then delivers it twice."""
from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

import pytest

from tests.unit.conftest import OWNER, cancel_message, grant_message, job_message, spec_dict
from tests.unit.test_handlers import deliver, finish, submit, training_trials
from zygarde.domain import messages as m
from zygarde.domain.contracts import IdleReport, PrepareResult, TrialResult, idle_object
from zygarde.domain.model import ACTIVE, JobState, StageKind, TrialState
from zygarde.domain.reasons import Reason
from zygarde.service_layer import edge, messagebus
from zygarde.service_layer.locations import data_prefix, idle_prefix, trial_uris


def fingerprint(deps) -> tuple:
    trials = {(t.job_id, t.trial_id): (t.state, t.attempt, len(t.conditions))
              for job_id in deps.repo.jobs for t in deps.repo.list_trials(job_id)}
    return (deps.repo.writes, deps.repo.board_writes, trials, {j.job_id: j.state for j in deps.repo.jobs.values()},
            deps.launcher.create_calls, {b.batch_id: b.state for b in deps.launcher.batches.values()},
            sorted(deps.blobs.objects), len(deps.publisher.messages), dict(deps.repo.capacity), dict(deps.repo.ready))


def twice(deps, message) -> None:
    messagebus.handle(message, deps)
    after_first = fingerprint(deps)
    messagebus.handle(message, deps)
    assert fingerprint(deps) == after_first, type(message).__name__


def running(deps, job_id="job-1"):
    return [t for t in training_trials(deps, job_id) if t.state is TrialState.RUNNING]


def warm_world(deps):
    """A packed job whose preparation has reported; its warm batch waits for work."""
    deps.settings = dataclasses.replace(deps.settings, handoff_seconds=20.0)
    edge.submit_job(job_message(spec_dict(packing="auto", max_parallel=1)), deps)
    prepare = deps.repo.get_trial("job-1", "prepare")
    deliver(deps, prepare, PrepareResult("job-1", 1, "SUCCEEDED", report={"schema": [{"name": "f1"}, {"name": "y"}]},
                                         rows={"train": 60}, parts={p: data_prefix(deps.settings, "job-1") + p
                                                                    for p in ("train", "validation", "test")}),
            True, end_batch=False)
    deps.blobs.write_bytes(idle_object(idle_prefix(deps.settings, "job-1", prepare.batch_id), 1),
                           IdleReport("job-1", 1).to_json().encode())
    return prepare.batch_id


CASES = {
    m.SubmitJob: lambda deps: _signed(m.SubmitJob, job_message()),
    m.JobFileWritten: lambda deps: (deps.blobs.write_bytes(f"gs://bkt/jobs/{OWNER}/j.json", json.dumps(spec_dict()).encode()),
                                    m.JobFileWritten("bkt", f"jobs/{OWNER}/j.json", "3"))[1],
    m.CancelJob: lambda deps: (submit(job_message(), deps), _signed(m.CancelJob, cancel_message("job-1")))[1],
    m.ResultWritten: lambda deps: _result_written(deps),
    m.BatchIdle: lambda deps: m.BatchIdle("job-1", warm_world(deps), 1),
    m.Reconcile: lambda deps: (submit(job_message(), deps), deps.launcher.finish(running(deps)[0].batch_id, "FAILED"),
                               m.Reconcile())[2],
    m.JobEnded: lambda deps: (submit(job_message(), deps), deps.repo.update_job(
        "job-1", lambda j: j.transition(JobState.CANCELLED, Reason.CANCELLED, "stop", deps.now())),
                              m.JobEnded("job-1"))[2],
    m.PlaceWork: lambda deps: (submit(job_message(spec_dict(max_parallel=1)), deps),
                               deps.repo.clear_ready("job-1"), deps.launcher.finish(running(deps)[0].batch_id, "FAILED"),
                               _free_slots_of(deps, running(deps)[0]), _ready(deps), m.PlaceWork())[5],
    m.StartWork: lambda deps: _start_work(deps),
    m.ResumeLaunches: lambda deps: (_start_work(deps), m.ResumeLaunches("job-1"))[1],
    m.AttemptEnded: lambda deps: (submit(job_message(), deps), m.AttemptEnded(
        "job-1", "t0000", 1, Reason.BATCH_DIED, "gone", m.Retry.IF_ATTEMPTS_LEFT))[1],
    m.ReviewJob: lambda deps: (submit(job_message(spec_dict(budget={"deadline_minutes": 30})), deps),
                               finish(deps, "job-1", "t0000"), _later(deps, 31), m.ReviewJob("job-1"))[3],
    m.ReplanJob: lambda deps: _slow_fits(deps),
    m.SettleBatch: lambda deps: _settle(deps),
    m.ReleaseBatch: lambda deps: (submit(job_message(), deps),
                                  m.ReleaseBatch("job-1", running(deps)[0].batch_id))[1],
    m.CancelBatch: lambda deps: (submit(job_message(), deps), m.CancelBatch("job-1", running(deps)[0].batch_id))[1],
    m.Finalize: lambda deps: (submit(job_message(), deps), m.Finalize("job-1", "t0000", refit=True))[1],
    m.RegisterModel: lambda deps: (submit(job_message(), deps), m.RegisterModel(
        "job-1", "cancer", OWNER, {"trial_id": "t0000"}, JobState.SUCCEEDED, Reason.MODEL_REGISTERED,
        "registered as v"))[1],
    m.GrantAccess: lambda deps: _grant(deps),
    m.EndJob: lambda deps: (submit(job_message(), deps), m.EndJob(
        "job-1", JobState.FAILED, Reason.ALL_TRIALS_FAILED, "all failed", {"error": "all failed"}))[1],
}


def _signed(kind, msg):
    """A signed Pub/Sub message of the jobs topic as the bus takes it."""
    return kind(msg.data, msg.attributes, msg.message_id, msg.publish_time)


def _grant(deps):
    submit(job_message(), deps)
    deps.repo.register_model_version("churn", "job-1", {"trial_id": "t0000"}, OWNER)
    return _signed(m.GrantAccess, grant_message("churn", "bo@example.com", "reader"))


def _result_written(deps):
    submit(job_message(), deps)
    trial = deps.repo.get_trial("job-1", "t0000")
    _, uri = trial_uris(deps.settings, "job-1", "t0000", 1)
    deps.blobs.write_bytes(uri, TrialResult("job-1", "t0000", 1, "SUCCEEDED", {"areaUnderROC": 0.7},
                                            model_uri=trial_uris(deps.settings, "job-1", "t0000", 1)[0]).to_json().encode())
    deps.launcher.finish(trial.batch_id, "SUCCEEDED")
    return m.ResultWritten("job-1", "t0000", 1, uri)


def _free_slots_of(deps, trial):
    deps.repo.release_capacity(trial.capacity_slot, trial.batch_id)
    deps.repo.release_slot("job-1", trial.slot, trial.batch_id)
    deps.repo.update_trial("job-1", trial.trial_id, lambda t: t.transition(
        TrialState.WAITING, Reason.RETRYING, "again", deps.now()))


def _ready(deps):
    from zygarde.service_layer.unit_of_work import work_is_ready

    work_is_ready(deps, deps.repo.get_job("job-1"))


def _start_work(deps):
    deps.launcher.fail_next_create = __import__("zygarde.domain.errors", fromlist=["x"]).TransientError("quota")
    with pytest.raises(Exception):
        edge.submit_job(job_message(), deps)
    return m.StartWork("job-1", deps.repo.get_trial("job-1", "prepare").batch_id)


def _later(deps, minutes):
    deps.clock.t += timedelta(minutes=minutes)


def _slow_fits(deps):
    """A plan-sized job two of whose fits took far longer than its plan predicted, not yet replanned."""
    submit(job_message(spec_dict(budget={"deadline_minutes": 30}, max_parallel=3)), deps)
    for t in running(deps)[:2]:
        deps.repo.update_trial("job-1", t.trial_id, lambda t: t.transition(
            TrialState.SUCCEEDED, Reason.TRAINING_SUCCEEDED, "ok", deps.now(), objective=0.8,
            metrics={"areaUnderROC": 0.8, "train_seconds": 600.0}))
    return m.ReplanJob("job-1")


def _settle(deps):
    submit(job_message(), deps)
    trial = running(deps)[0]
    deps.repo.update_trial("job-1", trial.trial_id, lambda t: t.transition(
        TrialState.FAILED, Reason.BATCH_DIED, "gone", deps.now(), error="gone"))
    return m.SettleBatch("job-1", trial.batch_id)


def test_every_command_and_event_has_exactly_one_handler():
    types = {t for t in vars(m).values() if isinstance(t, type) and issubclass(t, (m.Command, m.Event))
             and t not in (m.Command, m.Event)}
    assert types == set(messagebus.HANDLERS) == set(CASES)


@pytest.mark.parametrize("kind", sorted(CASES, key=lambda t: t.__name__), ids=lambda t: t.__name__)
def test_every_handler_delivered_twice_changes_nothing_the_second_time(deps, kind):
    twice(deps, CASES[kind](deps))


def test_a_warm_batch_that_has_nothing_to_do_is_told_to_exit_once(deps):
    batch_id = warm_world(deps)
    messagebus.handle(m.BatchIdle("job-1", batch_id, 1), deps)  # takes the pack
    for t in training_trials(deps, "job-1"):
        _, uri = trial_uris(deps.settings, "job-1", t.trial_id, t.attempt)
        deps.blobs.write_bytes(uri, TrialResult("job-1", t.trial_id, t.attempt, "SUCCEEDED",
                                                {"areaUnderROC": 0.7}).to_json().encode())
    # its results were written but not yet delivered when its idle report comes: they are read first
    twice(deps, m.BatchIdle("job-1", batch_id, 2))
    assert all(t.state is TrialState.SUCCEEDED for t in training_trials(deps, "job-1"))
    finalize = deps.repo.get_trial("job-1", "finalize")
    assert finalize.batch_id == batch_id and finalize.handoff == 2 and finalize.state in ACTIVE
    assert deps.repo.get_trial("job-1", "prepare").kind is StageKind.PREPARE


# --- two handlers at once: each reads before the other's write ------------------------------------------
def test_two_last_results_handled_at_once_still_end_the_job(deps, monkeypatch):
    """t0003's handler reads t0002 still running; before it writes, t0002's whole handler runs and reads t0003
    still running. Neither saw the last trial end from its first read: the job must still be finalised."""
    submit(job_message(), deps)
    finish(deps, "job-1", "t0000")
    finish(deps, "job-1", "t0001")
    update, interleaved = deps.repo.update_trial, []

    def update_after_the_other(job_id, trial_id, fn, *args, **kwargs):
        if trial_id == "t0003" and not interleaved:
            interleaved.append(True)
            finish(deps, "job-1", "t0002", auc=0.95)  # the other instance, start to end
        return update(job_id, trial_id, fn, *args, **kwargs)

    monkeypatch.setattr(deps.repo, "update_trial", update_after_the_other)
    finish(deps, "job-1", "t0003")
    assert interleaved and {t.state for t in training_trials(deps, "job-1")} == {TrialState.SUCCEEDED}
    finalize = deps.repo.get_trial("job-1", "finalize")
    assert finalize is not None and finalize.params["manifest"]["trial_id"] == "t0002", finalize


def test_an_idle_report_while_another_handler_queues_the_finalisation_hands_it_to_the_warm_batch(deps, monkeypatch):
    """The batch's last results were recorded by another instance, which has not yet queued the finalisation
    when the batch's idle report is handled: the warm batch waits for it instead of exiting."""
    batch_id = warm_world(deps)
    messagebus.handle(m.BatchIdle("job-1", batch_id, 1), deps)  # takes the pack
    results = []
    for t in training_trials(deps, "job-1"):
        _, uri = trial_uris(deps.settings, "job-1", t.trial_id, t.attempt)
        deps.blobs.write_bytes(uri, TrialResult("job-1", t.trial_id, t.attempt, "SUCCEEDED",
                                                {"areaUnderROC": 0.7}).to_json().encode())
        results.append(m.ResultWritten("job-1", t.trial_id, t.attempt, uri))
    pending = []
    with monkeypatch.context() as patch:  # the other instance, stopped just before its Finalize
        patch.setitem(messagebus.HANDLERS, m.Finalize, lambda cmd, deps: pending.append(cmd) or [])
        for event in results:
            messagebus.handle(event, deps)
    assert pending and deps.repo.get_trial("job-1", "finalize") is None
    messagebus.handle(m.BatchIdle("job-1", batch_id, 2), deps)
    for cmd in pending:  # the other instance goes on: queued already
        messagebus.handle(cmd, deps)
    finalize = deps.repo.get_trial("job-1", "finalize")
    assert finalize.batch_id == batch_id and finalize.handoff == 2 and finalize.state in ACTIVE
    assert len(deps.launcher.batches) == 1
