"""The end-to-end run: the job through the local cloud, published like a user's, followed with the
platform's query functions until it ends; timings from the trial records."""
from __future__ import annotations

import json
import os
import time
from datetime import datetime
from pathlib import Path

from bench.packing_data import BenchDataset, dataset_uri, job_spec
from zygarde.domain.budgets import batch_runtimes


def start_cloud(state_dir: Path, max_concurrent_batches: int):
    """The same code `zygarde local up` runs: reuse the cloud recorded in state_dir, else a new one on
    free ports of $ZYGARDE_TEST_PORT_RANGE. Returns (cloud, started_here)."""
    from zygarde.local.cloud import LocalCloud, LocalPorts

    if (state_dir / "state.json").exists():
        cloud = LocalCloud.load(state_dir)
        running = all(row["ready"] for row in cloud.status().values())
    else:
        cloud, running = LocalCloud(state_dir, LocalPorts.free(), max_concurrent_batches=max_concurrent_batches), False
    cloud.up()
    os.environ.update(cloud.env())
    return cloud, not running


def _seconds(start: str | None, end: str | None) -> float | None:
    if not (start and end):
        return None
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def trial_record(trial, origin: str) -> dict:
    """A trial's phases, in seconds from the job's creation: its conditions, and waiting (created ->
    launching), launching (-> running: the batch created), running (-> finished: the batch's run and
    its result's notification), fit (the learner's train_seconds, measured in the batch)."""
    launching = next((c.time for c in trial.conditions if c.state == "LAUNCHING"), None)
    return {
        "trial_id": trial.trial_id, "kind": trial.kind, "algorithm": trial.algorithm, "params": dict(trial.params),
        "state": trial.state.value, "attempt": trial.attempt, "score": trial.objective,
        "fit_seconds": trial.metrics.get("train_seconds"),
        "waiting_seconds": _seconds(trial.created_at, launching), "launching_seconds": _seconds(launching, trial.started_at),
        "running_seconds": trial.duration_seconds,
        "started_at_offset": _seconds(origin, trial.started_at), "finished_at_offset": _seconds(origin, trial.finished_at),
        "conditions": [{"state": c.state, "reason": c.reason, "at": _seconds(origin, c.time)} for c in trial.conditions],
        "error": trial.error,
    }


def wait_for(deps, job_id: str, timeout: float, poll: float = 1.0, progress=print):
    """Polls the job's view until the job ends; the view, and the monotonic time its end was seen."""
    from zygarde.service_layer.queries import job_view

    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        view = job_view(deps.repo, job_id)
        if view is not None:
            note = f"{view.job.state.value}: {view.finished_trials}/{len(view.trials)} trials finished"
            if note != last:
                progress(f"  [{time.strftime('%H:%M:%S')}] {job_id} {note}")
                last = note
            if view.job.state.is_finished():
                return view, time.monotonic()
        time.sleep(poll)
    raise TimeoutError(f"job {job_id} did not end within {timeout:.0f} s")


def publish_signed(deps, spec: dict) -> str:
    """Publish a job as its owner does: with the identity token the local cloud issues for them."""
    from zygarde.adapters.auth import TokenSource
    from zygarde.config import jobs_audience
    from zygarde.domain.identity import identity_of_key, token_attributes

    token = TokenSource(jobs_audience(deps.settings.project), identity=identity_of_key(spec["owner"]))()
    return deps.publisher.publish("jobs", json.dumps(spec).encode(), **token_attributes(token))


def run(csv: bytes, dataset: BenchDataset, job_id: str, parallelism: int, timeout: float, progress=print,
        packing: str = "auto") -> dict:
    """Upload the data, publish the job, wait for it to end: the run's record."""
    from zygarde.bootstrap import build_deps

    deps = build_deps()
    uri = dataset_uri(deps.settings.bucket, dataset)
    deps.blobs.write_bytes(uri, csv, content_type="text/csv")
    spec = job_spec(job_id, uri, dataset, max_parallel=parallelism, packing=packing)
    published = time.monotonic()
    publish_signed(deps, spec)
    view, ended = wait_for(deps, job_id, timeout, progress=progress)
    return record(view, ended - published, parallelism)  # publish -> the job's end seen by polling (1 s)


def record(view, wall_seconds: float, parallelism: int) -> dict:
    """The run's record from the job's view (also of a job still running: then it is partial)."""
    origin = view.job.created_at
    stages = [t for t in (view.prepare, view.finalize) if t is not None]
    trials = [trial_record(t, origin) for t in view.trials]
    return {
        "job_id": view.job.job_id, "state": view.job.state.value, "error": view.job.error,
        "wall_seconds": wall_seconds,
        "recorded_seconds": _seconds(origin, view.job.finished_at),  # the job's created_at -> finished_at
        "prepare_seconds": view.prepare.duration_seconds if view.prepare else None,
        "finalize_seconds": view.finalize.duration_seconds if view.finalize else None,
        "rows": dict(view.prepare.outputs.get("rows") or {}) if view.prepare else {},
        "best_trial_id": view.job.best_trial_id, "best_objective": view.job.best_objective,
        "parallelism": parallelism,
        # each Dataproc batch's runtime: one per stage, and one per pack of trials (or per trial, unpacked)
        "batches": batch_runtimes([*stages, *view.trials], datetime.fromisoformat(view.job.finished_at
                                                                                   or view.job.created_at)),
        "packing": view.job.spec.get("packing", "auto"),
        "stages": [trial_record(t, origin) for t in stages],
        "trials": trials,
    }
