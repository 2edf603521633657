"""Cancelling a job: only its owner may, as the message's identity token proves (or a trusted delegate
acting for the owner). Every cancel is acknowledged: one that cannot be read is a MessageError (logged,
acknowledged) before anything is read from the store; a refused one is logged and, on the job it names,
recorded as a CancelRefused condition (once per message, at most MAX_RECORDED_REFUSALS per job)."""
from __future__ import annotations

import dataclasses
import json
import re

from zygarde.domain.decisions import CancelRequested
from zygarde.domain.errors import MessageError
from zygarde.domain.messages import CancelAnswered, CancelJob, Message, PlaceWork
from zygarde.domain.model import Condition, JobState
from zygarde.domain.raw_doc import safe_text
from zygarde.domain.reasons import Reason
from zygarde.domain.spec import JOB_ID_PATTERN
from zygarde.service_layer.authentication import Refused, Requester, message_sender
from zygarde.service_layer.deps import Deps, log
from zygarde.service_layer.job_decisions import decide_and_apply

MAX_RECORDED_REFUSALS = 20
REFUSED = Reason.CANCEL_REFUSED
USAGE = 'a cancel message needs data {"job_id": "..."} and the identity token of the job\'s owner'


def cancel_target(data: bytes) -> str:
    """The job id a cancel names, checked against the job id pattern. Raises MessageError."""
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise MessageError(f"{USAGE}: the data is not JSON") from None
    job_id = doc.get("job_id") if isinstance(doc, dict) else None
    if not isinstance(job_id, str) or not job_id:
        raise MessageError(f"{USAGE}: job_id is missing or not a string")
    if not re.fullmatch(JOB_ID_PATTERN.strip("^$"), job_id):
        raise MessageError(f"{USAGE}: job_id {safe_text(job_id, 80)!r} is not a job id (lowercase letters, digits "
                           "and '-', 3-40 characters, starting with a letter)")
    return job_id


def cancel_job(msg: CancelJob, deps: Deps) -> list[Message]:
    """Cancel a job: it ends CANCELLED, its batches are cancelled, waiting trials never launch. A cancel of
    a job that ended otherwise changes nothing; a repeated one completes what the first started."""
    job_id = cancel_target(msg.data)
    sender, why = None, None
    try:
        sender = message_sender(msg.attributes, msg.publish_time, deps.verifier, deps.settings.trusted_delegates,
                                deps.clock())
    except Refused as exc:
        why = str(exc)
    job = deps.repo.get_job(job_id)
    if job is None:
        raise MessageError(f"cannot cancel job {job_id}: no such job")
    if sender is not None:
        doc = json.loads(msg.data)
        claimed = [v for v in (msg.attributes.get("requested_by"), doc.get("requested_by")) if v is not None]
        if any(v != sender.key for v in claimed):
            why = (f"requested_by {safe_text(json.dumps(claimed), 200)} is not who signed the message "
                   f"({sender.describe()})")
        elif sender.key != job.owner:
            why = f"{sender.describe()} is not the job's owner"
    if why is not None:
        _refuse(deps, job_id, msg.message_id, sender, why)
        return [CancelAnswered(None)]
    if job.state.is_finished() and job.state is not JobState.CANCELLED:
        log.info("cancel ignored job_id=%s message_id=%s: the job already ended %s", job_id, msg.message_id,
                 job.state.value)
        return [CancelAnswered(job_id)]
    through = f" through {sender.identity.email}" if sender.delegated else ""
    follow = decide_and_apply(deps, job_id, CancelRequested(f"cancelled by its owner {job.owner}{through}"))
    log.info("job cancelled job_id=%s message_id=%s", job_id, msg.message_id)
    return [CancelAnswered(job_id), *follow, PlaceWork()]  # its capacity goes to other jobs


def _refuse(deps: Deps, job_id: str, message_id: str, sender: Requester | None, why: str) -> None:
    """Log the refusal and record it on the job, once per message."""
    log.warning("cancel refused job_id=%s message_id=%s sender=%s: %s", job_id, message_id,
                sender.describe() if sender else "unverified", why)
    tag = f"(message {safe_text(message_id, 100)})"
    now = deps.now()

    def record(job):
        refusals = [c for c in job.conditions if c.reason == REFUSED]
        if any(c.message.endswith(tag) for c in refusals) or len(refusals) >= MAX_RECORDED_REFUSALS:
            return None
        message = f"a cancel was refused: {safe_text(why, 800)} {tag}"  # the tag kept whole: it makes this idempotent
        return dataclasses.replace(job, conditions=job.conditions + (Condition(job.state.value, REFUSED, message, now),))

    deps.repo.update_job(job_id, record)
