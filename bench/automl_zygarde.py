"""Zygarde's side of the auto-mode benchmark: the job through the local cloud exactly as a user
publishes it (the CSV uploaded to the bucket, the job on the jobs topic), followed with the
platform's job view until it ends; then its registered model's test metric, its trial counts by
state, and the URIs of the parts its preparation wrote (FLAML gets the same split)."""
from __future__ import annotations

import time

from bench import automl_data, automl_report, packing_cloud


def run(csv: bytes, rows: int, dataset: automl_data.AutomlDataset, job_id: str, minutes: float,
        max_trials: int | None, timeout: float, packing: str | None = None,
        progress=print) -> tuple[dict, dict | None]:
    """Upload, publish, wait: (the run's record, the prepared parts {part: URI} or None)."""
    from zygarde.bootstrap import build_deps

    deps = build_deps()
    uri = automl_data.dataset_uri(deps.settings.bucket, dataset, rows)
    deps.blobs.write_bytes(uri, csv, content_type="text/csv")
    spec = automl_data.job_spec(job_id, uri, dataset, minutes, max_trials, packing)
    published = time.monotonic()
    packing_cloud.publish_signed(deps, spec)
    view, ended = packing_cloud.wait_for(deps, job_id, timeout, progress=progress)
    return record(view, ended - published, spec), parts_of(view)


def existing(job_id: str) -> tuple[dict, dict | None]:
    """The record of a job that already ran in this cloud (its wall time: created -> finished)."""
    from zygarde.bootstrap import build_deps
    from zygarde.service_layer.queries import job_view

    view = job_view(build_deps().repo, job_id)
    if view is None:
        raise LookupError(f"no job {job_id} in this local cloud")
    rec = record(view, None, view.job.spec)
    rec["wall_seconds"], rec["reused"] = rec["recorded_seconds"], True
    return rec, parts_of(view)


def parts_of(view) -> dict | None:
    if view.prepare is None or view.prepare.state.value != "SUCCEEDED":
        return None
    return dict(view.prepare.outputs.get("parts") or {}) or None


def record(view, wall_seconds: float | None, spec: dict) -> dict:
    """The run's figures: state, test score of the registered model (none when the job did not end
    SUCCEEDED or BUDGET_EXHAUSTED with a model), counts, timings, and the trials."""
    from zygarde.domain.model import TrialState

    base = packing_cloud.record(view, wall_seconds, parallelism=view.job.spec.get("max_parallel", 2))
    metric = view.metric
    test = dict(view.job.test_metrics or {})
    best = view.best
    return {
        "job_id": view.job.job_id, "state": view.job.state.value, "error": view.job.error,
        "ended_because": view.job.conditions[-1].message if view.job.conditions else None,
        "wall_seconds": wall_seconds, "recorded_seconds": base["recorded_seconds"],
        "deadline_minutes": (spec.get("budget") or {}).get("deadline_minutes"),
        "metric": metric, "test_score": test.get(metric), "test_metrics": test,
        "validation_score": view.job.best_objective,
        "model": {"name": view.job.model_name, "version": view.job.model_version},
        "best_trial": best and {"trial_id": best.trial_id, "algorithm": best.algorithm, "params": dict(best.params)},
        "trials": automl_report.state_counts([t.state.value for t in view.trials], [s.value for s in TrialState]),
        "planned_search": view.job.spec.get("search"), "packing": view.job.spec.get("packing"),
        "rows": base["rows"], "prepare_seconds": base["prepare_seconds"], "finalize_seconds": base["finalize_seconds"],
        "batches": base["batches"], "stages": base["stages"], "trial_records": base["trials"],
    }
