"""Time of one Bayesian ask (`search.ask`) with N trials already in the job's history, as dispatch calls it.

    .venv/bin/python bench/bench_ask.py                      # 80 and 200 trials, 3 repeats
    .venv/bin/python bench/bench_ask.py --trials 80 --repeats 5

The history: N seeded random points of a mixed space (logistic regression, random forest, an MLP),
all but four finished with a score (a bowl), four running (TPE's constant liar). "rebuilt" is an ask on a history the process has not seen (the study built from every trial, as
every ask did before the study cache); "next" is the next ask after one more trial was added and one
finished (what dispatch does between two calls). Also timed: building the study alone, bringing it
up to date, and how many TPE samples the ask took (a point the learner refuses or a repeat asks again).
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from zygarde.domain import search, tpe_study
from zygarde.domain.model import TrialState
from zygarde.domain.spec import parse_job_spec

NOW = "2026-01-01T00:00:00+00:00"
SPEC = {"job_id": "bench-ask", "owner": "ana@example.com",
        "dataset": {"uri": "gs://bucket/data/ana/flights.csv", "format": "csv", "target": "delayed"},
        "task": "binary_classification", "max_parallel": 4, "packing": "off",
        "candidates": [
            {"algorithm": "logistic_regression", "params": {
                "regParam": {"type": "float", "low": 1e-4, "high": 10.0, "log": True},
                "elasticNetParam": {"type": "float", "low": 0, "high": 1}}},
            {"algorithm": "random_forest_classifier", "params": {
                "numTrees": {"type": "int", "low": 5, "high": 200}, "maxDepth": [3, 5, 8, 12]}},
            {"algorithm": "multilayer_perceptron", "params": {"hiddenLayers": ["16,8", "32", "64,32"]}}]}


def score(trial) -> float:
    """The area under ROC the trial scored (higher is better): a bowl's top at regParam 0.01 and at 120 trees
    of depth 8; the MLPs score below both."""
    return 1.0 - _loss(trial) / 10


def _loss(trial) -> float:
    p = trial.params
    if trial.algorithm == "logistic_regression":
        return (math.log10(p["regParam"]) + 2) ** 2 + p["elasticNetParam"]
    if trial.algorithm == "random_forest_classifier":
        return ((p["numTrees"] - 120) / 40) ** 2 + abs(p["maxDepth"] - 8) / 4
    return 1.5


def history(spec, n: int, running: int = 4) -> list:
    """n trials at seeded random points (the asks' own history would take minutes to make at 200),
    all but the newest `running` finished with their score."""
    points = search._random_points(spec, n)
    trials = [search._trial(SPEC["job_id"], i, algo, params, NOW) for i, (algo, params) in enumerate(points)]
    return [dataclasses.replace(t, state=TrialState.SUCCEEDED, objective=score(t)) if i < n - running else t
            for i, t in enumerate(trials)]


def timed(fn, *args):
    started = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - started


def time_asks(spec, n: int, repeats: int) -> dict:
    rows = []
    labels = search._labels(spec.candidates)
    for r in range(repeats):
        seeded = spec.model_copy(update={"seed": spec.seed + 1000 * (r + 1)})
        trials = history(seeded, n)
        search.clear_cache()
        _, build = timed(tpe_study.study, seeded, SPEC["job_id"], trials, labels)
        search.clear_cache()
        asks = Counter()
        nxt, cold = timed(search.ask, seeded, SPEC["job_id"], trials, NOW)
        first_running = next(i for i, t in enumerate(trials) if t.state is not TrialState.SUCCEEDED)
        trials[first_running] = dataclasses.replace(trials[first_running], state=TrialState.SUCCEEDED,
                                                    objective=score(trials[first_running]))
        trials.append(nxt)
        _, update = timed(tpe_study.study, seeded, SPEC["job_id"], trials, labels)
        samples = _count_samples(asks)
        _, warm = timed(search.ask, seeded, SPEC["job_id"], trials, NOW)
        samples()
        rows.append((cold, warm, build, update, asks["samples"]))
    cold, warm, build, update, samples = (statistics.median(c) for c in zip(*rows))
    return {"trials": n, "cold_ask_seconds": cold, "next_ask_seconds": warm, "study_build_seconds": build,
            "study_update_seconds": update, "tpe_samples_per_ask": samples}


def _count_samples(counter: Counter):
    """Count the TPE samples (study.ask) of the next ask; returns the function that stops counting."""
    import optuna

    real = optuna.Study.ask

    def counting(study, *a, **k):
        counter["samples"] += 1
        return real(study, *a, **k)

    optuna.Study.ask = counting
    return lambda: setattr(optuna.Study, "ask", real)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[80, 200])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    spec = parse_job_spec({**SPEC, "search": {"strategy": "bayesian", "max_trials": max(args.trials) + 10,
                                               "n_startup_trials": 10}})
    search.ask(spec, SPEC["job_id"], history(spec, 20), NOW)  # import Optuna before timing
    for n in args.trials:
        row = time_asks(spec, n, args.repeats)
        print(f"{row['trials']:>4} trials: ask with the study rebuilt {row['cold_ask_seconds'] * 1000:6.1f} ms, "
              f"next ask on the kept study {row['next_ask_seconds'] * 1000:6.1f} ms; study build "
              f"{row['study_build_seconds'] * 1000:5.1f} ms, update {row['study_update_seconds'] * 1000:4.1f} ms; "
              f"{row['tpe_samples_per_ask']:.0f} TPE samples in the ask (median of {args.repeats})")


if __name__ == "__main__":
    main()
