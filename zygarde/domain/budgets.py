"""A job's budgets and what its batches cost. Pure.

A deadline stops the search a batch's start-up (the installation's measured one: startup_reserve.py) plus
FINALIZE_WORK_SECONDS before it (5 % of it if more),
so that the best model is still registered in time. A core-hour budget counts the time of every batch
the job has run, once per batch (a pack's trials share theirs): every attempt and every rung, from the
trials' recorded runs, plus the batches running now.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from zygarde.domain import startup_reserve

if TYPE_CHECKING:
    from zygarde.domain.model import Job, Trial
    from zygarde.domain.spec import JobSpec

# A finalisation's own work (test scoring, export, package) in a new batch, beyond the batch's start-up,
# with the cancelled batches still winding down (61 s in all on the 2-core local cloud).
FINALIZE_WORK_SECONDS = 45.0
MIN_DCU = 12  # Dataproc Serverless bills a batch at least this many DCUs
PRICE_PER_DCU_HOUR = 0.06  # USD, standard tier (plan_timeline's figure), when the job's plan has none


def deadline_problem(job: "Job", spec: "JobSpec", now: datetime, startup_seconds: float) -> str | None:
    """Why the job's search must stop for its deadline now, or None. The reserve counts the batch start-up
    measured where the job runs, as its plan recorded it (startup_reserve.py); `startup_seconds`, the
    configured one, when the plan has none."""
    budget = spec.budget
    startup_seconds = startup_reserve.reserve_of(job.plan, startup_seconds)
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


def deadline_at(job: "Job") -> datetime | None:
    """When the job's deadline falls (its submission plus budget.deadline_minutes), or None without one."""
    minutes = ((job.spec or {}).get("budget") or {}).get("deadline_minutes")
    if not isinstance(minutes, (int, float)) or isinstance(minutes, bool) or minutes <= 0:
        return None
    try:
        return datetime.fromisoformat(job.created_at) + timedelta(minutes=float(minutes))
    except (TypeError, ValueError):
        return None


def clock_time(at: datetime, since: datetime | None = None) -> str:
    """"14:30 UTC"; with the date ("2026-12-08 14:30 UTC") when it is not the day of `since`."""
    at = at.astimezone(timezone.utc) if at.tzinfo else at.replace(tzinfo=timezone.utc)
    day = since is not None and (since.astimezone(timezone.utc) if since.tzinfo else since).date() != at.date()
    return at.strftime("%Y-%m-%d %H:%M UTC" if day else "%H:%M UTC")


def deadline_clock(job: "Job") -> str | None:
    """The job's deadline as the user reads it ("14:30 UTC"), or None without one."""
    at = deadline_at(job)
    return None if at is None else clock_time(at, datetime.fromisoformat(job.created_at))


def deadline_stop(job: "Job", train: Iterable["Trial"], problem: str) -> str:
    """What a trial stopped for the job's deadline says: "stopped at the deadline 14:30 UTC, 12 trials had
    finished (deadline of 30 minutes near ...)"."""
    done = sum(1 for t in train if t.state.is_finished() or t.rung_scores)  # a rung's score counts: it ran
    return (f"stopped at the deadline {deadline_clock(job)}, {done} trial{'s' * (done != 1)} had finished "
            f"({problem})")


def core_hours_problem(spec: "JobSpec", trials: Iterable["Trial"], now: datetime) -> str | None:
    """Why the job's search must stop for its core-hour budget, or None (`trials`: all of the job's)."""
    budget = spec.budget
    if budget.max_core_hours is None:
        return None
    core_hours = budget.cores_per_trial * sum(batch_runtimes(trials, now)) / 3600
    if core_hours >= budget.max_core_hours:
        return f"{core_hours:.3g} of {budget.max_core_hours:g} core-hours used"
    return None


def batch_dcu(job: "Job", spec: "JobSpec") -> int:
    """DCUs of one of the job's batches: the size its plan chose, else budget.cores_per_trial."""
    plan = job.plan or {}
    if plan.get("sized") and plan.get("executors"):
        cores = int(plan["executors"]) * int(plan["executor_cores"]) + int(plan["driver_cores"])
        return max(MIN_DCU, cores)
    return spec.budget.cores_per_trial


def spent_dollars(job: "Job", spec: "JobSpec", trials: Iterable["Trial"], now: datetime,
                  price_per_dcu_hour: float | None = None) -> float:
    """What the job's batches have cost so far (each billed at least a minute, at batch_dcu)."""
    price = price_per_dcu_hour or float((job.plan or {}).get("price_per_dcu_hour") or PRICE_PER_DCU_HOUR)
    dcu = batch_dcu(job, spec)
    return sum(billed_dcu_seconds(r, dcu) for r in batch_runtimes(trials, now)) / 3600 * price


def cost_problem(job: "Job", spec: "JobSpec", trials: Iterable["Trial"], now: datetime) -> str | None:
    """Why the job must launch no more trials for budget.max_cost_usd, or None (`trials`: all of the job's)."""
    cap = spec.budget.max_cost_usd
    if cap is None:
        return None
    spent = spent_dollars(job, spec, trials, now)
    if spent >= cap:
        return f"max_cost_usd reached: its batches have cost about ${spent:.2f} of ${cap:g}"
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
