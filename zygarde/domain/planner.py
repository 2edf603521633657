"""The cheapest plan that meets the deadline (opt_ic's idea, on the performance model). Pure.

For a job's trials, its data and its limits (a deadline, a dollar cap), the planner searches the
batch sizes Dataproc Serverless allows, how many batches run at once (up to the capacity the job
may use) and how many trials each fits at a time; it predicts each choice's timeline and bill
(domain/plan_timeline.py) and keeps the one with the fewest DCU-hours whose predicted end is within
the deadline and whose bill is within the cap. When not every trial can fit, it runs the most
trials that can (never fewer than the workload's min_trials); when none can, it says why in one
sentence (Infeasible). `replan` does it again mid-job, from what the finished trials showed.

Every time in a Plan counts from the plan's start (the job's submission; for a replan, the replan).
The search space is small and enumerated: 3 executor sizes x 12 executor counts x 8 concurrencies x
up to max_batches batches, each a timeline of the trials (a heap, longest first).
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from zygarde.domain import plan_timeline as tl
from zygarde.domain.perf_model import PRIOR_WEIGHT
from zygarde.domain.perf_records import FIT, PREPARE, Observation, TrialShape
from zygarde.domain.plan_timeline import DEFAULT_SIZE, BatchSize, TimingModel

EXECUTOR_COUNTS = (2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32)
CONCURRENCIES = (1, 2, 3, 4, 6, 8, 12, 16)
NAIVE_CONCURRENCY = 3  # Settings.pack_concurrency's default
DRIFT = 1.25  # finished trials this far off the prediction (either way) call for a replan


class Infeasible(ValueError):
    """No plan meets the limits; the message is one sentence saying what to raise."""


@dataclass(frozen=True)
class Workload:
    """What a job has to run: its trials (in the search's order; each shape's cores are the
    planner's to set), its data (rows x columns, for the preparation and the finalisation)."""

    trials: tuple[TrialShape, ...]
    rows: int
    columns: int
    min_trials: int | None = None  # the fewest trials the search may run; None: all of them
    prepared: bool = False  # the preparation has run (a replan)

    def __post_init__(self) -> None:
        object.__setattr__(self, "trials", tuple(self.trials))
        if not self.trials:
            raise ValueError("a workload has at least one trial")
        if self.rows < 1 or self.columns < 1:
            raise ValueError("a workload's data has at least one row and one column")
        if self.min_trials is not None and not 1 <= self.min_trials <= len(self.trials):
            raise ValueError(f"min_trials must be between 1 and {len(self.trials)}, got {self.min_trials}")

    @property
    def fewest(self) -> int:
        return len(self.trials) if self.min_trials is None else self.min_trials


@dataclass(frozen=True)
class Capacity:
    """What the job may use and what it costs."""

    max_batches: int = 4  # batches at once: the capacity cap's free slots, the owner's fair share, max_parallel
    max_cores: int | None = None  # cores at once over all the job's batches (drivers included), e.g. a quota
    max_executors: int = 32
    price_per_dcu_hour: float = tl.PRICE_PER_DCU_HOUR
    warm: int = 0  # batches of the job already running (a replan)
    warm_size: BatchSize | None = None
    max_concurrency: int | None = None  # trials a batch may fit at once (1: a job that does not pack)

    def __post_init__(self) -> None:
        if self.max_concurrency is not None and self.max_concurrency < 1:
            raise ValueError("capacity needs at least one trial at a time")
        if self.max_batches < 1 or self.max_executors < 2 or self.price_per_dcu_hour <= 0:
            raise ValueError("capacity needs at least one batch, two executors and a positive price")


@dataclass(frozen=True)
class Plan:
    """The chosen configuration and its predicted figures. Checks its own invariants."""

    batches: int
    size: BatchSize
    concurrency: int  # trials a batch fits at once
    trials: int  # the search's trial budget
    search_seconds: float  # predicted end of the last trial, from the plan's start
    predicted_seconds: float  # predicted end of the job (finalisation included)
    predicted_dcu_hours: float
    predicted_dollars: float
    price_per_dcu_hour: float = tl.PRICE_PER_DCU_HOUR
    deadline_seconds: float | None = None
    max_cost_usd: float | None = None
    workload: Workload | None = field(default=None, compare=False, repr=False)
    model: TimingModel | None = field(default=None, compare=False, repr=False)
    capacity: Capacity | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        problems = []
        if self.batches < 1 or self.concurrency < 1 or self.trials < 1:
            problems.append("batches, concurrency and trials are at least 1")
        if not 0 < self.search_seconds <= self.predicted_seconds:
            problems.append("the search ends after the start and before the job")
        floor = self.batches * tl.MIN_DCU * tl.MIN_BILLED_SECONDS / 3600
        if self.predicted_dcu_hours < floor - 1e-9:
            problems.append(f"{self.batches} batches bill at least {floor:.4f} DCU-hours")
        if not math.isclose(self.predicted_dollars, self.predicted_dcu_hours * self.price_per_dcu_hour, rel_tol=1e-9):
            problems.append("dollars are DCU-hours at the price")
        if self.deadline_seconds is not None and self.predicted_seconds > self.deadline_seconds + 1e-6:
            problems.append("the predicted end is past the deadline")
        if self.max_cost_usd is not None and self.predicted_dollars > self.max_cost_usd + 1e-9:
            problems.append("the predicted bill is over max_cost_usd")
        if problems:
            raise ValueError("invalid plan: " + "; ".join(problems))

    @property
    def executors(self) -> int:
        return self.size.executors

    @property
    def executor_cores(self) -> int:
        return self.size.executor_cores

    @property
    def driver_cores(self) -> int:
        return self.size.driver_cores

    def batch_properties(self) -> dict[str, str]:
        return self.size.properties()

    def summary(self) -> str:
        """What the user reads: "about 12 minutes, about 0.48 DCU-hours, about $0.03"."""
        return (f"about {tl.minutes(self.predicted_seconds)} minutes, about {self.predicted_dcu_hours:.2f} DCU-hours, "
                f"about ${self.predicted_dollars:.2f}")

    def to_dict(self) -> dict:
        """The figures `zygarde status --format json` shows as "plan"."""
        return {"predicted_seconds": round(self.predicted_seconds, 1),
                "predicted_dcu_hours": round(self.predicted_dcu_hours, 4),
                "predicted_dollars": round(self.predicted_dollars, 4), "batches": self.batches,
                "executors": self.executors, "executor_cores": self.executor_cores,
                "driver_cores": self.driver_cores, "concurrency": self.concurrency, "trials": self.trials,
                "search_seconds": round(self.search_seconds, 1)}


@dataclass(frozen=True)
class _Choice:
    size: BatchSize
    batches: int
    concurrency: int
    timeline: tl.Timeline


def sizes(capacity: Capacity) -> list[BatchSize]:
    """Every batch size the search considers (4-core driver; executors of 4, 8 or 16 cores)."""
    out = [BatchSize(n, c) for c in tl.VALID_CORES for n in EXECUTOR_COUNTS if n <= capacity.max_executors]
    return [s for s in out if capacity.max_cores is None or s.dcu <= capacity.max_cores]


def _key(c: _Choice) -> tuple:
    """Fewest DCU-seconds, then the earliest end, then the smallest footprint."""
    return (round(c.timeline.dcu_seconds, 6), round(c.timeline.end_seconds, 6), c.batches, c.size, c.concurrency)


def _best(model: TimingModel, workload: Workload, n: int, capacity: Capacity, deadline: float | None,
          max_cost: float | None) -> tuple[_Choice | None, _Choice, _Choice]:
    """(the cheapest choice for the first n trials within the limits or None, the fastest choice,
    the cheapest choice). Sizes go smallest first; once a choice is within the limits, a choice
    whose bill cannot be lower (its trials' slot-seconds and finalisation at its DCU, or its
    billing minimum) is not simulated."""
    trials, durations = workload.trials[:n], {}
    best = fastest = cheapest = None
    for size in sorted(sizes(capacity), key=lambda s: (s.dcu, s)):
        stages = tl.Stages.of(model, workload.rows, workload.columns, size)
        warm = capacity.warm if size == capacity.warm_size else 0
        most_at_once = min(n, size.task_cores, capacity.max_concurrency or n)
        for q in (q for q in CONCURRENCIES if q <= most_at_once):
            fit_cores = size.task_cores / q
            if fit_cores not in durations:
                work = tl.trial_durations(model, trials, fit_cores)
                durations[fit_cores] = (work, sum(work))
            work, total = durations[fit_cores]
            floor = size.dcu * max(total / q + stages.finalize, tl.MIN_BILLED_SECONDS)
            if best is not None and floor > best[0][0]:
                continue
            most = min(capacity.max_batches, math.ceil(n / q))
            if capacity.max_cores is not None:
                most = min(most, capacity.max_cores // size.dcu)
            for b in range(1, most + 1):
                c = _Choice(size, b, q, tl.simulate(stages, work, size=size, batches=b, concurrency=q,
                                                    prepared=workload.prepared, warm=min(warm, b)))
                key = _key(c)
                if fastest is None or (c.timeline.end_seconds, key) < fastest[0]:
                    fastest = ((c.timeline.end_seconds, key), c)
                if cheapest is None or key < cheapest[0]:
                    cheapest = (key, c)
                cost = tl.dollars(c.timeline.dcu_seconds, capacity.price_per_dcu_hour)
                on_time = deadline is None or c.timeline.end_seconds <= deadline
                within = on_time and (max_cost is None or cost <= max_cost)
                if within and (best is None or key < best[0]):
                    best = (key, c)
    return best and best[1], fastest[1], cheapest[1]


def plan(model: TimingModel, workload: Workload, *, deadline_seconds: float | None = None,
         max_cost_usd: float | None = None, capacity: Capacity = Capacity()) -> Plan:
    """The cheapest plan running the most trials (all of them when they fit, at least min_trials)
    whose predicted end is within the deadline and bill within max_cost_usd. Raises Infeasible.
    With neither limit it is simply the cheapest plan (often one small batch: slow); a caller
    without limits may prefer naive_plan."""
    total, fewest = len(workload.trials), workload.fewest
    best, fastest, cheapest = _best(model, workload, total, capacity, deadline_seconds, max_cost_usd)
    n = total
    if best is None and fewest < total:
        low_best, low_fastest, low_cheapest = _best(model, workload, fewest, capacity, deadline_seconds, max_cost_usd)
        if low_best is None:
            best, fastest, cheapest, n = None, low_fastest, low_cheapest, fewest
        else:  # the most trials that fit: feasibility only gets easier with fewer trials
            lo, hi, best, n = fewest, total, low_best, fewest
            while hi - lo > 1:
                mid = (lo + hi) // 2
                found = _best(model, workload, mid, capacity, deadline_seconds, max_cost_usd)[0]
                lo, hi = (mid, hi) if found else (lo, mid)
                if found:
                    best, n = found, mid
    if best is None:
        raise Infeasible(_why(fastest, cheapest, n, deadline_seconds, max_cost_usd, capacity))
    return _plan(best, n, capacity, deadline_seconds, max_cost_usd, workload, model)


def _plan(c: _Choice, n: int, capacity: Capacity, deadline: float | None, max_cost: float | None,
          workload: Workload | None, model: TimingModel | None) -> Plan:
    hours = c.timeline.dcu_seconds / 3600
    used = len(c.timeline.batch_seconds)  # a batch the timeline gave no trial is never created
    return Plan(used, c.size, c.concurrency, n, c.timeline.search_seconds, c.timeline.end_seconds, hours,
                hours * capacity.price_per_dcu_hour, capacity.price_per_dcu_hour, deadline, max_cost,
                workload, model, capacity)


def _why(fastest: _Choice, cheapest: _Choice, n: int, deadline: float | None, max_cost: float | None,
         capacity: Capacity) -> str:
    trials = f"{n} trial{'s' if n != 1 else ''}"
    fast_end = fastest.timeline.end_seconds
    if deadline is not None and fast_end > deadline:
        return (f"the fastest plan for {trials} needs about {tl.minutes(fast_end)} minutes, more than the "
                f"{deadline / 60:g}-minute deadline: raise budget.deadline_minutes, or allow more batches at once")
    cheap = tl.dollars(cheapest.timeline.dcu_seconds, capacity.price_per_dcu_hour)
    if deadline is None or cheapest.timeline.end_seconds <= deadline:
        return (f"the cheapest plan for {trials} costs about ${_usd(cheap, max_cost)}, more than max_cost_usd ${max_cost:g}: "
                "raise budget.max_cost_usd")
    return (f"meeting the {deadline / 60:g}-minute deadline with {trials} costs more than max_cost_usd ${max_cost:g}: "
            f"raise budget.deadline_minutes or budget.max_cost_usd")


def _usd(dollars: float, cap: float | None) -> str:
    """Dollars to the cent, or to as many digits as tell them from the cap they exceed."""
    digits = 2
    while cap is not None and digits < 6 and round(dollars, digits) <= cap:
        digits += 1
    return f"{dollars:.{digits}f}"


def naive_plan(model: TimingModel, workload: Workload, capacity: Capacity = Capacity(),
               concurrency: int = NAIVE_CONCURRENCY, size: BatchSize = DEFAULT_SIZE) -> Plan:
    """Today's behaviour, for comparison: every trial, as many default-size batches as allowed."""
    n = len(workload.trials)
    durations = tl.trial_durations(model, workload.trials, size.task_cores / concurrency)
    batches = max(1, min(capacity.max_batches, math.ceil(n / concurrency)))
    timeline = tl.simulate(tl.Stages.of(model, workload.rows, workload.columns, size), durations, size=size,
                           batches=batches, concurrency=concurrency, prepared=workload.prepared)
    return _plan(_Choice(size, batches, concurrency, timeline), n, capacity, None, None, workload, model)


def drift(plan_: Plan, observations: Sequence[Observation]) -> float:
    """The job's finished fits' median actual / predicted seconds (1.0 with none)."""
    model = plan_.model
    ratios = sorted(o.seconds / model.predict(o.shape()) for o in observations if o.stage == FIT) if model else []
    if not ratios:
        return 1.0
    mid = len(ratios) // 2
    return ratios[mid] if len(ratios) % 2 else math.sqrt(ratios[mid - 1] * ratios[mid])


def should_replan(plan_: Plan, observations: Sequence[Observation]) -> bool:
    """True when at least two finished fits are, at the median, DRIFT off the prediction."""
    fits = [o for o in observations if o.stage == FIT]
    return len(fits) >= 2 and not 1 / DRIFT <= drift(plan_, fits) <= DRIFT


def replan(plan_: Plan, observations: Sequence[Observation], elapsed_seconds: float, *,
           done: Iterable[int] | None = None, spent_usd: float | None = None) -> Plan:
    """The plan for what is left, `elapsed_seconds` after `plan_` started: the model calibrated on
    the job's own observations (their median drift, weighed as perf_model weighs evidence), the
    workload's trials not `done` (indices into the workload; default: as many of the first as there
    are fit observations; the trial budget may grow again when trials ran faster than predicted),
    the remaining deadline and dollars (`spent_usd` defaults to the plan's batches billed for the
    elapsed time). Running batches of the plan's size continue warm; a trial still running counts
    as left, from the start. Raises Infeasible."""
    if plan_.workload is None or plan_.model is None or plan_.capacity is None:
        raise ValueError("replan needs a plan made by plan() or naive_plan()")
    fits = [o for o in observations if o.stage == FIT]
    finished = set(range(len(fits)) if done is None else done)
    left = tuple(t for i, t in enumerate(plan_.workload.trials) if i not in finished)
    if not left:
        raise ValueError("replan: every trial is done")
    weight = len(fits) / (len(fits) + PRIOR_WEIGHT)
    model = plan_.model.scaled(drift(plan_, fits) ** weight)
    old = plan_.workload
    prepared = old.prepared or bool(fits) or any(o.stage == PREPARE for o in observations)
    fewest = None if old.min_trials is None else max(1, min(len(left), old.min_trials - len(finished)))
    workload = Workload(left, old.rows, old.columns, fewest, prepared)
    if spent_usd is None:
        spent_usd = tl.dollars(elapsed_seconds * plan_.batches * plan_.size.dcu, plan_.price_per_dcu_hour)
    capacity = replace(plan_.capacity, warm=plan_.batches, warm_size=plan_.size)
    deadline = None if plan_.deadline_seconds is None else plan_.deadline_seconds - elapsed_seconds
    max_cost = None if plan_.max_cost_usd is None else plan_.max_cost_usd - spent_usd
    if (deadline is not None and deadline <= 0) or (max_cost is not None and max_cost <= 0):
        raise Infeasible("the job has used its deadline or max_cost_usd: it ends with its best trial so far")
    return plan(model, workload, deadline_seconds=deadline, max_cost_usd=max_cost, capacity=capacity)
