"""ReplanJob: when a plan-sized job's finished trials show the performance model was wrong (their fits'
median actual / predicted seconds beyond planner.DRIFT either way, over at least two fits), the job is
planned again for what is left (planner.replan: the model calibrated on the job's own fits, the time to
the deadline and the dollars to max_cost_usd that are left, its running batches kept warm), from the
data's real rows once the preparation has counted them. The new plan is stored on the job with a
Replanned condition; the batches created from then on follow it. When no plan fits what is left, the
old plan stays and a PlanInfeasible condition says so, once.

A replan is guarded by the plan's revision (a redelivery, or two results handled at once, replan once),
and a replan needs NEW_FITS fits finished since the last plan: a repeat on the same evidence does nothing.
The calibration is the base model's on all the job's fits (planner.replan's shrinkage toward the model by
their number), so it does not compound from one replan to the next."""
from __future__ import annotations

import dataclasses
from datetime import datetime

from zygarde.domain import budgets
from zygarde.domain import planner as pl
from zygarde.domain.messages import Message, ReplanJob
from zygarde.domain.model import PREPARE, TRAIN, Condition, Job, JobState, Trial, TrialState
from zygarde.domain.perf_records import Observation, TrialShape, cost_params
from zygarde.domain.plan_timeline import BatchSize
from zygarde.domain.reasons import Reason
from zygarde.service_layer import job_plans
from zygarde.service_layer.deps import Deps, log
from zygarde.service_layer.job_specs import job_spec

SCORED = (TrialState.SUCCEEDED, TrialState.PAUSED, TrialState.PRUNED)
NEW_FITS = 2  # finished fits since the last plan that a replan needs (the first needs two, as planner.should_replan)


def _times(ratio: float) -> str:
    return f"{ratio:.1f}" if ratio < 10 else f"{ratio:.0f}"


def replan_job(cmd: ReplanJob, deps: Deps) -> list[Message]:
    job = deps.repo.get_job(cmd.job_id)
    plan = job.plan if job is not None else None
    if job is None or job.state is not JobState.RUNNING or not plan or not plan.get("sized") or plan.get("infeasible"):
        return []
    trials = deps.repo.list_trials(job.job_id)
    train = sorted((t for t in trials if t.kind == TRAIN), key=lambda t: t.index)
    prepare = next((t for t in trials if t.kind == PREPARE), None)
    timed = [t for t in train if t.state in SCORED and _seconds(t) is not None]
    if len(timed) < int(plan.get("fits_seen") or 0) + NEW_FITS:  # nothing new to learn from (most results)
        return []
    current = _current(deps, job, train, prepare)
    fits = [_observed(t, current) for t in timed]
    if not pl.should_replan(current, fits):
        return []
    drift = pl.drift(current, fits)
    current = dataclasses.replace(current, model=job_plans.model(deps))  # calibrated on the evidence alone
    now = deps.clock()
    elapsed = (now - datetime.fromisoformat(plan["started_at"])).total_seconds()
    done = {i for i, t in enumerate(train) if t.state.is_finished()} if train else None
    spent = budgets.spent_dollars(job, job_spec(job), trials, now)
    try:
        new = pl.replan(current, fits, elapsed, done=done, spent_usd=spent)
    except pl.Infeasible as exc:
        return _record(deps, job, plan, None, f"finished trials ran {_times(drift)}x the predicted time and no plan "
                       f"fits what is left of the job's limits: {exc}")
    except ValueError as exc:  # every trial done: nothing left to plan
        log.info("no replan job_id=%s reason=%s", job.job_id, exc)
        return []
    stored = job_plans.stored(new, now.isoformat(), plan.get("fixed_parallel", False))
    stored.update(rows=current.workload.rows, rows_estimated=plan.get("rows_estimated"), revision=plan["revision"] + 1,
                  fits_seen=len(fits), startup_seconds=plan.get("startup_seconds"))
    message = (f"finished trials ran {_times(drift)}x the predicted time: plan for the "
               f"{len(new.workload.trials)} trials left now {stored['summary']} (was {plan['summary']})")
    return _record(deps, job, plan, stored, message)


def _record(deps: Deps, job: Job, plan: dict, new: dict | None, message: str) -> list[Message]:
    """Store the new plan (or, for none, the old one marked infeasible) if the plan is still `plan`."""
    def change(j: Job) -> Job | None:
        if j.plan is None or j.plan.get("revision") != plan.get("revision") or j.plan.get("infeasible"):
            return None
        if new is None:
            reason, stored = Reason.PLAN_INFEASIBLE, {**j.plan, "infeasible": message}
        else:
            reason, stored = Reason.REPLANNED, new
        return dataclasses.replace(j, plan=stored,
                                   conditions=j.conditions + (Condition("RUNNING", reason, message, deps.now()),))

    if deps.repo.update_job(job.job_id, change) is not None:
        log.info("job replanned job_id=%s feasible=%s", job.job_id, new is not None)
    return []


def _current(deps: Deps, job: Job, train: list[Trial], prepare: Trial | None) -> pl.Plan:
    """The stored plan as a planner.Plan, on the data's real rows once the preparation counted them."""
    plan, spec = job.plan, job_spec(job)
    rows = sum(int(v) for v in ((prepare.outputs.get("rows") if prepare else None) or {}).values()) or plan["rows"]
    shape = job_plans.DataShape(max(1, rows), int(plan.get("columns") or job_plans.DEFAULT_COLUMNS), False)
    work, _ = job_plans.workload(spec, train, shape)
    capacity = pl.Capacity(max_batches=int(plan["max_batches"]), price_per_dcu_hour=plan["price_per_dcu_hour"],
                           max_concurrency=plan.get("max_concurrency"))
    model = job_plans.model(deps).scaled(float(plan.get("fit_scale") or 1.0))
    exact = plan["exact"]
    return pl.Plan(plan["batches"], BatchSize(plan["executors"], plan["executor_cores"], plan["driver_cores"]),
                   plan["concurrency"], plan["trials"], exact["search_seconds"], exact["predicted_seconds"],
                   exact["predicted_dcu_hours"], exact["predicted_dollars"], plan["price_per_dcu_hour"],
                   plan.get("deadline_seconds"), plan.get("max_cost_usd"), work, model, capacity)


def _seconds(t: Trial) -> float | None:
    seconds = t.metrics.get("train_seconds")
    return float(seconds) if isinstance(seconds, (int, float)) and seconds > 0 else None


def _observed(t: Trial, plan: pl.Plan) -> Observation:
    """A finished trial's fit as the model sees it: the workload's shape at the cores it had."""
    seconds = _seconds(t)
    like = plan.workload.trials[0]
    cores = plan.size.task_cores / plan.concurrency
    shape = TrialShape(t.algorithm, cost_params(t.params), like.rows, like.features, cores, t.train_fraction)
    return Observation.of_fit(shape, float(seconds))
