"""Which waiting trials of a job share one batch. Pure: a cost model and a planner.

A batch pays a fixed start-up (batch creation, JVM and session, reading the prepared data) before
it fits anything. Trials packed into one batch pay it once. The planner predicts each trial's
seconds from its learner family, the data's shape and its parameters, corrects the prediction
online with the job's finished trials, and sizes packs so that each batch's work is about
`work_multiple` times the start-up, spread over the batches that are free now. A trial predicted
to take that long alone gets a batch of its own.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from collections.abc import Iterable, Sequence
from typing import Any

from zygarde.domain.perf_prior import FAMILY_OF, FAMILY_SECONDS, REFERENCE_CELLS, family, work

__all__ = ["FAMILY_OF", "FAMILY_SECONDS", "DataShape", "family", "plan_packs", "predict_seconds"]

MIN_TRIAL_SECONDS = 1.0
CORRECTION_BOUNDS = (0.1, 10.0)  # an online correction never moves a prediction further than this


@dataclass(frozen=True)
class DataShape:
    """The prepared training part: rows and feature columns."""

    rows: int
    features: int

    def __post_init__(self) -> None:
        if self.rows < 0 or self.features < 0:
            raise ValueError(f"a data shape has non-negative rows and features, got {self}")


@dataclass(frozen=True)
class Observation:
    """A finished trial of the job: what was predicted for it and how long it took."""

    algorithm: str
    predicted_seconds: float
    actual_seconds: float


@dataclass(frozen=True)
class TrialCost:
    """A waiting trial and its predicted seconds in a batch."""

    trial_id: str
    index: int
    seconds: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.seconds) and self.seconds > 0):
            raise ValueError(f"trial {self.trial_id}: predicted seconds must be positive, got {self.seconds}")


@dataclass(frozen=True)
class Pack:
    """Trials launched together in one batch, in index order."""

    trial_ids: tuple[str, ...]
    predicted_seconds: float  # the batch's work after start-up, fitting `concurrency` at a time

    def __post_init__(self) -> None:
        if not self.trial_ids:
            raise ValueError("a pack holds at least one trial")


def predict_seconds(algorithm: str, params: dict[str, Any], shape: DataShape) -> float:
    """Predicted seconds of one trial, before any online correction: the one formula of perf_prior
    (FAMILY_SECONDS x cells x work(params)) at one core."""
    scale = max(shape.rows * max(shape.features, 1), 1) / REFERENCE_CELLS
    return max(MIN_TRIAL_SECONDS, FAMILY_SECONDS[family(algorithm)] * scale * work(algorithm, params))


def correction(observations: Iterable[Observation], algorithm: str) -> float:
    """The factor to apply to a prediction for `algorithm`: the median actual / predicted ratio of
    the job's finished trials of its family, else of all of them, else 1; bounded."""
    ratios: dict[str, list[float]] = {}
    for ob in observations:
        if ob.predicted_seconds > 0 and ob.actual_seconds > 0:
            ratios.setdefault(family(ob.algorithm), []).append(ob.actual_seconds / ob.predicted_seconds)
    pool = ratios.get(family(algorithm)) or [r for rs in ratios.values() for r in rs]
    if not pool:
        return 1.0
    low, high = CORRECTION_BOUNDS
    return min(high, max(low, statistics.median(pool)))


def _wall(seconds: Sequence[float], concurrency: int) -> float:
    """A pack's wall seconds when it fits `concurrency` trials at a time (greedy, longest first)."""
    lanes = [0.0] * max(1, min(concurrency, len(seconds)))
    for s in sorted(seconds, reverse=True):
        lanes[lanes.index(min(lanes))] += s
    return max(lanes) if seconds else 0.0


def plan_packs(waiting: Sequence[TrialCost], *, free_batches: int, startup_seconds: float,
               concurrency: int = 1, work_multiple: float = 3.0, max_pack_size: int = 16) -> list[Pack]:
    """Packs for the batches free now, at most `free_batches` of them, largest work first.

    Each batch's work aims at `work_multiple` x `startup_seconds` (so start-up is a small share of
    what is billed); with more work than the free batches can hold at that size, the work is spread
    evenly over all of them instead. Trials that are long on their own get a batch each. Trials
    left out stay waiting for a later plan."""
    if free_batches < 1 or not waiting:
        return []
    if startup_seconds <= 0 or work_multiple <= 0 or max_pack_size < 1 or concurrency < 1:
        raise ValueError("startup_seconds, work_multiple, max_pack_size and concurrency must be positive")
    target = work_multiple * startup_seconds
    by_cost = sorted(waiting, key=lambda t: (-t.seconds, t.index))
    alone = [t for t in by_cost if t.seconds >= target][:free_batches]
    rest = [t for t in by_cost if t.seconds < target]
    packs = [[t] for t in alone]
    bins_left = free_batches - len(packs)
    if rest and bins_left > 0:
        total_wall = sum(t.seconds for t in rest) / concurrency
        wanted = max(math.ceil(total_wall / target), math.ceil(len(rest) / max_pack_size))
        bins: list[list[TrialCost]] = [[] for _ in range(min(bins_left, wanted, len(rest)))]
        for t in rest:  # longest first, each into the least loaded bin that has room
            open_bins = [b for b in bins if len(b) < max_pack_size]
            if not open_bins:
                break
            min(open_bins, key=lambda b: (sum(x.seconds for x in b), bins.index(b))).append(t)
        packs.extend(b for b in bins if b)
    out = [Pack(tuple(t.trial_id for t in sorted(p, key=lambda t: t.index)),
                _wall([t.seconds for t in p], concurrency)) for p in packs]
    return sorted(out, key=lambda p: -p.predicted_seconds)


def whole_job_fits_one_batch(predicted: Sequence[float], *, startup_seconds: float, concurrency: int = 1,
                             work_multiple: float = 3.0) -> bool:
    """True when all of a job's trials together are about one batch's work: then preparation,
    trials and finalisation can run in a single batch."""
    return bool(predicted) and _wall(predicted, concurrency) <= work_multiple * startup_seconds
