"""The planner's plan against the naive one (issue #25), run in virtual time on simulated Dataproc Serverless.

    .venv/bin/python bench/bench_plans.py                 # writes bench/results_plans.json
    .venv/bin/python bench/bench_plans.py --noise 0.6     # trials further off the model
    .venv/bin/python bench/bench_plans.py --dispatch packs   # max parallel taken literally

Two real shapes: diamonds (53,940 rows x 10 columns) and flights (327,346 rows x 12 columns), each with
the 14-candidate grid (logistic regression 6, random forest 4, GBT 4: bench/packing_data.py) and with an
auto-mode search's first 27 points (the default binary space, random strategy), shaped as a job's plan
shapes them (job_plans.workload, the prior model, start-up 60 s). For deadlines of 5, 10 and 30 minutes:

- plan: planner.plan for the deadline (its batches, size and trials at a time);
- naive: up to max parallel (4 batches) of Dataproc's default size (2 x 4-core executors, 12 DCU),
  3 trials at a time, every trial.

Each is run by the same simulation, not the planner's own timeline: a batch takes 60 s to start and is
billed per second, at least a minute and at least 12 DCU; the preparation runs in the first batch, which
then trains; the other batches are created when the data is prepared; the trials go to the batches in
packs made by the control plane's pack planner (pack_planner.plan_packs on the model's predictions: each
batch's work aimed at 3 start-ups, at most the batches allowed), each batch fitting its pack so many at
a time (--dispatch packs: the trials dealt to every batch allowed, in the search's order; --dispatch
dynamic: each to the first free slot of any batch, as the planner's own timeline does); each
trial's true seconds are the model's times a seeded log-normal error (sigma --noise, the same draw for
both plans); the finalisation runs in the last batch. Both run the same trials, so the best score is the
same; the figures are DCU-hours, the end, and whether the deadline is met.
"""
from __future__ import annotations

import argparse
import heapq
import json
import math
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.packing_data import BOOSTED_PARAMS, FOREST_PARAMS, LINEAR_PARAMS  # noqa: E402
from zygarde.domain import pack_planner, perf_model, search  # noqa: E402
from zygarde.domain import plan_timeline as tl  # noqa: E402
from zygarde.domain import planner as pl  # noqa: E402
from zygarde.domain.default_space import default_candidates  # noqa: E402
from zygarde.domain.spec import parse_job_spec  # noqa: E402
from zygarde.service_layer import job_plans  # noqa: E402
from zygarde.service_layer.ready_work import MAX_PACK_SIZE  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STARTUP_SECONDS = 60.0
SHAPES = {"diamonds": (53_940, 10), "flights": (327_346, 12)}
GRID = [{"algorithm": "logistic_regression", "params": LINEAR_PARAMS},
        {"algorithm": "random_forest_classifier", "params": FOREST_PARAMS},
        {"algorithm": "gbt_classifier", "params": BOOSTED_PARAMS}]


def workload(dataset: str, search_kind: str) -> pl.Workload:
    rows, columns = SHAPES[dataset]
    if search_kind == "grid-14":
        raw_search, candidates = {"strategy": "grid"}, GRID
    else:  # auto mode's first points: the default space, random search
        raw_search, candidates = {"strategy": "random", "max_trials": 27}, default_candidates("binary_classification")
    spec = parse_job_spec({"job_id": "bench-plans", "owner": "ana@example.com", "packing": "auto",
                           "dataset": {"uri": f"gs://bucket/datasets/ana/{dataset}.csv", "format": "csv",
                                       "target": "label"},
                           "task": "binary_classification", "candidates": candidates, "search": raw_search})
    trials = search.initial_trials(spec, "bench-plans", "2026-01-01T00:00:00+00:00")
    work, _ = job_plans.workload(spec, trials, job_plans.DataShape(rows, columns, False))
    return pl.Workload(work.trials, work.rows, work.columns)  # every trial: the same search for both plans


def run(model, work: pl.Workload, batches: int, size: tl.BatchSize, concurrency: int, errors: list[float],
        dispatch: str = "control-plane") -> dict:
    """Simulate the job on `batches` batches of `size`, `concurrency` trials each at a time (see the docstring)."""
    stages = tl.Stages.of(model, work.rows, work.columns, size)
    predicted = tl.trial_durations(model, work.trials, size.task_cores / concurrency)
    true = [d * e for d, e in zip(predicted, errors)]
    prepared = STARTUP_SECONDS + stages.prepare * errors[-1]
    created = [0.0] + [prepared] * (batches - 1)
    ready = [prepared + stages.load] + [prepared + STARTUP_SECONDS + stages.load] * (batches - 1)
    ends: list[float | None] = [None] * batches
    if dispatch == "dynamic":  # each trial to the first free slot of any batch
        slots = [(ready[b], b) for b in range(batches) for _ in range(concurrency)]
        heapq.heapify(slots)
        for seconds in true:  # the search's order
            start, b = heapq.heappop(slots)
            ends[b] = max(ends[b] or 0.0, start + seconds)
            heapq.heappush(slots, (start + seconds, b))
    else:
        if dispatch == "packs":  # the trials dealt to every batch allowed, in the search's order
            packs = [list(range(len(true)))[b::batches] for b in range(min(batches, len(true)))]
        else:  # the control plane's pack planner, on the model's predictions (what it knows)
            packs = _packs(list(range(len(true))), predicted, batches, concurrency)
        waves = [packs[:batches]]
        left = [i for p in packs[batches:] for i in p] + sorted(set(range(len(true))) - {i for p in packs for i in p})
        while left:  # what a wave left waits for a batch to be free: handed to it warm
            more = _packs(left, predicted, batches, concurrency)
            waves.append(more)
            left = sorted(set(left) - {i for p in more for i in p})
        for wave_number, wave in enumerate(waves):
            for b, pack in enumerate(wave):
                if wave_number:
                    b = min((x for x in range(batches) if ends[x] is not None), key=lambda x: ends[x])
                lanes = [ready[b] if ends[b] is None else ends[b]] * concurrency
                for i in pack:
                    lanes[lanes.index(min(lanes))] += true[i]
                ends[b] = max(lanes)
    used = [b for b in range(batches) if ends[b] is not None]
    last = max(used, key=lambda b: ends[b])
    end = ends[last] + stages.finalize * errors[-2]
    lives = [(end if b == last else ends[b]) - created[b] for b in used]
    dcu_hours = sum(max(life, tl.MIN_BILLED_SECONDS) * max(size.dcu, tl.MIN_DCU) for life in lives) / 3600
    return {"batches": len(used), "executors": size.executors, "executor_cores": size.executor_cores,
            "concurrency": concurrency, "end_minutes": round(end / 60, 2), "dcu_hours": round(dcu_hours, 3)}


def _packs(trials: list[int], predicted: list[float], batches: int, concurrency: int) -> list[list[int]]:
    costs = [pack_planner.TrialCost(str(i), i, predicted[i]) for i in trials]
    return [[int(i) for i in p.trial_ids] for p in pack_planner.plan_packs(
        costs, free_batches=batches, startup_seconds=STARTUP_SECONDS, concurrency=concurrency,
        max_pack_size=MAX_PACK_SIZE)]


def compare(noise: float, seed: int, dispatch: str = "control-plane") -> list[dict]:
    model = perf_model.prior(STARTUP_SECONDS)
    rows = []
    for dataset in SHAPES:
        for search_kind in ("grid-14", "auto-27"):
            work = workload(dataset, search_kind)
            rng = random.Random(seed)
            errors = [math.exp(rng.gauss(0, noise)) for _ in range(len(work.trials) + 2)]
            naive = run(model, work, min(4, math.ceil(len(work.trials) / 3)), tl.DEFAULT_SIZE, 3, errors, dispatch)
            naive_model = pl.naive_plan(model, work, pl.Capacity(max_batches=4))
            for minutes in (5, 10, 30):
                row = {"dataset": dataset, "search": search_kind, "trials": len(work.trials), "deadline_minutes": minutes,
                       "naive": naive | {"meets_deadline": naive["end_minutes"] <= minutes,
                                         "predicted_dcu_hours": round(naive_model.predicted_dcu_hours, 3)}}
                try:
                    chosen = pl.plan(model, work, deadline_seconds=minutes * 60, capacity=pl.Capacity(max_batches=4))
                except pl.Infeasible as exc:
                    row["plan"] = {"infeasible": str(exc)}
                else:
                    ran = run(model, work, chosen.batches, chosen.size, chosen.concurrency, errors, dispatch)
                    row["plan"] = ran | {"meets_deadline": ran["end_minutes"] <= minutes,
                                         "predicted_minutes": round(chosen.predicted_seconds / 60, 2),
                                         "predicted_dcu_hours": round(chosen.predicted_dcu_hours, 3)}
                    row["saving"] = round(1 - ran["dcu_hours"] / naive["dcu_hours"], 3)
                rows.append(row)
    return rows


def line(row: dict) -> str:
    n, p = row["naive"], row["plan"]
    naive = f"naive {n['dcu_hours']:.2f} DCU-h, {n['end_minutes']:.1f} min{'' if n['meets_deadline'] else ' (late)'}"
    if "infeasible" in p:
        return f"{row['dataset']:8} {row['search']:7} {row['deadline_minutes']:>2} min | plan: none ({p['infeasible']}) | {naive}"
    return (f"{row['dataset']:8} {row['search']:7} {row['deadline_minutes']:>2} min | plan {p['batches']} x "
            f"({p['executors']} x {p['executor_cores']} cores), {p['concurrency']} at a time: {p['dcu_hours']:.2f} DCU-h, "
            f"{p['end_minutes']:.1f} min{'' if p['meets_deadline'] else ' (late)'} | {naive} | saving {row['saving']:.0%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noise", type=float, default=0.3, help="sigma of the trials' log-normal error")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--dispatch", choices=("control-plane", "packs", "dynamic"), default="control-plane",
                        help="control-plane: packs from the control plane's pack planner; packs: the trials dealt "
                             "to every batch allowed; dynamic: each to the first free slot (the planner's timeline)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results_plans.json")
    args = parser.parse_args()
    rows = compare(args.noise, args.seed, args.dispatch)
    for row in rows:
        print(line(row))
    args.out.write_text(json.dumps({"noise": args.noise, "seed": args.seed, "dispatch": args.dispatch, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
