"""SubmitJob and JobFileWritten: validate a job, record it with its trials (all or nothing) and queue its
preparation. Whatever the bytes, a bad job is recorded REJECTED with a reason; only transient errors
raise. A job seen before is a redelivery: it finishes what the first delivery started, writing nothing."""
from __future__ import annotations

import hashlib
import json

from zygarde.config import prefix
from zygarde.domain.errors import DatasetError, NotFound, PermanentError, SpecError, Unstorable
from zygarde.domain.messages import (JobFileWritten, JobRecorded, Message, PlaceWork, ResumeLaunches, ReviewJob,
                                     SubmitJob)
from zygarde.domain.model import Condition, Job, JobState, StageKind, Trial
from zygarde.domain.raw_doc import safe_text
from zygarde.domain.reasons import Reason
from zygarde.domain.search import initial_trials, planned_trial_count
from zygarde.domain.spec import JobSpec
from zygarde.service_layer import submission
from zygarde.service_layer.deps import Deps, log
from zygarde.service_layer.job_rejection import claimed_job_id, derived_job_id, reject, stored_raw
from zygarde.service_layer.unit_of_work import work_is_ready


def submit_job(cmd: SubmitJob, deps: Deps) -> list[Message]:
    """A job spec published on the jobs topic."""
    return _record(deps, cmd.data, derived_job_id(f"msg:{cmd.message_id}"))


def submit_job_file(event: JobFileWritten, deps: Deps) -> list[Message]:
    """A job file written under jobs/ in Zygarde's bucket (others are ignored)."""
    if event.bucket != deps.settings.bucket:
        log.warning("job file notification from another bucket ignored bucket=%s message_id=%s",
                    safe_text(event.bucket, 80), event.message_id)
        return []
    if not event.name.startswith(prefix("job_files")) or not event.name.endswith(".json"):
        return []
    uri = f"gs://{event.bucket}/{event.name}"
    fallback_id = derived_job_id(f"{uri}#{event.generation}")
    try:
        raw = deps.blobs.read_bytes(uri)
    except NotFound:
        log.warning("job file vanished uri=%s", safe_text(uri, 300))
        return []
    except PermanentError as exc:
        return [JobRecorded(reject(deps, fallback_id, "", f"the job file {uri} cannot be read: {exc}"), False)]
    return _record(deps, raw, fallback_id)


def _record(deps: Deps, raw: bytes | str, fallback_id: str) -> list[Message]:
    try:
        spec = submission.parse(raw)
    except SpecError as exc:
        return [JobRecorded(reject(deps, claimed_job_id(raw) or fallback_id, raw, str(exc)), False)]
    job_id = spec.job_id or fallback_id
    spec_dict = spec.model_dump(mode="json")
    existing = deps.repo.get_job(job_id)
    if existing is not None:
        return _seen_before(deps, existing, spec, spec_dict, raw)
    try:
        submission.check_dataset(spec, deps.blobs, deps.settings.bucket)
    except DatasetError as exc:
        return [JobRecorded(reject(deps, job_id, raw, str(exc), owner=spec.owner), False)]
    now = deps.now()
    prepare = Trial(job_id=job_id, trial_id=str(StageKind.PREPARE), index=-2, algorithm=str(StageKind.PREPARE),
                    params={}, kind=StageKind.PREPARE, created_at=now)
    trials = [prepare] + initial_trials(spec, job_id, now)
    job = Job(job_id=job_id, owner=spec.owner, state=JobState.RUNNING, spec=spec_dict, created_at=now,
              trial_count=planned_trial_count(spec),
              conditions=(Condition("RUNNING", Reason.ACCEPTED, _accepted(spec), now),))
    try:
        added = deps.repo.add_job(job, trials)
    except Unstorable as exc:
        return [JobRecorded(reject(deps, job_id, raw, f"the job cannot be stored as written: {exc}",
                                   owner=spec.owner), False)]
    if added:
        log.info("job accepted job_id=%s owner=%s trials=%d", job_id, spec.owner, len(trials))
    return [JobRecorded(job_id, True), *work_is_ready(deps, job)]


def _seen_before(deps: Deps, existing: Job, spec: JobSpec, spec_dict: dict, raw: bytes | str) -> list[Message]:
    job_id = existing.job_id
    if existing.state is JobState.REJECTED and existing.spec == {"raw": stored_raw(raw)}:
        return [JobRecorded(job_id, False)]  # a redelivery of a job rejected for its dataset
    if existing.spec != spec_dict:  # recorded under an id of its own, so the user sees why
        digest = hashlib.sha256(json.dumps(spec_dict, sort_keys=True).encode()).hexdigest()[:8]
        return [JobRecorded(reject(deps, f"{job_id[:27]}-dup-{digest}", raw,
                                   f"job id {job_id} is already used by another job (submitted {existing.created_at}): "
                                   "choose another job_id, or leave it out to get a fresh one", owner=spec.owner),
                            False)]
    # a redelivery: finish what the first delivery started
    return [JobRecorded(job_id, True), ResumeLaunches(job_id), ReviewJob(job_id), PlaceWork()]


def _accepted(spec: JobSpec) -> str:
    planned = planned_trial_count(spec)
    accepted = f"{planned} trials to run after the data is prepared"
    if spec.budget.deadline_minutes is not None:
        accepted = (f"up to {planned} trials to run after the data is prepared, until the "
                    f"{spec.budget.deadline_minutes:g}-minute deadline")
    if spec.data.k_folds:
        accepted += f"; with {spec.data.k_folds}-fold cross-validation each trial fits {spec.data.k_folds + 1} models"
    return accepted
