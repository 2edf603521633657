"""Ensemble selection (domain/ensemble.py) on synthetic predictions whose best ensemble is known."""
import numpy as np
import pytest

from zygarde.domain import ensemble

REG, BIN, MULTI = "regression", "binary_classification", "multiclass_classification"


def _noise(rows=400, seed=3):
    return np.random.default_rng(seed).normal(0.0, 1.0, rows)


def test_finds_known_weights_by_replacement():
    y = np.linspace(10.0, 50.0, 400)
    e = _noise()
    # (1/3)(y + 2e) + (2/3)(y - e) = y exactly: b twice, a once
    selection = ensemble.select({"b": y - e, "a": y + 2 * e, "c": y + 5.0}, y, REG, "rmse")
    assert selection.counts == {"b": 2, "a": 1}
    assert selection.weights == pytest.approx({"b": 2 / 3, "a": 1 / 3})
    assert selection.score == pytest.approx(0.0, abs=1e-9)
    assert selection.best_single == "b" and selection.improved
    combined = ensemble.combine([y - e, y + 2 * e], [2 / 3, 1 / 3])
    assert ensemble.score(REG, "rmse", y, combined) == pytest.approx(selection.score, abs=1e-9)


def test_maximised_metric_direction():
    y = np.linspace(0.0, 5.0, 400)
    e = _noise(seed=5)
    selection = ensemble.select({"a": y + e, "b": y - e}, y, REG, "r2")
    assert selection.counts == {"a": 1, "b": 1} and selection.score == pytest.approx(1.0)
    assert selection.improved and selection.direction == "maximize"


def test_never_worse_than_the_best_single_member():
    y = np.linspace(0.0, 1.0, 300)
    good = y + 0.01 * _noise(300)
    selection = ensemble.select({"bad": y + 3.0, "good": good, "worse": y - 7.0}, y, REG, "mae")
    assert selection.counts == {"good": 1}
    assert not selection.improved
    assert selection.score == pytest.approx(np.mean(np.abs(good - y)))


def test_ties_go_to_the_earlier_candidate_and_the_smaller_ensemble():
    y = np.linspace(0.0, 1.0, 200)
    twin = y + _noise(200) * 0.1
    first = ensemble.select({"x": twin, "y": twin.copy()}, y, REG, "rmse")
    assert first.counts == {"x": 1} and not first.improved
    second = ensemble.select({"y": twin.copy(), "x": twin}, y, REG, "rmse")
    assert second.counts == {"y": 1}


def _binary(rows=2000, seed=11):
    rng = np.random.default_rng(seed)
    labels = (rng.random(rows) < 0.4).astype(float)
    signal = labels * 1.0
    def member(noise_seed):
        raw = signal + np.random.default_rng(noise_seed).normal(0, 1.2, rows)
        p1 = 1 / (1 + np.exp(-raw))
        return np.column_stack([1 - p1, p1])
    return labels, member(1), member(2), member(3)


@pytest.mark.parametrize("metric", ["areaUnderROC", "logLoss", "accuracy", "f1"])
def test_binary_independent_errors_average_better(metric):
    labels, a, b, c = _binary()
    selection = ensemble.select({"a": a, "b": b, "c": c}, labels, BIN, metric)
    singles = [ensemble.score(BIN, metric, labels, p) for p in (a, b, c)]
    best = max(singles) if selection.direction == "maximize" else min(singles)
    assert selection.best_single_score == pytest.approx(best)
    assert selection.improved and len(selection.counts) >= 2
    members = {"a": a, "b": b, "c": c}
    again = ensemble.combine([members[m] for m in selection.counts], list(selection.weights.values()))
    assert ensemble.score(BIN, metric, labels, again) == pytest.approx(selection.score)


def test_multiclass_probabilities():
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 3, 900).astype(float)
    onehot = np.eye(3)[labels.astype(int)]
    def member(seed):
        logits = 2.0 * onehot + np.random.default_rng(seed).normal(0, 1.5, onehot.shape)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)
    selection = ensemble.select({"a": member(1), "b": member(2)}, labels, MULTI, "logLoss")
    assert selection.improved and set(selection.counts) == {"a", "b"}
    assert sum(selection.weights.values()) == pytest.approx(1.0)


def test_deterministic():
    labels, a, b, c = _binary(seed=4)
    runs = {repr(ensemble.select({"a": a, "b": b, "c": c}, labels, BIN, "areaUnderROC").as_dict()) for _ in range(3)}
    assert len(runs) == 1


@pytest.mark.parametrize("candidates, task, metric, words", [
    ({}, REG, "rmse", "at least one"),
    ({"a": np.zeros(3)}, REG, "auc", "not a metric"),
    ({"a": np.zeros(2)}, REG, "rmse", "shape"),
    ({"a": np.array([0.0, np.nan, 1.0])}, REG, "rmse", "not finite"),
    ({"a": np.zeros(3)}, "clustering", "silhouette", "classification and regression"),
])
def test_bad_input_is_named(candidates, task, metric, words):
    with pytest.raises(ValueError, match=words):
        ensemble.select(candidates, np.array([0.0, 1.0, 2.0]), task, metric)
