"""How a pack fits its XGBoost trials (issue #24): trial-parallel when the prepared data fits an
executor comfortably, data-parallel otherwise.

- data_parallel: each trial is one xgboost.spark fit, a barrier stage over every task slot, with the
  rows repartitioned and turned into arrays inside its tasks; trials run one after another. It pays
  off only when the data does not fit one executor.
- trial_parallel: the prepared (preprocessed) parts are turned into arrays and broadcast once, and each
  trial is one Spark task fitting single-node XGBoost on them with the task's cores, as Hyperopt's
  SparkTrials and Databricks AutoML spread trials: throughput scales with the executors, not the data.

The rule of thumb (Databricks'): the cached data stays under a quarter of an executor's memory. Here
the data is the parts' float32 arrays (features and label, train and validation rows), held once by
the executor's block manager and once by each Python worker that runs a trial at the same time (each
task slot). Pure and cheap, so the planner can price both modes from the same inputs.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

AUTO, TRIAL_PARALLEL, DATA_PARALLEL = "auto", "trial_parallel", "data_parallel"
MODES = (AUTO, TRIAL_PARALLEL, DATA_PARALLEL)
MEMORY_SHARE = 0.25  # of an executor's memory the data may take, all its copies together
VALUE_BYTES = 4  # float32
_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)b?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class FitMode:
    """The decision and its reason (one sentence, logged with the pack)."""

    mode: str  # TRIAL_PARALLEL or DATA_PARALLEL
    reason: str
    data_bytes: int = 0  # one copy of the arrays
    footprint_bytes: int = 0  # every copy an executor holds at once
    limit_bytes: int = 0  # MEMORY_SHARE of the executor's memory

    @property
    def trial_parallel(self) -> bool:
        return self.mode == TRIAL_PARALLEL


def memory_bytes(text: str | int | None, default: int = 0) -> int:
    """A JVM memory setting ("12200m", "4g", "512k", "1073741824") in bytes; `default` when unset or unreadable."""
    if text is None:
        return default
    if isinstance(text, int):
        return text
    found = _SIZE.match(str(text))
    if not found:
        return default
    digits, unit = found.groups()
    return int(float(digits) * _UNITS[unit.lower()])


def data_bytes(rows: int, features: int) -> int:
    """One copy of the prepared parts as float32 arrays: every row's features and its label."""
    return max(0, rows) * (max(0, features) + 1) * VALUE_BYTES


def footprint_bytes(rows: int, features: int, task_slots: int) -> int:
    """What an executor holds when each of its task slots runs a trial: the broadcast block plus one
    copy per Python worker (XGBoost's quantised matrix, one byte a value, is counted in the margin)."""
    return data_bytes(rows, features) * (max(1, task_slots) + 1)


def choose(rows: int, features: int, executor_memory_bytes: int, task_slots: int, *, k_folds: int = 0,
           requested: str = AUTO) -> FitMode:
    """The pack's fit mode for XGBoost trials. `rows`: train + validation rows the trials read;
    `features`: the prepared feature vector's size; `executor_memory_bytes`: one executor's memory;
    `task_slots`: trials one executor runs at once (its cores / spark.task.cpus). `requested` (a
    PackRequest's fit_mode) forces a mode unless it is AUTO. k-fold cross-validation stays data-parallel."""
    if requested not in MODES:
        raise ValueError(f"fit_mode must be one of {', '.join(MODES)}, not {requested!r}")
    one = data_bytes(rows, features)
    held = footprint_bytes(rows, features, task_slots)
    limit = int(MEMORY_SHARE * max(0, executor_memory_bytes))
    sizes = {"data_bytes": one, "footprint_bytes": held, "limit_bytes": limit}
    if k_folds >= 2:
        return FitMode(DATA_PARALLEL, f"{k_folds}-fold cross-validation fits data-parallel", **sizes)
    if requested != AUTO:
        return FitMode(requested, "requested", **sizes)
    if held <= limit:
        return FitMode(TRIAL_PARALLEL, f"{rows:,} rows x {features} features: {held / 2**20:.0f} MiB for "
                                       f"{task_slots} trials at once, under a quarter of the executor's "
                                       f"{executor_memory_bytes / 2**20:.0f} MiB", **sizes)
    return FitMode(DATA_PARALLEL, f"{rows:,} rows x {features} features: {held / 2**20:.0f} MiB for "
                                  f"{task_slots} trials at once, over a quarter of the executor's "
                                  f"{executor_memory_bytes / 2**20:.0f} MiB", **sizes)


def max_rows(features: int, executor_memory_bytes: int, task_slots: int) -> int:
    """The most rows (train + validation) that still fit trial-parallel: what a planner prices against."""
    per_row = (max(0, features) + 1) * VALUE_BYTES * (max(1, task_slots) + 1)
    return int(MEMORY_SHARE * max(0, executor_memory_bytes)) // per_row
