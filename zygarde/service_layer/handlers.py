"""One handler per event: job submitted, trial result written, reconciler tick."""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field

from zygarde.config import prefix
from zygarde.domain.contracts import FinalizeResult, PrepareResult, TrialResult, parse_result_object_name
from zygarde.domain.errors import AccessDenied, DatasetError, MessageError, NotFound, SpecError
from zygarde.domain.model import FINALIZE, PREPARE, Condition, Job, JobState, Trial
from zygarde.domain.search import initial_trials, planned_trial_count
from zygarde.domain.spec import JOB_ID_PATTERN, parse_job_spec
from zygarde.service_layer import datasets
from zygarde.service_layer.deps import Deps, log
from zygarde.service_layer.launching import release_slots
from zygarde.service_layer.scheduling import dispatch, job_spec, maybe_finish_job, stop_job, trial_ended

RETRYABLE_ERROR_KINDS = frozenset({"runtime"})


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
    A message with attribute action=cancel and data {"job_id": ...} cancels a job instead."""
    if msg.attributes.get("action") == "cancel":
        return cancel_job(msg, deps)
    if msg.is_object_notification:  # a job file dropped under jobs/
        name = msg.attributes["objectId"]
        if msg.attributes.get("eventType", "OBJECT_FINALIZE") != "OBJECT_FINALIZE" or \
                not name.startswith(prefix("job_files")) or not name.endswith(".json"):
            return None
        uri = f"gs://{msg.attributes['bucketId']}/{name}"
        fallback_id = derived_job_id(f"{uri}#{msg.attributes.get('objectGeneration', '')}")
        try:
            raw = deps.blobs.read_bytes(uri)
        except NotFound:
            log.warning("job file vanished uri=%s", uri)
            return None
        except AccessDenied as exc:
            return _reject(deps, fallback_id, "", f"the job file {uri} cannot be read: {exc}")
    else:
        raw, fallback_id = msg.data, derived_job_id(f"msg:{msg.message_id}")

    try:
        spec = parse_job_spec(raw)
    except SpecError as exc:
        return _reject(deps, _claimed_job_id(raw) or fallback_id, raw, str(exc))
    job_id = spec.job_id or fallback_id
    spec_dict = spec.model_dump(mode="json")

    existing = deps.repo.get_job(job_id)
    if existing is not None:
        if existing.spec != spec_dict:  # recorded under an id of its own, so the user sees why
            digest = hashlib.sha256(json.dumps(spec_dict, sort_keys=True).encode()).hexdigest()[:8]
            return _reject(deps, f"{job_id[:27]}-dup-{digest}", raw,
                           f"job id {job_id} is already used by another job (submitted {existing.created_at}): "
                           "choose another job_id, or leave it out to get a fresh one", owner=spec.owner)
        dispatch(deps)  # a redelivery: finish what the first delivery started
        maybe_finish_job(job_id, deps)
        return job_id

    try:
        datasets.check(spec, deps.blobs, deps.settings.bucket)
    except DatasetError as exc:
        return _reject(deps, job_id, raw, str(exc), owner=spec.owner)

    now = deps.now()
    trials = [Trial(job_id=job_id, trial_id=PREPARE, index=-2, algorithm=PREPARE, params={}, kind=PREPARE,
                    created_at=now)] + initial_trials(spec, job_id, now)
    accepted = f"{planned_trial_count(spec)} trials to run after the data is prepared"
    if spec.data.k_folds:
        accepted += f"; with {spec.data.k_folds}-fold cross-validation each trial fits {spec.data.k_folds + 1} models"
    job = Job(job_id=job_id, owner=spec.owner, state=JobState.RUNNING, spec=spec_dict, created_at=now,
              trial_count=planned_trial_count(spec), conditions=(Condition("RUNNING", "Accepted", accepted, now),))
    if deps.repo.add_job(job, trials):
        log.info("job accepted job_id=%s owner=%s trials=%d", job_id, spec.owner, len(trials))
    dispatch(deps)
    return job_id


def _claimed_job_id(raw: bytes | str) -> str | None:
    try:
        value = json.loads(raw).get("job_id")
    except Exception:  # noqa: BLE001 - anything unreadable simply has no id
        return None
    return value if isinstance(value, str) and re.match(JOB_ID_PATTERN, value) else None


def _reject(deps: Deps, job_id: str, raw: bytes | str, reason: str, owner: str | None = None) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    if owner is None:
        try:
            owner = str(json.loads(text).get("owner") or "unknown")[:128]
        except Exception:  # noqa: BLE001
            owner = "unknown"
    now = deps.now()
    job = Job(job_id=job_id, owner=owner, state=JobState.REJECTED, spec={"raw": text[:20_000]}, created_at=now,
              error=reason, finished_at=now, conditions=(Condition("REJECTED", "InvalidJob", reason, now),))
    if deps.repo.add_job(job, []):
        log.warning("job rejected job_id=%s reason=%r", job_id, reason)
    return job_id


def cancel_job(msg: Message, deps: Deps) -> str:
    """Cancel a job: it ends CANCELLED, its batches are cancelled, waiting trials never launch."""
    try:
        job_id = json.loads(msg.data)["job_id"]
    except (ValueError, KeyError, TypeError):
        raise MessageError('a cancel message needs data {"job_id": "..."}') from None
    if deps.repo.get_job(job_id) is None:
        raise MessageError(f"cannot cancel job {job_id}: no such job")
    who = msg.attributes.get("requested_by", "a user")
    stop_job(deps, job_id, JobState.CANCELLED, "Cancelled", f"cancelled by {who}")
    dispatch(deps)  # its capacity goes to other jobs
    log.info("job cancelled job_id=%s", job_id)
    return job_id


# ---------------------------------------------------------------- on_trial_result
def on_trial_result(msg: Message, deps: Deps) -> None:
    """A result object was written: record it, launch the next trial, maybe finish the job."""
    name = msg.attributes.get("objectId", "")
    if msg.attributes.get("eventType", "OBJECT_FINALIZE") != "OBJECT_FINALIZE":
        return
    ids = parse_result_object_name(name)
    if ids is None:
        return  # not a result object (a folder marker, say)
    job_id, trial_id, attempt = ids
    record_result(deps, job_id, trial_id, attempt, f"gs://{msg.attributes['bucketId']}/{name}")


def record_result(deps: Deps, job_id: str, trial_id: str, attempt: int, uri: str) -> None:
    trial = deps.repo.get_trial(job_id, trial_id)
    if trial is None:
        log.warning("result for an unknown trial job_id=%s trial_id=%s", job_id, trial_id)
        return
    if trial.attempt == attempt and trial.state.is_active():
        _apply_result(deps, trial, deps.blobs.read_bytes(uri), uri)
    else:
        log.info("result replayed or stale job_id=%s trial_id=%s attempt=%d state=%s",
                 job_id, trial_id, attempt, trial.state.value)
        if not trial.state.is_active():
            release_slots(deps, trial)
    maybe_finish_job(job_id, deps)
    dispatch(deps)


def _apply_result(deps: Deps, trial: Trial, raw: bytes, uri: str) -> None:
    parse = {PREPARE: PrepareResult, FINALIZE: FinalizeResult}.get(trial.kind, TrialResult)
    try:
        result = parse.from_json(raw)
        if not isinstance(getattr(result, "metrics", {}), dict):
            raise TypeError("metrics is not an object")
    except (ValueError, TypeError, AttributeError) as exc:  # the batch wrote something else: retry it
        trial_ended(deps, trial, False, "ResultUnreadable", f"the result {uri} cannot be read: {exc}", True)
        return
    if result.status != "SUCCEEDED":
        reason = "DataError" if result.error_kind == "data" else "BatchFailed"
        trial_ended(deps, trial, False, reason, result.error or "failed", result.error_kind in RETRYABLE_ERROR_KINDS)
    elif isinstance(result, PrepareResult):
        rows = ", ".join(f"{k} {v}" for k, v in sorted(result.rows.items()))
        trial_ended(deps, trial, True, "DataPrepared", f"data prepared: {rows}", False,
                    outputs={"report": result.report, "parts": result.parts, "rows": result.rows,
                             "fingerprint": result.fingerprint})
    elif isinstance(result, FinalizeResult):
        trial_ended(deps, trial, True, "ModelPackaged", f"packaged at {result.package_uri}", False,
                    outputs={"test_metrics": result.test_metrics, "package_uri": result.package_uri,
                             "manifest_uri": result.manifest_uri, "online": result.online})
    else:
        job = deps.repo.get_job(trial.job_id)
        objective = job_spec(job).objective
        metrics = {k: float(v) for k, v in result.metrics.items() if isinstance(v, (int, float))}
        if objective in metrics:
            trial_ended(deps, trial, True, "TrainingSucceeded", f"{objective}={metrics[objective]:.6g}", False,
                        metrics=metrics, objective=metrics[objective], model_uri=result.model_uri)
        else:
            trial_ended(deps, trial, False, "MetricMissing", f"the result has no {objective}", False)


def on_cluster_idle(deps: Deps) -> dict[str, int]:
    """The reconciler tick (see reconcile.py)."""
    from zygarde.service_layer.reconcile import reconcile

    return reconcile(deps)

