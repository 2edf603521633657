"""The end of a job: its winner's finalisation queued (Finalize), the packaged model registered as the
next version of its name (RegisterModel), the job ended with the best trial so far (EndJob), and what a
job leaves behind cancelled once it has ended (JobEnded, published on the reconcile topic)."""
from __future__ import annotations

import json

from zygarde.domain.decisions import CancelRequested
from zygarde.domain.errors import ModelNameTaken
from zygarde.domain.messages import EndJob, Finalize, JobEnded, Message, RegisterModel, SettleBatch
from zygarde.domain.model import Job, JobState, StageKind
from zygarde.domain.reasons import Reason
from zygarde.service_layer import perf_history
from zygarde.service_layer.deps import Deps, log
from zygarde.service_layer.job_decisions import decide_and_apply
from zygarde.service_layer.job_specs import job_spec
from zygarde.service_layer.stages.finalize import finalize_trial
from zygarde.service_layer.unit_of_work import work_is_ready


def queue_finalization(cmd: Finalize, deps: Deps) -> list[Message]:
    job = deps.repo.get_job(cmd.job_id)
    best = deps.repo.get_trial(cmd.job_id, cmd.trial_id)
    if job is None or best is None or job.state is not JobState.RUNNING:
        return []
    prepare = deps.repo.get_trial(cmd.job_id, str(StageKind.PREPARE))
    trial = finalize_trial(job.job_id, job.owner, job.spec, job_spec(job), best, prepare, deps.settings.code_version,
                           deps.now(), refit=cmd.refit, trials=deps.repo.list_trials(job.job_id))
    if not deps.repo.add_trial(trial):
        return []  # queued already
    log.info("finalisation queued job_id=%s winner=%s refit=%s", job.job_id, best.trial_id, cmd.refit)
    return work_is_ready(deps, job)


def register_model(cmd: RegisterModel, deps: Deps) -> list[Message]:
    try:  # checked again here, atomically: the name may have been taken since the job was accepted
        version = deps.repo.register_model_version(cmd.model_name, cmd.job_id,
                                                   {**cmd.record, "registered_at": deps.now()}, cmd.owner)
    except ModelNameTaken:
        log.warning("registration refused job_id=%s model=%s: the name belongs to another user", cmd.job_id,
                    cmd.model_name)
        message = (f"name: the model {cmd.model_name!r} belongs to another user (taken after this job was accepted, "
                   "or its owner withdrew your write access), so nothing was registered: run the job again with "
                   "another name")
        best = {k: v for k, v in cmd.changes.items() if k in ("best_trial_id", "best_objective")}
        return [EndJob(cmd.job_id, JobState.FAILED, Reason.MODEL_NAME_TAKEN, message, {**best, "error": message})]
    return [EndJob(cmd.job_id, cmd.state, cmd.reason, f"{cmd.message_prefix}{version}",
                   {**cmd.changes, "model_version": version})]


def end_job(cmd: EndJob, deps: Deps) -> list[Message]:
    now = deps.now()
    ended = deps.repo.update_job(cmd.job_id, lambda j: j.transition(cmd.state, cmd.reason, cmd.message, now,
                                                                   **cmd.changes)
                                 if j.state is JobState.RUNNING else None)
    if ended is None:
        return []  # another handler ended it
    log.info("job finished job_id=%s state=%s %s", cmd.job_id, cmd.state.value, cmd.message)
    deps.repo.clear_ready(cmd.job_id)
    # the reconciler makes sure no batch of this job outlives it
    deps.publisher.publish("reconcile", json.dumps({"event": "job-ended", "job_id": cmd.job_id}).encode(),
                           event="job-ended", job_id=cmd.job_id)
    # for other systems (a deployment pipeline): one message per ended job, as its transition is made once
    deps.publisher.publish("job_events", json.dumps(job_event(ended)).encode(), event="job-ended",
                           job_id=ended.job_id, owner=ended.owner, state=ended.state.value)
    # its batches that wait for more work are told to exit now, and their slots freed
    return [SettleBatch(cmd.job_id, hold.batch_id) for hold in deps.repo.slot_holders(cmd.job_id).values()]


def job_event(job: Job) -> dict:
    """The zygarde-job-events message of an ended job (no data, no spec: ids, state and figures)."""
    last = job.conditions[-1] if job.conditions else None
    return {"event": "job-ended", "job_id": job.job_id, "owner": job.owner, "state": job.state.value,
            "reason": last.reason if last else None, "message": last.message if last else None,
            "metric": job_spec(job).objective, "best_trial_id": job.best_trial_id,
            "best_objective": job.best_objective, "test_metrics": dict(job.test_metrics),
            "model_name": job.model_name if job.model_version is not None else None,
            "model_version": job.model_version, "created_at": job.created_at, "finished_at": job.finished_at,
            "duration_seconds": job.duration_seconds}


def job_ended(event: JobEnded, deps: Deps) -> list[Message]:
    """Cancel what is left running of a job that has ended: its active trials and their batches; keep its
    fits in the installation's performance history."""
    job = deps.repo.get_job(event.job_id)
    if job is None or not job.state.is_finished():
        return []
    follow = decide_and_apply(deps, event.job_id, CancelRequested(f"job {event.job_id} had already finished",
                                                                  Reason.JOB_FINISHED, active_only=True))
    perf_history.record(deps, job)  # its fits, for the plans of the jobs to come
    return follow
