"""The Optuna study a Bayesian ask samples from, kept between asks (search.ask).

A study holds the job's trials so far. Without pruning: finished with an objective -> COMPLETE, failed
or cancelled -> FAIL, waiting or running -> RUNNING (TPE's constant liar steers away from them).

With pruning (successive halving over the train rows), TPE learns from one fidelity, as BOHB does: the
model rung is the highest rung with at least `model_threshold` trials scored on it (pooled over the
brackets), else rung 0. A trial scored at the model rung -> COMPLETE with that rung's score; one
pruned below it, or still on its way (waiting, running, paused for its rung's decision) -> RUNNING;
failed or cancelled before the rung -> FAIL. TPE counts only COMPLETE (and PRUNED, never told) trials, so
its good group is the best tenth of the model rung's scores alone, and RUNNING trials join its bad group
(the constant liar): a trial pruned below the rung lost there, so it marks a region not to ask again. Scores
of different fidelities are never ranked together (on diamonds, 1/9-row scores favoured heavily
regularised trials that lost on all the rows). A change of model rung rebuilds the study.

Building it from every trial took 0.05-0.6 s per ask at 80 trials (bench/bench_ask.py), so a study is
kept in memory per job (LRU, MAX_STUDIES) and brought up to date: new trials are added, and a trial
that was RUNNING is told its end in place. Anything else (a trial gone, a finished trial changed, a
new trial older than the last one told, more refused asks than trials) rebuilds it. The answer does not depend on the cache: each ask
gets a fresh sampler seeded from the history's length, and TPE reads only COMPLETE and RUNNING
trials in trial order, which a kept study and a rebuilt one share (the asks a learner refused are told
FAIL, which TPE ignores). tests/unit/test_search_cache.py checks a sequence of asks both ways.

Memoisation only: no I/O; optuna is imported lazily.
"""
from __future__ import annotations

import math
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from zygarde.domain import algorithms, search_space
from zygarde.domain.model import Trial, TrialState
from zygarde.domain.spec import CandidateSpec, JobSpec

MAX_STUDIES = 16  # jobs whose study is kept (a dispatch asks for one job at a time)

_RUNNING, _COMPLETE, _FAIL = "running", "complete", "fail"


MIN_MODEL_TRIALS = 5  # a rung with fewer scores never models (see model_threshold)


@dataclass
class _Kept:
    study: Any
    rung: int | None  # the model rung its trials were told at (None: the job does not prune)
    told: dict[str, tuple[int | None, tuple]] = field(default_factory=dict)  # trial id -> (number, what it was told)
    last_index: int = -1


_STUDIES: OrderedDict[tuple[str, str], _Kept] = OrderedDict()
LOCK = threading.Lock()  # held by search.ask around a study's use: asks on one process's threads take turns


def clear() -> None:
    """Forget every kept study (the next ask of each job rebuilds its own)."""
    with LOCK:
        _STUDIES.clear()


def study(spec: JobSpec, job_id: str, trials: list[Trial], labels: list[str]):
    """The job's study holding `trials` (training trials), with a fresh TPE sampler seeded from their
    number. The caller holds LOCK while it uses the study."""
    key = (job_id, spec.model_dump_json())
    kept = _STUDIES.get(key)
    ordered = sorted(trials, key=lambda t: t.index)
    rung = model_rung(spec, ordered)
    if kept is None or kept.rung != rung or _refused(kept) > max(len(kept.told), 20) \
            or not _bring_up_to_date(kept, spec, labels, ordered):
        kept = _Kept(_new_study(spec), rung)
        _add(kept, spec, labels, ordered)
    _STUDIES[key] = kept
    _STUDIES.move_to_end(key)
    while len(_STUDIES) > MAX_STUDIES:
        _STUDIES.popitem(last=False)
    kept.study.sampler = _sampler(spec, len(trials), pruned=rung is not None)
    return kept.study


def model_threshold(spec: JobSpec) -> int:
    """How many trials a rung needs scored on it to model TPE: BOHB's d + 1 (its min_points_in_model: a
    density over d dimensions needs more points than dimensions), d the most params of one candidate
    (with group=True TPE fits each candidate's params jointly, the algorithm choice on its own), with
    a floor of MIN_MODEL_TRIALS so that a one- or two-param space does not trust 2-3 scores. The default
    space's XGBoost has 8 params: 9, which is what a deadline job's first bracket of 27 takes to all the rows."""
    return max(MIN_MODEL_TRIALS, 1 + max((len(c.params) for c in spec.candidates), default=0))


def model_rung(spec: JobSpec, trials: list[Trial]) -> int | None:
    """The rung whose scores TPE learns from: the highest with at least model_threshold(spec) training
    trials scored on it (finite), else 0; None when the job does not prune (objectives only)."""
    pruning = spec.search.pruning
    if pruning is None:
        return None
    last = len(search_space.rung_fractions(pruning.min_fraction, pruning.reduction_factor)) - 1
    needed = model_threshold(spec)
    return next((r for r in range(last, 0, -1) if sum(_scored_at(t, r) for t in trials) >= needed), 0)


def _scored_at(t: Trial, rung: int) -> bool:
    return len(t.rung_scores) > rung and math.isfinite(t.rung_scores[rung])


def _refused(kept: _Kept) -> int:
    """The study's asks a learner refused or search.ask took (told FAIL): every TPE sample filters
    them out again, so once they outnumber the trials the study is rebuilt without them."""
    told = sum(number is not None for number, _ in kept.told.values())
    return len(kept.study._storage.get_all_trials(kept.study._study_id, deepcopy=False)) - told


def _sampler(spec: JobSpec, told: int, pruned: bool = False):
    """A TPE sampler seeded from the history's length. For a pruning job it samples at random until the
    model rung has model_threshold scores (its COMPLETE trials are all TPE counts), as BOHB does."""
    import optuna

    startup = model_threshold(spec) if pruned else spec.search.n_startup_trials
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # group=True
        return optuna.samplers.TPESampler(
            seed=(spec.seed + told) % 2**32, n_startup_trials=startup,
            multivariate=True, group=True, constant_liar=True)


def _new_study(spec: JobSpec):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(direction=spec.direction, sampler=_sampler(spec, 0))


def _told(t: Trial, rung: int | None) -> tuple:
    """What the study is told of a trial, given the model rung (None: no pruning): (kind, value)."""
    if rung is None:
        if t.state is TrialState.SUCCEEDED and t.objective is not None and math.isfinite(t.objective):
            return (_COMPLETE, t.objective)
    elif _scored_at(t, rung):
        return (_COMPLETE, t.rung_scores[rung])
    elif t.state is TrialState.PRUNED:
        return (_RUNNING, None)  # pruned below the model rung: in TPE's bad group, not counted (see above)
    if t.state.is_finished():
        return (_FAIL, None)
    return (_RUNNING, None)  # waiting, running, or paused for its rung's decision


def _bring_up_to_date(kept: _Kept, spec: JobSpec, labels: list[str], ordered: list[Trial]) -> bool:
    """Tell the kept study what changed; False (nothing told) when only a rebuild can hold `ordered`."""
    ids = {t.trial_id for t in ordered}
    if any(trial_id not in ids for trial_id in kept.told):
        return False
    new, ended = [], []
    for t in ordered:
        if t.trial_id not in kept.told:
            new.append(t)
            continue
        number, before = kept.told[t.trial_id]
        now = _told(t, kept.rung)
        if now != before:
            if before[0] != _RUNNING:
                return False
            if number is not None:
                ended.append((t, number, now))
    if new and min(t.index for t in new) <= kept.last_index:
        return False
    storage, study_id = kept.study._storage, kept.study._study_id
    for t, number, (kind, value) in ended:
        _end(storage, storage.get_trial_id_from_study_id_trial_number(study_id, number), kind, value)
        kept.told[t.trial_id] = (number, (kind, value))
    _add(kept, spec, labels, new)
    return True


def _end(storage, trial_id: int, kind: str, value: float | None) -> None:
    import optuna

    states = {_COMPLETE: optuna.trial.TrialState.COMPLETE, _FAIL: optuna.trial.TrialState.FAIL}
    storage.set_trial_state_values(trial_id, states[kind], [value] if kind == _COMPLETE else None)


def _add(kept: _Kept, spec: JobSpec, labels: list[str], ordered: list[Trial]) -> None:
    import optuna

    for t in ordered:
        told = _told(t, kept.rung)
        kept.last_index = max(kept.last_index, t.index)
        known = _known_params(spec.candidates, labels, t)
        if known is None:  # not in this space (cannot happen for trials search.py made)
            kept.told[t.trial_id] = (None, told)
            continue
        params, distributions = known
        kind, value = told
        state = {_COMPLETE: optuna.trial.TrialState.COMPLETE, _FAIL: optuna.trial.TrialState.FAIL,
                 _RUNNING: optuna.trial.TrialState.RUNNING}[kind]
        frozen = optuna.trial.create_trial(params=params, distributions=distributions, state=state, value=value)
        number = len(kept.study._storage.get_all_trials(kept.study._study_id, deepcopy=False))
        kept.study.add_trial(frozen)
        kept.told[t.trial_id] = (number, told)


def _known_params(candidates: list[CandidateSpec], labels: list[str], trial: Trial):
    """(params, distributions) of a stored trial in the study's names, from the first candidate of
    its algorithm whose space holds it; None if none does."""
    from optuna.distributions import CategoricalDistribution

    for cand, label in zip(candidates, labels):
        if cand.algorithm != trial.algorithm or set(cand.params) != set(trial.params):
            continue
        algo = algorithms.ALGORITHMS[cand.algorithm]
        params: dict[str, Any] = {"algorithm": label}
        distributions = {"algorithm": CategoricalDistribution(labels)}
        for key, hp in cand.params.items():
            ok, value = search_space.optuna_value(hp, algo.params[key], trial.params[key])
            if not ok:
                break
            params[f"{label}.{key}"] = value
            distributions[f"{label}.{key}"] = search_space.optuna_distribution(hp)
        else:
            return params, distributions
    return None
