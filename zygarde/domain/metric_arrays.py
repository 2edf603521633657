"""Validation metrics on numpy arrays, computed as zygarde.spark.evaluation computes them with Spark's
evaluators, for trials scored inside one Spark task (trial-parallel XGBoost, issue #24) and for every
validation set small enough to score on the driver (evaluation.evaluate).

- areaUnderROC / areaUnderPR: Spark's BinaryClassificationMetrics with the evaluator's numBins (1000):
  distinct scores (the positive class's probability) sorted descending, grouped `distinct // numBins`
  at a time when that is 2 or more, trapezoids over the cumulative (FPR, TPR) points between (0, 0) and
  (1, 1), or over (recall, precision) from (0, the first precision). Spark groups within each partition
  of its sort, so when it bins (2,000 distinct scores or more) its figure moves with the partitioning
  by far less than a bin's area; this is its one-partition figure.
- accuracy, f1, weightedPrecision, weightedRecall (confusion_metrics) and mcc, as MulticlassMetrics defines them.
- logLoss: the mean of -log(max(1e-15, p(true class))).
- rmse, mae, r2 (RegressionEvaluator), mape over the rows whose target is not 0.

Pure (numpy only): it lives in the domain so that the ensemble selection (domain/ensemble.py) scores with the
same definitions; zygarde.spark.array_metrics re-exports it.
"""
from __future__ import annotations

import math

import numpy as np

from zygarde.domain.algorithms import BINARY, MULTICLASS, REGRESSION

NUM_BINS = 1000  # BinaryClassificationEvaluator's default
EPS = 1e-15


def finite(metrics: dict[str, float | None]) -> dict[str, float]:
    """Only real numbers: NaN, infinities and missing values never reach JSON."""
    return {k: float(v) for k, v in metrics.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}


def mcc(counts: dict[tuple[float, float], int], positive: float = 1.0) -> float:
    """Matthews correlation from (label, prediction) -> count; 0.0 when undefined (as scikit-learn)."""
    tp = sum(n for (y, p), n in counts.items() if y == positive and p == positive)
    tn = sum(n for (y, p), n in counts.items() if y != positive and p != positive)
    fp = sum(n for (y, p), n in counts.items() if y != positive and p == positive)
    fn = sum(n for (y, p), n in counts.items() if y == positive and p != positive)
    denominator = math.sqrt(float(tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return (tp * tn - fp * fn) / denominator if denominator else 0.0


def confusion_metrics(counts: dict[tuple[float, float], int]) -> dict[str, float]:
    """accuracy, f1, weightedPrecision, weightedRecall exactly as Spark's MulticlassMetrics defines
    them (weights: each actual class's share; precision of a never-predicted class is 0)."""
    total = sum(counts.values())
    if not total:
        return {}
    actual: dict[float, int] = {}
    predicted: dict[float, int] = {}
    for (y, p), n in counts.items():
        actual[y] = actual.get(y, 0) + n
        predicted[p] = predicted.get(p, 0) + n
    out = {"accuracy": sum(n for (y, p), n in counts.items() if y == p) / total,
           "f1": 0.0, "weightedPrecision": 0.0, "weightedRecall": 0.0}
    for label, n_actual in actual.items():
        tp, weight = counts.get((label, label), 0), n_actual / total
        precision = tp / predicted[label] if predicted.get(label) else 0.0
        recall = tp / n_actual
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out["weightedPrecision"] += precision * weight
        out["weightedRecall"] += recall * weight
        out["f1"] += f1 * weight
    return out


def _binned_counts(labels: np.ndarray, scores: np.ndarray, num_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """(positives, negatives) per distinct score, highest score first, grouped as Spark bins them."""
    distinct, inverse = np.unique(scores, return_inverse=True)
    positive = labels > 0.5
    pos = np.bincount(inverse, weights=positive.astype(np.float64), minlength=len(distinct))[::-1]
    neg = np.bincount(inverse, weights=(~positive).astype(np.float64), minlength=len(distinct))[::-1]
    grouping = len(distinct) // num_bins if num_bins > 0 else 0
    if grouping >= 2:
        starts = np.arange(0, len(distinct), grouping)
        pos, neg = np.add.reduceat(pos, starts), np.add.reduceat(neg, starts)
    return pos, neg


def _trapezoids(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0))


def binary_areas(labels: np.ndarray, scores: np.ndarray, num_bins: int = NUM_BINS) -> dict[str, float]:
    """areaUnderROC and areaUnderPR of `scores` (the positive class's probability) against 0/1 labels."""
    pos, neg = _binned_counts(np.asarray(labels, dtype=np.float64), np.asarray(scores, dtype=np.float64), num_bins)
    tp, fp = np.cumsum(pos), np.cumsum(neg)
    total_pos, total_neg = tp[-1], fp[-1]
    tpr = tp / total_pos if total_pos else np.zeros_like(tp)
    fpr = fp / total_neg if total_neg else np.zeros_like(fp)
    roc_x = np.concatenate([[0.0], fpr, [1.0]])
    roc_y = np.concatenate([[0.0], tpr, [1.0]])
    predicted = tp + fp
    precision = np.divide(tp, predicted, out=np.ones_like(tp), where=predicted > 0)
    pr_x = np.concatenate([[0.0], tpr])
    pr_y = np.concatenate([[precision[0]], precision])
    return {"areaUnderROC": _trapezoids(roc_x, roc_y), "areaUnderPR": _trapezoids(pr_x, pr_y)}


def _counts(labels: np.ndarray, predictions: np.ndarray) -> dict[tuple[float, float], int]:
    pairs, n = np.unique(np.stack([labels, predictions], axis=1), axis=0, return_counts=True)
    return {(float(y), float(p)): int(c) for (y, p), c in zip(pairs, n)}


def classification(labels: np.ndarray, predictions: np.ndarray, probabilities: np.ndarray | None,
                   binary: bool, ranking: np.ndarray | None = None) -> dict[str, float]:
    """Every classification metric evaluation.classification_metrics gives, from label indices,
    predicted indices and the [n, classes] probabilities (float64). `ranking`: what orders the rows for
    the binary areas (default: the positive class's probability; a model without probabilities ranks
    by its rawPrediction)."""
    labels, predictions = np.asarray(labels, dtype=np.float64), np.asarray(predictions, dtype=np.float64)
    out: dict[str, float] = {}
    if ranking is None and probabilities is not None:
        ranking = probabilities[:, 1]
    if binary and ranking is not None:
        out.update(binary_areas(labels, ranking))
    counts = _counts(labels, predictions)
    out.update(confusion_metrics(counts))
    if probabilities is not None:
        p_true = probabilities[np.arange(len(labels)), labels.astype(np.int64)]
        out["logLoss"] = float(np.mean(-np.log(np.maximum(EPS, p_true))))
    if binary:
        out["mcc"] = mcc(counts)
    return out


def regression(labels: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    y, p = np.asarray(labels, dtype=np.float64), np.asarray(predictions, dtype=np.float64)
    error = y - p
    ss_err = float(np.sum(error * error))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    out = {"rmse": float(np.sqrt(ss_err / len(y))), "mae": float(np.mean(np.abs(error))),
           "r2": 1.0 - ss_err / ss_tot if ss_tot else float("nan")}
    nonzero = y != 0
    out["mape"] = float(np.mean(np.abs(error[nonzero] / y[nonzero]))) if nonzero.any() else float("nan")
    return out


def evaluate(task: str, labels: np.ndarray, predictions: np.ndarray,
             probabilities: np.ndarray | None = None) -> dict[str, float]:
    """All metrics of `task` (binary, multiclass or regression), finite values only."""
    if task in (BINARY, MULTICLASS):
        return finite(classification(labels, predictions, probabilities, binary=task == BINARY))
    if task == REGRESSION:
        return finite(regression(labels, predictions))
    raise ValueError(f"no array metrics for task {task!r}")
