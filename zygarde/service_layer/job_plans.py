"""A job's plan, made when it is accepted: the performance model (the prior, refitted on the
installation's finished-trial history when there is one) and the planner (domain/planner.py) price
the job's trials on its data, and the plan is stored on the job (Job.plan).

- a job with budget.deadline_minutes or budget.max_cost_usd gets the planner's cheapest plan within
  them: how many batches at once, each batch's size (Dataproc Serverless properties) and how many
  trials the search is predicted to run. Its batches are created with that size.
- a job with neither gets today's configuration priced: max_parallel batches of the default size,
  settings.pack_concurrency trials each at a time (the runtime's own batch properties are kept).
- when no plan meets the limits the job is still accepted, priced and run as today's configuration, with
  a PlanInfeasible condition saying why: the deadline still stops the search with the best model so far,
  and max_cost_usd still stops launches when it is spent. A plan is a prediction (the prior is about 2x
  either way): not a reason to refuse a job.

The data's rows are not known before the preparation: they are estimated from the dataset's bytes
and columns (ESTIMATE_BYTES_PER_CELL), REFERENCE_ROWS when the size is unknown.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace
from typing import Any
from weakref import WeakKeyDictionary

from zygarde.config import Settings
from zygarde.domain import perf_model, perf_records, startup_reserve
from zygarde.domain import planner as pl
from zygarde.domain.errors import PermanentError
from zygarde.domain.model import TRAIN, Trial
from zygarde.domain.perf_prior import REFERENCE_ROWS
from zygarde.domain.perf_records import Observation, TrialShape
from zygarde.domain.plan_timeline import DEFAULT_SIZE, PRICE_PER_DCU_HOUR
from zygarde.domain.search import planned_trial_count
from zygarde.domain.spec import JobSpec
from zygarde.service_layer import datasets, perf_history
from zygarde.service_layer.deps import Deps, log

ESTIMATE_BYTES_PER_CELL = {"csv": 8.0, "json": 16.0, "parquet": 4.0, "libsvm": 10.0}
DEFAULT_COLUMNS = 10
MAX_PLANNED_TRIALS = 200  # a longer search is priced by its first 200 trials, scaled


def history(deps: Deps) -> list[Observation]:
    """The installation's finished-trial history (perf_history); [] when there is none."""
    return perf_history.history(deps)


# fitted once per process per bucket store and history (its objects never change)
_MODELS: WeakKeyDictionary[Any, dict[tuple, perf_model.PerfModel]] = WeakKeyDictionary()


def model(deps: Deps) -> perf_model.PerfModel:
    """The performance model: the prior refitted on the installation's history (the prior alone without one)."""
    startup = deps.settings.batch_startup_seconds
    uris = perf_history.newest(deps)
    if not uris:
        return perf_model.prior(startup)
    fitted, key = _MODELS.setdefault(deps.blobs, {}), (startup, uris)
    if key not in fitted:
        observed = perf_history.history(deps, uris)
        if len(fitted) > 16:
            fitted.clear()
        fitted[key] = perf_model.fit(observed, startup) if observed else perf_model.prior(startup)
    return fitted[key]


@dataclass(frozen=True)
class DataShape:
    rows: int
    columns: int
    estimated: bool  # rows from the bytes; False: unknown, REFERENCE_ROWS


def data_shape(deps: Deps, spec: JobSpec) -> DataShape:
    """The dataset's rows x columns before it is read: columns from its header, rows from its bytes."""
    columns = _columns(deps, spec)
    size = datasets.total_bytes(deps.blobs, spec.dataset.uri)
    if not size:
        return DataShape(REFERENCE_ROWS, columns, False)
    per_row = ESTIMATE_BYTES_PER_CELL.get(spec.dataset.format, 8.0) * columns
    return DataShape(max(1, round(size / per_row)), columns, True)


def _columns(deps: Deps, spec: JobSpec) -> int:
    if spec.data.include_columns:
        return len(spec.data.include_columns) + 1
    try:
        found = datasets.column_names(spec, deps.blobs)
    except (PermanentError, ValueError) as exc:
        log.warning("dataset columns unknown for the plan error=%s", str(exc)[:200])
        found = None
    return max(1, len(found) - len(spec.data.exclude_columns)) if found else DEFAULT_COLUMNS


def workload(spec: JobSpec, trials: list[Trial], shape: DataShape) -> tuple[pl.Workload, float]:
    """(the job's trials as the planner sees them, the factor a long search was scaled down by)."""
    train_rows = max(1, round(shape.rows * (1 - spec.data.test_fraction) * (1 - spec.validation_fraction)))
    features = max(1, shape.columns - (0 if spec.task == "clustering" else 1))
    points = [(t.algorithm, dict(t.params), t.train_fraction) for t in trials if t.kind == TRAIN]
    if not points:  # bayesian: trials are asked as the job runs; each candidate at its defaults
        points = [(c.algorithm, {}, 1.0) for c in spec.candidates]
    total = max(planned_trial_count(spec), len(points), 1)
    n = min(total, MAX_PLANNED_TRIALS)
    shapes = tuple(TrialShape(a, perf_records.cost_params(p), train_rows, features, train_fraction=f)
                   for a, p, f in itertools.islice(itertools.cycle(points), n))
    limited = spec.budget.deadline_minutes is not None or spec.budget.max_cost_usd is not None
    return pl.Workload(shapes, shape.rows, shape.columns, 1 if limited else None), total / n


def make_plan(deps: Deps, spec: JobSpec, trials: list[Trial], fixed_parallel: bool,
              started_at: str | None = None) -> dict[str, Any]:
    """The job's plan as stored on it (Job.plan). `fixed_parallel`: the user set max_parallel;
    `started_at`: when the job was accepted (what the plan's times count from)."""
    budget = spec.budget
    concurrency = max(1, deps.settings.pack_concurrency) if spec.packing != "off" else 1
    batches = spec.max_parallel if fixed_parallel else max(1, deps.settings.max_concurrent_batches)
    capacity = pl.Capacity(max_batches=batches, price_per_dcu_hour=PRICE_PER_DCU_HOUR,
                           max_concurrency=None if spec.packing != "off" else 1)
    timing = model(deps)
    shape = data_shape(deps, spec)
    work, scale = workload(spec, trials, shape)
    limited = budget.deadline_minutes is not None or budget.max_cost_usd is not None
    infeasible = None
    chosen = None
    if limited:
        try:
            chosen = pl.plan(timing, work, capacity=capacity, max_cost_usd=budget.max_cost_usd,
                             deadline_seconds=None if budget.deadline_minutes is None else budget.deadline_minutes * 60)
        except pl.Infeasible as exc:
            infeasible = str(exc)
    if chosen is None:
        naive_capacity = pl.Capacity(max_batches=spec.max_parallel, price_per_dcu_hour=PRICE_PER_DCU_HOUR)
        chosen = pl.naive_plan(timing, work, naive_capacity, concurrency=concurrency, size=DEFAULT_SIZE)
    out = stored(chosen, started_at or deps.now(), fixed_parallel)
    if not out["sized"] and scale != 1.0:  # priced on the first MAX_PLANNED_TRIALS: the rest as long again per trial
        for key in ("predicted_seconds", "predicted_dcu_hours", "predicted_dollars", "search_seconds"):
            out[key] = round(out[key] * scale, 4)
        out["trials"] = round(out["trials"] * scale)
        out["summary"] = summary(out)
    out.update(infeasible=infeasible, rows=shape.rows, rows_estimated=shape.estimated,
               startup_seconds=startup_reserve.reserve(history(deps), deps.settings.batch_startup_seconds))
    return out


def stored(chosen: pl.Plan, started_at: str, fixed_parallel: bool) -> dict[str, Any]:
    """A planner.Plan as a job stores it: its figures (Plan.to_dict), the line the user reads, and what
    a replan needs (plan_revision.py): its exact figures, limits, capacity and the model's calibration."""
    out = chosen.to_dict()
    sized = chosen.deadline_seconds is not None or chosen.max_cost_usd is not None
    capacity = chosen.capacity or pl.Capacity()
    out.update(summary=summary(out), sized=sized, fixed_parallel=fixed_parallel, infeasible=None,
               price_per_dcu_hour=chosen.price_per_dcu_hour, properties=chosen.batch_properties() if sized else {},
               started_at=started_at, deadline_seconds=chosen.deadline_seconds, max_cost_usd=chosen.max_cost_usd,
               max_batches=capacity.max_batches, max_concurrency=capacity.max_concurrency,
               fit_scale=getattr(chosen.model, "fit_scale", 1.0),
               columns=chosen.workload.columns if chosen.workload else DEFAULT_COLUMNS,
               exact={"search_seconds": chosen.search_seconds, "predicted_seconds": chosen.predicted_seconds,
                      "predicted_dcu_hours": chosen.predicted_dcu_hours, "predicted_dollars": chosen.predicted_dollars},
               revision=0, fits_seen=0)
    return out


def summary(plan: dict[str, Any]) -> str:
    """"about 12 minutes, about 0.48 DCU-hours, about $0.03" (planner.Plan.summary, of the stored figures)."""
    minutes = max(1, math.ceil(plan["predicted_seconds"] / 60))
    return (f"about {minutes} minute{'s' if minutes != 1 else ''}, about {plan['predicted_dcu_hours']:.2f} DCU-hours, "
            f"about ${plan['predicted_dollars']:.2f}")


def max_parallel(spec: JobSpec, plan: dict[str, Any] | None) -> int:
    """The job's batches at once: max_parallel when the user set it or the job has no sized plan,
    else the plan's batches."""
    if plan and plan.get("sized") and not plan.get("fixed_parallel"):
        return max(1, int(plan.get("batches") or spec.max_parallel))
    return spec.max_parallel


def batch_properties(plan: dict[str, Any] | None) -> dict[str, str]:
    """The Spark properties of the job's batches from its plan ({} without a sized plan)."""
    return dict((plan or {}).get("properties") or {})


def pack_concurrency(plan: dict[str, Any] | None, default: int) -> int:
    """Trials a batch of the job fits at once: the plan's when it sized the batches."""
    if plan and plan.get("sized"):
        return max(1, int(plan.get("concurrency") or default))
    return default


def job_settings(settings: Settings, plan: dict[str, Any] | None) -> Settings:
    """The settings a job's batches are asked with: its plan's trials at a time, when the plan sized them."""
    concurrency = pack_concurrency(plan, settings.pack_concurrency)
    return settings if concurrency == settings.pack_concurrency else replace(settings, pack_concurrency=concurrency)
