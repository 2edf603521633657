"""ResultWritten: a batch's result object, checked to be the running attempt's own and read by its stage,
then decided by the job's rules (recorded, retried, paused at a rung; the job may move on or end).
A result for a finished trial or an older attempt is a replay: it changes nothing, and only makes sure
what its first delivery started is finished."""
from __future__ import annotations

from zygarde.domain.decisions import Reported
from zygarde.domain.errors import BatchNotFound, NotFound
from zygarde.domain.messages import (AttemptEnded, Message, PlaceWork, ReplanJob, ResultWritten, Retry, ReviewJob,
                                     SettleBatch)
from zygarde.domain.model import TRAIN
from zygarde.domain.reasons import Reason
from zygarde.service_layer.deps import Deps, log
from zygarde.service_layer.job_decisions import decide_and_apply
from zygarde.service_layer.job_specs import job_spec
from zygarde.service_layer.stages import NotThisAttempt, stage_of


def record_result(event: ResultWritten, deps: Deps) -> list[Message]:
    job_id, trial_id, attempt, uri = event.job_id, event.trial_id, event.attempt, event.uri
    trial = deps.repo.get_trial(job_id, trial_id)
    if trial is None:
        log.warning("result for an unknown trial job_id=%s trial_id=%s", job_id, trial_id)
        return []
    if trial.attempt != attempt or not trial.state.is_active():
        log.info("result replayed or stale job_id=%s trial_id=%s attempt=%d state=%s", job_id, trial_id, attempt,
                 trial.state.value)
        settle = [SettleBatch(job_id, trial.batch_id)] if trial.batch_id and not trial.state.is_active() else []
        return [*settle, ReviewJob(job_id), PlaceWork()]
    try:
        raw = deps.blobs.read_bytes(uri)
    except NotFound:
        log.warning("result object vanished job_id=%s trial_id=%s attempt=%d uri=%s", job_id, trial_id, attempt, uri)
        return []
    job = deps.repo.get_job(job_id)
    if job is None:  # an orphan trial: the reconciler sweeps it
        log.warning("result for a trial without its job job_id=%s trial_id=%s uri=%s", job_id, trial_id, uri)
        return []
    outcome = stage_of(trial).outcome(trial, raw, uri, job_spec(job), deps.settings)
    if isinstance(outcome, NotThisAttempt):  # forged, or a batch that wrote another's result: never trusted
        if _batch_running(deps, trial.batch_id):  # its own result may still come: wait for it
            log.warning("result ignored, not this attempt's job_id=%s trial_id=%s uri=%s problem=%s", job_id,
                        trial_id, uri, outcome.problem)
            return []
        log.warning("result rejected, not this attempt's job_id=%s trial_id=%s uri=%s problem=%s", job_id, trial_id,
                    uri, outcome.problem)
        return [AttemptEnded(job_id, trial_id, attempt, Reason.RESULT_UNREADABLE,
                             f"the result {uri} is not this attempt's: {outcome.problem}", Retry.IF_ATTEMPTS_LEFT)]
    follow = decide_and_apply(deps, job_id, Reported(trial_id, attempt, outcome), [trial])
    if trial.kind == TRAIN and (job.plan or {}).get("sized"):
        follow.append(ReplanJob(job_id))  # before the work it places: the batches it creates follow the new plan
    return follow


def attempt_ended(event: AttemptEnded, deps: Deps) -> list[Message]:
    """An attempt ended without a usable result: the job's rules retry it or fail it."""
    trial = deps.repo.get_trial(event.job_id, event.trial_id)
    return decide_and_apply(deps, event.job_id, event, [trial]) if trial is not None else []


def review_job(cmd: ReviewJob, deps: Deps) -> list[Message]:
    """The job's rules now: deadlines and budgets, rung decisions, its end."""
    from zygarde.domain.model import StageKind

    prepare = deps.repo.get_trial(cmd.job_id, str(StageKind.PREPARE))
    return decide_and_apply(deps, cmd.job_id, cmd, [prepare] if prepare is not None else [])


def _batch_running(deps: Deps, batch_id: str | None) -> bool:
    try:
        return batch_id is not None and not deps.launcher.get(batch_id).is_terminal
    except BatchNotFound:
        return False
