"""One XGBoost trial on in-memory arrays, in one process: what a trial-parallel Spark task runs (and a
refit in the same mode). No Spark here: numpy, xgboost and the array metrics.

The booster is trained as xgboost.spark trains it (the same booster parameters and train arguments,
derived from the same estimator by trial_parallel.booster_arguments; quantile matrices; early stopping
watching the validation part), on one worker with the task's cores instead of a barrier stage of
workers. It is scored as xgboost.spark's model scores: margins up to the best iteration, probabilities
by the logistic or softmax function in float32, the prediction their argmax.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from zygarde.domain.algorithms import REGRESSION
from zygarde.spark import array_metrics

MIN_SAMPLE_ROWS = 2_000  # fitting.MIN_SAMPLE_ROWS: a rung's sample holds at least this many rows


def sample_rows(n: int, fraction: float, seed: int, min_rows: int = MIN_SAMPLE_ROWS) -> np.ndarray | None:
    """Indices of a seeded sample of about `fraction` of n rows (at least min(n, min_rows)), or None
    for all of them. The same seed keeps a larger fraction's sample a superset of a smaller one's."""
    if fraction >= 1.0:
        return None
    wanted = max(fraction * n, min(n, min_rows))
    if wanted >= n:
        return None
    draws = np.random.default_rng(seed).random(n)
    return np.flatnonzero(draws < wanted / n)


def _matrices(data: dict[str, np.ndarray], rows: np.ndarray | None, dmatrix: dict[str, Any], nthread: int,
              watch: bool):
    import xgboost

    x, y = data["x"], data["y"]
    if rows is not None:
        x, y = x[rows], y[rows]
    train = xgboost.QuantileDMatrix(x, y, nthread=nthread, **dmatrix)
    valid = xgboost.QuantileDMatrix(data["xv"], data["yv"], ref=train, nthread=nthread, **dmatrix) \
        if watch else None
    return train, valid


def fit(data: dict[str, np.ndarray], spec: dict[str, Any], nthread: int) -> tuple[Any, dict[str, float]]:
    """(the booster, {"fit_rows"?, "matrix_seconds", "train_seconds"}) for `spec`: booster_params,
    train_kwargs, dmatrix_kwargs (trial_parallel.booster_arguments), early (watch data["xv"], data["yv"]),
    train_fraction and seed."""
    import xgboost

    started = time.monotonic()
    rows = sample_rows(len(data["y"]), float(spec.get("train_fraction", 1.0)), int(spec["seed"]))
    watch = bool(spec.get("early"))
    train, valid = _matrices(data, rows, spec["dmatrix_kwargs"], nthread, watch)
    matrices = time.monotonic()
    params = {**spec["booster_params"], "nthread": nthread}
    kwargs = dict(spec["train_kwargs"])
    if not watch:
        kwargs.pop("early_stopping_rounds", None)
    booster = xgboost.train(params, train, evals=[(valid, "validation")] if watch else [], **kwargs)
    out = {"matrix_seconds": matrices - started, "train_seconds": time.monotonic() - matrices}
    if rows is not None:
        out["fit_rows"] = float(len(rows))
    return booster, out


def best_iteration(booster) -> int:
    """0-based; the last round when the fit did not stop early (boosting.fitted_metrics' rule)."""
    best = booster.attributes().get("best_iteration")
    return int(best) if best is not None else booster.num_boosted_rounds() - 1


def predict(booster, x: np.ndarray, task: str, missing: float) -> tuple[np.ndarray, np.ndarray | None]:
    """(prediction, probabilities or None) as xgboost.spark's model gives them, in float64."""
    from scipy.special import expit, softmax

    iterations = (0, best_iteration(booster) + 1)
    if task == REGRESSION:
        values = booster.inplace_predict(x, iteration_range=iterations, missing=missing)
        return np.asarray(values).astype(np.float64), None
    margins = booster.inplace_predict(x, iteration_range=iterations, predict_type="margin", missing=missing)
    if margins.ndim == 1 or margins.shape[1] == 1:
        p1 = expit(margins.reshape(-1))
        probabilities = np.vstack((1.0 - p1, p1)).T
    else:
        probabilities = softmax(margins, axis=1)
    return np.argmax(probabilities, axis=1).astype(np.float64), probabilities.astype(np.float64)


def fit_and_score(data: dict[str, np.ndarray], spec: dict[str, Any], nthread: int) -> dict[str, Any]:
    """A whole trial: the fit, then every validation metric of the task, best_iteration and
    boosted_rounds, train_seconds and predict_ms_per_1k (the booster scoring the validation arrays);
    with spec["keep"], the booster too (UBJSON bytes)."""
    booster, seconds = fit(data, spec, nthread)
    started = time.monotonic()
    task = spec["task"]
    predictions, probabilities = predict(booster, data["xv"], task, float(spec["dmatrix_kwargs"].get("missing", np.nan)))
    predict_seconds = time.monotonic() - started
    metrics = array_metrics.evaluate(task, data["yv"].astype(np.float64), predictions, probabilities)
    rounds = booster.num_boosted_rounds()
    metrics.update(boosted_rounds=float(rounds), best_iteration=float(best_iteration(booster)),
                   train_seconds=seconds["matrix_seconds"] + seconds["train_seconds"],
                   predict_ms_per_1k=predict_seconds * 1e6 / max(1, len(data["yv"])))
    if "fit_rows" in seconds:
        metrics["fit_rows"] = seconds["fit_rows"]
    out = {"metrics": metrics, "seconds": {**seconds, "evaluate_seconds": time.monotonic() - started}}
    if spec.get("keep"):
        out.update(kept(booster))
    if spec.get("predictions"):  # kept for the ensemble selection (validation_predictions)
        out.update(validation_prediction=predictions, validation_probability=probabilities)
    return out


def kept(booster) -> dict[str, Any]:
    """What the driver needs to rebuild the booster as xgboost.spark does: its UBJSON bytes and config."""
    return {"booster": bytes(booster.save_raw("ubj")), "config": booster.save_config()}

