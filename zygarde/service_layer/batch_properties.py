"""Spark properties a trial's batch needs for its learner, beside the runtime's defaults.

XGBoost on Spark trains in barrier mode: every worker task runs at once, which Spark refuses under
dynamic allocation. Its batches turn dynamic allocation off and ask for a fixed set of executors
(2 x 4 cores, with the 4-core driver the 12 cores of Dataproc Serverless's default batch, so
`budget.cores_per_trial` keeps its meaning); the trial runs one XGBoost worker per task slot.
"""
from __future__ import annotations

from zygarde.domain import algorithms

BARRIER_EXECUTORS = 2
BARRIER_EXECUTOR_CORES = 4


def for_algorithm(name: str | None) -> dict[str, str]:
    """The batch properties of a trial training `name` ({} when the runtime's defaults do)."""
    algorithm = algorithms.get(name or "")
    if algorithm is None or not algorithm.barrier:
        return {}
    return {"spark.dynamicAllocation.enabled": "false",
            "spark.executor.instances": str(BARRIER_EXECUTORS),
            "spark.executor.cores": str(BARRIER_EXECUTOR_CORES)}
