"""StartWork: the LAUNCHING trials of one batch get their batch: a new Dataproc batch, or, when the batch
already runs and waits for more (a warm handoff), a handoff object written create-only (so one piece of
work goes to one place). They are then recorded RUNNING. Idempotent: a batch that already exists counts as
created. A refused batch fails them; work handed to a batch that has ended sends them back to waiting.
Transient errors propagate (the trials stay LAUNCHING; a redelivery or the reconciler resumes them)."""
from __future__ import annotations

import json

from zygarde.domain.contracts import handoff_object
from zygarde.domain.errors import BatchAlreadyExists, BatchNotFound, PermanentError, PreconditionFailed
from zygarde.domain.messages import AttemptEnded, Message, ResumeLaunches, Retry, StartWork, WorkStarted
from zygarde.domain.model import Trial, TrialState
from zygarde.domain.reasons import Reason
from zygarde.domain.spec import JobSpec
from zygarde.service_layer.deps import Deps, log
from zygarde.service_layer.job_specs import job_spec
from zygarde.service_layer.locations import handoff_prefix
from zygarde.service_layer.stages import Stage, stage_of


def start_work(cmd: StartWork, deps: Deps) -> list[Message]:
    trials = deps.repo.batch_trials(cmd.job_id, cmd.batch_id, [TrialState.LAUNCHING])
    job = deps.repo.get_job(cmd.job_id) if trials else None
    if job is None:
        return []
    stage, spec, n = stage_of(trials[0]), job_spec(job), trials[0].handoff
    ctx = f"job_id={cmd.job_id} batch_id={cmd.batch_id} trials={len(trials)}"
    try:
        if n:  # handed to a batch that waits for more
            missed = _hand_off(deps, stage, trials, spec, job.owner, job.plan)
            if missed is not None:
                return [AttemptEnded(t.job_id, t.trial_id, t.attempt, Reason.HANDOFF_MISSED, missed, Retry.ALWAYS)
                        for t in trials]
            reason, message = Reason.HANDED_OFF, f"handed to warm batch {cmd.batch_id} (handoff {n})"
        else:
            deps.launcher.create(stage.batch_request(trials, spec, job.owner, deps.settings, job.plan))
            reason, message = Reason.BATCH_CREATED, f"batch {cmd.batch_id} created"
    except BatchAlreadyExists:
        reason, message = Reason.BATCH_EXISTED, f"batch {cmd.batch_id} already existed"
    except PermanentError as exc:
        log.error("launch refused %s error=%r", ctx, str(exc))
        return [AttemptEnded(t.job_id, t.trial_id, t.attempt, Reason.LAUNCH_REFUSED, str(exc), Retry.NEVER)
                for t in trials]
    log.info("launched %s reason=%s time_limit_seconds=%d", ctx, reason, stage.time_limit(trials))
    now, running = deps.now(), 0
    for t in trials:
        running += deps.repo.update_trial(t.job_id, t.trial_id, lambda cur, t=t: cur.transition(
            TrialState.RUNNING, reason, message, now)
            if cur.state is TrialState.LAUNCHING and cur.attempt == t.attempt and cur.batch_id == t.batch_id
            else None) is not None
    return [WorkStarted(cmd.job_id, cmd.batch_id, running)]


def resume_launches(cmd: ResumeLaunches, deps: Deps) -> list[Message]:
    """Finish the job's launches that a handler left half done: one StartWork per batch."""
    batches = {t.batch_id for t in deps.repo.list_trials(cmd.job_id, [TrialState.LAUNCHING]) if t.batch_id}
    return [StartWork(cmd.job_id, b) for b in sorted(batches)]


def _hand_off(deps: Deps, stage: Stage, trials: list[Trial], spec: JobSpec, owner: str,
              plan: dict | None = None) -> str | None:
    """Write the handoff object of these trials; None when it is written, else why their work was missed."""
    first = trials[0]
    uri = handoff_object(handoff_prefix(deps.settings, first.job_id, first.batch_id), first.handoff)
    payload = stage.handoff(trials, spec, owner, deps.settings, plan).to_json()
    try:
        deps.blobs.write_bytes(uri, payload.encode(), "application/json", if_generation_match=0)
    except PreconditionFailed:  # written by an earlier try of this launch, or other work took the number
        if json.loads(deps.blobs.read_bytes(uri)) != json.loads(payload):
            log.warning("handoff taken job_id=%s batch_id=%s handoff=%d", first.job_id, first.batch_id, first.handoff)
            return f"the warm batch {first.batch_id} took other work as handoff {first.handoff}; retrying"
    try:
        ended = deps.launcher.get(first.batch_id).is_terminal
    except BatchNotFound:
        ended = True
    if ended:
        log.warning("handoff missed job_id=%s batch_id=%s handoff=%d: the batch ended", first.job_id, first.batch_id,
                    first.handoff)
        return f"the warm batch {first.batch_id} ended before it took the work; retrying"
    log.info("handed off job_id=%s batch_id=%s handoff=%d trials=%s", first.job_id, first.batch_id, first.handoff,
             ",".join(t.trial_id for t in trials))
    return None
