"""How a job runs on a given set of batches, predicted: its timeline and what Dataproc Serverless
bills for it. Pure; the planner (domain/planner.py) searches over these.

A batch is sized by Dataproc Serverless' properties: spark.driver.cores and spark.executor.cores
of 4, 8 or 16, and at least 2 executors (spark.executor.instances). Its DCUs are its cores (the
standard memory tier gives each core its 4 GB; other memory tiers are not modelled), at least
MIN_DCU; it is billed per second of its life, at least MIN_BILLED_SECONDS.

The timeline of a job with `batches` batches each fitting `concurrency` trials at a time:
- the first batch starts up, runs the preparation, reads the prepared parts and goes on with
  trials (a warm handoff: no second start-up); the others are created when the preparation ends
  and each pays the start-up and the read;
- trials are dealt longest first to whichever trial slot frees first (the pack planner's rule);
  a fit has its batch's executor cores / concurrency;
- the batch whose last trial ends last takes the finalisation (warm); every other batch ends
  with its last trial.
"""
from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from zygarde.domain.perf_records import FINALIZE, LOAD, PREPARE, TrialShape

VALID_CORES = (4, 8, 16)
MIN_EXECUTORS = 2
MIN_DCU = 12
MIN_BILLED_SECONDS = 60.0
PRICE_PER_DCU_HOUR = 0.06  # Dataproc Serverless standard tier, USD


class TimingModel(Protocol):
    """What the planner asks of a performance model (perf_model.PerfModel is one)."""

    startup: float

    def predict(self, shape: TrialShape) -> float: ...

    def trial_seconds(self, shape: TrialShape) -> float: ...

    def stage_seconds(self, stage: str, rows: float, columns: float, cores: float = 1.0) -> float: ...

    def scaled(self, factor: float) -> TimingModel: ...


@dataclass(frozen=True, order=True)
class BatchSize:
    """One batch's shape, as Dataproc Serverless batch properties."""

    executors: int = MIN_EXECUTORS
    executor_cores: int = 4
    driver_cores: int = 4

    def __post_init__(self) -> None:
        if self.executor_cores not in VALID_CORES or self.driver_cores not in VALID_CORES:
            raise ValueError(f"executor and driver cores must be one of {VALID_CORES}, got "
                             f"{self.executor_cores} and {self.driver_cores}")
        if self.executors < MIN_EXECUTORS:
            raise ValueError(f"a batch has at least {MIN_EXECUTORS} executors, got {self.executors}")

    @property
    def task_cores(self) -> int:
        return self.executors * self.executor_cores

    @property
    def dcu(self) -> int:
        return max(MIN_DCU, self.driver_cores + self.task_cores)

    def properties(self) -> dict[str, str]:
        """The batch's Spark properties (a fixed size: dynamic allocation off)."""
        return {"spark.dynamicAllocation.enabled": "false", "spark.executor.instances": str(self.executors),
                "spark.executor.cores": str(self.executor_cores), "spark.driver.cores": str(self.driver_cores)}


DEFAULT_SIZE = BatchSize()  # Dataproc Serverless' default: 4-core driver, 2 x 4-core executors (12 DCU)


def billed_dcu_seconds(seconds: float, dcu: int, minimum_seconds: float = MIN_BILLED_SECONDS) -> float:
    """What one batch of `dcu` DCUs living `seconds` is billed: per second, at least the minimum."""
    return max(seconds, minimum_seconds) * max(dcu, MIN_DCU)


@dataclass(frozen=True)
class Timeline:
    """A predicted run: when the search and the job end, each batch's life, the DCU-seconds billed."""

    search_seconds: float  # from the plan's start until the last trial ends
    end_seconds: float  # until the finalisation ends
    batch_seconds: tuple[float, ...]  # each batch's life (created to ended); batches given no trial are not created
    dcu_seconds: float  # billed


def trial_durations(model: TimingModel, trials: Sequence[TrialShape], fit_cores: float) -> list[float]:
    """Each trial's seconds in its batch (fit and evaluation) when its fit has `fit_cores`."""
    shapes = [t.with_cores(fit_cores) for t in trials]
    many = getattr(model, "trial_seconds_many", None)  # a vectorised model (perf_model.PerfModel)
    return [float(s) for s in many(shapes)] if many else [model.trial_seconds(s) for s in shapes]


@dataclass(frozen=True)
class Stages:
    """A job's fixed pieces on one batch size: start-up, preparation, read of the prepared parts, finalisation."""

    startup: float
    prepare: float
    load: float
    finalize: float

    @classmethod
    def of(cls, model: TimingModel, rows: int, columns: int, size: BatchSize) -> Stages:
        cores = size.task_cores
        return cls(model.startup, model.stage_seconds(PREPARE, rows, columns, cores),
                   model.stage_seconds(LOAD, rows, columns, cores), model.stage_seconds(FINALIZE, rows, columns, cores))


def simulate(stages: Stages, durations: Sequence[float], *, size: BatchSize, batches: int, concurrency: int,
             prepared: bool = False, warm: int = 0, minimum_seconds: float = MIN_BILLED_SECONDS) -> Timeline:
    """The timeline of `durations` (each trial's seconds in its batch) on `batches` batches of
    `size`, `concurrency` trials at a time. `prepared`: the preparation is done (a replan); `warm`:
    that many batches of this size are already running (no start-up, data read)."""
    if batches < 1 or concurrency < 1:
        raise ValueError("a timeline needs at least one batch and one trial at a time")
    startup, load = stages.startup, stages.load
    created: list[float] = []  # when each batch was created (its billing starts)
    first_trial: list[float] = []  # when it can start its first trial
    if prepared:
        for b in range(batches):
            created.append(0.0)
            first_trial.append(0.0 if b < warm else startup + load)
    else:
        prepare_end = (0.0 if warm else startup) + stages.prepare
        created.append(0.0)
        first_trial.append(prepare_end + load)
        for b in range(1, batches):
            created.append(0.0 if b < warm else prepare_end)
            first_trial.append(prepare_end + (0.0 if b < warm else startup) + load)
    slots = [(first_trial[b], b) for b in range(batches) for _ in range(concurrency)]
    heapq.heapify(slots)
    ends: list[float | None] = [None] * batches  # a batch given no trial is never created
    for d in sorted(durations, reverse=True):
        start, b = heapq.heappop(slots)
        ends[b] = max(ends[b] or 0.0, start + d)
        heapq.heappush(slots, (start + d, b))
    if ends[0] is None:  # no trials: the preparing batch still runs
        ends[0] = first_trial[0]
    used = [b for b in range(batches) if ends[b] is not None]
    search_end = max(ends[b] for b in used)
    last = max(used, key=lambda b: (ends[b], -b))
    end = search_end + stages.finalize
    lives = tuple((end if b == last else ends[b]) - created[b] for b in used)
    billed = sum(billed_dcu_seconds(life, size.dcu, minimum_seconds) for life in lives)
    return Timeline(search_end, end, lives, billed)


def dollars(dcu_seconds: float, price_per_dcu_hour: float = PRICE_PER_DCU_HOUR) -> float:
    return dcu_seconds / 3600 * price_per_dcu_hour


def minutes(seconds: float) -> int:
    """Whole minutes, rounded up: what "about N minutes" says."""
    return max(1, math.ceil(seconds / 60))
