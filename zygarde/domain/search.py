"""Search strategies: turn a spec's candidates into trials.

- grid: every combination of every candidate's values, in spec order (capped by max_trials);
- random: max_trials points drawn with a RNG seeded by the spec's seed, all created up front and
  ordered cheapest first by their guessed cost (perf_prior.relative_cost), so a budget spends on cheap ones first;
- bayesian: nothing up front; `ask` proposes one trial at a time from the trials so far: the first
  n_startup_trials are the starting portfolio's configurations that lie in the job's space (portfolio.py,
  measured across datasets by bench/build_portfolio.py; in its order), then random search's seeded
  points, cheapest first (FLAML's cost-frugal start); the rest come from Optuna's TPE sampler and its
  ask interface, on a study kept in memory per job and told only what changed since the last ask
  (tpe_study.py: a pruning job's TPE learns from one rung); a kept study and one rebuilt from the
  stored trials give the same answer, so the functions that call it stay stateless.

Every function is pure and deterministic given the spec (and, for `ask`, the trials so far).
"""
from __future__ import annotations

import random
from collections import Counter
from typing import Any

from zygarde.domain import algorithms, perf_prior, portfolio, pruning, search_space, tpe_study
from zygarde.domain.model import TRAIN, StageKind, Trial
from zygarde.domain.spec import CandidateSpec, JobSpec

Point = tuple[str, dict[str, Any]]  # (algorithm, coerced params)
_TRIES = 50  # draws/asks before accepting a repeat or a combination the learner's rules refuse


def trial_id(index: int) -> str:
    return f"t{index:04d}"


def is_adaptive(spec: JobSpec) -> bool:
    """True when trials come one at a time from `ask` rather than all from `initial_trials`."""
    return spec.search.strategy == "bayesian"


def planned_trial_count(spec: JobSpec) -> int:
    """How many trials the job runs in all: the grid's size, or max_trials (fewer when the space has
    fewer distinct points)."""
    if not is_adaptive(spec):
        return len(_points(spec))
    finite = search_space.finite_points(spec.candidates, algorithms.ALGORITHMS)
    return spec.search.max_trials if finite is None else min(spec.search.max_trials, len(finite))


def initial_trials(spec: JobSpec, job_id: str, now: str) -> list[Trial]:
    """The trials created with the job: all of them for grid and random, none for bayesian."""
    if is_adaptive(spec):
        return []
    fraction = pruning.first_fraction(spec)
    return [_trial(job_id, i, algo, params, now, fraction) for i, (algo, params) in enumerate(_points(spec))]


def expand(spec: JobSpec, job_id: str, now: str) -> list[Trial]:
    """The trials created with the job (kept for callers of the grid-only version)."""
    return initial_trials(spec, job_id, now)


def grid(spec: JobSpec, job_id: str, now: str) -> list[Trial]:
    """Every combination of every candidate's values, in spec order, indexed from 0."""
    points = _grid_points(spec.candidates)
    return [_trial(job_id, i, algo, params, now) for i, (algo, params) in enumerate(points)]


def ask(spec: JobSpec, job_id: str, trials: list[Trial], now: str) -> Trial | None:
    """The next trial of a Bayesian search given every trial of the job so far (any state; its stages are
    left out), or None when the search is not adaptive or has all its trials. Its index is the number of
    training trials: two calls with the same history return the same trial, so storing it by id lets
    exactly one caller own it."""
    trials = [t for t in trials if t.kind is StageKind.TRAIN]
    if not is_adaptive(spec) or len(trials) >= planned_trial_count(spec):
        return None
    algo, params = _startup_point(spec, trials) or _tpe_point(spec, job_id, trials)
    return _trial(job_id, len(trials), algo, params, now, pruning.first_fraction(spec))


def exhausted(spec: JobSpec, trials: list[Trial]) -> bool:
    """True when the search will create no more trials (every training trial is in `trials`)."""
    return not is_adaptive(spec) or sum(t.kind == TRAIN for t in trials) >= planned_trial_count(spec)


# --- grid and random ------------------------------------------------------------------------------

def _points(spec: JobSpec) -> list[Point]:
    if spec.search.strategy == "grid":
        points = _grid_points(spec.candidates)
        return points[:spec.search.max_trials] if spec.search.max_trials else points
    if spec.search.strategy == "random":
        return _cheapest_first(_random_points(spec))
    raise ValueError(f"{spec.search.strategy} search has no fixed list of trials")


def _grid_points(candidates: list[CandidateSpec]) -> list[Point]:
    """Combinations the learner's cross-parameter rules refuse (e.g. a GLM family with a link it
    does not support) are left out: they could only fail."""
    return [(c.algorithm, params) for c in candidates
            for params in search_space.combinations(algorithms.ALGORITHMS[c.algorithm], c.params)]


def _cheapest_first(points: list[Point]) -> list[Point]:
    """By guessed cost (perf_prior.relative_cost); a stable sort, so ties keep their drawn order."""
    return sorted(points, key=lambda point: perf_prior.relative_cost(*point))


def _random_points(spec: JobSpec, wanted: int | None = None) -> list[Point]:
    """`wanted` (default max_trials) distinct points: a candidate uniformly, then each param from its
    values or distribution. A finite space with no more points than that is run whole, shuffled."""
    rng = random.Random(spec.seed)
    wanted = spec.search.max_trials if wanted is None else wanted
    finite = search_space.finite_points(spec.candidates, algorithms.ALGORITHMS)
    if finite is not None and len(finite) <= wanted:
        rng.shuffle(finite)
        return finite
    points: list[Point] = []
    seen: set[str] = set()
    while len(points) < wanted:
        point = _novel_draw(spec.candidates, rng, seen, finite)
        seen.add(search_space.point_key(*point))
        points.append(point)
    return points


def _novel_draw(candidates: list[CandidateSpec], rng: random.Random, seen: set[str],
                finite: list[Point] | None) -> Point:
    point: Point | None = None
    for _ in range(_TRIES):
        cand = rng.choice(candidates)
        algo = algorithms.ALGORITHMS[cand.algorithm]
        params = {k: search_space.draw(hp, algo.params[k], rng) for k, hp in sorted(cand.params.items())}
        point = (cand.algorithm, params)
        if not algo.problems(params) and search_space.point_key(*point) not in seen:
            return point
    return _first_unseen(finite, seen, rng) or point


def _first_unseen(finite: list[Point] | None, seen: set[str], rng: random.Random) -> Point | None:
    """An unseen point of a finite space, picked at random; None when there is none."""
    if finite is None:
        return None
    unseen = [p for p in finite if search_space.point_key(*p) not in seen]
    return rng.choice(unseen) if unseen else None


def _trial(job_id: str, index: int, algorithm: str, params: dict[str, Any], now: str,
           train_fraction: float = 1.0) -> Trial:
    return Trial(job_id=job_id, trial_id=trial_id(index), index=index, algorithm=algorithm,
                 params=params, created_at=now, train_fraction=train_fraction)


# --- bayesian (Optuna TPE, imported lazily) -------------------------------------------------------

def _startup_point(spec: JobSpec, trials: list[Trial]) -> Point | None:
    """The first startup point (portfolio_points, then the n_startup_trials seeded random points,
    cheapest first) that no trial has tried, while fewer than n_startup_trials trials exist; None once
    they are all asked (TPE takes over). A job whose first trials were asked by another rule (say,
    before the portfolio) goes on from its history the same way every time."""
    if len(trials) >= spec.search.n_startup_trials:
        return None
    seen = {search_space.point_key(t.algorithm, t.params) for t in trials}
    startup = [*portfolio_points(spec), *_cheapest_first(_random_points(spec, spec.search.n_startup_trials))]
    return next((p for p in startup if search_space.point_key(*p) not in seen), None)


def portfolio_points(spec: JobSpec) -> list[Point]:
    """The starting portfolio's configurations inside the job's space, in the portfolio's order: each
    on the first candidate of its learner (portfolio.LEARNERS) whose space holds it (exactly its params,
    every value within the range or among the choices), coerced by the learner's params and accepted by
    its rules. A job that narrows or widens a learner's params gets only the points that fit."""
    points: list[Point] = []
    for learner, params in portfolio.PORTFOLIO:
        for cand in spec.candidates:
            if cand.algorithm not in portfolio.LEARNERS[learner] or set(cand.params) != set(params):
                continue
            algo = algorithms.ALGORITHMS[cand.algorithm]
            known = {k: search_space.optuna_value(hp, algo.params[k], params[k]) for k, hp in cand.params.items()}
            if not all(ok for ok, _ in known.values()):
                continue
            point = (cand.algorithm, {k: algo.params[k].coerce(known[k][1]) for k in sorted(cand.params)})
            if not algo.problems(point[1]) and point not in points:
                points.append(point)
            break
    return points


def _labels(candidates: list[CandidateSpec]) -> list[str]:
    """One name per candidate in the study: the algorithm, numbered when it appears twice."""
    counts, seen, labels = Counter(c.algorithm for c in candidates), Counter(), []
    for c in candidates:
        seen[c.algorithm] += 1
        labels.append(c.algorithm if counts[c.algorithm] == 1 else f"{c.algorithm}#{seen[c.algorithm]}")
    return labels


def _tpe_point(spec: JobSpec, job_id: str, trials: list[Trial]) -> Point:
    """Ask the job's study (tpe_study: kept between asks, the same answer as one rebuilt from `trials`)
    for a point the learner accepts and no trial has tried yet."""
    import optuna

    labels = _labels(spec.candidates)
    seen = {search_space.point_key(t.algorithm, t.params) for t in trials}
    with tpe_study.LOCK:
        study = tpe_study.study(spec, job_id, trials, labels)
        for _ in range(_TRIES):
            asked = study.ask()
            label = asked.suggest_categorical("algorithm", labels)
            cand = spec.candidates[labels.index(label)]
            algo = algorithms.ALGORITHMS[cand.algorithm]
            params = {k: algo.params[k].coerce(_suggest(asked, f"{label}.{k}", hp))
                      for k, hp in sorted(cand.params.items())}
            point = (cand.algorithm, params)
            # told FAIL (TPE ignores those) either way: a refused point is asked again, and an accepted
            # one joins the study as the stored trial it becomes, at the next ask
            study.tell(asked, state=optuna.trial.TrialState.FAIL)
            if not algo.problems(params) and search_space.point_key(*point) not in seen:
                return point
    # TPE keeps to a spent corner (say a learner whose few values are all tried): a random new point
    finite = search_space.finite_points(spec.candidates, algorithms.ALGORITHMS)
    return _novel_draw(spec.candidates, random.Random(spec.seed + len(trials)), seen, finite)


def clear_cache() -> None:
    """Forget the kept Optuna studies (tpe_study): the next ask of each job rebuilds its own."""
    tpe_study.clear()


def _suggest(asked, name: str, hp: Any) -> Any:
    dist = search_space.optuna_distribution(hp)
    if isinstance(hp, search_space.Range):
        if hp.type == "int":
            return asked.suggest_int(name, dist.low, dist.high, log=dist.log)
        return asked.suggest_float(name, dist.low, dist.high, log=dist.log)
    return asked.suggest_categorical(name, list(dist.choices))
