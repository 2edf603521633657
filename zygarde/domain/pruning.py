"""Successive halving over the training-data fraction (multi-fidelity search, ASHA style).

A pruning job's trials climb rungs: rung k fits on fractions[k] of the train part (min_fraction,
min_fraction * eta, ..., 1.0) and is scored on the whole validation part. A trial that has a score at
rung r (r below the last) waits PAUSED until it is decided:

- promoted (to run rung r + 1, back WAITING) as soon as its score is in the top floor(n / eta) of the
  n trials scored at rung r so far, as in ASHA (Li et al., Ray Tune) and Optuna's SuccessiveHalvingPruner;
- PRUNED once rung r's population is final (no trial can still reach it: the search has asked all
  its trials and none runs, waits or is paused below or at rung r) and it is not in that top. Then
  at least one trial scored at rung r goes on whenever none that went on is still alive, so the last
  survivor is never pruned.

With bracket_trials set, trials are grouped in brackets by index (index // bracket_trials) and each
bracket is halved on its own, its populations final once all its trials exist: a search that keeps
asking (until its deadline) prunes bracket after bracket instead of waiting for its very last trial.
A bracket is halved synchronously (promotions too wait for the rung's final population, as in
Hyperband's successive halving): the next bracket's trials keep the batches busy meanwhile, and the
early promotions of ASHA (the first few scored, often the cheapest and worst, go on at once) are
avoided. In a bench run, 5 of the 12 trials that ASHA let reach all the rows were shallow
configurations 20-80 % worse than the best.

A trial at the last rung ends SUCCEEDED as any trial does; only those compete for the winner (scores at
a lower fraction are not comparable). Pure: every decision comes from the trials' stored rungs and
scores, so the handlers that call it stay stateless, and deciding twice decides the same.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from zygarde.domain.model import TRAIN, Trial, TrialState
from zygarde.domain.search_space import rung_fractions

if TYPE_CHECKING:
    from zygarde.domain.spec import JobSpec

PROMOTE, PRUNE = "promote", "prune"
_PENDING = (TrialState.WAITING, TrialState.LAUNCHING, TrialState.RUNNING)
_DEAD = (TrialState.FAILED, TrialState.CANCELLED)


@dataclass(frozen=True)
class Rungs:
    fractions: tuple[float, ...]  # ascending, the last 1.0
    eta: int  # the reduction factor
    bracket_trials: int | None = None  # trials per bracket; None: one bracket of all the trials

    @property
    def last(self) -> int:
        return len(self.fractions) - 1

    def fraction(self, rung: int) -> float:
        return self.fractions[min(rung, self.last)]


@dataclass(frozen=True)
class Decision:
    trial_id: str
    action: str  # PROMOTE | PRUNE
    rung: int  # the rung the trial was scored at
    message: str


def rungs_of(spec: "JobSpec") -> Rungs | None:
    """The job's rungs, or None when it does not prune."""
    pruning = spec.search.pruning
    if pruning is None:
        return None
    return Rungs(tuple(rung_fractions(pruning.min_fraction, pruning.reduction_factor)), pruning.reduction_factor,
                 pruning.bracket_trials)


def first_fraction(spec: "JobSpec") -> float:
    rungs = rungs_of(spec)
    return rungs.fractions[0] if rungs else 1.0


def percent(fraction: float) -> str:
    return f"{fraction * 100:.3g}% of the train rows"


def decide(trials: list[Trial], rungs: Rungs, direction: str, exhausted: bool, metric: str = "score") -> list[Decision]:
    """The decisions due now for the PAUSED trials of a job, bracket by bracket, lowest rung first (a
    promotion at rung r is seen by rung r + 1's decisions). `exhausted`: the search will create no more
    trials."""
    train = [t for t in trials if t.kind == TRAIN]
    size = rungs.bracket_trials
    if size is None:
        return _decide_bracket(train, rungs, direction, exhausted, metric, "")
    brackets: dict[int, list[Trial]] = {}
    for t in train:
        brackets.setdefault(t.index // size, []).append(t)
    return [d for b, members in sorted(brackets.items())
            for d in _decide_bracket(members, rungs, direction, exhausted or len(members) >= size, metric,
                                     f" of bracket {b}", synchronous=True)]


def _decide_bracket(train: list[Trial], rungs: Rungs, direction: str, exhausted: bool, metric: str,
                    bracket: str, synchronous: bool = False) -> list[Decision]:
    """decide() for one population of trials; `exhausted`: it will get no more trials; `synchronous`:
    promote only once a rung's population is final (else as soon as a trial is in the top so far)."""
    state = {t.trial_id: t.state for t in train}
    rung = {t.trial_id: t.rung for t in train}
    sign = -1.0 if direction == "maximize" else 1.0
    decisions: list[Decision] = []

    def record(t: Trial, action: str, r: int, message: str) -> None:
        decisions.append(Decision(t.trial_id, action, r, message))
        state[t.trial_id] = TrialState.WAITING if action == PROMOTE else TrialState.PRUNED
        rung[t.trial_id] = r + 1 if action == PROMOTE else r

    for r in range(rungs.last):
        scored = sorted((t for t in train if len(t.rung_scores) > r), key=lambda t: (sign * t.rung_scores[r], t.index))
        n, quota = len(scored), len(scored) // rungs.eta
        top = {t.trial_id for t in scored[:quota]}
        where = f"at rung {r} ({percent(rungs.fraction(r))}){bracket}"
        paused = [t for t in scored if state[t.trial_id] is TrialState.PAUSED and rung[t.trial_id] == r]
        pending = any((state[i] in _PENDING and rung[i] <= r) or (state[i] is TrialState.PAUSED and rung[i] < r)
                      for i in state)
        final = exhausted and not pending  # no trial can still reach rung r
        if synchronous and not final:
            continue
        for t in paused:
            if t.trial_id in top:
                record(t, PROMOTE, r, f"{metric}={t.rung_scores[r]:.6g} {where} is in the top {quota} of {n}; "
                                      f"promoted to rung {r + 1} ({percent(rungs.fraction(r + 1))})")
        if not final:
            continue
        alive = [t for t in scored if rung[t.trial_id] > r and state[t.trial_id] not in _DEAD]
        cut = scored[quota - 1].rung_scores[r] if quota else None
        for t in paused:
            if state[t.trial_id] is not TrialState.PAUSED:
                continue
            if not alive:  # never prune the last survivor: the best left goes on
                record(t, PROMOTE, r, f"{metric}={t.rung_scores[r]:.6g} {where} is the best of {n} left to go "
                                      f"on; promoted to rung {r + 1} ({percent(rungs.fraction(r + 1))})")
                alive.append(t)
            else:
                beyond = f"outside the top {quota} of {n} (the cut: {metric}={cut:.6g})" if cut is not None \
                    else f"not among the {len(alive)} of {n} that went on"
                record(t, PRUNE, r, f"pruned {where}: {metric}={t.rung_scores[r]:.6g}, {beyond}")
    return decisions


def best_partial(trials: list[Trial], direction: str) -> Trial | None:
    """When no trial has finished on the whole train part: the training trial scored at the highest
    rung, best there (ties: lowest index), whatever its state now; None if none was scored."""
    scored = [t for t in trials if t.kind == TRAIN and t.rung_scores
              and all(math.isfinite(v) for v in t.rung_scores)]
    if not scored:
        return None
    sign = -1.0 if direction == "maximize" else 1.0
    return min(scored, key=lambda t: (-len(t.rung_scores), sign * t.rung_scores[-1], t.index))
