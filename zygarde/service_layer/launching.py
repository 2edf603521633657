"""Claiming and launching one trial: capacity slot, job slot, trial state, Dataproc batch.

Every running trial holds one global capacity document (zygarde_capacity/{n}, n < the cap) and one
job slot document (zygarde_jobs/{job}/slots/{n}, n < max_parallel), each claimed by an atomic
create, and moves WAITING -> LAUNCHING in a transaction on its own document. So concurrent
handlers never exceed either limit and never launch one trial twice, with no hot document.
"""
from __future__ import annotations

import random
import re

from zygarde.config import Settings, prefix
from zygarde.domain import time_limits
from zygarde.domain.contracts import (DATA_PARTS, MANIFEST_NAME, FinalizeRequest, PrepareRequest, RefitSpec,
                                      TrialRequest, result_object_name)
from zygarde.domain.errors import BatchAlreadyExists, PermanentError
from zygarde.domain.model import FINALIZE, PREPARE, TRAIN, Job, Trial, TrialState
from zygarde.domain.spec import JobSpec
from zygarde.service_layer import batch_properties, handoff, stage_limits
from zygarde.service_layer.dataset_paths import dataset_home
from zygarde.service_layer.deps import Deps, log
from zygarde.service_layer.ports import BatchRequest
from zygarde.service_layer.stage_limits import TTL_LABEL


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


def data_prefix(settings: Settings, job_id: str) -> str:
    """Where the job's prepared data lives: report.json and the train / validation / test parts."""
    return f"gs://{settings.bucket}/{prefix('artifacts')}{job_id}/data/"


def package_uri(settings: Settings, model_name: str, job_id: str) -> str:
    return f"gs://{settings.bucket}/{prefix('models')}{model_name}/{job_id}/"


def result_locations(settings: Settings, trial: Trial, spec: JobSpec) -> dict[str, str]:
    """Every location a result of this attempt may name, derived here and never taken from the
    result: model_uri (training), parts.{train,validation,test} (preparation), package_uri and
    manifest_uri (finalisation)."""
    if trial.kind == PREPARE:
        data = data_prefix(settings, trial.job_id)
        return {f"parts.{part}": data + part for part in DATA_PARTS}
    if trial.kind == FINALIZE:
        package = package_uri(settings, spec.name or trial.job_id, trial.job_id)
        return {"package_uri": package, "manifest_uri": package + MANIFEST_NAME}
    if trial.pack_id and not spec.keep_trial_models:
        return {}  # a packed trial keeps no model: the winner is fitted again at finalisation
    return {"model_uri": trial_uris(settings, trial.job_id, trial.trial_id, trial.attempt)[0]}


def batch_request(trial: Trial, spec: JobSpec, owner: str, settings: Settings, time_limit: int = 0) -> BatchRequest:
    """The batch of one attempt. `time_limit` (seconds; 0: none): the stage's limit, which its request
    carries (the batch stops the stage there) and from which the batch's ttl follows."""
    model_uri, result_uri = trial_uris(settings, trial.job_id, trial.trial_id, trial.attempt)
    data = data_prefix(settings, trial.job_id)
    properties: dict[str, str] = {}
    waits = handoff.request_fields(settings, trial)
    if trial.kind == PREPARE:
        main, request = "prepare_data.py", PrepareRequest(
            job_id=trial.job_id, attempt=trial.attempt, dataset_uri=spec.dataset.uri,
            dataset_format=spec.dataset.format, target=spec.dataset.target, task=spec.task, seed=spec.seed,
            validation_fraction=spec.validation_fraction, test_fraction=spec.data.test_fraction,
            output_prefix=data, result_uri=result_uri, dataset_options=dict(spec.dataset.options),
            include_columns=spec.data.include_columns, exclude_columns=list(spec.data.exclude_columns),
            row_filter=spec.data.row_filter, expectations=dict(spec.data.expectations), min_rows=spec.data.min_rows,
            group_by=list(spec.data.group_by), dataset_home=dataset_home(spec.dataset.uri, owner, settings.bucket),
            time_limit_seconds=float(time_limit), **waits)
    elif trial.kind == FINALIZE:
        main, request = "finalize_model.py", FinalizeRequest(
            job_id=trial.job_id, attempt=trial.attempt, model_uri=trial.params["model_uri"],
            test_uri=data + "test", task=spec.task, target=spec.dataset.target, metric=spec.objective,
            package_uri=package_uri(settings, spec.name or trial.job_id, trial.job_id), result_uri=result_uri,
            manifest=dict(trial.params["manifest"]), refit=_refit(trial, spec, data), time_limit_seconds=float(time_limit))
        properties = batch_properties.for_stage(trial.kind, trial.algorithm, trial.params)
    else:
        properties = batch_properties.for_algorithm(trial.algorithm)
        main, request = "train_trial.py", TrialRequest(
            job_id=trial.job_id, trial_id=trial.trial_id, attempt=trial.attempt,
            dataset_uri=spec.dataset.uri, dataset_format=spec.dataset.format, target=spec.dataset.target,
            dataset_options=dict(spec.dataset.options), task=spec.task, metric=spec.objective,
            algorithm=trial.algorithm, params=dict(trial.params), seed=spec.seed,
            validation_fraction=spec.validation_fraction, model_uri=model_uri, result_uri=result_uri,
            train_uri=data + "train", validation_uri=data + "validation", k_folds=spec.data.k_folds,
            group_by=list(spec.data.group_by), train_fraction=trial.train_fraction,
            time_limit_seconds=float(time_limit))
    labels = {"zygarde": "trial", "zygarde-job": _label(trial.job_id), "zygarde-trial": _label(trial.trial_id),
              "zygarde-owner": _label(owner), "zygarde-kind": trial.kind}
    return BatchRequest(
        batch_id=trial.batch_id,
        main_python_file_uri=settings.code_uri(main),
        args=("--request", request.to_json()),
        python_file_uris=(settings.code_uri("zygarde.zip"),),
        labels=labels, properties=properties, **ttl_fields(settings, time_limit, bool(waits), labels))


def ttl_fields(settings: Settings, time_limit: int, takes_handoffs: bool, labels: dict[str, str]) -> dict:
    """The BatchRequest's ttl_seconds for a first stage with this limit ({} without one), also put in
    `labels` (the `zygarde-ttl` label: what is left of a warm batch decides which work it may take)."""
    if not time_limit:
        return {}
    ttl = time_limits.batch_ttl(time_limit, time_limits.seconds(settings.batch_ttl), takes_handoffs)
    labels[TTL_LABEL] = str(ttl)
    return {"ttl_seconds": ttl}


PACK_HOLD_ATTEMPT = 1  # a pack's id already names its trials' attempts: its slot holds use attempt 1
ACTIVE = (TrialState.LAUNCHING, TrialState.RUNNING)


def _refit(trial: Trial, spec: JobSpec, data: str) -> RefitSpec | None:
    """The winner to fit again at finalisation: when its trial kept no model, or the job fits the
    final model on train + validation."""
    refit = trial.params.get("refit")
    if not refit:
        return None
    return RefitSpec(algorithm=refit["algorithm"], params=dict(refit["params"]), seed=spec.seed,
                     train_uri=data + "train", validation_uri=data + "validation",
                     on_train_and_validation=spec.final_fit == "train_and_validation")


def release_slots(deps: Deps, trial: Trial) -> None:
    """Free the job slot and capacity slot this attempt of the trial held. Slots are released per
    attempt: a stale snapshot of attempt 1 never frees what attempt 2 holds. A packed trial's slots
    are the pack's: freed when no other trial of the pack is active (each trial ends first, then
    looks, so the last of two that end at once always sees the other ended)."""
    holder, attempt = trial.trial_id, trial.attempt
    if trial.pack_id:
        if any(t.pack_id == trial.pack_id and t.trial_id != trial.trial_id
               for t in deps.repo.list_trials(trial.job_id, ACTIVE)):
            return
        holder, attempt = trial.pack_id, PACK_HOLD_ATTEMPT
    if trial.slot is not None:
        deps.repo.release_slot(trial.job_id, trial.slot, holder, attempt)
    if trial.capacity_slot is not None:
        deps.repo.release_capacity(trial.capacity_slot, trial.job_id, holder, attempt)


def end_attempt(deps: Deps, trial: Trial, state: TrialState, reason: str, message: str, **changes) -> Trial | None:
    """Move an active attempt to `state` (finished, or WAITING for a retry) and free its slots."""
    now = deps.now()
    updated = deps.repo.update_trial(trial.job_id, trial.trial_id, lambda t: t.transition(
        state, reason, message, now, **changes)
        if t.state.is_active() and t.attempt == trial.attempt else None)
    release_slots(deps, trial)
    return updated


def launch(trial: Trial, spec: JobSpec, owner: str, deps: Deps, time_limit: int | None = None) -> Trial | None:
    """Create the batch of a LAUNCHING trial (or hand it to its warm batch) and record it RUNNING.
    `time_limit`: the stage's (stage_limits.stage_limit, computed here when not given)."""
    ctx = f"job_id={trial.job_id} trial_id={trial.trial_id} attempt={trial.attempt}"
    limit = time_limit if time_limit is not None else stage_limits.stage_limit(deps, trial, spec)
    started = start(deps, [trial], batch_request(trial, spec, owner, deps.settings, limit), ctx, limit)
    return started[0] if started else None


def start(deps: Deps, trials: list[Trial], request: BatchRequest, ctx: str, time_limit: int | None = None) -> list[Trial]:
    """Create the batch of these LAUNCHING trials (a stage, a trial or a pack), or hand their work to
    the warm batch they name, and record them RUNNING with their stage's `time_limit`; returns their
    new snapshots. Idempotent: a batch that already exists counts as created. A refused batch fails
    them; work handed to a batch that ended first sends them back to waiting. Transient errors
    propagate (they stay LAUNCHING)."""
    first = trials[0]
    try:
        if first.handoff:
            handed = handoff.hand_off(deps, trials, request)
            if handed is None:
                return _end_all(deps, trials, TrialState.WAITING, "HandoffMissed",
                                f"the warm batch {first.batch_id} ended before it took the work; retrying")
            reason, message = handed
        else:
            deps.launcher.create(request)
            reason, message = "BatchCreated", f"batch {first.batch_id} created"
    except BatchAlreadyExists:
        reason, message = "BatchExisted", f"batch {first.batch_id} already existed"
    except PermanentError as exc:
        log.error("launch refused %s error=%r", ctx, str(exc))
        return _end_all(deps, trials, TrialState.FAILED, "LaunchRefused", str(exc), error=str(exc))
    log.info("launched %s batch_id=%s trials=%d reason=%s time_limit_seconds=%s ttl_seconds=%s", ctx, first.batch_id,
             len(trials), reason, time_limit, request.ttl_seconds)
    now, running = deps.now(), []
    for t in trials:
        updated = deps.repo.update_trial(t.job_id, t.trial_id, lambda cur, t=t: cur.transition(
            TrialState.RUNNING, reason, message, now, time_limit_seconds=time_limit)
            if cur.state is TrialState.LAUNCHING and cur.attempt == t.attempt and cur.pack_id == t.pack_id else None)
        if updated is not None:
            running.append(updated)
    return running


def _end_all(deps: Deps, trials: list[Trial], state: TrialState, reason: str, message: str, **changes) -> list[Trial]:
    return [u for t in trials if (u := end_attempt(deps, t, state, reason, message, **changes)) is not None]


def claim_and_launch(deps: Deps, job: Job, spec: JobSpec, waiting: list[Trial], free_capacity: list[int],
                     job_slots_held: set[int]) -> Trial | None:
    """Launch the first waiting trial that this handler manages to claim, or None (nothing claimable).
    `free_capacity` and `job_slots_held` are updated in place."""
    free_job_slots = [s for s in range(spec.max_parallel) if s not in job_slots_held]
    while waiting and free_capacity and free_job_slots:
        trial = waiting[0]
        attempt = trial.attempt + 1  # the slots are claimed for this attempt only
        batch_id, handoff_n = batch_id_for(job.job_id, trial.trial_id, attempt), None
        limit = stage_limits.stage_limit(deps, trial, spec)
        if spec.packing != "off" and trial.kind != TRAIN:  # a stage of a packed job: warm batches
            warm = handoff.warm_batch(deps, job.job_id, deps.repo.list_trials(job.job_id),
                                      batch_properties.for_stage(trial.kind, trial.algorithm, trial.params), limit)
            batch_id, handoff_n = warm if warm else (batch_id, 0 if trial.kind == PREPARE else None)
        holder = (trial.trial_id, deps.now(), attempt, batch_id)
        cap_slot = free_capacity.pop(random.randrange(len(free_capacity)))
        if not deps.repo.claim_capacity(cap_slot, job.job_id, *holder):
            continue  # another handler took it: try another capacity slot
        job_slot = free_job_slots.pop(0)
        if not deps.repo.claim_slot(job.job_id, job_slot, *holder):
            job_slots_held.add(job_slot)
            deps.repo.release_capacity(cap_slot, job.job_id, trial.trial_id, attempt)
            free_capacity.append(cap_slot)
            continue
        claimed = _claim_trial(deps, trial, job_slot, cap_slot, attempt, batch_id, handoff_n)
        waiting.pop(0)
        if claimed is None:  # another handler launched this trial (or this attempt)
            deps.repo.release_slot(job.job_id, job_slot, trial.trial_id, attempt)
            deps.repo.release_capacity(cap_slot, job.job_id, trial.trial_id, attempt)
            free_capacity.append(cap_slot)
            free_job_slots.insert(0, job_slot)
            continue
        job_slots_held.add(job_slot)
        launched = launch(claimed, spec, job.owner, deps, limit)
        if launched is not None and launched.state is TrialState.WAITING:  # a warm batch exited meanwhile
            waiting.insert(0, launched)
            free_capacity.append(cap_slot)
            free_job_slots.insert(0, job_slot)
            job_slots_held.discard(job_slot)
            continue
        return claimed
    return None


def _claim_trial(deps: Deps, trial: Trial, slot: int, capacity_slot: int, attempt: int, batch_id: str,
                 handoff_n: int | None) -> Trial | None:
    """WAITING -> LAUNCHING as `attempt`, the attempt the slots were claimed for; None if the trial
    is not waiting for that attempt any more."""
    now = deps.now()

    def change(t: Trial) -> Trial | None:
        if t.state is not TrialState.WAITING or t.attempt + 1 != attempt:
            return None
        return t.transition(TrialState.LAUNCHING, "SlotClaimed", f"slot {slot}, capacity {capacity_slot}, "
                            f"attempt {attempt}", now, slot=slot, capacity_slot=capacity_slot, attempt=attempt,
                            batch_id=batch_id, handoff=handoff_n)

    return deps.repo.update_trial(trial.job_id, trial.trial_id, change)
