"""The best model a warm batch has fitted, kept in its memory for the job's finalisation.

A pack fits its trials and, by default, writes no model (the finalisation refits the winner). When
the finalisation is then handed to the same batch (spark/handoff.py) and the winner was fitted
there, on the same train part with the same learner, params and seed, refitting it would repeat
the same fit: refit.py takes it from here instead. One model per job is kept (the best so far by
the job's metric); nothing is kept across processes, so a cold batch always refits.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from zygarde.domain.algorithms import MAXIMIZE, METRICS


@dataclass(frozen=True)
class Kept:
    key: str  # what was fitted: algorithm, params, seed, data
    objective: float
    model: Any  # a fitted PipelineModel


_lock = threading.Lock()
_best: dict[str, Kept] = {}  # job id -> its best model fitted in this process


def fit_key(algorithm: str, params: dict[str, Any], seed: int, train_uri: str, validation_uri: str) -> str:
    return json.dumps([algorithm, params, seed, train_uri, validation_uri], sort_keys=True, default=str)


def offer(job_id: str, task: str, metric: str, objective: float | None, key: str, model: Any) -> None:
    """Keep `model` when it beats the job's kept one on `metric` (ties: the first kept stays)."""
    if objective is None or objective != objective:  # NaN never wins
        return
    sign = 1.0 if METRICS.get(task, {}).get(metric) == MAXIMIZE else -1.0
    with _lock:
        kept = _best.get(job_id)
        if kept is None or sign * objective > sign * kept.objective:
            _best[job_id] = Kept(key, objective, model)


def take(job_id: str, key: str) -> Any | None:
    """The kept model of the job when it is the fit `key` names, else None; either way the job's
    entry is dropped (its finalisation is the last use)."""
    with _lock:
        kept = _best.pop(job_id, None)
    return kept.model if kept is not None and kept.key == key else None


def forget() -> None:
    with _lock:
        _best.clear()
