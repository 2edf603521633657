"""Launching trials into a job's slots, and finishing jobs. Safe under duplicate and concurrent calls:
a slot is an atomically created document and a trial moves WAITING -> LAUNCHING in one transaction,
so a trial is never launched twice and a job never runs more than max_parallel trials."""
from __future__ import annotations

import re

from zygarde.config import Settings, prefix
from zygarde.domain.contracts import TrialRequest, result_object_name
from zygarde.domain.errors import BatchAlreadyExists, PermanentError
from zygarde.domain.model import JobState, Trial, TrialState, best_trial
from zygarde.domain.spec import JobSpec
from zygarde.service_layer.deps import Deps, log
from zygarde.service_layer.ports import BatchRequest


def batch_id_for(job_id: str, trial_id: str, attempt: int) -> str:
    """Derived from job, trial and attempt, so a duplicate launch is refused by the API."""
    return f"zyg-{job_id}-{trial_id}-a{attempt}"


def _label(value: str) -> str:
    return re.sub(r"[^a-z0-9_-]", "-", value.lower())[:63]


def trial_uris(settings: Settings, job_id: str, trial_id: str, attempt: int) -> tuple[str, str]:
    """(model_uri, result_uri) of one attempt."""
    base = f"gs://{settings.bucket}/"
    model = f"{base}{prefix('artifacts')}{job_id}/{trial_id}/attempt-{attempt}/model"
    return model, base + result_object_name(job_id, trial_id, attempt)


def batch_request(trial: Trial, spec: JobSpec, owner: str, settings: Settings) -> BatchRequest:
    model_uri, result_uri = trial_uris(settings, trial.job_id, trial.trial_id, trial.attempt)
    request = TrialRequest(
        job_id=trial.job_id, trial_id=trial.trial_id, attempt=trial.attempt,
        dataset_uri=spec.dataset.uri, dataset_format=spec.dataset.format, target=spec.dataset.target,
        dataset_options=dict(spec.dataset.options), task=spec.task, metric=spec.objective,
        algorithm=trial.algorithm, params=dict(trial.params), seed=spec.seed,
        validation_fraction=spec.validation_fraction, model_uri=model_uri, result_uri=result_uri)
    return BatchRequest(
        batch_id=trial.batch_id,
        main_python_file_uri=settings.code_uri("train_trial.py"),
        args=("--request", request.to_json()),
        python_file_uris=(settings.code_uri("zygarde.zip"),),
        labels={"zygarde": "trial", "zygarde-job": _label(trial.job_id), "zygarde-trial": _label(trial.trial_id),
                "zygarde-owner": _label(owner)})


def launch(trial: Trial, spec: JobSpec, owner: str, deps: Deps) -> Trial | None:
    """Create the batch of a LAUNCHING trial and record it RUNNING. Idempotent: a batch that already
    exists counts as created. Transient errors propagate (the trial stays LAUNCHING and is resumed)."""
    ctx = f"job_id={trial.job_id} trial_id={trial.trial_id} attempt={trial.attempt}"
    try:
        deps.launcher.create(batch_request(trial, spec, owner, deps.settings))
        reason, message = "BatchCreated", f"batch {trial.batch_id} created"
    except BatchAlreadyExists:
        reason, message = "BatchExisted", f"batch {trial.batch_id} already existed"
    except PermanentError as exc:
        log.error("launch refused %s error=%r", ctx, str(exc))
        failed = _finish_trial(deps, trial, TrialState.FAILED, "LaunchRefused", str(exc), error=str(exc))
        return failed
    log.info("trial launched %s batch_id=%s reason=%s", ctx, trial.batch_id, reason)
    now = deps.now()
    return deps.repo.update_trial(trial.job_id, trial.trial_id, lambda t: t.transition(
        TrialState.RUNNING, reason, message, now)
        if t.state is TrialState.LAUNCHING and t.attempt == trial.attempt else None)


def _finish_trial(deps: Deps, trial: Trial, state: TrialState, reason: str, message: str, **changes) -> Trial | None:
    now = deps.now()
    updated = deps.repo.update_trial(trial.job_id, trial.trial_id, lambda t: t.transition(
        state, reason, message, now, **changes)
        if t.state.is_active() and t.attempt == trial.attempt else None)
    if trial.slot is not None:
        deps.repo.release_slot(trial.job_id, trial.slot, trial.trial_id)
    return updated


def fill_slots(job_id: str, deps: Deps) -> list[str]:
    """Resume LAUNCHING trials, then launch WAITING trials into free slots. Returns launched ids."""
    job = deps.repo.get_job(job_id)
    if job is None or job.state.is_finished():
        return []
    spec = JobSpec.model_validate(job.spec)
    trials = deps.repo.list_trials(job_id)
    launched = []
    for t in trials:
        if t.state is TrialState.LAUNCHING and launch(t, spec, job.owner, deps) is not None:
            launched.append(t.trial_id)
    waiting = [t for t in trials if t.state is TrialState.WAITING]
    holders = deps.repo.slot_holders(job_id)
    for slot in range(spec.max_parallel):
        if slot in holders:
            continue
        while waiting:
            trial = waiting.pop(0)
            if not deps.repo.claim_slot(job_id, slot, trial.trial_id, deps.now()):
                break  # another handler took this slot: try the next one
            claimed = _claim_trial(deps, trial, slot)
            if claimed is None:  # another handler launched this trial
                deps.repo.release_slot(job_id, slot, trial.trial_id)
                continue
            launch(claimed, spec, job.owner, deps)
            launched.append(claimed.trial_id)
            break
    return launched


def _claim_trial(deps: Deps, trial: Trial, slot: int) -> Trial | None:
    now = deps.now()

    def change(t: Trial) -> Trial | None:
        if t.state is not TrialState.WAITING:
            return None
        attempt = t.attempt + 1
        return t.transition(TrialState.LAUNCHING, "SlotClaimed", f"slot {slot}, attempt {attempt}", now,
                            slot=slot, attempt=attempt, batch_id=batch_id_for(t.job_id, t.trial_id, attempt))

    return deps.repo.update_trial(trial.job_id, trial.trial_id, change)


def trial_ended(deps: Deps, trial: Trial, ok: bool, reason: str, message: str, retryable: bool,
                **changes) -> Trial | None:
    """Record the end of an attempt: SUCCEEDED, FAILED, or back to WAITING for a retry."""
    if ok:
        return _finish_trial(deps, trial, TrialState.SUCCEEDED, reason, message, **changes)
    job = deps.repo.get_job(trial.job_id)
    max_attempts = JobSpec.model_validate(job.spec).max_attempts if job else 1
    if retryable and trial.attempt < max_attempts and job and not job.state.is_finished():
        return _finish_trial(deps, trial, TrialState.WAITING, "Retrying", f"{message}; retrying")
    return _finish_trial(deps, trial, TrialState.FAILED, reason, message, error=message, **changes)


def cancel_trial(deps: Deps, trial: Trial, reason: str, message: str) -> Trial | None:
    """Stop an active trial whose job has ended (its batch is cancelled by the caller)."""
    return _finish_trial(deps, trial, TrialState.CANCELLED, reason, message)


def maybe_finish_job(job_id: str, deps: Deps) -> None:
    """When every trial has finished, end the job with its best trial."""
    job = deps.repo.get_job(job_id)
    if job is None or job.state.is_finished():
        return
    trials = deps.repo.list_trials(job_id)
    if not trials or not all(t.state.is_finished() for t in trials):
        return
    spec = JobSpec.model_validate(job.spec)
    best = best_trial(trials, spec.direction)
    now = deps.now()
    if best is not None:
        msg = f"best trial {best.trial_id} ({best.algorithm}) {spec.objective}={best.objective:.6g}"
        deps.repo.update_job(job_id, lambda j: j.transition(
            JobState.SUCCEEDED, "AllTrialsFinished", msg, now, best_trial_id=best.trial_id,
            best_objective=best.objective) if j.state is JobState.RUNNING else None)
    else:
        first = next((t.error for t in trials if t.error), "no trial succeeded")
        msg = f"all {len(trials)} trials failed; first error: {first}"
        deps.repo.update_job(job_id, lambda j: j.transition(
            JobState.FAILED, "AllTrialsFailed", msg, now, error=msg) if j.state is JobState.RUNNING else None)
    log.info("job finished job_id=%s %s", job_id, msg)
