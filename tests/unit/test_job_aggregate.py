"""The job aggregate's rules as plain data: a snapshot and an event in, the trial changes and commands out.
No port, no fake: what the handlers apply is exactly what these decisions say."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest

from zygarde.domain.decisions import CancelRequested, JobSnapshot, Reported, StageOutcome
from zygarde.domain.job_aggregate import decide, needs_whole_job
from zygarde.domain.messages import AttemptEnded, CancelBatch, EndJob, Finalize, RegisterModel, Retry, ReviewJob
from zygarde.domain.model import BatchRun, Job, JobState, StageKind, Trial, TrialState
from zygarde.domain.reasons import Reason
from zygarde.domain.spec import parse_job_spec

S = TrialState
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
OWNER = "ana@example.com"


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def spec_of(**over):
    spec = {"job_id": "job-1", "owner": OWNER, "task": "binary_classification",
            "dataset": {"uri": f"gs://bkt/datasets/{OWNER}/d.csv", "format": "csv", "target": "y"},
            "candidates": [{"algorithm": "logistic_regression", "params": {"regParam": [0.0, 0.1, 0.2]}}],
            "max_attempts": 2, "packing": "off", **over}
    return parse_job_spec(spec)


def prepared() -> Trial:
    return Trial("job-1", "prepare", -2, "prepare", {}, S.SUCCEEDED, 1, "zyg-job-1-prepare-a1", 0, 0,
                 kind=StageKind.PREPARE, started_at=at(0), finished_at=at(1), outputs={"rows": {"train": 100}})


def trial(i: int, state: S = S.WAITING, attempt: int = 0, **kw) -> Trial:
    if state in (S.LAUNCHING, S.RUNNING):
        kw = {"batch_id": f"zyg-job-1-t{i:04d}-a{attempt}", "slot": 0, "capacity_slot": i, **kw}
    if state is S.SUCCEEDED:
        kw.setdefault("objective", 0.5 + i / 10)
    if state is S.FAILED:
        kw.setdefault("error", "boom")
    return Trial("job-1", f"t{i:04d}", i, "logistic_regression", {"regParam": i / 10}, state, attempt, **kw)


def snapshot(trials, spec=None, minutes: float = 10, job_state=JobState.RUNNING, whole=True) -> JobSnapshot:
    spec = spec or spec_of()
    job = Job("job-1", OWNER, job_state, spec.model_dump(mode="json"), at(0),
              error="x" if job_state is JobState.FAILED else None)
    return JobSnapshot(job, spec, tuple(trials), T0 + timedelta(minutes=minutes), 60.0, whole)


def scored(auc: float) -> StageOutcome:
    return StageOutcome(True, Reason.TRAINING_SUCCEEDED, f"areaUnderROC={auc}", score=auc,
                        changes={"metrics": {"areaUnderROC": auc}, "objective": auc, "model_uri": "gs://m"})


def only(decision, kind):
    return [c for c in decision.commands if isinstance(c, kind)]


def test_a_result_of_the_running_attempt_succeeds_it_guarded_by_its_state_and_attempt():
    s = snapshot([prepared(), trial(0, S.RUNNING, 1), trial(1, S.RUNNING, 1), trial(2)])
    d = decide(s, Reported("t0000", 1, scored(0.8)))
    [change] = d.changes
    assert (change.trial_id, change.state, change.reason, change.attempt, change.premise) == (
        "t0000", S.SUCCEEDED, Reason.TRAINING_SUCCEEDED, 1, True)
    assert change.changes["objective"] == 0.8 and d.commands == ()  # others still run: nothing else


def test_a_replayed_or_stale_result_changes_nothing():
    s = snapshot([prepared(), trial(0, S.SUCCEEDED, 1), trial(1, S.RUNNING, 2)])
    assert decide(s, Reported("t0000", 1, scored(0.9))).changes == ()  # finished already
    assert decide(s, Reported("t0001", 1, scored(0.9))).changes == ()  # an older attempt


def test_the_last_result_queues_the_winner_s_finalisation():
    s = snapshot([prepared(), trial(0, S.SUCCEEDED, 1), trial(1, S.SUCCEEDED, 1), trial(2, S.RUNNING, 1)])
    d = decide(s, Reported("t0002", 1, scored(0.95)))
    assert only(d, Finalize) == [Finalize("job-1", "t0002", refit=False)]


def test_failures_are_retried_within_max_attempts_then_fail_and_never_when_deterministic():
    s = snapshot([prepared(), trial(0, S.RUNNING, 1), trial(1), trial(2)])
    runtime = StageOutcome(False, Reason.BATCH_FAILED, "executor lost", Retry.IF_ATTEMPTS_LEFT)
    [retry] = decide(s, Reported("t0000", 1, runtime)).changes
    assert (retry.state, retry.reason, retry.message) == (S.WAITING, Reason.RETRYING, "executor lost; retrying")
    s2 = snapshot([prepared(), trial(0, S.RUNNING, 2), trial(1), trial(2)])
    [failed] = decide(s2, Reported("t0000", 2, runtime)).changes
    assert failed.state is S.FAILED and failed.changes["error"] == "executor lost"
    data = StageOutcome(False, Reason.DATA_ERROR, "labels must be 0 or 1", Retry.NEVER)
    assert decide(s, Reported("t0000", 1, data)).changes[0].state is S.FAILED
    missed = AttemptEnded("job-1", "t0000", 2, Reason.HANDOFF_MISSED, "gone", Retry.ALWAYS)
    assert decide(s2, missed).changes[0].state is S.WAITING  # the attempt never ran


def test_a_promoted_trial_counts_its_attempts_afresh_at_its_new_rung():
    s = snapshot([prepared(), trial(0, S.RUNNING, 3, rung=1, rung_attempt=2), trial(1), trial(2)])
    died = AttemptEnded("job-1", "t0000", 3, Reason.BATCH_DIED, "died", Retry.IF_ATTEMPTS_LEFT)
    assert decide(s, died).changes[0].state is S.WAITING  # its first attempt at rung 1 (max_attempts 2)


def test_an_ended_job_retries_nothing():
    s = snapshot([prepared(), trial(0, S.RUNNING, 1)], job_state=JobState.CANCELLED)
    died = AttemptEnded("job-1", "t0000", 1, Reason.BATCH_DIED, "died", Retry.IF_ATTEMPTS_LEFT)
    d = decide(s, died)
    assert d.changes[0].state is S.FAILED and d.commands == ()


def pruning_spec(**over):
    return spec_of(candidates=[{"algorithm": "logistic_regression", "params": {
        "regParam": {"type": "float", "low": 1e-4, "high": 1.0, "log": True}}}],
        search={"strategy": "random", "max_trials": 3,
                "pruning": {"strategy": "successive_halving", "min_fraction": 1 / 3, "reduction_factor": 3}}, **over)


def test_a_rung_score_waits_paused_and_the_rung_decides_once_its_population_is_final():
    spec = pruning_spec()
    s = snapshot([prepared(), trial(0, S.PAUSED, 1, rung_scores=[0.7], objective=0.7, train_fraction=1 / 3),
                  trial(1, S.PAUSED, 1, rung_scores=[0.9], objective=0.9, train_fraction=1 / 3),
                  trial(2, S.RUNNING, 1, train_fraction=1 / 3)], spec)
    d = decide(s, Reported("t0002", 1, scored(0.6)))
    paused, *rung = d.changes
    assert paused.state is S.PAUSED and paused.changes["rung_scores"] == [0.6] and "model_uri" not in paused.changes
    decided = {c.trial_id: (c.state, c.rung) for c in rung}
    assert decided == {"t0000": (S.PRUNED, 0), "t0001": (S.WAITING, 0), "t0002": (S.PRUNED, 0)}
    promoted = next(c for c in rung if c.state is S.WAITING)
    assert promoted.changes == {"rung": 1, "train_fraction": 1.0, "rung_attempt": 1}


def test_a_deadline_stops_the_search_cancels_what_runs_and_finalises_the_best_so_far():
    s = snapshot([prepared(), trial(0, S.SUCCEEDED, 1), trial(1, S.RUNNING, 1), trial(2)],
                 spec_of(budget={"deadline_minutes": 30}), minutes=31)
    d = decide(s, ReviewJob("job-1"))
    assert {c.trial_id: c.state for c in d.changes} == {"t0001": S.CANCELLED, "t0002": S.CANCELLED}
    assert all(c.reason is Reason.DEADLINE_REACHED for c in d.changes)  # not a budget: the deadline, in words
    assert {c.message for c in d.changes} == {"stopped at the deadline 00:30 UTC, 1 trial had finished "
                                              "(deadline of 30 minutes reached)"}
    assert only(d, CancelBatch) == [CancelBatch("job-1", "zyg-job-1-t0001-a1")]
    assert only(d, Finalize) == [Finalize("job-1", "t0000", refit=False)]


def test_a_deadline_before_any_score_ends_the_job_without_a_model():
    s = snapshot([prepared(), trial(0, S.FAILED, 1), trial(1, S.RUNNING, 1), trial(2)],
                 spec_of(budget={"deadline_minutes": 30}), minutes=31)
    [end] = only(decide(s, ReviewJob("job-1")), EndJob)
    assert (end.state, end.reason, end.changes) == (JobState.BUDGET_EXHAUSTED, Reason.BUDGET_EXHAUSTED, {})


def test_core_hours_count_every_rung_and_every_retry_of_a_trial():
    # 12 cores: a 1 core-hour budget is 5 batch-minutes; the preparation took 1, earlier rungs and retries 3
    spec = pruning_spec(budget={"max_core_hours": 1.0, "cores_per_trial": 12})
    earlier = (BatchRun("zyg-job-1-t0000-a1", at(1), at(2.5)), BatchRun("zyg-job-1-t0000-a2", at(2.5), at(4)))
    running = trial(0, S.RUNNING, 3, rung=1, runs=earlier, started_at=at(4), train_fraction=1.0)
    assert decide(snapshot([prepared(), running], spec, minutes=4.5), ReviewJob("job-1")).commands == ()
    d = decide(snapshot([prepared(), running], spec, minutes=5.5), ReviewJob("job-1"))
    [end] = only(d, EndJob)
    assert end.state is JobState.BUDGET_EXHAUSTED and "core-hours used" in end.message
    current_rung_only = dataclasses.replace(running, runs=())
    assert only(decide(snapshot([prepared(), current_rung_only], spec, minutes=5.5), ReviewJob("job-1")), EndJob) == []


def test_rejected_data_fails_the_job_and_cancels_every_trial():
    prepare = dataclasses.replace(prepared(), state=S.RUNNING, finished_at=None)
    s = snapshot([prepare, trial(0), trial(1), trial(2)])
    failed = StageOutcome(False, Reason.DATA_ERROR, "the target has one class", Retry.NEVER)
    d = decide(s, Reported("prepare", 1, failed))
    assert d.changes[0].state is S.FAILED and {c.state for c in d.changes[1:]} == {S.CANCELLED}
    [end] = only(d, EndJob)
    assert (end.state, end.reason) == (JobState.FAILED, Reason.DATA_REJECTED) and "one class" in end.changes["error"]


def test_a_packaged_winner_is_registered_then_the_job_ends():
    finalize = Trial("job-1", "finalize", -1, "logistic_regression", {}, S.RUNNING, 1, "zyg-job-1-finalize-a1", 0, 0,
                     kind=StageKind.FINALIZE)
    s = snapshot([prepared(), trial(0, S.SUCCEEDED, 1), trial(1, S.SUCCEEDED, 1), trial(2, S.FAILED, 1), finalize],
                 spec_of(name="churn"))
    packaged = StageOutcome(True, Reason.MODEL_PACKAGED, "packaged", changes={"outputs": {
        "test_metrics": {"areaUnderROC": 0.61}, "package_uri": "gs://p/"}})
    [register] = only(decide(s, Reported("finalize", 1, packaged)), RegisterModel)
    assert (register.model_name, register.state, register.reason) == ("churn", JobState.SUCCEEDED, Reason.MODEL_REGISTERED)
    assert register.message_prefix.endswith("0.61 on test; registered as churn v")
    assert register.record["trial_id"] == "t0001" and register.record["package_uri"] == "gs://p/"
    assert register.changes["best_trial_id"] == "t0001" and register.changes["best_objective"] == 0.6


def test_a_cancel_ends_the_job_and_a_repeat_only_cancels_what_is_left():
    s = snapshot([prepared(), trial(0, S.RUNNING, 1), trial(1, S.PAUSED, 1, rung_scores=[0.5]), trial(2)])
    d = decide(s, CancelRequested("cancelled by its owner"))
    assert {c.state for c in d.changes} == {S.CANCELLED} and len(d.changes) == 3
    assert only(d, CancelBatch) == [CancelBatch("job-1", "zyg-job-1-t0000-a1")]
    assert [e.state for e in only(d, EndJob)] == [JobState.CANCELLED]
    ended = snapshot([prepared(), trial(0, S.RUNNING, 1), trial(2)], job_state=JobState.CANCELLED)
    again = decide(ended, CancelRequested("again"))
    assert len(again.changes) == 2 and only(again, EndJob) == []
    leftovers = decide(ended, CancelRequested("had finished", Reason.JOB_FINISHED, active_only=True))
    assert [c.trial_id for c in leftovers.changes] == ["t0000"]  # the waiting trial of an ended job stays


@pytest.mark.parametrize("case, expected", [
    ("a training result, others unfinished", False), ("the last unfinished training trial", True),
    ("a stage's result", True), ("a pruning job's result", True), ("a review, nothing paused", False),
    ("a review with a deadline passed", True), ("a core-hour budget", True), ("a cancel", True)])
def test_the_whole_job_is_read_only_when_its_rules_need_it(case, expected):
    spec = {"a pruning job's result": pruning_spec(), "a review with a deadline passed": spec_of(
        budget={"deadline_minutes": 5}), "a core-hour budget": spec_of(budget={"max_core_hours": 5.0})}.get(case)
    focus = {"a stage's result": prepared()}.get(case, trial(0, S.RUNNING, 1))
    event = {"a review, nothing paused": ReviewJob("job-1"), "a review with a deadline passed": ReviewJob("job-1"),
             "a cancel": CancelRequested("stop")}.get(case, Reported("t0000", 1, scored(0.5)))
    light = snapshot([focus], spec, whole=False)
    others = case != "the last unfinished training trial"
    assert needs_whole_job(light, event, others_unfinished=others, any_paused=False) is expected
