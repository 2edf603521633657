"""Reconcile (the scheduler's tick): make the store and Dataproc agree, so compute exists only while work
runs and nothing is lost when a batch dies or an event goes missing. Per tick: active trials (a result
whose notification was lost, a batch that died, a launch left half done, a job that has ended), slots
held by batches that have ended, trials without their job, the rules of running jobs that time alone may
end (deadlines, core-hour budgets), the ready queue for jobs with no batch, batches of ended jobs; then
placement of free capacity. Other jobs move on their own events (a result, a redelivery)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from zygarde.domain import budgets
from zygarde.domain.errors import BatchNotFound, PermanentError
from zygarde.domain.job_aggregate import batch_ended
from zygarde.domain.messages import (AttemptEnded, BatchCancelled, CancelBatch, JobEnded, Message, PlaceWork,
                                     Reconcile, Reconciled, ResultWritten, ResumeLaunches, ReviewJob,
                                     WorkStarted)
from zygarde.domain.model import Job, JobState, Trial, TrialState
from zygarde.domain.reasons import Reason
from zygarde.service_layer import job_plans
from zygarde.service_layer.deps import Deps, log
from zygarde.service_layer.job_specs import job_spec
from zygarde.service_layer.locations import trial_uris
from zygarde.service_layer.ports import BatchInfo
from zygarde.service_layer.scheduling_board import ReadyJob

ORPHAN_SLOT_GRACE_SECONDS = 120  # a claim younger than this may still be launching
ORPHAN_TRIAL_GRACE_SECONDS = 600  # a submission in flight writes its trials before its job
ORPHAN_BATCH_GRACE_SECONDS = 120  # a batch writes its result last, then exits: a job that just ended waits


def reconcile(cmd: Reconcile, deps: Deps) -> list[Message]:
    jobs: dict[str, Job | None] = {}
    listed = {b.batch_id: b for b in deps.launcher.list({"zygarde": "trial"})}
    active = deps.repo.active_trials()
    follow: list[Message] = []
    for trial in active:
        try:
            follow += _reconcile_trial(deps, trial, jobs)
        except PermanentError as exc:  # one broken trial must not stop the tick for all others
            log.error("reconcile failed for a trial job_id=%s trial_id=%s error=%r", trial.job_id, trial.trial_id,
                      str(exc))
    running = deps.repo.list_jobs(states=[JobState.RUNNING], limit=100_000)
    holders = deps.repo.capacity_holders()
    released = _release_orphan_slots(deps, running, holders, {t.batch_id for t in active}, listed)
    swept = _sweep_orphan_trials(deps)
    busy_jobs = {hold.job_id for hold in holders.values()}
    for job in running:
        if _bound_by_time(deps, job):
            follow.append(ReviewJob(job.job_id))  # deadlines and core-hour budgets: time alone ends them
        if job.job_id not in busy_jobs:
            _keep_ready(deps, job)  # a job with a batch is put back in the queue when one ends
    follow += _cancel_orphan_batches(deps, jobs, listed)
    return [Reconciled({"released_slots": released, "orphan_trials": swept}), *dict.fromkeys(follow), PlaceWork()]


def _bound_by_time(deps: Deps, job: Job) -> bool:
    """Whether the passing of time alone may end the job's search: a core-hour budget, or a deadline due."""
    spec = job_spec(job)
    return spec.budget.max_core_hours is not None or spec.budget.max_cost_usd is not None or \
        budgets.deadline_problem(job, spec, deps.clock(), deps.settings.batch_startup_seconds) is not None


def _keep_ready(deps: Deps, job: Job) -> None:
    """Put back in the ready queue a job that has waiting work and a free job slot (a mark lost to a crash)."""
    if deps.repo.list_trials(job.job_id, [TrialState.WAITING], limit=1) and \
            len(deps.repo.slot_holders(job.job_id)) < job_plans.max_parallel(job_spec(job), job.plan):
        deps.repo.mark_ready(ReadyJob(job.job_id, job.owner, job.created_at, deps.repo.owner_running(job.owner)))


def report(trace: list[Message]) -> dict[str, int]:
    """What a tick did, from the messages it caused."""
    own = next((m.counts for m in trace if isinstance(m, Reconciled)), {})
    return {"recovered_results": sum(isinstance(m, ResultWritten) and m.recovered for m in trace),
            "dead_batches": sum(isinstance(m, AttemptEnded) and m.reason in (Reason.BATCH_DIED, Reason.TIME_LIMIT_EXCEEDED)
                                for m in trace),
            "launched": sum(m.trials for m in trace if isinstance(m, WorkStarted)),
            "cancelled_batches": sum(isinstance(m, BatchCancelled) for m in trace),
            "released_slots": own.get("released_slots", 0), "orphan_trials": own.get("orphan_trials", 0)}


def _reconcile_trial(deps: Deps, trial: Trial, jobs: dict[str, Job | None]) -> list[Message]:
    """One active trial: its job has ended, its launch is half done, its result was not delivered, or its
    batch ended without one (stopped at its time limit, or died: job_aggregate.batch_ended)."""
    job = jobs.setdefault(trial.job_id, deps.repo.get_job(trial.job_id))
    if job is None or job.state.is_finished():
        if job is None and trial.batch_id:
            return [CancelBatch(trial.job_id, trial.batch_id)]
        return [JobEnded(trial.job_id)]
    if trial.state is TrialState.LAUNCHING or trial.batch_id is None:
        return [ResumeLaunches(trial.job_id)]
    _, result_uri = trial_uris(deps.settings, trial.job_id, trial.trial_id, trial.attempt)
    if deps.blobs.exists(result_uri):  # its notification was lost (its batch may run on: a pack, a warm wait)
        return [ResultWritten(trial.job_id, trial.trial_id, trial.attempt, result_uri, recovered=True)]
    info = _batch(deps, trial.batch_id, {})
    if info is not None and not info.is_terminal:
        return []
    if info is None:
        return [batch_ended(trial, "MISSING", "", None)]
    return [batch_ended(trial, info.state, info.state_message, info.state_time or deps.clock())]


def _release_orphan_slots(deps: Deps, running: list[Job], holders: dict, busy: set[str | None],
                          listed: dict[str, BatchInfo]) -> int:
    """Free slots held by a batch that has ended (or was never created) with no trial of it active: left by a
    batch that died while it waited, or by a handler that crashed between a claim and its trials. After a
    grace period, so in-flight claims are left alone; released as their batch, so a racing claim never is."""
    now = deps.clock()

    def stale(hold) -> bool:
        if hold.batch_id in busy or _age_seconds(now, hold.claimed_at) < ORPHAN_SLOT_GRACE_SECONDS:
            return False
        info = _batch(deps, hold.batch_id, listed)
        return info is None or info.is_ending

    released = 0
    for slot, hold in holders.items():
        if stale(hold):
            deps.repo.release_capacity(slot, hold.batch_id)
            released += 1
    for job in running:
        for slot, hold in deps.repo.slot_holders(job.job_id).items():
            if stale(hold):
                deps.repo.release_slot(job.job_id, slot, hold.batch_id)
                released += 1
    return released


def _sweep_orphan_trials(deps: Deps) -> int:
    """Delete trials that have no job document (a job write that failed after its trials were written),
    once they are older than a grace period, so a submission in flight is left alone."""
    before = (deps.clock() - timedelta(seconds=ORPHAN_TRIAL_GRACE_SECONDS)).isoformat()
    swept = 0
    for job_id in deps.repo.orphan_jobs(before):
        deleted = deps.repo.delete_orphan(job_id, before)
        if deleted:
            log.warning("orphan trials swept job_id=%s trials=%d (no job document)", job_id, deleted)
        swept += deleted
    return swept


def _cancel_orphan_batches(deps: Deps, jobs: dict[str, Job | None], listed: dict[str, BatchInfo]) -> list[Message]:
    """Batches still running for a job that has ended, after a grace period (a batch writes its result
    last and then exits, so a job that has just ended on that very result waits a little)."""
    now, follow = deps.clock(), []
    for info in listed.values():
        job_id = info.labels.get("zygarde-job")
        if info.is_terminal or not job_id:
            continue
        job = jobs.setdefault(job_id, deps.repo.get_job(job_id))
        if job is not None and (not job.state.is_finished() or
                                (job.finished_at and _age_seconds(now, job.finished_at) < ORPHAN_BATCH_GRACE_SECONDS)):
            continue
        follow.append(CancelBatch(job_id, info.batch_id))
    return follow


def _batch(deps: Deps, batch_id: str, listed: dict[str, BatchInfo]) -> BatchInfo | None:
    if batch_id in listed:
        return listed[batch_id]
    try:
        return deps.launcher.get(batch_id)
    except BatchNotFound:
        return None


def _age_seconds(now: datetime, iso: str) -> float:
    then = datetime.fromisoformat(iso)
    if then.tzinfo is None:
        then = then.replace(tzinfo=timezone.utc)
    return (now - then).total_seconds()
