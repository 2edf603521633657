"""One handler per event: job submitted, trial result written, reconciler tick."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from typing import Callable

from zygarde.config import prefix, topic
from zygarde.domain import raw_doc
from zygarde.domain.contracts import parse_result_object_name
from zygarde.domain.errors import DatasetError, MessageError, NotFound, PermanentError, SpecError, Unstorable
from zygarde.domain.identity import is_owner_key
from zygarde.domain.model import PREPARE, Condition, Job, JobState, Trial
from zygarde.domain.raw_doc import safe_text
from zygarde.domain.search import initial_trials, planned_trial_count
from zygarde.domain.spec import JOB_ID_PATTERN
from zygarde.service_layer import grants, submission
from zygarde.service_layer.authentication import UNVERIFIED_OWNER, Refused, message_sender
from zygarde.service_layer.cancels import cancel_job
from zygarde.service_layer.deps import Deps, log
from zygarde.service_layer.lifecycle import maybe_finish_job
from zygarde.service_layer.messages import Message
from zygarde.service_layer.reconcile import reconcile
from zygarde.service_layer.results import record_result
from zygarde.service_layer.scheduling import dispatch


__all__ = ["Message", "cancel_job", "derived_job_id", "on_cluster_idle", "on_trial_result", "submit_job"]


def derived_job_id(source: str) -> str:
    return "j" + hashlib.sha256(source.encode()).hexdigest()[:12]


# ---------------------------------------------------------------- submit_job
def submit_job(msg: Message, deps: Deps) -> str | None:
    """Validate a job, record it with its trials, launch the first ones. Returns the job id.
    The owner is proven, never taken from the job: on the jobs topic by the message's identity token
    (authentication.py), in a job file jobs/{owner}/NAME.json by its folder (which bucket IAM lets only
    that owner write). A message with attribute action=cancel cancels a job instead (cancels.py); one with
    action=grant changes who may use a model (grants.py).
    Whatever the bytes, a bad job is recorded REJECTED with a reason; only transient errors raise."""
    action = msg.attributes.get("action")
    if action == "cancel":
        return cancel_job(msg, deps)
    if action == grants.ACTION:
        return grants.grant_message(msg, deps)
    if _is_job_file(msg):
        return _submit_job_file(msg, deps)
    refused_id = derived_job_id(f"msg:{msg.message_id}")
    try:
        sender = message_sender(msg.attributes, msg.publish_time, deps.verifier, deps.settings.trusted_delegates,
                                deps.clock())
    except Refused as exc:  # never attributed to anyone: recorded under an id of the message's own
        return _reject(deps, refused_id, msg.data, f"the job was refused: {exc}", UNVERIFIED_OWNER)
    if action not in (None, "submit"):
        return _reject(deps, refused_id, msg.data, f"action {safe_text(action, 40)!r} is unknown: a message on the "
                       "jobs topic is a job, a cancel (action=cancel) or a grant (action=grant)", sender.key)
    return _submit(msg.data, deps, sender.key, refused_id, lambda named: (
        f"owner: the job names {named!r}, but it was sent by {sender.describe()}, whose owner key is "
        f"{sender.key!r}: a job is submitted by its owner"))


def _is_job_file(msg: Message) -> bool:
    """A bucket notification of an object (never a message delivered from the jobs topic, whatever
    attributes its publisher wrote)."""
    return msg.is_object_notification and not msg.source.endswith("/topics/" + topic("jobs"))


def _submit_job_file(msg: Message, deps: Deps) -> str | None:
    """A job file dropped under jobs/{owner}/: its owner is its folder."""
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
    owner, sep, _ = name.removeprefix(prefix("job_files")).partition("/")
    if not sep or not is_owner_key(owner):
        return _reject(deps, fallback_id, "", f"the job file {safe_text(uri, 300)} is not under "
                       f"{prefix('job_files')}{{owner}}/, its owner's folder (the owner key of their e-mail): "
                       "write it there", UNVERIFIED_OWNER)
    try:
        raw = deps.blobs.read_bytes(uri)
    except NotFound:
        log.warning("job file vanished uri=%s", safe_text(uri, 300))
        return None
    except PermanentError as exc:
        return _reject(deps, fallback_id, "", f"the job file {uri} cannot be read: {exc}", owner)
    return _submit(raw, deps, owner, fallback_id, lambda named: (
        f"owner: the job names {named!r}, but its file is in {prefix('job_files')}{owner}/: a job file's owner "
        "is the folder it is written to"))


def _submit(raw: bytes, deps: Deps, owner: str, fallback_id: str, mismatch: Callable[[str], str]) -> str | None:
    """Submit the job in `raw` for the proven `owner`; `mismatch(named)` is the reason when it names another."""
    try:
        spec = submission.parse(raw)
    except SpecError as exc:
        return _reject(deps, _claimed_job_id(raw) or fallback_id, raw, str(exc), owner)
    if spec.owner != owner:  # recorded under the message's own id: it takes no job id
        return _reject(deps, fallback_id, raw, mismatch(spec.owner), owner)
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


def _stored_raw(raw: bytes | str) -> str:
    """A rejected job's raw text as stored: valid UTF-8, size-capped."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return safe_text(text, raw_doc.STORED_RAW_CHARS)


def _reject(deps: Deps, job_id: str, raw: bytes | str, reason: str, owner: str) -> str:
    """Record a REJECTED job of the proven `owner` (UNVERIFIED_OWNER when none is) with its reason and its
    raw text, both made safe to store."""
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

