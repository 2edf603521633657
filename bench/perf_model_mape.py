"""The performance model's error on real trial timings (issue #25): MAPE of the prior formula and of
the fitted model on held-out history, and the planner's figures on the 327k-row worked example.

    .venv/bin/python bench/perf_model_mape.py                      # from bench/perf_observations.json
    .venv/bin/python bench/perf_model_mape.py --collect --budget-minutes 13   # time real trials first

--collect runs Zygarde's own stage code (run_prepare, run_pack, run_finalize) in local Spark
sessions on datasets that packages ship (bench/perf_timings.py) and writes every observation
(shapes and seconds only) to bench/perf_observations.json, so the figures can be recomputed
without Spark. The packing benchmark's one-session run (bench/results_packing.json, another day,
another machine load) adds 14 fits as the oldest history. Writes bench/results_perf_model.json.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path
from unittest import mock

if __package__ in (None, ""):  # run as a script: make `bench` and `zygarde` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from zygarde.domain import perf_model as pm
from zygarde.domain import perf_prior as pf
from zygarde.domain import perf_records as pr
from zygarde.domain import planner as pl
from zygarde.domain.perf_records import FIT, PREPARE, Observation, TrialShape

ROOT = Path(__file__).resolve().parents[1]
OBSERVATIONS = ROOT / "bench" / "perf_observations.json"
# Features after preprocessing (one-hot for linear models, indexed for trees), as the collected runs logged
# them for diamonds; movies' from its columns (one categorical of 5 levels).
FEATURES = {"diamonds": {"one_hot": 29, "indexed": 9}, "movies": {"one_hot": 26, "indexed": 22}}


def _features(dataset: str, algorithm: str) -> int:
    linear = algorithm.startswith(("linear", "logistic"))
    return FEATURES[dataset]["one_hot" if linear else "indexed"]


def packing_history(path: Path = ROOT / "bench" / "results_packing.json") -> list[Observation]:
    """The packing benchmark's one-session fits (2 at a time on local[2]: a core each)."""
    if not path.exists():
        return []
    recorded = json.loads(path.read_text())
    session = recorded.get("runs", {}).get("session") or {}
    train_rows = round(recorded["dataset"]["rows"] * 0.65)
    return [Observation(FIT, float(t["fit_seconds"]), train_rows, _features("diamonds", t["algorithm"]), 1.0,
                        t["algorithm"], t["params"]) for t in session.get("trials", []) if t.get("fit_seconds")]


def automl_history(dataset: str, path: Path = ROOT / "bench" / "results_automl.json") -> list[Observation]:
    """The auto-mode benchmark's fits through the local cloud (successive halving at 1/3 then all the
    rows; one fit at a time per batch, two batches on two cores: a core each). The rung of a fit is
    inferred: a pruned trial's was its first (1/3 of the rows), a succeeded trial's its last (all)."""
    if not path.exists():
        return []
    zygarde = json.loads(path.read_text())["results"][dataset]["zygarde"]
    out = []
    for t in zygarde["trial_records"]:
        if t["kind"] == "train" and t["state"] in ("PRUNED", "SUCCEEDED") and t.get("fit_seconds"):
            fraction = 1.0 if t["state"] == "SUCCEEDED" else 1 / 3
            out.append(Observation(FIT, float(t["fit_seconds"]), zygarde["rows"]["train"],
                                   _features(dataset, t["algorithm"]), 1.0, t["algorithm"], t["params"],
                                   train_fraction=fraction))
    return out  # its stages' seconds include the local batches' start-up: not comparable, left out


def sources(collected: list[Observation]) -> dict[str, list[Observation]]:
    """Every history, oldest first: the earlier benchmarks', then each collected run (each starts
    with its preparation)."""
    out = {"packing session, diamonds 20k (2026-12-06)": packing_history(),
           "auto mode, diamonds 54k (2026-12-07)": automl_history("diamonds"),
           "auto mode, movies 59k (2026-12-07)": automl_history("movies")}
    runs: list[list[Observation]] = [[]]
    for o in collected:
        if o.stage in (PREPARE, pr.STARTUP) and any(x.stage == PREPARE for x in runs[-1]):
            runs.append([])
        runs[-1].append(o)
    for run in (r for r in runs if r):
        prepare = next((o for o in run if o.stage == PREPARE), None)
        name = (f"collected, {prepare.rows:,} rows x {prepare.columns} columns, {prepare.cores:g} cores"
                if prepare else "collected")
        out[name] = run
    return {k: v for k, v in out.items() if v}


def _mape(model: pm.PerfModel, held_out: list[Observation], stage: str | None) -> float | None:
    try:
        return round(pm.mape(model, held_out, stage), 3)
    except ValueError:
        return None


def scores(history: list[Observation], held_out: list[Observation]) -> dict:
    """Prior and fitted MAPE on held_out, for fits and for every stage."""
    fitted, prior = pm.fit(history), pm.prior()
    out = {"fit": {"n_history": sum(o.stage == FIT for o in history),
                   "n_held_out": sum(o.stage == FIT for o in held_out),
                   "prior": _mape(prior, held_out, FIT), "fitted": _mape(fitted, held_out, FIT)}}
    for stage in (pr.EVALUATE, pr.LOAD, pr.PREPARE, pr.FINALIZE):
        out[stage] = {"n_held_out": sum(o.stage == stage for o in held_out), "prior": _mape(prior, held_out, stage),
                      "fitted": _mape(fitted, held_out, stage)}
    out["techniques"] = {k: c.technique for k, c in sorted(fitted.fits.items())}
    return out


def in_sample(histories: dict[str, list[Observation]]) -> dict:
    """The model fitted on everything: each key's technique, observations and cross-validated MAPE."""
    model = pm.fit([o for v in histories.values() for o in v])
    return {k: {"technique": c.technique, "n": c.n, "cv_mape": None if c.cv_mape is None else round(c.cv_mape, 3)}
            for k, c in sorted({**model.fits, **model.stages}.items())}


def chronological(histories: dict[str, list[Observation]]) -> dict:
    """Fit on the older histories (about 60 % of the fits), score the newer ones."""
    names, total, seen, cut = list(histories), sum(len(v) for v in histories.values()), 0, 0
    for i, name in enumerate(names):
        seen += len(histories[name])
        if seen >= 0.6 * total:
            cut = i + 1
            break
    cut = min(cut, len(names) - 1)
    return {"history": names[:cut], "held_out": names[cut:],
            **scores([o for n in names[:cut] for o in histories[n]], [o for n in names[cut:] for o in histories[n]])}


def leave_one_out(histories: dict[str, list[Observation]]) -> dict:
    """Each history's fits predicted by a model fitted on every other history."""
    per = []
    for name, held in histories.items():
        rest = [o for other, obs in histories.items() if other != name for o in obs]
        fits = [o for o in held if o.stage == FIT]
        if fits:
            per.append({"held_out": name, "fits": len(fits), "prior": _mape(pm.prior(), fits, FIT),
                        "fitted": _mape(pm.fit(rest), fits, FIT)})
    mean = {k: round(sum(r[k] * r["fits"] for r in per) / sum(r["fits"] for r in per), 3) for k in ("prior", "fitted")}
    return {"by_history": per, "weighted_mean": mean}


def depth_laws(histories: dict[str, list[Observation]]) -> dict:
    """The tree fits' MAPE under each depth law (the prior alone, and fitted leave-one-run-out)."""
    laws = {"linear (cost.py)": lambda d, d0: min(max(d, 1), pf.MAX_DEPTH) / d0,
            "2^(depth/5) (packing.py)": lambda d, d0: 2 ** (min(max(d, 1), pf.MAX_DEPTH) / 5) / 2 ** (d0 / 5),
            "levels + doubling (unified)": pf.depth_factor}
    trees = ("tree", "forest", "boosted", "xgboost")
    out = {}
    for name, law in laws.items():
        with mock.patch.object(pf, "depth_factor", law):
            pf._terms.cache_clear()
            deep = {k: [o for o in v if o.stage == FIT and pf.family(o.algorithm) in trees]
                    for k, v in histories.items()}
            held = leave_one_out({k: v for k, v in deep.items() if v})
            out[name] = {"prior": _mape(pm.prior(), [o for v in deep.values() for o in v], FIT),
                         "fitted_leave_one_out": held["weighted_mean"]["fitted"]}
    pf._terms.cache_clear()
    return out


def core_speedups(observations: list[Observation]) -> dict:
    """Fits timed on 1 and on 2 cores with the same shape: measured speed-up against the prior's."""
    by_shape: dict[str, dict[float, float]] = {}
    for o in observations:
        if o.stage == FIT:
            key = json.dumps([o.algorithm, dict(o.params), o.rows, o.columns], sort_keys=True)
            by_shape.setdefault(key, {})[o.cores] = o.seconds
    ratios = [v[1.0] / v[2.0] for v in by_shape.values() if 1.0 in v and 2.0 in v]
    if not ratios:
        return {"pairs": 0}
    ratios.sort()
    return {"pairs": len(ratios), "median_speedup_1_to_2_cores": round(ratios[len(ratios) // 2], 3),
            "prior_speedup": round(pf.core_factor(1) / pf.core_factor(2), 3)}


def fit_time(observations: list[Observation], n: int = 10_000) -> dict:
    """Seconds to fit n observations (the real fits' shapes, resampled with noise)."""
    rng = random.Random(0)
    fits = [o for o in observations if o.stage == FIT]
    picked = (rng.choice(fits) for _ in range(n))
    many = [Observation.of_fit(o.shape(), o.seconds * math.exp(rng.gauss(0, 0.2))) for o in picked]
    started = time.perf_counter()
    model = pm.fit(many)
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    for o in many[:1000]:
        model.predict(o.shape())
    predict_ms = round((time.perf_counter() - started) / 1000 * 1000, 3)
    # planning the auto mode's largest search: 270 XGBoost trials, a 10-minute deadline
    params = [{"n_estimators": rng.randint(50, 1000), "max_depth": rng.randint(2, 10),
               "learning_rate": 10 ** rng.uniform(-2, -0.5)} for _ in range(270)]
    shapes = tuple(TrialShape("xgboost_regressor", p, 35_000, 9) for p in params)
    started = time.perf_counter()
    pl.plan(model, pl.Workload(shapes, 53_940, 10, min_trials=27), deadline_seconds=600)
    return {"observations": n, "fit_seconds": round(seconds, 3), "predict_ms": predict_ms,
            "plan_270_trials_seconds": round(time.perf_counter() - started, 3), "load_average": os.getloadavg()[0]}


def worked_example(model: pm.PerfModel, label: str, rows: int = 327_346) -> dict:
    """The 14-candidate grid on flights-shaped data (327,346 rows as shipped): plan against naive
    (4 batches at once, 12 DCU each, 3 trials at a time) for deadlines of 5, 10 and 30 minutes."""
    from bench.packing_data import BOOSTED_PARAMS, FOREST_PARAMS, LINEAR_PARAMS
    from zygarde.domain import algorithms, search_space

    spaces = (("logistic_regression", LINEAR_PARAMS), ("random_forest_classifier", FOREST_PARAMS),
              ("gbt_classifier", BOOSTED_PARAMS))
    grid = [(name, p) for name, space in spaces for p in search_space.combinations(algorithms.ALGORITHMS[name], space)]
    # flights' 11 features: trees index them; linear models one-hot carrier (16), origin (3) and dest (105)
    columns = 12
    features = {"logistic_regression": 129}
    work = pl.Workload(tuple(TrialShape(a, p, round(rows * 0.65), features.get(a, 11)) for a, p in grid), rows, columns)
    naive = pl.naive_plan(model, work)
    out = {"model": label, "rows": rows, "trials": len(grid), "naive": naive.to_dict() | {"summary": naive.summary()}}
    for minutes in (5, 10, 30):
        started = time.perf_counter()
        try:
            chosen = pl.plan(model, work, deadline_seconds=minutes * 60)
            out[f"{minutes}_minutes"] = chosen.to_dict() | {
                "summary": chosen.summary(), "planning_seconds": round(time.perf_counter() - started, 2),
                "naive_meets_deadline": naive.predicted_seconds <= minutes * 60,
                "saving_vs_naive": round(1 - chosen.predicted_dcu_hours / naive.predicted_dcu_hours, 3)}
        except pl.Infeasible as exc:
            out[f"{minutes}_minutes"] = {"infeasible": str(exc)}
    return out


def report(collected: list[Observation]) -> dict:
    histories = sources(collected)
    everything = [o for v in histories.values() for o in v]
    return {
        "histories": {k: dict(Counter(o.stage for o in v)) for k, v in histories.items()},
        "fits_by_family": dict(Counter(pf.family(o.algorithm) for o in everything if o.stage == FIT)),
        "leave_one_history_out": leave_one_out(histories),
        "chronological": chronological(histories),
        "cross_validated_on_everything": in_sample(histories),
        "depth_laws": depth_laws(histories),
        "cores": core_speedups(everything),
        "fit_time": fit_time(everything),
        "worked_example": [worked_example(pm.prior(), "prior (Dataproc start-up 60 s)"),
                           worked_example(pm.fit(everything, startup_seconds=60.0), "fitted on this machine's timings"),
                           worked_example(pm.prior(), "prior (Dataproc start-up 60 s)", rows=4_000_000)],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--collect", action="store_true", help="time real trials in local Spark first")
    parser.add_argument("--budget-minutes", type=float, default=13.0, help="Spark time for --collect")
    parser.add_argument("--port", type=int, default=None, help="the Spark driver's port (in $ZYGARDE_TEST_PORT_RANGE)")
    parser.add_argument("--observations", type=Path, default=OBSERVATIONS)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results_perf_model.json")
    args = parser.parse_args(argv)
    collection = None
    if args.collect:
        from bench import perf_timings

        load, started = os.getloadavg(), time.monotonic()
        done = perf_timings.collect(args.observations, args.budget_minutes, args.port)
        collection = {"spark_minutes": round((time.monotonic() - started) / 60, 1), "load_average_before": load,
                      "load_average_after": os.getloadavg(), "cores": os.cpu_count(), "runs": done}
    observations = pr.loads(args.observations.read_text())
    result = report(observations)
    if collection is None and args.out.exists():
        collection = json.loads(args.out.read_text()).get("collection")
    result = {"command": "bench/perf_model_mape.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "collection": collection, **result}
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("histories", "leave_one_history_out", "chronological",
                                             "cross_validated_on_everything", "depth_laws", "cores", "fit_time")},
                     indent=1))
    for example in result["worked_example"]:
        print(f"{example['rows']:,} rows, {example['model']} | naive: {example['naive']['summary']}")
        for minutes in (5, 10, 30):
            e = example[f"{minutes}_minutes"]
            shape = (f" | {e['batches']} x ({e['executors']} x {e['executor_cores']} cores + {e['driver_cores']}), "
                     f"{e['concurrency']} at a time, saving {e['saving_vs_naive']:.0%}") if "batches" in e else ""
            print(f"  {minutes:2d} min: {e.get('summary', e.get('infeasible'))}{shape}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
