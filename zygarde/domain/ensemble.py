"""Ensemble selection at finalisation (issue #24 item 2): Caruana et al.'s greedy forward selection with
replacement (2004), over the validation predictions of a job's best trials. Pure (numpy only, no I/O).

The ensemble starts from the best single candidate; each round adds the candidate (any of them, again
or not) whose addition gives the best score of the weighted average, and the best ensemble seen over
all rounds is kept. Its weights are each member's count over the total. Ties go to the earlier
candidate (the caller lists them best first) and to the smaller ensemble, so the same inputs always
give the same members; the kept ensemble is never worse on validation than the best single candidate.

Predictions are class probabilities ([rows, classes], the classes in the model's label order) for
classification, values ([rows]) for regression. Scores are the job's metric as the trials record it
(metric_arrays: Spark's definitions); a classifier's predicted class is the argmax of the averaged
probabilities.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from zygarde.domain import metric_arrays
from zygarde.domain.algorithms import BINARY, CLASSIFICATION, MAXIMIZE, METRICS, REGRESSION

DEFAULT_ROUNDS = 25  # additions after the first member; AutoGluon's weighted ensemble runs 25 too
MAX_CANDIDATES = 20  # the best trials a finalisation considers
TOLERANCE = 1e-12  # an ensemble must beat the best single candidate by more than this to count


@dataclass(frozen=True)
class Selection:
    """The chosen members (candidate order) with their counts, weights and validation score."""

    counts: dict[str, int]
    score: float
    best_single: str
    best_single_score: float
    metric: str
    direction: str
    rounds: int

    @property
    def weights(self) -> dict[str, float]:
        total = sum(self.counts.values())
        return {member: count / total for member, count in self.counts.items()}

    @property
    def improved(self) -> bool:
        """Whether the ensemble holds several members and beats the best single candidate on validation."""
        return len(self.counts) > 1 and better(self.score, self.best_single_score, self.direction)

    def as_dict(self) -> dict[str, Any]:
        weights = self.weights
        return {"metric": self.metric, "direction": self.direction, "rounds": self.rounds,
                "validation_score": self.score, "best_single_trial_id": self.best_single,
                "best_single_score": self.best_single_score, "improved": self.improved,
                "members": [{"trial_id": m, "count": c, "weight": weights[m]} for m, c in self.counts.items()]}


def better(a: float, b: float, direction: str) -> bool:
    """Whether score a beats score b by more than TOLERANCE in the metric's direction."""
    return a > b + TOLERANCE if direction == MAXIMIZE else a < b - TOLERANCE


def direction_of(task: str, metric: str) -> str:
    if task not in METRICS or metric not in METRICS[task]:
        raise ValueError(f"metric: {metric!r} is not a metric of {task} (one of: "
                         f"{', '.join(METRICS.get(task, {}))})")
    return METRICS[task][metric]


def score(task: str, metric: str, labels: np.ndarray, predictions: np.ndarray) -> float:
    """The metric of averaged predictions (probabilities, or values for regression) against the labels
    (class indices, or values); NaN when it is undefined."""
    labels = np.asarray(labels, dtype=np.float64)
    if task == REGRESSION:
        return float(metric_arrays.regression(labels, predictions).get(metric, np.nan))
    if metric in ("areaUnderROC", "areaUnderPR"):
        return float(metric_arrays.binary_areas(labels, predictions[:, 1])[metric])
    if metric == "logLoss":
        p_true = predictions[np.arange(len(labels)), labels.astype(np.int64)]
        return float(np.mean(-np.log(np.maximum(metric_arrays.EPS, p_true))))
    predicted = np.argmax(predictions, axis=1).astype(np.float64)
    return float(metric_arrays.classification(labels, predicted, None, binary=task == BINARY).get(metric, np.nan))


def _checked(candidates: Mapping[str, np.ndarray], labels: np.ndarray, task: str) -> dict[str, np.ndarray]:
    if not candidates:
        raise ValueError("candidates: at least one candidate's predictions are needed")
    rows = len(labels)
    out: dict[str, np.ndarray] = {}
    for name, values in candidates.items():
        array = np.asarray(values, dtype=np.float64)
        want = 2 if task in CLASSIFICATION else 1
        if array.ndim != want or array.shape[0] != rows:
            raise ValueError(f"candidates: {name}'s predictions have shape {array.shape}, not {rows} rows"
                             + (" of class probabilities" if want == 2 else " of values"))
        if not np.all(np.isfinite(array)):
            raise ValueError(f"candidates: {name}'s predictions hold values that are not finite numbers")
        out[name] = array
    shapes = {a.shape for a in out.values()}
    if len(shapes) > 1:
        raise ValueError(f"candidates: the predictions differ in shape ({', '.join(map(str, sorted(shapes)))})")
    return out


def select(candidates: Mapping[str, np.ndarray], labels: np.ndarray, task: str, metric: str,
           rounds: int = DEFAULT_ROUNDS) -> Selection:
    """Greedy forward selection with replacement over `candidates` (name -> validation predictions, best
    first: ties go to the earlier one), on `metric`, for `rounds` additions after the first member."""
    if task not in CLASSIFICATION and task != REGRESSION:
        raise ValueError(f"task: ensembles are built for classification and regression, not {task}")
    direction = direction_of(task, metric)
    if rounds < 0:
        raise ValueError(f"rounds must be 0 or more, not {rounds}")
    labels = np.asarray(labels, dtype=np.float64)
    arrays = _checked(candidates, labels, task)
    names = list(arrays)
    singles = {n: score(task, metric, labels, arrays[n]) for n in names}
    first = None
    for n in names:  # the best single candidate; the earliest of equals
        if np.isfinite(singles[n]) and (first is None or better(singles[n], singles[first], direction)):
            first = n
    if first is None:
        raise ValueError(f"candidates: no candidate's {metric} is defined on these predictions")
    counts = {first: 1}
    total = arrays[first].copy()
    best_counts, best_score = dict(counts), singles[first]
    for step in range(rounds):
        size = step + 2
        chosen, chosen_score = None, None
        for n in names:
            value = score(task, metric, labels, (total + arrays[n]) / size)
            if np.isfinite(value) and (chosen is None or better(value, chosen_score, direction)):
                chosen, chosen_score = n, value
        if chosen is None:
            break
        total += arrays[chosen]
        counts[chosen] = counts.get(chosen, 0) + 1
        if better(chosen_score, best_score, direction):
            best_counts, best_score = dict(counts), chosen_score
    ordered = {n: best_counts[n] for n in names if n in best_counts}
    return Selection(ordered, float(best_score), first, float(singles[first]), metric, direction, rounds)


def combine(predictions: list[np.ndarray], weights: list[float]) -> np.ndarray:
    """The weighted average of members' predictions (the weights sum to 1)."""
    out = np.zeros_like(np.asarray(predictions[0], dtype=np.float64))
    for values, weight in zip(predictions, weights):
        out += weight * np.asarray(values, dtype=np.float64)
    return out
