"""A job's budgets and what its batches cost. Pure.

A deadline stops the search a batch's start-up plus FINALIZE_WORK_SECONDS before it (5 % of it if more),
so that the best model is still registered in time. A core-hour budget counts the time of every batch
the job has run, once per batch (a pack's trials share theirs): every attempt and every rung, from the
trials' recorded runs, plus the batches running now.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zygarde.domain.model import Job, Trial
    from zygarde.domain.spec import JobSpec

# A finalisation's own work (test scoring, export, package) in a new batch, beyond the batch's start-up,
# with the cancelled batches still winding down (61 s in all on the 2-core local cloud).
FINALIZE_WORK_SECONDS = 45.0


def deadline_problem(job: "Job", spec: "JobSpec", now: datetime, startup_seconds: float) -> str | None:
    """Why the job's search must stop for its deadline now, or None."""
    budget = spec.budget
    search_seconds = budget.search_seconds(startup_seconds + FINALIZE_WORK_SECONDS)
    if search_seconds is None:
        return None
    elapsed = (now - datetime.fromisoformat(job.created_at)).total_seconds()
    deadline = budget.deadline_minutes * 60
    if elapsed >= deadline:
        return f"deadline of {budget.deadline_minutes:g} minutes reached"
    if elapsed >= search_seconds:
        return f"deadline of {budget.deadline_minutes:g} minutes near ({deadline - elapsed:.0f} s left, kept to register the model)"
    return None


def core_hours_problem(spec: "JobSpec", trials: Iterable["Trial"], now: datetime) -> str | None:
    """Why the job's search must stop for its core-hour budget, or None (`trials`: all of the job's)."""
    budget = spec.budget
    if budget.max_core_hours is None:
        return None
    core_hours = budget.cores_per_trial * sum(batch_runtimes(trials, now)) / 3600
    if core_hours >= budget.max_core_hours:
        return f"{core_hours:.3g} of {budget.max_core_hours:g} core-hours used"
    return None


def batch_runtimes(trials: Iterable["Trial"], now: datetime) -> list[float]:
    """Seconds each batch of these trials has run, every attempt and rung included: a batch counts once,
    from its first trial's start to its last trial's end (or now while one runs)."""
    spans: dict[str, tuple[datetime, datetime]] = {}

    def add(key: str, start: datetime, end: datetime) -> None:
        low, high = spans.get(key, (start, end))
        spans[key] = (min(low, start), max(high, end))

    for t in trials:
        for run in t.runs:
            add(run.batch_id or f"{t.job_id}/{t.trial_id}", datetime.fromisoformat(run.started_at),
                datetime.fromisoformat(run.finished_at))
        if t.started_at and (t.state.is_active() or not t.runs or t.runs[-1].started_at != t.started_at):
            end = datetime.fromisoformat(t.finished_at) if t.finished_at else now
            add(t.batch_id or f"{t.job_id}/{t.trial_id}#{t.attempt}", datetime.fromisoformat(t.started_at), end)
    return [max(0.0, (end - start).total_seconds()) for start, end in spans.values()]


def billed_dcu_seconds(runtime_seconds: float, dcu: float, minimum_seconds: float = 60.0) -> float:
    """What Dataproc Serverless bills for one batch: its runtime at its DCU, at least one minute."""
    return max(runtime_seconds, minimum_seconds) * dcu
