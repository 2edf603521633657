"""A Bayesian search starts from the measured portfolio (zygarde/domain/portfolio.py, built by
bench/build_portfolio.py): its configurations inside the job's space first, then the seeded random
points cheapest first, then TPE."""
from __future__ import annotations

import copy
import dataclasses

import pytest

from tests.unit.conftest import spec_dict
from zygarde.domain import portfolio, search, search_space
from zygarde.domain.default_space import fill_defaults
from zygarde.domain.model import TrialState
from zygarde.domain.spec import parse_job_spec

NOW = "2026-01-01T00:00:00+00:00"


@pytest.fixture(autouse=True)
def fresh_cache():
    search.clear_cache()
    yield
    search.clear_cache()


def auto_doc(task: str = "regression") -> dict:
    """An auto-mode job with a deadline: default candidates and the deadline search filled in."""
    return fill_defaults(spec_dict(task=task, candidates=None, search=None, budget={"deadline_minutes": 30}))


def expected(task: str) -> list[tuple[str, dict]]:
    names = {"xgboost": "xgboost_regressor" if task == "regression" else "xgboost_classifier",
             "linear": "linear_regression" if task == "regression" else "logistic_regression"}
    return [(names[learner], params) for learner, params in portfolio.PORTFOLIO]


def ask_all(spec, count: int) -> list:
    done = []
    for _ in range(count):
        trial = search.ask(spec, "job-1", done, NOW)
        done.append(dataclasses.replace(trial, state=TrialState.SUCCEEDED, objective=float(len(done)),
                                        rung_scores=[1.0, float(len(done))]))
    return done


def test_the_portfolio_is_a_small_diverse_set_inside_the_default_space():
    assert 8 <= len(portfolio.PORTFOLIO) <= 12
    learners = [learner for learner, _ in portfolio.PORTFOLIO]
    assert "linear" in learners and learners.count("xgboost") >= 6
    depths = {p["max_depth"] for learner, p in portfolio.PORTFOLIO if learner == "xgboost"}
    rates = [p["learning_rate"] for learner, p in portfolio.PORTFOLIO if learner == "xgboost"]
    assert len(depths) >= 3 and max(rates) / min(rates) >= 3
    for task in ("regression", "binary_classification", "multiclass_classification"):
        assert search.portfolio_points(parse_job_spec(auto_doc(task))) == expected(task)


@pytest.mark.parametrize("task", ["regression", "binary_classification"])
def test_an_auto_search_asks_the_portfolio_first_then_the_seeded_random_points(task):
    spec = parse_job_spec(auto_doc(task))
    startup = spec.search.n_startup_trials
    done = ask_all(spec, startup)
    first = [(t.algorithm, t.params) for t in done]
    assert first[:len(portfolio.PORTFOLIO)] == expected(task)
    seen = {search_space.point_key(*p) for p in expected(task)}
    random = [p for p in search._cheapest_first(search._random_points(spec, startup))
              if search_space.point_key(*p) not in seen]
    assert first[len(portfolio.PORTFOLIO):] == random[:startup - len(portfolio.PORTFOLIO)]
    assert len({search_space.point_key(*p) for p in first}) == startup


def test_only_the_portfolio_points_inside_a_narrower_space_come_first():
    doc = auto_doc()
    xgb = doc["candidates"][0]["params"]
    xgb["max_depth"] = {"type": "int", "low": 2, "high": 5}
    doc["candidates"][1]["params"] = {"regParam": [0.5, 2.0]}  # no portfolio value
    spec = parse_job_spec(doc)
    inside = [("xgboost_regressor", p) for learner, p in portfolio.PORTFOLIO
              if learner == "xgboost" and p["max_depth"] <= 5]
    assert 0 < len(inside) < len(portfolio.PORTFOLIO)
    assert search.portfolio_points(spec) == inside
    first = ask_all(spec, len(inside) + 1)
    assert [(t.algorithm, t.params) for t in first[:len(inside)]] == inside
    assert first[-1].params["max_depth"] <= 5 and (first[-1].algorithm, first[-1].params) not in inside


def test_a_space_with_other_params_gets_no_portfolio_point():
    doc = auto_doc()
    doc["candidates"][0]["params"] = {**doc["candidates"][0]["params"], "gamma": {"type": "float", "low": 0, "high": 1}}
    doc["candidates"] = doc["candidates"][:1]
    assert search.portfolio_points(parse_job_spec(doc)) == []
    grid = copy.deepcopy(auto_doc())
    grid["search"] = {"strategy": "random", "max_trials": 5}
    spec = parse_job_spec(grid)
    assert [(t.algorithm, t.params) for t in search.initial_trials(spec, "job-1", NOW)] \
        == search._cheapest_first(search._random_points(spec))  # random search: unchanged


def test_a_stored_job_asked_before_the_portfolio_goes_on_deterministically():
    spec = parse_job_spec(auto_doc())
    old = search._cheapest_first(search._random_points(spec, spec.search.n_startup_trials))[:5]
    history = [search._trial("job-1", i, algo, params, NOW) for i, (algo, params) in enumerate(old)]
    history = [dataclasses.replace(t, state=TrialState.PRUNED, rung_scores=[0.5]) for t in history]
    nxt = search.ask(spec, "job-1", history, NOW)
    assert nxt == search.ask(spec, "job-1", history, NOW)
    search.clear_cache()
    assert nxt == search.ask(spec, "job-1", history, NOW)
    untried = [p for p in expected("regression") if p not in old]  # (a linear point may be in both)
    assert (nxt.index, nxt.algorithm, nxt.params) == (5, *untried[0])
    tried = [*history, dataclasses.replace(nxt, state=TrialState.PRUNED, rung_scores=[0.4])]
    after = search.ask(spec, "job-1", tried, NOW)
    assert (after.index, after.algorithm, after.params) == (6, *untried[1])
