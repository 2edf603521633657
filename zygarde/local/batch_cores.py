"""The cores a local batch gets: Dataproc Serverless's sizing properties mapped to a `local[N]` master.

On Dataproc Serverless a batch's executors have `spark.executor.cores` cores each (default 4) and it
starts with 2 executors: `spark.executor.instances` when dynamic allocation is off, and under dynamic
allocation (on by default) the largest of `spark.executor.instances`,
`spark.dynamicAllocation.initialExecutors` and `spark.dynamicAllocation.minExecutors` that the batch
sets. Locally the driver and its executors share one JVM and tasks run on the N threads of
`local[N]`, so N is the executors' cores (the driver's `spark.driver.cores` runs no tasks):

    N = executor cores x executors, at most the machine's CPUs and max_cores (the server's
        max_cores_per_batch), at least 1, and at least min(spark.task.cpus, executor cores),
        which Spark needs to run one task at all.

A batch that sets none of these asks for Dataproc's default 4 x 2 = 8 cores, as on Google Cloud
(local[2] on a 2-core machine); one asking for 1 executor of 1 core gets local[1]. A value that is not
a positive integer ("abc", "0", "2.5") or a boolean is ignored with a note and the property's Dataproc
default applies: the batch runs rather than fails. `spark.master` in a batch's properties is ignored,
as on Dataproc Serverless; only the server's own --master overrides the mapping (for every batch).
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_EXECUTOR_CORES = 4
DEFAULT_EXECUTORS = 2
_EXECUTOR_COUNTS = ("spark.executor.instances", "spark.dynamicAllocation.initialExecutors",
                    "spark.dynamicAllocation.minExecutors")


@dataclass(frozen=True)
class LocalCores:
    """N of local[N], the executor cores the properties ask for, and any fallback or cap applied."""

    cores: int
    requested: int
    executor_cores: int
    executors: int
    notes: tuple[str, ...] = ()

    @property
    def master(self) -> str:
        return f"local[{self.cores}]"

    def describe(self) -> str:
        """'local[1]: 1 core asked for (1 executor x 1 core)' plus the notes."""
        text = (f"{self.master}: {self.requested} core{'s' if self.requested != 1 else ''} asked for "
                f"({self.executors} executor{'s' if self.executors != 1 else ''} x {self.executor_cores} "
                f"core{'s' if self.executor_cores != 1 else ''})")
        return "; ".join((text, *self.notes))


def _positive_int(props: Mapping[str, object], key: str, notes: list[str]) -> int | None:
    """The property as a positive integer; None when unset or (with a note) invalid."""
    raw = props.get(key)
    if raw is None or str(raw).strip() == "":
        return None
    try:
        value = int(str(raw).strip())
    except ValueError:
        value = 0
    if value < 1:
        notes.append(f"{key}={raw!r} is not a positive integer and was ignored")
        return None
    return value


def _dynamic_allocation(props: Mapping[str, object], notes: list[str]) -> bool:
    raw = props.get("spark.dynamicAllocation.enabled")
    text = str(raw).strip().lower() if raw is not None else ""
    if text in ("", "true", "false"):
        return text != "false"
    notes.append(f"spark.dynamicAllocation.enabled={raw!r} is not true or false; taken as true")
    return True


def local_cores(properties: Mapping[str, object] | None, max_cores: int | None = None,
                cpus: int | None = None) -> LocalCores:
    """Map a batch's runtimeConfig.properties to its local[N] (see the module docstring). Never raises
    on property values; `cpus` defaults to os.cpu_count(), `max_cores` to no cap beyond it."""
    props, notes = properties or {}, []
    executor_cores = _positive_int(props, "spark.executor.cores", notes) or DEFAULT_EXECUTOR_CORES
    if _dynamic_allocation(props, notes):
        counts = [n for key in _EXECUTOR_COUNTS if (n := _positive_int(props, key, notes)) is not None]
        executors = max(counts, default=DEFAULT_EXECUTORS)
    else:
        executors = _positive_int(props, "spark.executor.instances", notes) or DEFAULT_EXECUTORS
    requested = executor_cores * executors

    machine = max(1, int(cpus if cpus is not None else (os.cpu_count() or 1)))
    cap = min(machine, max(1, int(max_cores))) if max_cores is not None else machine
    cores = min(requested, cap)
    if cores < requested:
        notes.append(f"capped at {cap} (machine CPUs {machine}, max cores per batch "
                     f"{max_cores if max_cores is not None else 'unset'})")
    task_cpus = _positive_int(props, "spark.task.cpus", notes) or 1
    if cores < min(task_cpus, executor_cores):
        cores = min(task_cpus, executor_cores)
        notes.append(f"raised to {cores} so a task of spark.task.cpus={task_cpus} fits")
    return LocalCores(cores=cores, requested=requested, executor_cores=executor_cores, executors=executors,
                      notes=tuple(notes))
