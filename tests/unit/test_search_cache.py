"""The Bayesian ask keeps each job's Optuna study between asks (tpe_study), telling it only what changed,
and answers exactly as a study rebuilt from the stored trials would."""
from __future__ import annotations

import dataclasses

import optuna
import pytest

from tests.unit.conftest import spec_dict
from zygarde.domain import search
from zygarde.domain.model import TrialState
from zygarde.domain.spec import parse_job_spec

NOW = "2026-01-01T00:00:00+00:00"
SPACE = [
    {"algorithm": "logistic_regression", "params": {
        "regParam": {"type": "float", "low": 1e-4, "high": 10.0, "log": True},
        "elasticNetParam": {"type": "float", "low": 0, "high": 1}}},
    {"algorithm": "random_forest_classifier", "params": {
        "numTrees": {"type": "int", "low": 5, "high": 200}, "maxDepth": [3, 5, 8, 12]}},
    {"algorithm": "multilayer_perceptron", "params": {"hiddenLayers": ["16,8", "32", "64,32"]}},
]


@pytest.fixture(autouse=True)
def fresh_cache():
    search.clear_cache()
    yield
    search.clear_cache()


def bayesian(max_trials: int = 40, seed: int = 42):
    return parse_job_spec(spec_dict(candidates=SPACE, seed=seed,
                                    search={"strategy": "bayesian", "max_trials": max_trials, "n_startup_trials": 6}))


def score(t) -> float:
    if t.algorithm == "logistic_regression":
        return abs(t.params["regParam"] - 0.1) + t.params["elasticNetParam"]
    if t.algorithm == "random_forest_classifier":
        return abs(t.params["numTrees"] - 120) / 50 + abs(t.params["maxDepth"] - 8) / 4
    return 1.2


def end(t, i: int):
    """What the scheduler records at a trial's end: most succeed, some are pruned at a rung, some fail."""
    if i % 7 == 3:
        return dataclasses.replace(t, state=TrialState.PRUNED, rung_scores=[score(t) + 0.5])
    if i % 11 == 5:
        return dataclasses.replace(t, state=TrialState.FAILED, error="executor lost")
    return dataclasses.replace(t, state=TrialState.SUCCEEDED, objective=score(t))


def run(spec, rebuild: bool, running: int = 3) -> list:
    """Asks as dispatch makes them: `running` trials at once, the oldest ending before the next ask."""
    trials: list = []
    while (nxt := search.ask(spec, "job-1", trials, NOW)) is not None:
        trials.append(nxt)
        if len(trials) > running:
            i = len(trials) - running - 1
            trials[i] = end(trials[i], i)
        if rebuild:
            search.clear_cache()
    return trials


def test_a_kept_study_asks_the_same_points_as_one_rebuilt_from_the_trials():
    spec = bayesian()
    kept, rebuilt = run(spec, rebuild=False), run(spec, rebuild=True)
    assert len(kept) == 40
    assert [(t.algorithm, t.params) for t in kept] == [(t.algorithm, t.params) for t in rebuilt]
    assert len({search.search_space.point_key(t.algorithm, t.params) for t in kept}) == 40


def test_an_ask_tells_the_kept_study_only_the_new_trials(monkeypatch):
    spec = bayesian()
    trials = run(spec, rebuild=False)[:30]
    search.clear_cache()
    search.ask(spec, "job-1", trials, NOW)  # the first ask of the process builds the study from all 30
    added = []
    real_add = optuna.Study.add_trial
    monkeypatch.setattr(optuna.Study, "add_trial", lambda study, frozen: (added.append(frozen), real_add(study, frozen)))
    trials[29] = end(trials[29], 29)  # one trial ended, one more asked
    trials.append(search.ask(spec, "job-1", trials, NOW))
    assert added == []
    search.ask(spec, "job-1", trials, NOW)
    assert len(added) == 1 and added[0].state is optuna.trial.TrialState.RUNNING


def test_a_history_the_kept_study_cannot_follow_is_rebuilt_with_the_same_answer():
    spec = bayesian()
    trials = run(spec, rebuild=False)[:25]
    paused = next(i for i, t in enumerate(trials) if t.state is TrialState.PRUNED)
    trials[paused] = dataclasses.replace(trials[paused], state=TrialState.PAUSED)
    search.ask(spec, "job-1", trials, NOW)
    # the paused trial resumes (a finished trial running again) and another one is gone from the history
    changed = [dataclasses.replace(t, state=TrialState.WAITING) if i == paused else t
               for i, t in enumerate(trials) if i != 2]
    kept = search.ask(spec, "job-1", changed, NOW)
    search.clear_cache()
    assert kept == search.ask(spec, "job-1", changed, NOW)


def test_each_job_and_spec_has_its_own_study():
    first, other_seed = bayesian(), bayesian(seed=7)
    trials = run(first, rebuild=False)[:12]
    a = search.ask(first, "job-1", trials, NOW)
    b = search.ask(other_seed, "job-1", trials, NOW)
    c = search.ask(first, "job-2", trials, NOW)
    search.clear_cache()
    assert (a, b) == (search.ask(first, "job-1", trials, NOW), search.ask(other_seed, "job-1", trials, NOW))
    assert (c.algorithm, c.params) == (a.algorithm, a.params) and c.job_id == "job-2"
