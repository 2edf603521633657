"""One handler per event: job submitted, trial result written, reconciler tick."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field

from zygarde.config import prefix
from zygarde.domain import raw_doc
from zygarde.domain.contracts import parse_result_object_name
from zygarde.domain.errors import (
    DatasetError,
    MessageError,
    NotFound,
    PermanentError,
    SpecError,
    Unstorable,
)
from zygarde.domain.model import PREPARE, Condition, Job, JobState, Trial
from zygarde.domain.raw_doc import safe_text
from zygarde.domain.search import initial_trials, planned_trial_count
from zygarde.domain.spec import JOB_ID_PATTERN, OWNER_PATTERN
from zygarde.service_layer import grants, submission
from zygarde.service_layer.deps import Deps, log
from zygarde.service_layer.lifecycle import maybe_finish_job, stop_job
from zygarde.service_layer.reconcile import reconcile
from zygarde.service_layer.results import record_result
from zygarde.service_layer.scheduling import dispatch


@dataclass(frozen=True)
class Message:
    """A decoded Pub/Sub message."""

    data: bytes
    attributes: dict[str, str] = field(default_factory=dict)
    message_id: str = ""

    @property
    def is_object_notification(self) -> bool:
        return "objectId" in self.attributes and "bucketId" in self.attributes


def derived_job_id(source: str) -> str:
    return "j" + hashlib.sha256(source.encode()).hexdigest()[:12]


# ---------------------------------------------------------------- submit_job
def submit_job(msg: Message, deps: Deps) -> str | None:
    """Validate a job, record it with its trials, launch the first ones. Returns the job id.
    A message with attribute action=cancel and data {"job_id": ..., "requested_by": OWNER} cancels a job
    instead (cancel_job); one with action=grant changes who may use a model (grants.grant_message).
    Whatever the bytes, a bad job is recorded REJECTED with a reason; only
    transient errors raise."""
    if msg.attributes.get("action") == "cancel":
        return cancel_job(msg, deps)
    if msg.attributes.get("action") == grants.ACTION:
        return grants.grant_message(msg, deps)
    if msg.is_object_notification:  # a job file dropped under jobs/
        bucket, name = msg.attributes["bucketId"], msg.attributes["objectId"]
        if bucket != deps.settings.bucket:
            log.warning("job file notification from another bucket ignored bucket=%s message_id=%s",
                        safe_text(bucket, 80), msg.message_id)
            return None
        if msg.attributes.get("eventType", "OBJECT_FINALIZE") != "OBJECT_FINALIZE" or \
                not name.startswith(prefix("job_files")) or not name.endswith(".json"):
            return None
        uri = f"gs://{bucket}/{name}"
        fallback_id = derived_job_id(f"{uri}#{msg.attributes.get('objectGeneration', '')}")
        try:
            raw = deps.blobs.read_bytes(uri)
        except NotFound:
            log.warning("job file vanished uri=%s", safe_text(uri, 300))
            return None
        except PermanentError as exc:
            return _reject(deps, fallback_id, "", f"the job file {uri} cannot be read: {exc}")
    else:
        raw, fallback_id = msg.data, derived_job_id(f"msg:{msg.message_id}")

    try:
        spec = submission.parse(raw)
    except SpecError as exc:
        return _reject(deps, _claimed_job_id(raw) or fallback_id, raw, str(exc))
    job_id = spec.job_id or fallback_id
    spec_dict = spec.model_dump(mode="json")

    existing = deps.repo.get_job(job_id)
    if existing is not None:
        if existing.state is JobState.REJECTED and existing.spec == {"raw": _stored_raw(raw)}:
            return job_id  # a redelivery of a job rejected for its dataset
        if existing.spec != spec_dict:  # recorded under an id of its own, so the user sees why
            digest = hashlib.sha256(json.dumps(spec_dict, sort_keys=True).encode()).hexdigest()[:8]
            return _reject(deps, f"{job_id[:27]}-dup-{digest}", raw,
                           f"job id {job_id} is already used by another job (submitted {existing.created_at}): "
                           "choose another job_id, or leave it out to get a fresh one", owner=spec.owner)
        dispatch(deps)  # a redelivery: finish what the first delivery started
        maybe_finish_job(job_id, deps)
        return job_id

    try:
        submission.check_model_name(spec, job_id, deps.repo)
        submission.check_dataset(spec, deps.blobs, deps.settings.bucket)
    except (SpecError, DatasetError) as exc:
        return _reject(deps, job_id, raw, str(exc), owner=spec.owner)

    now = deps.now()
    trials = [Trial(job_id=job_id, trial_id=PREPARE, index=-2, algorithm=PREPARE, params={}, kind=PREPARE,
                    created_at=now)] + initial_trials(spec, job_id, now)
    accepted = f"{planned_trial_count(spec)} trials to run after the data is prepared"
    if spec.budget.deadline_minutes is not None:
        accepted = (f"up to {planned_trial_count(spec)} trials to run after the data is prepared, until the "
                    f"{spec.budget.deadline_minutes:g}-minute deadline")
    if spec.data.k_folds:
        accepted += f"; with {spec.data.k_folds}-fold cross-validation each trial fits {spec.data.k_folds + 1} models"
    job = Job(job_id=job_id, owner=spec.owner, state=JobState.RUNNING, spec=spec_dict, created_at=now,
              trial_count=planned_trial_count(spec), conditions=(Condition("RUNNING", "Accepted", accepted, now),))
    try:
        added = deps.repo.add_job(job, trials)
    except Unstorable as exc:
        return _reject(deps, job_id, raw, f"the job cannot be stored as written: {exc}", owner=spec.owner)
    if added:
        log.info("job accepted job_id=%s owner=%s trials=%d", job_id, spec.owner, len(trials))
    dispatch(deps)
    return job_id


def _claimed_job_id(raw: bytes | str) -> str | None:
    try:
        value = raw_doc.load(raw).get("job_id")
    except Exception:  # noqa: BLE001 - anything unreadable simply has no id
        return None
    return value if isinstance(value, str) and re.fullmatch(JOB_ID_PATTERN.rstrip("$"), value) else None


def _claimed_owner(raw: bytes | str) -> str:
    try:
        doc = raw_doc.load(raw)
        value = doc.get("owner", doc.get("emailAddress"))
    except Exception:  # noqa: BLE001 - anything unreadable has no owner
        return "unknown"
    return value if isinstance(value, str) and re.fullmatch(OWNER_PATTERN.rstrip("$"), value) else "unknown"


def _stored_raw(raw: bytes | str) -> str:
    """A rejected job's raw text as stored: valid UTF-8, size-capped."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return safe_text(text, raw_doc.STORED_RAW_CHARS)


def _reject(deps: Deps, job_id: str, raw: bytes | str, reason: str, owner: str | None = None) -> str:
    """Record a REJECTED job with its reason and its raw text, both made safe to store."""
    owner = owner or _claimed_owner(raw)
    reason = safe_text(reason, raw_doc.STORED_REASON_CHARS)
    now = deps.now()
    job = Job(job_id=job_id, owner=owner, state=JobState.REJECTED,
              spec={"raw": _stored_raw(raw)}, created_at=now, error=reason,
              finished_at=now, conditions=(Condition("REJECTED", "InvalidJob", reason, now),))
    try:
        added = deps.repo.add_job(job, [])
    except Unstorable as exc:  # keep the reason, drop the raw text
        log.error("rejection stored without its raw spec job_id=%s error=%s", job_id, exc)
        added = deps.repo.add_job(dataclasses.replace(job, spec={"raw": "(not stored: the store refused it)"}), [])
    if added:
        log.warning("job rejected job_id=%s reason=%r", job_id, raw_doc.shorten(reason, 300))
    return job_id


def cancel_job(msg: Message, deps: Deps) -> str | None:
    """Cancel a job: it ends CANCELLED, its batches are cancelled, waiting trials never launch.

    The topic carries no verified identity, so a cancel must name its requester (`requested_by`, an
    attribute or a data field) and that must be the job's owner as recorded; any other cancel is
    refused: logged, acknowledged, the job unchanged. A cancel of a job that ended otherwise changes
    nothing; a repeated one completes what the first started."""
    try:
        data = json.loads(msg.data)
        job_id = data["job_id"]
    except (ValueError, KeyError, TypeError):
        job_id = None
    if not isinstance(job_id, str) or not job_id:
        raise MessageError('a cancel message needs data {"job_id": "...", "requested_by": "..."}')
    given = [v for v in (msg.attributes.get("requested_by"), data.get("requested_by")) if v is not None]
    job = deps.repo.get_job(job_id)
    if job is None:
        raise MessageError(f"cannot cancel job {job_id}: no such job")
    if not given or any(v != job.owner for v in given):
        why = "it names no requester (requested_by)" if not given else "the requester is not the job's owner"
        log.warning("cancel refused job_id=%s message_id=%s requested_by=%s: %s", job_id, msg.message_id,
                    json.dumps(given)[:300], why)
        return None
    if job.state.is_finished() and job.state is not JobState.CANCELLED:
        log.info("cancel ignored job_id=%s message_id=%s: the job already ended %s", job_id, msg.message_id,
                 job.state.value)
        return job_id
    stop_job(deps, job_id, JobState.CANCELLED, "Cancelled", f"cancelled by its owner {job.owner}")
    dispatch(deps)  # its capacity goes to other jobs
    log.info("job cancelled job_id=%s message_id=%s", job_id, msg.message_id)
    return job_id


# ---------------------------------------------------------------- on_trial_result
def on_trial_result(msg: Message, deps: Deps) -> None:
    """A result object was written: record it, launch the next trial, maybe finish the job.
    Only OBJECT_FINALIZE of results/{job}/{trial}/attempt-N.json in Zygarde's own bucket counts; a
    notification without objectId or bucketId can never succeed (MessageError: logged, acknowledged)."""
    attrs = msg.attributes
    if attrs.get("eventType", "OBJECT_FINALIZE") != "OBJECT_FINALIZE":
        return
    bucket, name = attrs.get("bucketId"), attrs.get("objectId")
    if not bucket or not name:
        raise MessageError(f"a result notification needs bucketId and objectId: message_id={msg.message_id} "
                           f"bucketId={bucket!r} objectId={name!r}")
    if bucket != deps.settings.bucket:
        log.warning("result notification from another bucket ignored message_id=%s bucketId=%s objectId=%s",
                    msg.message_id, bucket, name)
        return
    ids = parse_result_object_name(name)
    if ids is None:
        return  # not a result object (a folder marker, say)
    job_id, trial_id, attempt = ids
    record_result(deps, job_id, trial_id, attempt, f"gs://{bucket}/{name}")


def on_cluster_idle(deps: Deps) -> dict[str, int]:
    """The reconciler tick (see reconcile.py)."""
    return reconcile(deps)

