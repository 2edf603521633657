"""Search strategies: grid, seeded random and Bayesian (Optuna TPE through ask) on real specs."""
from __future__ import annotations

import dataclasses
import math
import statistics

import pytest

from tests.unit.conftest import spec_dict, spec_problems as problems
from zygarde.domain import search
from zygarde.domain.model import TrialState
from zygarde.domain.spec import parse_job_spec

NOW = "2026-01-01T00:00:00+00:00"
LOG_REG = {"type": "float", "low": 1e-4, "high": 10.0, "log": True}


def spec_of(strategy: str, candidates: list[dict], **search_over):
    return parse_job_spec(spec_dict(candidates=candidates, search={"strategy": strategy, **search_over}))


MIXED = [
    {"algorithm": "logistic_regression", "params": {
        "regParam": LOG_REG, "elasticNetParam": {"type": "float", "low": 0, "high": 1},
        "maxIter": {"type": "int", "low": 5, "high": 500, "log": True},
        "family": {"type": "categorical", "choices": ["binomial", "auto"]}}},
    {"algorithm": "random_forest_classifier", "params": {
        "numTrees": {"type": "int", "low": 5, "high": 50}, "maxDepth": [3, 5, 8],
        "featureSubsetStrategy": ["sqrt", "log2"]}},
    {"algorithm": "multilayer_perceptron", "params": {"hiddenLayers": ["16,8", "32"]}},
]


def finished(trial, objective: float | None = None, error: str | None = None):
    """The trial as the scheduler records it at its end."""
    if error is not None:
        return dataclasses.replace(trial, state=TrialState.FAILED, error=error)
    return dataclasses.replace(trial, state=TrialState.SUCCEEDED, objective=objective)


# --- random ---------------------------------------------------------------------------------------

def test_random_is_seeded_reproducible_and_mixes_algorithms():
    spec = spec_of("random", MIXED, max_trials=60)
    trials = search.initial_trials(spec, "job-1", NOW)
    assert trials == search.initial_trials(spec, "job-1", NOW)
    assert [t.trial_id for t in trials] == [search.trial_id(i) for i in range(60)] and trials[0].trial_id == "t0000"
    assert {t.algorithm for t in trials} == {c["algorithm"] for c in MIXED}
    assert len({search.search_space.point_key(t.algorithm, t.params) for t in trials}) == 60
    other = parse_job_spec(spec_dict(candidates=MIXED, seed=7, search={"strategy": "random", "max_trials": 60}))
    assert [t.params for t in search.initial_trials(other, "job-1", NOW)] != [t.params for t in trials]
    assert search.planned_trial_count(spec) == 60 and not search.is_adaptive(spec)
    assert search.expand(spec, "job-1", NOW) == trials


def test_random_respects_distributions():
    trials = search.initial_trials(spec_of("random", MIXED, max_trials=400), "job-1", NOW)
    lr = [t.params for t in trials if t.algorithm == "logistic_regression"]
    rf = [t.params for t in trials if t.algorithm == "random_forest_classifier"]
    mlp = [t.params for t in trials if t.algorithm == "multilayer_perceptron"]
    assert len(lr) > 80 and len(rf) > 80
    regs = [p["regParam"] for p in lr]
    assert all(1e-4 <= r <= 10 for r in regs) and all(isinstance(r, float) for r in regs)
    # log-uniform: each decade of [1e-4, 10] gets about a fifth of the draws (uniform would put ~90% above 1)
    assert 0.1 < sum(r < 1e-3 for r in regs) / len(regs) < 0.3
    assert 0.1 < sum(r > 1 for r in regs) / len(regs) < 0.3
    iters = [p["maxIter"] for p in lr]
    assert all(type(i) is int and 5 <= i <= 500 for i in iters) and sum(i < 50 for i in iters) > len(iters) / 3
    assert {p["family"] for p in lr} == {"binomial", "auto"}
    assert all(0 <= p["elasticNetParam"] <= 1 for p in lr)
    assert all(type(p["numTrees"]) is int and 5 <= p["numTrees"] <= 50 for p in rf)
    assert {p["maxDepth"] for p in rf} == {3, 5, 8} and {p["featureSubsetStrategy"] for p in rf} == {"sqrt", "log2"}
    assert {tuple(p["hiddenLayers"]) for p in mlp} == {(16, 8), (32,)}  # coerced like the grid does


def test_random_runs_a_small_finite_space_whole_without_repeats():
    cands = [{"algorithm": "logistic_regression", "params": {"regParam": [0.0, 0.1], "maxIter": [10, 20]}},
             {"algorithm": "random_forest_classifier", "params": {"numTrees": {"type": "int", "low": 5, "high": 7}}}]
    spec = spec_of("random", cands, max_trials=50)
    trials = search.initial_trials(spec, "job-1", NOW)
    assert len(trials) == 7 == search.planned_trial_count(spec)
    assert len({search.search_space.point_key(t.algorithm, t.params) for t in trials}) == 7


# --- grid -----------------------------------------------------------------------------------------

def test_grid_rejects_distributions_and_caps_with_max_trials():
    found = problems(spec_dict(candidates=[{"algorithm": "logistic_regression", "params": {"regParam": LOG_REG}}]))
    assert "grid search needs a list" in found["candidates[0].params.regParam"]
    spec = spec_of("grid", [{"algorithm": "logistic_regression", "params": {"regParam": [0.0, 0.1, 0.2]}}],
                   max_trials=2)
    trials = search.initial_trials(spec, "job-1", NOW)
    assert [t.params["regParam"] for t in trials] == [0.0, 0.1] and search.planned_trial_count(spec) == 2


def test_grid_leaves_out_combinations_the_learner_refuses():
    spec = parse_job_spec(spec_dict(task="regression", candidates=[{
        "algorithm": "generalized_linear_regression",
        "params": {"family": ["gaussian", "poisson"], "link": ["identity", "sqrt"]}}]))
    trials = search.initial_trials(spec, "job-1", NOW)
    assert [t.params for t in trials] == [{"family": "gaussian", "link": "identity"},
                                          {"family": "poisson", "link": "identity"},
                                          {"family": "poisson", "link": "sqrt"}]
    assert search.planned_trial_count(spec) == 3


@pytest.mark.parametrize("params, path, words", [
    ({"maxIter": {"type": "float", "low": 1, "high": 10}}, ".type", "is an int"),
    ({"regParam": {"type": "int", "low": 0, "high": 3}}, ".type", "is a float"),
    ({"regParam": {"type": "float", "low": 0, "high": 1, "log": True}}, "", "low > 0"),
    ({"maxIter": {"type": "int", "low": 1.5, "high": 10}}, "", "integer low and high"),
    ({"elasticNetParam": {"type": "float", "low": 0.5, "high": 2}}, ".high", "<= 1.0"),
    ({"regParam": {"type": "float", "low": 1, "high": 0.5}}, "", "must be below high"),
    ({"regParam": {"type": "float", "low": 1}}, "", "high: Field required"),
    ({"family": {"type": "float", "low": 0, "high": 1}}, ".type", "str parameter"),
    ({"family": {"type": "categorical", "choices": ["auto", "gamma"]}}, ".choices[1]", "expected one of"),
    ({"maxDepth": {"type": "int", "low": 1, "high": 3}}, "", "no hyperparameter"),
    ({"regParam": 0.5}, "", "expected a list of values or a distribution"),
])
def test_distributions_are_checked_against_the_catalog(params, path, words):
    found = problems(spec_dict(candidates=[{"algorithm": "logistic_regression", "params": params}],
                               search={"strategy": "random", "max_trials": 5}))
    key = f"candidates[0].params.{next(iter(params))}{path}"
    assert key in found and words in found[key], found


def test_random_and_bayesian_need_max_trials():
    for strategy in ("random", "bayesian"):
        assert "needs max_trials" in problems(spec_dict(search={"strategy": strategy}))["search"]


# --- bayesian -------------------------------------------------------------------------------------

def run_bayesian(spec, objective, rounds: int | None = None):
    """Sequential ask/tell, as the scheduler does with one slot: ask, score, record, ask again."""
    done = []
    while (rounds is None or len(done) < rounds) and (trial := search.ask(spec, "job-1", done, NOW)):
        done.append(finished(trial, objective(trial)))
    return done


def test_bayesian_asks_one_trial_at_a_time_deterministically_until_max_trials():
    spec = spec_of("bayesian", MIXED, max_trials=14, n_startup_trials=4)
    assert search.is_adaptive(spec) and search.initial_trials(spec, "job-1", NOW) == []
    assert search.planned_trial_count(spec) == 14
    done = run_bayesian(spec, lambda t: len(t.algorithm) + t.index / 100)
    assert [t.index for t in done] == list(range(14)) and done[13].trial_id == "t0013"
    assert search.ask(spec, "job-1", done, NOW) is None
    assert {t.algorithm for t in done} == {c["algorithm"] for c in MIXED}  # explores every algorithm
    again = search.ask(spec, "job-1", done[:9], NOW)
    assert again == search.ask(spec, "job-1", done[:9], NOW)
    assert (again.trial_id, again.algorithm, again.params) == (done[9].trial_id, done[9].algorithm, done[9].params)
    lr = next(t.params for t in done if t.algorithm == "logistic_regression")
    assert type(lr["maxIter"]) is int and isinstance(lr["regParam"], float) and 1e-4 <= lr["regParam"] <= 10
    mlp = next(t.params for t in done if t.algorithm == "multilayer_perceptron")
    assert mlp["hiddenLayers"] in ([16, 8], [32])
    assert search.ask(spec_of("random", MIXED, max_trials=5), "job-1", [], NOW) is None


def test_bayesian_uses_failed_and_pending_trials_without_repeating_them():
    spec = spec_of("bayesian", MIXED[:1], max_trials=10, n_startup_trials=2)
    first = search.ask(spec, "job-1", [], NOW)
    second = search.ask(spec, "job-1", [finished(first, error="executor lost")], NOW)
    pending = dataclasses.replace(second, state=TrialState.RUNNING, slot=0, attempt=1)
    history = [finished(first, error="executor lost"), pending, finished(search.ask(
        spec, "job-1", [finished(first, error="x"), pending], NOW), 0.7)]
    nxt = search.ask(spec, "job-1", history, NOW)
    assert nxt.index == 3 and all(nxt.params != t.params for t in history)


def test_bayesian_stops_when_a_finite_space_is_exhausted():
    spec = spec_of("bayesian", [{"algorithm": "logistic_regression",
                                 "params": {"family": {"type": "categorical", "choices": ["auto", "binomial"]},
                                            "maxIter": {"type": "int", "low": 10, "high": 11}}}],
                   max_trials=50, n_startup_trials=1)
    assert search.planned_trial_count(spec) == 4
    done = run_bayesian(spec, lambda t: 1.0)
    assert len(done) == 4 and len({search.search_space.point_key(t.algorithm, t.params) for t in done}) == 4


def quadratic_spec(strategy: str, seed: int):
    """Two params of one learner; the optimum is at regParam 10**-2 (log scale), elasticNetParam 0.7."""
    return parse_job_spec(spec_dict(
        task="regression", seed=seed, candidates=[{"algorithm": "linear_regression", "params": {
            "regParam": LOG_REG, "elasticNetParam": {"type": "float", "low": 0.0, "high": 1.0}}}],
        search={"strategy": strategy, "max_trials": 40, "n_startup_trials": 10}))


def quadratic(params: dict) -> float:
    u = (math.log10(params["regParam"]) + 4) / 5  # [1e-4, 10] -> [0, 1]
    return (u - 0.4) ** 2 + (params["elasticNetParam"] - 0.7) ** 2


def test_seeded_bayesian_beats_random_search_in_the_same_number_of_trials():
    random_best, bayes_best = [], []
    for seed in range(5):
        random_best.append(min(quadratic(t.params) for t in search.initial_trials(
            quadratic_spec("random", seed), "job-1", NOW)))
        spec = quadratic_spec("bayesian", seed)
        assert spec.direction == "minimize"
        done = run_bayesian(spec, lambda t: quadratic(t.params))
        assert len(done) == 40
        bayes_best.append(min(t.objective for t in done))
    assert statistics.median(bayes_best) < statistics.median(random_best) / 2, (bayes_best, random_best)
