"""Trial-parallel XGBoost's one-task Spark job (trial_parallel.py): the broadcast arrays of one
preprocessing, and one Spark job of one task running single_node on them with the task's cores, its
failure raised on the driver as one readable error.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pyspark.sql import SparkSession

from zygarde.domain.errors import DatasetError


@dataclass
class Arrays:
    """The broadcast arrays of one preprocessing: x, y (train rows) and xv, yv (scored rows) when given."""

    broadcast: Any
    rows: int

    def unpersist(self) -> None:
        self.broadcast.destroy()


def run_task(spark: SparkSession, arrays: Arrays, spec: dict[str, Any], score: bool = True) -> dict[str, Any]:
    """One Spark job of one task: the trial (score) or the fit alone on the broadcast arrays."""
    data = arrays.broadcast

    def task(rows):
        from pyspark import TaskContext

        from zygarde.spark import single_node

        for _ in rows:  # read the input to its end, or the Python worker is not reused (nor its imports)
            pass
        context = TaskContext.get()
        nthread = context.cpus() if context is not None else 1
        try:
            if score:
                yield single_node.fit_and_score(data.value, spec, nthread)
            else:
                booster, seconds = single_node.fit(data.value, spec, nthread)
                yield {**single_node.kept(booster), "seconds": seconds}
        except MemoryError:
            raise  # Spark reports the lost task
        except Exception as exc:  # noqa: BLE001 - the trial's failure, told to the driver in one line
            yield {"error": str(exc), "error_type": type(exc).__name__}

    out = spark.sparkContext.parallelize([0], 1).mapPartitions(task).collect()[0]
    if "error" in out:
        raise task_error(out["error_type"], out["error"])
    return out


def task_error(kind: str, text: str) -> Exception:
    """A task's failure as the driver raises it: XGBoost refusing the data or a parameter (its message's
    first line, without the source location) is the trial's data error; anything else a runtime one."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), kind)
    line = re.sub(r"^\[[\d:]+\] \S+:\d+: ", "", line)[:300]
    if kind == "XGBoostError":
        return DatasetError(f"XGBoost refused the trial: {line}")
    return RuntimeError(f"the trial's task failed: {kind}: {line}")
