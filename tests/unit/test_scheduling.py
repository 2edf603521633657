"""Capacity cap, fairness between users, budgets, and concurrent completions (in-memory ports)."""
from __future__ import annotations

import dataclasses
import json
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from tests.unit.conftest import CSV, job_message, spec_dict
from tests.unit.test_handlers import finish, finish_stage, submit, train_batches, training_trials
from zygarde.domain.model import FINALIZE, JobState, TrialState
from zygarde.service_layer import edge


def with_cap(deps, cap):
    deps.settings = dataclasses.replace(deps.settings, max_concurrent_batches=cap)
    return deps


@pytest.fixture(autouse=True)
def owners_datasets(deps):
    """Each owner's dataset, in their own folder datasets/{owner}/."""
    for owner in ("ana", "bob", "cyd", *(f"user{u}" for u in range(4))):
        deps.blobs.write_bytes(f"gs://bkt/datasets/{owner}/d.csv", CSV)


def job(job_id, owner, n=6, max_parallel=5, **over):
    cands = [{"algorithm": "logistic_regression", "params": {"regParam": [i / 100 for i in range(n)]}}]
    over.setdefault("dataset", {"uri": f"gs://bkt/datasets/{owner}/d.csv", "format": "csv", "target": "y"})
    return job_message(spec_dict(job_id=job_id, owner=owner, candidates=cands, max_parallel=max_parallel, **over),
                       message_id=job_id)


def running(deps, job_id=None):
    return [t for t in deps.repo.active_trials() if job_id is None or t.job_id == job_id]


def test_global_cap_holds_across_jobs(deps):
    with_cap(deps, 3)
    submit(job("job-a", "ana"), deps)
    submit(job("job-b", "bob"), deps)
    assert len(running(deps)) == 3 and len(deps.launcher.running) == 3
    assert len(deps.repo.capacity_holders()) == 3


def test_a_freed_slot_goes_to_the_user_with_fewest_running(deps):
    with_cap(deps, 3)
    submit(job("job-a", "ana"), deps)
    submit(job("job-a2", "ana"), deps)
    submit(job("job-b", "bob"), deps)
    assert len(running(deps, "job-a")) == 3 and running(deps, "job-b") == []
    finish(deps, "job-a", running(deps, "job-a")[0].trial_id)
    assert len(running(deps, "job-b")) == 1  # bob had 0 running, ana 2
    finish(deps, "job-a", running(deps, "job-a")[0].trial_id)
    # ana 1 running, bob 1: a tie, so the oldest job (ana's job-a) gets the slot
    assert len(running(deps, "job-b")) == 1 and len(running(deps, "job-a")) == 2
    finish(deps, "job-b", running(deps, "job-b")[0].trial_id)
    # ana 2, bob 0: bob's job gets it back
    assert len(running(deps, "job-b")) == 1 and len(running(deps)) == 3


def test_fifo_between_equal_users(deps):
    with_cap(deps, 2)
    submit(job("job-a", "ana", max_parallel=1), deps)
    submit(job("job-b", "bob", max_parallel=1), deps)
    submit(job("job-c", "cyd", max_parallel=1), deps)
    assert {t.job_id for t in running(deps)} == {"job-a", "job-b"}
    finish(deps, "job-a", running(deps, "job-a")[0].trial_id)
    # ana and cyd both have 0 running: first come, first served -> ana's older job
    assert {t.job_id for t in running(deps)} == {"job-a", "job-b"}
    submit(job("job-d", "bob", max_parallel=1), deps)
    finish(deps, "job-a", running(deps, "job-a")[0].trial_id)
    assert {t.job_id for t in running(deps)} == {"job-a", "job-b"}  # bob (1 running) never jumps ahead


def test_deadline_stops_the_search_and_registers_the_best_so_far(deps):
    submit(job("job-d", "ana", n=4, max_parallel=2, budget={"deadline_minutes": 30}), deps)
    finish(deps, "job-d", "t0000", auc=0.8)
    deps.clock.t += timedelta(minutes=31)
    edge.reconcile(deps)
    # the search is over: the other trials are cancelled, their batches too; the winner is finalised
    assert {t.trial_id: t.state for t in training_trials(deps, "job-d")} == {
        "t0000": TrialState.SUCCEEDED, "t0001": TrialState.CANCELLED, "t0002": TrialState.CANCELLED,
        "t0003": TrialState.CANCELLED}
    fin = deps.repo.get_trial("job-d", FINALIZE)
    assert fin.state is TrialState.RUNNING and fin.params["manifest"]["trial_id"] == "t0000"
    assert deps.launcher.running == [fin.batch_id]
    assert deps.repo.get_job("job-d").state is JobState.RUNNING
    edge.reconcile(deps)  # a replayed tick changes nothing
    assert deps.repo.get_trial("job-d", FINALIZE).attempt == 1
    finish_stage(deps, "job-d", FINALIZE, times=2)
    j = deps.repo.get_job("job-d")
    assert j.state is JobState.BUDGET_EXHAUSTED and j.conditions[-1].reason == "BudgetExhausted"
    assert "deadline of 30 minutes reached after 1 trials" in j.conditions[-1].message
    assert j.best_trial_id == "t0000" and j.best_objective == 0.8 and j.model_version == 1
    assert [v["trial_id"] for v in deps.repo.model_versions("job-d")] == ["t0000"]
    assert deps.launcher.running == []
    assert deps.repo.capacity_holders() == {} and deps.repo.slot_holders("job-d") == {}


def test_deadline_before_any_success_ends_the_job_without_a_model(deps):
    submit(job("job-n", "ana", n=3, max_parallel=2, budget={"deadline_minutes": 30}), deps)
    finish(deps, "job-n", "t0000", status="FAILED")
    deps.clock.t += timedelta(minutes=31)
    edge.reconcile(deps)
    j = deps.repo.get_job("job-n")
    assert j.state is JobState.BUDGET_EXHAUSTED and j.model_version is None and j.best_trial_id is None
    assert deps.repo.get_trial("job-n", FINALIZE) is None and deps.launcher.running == []


def test_core_hour_budget_stops_launching(deps):
    # 12 cores x 1 h = 12 core-hours per trial-hour; budget 6 core-hours = 30 trial-minutes
    submit(job("job-e", "ana", n=4, max_parallel=1, budget={"max_core_hours": 6}), deps)
    deps.clock.t += timedelta(minutes=31)
    finish(deps, "job-e", "t0000", auc=0.7)  # the finalisation of the best so far runs and ends too
    j = deps.repo.get_job("job-e")
    assert j.state is JobState.BUDGET_EXHAUSTED and "core-hours" in j.conditions[-1].message
    assert j.best_trial_id == "t0000" and j.model_version == 1 and len(train_batches(deps)) == 1


def test_many_concurrent_completions_keep_the_cap_and_run_every_trial_once(deps):
    cap = 5
    with_cap(deps, cap)
    peak = {"value": 0}
    lock = threading.Lock()
    original_create = deps.launcher.create

    def create(request):
        original_create(request)
        with lock:
            peak["value"] = max(peak["value"], len(deps.launcher.running))

    deps.launcher.create = create
    jobs = [(f"job-{u}-{k}", f"user{u}") for u in range(4) for k in range(2)]
    for job_id, owner in jobs:
        submit(job(job_id, owner, n=5, max_parallel=3), deps)
    rng = random.Random(3)
    with ThreadPoolExecutor(max_workers=6) as pool:
        for _ in range(200):
            active = [t for t in deps.repo.active_trials() if t.state is TrialState.RUNNING]
            if not active:
                break
            batch = rng.sample(active, min(len(active), 4))
            list(pool.map(lambda t: finish(deps, t.job_id, t.trial_id, auc=rng.random(), deliver_twice=True), batch))
    assert peak["value"] <= cap
    assert all(deps.repo.get_job(j).state is JobState.SUCCEEDED for j, _ in jobs)
    assert len(train_batches(deps)) == 40  # each trial exactly once
    assert len(deps.launcher.batches) == 40 + 2 * len(jobs) <= deps.launcher.create_calls  # + prepare, finalize
    # (a handler resuming another's in-flight launch may call create again: the API refuses the duplicate)
    assert all(t.attempt == 1 for j, _ in jobs for t in training_trials(deps, j))


def test_bayesian_job_asks_for_a_trial_whenever_a_slot_frees(deps):
    spec = spec_dict(job_id="job-tpe", max_parallel=2,
                     search={"strategy": "bayesian", "max_trials": 6, "n_startup_trials": 3},
                     candidates=[{"algorithm": "logistic_regression",
                                  "params": {"regParam": {"type": "float", "low": 0.0001, "high": 1.0, "log": True}}},
                                 {"algorithm": "random_forest_classifier",
                                  "params": {"numTrees": {"type": "int", "low": 5, "high": 50}}}])
    submit(job_message(spec, "tpe"), deps)
    assert [t.trial_id for t in running(deps, "job-tpe")] == ["t0000", "t0001"]
    for step in range(6):
        current = sorted(running(deps, "job-tpe"), key=lambda t: t.index)
        finish(deps, "job-tpe", current[0].trial_id, auc=0.5 + step / 20, deliver_twice=True)
    trials = training_trials(deps, "job-tpe")
    assert len(trials) == 6 and all(t.state is TrialState.SUCCEEDED for t in trials)
    assert deps.repo.get_job("job-tpe").state is JobState.SUCCEEDED
    assert len({json.dumps(t.params, sort_keys=True) + t.algorithm for t in trials}) == 6
