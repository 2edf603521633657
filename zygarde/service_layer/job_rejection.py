"""Recording a job that cannot run: REJECTED with one sentence naming what is wrong, and its raw text,
both made safe to store, under the owner that was proven; the job id it claims is kept when it is valid."""
from __future__ import annotations

import dataclasses
import hashlib
import re

from zygarde.domain import raw_doc
from zygarde.domain.errors import Unstorable
from zygarde.domain.model import Condition, Job, JobState
from zygarde.domain.raw_doc import safe_text
from zygarde.domain.reasons import Reason
from zygarde.domain.spec import JOB_ID_PATTERN
from zygarde.service_layer.deps import Deps, log


def derived_job_id(source: str) -> str:
    return "j" + hashlib.sha256(source.encode()).hexdigest()[:12]


def claimed_job_id(raw: bytes | str) -> str | None:
    try:
        value = raw_doc.load(raw).get("job_id")
    except Exception:  # noqa: BLE001 - anything unreadable simply has no id
        return None
    return value if isinstance(value, str) and re.fullmatch(JOB_ID_PATTERN.rstrip("$"), value) else None


def stored_raw(raw: bytes | str) -> str:
    """A rejected job's raw text as stored: valid UTF-8, size-capped."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return safe_text(text, raw_doc.STORED_RAW_CHARS)


def reject(deps: Deps, job_id: str, raw: bytes | str, reason: str, owner: str) -> str:
    """Record a REJECTED job of the proven `owner` (authentication.UNVERIFIED_OWNER when none is) with its
    reason and its raw text. Returns the job id."""
    reason = safe_text(reason, raw_doc.STORED_REASON_CHARS)
    now = deps.now()
    job = Job(job_id=job_id, owner=owner, state=JobState.REJECTED, spec={"raw": stored_raw(raw)}, created_at=now,
              error=reason, finished_at=now, conditions=(Condition("REJECTED", Reason.INVALID_JOB, reason, now),))
    try:
        added = deps.repo.add_job(job, [])
    except Unstorable as exc:  # keep the reason, drop the raw text
        log.error("rejection stored without its raw spec job_id=%s error=%s", job_id, exc)
        added = deps.repo.add_job(dataclasses.replace(job, spec={"raw": "(not stored: the store refused it)"}), [])
    if added:
        log.warning("job rejected job_id=%s reason=%r", job_id, raw_doc.shorten(reason, 300))
    return job_id
