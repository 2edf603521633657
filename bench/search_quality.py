"""Bayesian search (TPE through `search.ask`) against random search, in the same number of trials.

Two known functions of two float params of one learner (regParam log-uniform in [1e-4, 10],
elasticNetParam in [0, 1]): a quadratic bowl (optimum 0) and Branin (optimum 0.397887, three
minima). Each Bayesian round asks for a trial, scores it and records it SUCCEEDED, as the scheduler
does with one slot. Run: .venv/bin/python bench/search_quality.py [--trials 40] [--seeds 0 1 2 3 4]
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
import time
from typing import Callable

from zygarde.domain import search
from zygarde.domain.model import TrialState
from zygarde.domain.spec import JobSpec, parse_job_spec

NOW = "2026-01-01T00:00:00+00:00"


def _unit(params: dict) -> tuple[float, float]:
    return (math.log10(params["regParam"]) + 4) / 5, params["elasticNetParam"]


def quadratic(params: dict) -> float:
    a, b = _unit(params)
    return (a - 0.4) ** 2 + (b - 0.7) ** 2


def branin(params: dict) -> float:
    a, b = _unit(params)
    x1, x2 = -5 + 15 * a, 15 * b
    return ((x2 - 5.1 / (4 * math.pi ** 2) * x1 ** 2 + 5 / math.pi * x1 - 6) ** 2
            + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10)


FUNCTIONS: dict[str, Callable[[dict], float]] = {"quadratic": quadratic, "branin": branin}


def spec_for(strategy: str, seed: int, trials: int, n_startup: int = 10) -> JobSpec:
    return parse_job_spec({
        "owner": "bench", "seed": seed, "task": "regression",
        "dataset": {"uri": "gs://bkt/d.csv", "format": "csv", "target": "y"},
        "candidates": [{"algorithm": "linear_regression", "params": {
            "regParam": {"type": "float", "low": 1e-4, "high": 10.0, "log": True},
            "elasticNetParam": {"type": "float", "low": 0.0, "high": 1.0}}}],
        "search": {"strategy": strategy, "max_trials": trials, "n_startup_trials": n_startup}})


def best_random(f: Callable[[dict], float], seed: int, trials: int) -> float:
    return min(f(t.params) for t in search.initial_trials(spec_for("random", seed, trials), "bench", NOW))


def best_bayesian(f: Callable[[dict], float], seed: int, trials: int) -> float:
    spec, done = spec_for("bayesian", seed, trials), []
    while (trial := search.ask(spec, "bench", done, NOW)) is not None:
        done.append(dataclasses.replace(trial, state=TrialState.SUCCEEDED, objective=f(trial.params)))
    return min(t.objective for t in done)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(5)))
    args = parser.parse_args()
    for name, f in FUNCTIONS.items():
        started = time.perf_counter()
        rnd = [best_random(f, s, args.trials) for s in args.seeds]
        bay = [best_bayesian(f, s, args.trials) for s in args.seeds]
        wins = sum(b < r for b, r in zip(bay, rnd))
        print(f"{name}: best of {args.trials} trials, median over {len(args.seeds)} seeds: "
              f"random {statistics.median(rnd):.4g}, bayesian {statistics.median(bay):.4g} "
              f"(bayesian better for {wins}/{len(args.seeds)} seeds; {time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
