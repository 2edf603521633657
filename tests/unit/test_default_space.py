"""Default search spaces: a spec naming only dataset, target and task validates, stores its
explicit candidates and search, and its trials come out of grid, random and Bayesian search."""
from __future__ import annotations

import pytest

from zygarde.domain import algorithms, default_space, portfolio, search
from zygarde.domain.errors import SpecError
from zygarde.domain.spec import CandidateSpec, parse_job_spec

NOW = "2026-01-01T00:00:00+00:00"
TARGETS = {"binary_classification": "y", "multiclass_classification": "species", "regression": "price",
           "clustering": "label"}


def minimal(task: str, **over) -> dict:
    return {"owner": "ana@example.com", "dataset": {"uri": "gs://bkt/d.csv", "format": "csv", "target": TARGETS[task]},
            "task": task, **over}


def test_every_task_has_a_space():
    assert set(default_space.TASKS) == set(algorithms.TASKS)


@pytest.mark.parametrize("task", algorithms.TASKS)
def test_minimal_spec_gets_the_default_space_and_random_search(task):
    spec = parse_job_spec(minimal(task))
    stored = spec.model_dump(mode="json")
    assert spec.candidates == [CandidateSpec.model_validate(c) for c in default_space.default_candidates(task)]
    assert stored["search"]["strategy"] == "random"
    assert stored["search"]["max_trials"] == default_space.DEFAULT_MAX_TRIALS
    assert parse_job_spec(stored) == spec  # the stored spec is explicit: it reads back the same
    for cand in spec.candidates:
        assert task in algorithms.ALGORITHMS[cand.algorithm].tasks
    trials = search.initial_trials(spec, "job-1", NOW)
    assert 1 <= len(trials) <= default_space.DEFAULT_MAX_TRIALS
    assert len(trials) == search.planned_trial_count(spec)
    for t in trials:
        assert algorithms.ALGORITHMS[t.algorithm].problems(t.params) == []


@pytest.mark.parametrize("task", algorithms.TASKS)
def test_grid_search_gets_lists_only(task):
    spec = parse_job_spec(minimal(task, search={"strategy": "grid"}))
    assert spec.search.strategy == "grid"
    assert all(isinstance(hp, list) for c in spec.candidates for hp in c.params.values())
    trials = search.initial_trials(spec, "job-1", NOW)
    assert 2 <= len(trials) <= 16
    assert len({search.search_space.point_key(t.algorithm, t.params) for t in trials}) == len(trials)


def test_binary_default_space_details():
    cands = {c["algorithm"]: c["params"] for c in default_space.default_candidates("binary_classification")}
    assert cands["logistic_regression"] == {"regParam": [1e-4, 1e-2, 1.0]}
    assert cands["xgboost_classifier"]["learning_rate"] == {"type": "float", "low": 0.01, "high": 0.3, "log": True}
    spec = parse_job_spec(minimal("binary_classification"))
    trials = search.initial_trials(spec, "job-1", NOW)
    assert len(trials) == default_space.DEFAULT_MAX_TRIALS == 27 and {t.algorithm for t in trials} == set(cands)
    assert trials == search.initial_trials(spec, "job-1", NOW)  # seeded
    lr = [t.params["learning_rate"] for t in trials if t.algorithm == "xgboost_classifier"]
    assert all(0.01 <= r <= 0.3 for r in lr)


def test_clustering_default_is_kmeans_over_k_2_to_8():
    spec = parse_job_spec(minimal("clustering"))
    trials = search.initial_trials(spec, "job-1", NOW)
    assert sorted(t.params["k"] for t in trials) == list(range(2, 9))  # the whole finite space
    assert spec.objective == "silhouette"
    grid = parse_job_spec(minimal("clustering", search={"strategy": "grid"}))
    assert [t.params["k"] for t in search.initial_trials(grid, "j", NOW)] == list(range(2, 9))


def test_bayesian_search_asks_from_the_default_space():
    spec = parse_job_spec(minimal("regression", search={"strategy": "bayesian", "max_trials": 5,
                                                        "n_startup_trials": 2}))
    assert search.initial_trials(spec, "j", NOW) == []
    trial = search.ask(spec, "j", [], NOW)
    assert trial.algorithm in {c["algorithm"] for c in default_space.default_candidates("regression")}


def test_given_candidates_and_search_are_kept():
    spec = parse_job_spec(minimal("regression", candidates=[{"algorithm": "linear_regression"}]))
    assert [c.algorithm for c in spec.candidates] == ["linear_regression"] and spec.search.strategy == "grid"
    with pytest.raises(SpecError) as info:  # an explicit empty list is still an error
        parse_job_spec(minimal("regression", candidates=[]))
    assert "at least 1" in dict(info.value.problems)["candidates"]


def test_bad_task_or_search_still_reported():
    with pytest.raises(SpecError) as info:
        parse_job_spec(minimal("regression") | {"task": "ranking"})
    assert set(dict(info.value.problems)) == {"task"}
    with pytest.raises(SpecError) as info:
        parse_job_spec(minimal("regression", search={"strategy": "random"}))
    assert "max_trials" in " ".join(dict(info.value.problems).values())


def test_defaults_are_fresh_copies():
    first = default_space.default_candidates("regression")
    first[1]["params"]["regParam"].append(5.0)
    assert default_space.default_candidates("regression")[1]["params"]["regParam"] == [1e-4, 1e-2, 1.0]


def test_a_deadline_makes_the_default_search_run_until_it_in_pruned_brackets():
    timed = parse_job_spec(minimal("regression", budget={"deadline_minutes": 10}))
    assert timed.search.strategy == "bayesian" and timed.search.max_trials == default_space.DEADLINE_MAX_TRIALS
    assert timed.search.pruning.bracket_trials == default_space.DEFAULT_MAX_TRIALS
    assert timed.search.n_startup_trials == default_space.DEFAULT_MAX_TRIALS
    assert parse_job_spec(timed.model_dump(mode="json")) == timed  # stored explicit
    # the first bracket asks the starting portfolio's points, then those of the untimed default (in its
    # order, cheapest first) that the portfolio does not hold
    untimed = parse_job_spec(minimal("regression"))
    first = search.initial_trials(untimed, "j", NOW)
    asked: list = []
    for _ in range(len(first)):
        asked.append(search.ask(timed, "j", asked, NOW))
    starting = search.portfolio_points(timed)
    assert len(starting) == len(portfolio.PORTFOLIO)
    rest = [(t.algorithm, t.params) for t in first if (t.algorithm, t.params) not in starting]
    assert [(t.algorithm, t.params) for t in asked] == (starting + rest)[:len(first)]
    # then TPE takes over: a new point, still at the first rung's fraction
    more = search.ask(timed, "j", asked, NOW)
    assert more.index == len(first) and more.train_fraction == pytest.approx(1 / 3)
    assert (more.algorithm, more.params) not in [(t.algorithm, t.params) for t in asked]
    # an explicit search is kept whether or not there is a deadline
    kept = parse_job_spec(minimal("regression", budget={"deadline_minutes": 10},
                                  search={"strategy": "random", "max_trials": 5}))
    assert kept.search.strategy == "random" and kept.search.pruning is None


def test_the_search_stops_a_reserve_before_the_deadline():
    def stop(minutes, finalize_seconds=65):
        budget = parse_job_spec(minimal("regression", budget={"deadline_minutes": minutes})).budget
        return budget.search_seconds(finalize_seconds)

    assert stop(10) == pytest.approx(600 - 65)  # the finalisation's time
    assert stop(60) == pytest.approx(3600 - 180)  # 5 % of the deadline when that is more
    assert stop(1) == pytest.approx(30)  # never more than half of it
    assert parse_job_spec(minimal("regression")).budget.search_seconds(65) is None
