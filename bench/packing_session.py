"""The one-session anchor: the job's preparation and all its trials in one warm local Spark session,
`parallelism` trials at a time (a thread pool; Spark runs jobs from several threads at once).

It runs the platform's own stage code (zygarde.spark.prepare.run_prepare; zygarde.spark.pack_runner.run_pack,
one trial per pack) on local files, so preprocessing, fitting, scoring, the latency probe and the model save are what a
batch does today, only without a batch per trial: what packing trials into one batch can reach.
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.packing_data import (
    SEED,
    TEST_FRACTION,
    VALIDATION_FRACTION,
    BenchDataset,
    expand,
)

log = logging.getLogger(__name__)

SPARK_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.sql.variable.substitute": "false",  # as every batch (zygarde.spark.entry.SESSION_CONF)
    "spark.scheduler.mode": "FAIR",  # concurrent trials share the cores instead of queueing
}


def local_session(cores: int, port: int | None = None):
    """A local[cores] SparkSession; its JVM is stopped (by PID) on exit."""
    from zygarde.local.spark_session import local_session as session

    conf = {**SPARK_CONF, "spark.sql.shuffle.partitions": str(cores), "spark.default.parallelism": str(cores)}
    if port:
        conf.update({"spark.driver.port": str(port), "spark.blockManager.port": str(port + 1),
                     "spark.port.maxRetries": "40"})
    return session("zygarde-bench-packing", conf, master=f"local[{cores}]")


def prepare(spark, csv_path: Path, dataset: BenchDataset, out_dir: Path, job_id: str) -> tuple[dict, float]:
    """The job's preparation on a local CSV: ({"parts": {...}, "rows": {...}}, seconds)."""
    from zygarde.domain.contracts import PrepareRequest
    from zygarde.spark.prepare import run_prepare

    request = PrepareRequest(
        job_id=job_id, attempt=1, dataset_uri=str(csv_path), dataset_format="csv", target=dataset.target,
        task=dataset.task, seed=SEED, validation_fraction=VALIDATION_FRACTION, test_fraction=TEST_FRACTION,
        output_prefix=str(out_dir / "data") + "/", result_uri=str(out_dir / "prepare.json"),
        dataset_options={"header": "true", "inferSchema": "true"})
    started = time.monotonic()
    result = run_prepare(spark, request)
    seconds = time.monotonic() - started
    if result.status != "SUCCEEDED":
        raise RuntimeError(f"local preparation failed: {result.error}")
    return {"parts": dict(result.parts), "rows": dict(result.rows)}, seconds


def train_all(spark, spec: dict, dataset: BenchDataset, parts: dict, out_dir: Path, parallelism: int) -> list[dict]:
    """Every trial of the grid on the prepared parts, `parallelism` at a time, in grid order."""
    from zygarde.domain.contracts import PackedTrial, PackRequest
    from zygarde.spark.pack_runner import run_pack

    def one(item: tuple[str, str, dict]) -> dict:
        trial_id, algorithm, params = item
        trial = PackedTrial(trial_id=trial_id, attempt=1, algorithm=algorithm, params=params,
                            result_uri=str(out_dir / f"{trial_id}.json"), model_uri=str(out_dir / "models" / trial_id))
        request = PackRequest(job_id=spec["job_id"], pack_id=f"{trial_id}-a1", task=dataset.task,
                              metric=spec["metric"], target=dataset.target, seed=SEED, train_uri=parts["train"],
                              validation_uri=parts["validation"], trials=(trial,))
        spark.sparkContext.setLocalProperty("spark.scheduler.pool", f"lane-{trial_id}")
        result = run_pack(spark, request).results[trial_id]  # a pack of one: a trial on its own
        if result.status != "SUCCEEDED":
            log.warning("trial %s failed: %s", trial_id, result.error)
        return {"trial_id": trial_id, "algorithm": algorithm, "params": params,
                "score": result.metrics.get(spec["metric"]) if result.status == "SUCCEEDED" else None,
                "fit_seconds": result.metrics.get("train_seconds"), "seconds": result.duration_seconds,
                "status": result.status, "error": result.error}

    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        return list(pool.map(one, expand(spec)))


def run(csv_path: Path, spec: dict, dataset: BenchDataset, work_dir: Path, cores: int,
        port: int | None = None) -> dict:
    """Start a session, prepare, train every trial: the run's record (wall time includes the JVM start)."""
    started = time.monotonic()
    with local_session(cores, port) as spark:
        session_seconds = time.monotonic() - started
        prepared, prepare_seconds = prepare(spark, csv_path, dataset, work_dir, spec["job_id"])
        train_started = time.monotonic()
        trials = train_all(spark, spec, dataset, prepared["parts"], work_dir, cores)
        train_seconds = time.monotonic() - train_started
        wall = time.monotonic() - started  # the JVM's stop is not counted
    return {"wall_seconds": wall, "session_start_seconds": session_seconds,
            "prepare_seconds": prepare_seconds, "train_wall_seconds": train_seconds, "parallelism": cores,
            "rows": prepared["rows"], "parts": prepared["parts"], "trials": trials}
