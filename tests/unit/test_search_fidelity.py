"""A pruning job's TPE learns from one fidelity, as BOHB does: the highest rung with enough trials
scored on it (tpe_study.model_rung), never a mix of low-row scores and whole-train ones."""
from __future__ import annotations

import statistics

import pytest

from tests.unit.conftest import spec_dict
from zygarde.domain import search, tpe_study
from zygarde.domain.model import Trial, TrialState
from zygarde.domain.spec import parse_job_spec

NOW = "2026-01-01T00:00:00+00:00"
SPACE = [{"algorithm": "linear_regression", "params": {
    "regParam": {"type": "float", "low": 1e-4, "high": 10.0, "log": True},
    "elasticNetParam": {"type": "float", "low": 0.0, "high": 1.0}}}]
HISTORY = 60  # trials scored on 1/3 of the rows


@pytest.fixture(autouse=True)
def fresh_cache():
    search.clear_cache()
    yield
    search.clear_cache()


def pruning_spec(seed: int = 42, min_fraction: float = 1 / 3):
    return parse_job_spec(spec_dict(task="regression", candidates=SPACE, seed=seed, search={
        "strategy": "bayesian", "max_trials": 200, "n_startup_trials": 10,
        "pruning": {"min_fraction": min_fraction, "reduction_factor": 3}}))


def history(promoted: int) -> list[Trial]:
    """HISTORY trials spread over elasticNetParam: on a third of the rows the low ones score best
    (rmse = e), on all the rows the high ones do (rmse = 1 - e). `promoted` of them, spread over the
    range, went on to all the rows and SUCCEEDED; the others were PRUNED at rung 0."""
    step = HISTORY // promoted
    trials = []
    for i in range(HISTORY):
        e = (i + 0.5) / HISTORY
        params = {"elasticNetParam": e, "regParam": 10 ** (-4 + 5 * ((i * 7) % HISTORY) / HISTORY)}
        base = Trial(job_id="job-1", trial_id=search.trial_id(i), index=i, algorithm="linear_regression",
                     params=params, created_at=NOW, train_fraction=1 / 3)
        if i % step == step // 2 and i // step < promoted:
            trials.append(Trial(**{**base.__dict__, "state": TrialState.SUCCEEDED, "rung": 1, "train_fraction": 1.0,
                                   "rung_scores": [e, 1 - e], "objective": 1 - e}))
        else:
            trials.append(Trial(**{**base.__dict__, "state": TrialState.PRUNED, "rung_scores": [e]}))
    return trials


def proposals(trials: list[Trial]) -> list[float]:
    """elasticNetParam of the next TPE ask for eight seeds (a distribution, deterministic)."""
    return [search.ask(pruning_spec(seed), "job-1", trials, NOW).params["elasticNetParam"] for seed in range(8)]


def test_tpe_follows_the_whole_rows_once_they_have_enough_trials():
    trials = history(promoted=6)  # 6 >= model_threshold: 2 params -> max(5, 3)
    assert tpe_study.model_rung(pruning_spec(), trials) == 1
    asked = proposals(trials)
    # the rung-0 scores point the other way (the low values); the whole rows' best is at e ~ 0.96
    assert statistics.fmean(asked) > 0.7 and min(asked) > 0.4, asked


def test_tpe_follows_the_lower_rung_while_the_higher_has_too_few_trials():
    trials = history(promoted=4)
    assert tpe_study.model_rung(pruning_spec(), trials) == 0
    asked = proposals(trials)
    assert statistics.fmean(asked) < 0.3 and max(asked) < 0.6, asked


def test_the_model_rung_is_the_highest_with_enough_scores_at_the_boundary():
    spec = pruning_spec(min_fraction=1 / 9)  # rungs 1/9, 1/3, all the rows
    needed = tpe_study.model_threshold(spec)
    assert needed == tpe_study.MIN_MODEL_TRIALS == 5

    def trials(counts: tuple[int, int, int]) -> list[Trial]:
        """counts[r] trials scored up to rung r (each also at the rungs below), PAUSED/SUCCEEDED."""
        out = []
        for rung, n in enumerate(counts):
            for _ in range(n):
                i = len(out)
                scores = [0.5] * (rung + 1)
                state = TrialState.SUCCEEDED if rung == 2 else TrialState.PRUNED
                out.append(Trial(job_id="job-1", trial_id=search.trial_id(i), index=i, algorithm="linear_regression",
                                 params={"regParam": 0.1, "elasticNetParam": i / 100}, state=state, rung=rung,
                                 rung_scores=scores, objective=0.5 if rung == 2 else None))
        return out

    assert tpe_study.model_rung(spec, trials((20, 0, needed))) == 2
    assert tpe_study.model_rung(spec, trials((20, 1, needed - 1))) == 1  # rung 1: 5 scores (4 went on)
    assert tpe_study.model_rung(spec, trials((20, 0, needed - 1))) == 0  # rung 1: 4 scores
    assert tpe_study.model_rung(spec, trials((20, needed, 0))) == 1
    assert tpe_study.model_rung(spec, trials((20, needed - 1, 0))) == 0
    assert tpe_study.model_rung(spec, trials((3, 0, 0))) == 0  # not enough anywhere: the lowest
    running = [Trial(**{**t.__dict__, "rung_scores": [0.5, float("nan")]}) for t in trials((0, needed, 0))]
    assert tpe_study.model_rung(spec, running) == 0  # a non-finite score does not count
    no_pruning = parse_job_spec(spec_dict(task="regression", candidates=SPACE,
                                          search={"strategy": "bayesian", "max_trials": 20}))
    assert tpe_study.model_rung(no_pruning, trials((0, 0, 9))) is None


def test_the_default_deadline_space_models_from_all_the_rows_after_the_first_bracket():
    from zygarde.domain.default_space import fill_defaults

    spec = parse_job_spec(fill_defaults(spec_dict(task="regression", candidates=None, search=None,
                                                  budget={"deadline_minutes": 30})))
    assert tpe_study.model_threshold(spec) == 9  # XGBoost's 8 params + 1: the 9 of 27 a bracket takes to all rows


def test_a_change_of_model_rung_rebuilds_the_study_with_the_same_answer():
    spec = pruning_spec()
    paused = history(promoted=4)
    last = paused[-1]  # pruned in that history, paused here: its rung's decision is pending
    paused[-1] = Trial(**{**last.__dict__, "state": TrialState.PAUSED})
    assert tpe_study.model_rung(spec, paused) == 0
    search.ask(spec, "job-1", paused, NOW)  # the kept study: rung 0 scores
    e = last.params["elasticNetParam"]
    fifth = [*paused[:-1], Trial(**{**last.__dict__, "state": TrialState.SUCCEEDED, "rung": 1, "train_fraction": 1.0,
                                    "rung_scores": [e, 1 - e], "objective": 1 - e})]
    assert tpe_study.model_rung(spec, fifth) == 1  # the fifth trial on all the rows moves the model up
    kept = search.ask(spec, "job-1", fifth, NOW)
    search.clear_cache()
    assert kept == search.ask(spec, "job-1", fifth, NOW)


def test_a_kept_study_and_a_rebuilt_one_ask_the_same_points_as_the_model_rung_moves_up():
    spec = parse_job_spec(spec_dict(task="regression", candidates=SPACE, seed=3, search={
        "strategy": "bayesian", "max_trials": 36, "n_startup_trials": 6,
        "pruning": {"min_fraction": 1 / 3, "reduction_factor": 3}}))

    def end(t: Trial) -> Trial:
        """Scored on a third of the rows, then: on all of them (1 in 3), pruned, paused, or failed."""
        e = t.params["elasticNetParam"]
        if t.index % 3 == 0:
            return Trial(**{**t.__dict__, "state": TrialState.SUCCEEDED, "rung": 1, "train_fraction": 1.0,
                            "rung_scores": [e, 1 - e], "objective": 1 - e})
        if t.index % 7 == 5:
            return Trial(**{**t.__dict__, "state": TrialState.FAILED, "error": "executor lost"})
        return Trial(**{**t.__dict__, "state": TrialState.PAUSED if t.index % 4 == 1 else TrialState.PRUNED,
                        "rung_scores": [e]})

    def run(rebuild: bool) -> tuple[list[Trial], list[int | None]]:
        trials: list[Trial] = []
        rungs = []
        while (nxt := search.ask(spec, "job-1", trials, NOW)) is not None:
            trials.append(nxt)
            if len(trials) > 2:  # two running at once, the oldest ending before the next ask
                trials[-3] = end(trials[-3])
            rungs.append(tpe_study.model_rung(spec, trials))
            if rebuild:
                search.clear_cache()
        return trials, rungs

    (kept, rungs), (rebuilt, _) = run(rebuild=False), run(rebuild=True)
    assert len(kept) == 36 and rungs[0] == 0 and rungs[-1] == 1  # the model moved to all the rows
    assert [(t.algorithm, t.params) for t in kept] == [(t.algorithm, t.params) for t in rebuilt]
