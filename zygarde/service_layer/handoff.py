"""Warm handoffs: the next work of a job goes to a batch of that job that has just finished its own,
instead of a new batch. The batch waits a short while (Settings.handoff_seconds) for a handoff
object and runs it in the same Spark session, with no new start-up; so a small job's preparation,
packs and finalisation run in one batch, and a large job pays a batch's start-up once per chain of
packs rather than once per pack. Each stage and trial keeps its own record.

Slots are claimed as for any launch: a warm batch holds none while it waits. The handoff object is
written create-only, so one piece of work is handed to one place; work handed to a batch that then
ended without running it is retried like any batch that died (HandoffMissed).
"""
from __future__ import annotations

import json
from datetime import datetime

from zygarde.config import Settings, prefix
from zygarde.domain.contracts import Handoff, handoff_object
from zygarde.domain.errors import BatchNotFound, PreconditionFailed
from zygarde.domain.model import FINALIZE, PREPARE, Trial, TrialState
from zygarde.service_layer import batch_properties
from zygarde.service_layer.deps import Deps, log
from zygarde.service_layer.ports import BatchRequest
from zygarde.service_layer.stage_limits import TTL_LABEL


def handoff_prefix(settings: Settings, job_id: str, batch_id: str) -> str:
    return f"gs://{settings.bucket}/{prefix('artifacts')}{job_id}/handoff/{batch_id}/"


def takes_handoffs(trial: Trial) -> bool:
    """Whether a batch created for this attempt waits for more work: preparations and packs do;
    a finalisation (the job's last stage) and unpacked trials do not."""
    return trial.kind == PREPARE or bool(trial.pack_id)


def request_fields(settings: Settings, trial: Trial) -> dict:
    """The handoff_prefix and handoff_seconds of this attempt's request."""
    if trial.handoff is None or trial.kind == FINALIZE or not trial.batch_id:
        return {}
    return {"handoff_prefix": handoff_prefix(settings, trial.job_id, trial.batch_id),
            "handoff_seconds": float(settings.handoff_seconds)}


def warm_batch(deps: Deps, job_id: str, trials: list[Trial], properties: dict[str, str],
               needed_seconds: float = 0.0) -> tuple[str, int] | None:
    """(batch id, handoff number) of a batch of the job that is done with its work and still waits
    for more (its last trial ended within half its wait), created with these Spark properties, with
    at least `needed_seconds` (the work's time limit) left before its ttl; or None. A batch whose work
    was cancelled (a budget, a cancel) is being cancelled itself: never chosen."""
    wait = deps.settings.handoff_seconds
    if wait <= 0:
        return None
    by_batch: dict[str, list[Trial]] = {}
    for t in trials:
        if t.batch_id:
            by_batch.setdefault(t.batch_id, []).append(t)
    now = deps.clock()
    ready = []
    for batch_id, members in by_batch.items():
        if any(t.state.is_active() or t.handoff is None or t.state is TrialState.CANCELLED for t in members):
            continue
        if created_with(members) != properties:
            continue
        ended = max((datetime.fromisoformat(t.finished_at) for t in members if t.finished_at), default=None)
        if ended is None or (now - ended).total_seconds() > wait / 2:
            continue
        ready.append((ended, batch_id, 1 + max(t.handoff or 0 for t in members)))
    for _, batch_id, n in sorted(ready, reverse=True):
        try:
            info = deps.launcher.get(batch_id)
            if not info.is_terminal and info.state != "CANCELLING" and _time_left(info, now) >= needed_seconds:
                return batch_id, n
        except BatchNotFound:
            continue
    return None


TTL_MARGIN_SECONDS = 120  # what a handed-off stage leaves of a warm batch's ttl (its result, the exit)


def _time_left(info, now: datetime) -> float:
    """Seconds before a batch's ttl (its `zygarde-ttl` label, from creation) ends it, less a margin;
    unbounded for a batch without the label."""
    ttl = info.labels.get(TTL_LABEL)
    if not ttl or not ttl.isdigit():
        return float("inf")
    age = (now - info.create_time).total_seconds() if info.create_time is not None else 0.0
    return int(ttl) - age - TTL_MARGIN_SECONDS


def hand_off(deps: Deps, trials: list[Trial], request: BatchRequest) -> tuple[str, str] | None:
    """Write the handoff object of these LAUNCHING trials (one stage, or one pack). Returns the
    (reason, message) to record them RUNNING with, or None when their batch has ended (then their
    attempt ends as a retry: nothing ran it)."""
    first = trials[0]
    uri = handoff_object(handoff_prefix(deps.settings, first.job_id, first.batch_id), first.handoff)
    payload = Handoff(main=request.main_python_file_uri.rsplit("/", 1)[-1], request=_request_of(request))
    try:
        deps.blobs.write_bytes(uri, payload.to_json().encode(), "application/json", if_generation_match=0)
    except PreconditionFailed:  # written by an earlier try of this launch, or other work took the number
        if Handoff.from_json(deps.blobs.read_bytes(uri)) != payload:
            log.warning("handoff taken job_id=%s batch_id=%s handoff=%d", first.job_id, first.batch_id, first.handoff)
            return None
    try:
        ended = deps.launcher.get(first.batch_id).is_terminal
    except BatchNotFound:
        ended = True
    if ended:
        log.warning("handoff missed job_id=%s batch_id=%s handoff=%d: the batch ended", first.job_id,
                    first.batch_id, first.handoff)
        return None
    log.info("handed off job_id=%s batch_id=%s handoff=%d trials=%s", first.job_id, first.batch_id, first.handoff,
             ",".join(t.trial_id for t in trials))
    return "HandedOff", f"handed to warm batch {first.batch_id} (handoff {first.handoff})"


def _request_of(request: BatchRequest) -> dict:
    return json.loads(request.args[1])


def created_with(members: list[Trial]) -> dict[str, str]:
    """The Spark properties a batch was created with, from the trials it was created for."""
    properties: dict[str, str] = {}
    for t in members:
        if t.handoff == 0:
            properties.update(batch_properties.for_stage(t.kind, t.algorithm, t.params))
    return properties
