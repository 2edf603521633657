"""The deadline's reserve counts the batch start-up measured where the job runs (startup_reserve.py), on plain
data: trial records as the control plane keeps them, history observations, a job's plan."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.unit.conftest import spec_dict
from zygarde.domain import budgets, startup_reserve
from zygarde.domain.model import Job, JobState, Trial, TrialState
from zygarde.domain.perf_records import STARTUP, Observation, TrialShape
from zygarde.domain.spec import parse_job_spec

T0 = datetime(2026, 12, 7, 14, 0, tzinfo=UTC)


def ran(index: int, batch: str, start: float, end: float, fit: float, handoff: int | None = None) -> Trial:
    """A trial that succeeded in `batch`, created `start` s after T0, its result in at `end`, its fit `fit` s."""
    return Trial("job-1", f"t{index:04d}", index, "random_forest_classifier", {"numTrees": 20},
                 state=TrialState.SUCCEEDED, attempt=1, batch_id=batch, metrics={"train_seconds": fit, "areaUnderROC": 0.8},
                 objective=0.8, started_at=(T0 + timedelta(seconds=start)).isoformat(),
                 finished_at=(T0 + timedelta(seconds=end)).isoformat(), handoff=handoff)


def test_a_batchs_start_up_is_its_creation_to_its_first_result_less_that_fit():
    trials = [
        ran(0, "b-1", 0, 95, 30), ran(1, "b-1", 0, 130, 40),  # one pack, two trials at once: the first result counts
        ran(2, "b-2", 200, 282, 12, handoff=0),  # a batch created to take handoffs
        ran(3, "b-2", 282, 300, 15, handoff=1),  # handed to it warm: no start-up
        Trial("job-1", "t0004", 4, "logistic_regression", {}, state=TrialState.WAITING),
    ]
    assert startup_reserve.measured(trials) == [65.0, 70.0]


def test_the_reserve_is_a_high_quantile_of_the_newest_start_ups_and_the_configured_one_before_enough():
    fits = [Observation.of_fit(TrialShape("logistic_regression", {}, 1000, 5), 3.0)] * 20
    few = [Observation(STARTUP, s) for s in (21, 19, 24, 22)]
    assert startup_reserve.reserve(fits + few, configured=60.0) == 60.0
    ten = few + [Observation(STARTUP, s) for s in (18, 20, 23, 35, 21, 20)]
    assert startup_reserve.reserve(fits + ten, configured=60.0) == 24.0  # 9th of 10 sorted
    old_slow = [Observation(STARTUP, 300.0)] * 40
    assert startup_reserve.reserve(old_slow + ten * 5, configured=60.0) == 24.0  # the newest 50 only


def job_with(plan: dict | None, minutes: float = 10) -> tuple[Job, object]:
    raw = spec_dict(budget={"deadline_minutes": minutes})
    return Job("job-1", "ana@example.com", JobState.RUNNING, raw, T0.isoformat(), plan=plan), parse_job_spec(raw)


@pytest.mark.parametrize("plan", [None, {}, {"startup_seconds": None}, {"startup_seconds": -1}])
def test_without_a_measured_start_up_the_deadline_keeps_the_configured_one(plan):
    job, spec = job_with(plan)
    # 10 minutes: the search stops 60 + 45 s before it
    assert budgets.deadline_problem(job, spec, T0 + timedelta(seconds=494), 60.0) is None
    assert "near" in budgets.deadline_problem(job, spec, T0 + timedelta(seconds=496), 60.0)


def test_a_plans_measured_start_up_sets_the_deadlines_reserve():
    job, spec = job_with({"startup_seconds": 20.0})
    # the installation's batches start in 20 s: the search runs until 20 + 45 s before the deadline
    assert budgets.deadline_problem(job, spec, T0 + timedelta(seconds=530), 60.0) is None
    assert "near" in budgets.deadline_problem(job, spec, T0 + timedelta(seconds=536), 60.0)
    slow, spec = job_with({"startup_seconds": 150.0})
    assert "near" in budgets.deadline_problem(slow, spec, T0 + timedelta(seconds=420), 60.0)
