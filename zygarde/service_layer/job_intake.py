"""SubmitJob and JobFileWritten: validate a job, record it with its trials (all or nothing) and queue its
preparation. The owner is proven, never taken from the job: on the jobs topic by the message's identity
token (authentication.py), in a job file jobs/{owner}/NAME.json by its folder (which bucket IAM lets only
that owner write). Whatever the bytes, a bad job is recorded REJECTED with a reason; only transient errors
raise. A job seen before is a redelivery: it finishes what the first delivery started, writing nothing."""
from __future__ import annotations

import hashlib
import json
from typing import Callable

from zygarde.config import prefix
from zygarde.domain.errors import DatasetError, NotFound, PermanentError, SpecError, TransientError, Unstorable
from zygarde.domain.identity import is_owner_key
from zygarde.domain.messages import (JobFileWritten, JobRecorded, Message, PlaceWork, ResumeLaunches, ReviewJob,
                                     SubmitJob)
from zygarde.domain.model import Condition, Job, JobState, StageKind, Trial
from zygarde.domain.raw_doc import safe_text
from zygarde.domain.reasons import Reason
from zygarde.domain.search import initial_trials, planned_trial_count
from zygarde.domain.spec import JobSpec
from zygarde.service_layer import job_plans, submission
from zygarde.service_layer.authentication import UNVERIFIED_OWNER, Refused, message_sender
from zygarde.service_layer.deps import Deps, log
from zygarde.service_layer.job_rejection import claimed_job_id, derived_job_id, reject, stored_raw
from zygarde.service_layer.unit_of_work import work_is_ready


def submit_job(cmd: SubmitJob, deps: Deps) -> list[Message]:
    """A job published on the jobs topic, for the owner its identity token proves."""
    refused_id = derived_job_id(f"msg:{cmd.message_id}")
    try:
        sender = message_sender(cmd.attributes, cmd.publish_time, deps.verifier, deps.settings.trusted_delegates,
                                deps.clock())
    except Refused as exc:  # never attributed to anyone: recorded under an id of the message's own
        return _rejected(deps, refused_id, cmd.data, f"the job was refused: {exc}", UNVERIFIED_OWNER)
    action = cmd.attributes.get("action")
    if action not in (None, "submit"):
        return _rejected(deps, refused_id, cmd.data, f"action {safe_text(action, 40)!r} is unknown: a message on the "
                         "jobs topic is a job, a cancel (action=cancel) or a grant (action=grant)", sender.key)
    return _record(deps, cmd.data, sender.key, refused_id, lambda named: (
        f"owner: the job names {named!r}, but it was sent by {sender.describe()}, whose owner key is "
        f"{sender.key!r}: a job is submitted by its owner"))


def submit_job_file(event: JobFileWritten, deps: Deps) -> list[Message]:
    """A job file written under jobs/{owner}/ in Zygarde's bucket (others are ignored): its owner is its folder."""
    if event.bucket != deps.settings.bucket:
        log.warning("job file notification from another bucket ignored bucket=%s message_id=%s",
                    safe_text(event.bucket, 80), event.message_id)
        return []
    if not event.name.startswith(prefix("job_files")) or not event.name.endswith(".json"):
        return []
    uri = f"gs://{event.bucket}/{event.name}"
    fallback_id = derived_job_id(f"{uri}#{event.generation}")
    owner, sep, _ = event.name.removeprefix(prefix("job_files")).partition("/")
    if not sep or not is_owner_key(owner):
        return _rejected(deps, fallback_id, "", f"the job file {safe_text(uri, 300)} is not under "
                         f"{prefix('job_files')}{{owner}}/, its owner's folder (the owner key of their e-mail): "
                         "write it there", UNVERIFIED_OWNER)
    try:
        raw = deps.blobs.read_bytes(uri)
    except NotFound:
        log.warning("job file vanished uri=%s", safe_text(uri, 300))
        return []
    except PermanentError as exc:
        return _rejected(deps, fallback_id, "", f"the job file {uri} cannot be read: {exc}", owner)
    return _record(deps, raw, owner, fallback_id, lambda named: (
        f"owner: the job names {named!r}, but its file is in {prefix('job_files')}{owner}/: a job file's owner "
        "is the folder it is written to"))


def _rejected(deps: Deps, job_id: str, raw: bytes | str, reason: str, owner: str) -> list[Message]:
    return [JobRecorded(reject(deps, job_id, raw, reason, owner), False)]


def _record(deps: Deps, raw: bytes | str, owner: str, fallback_id: str, mismatch: Callable[[str], str]) -> list[Message]:
    """Record the job in `raw` for the proven `owner`; `mismatch(named)` is the reason when it names another."""
    try:
        spec = submission.parse(raw)
    except SpecError as exc:
        return _rejected(deps, claimed_job_id(raw) or fallback_id, raw, str(exc), owner)
    if spec.owner != owner:  # recorded under the message's own id: it takes no job id
        return _rejected(deps, fallback_id, raw, mismatch(spec.owner), owner)
    job_id = spec.job_id or fallback_id
    spec_dict = spec.model_dump(mode="json")
    existing = deps.repo.get_job(job_id)
    if existing is not None:
        return _seen_before(deps, existing, spec, spec_dict, raw)
    try:
        submission.check_model_name(spec, job_id, deps.repo)
        submission.check_dataset(spec, deps.blobs, deps.settings.bucket)
    except (SpecError, DatasetError) as exc:
        return _rejected(deps, job_id, raw, str(exc), spec.owner)
    now = deps.now()
    prepare = Trial(job_id=job_id, trial_id=str(StageKind.PREPARE), index=-2, algorithm=str(StageKind.PREPARE),
                    params={}, kind=StageKind.PREPARE, created_at=now)
    trials = [prepare] + initial_trials(spec, job_id, now)
    plan = _plan(deps, spec, trials, now)
    conditions = [Condition("RUNNING", Reason.ACCEPTED, _accepted(spec, plan), now)]
    if plan and plan.get("infeasible"):
        conditions.append(Condition("RUNNING", Reason.PLAN_INFEASIBLE, _infeasible(spec, plan), now))
    job = Job(job_id=job_id, owner=spec.owner, state=JobState.RUNNING, spec=spec_dict, created_at=now,
              trial_count=planned_trial_count(spec), conditions=tuple(conditions), plan=plan)
    try:
        added = deps.repo.add_job(job, trials)
    except Unstorable as exc:
        return _rejected(deps, job_id, raw, f"the job cannot be stored as written: {exc}", spec.owner)
    if added:
        log.info("job accepted job_id=%s owner=%s trials=%d", job_id, spec.owner, len(trials))
    return [JobRecorded(job_id, True), *work_is_ready(deps, job)]


def _seen_before(deps: Deps, existing: Job, spec: JobSpec, spec_dict: dict, raw: bytes | str) -> list[Message]:
    job_id = existing.job_id
    if existing.state is JobState.REJECTED and existing.spec == {"raw": stored_raw(raw)}:
        return [JobRecorded(job_id, False)]  # a redelivery of a job rejected for its dataset
    if existing.spec != spec_dict:  # recorded under an id of its own, so the user sees why
        digest = hashlib.sha256(json.dumps(spec_dict, sort_keys=True).encode()).hexdigest()[:8]
        return _rejected(deps, f"{job_id[:27]}-dup-{digest}", raw,
                         f"job id {job_id} is already used by another job (submitted {existing.created_at}): "
                         "choose another job_id, or leave it out to get a fresh one", spec.owner)
    # a redelivery: finish what the first delivery started
    return [JobRecorded(job_id, True), ResumeLaunches(job_id), ReviewJob(job_id), PlaceWork()]


def _plan(deps: Deps, spec: JobSpec, trials: list[Trial], now: str) -> dict | None:
    """The job's plan (job_plans); None when it cannot be made (the job runs as it would without one)."""
    try:
        return job_plans.make_plan(deps, spec, trials, "max_parallel" in spec.model_fields_set, now)
    except TransientError:
        raise
    except Exception as exc:  # noqa: BLE001 - a plan is an estimate: never a reason to refuse a job
        log.exception("no plan for the job owner=%s error=%s", spec.owner, type(exc).__name__)
        return None


def _infeasible(spec: JobSpec, plan: dict) -> str:
    return (f"no plan meets the job's limits: {plan['infeasible']}; the job runs anyway, "
            + ("its search stops at the deadline with the best model so far" if spec.budget.deadline_minutes
               is not None else "and launches no more trials once budget.max_cost_usd is spent"))


def _accepted(spec: JobSpec, plan: dict | None = None) -> str:
    planned = planned_trial_count(spec)
    accepted = f"{planned} trials to run after the data is prepared"
    if spec.budget.deadline_minutes is not None:
        accepted = (f"up to {planned} trials to run after the data is prepared, until the "
                    f"{spec.budget.deadline_minutes:g}-minute deadline")
    if spec.data.k_folds:
        accepted += f"; with {spec.data.k_folds}-fold cross-validation each trial fits {spec.data.k_folds + 1} models"
    if plan:
        accepted += f"; plan: {plan['summary']} ({_configuration(plan)})"
    return accepted


def _configuration(plan: dict) -> str:
    each = "trial" if plan["concurrency"] == 1 else "trials"
    text = (f"{plan['batches']} batch{'es' if plan['batches'] != 1 else ''} at once of {plan['executors']} x "
            f"{plan['executor_cores']}-core executors, {plan['concurrency']} {each} each at a time")
    if plan.get("sized") and not plan.get("infeasible"):
        text += f", about {plan['trials']} trials by the limits"
    return text
