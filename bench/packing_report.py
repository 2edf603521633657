"""The packing benchmark's arithmetic and table. Pure: runs in, figures out (no Spark, no cloud).

A run is a dict: {"wall_seconds": float, "trials": [{"trial_id", "algorithm", "params", "score",
"fit_seconds"}...]}, with "grid": False for a run that searched its own space (FLAML), and for the
local-cloud job "prepare_seconds" and "batches" (runtime seconds of every Dataproc batch it ran:
preparation, each trial, finalisation).
"""
from __future__ import annotations

import math
from typing import Any

from zygarde.domain.budgets import billed_dcu_seconds

# Dataproc Serverless for Spark defaults: a 4-DCU driver and 2 executors of 4 DCU (4 cores each).
DRIVER_DCU, EXECUTORS, EXECUTOR_DCU = 4.0, 2, 4.0
BATCH_DCU = DRIVER_DCU + EXECUTORS * EXECUTOR_DCU  # 12
MINIMUM_BATCH_SECONDS = 60.0


def best_trial(trials: list[dict], direction: str) -> dict | None:
    """The trial with the best finite score (ties: the first in grid order)."""
    scored = [t for t in trials if isinstance(t.get("score"), (int, float)) and math.isfinite(t["score"])]
    if not scored:
        return None
    sign = -1.0 if direction == "maximize" else 1.0
    return min(enumerate(scored), key=lambda it: (sign * it[1]["score"], it[0]))[1]


def fit_seconds(run: dict) -> float:
    return float(sum(t.get("fit_seconds") or 0.0 for t in run.get("trials", [])))


def overhead_ratio(wall_seconds: float, prepare_seconds: float, sum_fit_seconds: float, parallelism: int) -> float | None:
    """Wall time over the work it could not avoid: preparation, then the fits spread over the lanes."""
    floor = prepare_seconds + sum_fit_seconds / max(1, parallelism)
    return wall_seconds / floor if floor > 0 else None


def billed_dcu(batch_runtimes: list[float], dcu: float = BATCH_DCU,
               minimum_seconds: float = MINIMUM_BATCH_SECONDS) -> float:
    """DCU-seconds Dataproc Serverless bills for these batches (each at least a minute)."""
    return float(sum(billed_dcu_seconds(r, dcu, minimum_seconds) for r in batch_runtimes))


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def summarise(runs: dict[str, dict], direction: str, parallelism: int, reference: str = "cloud",
              anchor: str = "session") -> dict[str, Any]:
    """Per-run figures and the comparisons: wall-time ratio (reference / anchor), each run's best
    score minus the reference's best, overhead ratios, DCU-seconds, whether the best candidate agrees."""
    base = reference if reference in runs else anchor
    best = {name: best_trial(run.get("trials", []), direction) for name, run in runs.items()}
    base_best = best.get(base)
    per_run: dict[str, dict] = {}
    for name, run in runs.items():
        b = best[name]
        figures: dict[str, Any] = {
            "wall_seconds": run.get("wall_seconds"),
            "trials": len(run.get("trials", [])),
            "sum_fit_seconds": fit_seconds(run),
            "best_trial_id": b and b["trial_id"], "best_algorithm": b and b["algorithm"],
            "best_params": b and b["params"], "best_score": b and b["score"],
            "best_score_minus_" + base: (b["score"] - base_best["score"]) if b and base_best else None,
            "same_best_as_" + base: (b["trial_id"] == base_best["trial_id"])
            if b and base_best and run.get("grid", True) else None,
        }
        if "batches" in run:  # a job on the platform: one batch per stage and per pack (or trial)
            figures["prepare_seconds"] = run.get("prepare_seconds")
            figures["batches"] = len(run["batches"])
            figures["overhead_ratio"] = overhead_ratio(run["wall_seconds"], run.get("prepare_seconds") or 0.0,
                                                       fit_seconds(run), parallelism)
            figures["billed_dcu_seconds"] = billed_dcu(run["batches"])
        elif name == anchor:  # the same work as one packed batch: one warm session, billed once
            figures["overhead_ratio"] = overhead_ratio(run["wall_seconds"], run.get("prepare_seconds") or 0.0,
                                                       fit_seconds(run), parallelism)
            figures["billed_dcu_seconds_as_one_batch"] = billed_dcu([run["wall_seconds"]])
        per_run[name] = figures
    ref, anc = per_run.get(reference, {}), per_run.get(anchor, {})
    return {
        "direction": direction, "parallelism": parallelism, "reference": base,
        "dcu_assumption": {"driver_dcu": DRIVER_DCU, "executors": EXECUTORS, "executor_dcu": EXECUTOR_DCU,
                           "batch_dcu": BATCH_DCU, "minimum_batch_seconds": MINIMUM_BATCH_SECONDS},
        "runs": per_run,
        "wall_ratio_cloud_over_session": ratio(ref.get("wall_seconds"), anc.get("wall_seconds")),
        "dcu_ratio_cloud_over_one_batch": ratio(ref.get("billed_dcu_seconds"),
                                                anc.get("billed_dcu_seconds_as_one_batch")),
        "wall_ratio_unpacked_over_packed": ratio(per_run.get("cloud_unpacked", {}).get("wall_seconds"),
                                                 ref.get("wall_seconds")),
        "dcu_ratio_unpacked_over_packed": ratio(per_run.get("cloud_unpacked", {}).get("billed_dcu_seconds"),
                                                ref.get("billed_dcu_seconds")),
        # over the runs that search the grid (FLAML searches its own space)
        "best_candidate_same_everywhere": len({f["best_trial_id"] for n, f in per_run.items()
                                               if runs[n].get("grid", True)}) == 1,
    }


def fmt(value: Any, digits: int = 2) -> str:
    """A table cell: - for None, yes/no, floats with thousands separators."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def table(summary: dict[str, Any]) -> str:
    """A plain-text table of the runs and the headline ratios."""
    base = summary["reference"]
    cols = ["run", "wall s", "Σ fit s", "best trial", "best score", f"Δ vs {base}", "overhead", "DCU-s"]
    rows = [cols]
    for name, f in summary["runs"].items():
        dcu = f.get("billed_dcu_seconds", f.get("billed_dcu_seconds_as_one_batch"))
        rows.append([name, fmt(f["wall_seconds"], 1), fmt(f["sum_fit_seconds"], 1),
                     f"{f['best_trial_id']} {f['best_algorithm']}" if f["best_trial_id"] else "-",
                     fmt(f["best_score"], 4), fmt(f[f"best_score_minus_{base}"], 4),
                     fmt(f.get("overhead_ratio")), fmt(dcu, 0)])
    widths = [max(len(r[i]) for r in rows) for i in range(len(cols))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines += ["", f"wall-time ratio (local cloud / one session): {fmt(summary['wall_ratio_cloud_over_session'])}",
              f"DCU ratio (local cloud / the same work as one batch): {fmt(summary['dcu_ratio_cloud_over_one_batch'])}",
              f"packing off / packing on: wall {fmt(summary.get('wall_ratio_unpacked_over_packed'))}, "
              f"DCU {fmt(summary.get('dcu_ratio_unpacked_over_packed'))}",
              f"best candidate the same in every run: {fmt(summary['best_candidate_same_everywhere'])}"]
    return "\n".join(lines)


def machine() -> dict:
    """The machine a benchmark ran on, and how loaded it was."""
    import os
    import platform

    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"cores": os.cpu_count(), "load_average": load and [round(x, 2) for x in load],
            "python": platform.python_version(), "platform": platform.platform()}
