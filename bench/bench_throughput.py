"""Trial throughput (issue #24, item 1): where a trial's seconds go, and trials per minute, with
XGBoost fitted data-parallel (one xgboost.spark barrier stage per trial) or trial-parallel (one
single-node fit per Spark task, the prepared parts broadcast once), against FLAML on the same parts.

Everything runs the platform's own stage code in one local Spark session (no cloud): the job's
preparation (run_prepare), then, per mode, the first bracket of the auto mode's search as two packs
(run_pack): the default space's 27 seeded random points, cheapest first, on 1/3 of the train rows,
then the best 9 on all of them (domain/default_space.DEADLINE_SEARCH), plus one random forest and
one GBT (MLlib: the same code in both modes) to time the other learners; then the winner's
finalisation (run_finalize: refit, test score, ONNX). FLAML runs last, on the same parts, with the
same cores, for as long as the trial-parallel bracket took.

    .venv/bin/python bench/bench_throughput.py --dataset diamonds --port 18900
    .venv/bin/python bench/bench_throughput.py --dataset flights --modes trial-parallel --flaml-seconds 600

The load average is recorded beside every figure: on a shared machine they must be re-measured quietly.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import automl_data  # noqa: E402
from bench.packing_data import METRIC, SEED  # noqa: E402

RESULTS = Path(__file__).with_name("results_throughput.json")
MODES = {"data-parallel": "data_parallel", "trial-parallel": "trial_parallel"}
PHASE = re.compile(r"phase done (?P<ctx>.*?) phase=(?P<phase>\w+) seconds=(?P<s>[\d.]+)")
TRIAL = re.compile(r"trial_id=(?P<trial>\S+)")
PLAN = re.compile(r"plan=(?P<plan>\S+)")


class PhaseLog(logging.Handler):
    """The batch code's `phase done` lines: per trial {phase: seconds}; pack-level ones (load,
    a preprocessing plan, a broadcast) by name."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.trials: dict[str, dict[str, float]] = defaultdict(dict)
        self.pack: list[tuple[str, float]] = []

    def emit(self, record: logging.LogRecord) -> None:
        found = PHASE.search(record.getMessage())
        if not found:
            return
        seconds, phase, ctx = float(found["s"]), found["phase"], found["ctx"]
        trial = TRIAL.search(ctx)
        if trial:
            slot = self.trials[trial["trial"]]
            slot[phase] = slot.get(phase, 0.0) + seconds
        else:
            plan = PLAN.search(ctx)
            self.pack.append((f"{phase}:{plan['plan']}" if plan else phase, seconds))


def load() -> float:
    return round(os.getloadavg()[0], 1)


def bracket_points(task: str, trials: int) -> list[tuple[str, dict]]:
    """The auto mode's first bracket: its seeded random points of the default space, cheapest first."""
    from zygarde.domain import search
    from zygarde.domain.spec import parse_job_spec

    spec = parse_job_spec({"owner": "bench", "dataset": {"uri": "gs://bench-bucket/datasets/bench/d.csv", "format": "csv", "target": "y"},
                           "task": task, "seed": SEED,
                           "search": {"strategy": "random", "max_trials": trials,
                                      "pruning": {"strategy": "successive_halving", "min_fraction": 1 / 3,
                                                  "reduction_factor": 3}}})
    return [(t.algorithm, dict(t.params)) for t in search.initial_trials(spec, "bench", "2026-01-01T00:00:00Z")]


def mllib_points(task: str) -> list[tuple[str, dict]]:
    kind = "regressor" if task == "regression" else "classifier"
    return [(f"random_forest_{kind}", {"numTrees": 20, "maxDepth": 8}), (f"gbt_{kind}", {"maxIter": 20, "maxDepth": 5})]


def run_pack(spark, job: str, pack: str, dataset, parts: dict, points, fraction: float, mode: str, work: Path,
             cores: int):
    from zygarde.domain.contracts import PackedTrial, PackRequest
    from zygarde.spark.pack_runner import run_pack as run

    trials = [PackedTrial(trial_id=f"{pack}-{i:02d}", attempt=1, algorithm=algo, params=params,
                          result_uri=str(work / job / f"{pack}-{i:02d}.json"), train_fraction=fraction)
              for i, (algo, params) in enumerate(points)]
    request = PackRequest(job_id=job, pack_id=pack, task=dataset.task, metric=METRIC[dataset.task],
                          target=dataset.target, seed=SEED, train_uri=parts["train"],
                          validation_uri=parts["validation"], trials=tuple(trials), concurrency=cores,
                          fit_mode=mode)
    started = time.monotonic()
    outcome = run(spark, request)
    return trials, outcome, time.monotonic() - started


def family(algorithm: str) -> str:
    return algorithm.rsplit("_", 1)[0] if algorithm.endswith(("_classifier", "_regressor")) else algorithm


def split(trials, outcome, phases: PhaseLog) -> dict[str, dict[str, float]]:
    """Median seconds per phase and learner family, over the succeeded trials."""
    by_family: dict[str, list[dict[str, float]]] = defaultdict(list)
    for trial in trials:
        result = outcome.results[trial.trial_id]
        if result.status != "SUCCEEDED":
            continue
        seen = dict(phases.trials.get(trial.trial_id, {}))
        seen["total"] = float(result.duration_seconds)
        seen["other"] = seen["total"] - sum(v for k, v in seen.items() if k != "total")
        by_family[family(trial.algorithm)].append(seen)
    return {fam: {"trials": len(rows), **{k: round(statistics.median(r.get(k, 0.0) for r in rows), 3)
                                          for k in sorted({k for r in rows for k in r})}}
            for fam, rows in by_family.items()}


def one_mode(spark, mode: str, dataset, parts: dict, rows: dict, work: Path, cores: int, trials: int) -> dict:
    from zygarde.domain.algorithms import METRICS, MAXIMIZE
    from zygarde.domain.contracts import FinalizeRequest, RefitSpec
    from zygarde.spark.package import run_finalize

    metric = METRIC[dataset.task]
    sign = 1.0 if METRICS[dataset.task][metric] == MAXIMIZE else -1.0
    phases = PhaseLog()
    logging.getLogger("zygarde").addHandler(phases)
    job = f"tp-{dataset.name}-{mode.replace('_', '-')}"
    out: dict = {"mode": mode, "load_average_start": load()}
    try:
        points = bracket_points(dataset.task, trials)
        first, rung1, seconds1 = run_pack(spark, job, "r1", dataset, parts, points, 1 / 3, mode, work, cores)
        load1 = load()
        scored = [(sign * rung1.results[t.trial_id].metrics[metric], t) for t in first
                  if rung1.results[t.trial_id].status == "SUCCEEDED" and metric in rung1.results[t.trial_id].metrics]
        best = [t for _, t in sorted(scored, key=lambda s: -s[0])[:max(1, trials // 3)]]
        second, rung2, seconds2 = run_pack(spark, job, "r2", dataset, parts,
                                           [(t.algorithm, t.params) for t in best], 1.0, mode, work, cores)
        load2 = load()
        extra, mllib, seconds3 = run_pack(spark, job, "r3", dataset, parts, mllib_points(dataset.task), 1.0, mode,
                                          work, cores)
        done = [(t, o) for ts, o in ((first, rung1), (second, rung2), (extra, mllib)) for t in ts]
        succeeded = sum(o.results[t.trial_id].status == "SUCCEEDED" for t, o in done)
        failed = [o.results[t.trial_id].error for t, o in done if o.results[t.trial_id].status != "SUCCEEDED"]
        finals = [(sign * rung2.results[t.trial_id].metrics[metric], t) for t in second
                  if rung2.results[t.trial_id].status == "SUCCEEDED"]
        winner = max(finals, key=lambda s: s[0])[1]
        winner_score = rung2.results[winner.trial_id].metrics[metric]
        bracket_trials = len(first) + len(second)
        out.update({
            "bracket_seconds": round(seconds1 + seconds2, 1),
            "bracket_trials": bracket_trials,
            "trials_per_minute": round(bracket_trials / ((seconds1 + seconds2) / 60), 2),
            "rung_seconds": [round(seconds1, 1), round(seconds2, 1)], "load_average_rungs": [load1, load2],
            "mllib_seconds": round(seconds3, 1), "succeeded": succeeded, "failed": failed[:3],
            "split": {"rung 1 (1/3 of the rows)": split(first, rung1, phases),
                      "rung 2 (all the rows)": split(second, rung2, phases),
                      "MLlib (all the rows)": split(extra, mllib, phases)},
            "pack_phases": [(name, round(s, 2)) for name, s in phases.pack],
            "winner": {"algorithm": winner.algorithm, "params": winner.params, f"validation_{metric}": winner_score,
                       "best_iteration": rung2.results[winner.trial_id].metrics.get("best_iteration")},
        })
        started = time.monotonic()
        final = run_finalize(spark, FinalizeRequest(
            job_id=job, attempt=1, model_uri=None, test_uri=parts["test"], task=dataset.task, target=dataset.target,
            metric=metric, package_uri=str(work / job / "package") + "/", result_uri=str(work / job / "final.json"),
            fit_mode=mode,
            refit=RefitSpec(algorithm=winner.algorithm, params=dict(winner.params), seed=SEED,
                            train_uri=parts["train"], validation_uri=parts["validation"])))
        out["finalize"] = {"status": final.status, "error": final.error, "seconds": round(time.monotonic() - started, 1),
                           f"test_{metric}": final.test_metrics.get(metric), "online": final.online,
                           "load_average": load()}
    finally:
        logging.getLogger("zygarde").removeHandler(phases)
    out["load_average_end"] = load()
    return out


def flaml(parts: dict, dataset, seconds: float, cores: int) -> dict:
    import pandas as pd

    from bench import automl_flaml

    frames = {p: pd.read_parquet(parts[p]) for p in ("train", "validation", "test")}
    started_load = load()
    record = automl_flaml.run(frames, dataset.target, dataset.task, METRIC[dataset.task], seconds, cores, SEED,
                              progress=lambda *_: None)
    run = record["trials"]["run"]
    return {"budget_seconds": seconds, "trials": run, "trials_per_minute": round(run / (seconds / 60), 2),
            "test_score": record["test_score"], "validation_score": record["validation_score"],
            "best_learner": record["best_learner"], "by_learner": record["trials"]["by_learner"],
            "load_average": [started_load, load()]}


PHASES = ("preprocess", "fit", "evaluate", "latency", "task_overhead", "other", "total")


def table(record: dict) -> str:
    """The README's tables: the split of a trial's seconds (medians) and trials per minute."""
    lines = ["| mode | trials | " + " | ".join(PHASES) + " |", "| --- | --- |" + " --- |" * len(PHASES)]
    for name, mode in record["modes"].items():
        for rung, families in mode["split"].items():
            for fam, row in families.items():
                cells = [f"{row[p]:.2f}" if p in row else "-" for p in PHASES]
                lines.append(f"| {name}, {rung}, {fam} | {row['trials']} | " + " | ".join(cells) + " |")
    lines += ["", "| run | trials | seconds | trials / minute | best (validation) | test | load average |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    metric = record["dataset"]["metric"]
    for name, mode in record["modes"].items():
        final = mode.get("finalize") or {}
        lines.append(f"| {name} | {mode['bracket_trials']} | {mode['bracket_seconds']} | {mode['trials_per_minute']} "
                     f"| {mode['winner'][f'validation_{metric}']:.4f} | {final.get(f'test_{metric}') or 0:.4f} "
                     f"| {mode['load_average_start']}-{max(mode['load_average_rungs'])} |")
    if "flaml" in record:
        f = record["flaml"]
        lines.append(f"| FLAML | {f['trials']} | {f['budget_seconds']} | {f['trials_per_minute']} "
                     f"| {f['validation_score']:.4f} | {f['test_score']:.4f} | {'-'.join(map(str, f['load_average']))} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="diamonds", choices=sorted(automl_data.DATASETS))
    parser.add_argument("--rows", type=int, default=None, help="a seeded sample of the dataset (default: all)")
    parser.add_argument("--modes", default="data-parallel,trial-parallel")
    parser.add_argument("--trials", type=int, default=27, help="the first rung's trials (the second gets a third)")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--port", type=int, default=None, help="the Spark driver's port ($ZYGARDE_TEST_PORT_RANGE)")
    parser.add_argument("--flaml-seconds", type=float, default=None,
                        help="FLAML's budget (default: the last mode's bracket seconds; 0: no FLAML)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--table", action="store_true", help="print the tables of --out's record and stop")
    args = parser.parse_args(argv)
    if args.table:
        print(table(json.loads(args.out.read_text())))
        return 0
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("zygarde").setLevel(logging.INFO)
    logging.getLogger("zygarde").propagate = False
    from bench.packing_session import local_session, prepare
    from bench.perf_timings import _as_source

    dataset = automl_data.DATASETS[args.dataset]
    frame = automl_data.load(dataset, args.rows)
    record: dict = {"dataset": automl_data.describe(frame, dataset), "cores": args.cores, "trials": args.trials,
                    "started_load_average": load(), "modes": {}}
    with tempfile.TemporaryDirectory(prefix="zygarde-throughput-") as tmp:
        work = Path(tmp)
        csv = work / f"{dataset.name}.csv"
        frame.to_csv(csv, index=False)
        with local_session(args.cores, args.port) as spark:
            prepared, seconds = prepare(spark, csv, _as_source(dataset), work / "prep", "tp-prep")
            record.update(prepare_seconds=round(seconds, 1), rows=prepared["rows"])
            for name in args.modes.split(","):
                result = one_mode(spark, MODES[name], dataset, prepared["parts"], prepared["rows"], work,
                                  args.cores, args.trials)
                record["modes"][name] = result
                print(json.dumps({name: {k: result.get(k) for k in ("trials_per_minute", "bracket_seconds",
                                                                    "load_average_rungs", "winner", "finalize")}},
                                 default=str), flush=True)
                args.out.write_text(json.dumps(record, indent=1, default=str) + "\n")
        budget = args.flaml_seconds
        if budget is None:
            budget = next(reversed(record["modes"].values()))["bracket_seconds"] if record["modes"] else 60.0
        if budget > 0:
            record["flaml"] = flaml(prepared["parts"], dataset, budget, args.cores)
            print(json.dumps({"flaml": record["flaml"]}, default=str), flush=True)
    record["ended_load_average"] = load()
    args.out.write_text(json.dumps(record, indent=1, default=str) + "\n")
    print(table(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
