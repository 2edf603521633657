"""Resource use of a trial from Spark's own accounting (its status store), read through py4j.

Best effort by design: any failure yields no figure rather than a failed trial. Trials of a pack run
side by side: each is measured by its Spark job group (group_cpu_seconds), executor CPU only.
- executor_cpu_seconds: executor CPU time of the stages that ran during the trial (stages the
  status store has already evicted, beyond spark.ui.retainedStages, are not counted);
- peak_memory_bytes: the sum over executors of their peak JVM heap + off-heap use as reported by
  executor heartbeats; when none is reported yet (local mode, short runs), the driver JVM's peak
  heap use during the trial.
"""
from __future__ import annotations

import logging

from pyspark.sql import SparkSession

log = logging.getLogger(__name__)


def _stage_cpu_nanos(spark: SparkSession) -> dict[tuple[int, int], int]:
    sc = spark.sparkContext
    store = sc._jsc.sc().statusStore()
    try:  # Spark 3.4+: (statuses, details, withSummaries, quantiles, taskStatus)
        stages = store.stageList(None, False, False, sc._gateway.new_array(sc._jvm.double, 0),
                                 sc._jvm.java.util.ArrayList())
    except Exception:  # noqa: BLE001 - older Spark: stageList(statuses)
        stages = store.stageList(None)
    out = {}
    for i in range(stages.size()):
        stage = stages.apply(i)
        out[(stage.stageId(), stage.attemptId())] = int(stage.executorCpuTime())
    return out


def _executor_peak_bytes(spark: SparkSession) -> int:
    executors = spark.sparkContext._jsc.sc().statusStore().executorList(True)
    total = 0
    for i in range(executors.size()):
        peak = executors.apply(i).peakMemoryMetrics()
        if peak.isDefined():
            total += int(peak.get().getMetricValue("JVMHeapMemory")) + \
                int(peak.get().getMetricValue("JVMOffHeapMemory"))
    return total


def _heap_pools(spark: SparkSession) -> list:
    jvm = spark.sparkContext._jvm
    heap = jvm.java.lang.management.MemoryType.HEAP
    pools = jvm.java.lang.management.ManagementFactory.getMemoryPoolMXBeans()
    return [pools.get(i) for i in range(pools.size()) if pools.get(i).getType() == heap]


class ResourceMeter:
    """Start it before the trial's Spark work; read `usage()` after."""

    def __init__(self, spark: SparkSession):
        self._spark = spark
        self._stages_before: dict[tuple[int, int], int] = {}
        try:
            self._stages_before = _stage_cpu_nanos(spark)
            for pool in _heap_pools(spark):
                pool.resetPeakUsage()
        except Exception as exc:  # noqa: BLE001 - accounting must never fail a trial
            log.warning("resource accounting unavailable at start: %s", str(exc).splitlines()[0][:200])

    def usage(self) -> dict[str, float]:
        out: dict[str, float] = {}
        try:
            stages = _stage_cpu_nanos(self._spark)
            nanos = sum(cpu - self._stages_before.get(key, 0) for key, cpu in stages.items())
            out["executor_cpu_seconds"] = max(nanos, 0) / 1e9
        except Exception as exc:  # noqa: BLE001
            log.warning("executor CPU time unavailable: %s", str(exc).splitlines()[0][:200])
        try:
            peak = _executor_peak_bytes(self._spark)
            if peak <= 0:
                peak = sum(int(pool.getPeakUsage().getUsed()) for pool in _heap_pools(self._spark))
            if peak > 0:
                out["peak_memory_bytes"] = float(peak)
        except Exception as exc:  # noqa: BLE001
            log.warning("peak memory unavailable: %s", str(exc).splitlines()[0][:200])
        return out


def group_cpu_seconds(spark: SparkSession, group: str) -> dict[str, float]:
    """{"executor_cpu_seconds": ...} of the stages of the jobs run under Spark job group `group`
    (one trial of a pack, while others run beside it); {} when Spark cannot tell."""
    try:
        tracker = spark.sparkContext.statusTracker()
        stage_ids = set()
        for job in tracker.getJobIdsForGroup(group):
            info = tracker.getJobInfo(job)
            if info is not None:
                stage_ids.update(info.stageIds)
        nanos = sum(cpu for (stage, _), cpu in _stage_cpu_nanos(spark).items() if stage in stage_ids)
        return {"executor_cpu_seconds": nanos / 1e9}
    except Exception as exc:  # noqa: BLE001 - accounting must never fail a trial
        log.warning("executor CPU time unavailable: %s", str(exc).splitlines()[0][:200])
        return {}
