"""The batch start-up a deadline keeps in reserve, measured where jobs run. Pure.

A deadline stops a job's search a batch's start-up plus the finalisation's own work before it
(budgets.deadline_problem), so that the best model is still registered in time. The start-up is the
installation's own: the QUANTILE of the newest WINDOW start-ups its batches took (perf history,
stage "startup"), once there are at least MIN_MEASURED; before that, the configured figure
(Settings.batch_startup_seconds: 60 s on Dataproc Serverless, the local cloud's own).

A start-up is measured from the trial records the control plane keeps (`measured`): for each batch
created for its work (not handed work while warm), from its creation to its first trial's result, less
that trial's fit. That counts the reading of the prepared data and the trial's scoring too, so it errs
long: the safe side for a reserve.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime

from zygarde.domain.model import TRAIN, Trial
from zygarde.domain.perf_records import STARTUP, Observation

QUANTILE = 0.9
WINDOW = 50
MIN_MEASURED = 5


def reserve(observations: Iterable[Observation], configured: float) -> float:
    """The start-up to keep in reserve: the QUANTILE (nearest rank) of the newest WINDOW measured
    start-ups among `observations` (oldest first), or `configured` when fewer than MIN_MEASURED."""
    seconds = [o.seconds for o in observations if o.stage == STARTUP][-WINDOW:]
    if len(seconds) < MIN_MEASURED:
        return configured
    ranked = sorted(seconds)
    return float(ranked[min(len(ranked), math.ceil(QUANTILE * len(ranked))) - 1])


def measured(trials: Sequence[Trial]) -> list[float]:
    """The start-ups of a job's batches created for their work, in the order they began (see the
    module docstring); batches handed work warm, or without the times, count none."""
    first: dict[str, tuple[datetime, float]] = {}
    for t in trials:
        seconds = (t.metrics or {}).get("train_seconds")
        if t.kind != TRAIN or not t.batch_id or t.handoff not in (None, 0) or not (t.started_at and t.finished_at) \
                or not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds < 0:
            continue
        try:
            started, ended = datetime.fromisoformat(t.started_at), datetime.fromisoformat(t.finished_at)
        except ValueError:
            continue
        startup = (ended - started).total_seconds() - float(seconds)
        if startup > 0 and (t.batch_id not in first or startup < first[t.batch_id][1]):
            first[t.batch_id] = (started, startup)
    return [s for _, s in sorted(first.values(), key=lambda pair: pair[0])]


def reserve_of(plan: dict | None, configured: float) -> float:
    """The start-up a job's plan measured when it was made (plan["startup_seconds"]), else `configured`."""
    value = (plan or {}).get("startup_seconds")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0:
        return float(value)
    return configured
