"""Successive halving's pure rule (domain/pruning.py) and its spec."""
from __future__ import annotations

import dataclasses

import pytest

from tests.unit.conftest import DATA_URI
from zygarde.domain import pruning, search
from zygarde.domain.errors import SpecError
from zygarde.domain.model import Trial, TrialState
from zygarde.domain.pruning import PROMOTE, PRUNE, Rungs, decide
from zygarde.domain.spec import parse_job_spec

RUNGS = Rungs((1 / 9, 1 / 3, 1.0), 3)
S = TrialState


def trial(i: int, state: TrialState = S.PAUSED, scores=(), rung: int | None = None) -> Trial:
    scores = list(scores)
    rung = rung if rung is not None else max(len(scores) - 1, 0)
    extra = {"error": "boom"} if state is S.FAILED else {}
    if state is S.SUCCEEDED:
        extra["objective"] = scores[-1]
    if state.is_active():
        extra.update(slot=0, attempt=1)
    return Trial(job_id="j", trial_id=f"t{i:04d}", index=i, algorithm="logistic_regression", params={},
                 state=state, rung=rung, rung_scores=scores, train_fraction=RUNGS.fraction(rung), **extra)


def actions(decisions) -> dict[str, str]:
    return {d.trial_id: d.action for d in decisions}


def test_rungs_are_min_fraction_times_eta_powers_up_to_one():
    assert search_fractions(1 / 9, 3) == pytest.approx([1 / 9, 1 / 3, 1.0])
    assert search_fractions(0.25, 2) == pytest.approx([0.25, 0.5, 1.0])
    assert search_fractions(0.5, 3) == pytest.approx([0.5, 1.0])


def search_fractions(min_fraction, eta):
    from zygarde.domain.search_space import rung_fractions

    return rung_fractions(min_fraction, eta)


def test_nothing_is_promoted_until_eta_trials_are_scored_at_the_rung():
    trials = [trial(0, scores=[0.9]), trial(1, scores=[0.8]), trial(2, S.WAITING, rung=0)]
    assert decide(trials, RUNGS, "maximize", exhausted=True) == []


def test_the_top_one_in_eta_is_promoted_as_soon_as_it_is_known():
    trials = [trial(0, scores=[0.7]), trial(1, scores=[0.9]), trial(2, scores=[0.8]), trial(3, S.WAITING, rung=0)]
    decisions = decide(trials, RUNGS, "maximize", exhausted=True)
    assert actions(decisions) == {"t0001": PROMOTE}  # rung 0 is not final: t0003 may still beat the others
    assert "top 1 of 3" in decisions[0].message


def test_minimize_promotes_the_lowest():
    trials = [trial(0, scores=[3.0]), trial(1, scores=[1.0]), trial(2, scores=[2.0]), trial(3, S.RUNNING, rung=0)]
    assert actions(decide(trials, RUNGS, "minimize", exhausted=True)) == {"t0001": PROMOTE}


def test_a_final_rung_prunes_all_but_the_top():
    scores = [0.5, 0.9, 0.6, 0.8, 0.7, 0.55]
    trials = [trial(i, scores=[s]) for i, s in enumerate(scores)]
    decided = actions(decide(trials, RUNGS, "maximize", exhausted=True))
    assert decided == {"t0001": PROMOTE, "t0003": PROMOTE, "t0000": PRUNE, "t0002": PRUNE, "t0004": PRUNE,
                       "t0005": PRUNE}


def test_prune_message_names_the_score_and_the_cut():
    trials = [trial(i, scores=[s]) for i, s in enumerate([0.5, 0.9, 0.6])]
    pruned = [d for d in decide(trials, RUNGS, "maximize", exhausted=True, metric="auc") if d.action == PRUNE]
    assert pruned[-1].message.startswith("pruned at rung 0 (11.1% of the train rows): auc=0.5")
    assert "the cut: auc=0.9" in pruned[0].message


def test_no_pruning_while_the_search_may_add_trials_at_the_rung():
    trials = [trial(i, scores=[s]) for i, s in enumerate([0.5, 0.9, 0.6])]
    assert actions(decide(trials, RUNGS, "maximize", exhausted=False)) == {"t0001": PROMOTE}


def test_a_rung_is_not_final_while_a_lower_one_has_paused_trials():
    # rung 1: t0 scored, t1 still paused at rung 0 and may be promoted into rung 1
    trials = [trial(0, scores=[0.9, 0.7]), trial(1, scores=[0.8]), trial(2, S.PRUNED, scores=[0.1]),
              trial(3, S.PRUNED, scores=[0.2])]
    decided = actions(decide(trials, RUNGS, "maximize", exhausted=True))
    # rung 0 (n=4, quota 1: t0 already went on): t1 is pruned; then rung 1 is final with t0 alone: it goes on
    assert decided == {"t0001": PRUNE, "t0000": PROMOTE}


def test_the_last_survivor_is_never_pruned():
    trials = [trial(0, scores=[0.4]), trial(1, S.FAILED, rung=0)]
    decisions = decide(trials, RUNGS, "maximize", exhausted=True)
    assert actions(decisions) == {"t0000": PROMOTE}
    assert "best of 1 left to go on" in decisions[0].message


def test_a_survivor_replaces_a_promoted_trial_that_failed():
    trials = [trial(0, S.FAILED, scores=[0.9], rung=1), trial(1, scores=[0.8]), trial(2, scores=[0.7])]
    assert actions(decide(trials, RUNGS, "maximize", exhausted=True)) == {"t0001": PROMOTE, "t0002": PRUNE}


def test_a_running_promoted_trial_counts_as_the_survivor():
    trials = [trial(0, S.RUNNING, scores=[0.9], rung=1), trial(1, scores=[0.8]), trial(2, scores=[0.7])]
    assert actions(decide(trials, RUNGS, "maximize", exhausted=True)) == {"t0001": PRUNE, "t0002": PRUNE}


def test_deciding_is_replay_safe_once_applied():
    trials = [trial(i, scores=[s]) for i, s in enumerate([0.5, 0.9, 0.6])]
    first = decide(trials, RUNGS, "maximize", exhausted=True)
    applied = []
    for t in trials:
        d = next(d for d in first if d.trial_id == t.trial_id)
        applied.append(dataclasses.replace(t, state=S.WAITING if d.action == PROMOTE else S.PRUNED,
                                           rung=t.rung + (d.action == PROMOTE)))
    assert decide(applied, RUNGS, "maximize", exhausted=True) == []
    assert decide(trials, RUNGS, "maximize", exhausted=True) == first  # the same trials decide the same


def test_the_last_rung_is_never_paused_or_decided():
    trials = [trial(0, S.SUCCEEDED, scores=[0.9, 0.8, 0.7], rung=2), trial(1, S.SUCCEEDED, scores=[0.9, 0.8, 0.6],
                                                                         rung=2)]
    assert decide(trials, RUNGS, "maximize", exhausted=True) == []


def _spec(**search):
    return {"owner": "ana@example.com", "dataset": {"uri": DATA_URI, "format": "csv", "target": "y"},
            "task": "binary_classification",
            "candidates": [{"algorithm": "logistic_regression", "params": {"regParam": {"type": "float", "low": 0.001,
                                                                                        "high": 1.0}}}],
            "search": {"strategy": "random", "max_trials": 9, **search}}


def test_spec_pruning_defaults_and_first_fraction():
    spec = parse_job_spec(_spec(pruning={"strategy": "successive_halving"}))
    assert spec.search.pruning.min_fraction == pytest.approx(1 / 9) and spec.search.pruning.reduction_factor == 3
    assert pruning.first_fraction(spec) == pytest.approx(1 / 9)
    assert [t.train_fraction for t in search.initial_trials(spec, "j", "now")] == [pytest.approx(1 / 9)] * 9
    assert pruning.first_fraction(parse_job_spec(_spec())) == 1.0


@pytest.mark.parametrize("bad, where, words", [
    ({"strategy": "hyperband"}, "search.pruning.strategy", "successive_halving"),
    ({"min_fraction": 0}, "search.pruning.min_fraction", "greater than 0"),
    ({"min_fraction": 1.0}, "search.pruning.min_fraction", "less than 1"),
    ({"reduction_factor": 1}, "search.pruning.reduction_factor", "greater than or equal to 2"),
    ({"reduction_factor": 2.5}, "search.pruning.reduction_factor", "integer"),
    ({"min_fraction": 1e-6, "reduction_factor": 2}, "search.pruning", "rungs"),
    ({"eta": 3}, "search.pruning.eta", "not permitted"),
])
def test_spec_pruning_errors_name_the_field(bad, where, words):
    with pytest.raises(SpecError) as exc:
        parse_job_spec(_spec(pruning=bad))
    assert any(path == where and words in reason for path, reason in exc.value.problems), exc.value.problems


def test_bayesian_asks_at_the_first_fraction():
    spec = parse_job_spec(_spec(strategy="bayesian", pruning={"min_fraction": 0.25, "reduction_factor": 2}))
    asked = search.ask(spec, "j", [], "now")
    assert asked.train_fraction == 0.25 and asked.rung == 0
    assert not search.exhausted(spec, [asked]) and search.exhausted(spec, [asked] * 9)


# --- brackets: a long search halves bracket after bracket --------------------------------------------

BRACKETS = Rungs((1 / 3, 1.0), 3, bracket_trials=3)


def test_a_full_bracket_is_pruned_while_the_next_one_is_still_being_asked():
    trials = [trial(0, scores=[0.7]), trial(1, scores=[0.9]), trial(2, scores=[0.8]),  # bracket 0: all three in
              trial(3, scores=[0.95]), trial(4, S.RUNNING, rung=0)]  # bracket 1: one of three asked so far
    decisions = decide(trials, BRACKETS, "maximize", exhausted=False)
    assert actions(decisions) == {"t0001": PROMOTE, "t0000": PRUNE, "t0002": PRUNE}
    assert all("of bracket 0" in d.message for d in decisions)
    # without brackets nothing may be pruned yet: the search is still asking
    one = dataclasses.replace(BRACKETS, bracket_trials=None)
    assert actions(decide(trials, one, "maximize", exhausted=False)) == {"t0003": PROMOTE}


def test_each_bracket_is_ranked_on_its_own():
    # bracket 1's scores are all below bracket 0's, yet its best goes on: quotas are per bracket
    trials = [trial(i, S.PRUNED if i != 1 else S.SUCCEEDED, scores=[s] if i != 1 else [s, 0.9])
              for i, s in enumerate([0.7, 0.9, 0.8])]
    trials += [trial(3, scores=[0.2]), trial(4, scores=[0.4]), trial(5, scores=[0.3])]
    assert actions(decide(trials, BRACKETS, "maximize", exhausted=False)) == {
        "t0004": PROMOTE, "t0003": PRUNE, "t0005": PRUNE}


def test_an_unfinished_last_bracket_is_decided_when_the_search_ends():
    trials = [trial(0, scores=[0.7]), trial(1, scores=[0.5])]  # a bracket of 3 cut at 2 by the search's end
    assert decide(trials, BRACKETS, "maximize", exhausted=False) == []
    assert actions(decide(trials, BRACKETS, "maximize", exhausted=True)) == {"t0000": PROMOTE, "t0001": PRUNE}


def test_bracket_trials_is_checked_and_reaches_the_rungs():
    spec = parse_job_spec(_spec(pruning={"min_fraction": 1 / 9, "reduction_factor": 3, "bracket_trials": 27}))
    assert pruning.rungs_of(spec).bracket_trials == 27
    with pytest.raises(SpecError) as err:
        parse_job_spec(_spec(pruning={"bracket_trials": 1}))
    assert "search.pruning.bracket_trials" in str(err.value)


def test_a_bracket_promotes_only_once_its_rung_is_complete_unlike_asha():
    early = [trial(0, scores=[0.9]), trial(1, scores=[0.1]), trial(2, scores=[0.2]), trial(3, S.RUNNING, rung=0)]
    six = Rungs((1 / 3, 1.0), 3, bracket_trials=6)
    assert decide(early, six, "maximize", exhausted=False) == []  # 4 of 6 asked: t0000 waits for the rest
    asha = dataclasses.replace(six, bracket_trials=None)
    assert actions(decide(early, asha, "maximize", exhausted=False)) == {"t0000": PROMOTE}  # ASHA: at once
    full = early[:3] + [trial(3, scores=[0.95]), trial(4, scores=[0.3]), trial(5, scores=[0.4])]
    assert actions(decide(full, six, "maximize", exhausted=False)) == {
        "t0000": PROMOTE, "t0003": PROMOTE, "t0001": PRUNE, "t0002": PRUNE, "t0004": PRUNE, "t0005": PRUNE}
