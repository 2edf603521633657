"""The job page's leaderboard columns: the job's metric, two or three key metrics of its task, and
every other recorded metric (fit rows, resources...) behind a toggle."""
from __future__ import annotations

from zygarde.domain import algorithms

MAX_KEY_METRICS = 3


def columns(task: str | None, metric: str | None, rows: list[dict]) -> dict:
    """{"metric": the job's metric (its column shows each row's ranked score), "key": the task's key
    metrics beside it, "more": the other metrics any row recorded, sorted}."""
    key = [m for m in algorithms.KEY_METRICS.get(task or "", ()) if m != metric][:MAX_KEY_METRICS]
    recorded = {name for r in rows for name in (r.get("metrics") or {})}
    return {"metric": metric or "objective", "key": key,
            "more": sorted(recorded - {metric} - set(key))}
