"""The reconciler: makes Firestore and Dataproc agree, so compute exists only while trials run and
nothing is lost when a batch dies or an event goes missing."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from zygarde.domain.errors import BatchNotFound, PermanentError
from zygarde.domain.model import Job, JobState, Trial, TrialState
from zygarde.domain.reasons import scrub
from zygarde.service_layer.deps import Deps, log
from zygarde.service_layer.launching import ACTIVE, trial_uris
from zygarde.service_layer.packs import is_pack_holder
from zygarde.service_layer.lifecycle import cancel_trial, maybe_finish_job, trial_ended
from zygarde.service_layer.results import record_result
from zygarde.service_layer.scheduling import dispatch
from zygarde.service_layer.stage_limits import stopped_at_limit

def reconcile(deps: Deps) -> dict[str, int]:
    """Reconcile Firestore with Dataproc: trials whose batch ended unreported, lost launches,
    batches of finished jobs. Returns counts of what it did."""
    report = {"recovered_results": 0, "dead_batches": 0, "launched": 0, "cancelled_batches": 0, "released_slots": 0,
              "orphan_trials": 0}
    jobs: dict[str, Job | None] = {}
    for trial in deps.repo.active_trials():
        try:
            _reconcile_trial(deps, trial, jobs, report)
        except PermanentError as exc:  # one broken trial must not stop the tick for all others
            log.error("reconcile failed for a trial job_id=%s trial_id=%s error=%r", trial.job_id, trial.trial_id,
                      str(exc))
    report["released_slots"] = _release_orphan_slots(deps)
    report["orphan_trials"] = _sweep_orphan_trials(deps)
    for job in deps.repo.list_jobs(states=[JobState.RUNNING], limit=100_000):
        try:
            maybe_finish_job(job.job_id, deps)  # deadlines and budgets
        except PermanentError as exc:
            log.error("reconcile failed for a job job_id=%s error=%r", job.job_id, str(exc))
    report["launched"] = len(dispatch(deps))
    report["cancelled_batches"] += _cancel_orphan_batches(deps, jobs)
    log.info("reconciled %s", " ".join(f"{k}={v}" for k, v in report.items()))
    return report


def _reconcile_trial(deps: Deps, trial: Trial, jobs: dict[str, Job | None], report: dict[str, int]) -> None:
    """One active trial: cancel it if its job has ended; record its result, or its batch's death."""
    job = jobs.setdefault(trial.job_id, deps.repo.get_job(trial.job_id))
    if trial.state is TrialState.LAUNCHING or trial.batch_id is None:
        return  # dispatch below resumes it
    try:
        info = deps.launcher.get(trial.batch_id)
    except BatchNotFound:
        info = None
    if job is None or job.state.is_finished():
        if info is not None and not info.is_terminal:
            deps.launcher.cancel(trial.batch_id)
            report["cancelled_batches"] += 1
        cancel_trial(deps, trial, "JobFinished", f"job {trial.job_id} had already finished")
        return
    _, result_uri = trial_uris(deps.settings, trial.job_id, trial.trial_id, trial.attempt)
    if deps.blobs.exists(result_uri):  # its notification was lost (its batch may run on: a pack, a warm wait)
        record_result(deps, trial.job_id, trial.trial_id, trial.attempt, result_uri)
        report["recovered_results"] += 1
    elif info is not None and not info.is_terminal:
        return
    elif info is not None and stopped_at_limit(trial, info.state, info.state_message, info.state_time or deps.clock()):
        trial_ended(deps, trial, False, "TimeLimitExceeded",
                    f"batch {trial.batch_id} was stopped at its time limit of {trial.time_limit_seconds:.0f} s (set from "
                    "its predicted cost) without a result; another attempt would be stopped too", False)
        report["dead_batches"] += 1
    else:
        state = info.state if info else "MISSING"
        detail = f": {scrub(info.state_message)}" if info and info.state_message else ""
        trial_ended(deps, trial, False, "BatchDied", f"batch {trial.batch_id} ended {state} without a result{detail}",
                    True)
        report["dead_batches"] += 1


ORPHAN_SLOT_GRACE_SECONDS = 120


def _age_seconds(now: datetime, iso: str) -> float:
    then = datetime.fromisoformat(iso)
    if then.tzinfo is None:
        then = then.replace(tzinfo=timezone.utc)
    return (now - then).total_seconds()


def _release_orphan_slots(deps: Deps) -> int:
    """Free slots whose holding attempt is not running with them: left by a handler that crashed
    between claiming a slot and moving its trial (after a grace period, so in-flight claims are left
    alone). A slot is released as its holder (trial and attempt), so a racing claim is never freed."""
    now = deps.clock()

    def stale(hold, job_id: str, slot: int, field: str) -> bool:
        if _age_seconds(now, hold.claimed_at) < ORPHAN_SLOT_GRACE_SECONDS:
            return False
        if is_pack_holder(hold.trial_id):  # held by a pack: stale once none of its trials runs with it
            return not any(t.pack_id == hold.trial_id and getattr(t, field) == slot
                           for t in deps.repo.list_trials(job_id, ACTIVE))
        trial = deps.repo.get_trial(job_id, hold.trial_id)
        return trial is None or not trial.state.is_active() or getattr(trial, field) != slot \
            or (hold.attempt > 0 and trial.attempt != hold.attempt)

    released = 0
    for slot, hold in deps.repo.capacity_holders().items():
        if stale(hold, hold.job_id, slot, "capacity_slot"):
            deps.repo.release_capacity(slot, hold.job_id, hold.trial_id, hold.attempt)
            released += 1
    for job in deps.repo.list_jobs(states=[JobState.RUNNING], limit=100_000):
        for slot, hold in deps.repo.slot_holders(job.job_id).items():
            if stale(hold, job.job_id, slot, "slot"):
                deps.repo.release_slot(job.job_id, slot, hold.trial_id, hold.attempt)
                released += 1
    return released


ORPHAN_TRIAL_GRACE_SECONDS = 600


def _sweep_orphan_trials(deps: Deps) -> int:
    """Delete trials that have no job document (a job write that failed after its trials were
    written), once they are older than a grace period, so a submission in flight is left alone."""
    before = (deps.clock() - timedelta(seconds=ORPHAN_TRIAL_GRACE_SECONDS)).isoformat()
    swept = 0
    for job_id in deps.repo.orphan_jobs(before):
        deleted = deps.repo.delete_orphan(job_id, before)
        if deleted:
            log.warning("orphan trials swept job_id=%s trials=%d (no job document)", job_id, deleted)
        swept += deleted
    return swept


ORPHAN_BATCH_GRACE_SECONDS = 120


def _cancel_orphan_batches(deps: Deps, jobs: dict[str, Job | None]) -> int:
    """Cancel batches still running for a job that has ended. A batch writes its result last and
    then exits, so a job that has just ended (on that very result) gets a grace period first."""
    cancelled = 0
    now = deps.clock()
    for info in deps.launcher.list({"zygarde": "trial"}):
        job_id = info.labels.get("zygarde-job")
        if info.is_terminal or not job_id:
            continue
        job = jobs.setdefault(job_id, deps.repo.get_job(job_id))
        if job is not None and not job.state.is_finished():
            continue
        if job is not None and job.finished_at and _age_seconds(now, job.finished_at) < ORPHAN_BATCH_GRACE_SECONDS:
            continue
        deps.launcher.cancel(info.batch_id)
        cancelled += 1
    return cancelled
