"""A job's lifecycle: how an attempt ends, when a job ends, and the registry entry of its winner.

Job ends are decided from the trials alone: all finished (SUCCEEDED / FAILED / PRUNED), a budget
spent (BUDGET_EXHAUSTED: the search stops and the best so far is still finalised and registered; when
no trial finished on the whole train part, the best scored on a fraction of it, refitted on all of it)
or a cancellation (CANCELLED); each always records the best trial so far. A pruning job's PAUSED
trials are decided here too (advance_rungs), from the stored rung scores.
"""
from __future__ import annotations

import json
from datetime import datetime

from zygarde.domain import packing, pruning, search
from zygarde.domain.errors import ModelNameTaken
from zygarde.domain.model import FINALIZE, PREPARE, TRAIN, Job, JobState, Trial, TrialState, best_trial
from zygarde.domain.spec import JobSpec
from zygarde.service_layer.deps import Deps, log
from zygarde.service_layer.job_specs import job_spec
from zygarde.service_layer.launching import end_attempt

UNFINISHED = [TrialState.WAITING, TrialState.LAUNCHING, TrialState.RUNNING, TrialState.PAUSED]
# A finalisation's own work (test scoring, export, package) in a new batch, beyond the batch's start-up,
# with the cancelled batches still winding down (61 s in all on the 2-core local cloud): a search with a
# deadline stops this much plus a batch's start-up before it, so that the model is registered in time.
FINALIZE_WORK_SECONDS = 45.0


def trial_ended(deps: Deps, trial: Trial, ok: bool, reason: str, message: str, retryable: bool,
                **changes) -> Trial | None:
    """Record the end of an attempt: SUCCEEDED, FAILED, or back to WAITING for a retry."""
    if ok:
        return end_attempt(deps, trial, TrialState.SUCCEEDED, reason, message, **changes)
    job = deps.repo.get_job(trial.job_id)
    # a promoted trial's attempts at its new rung count from rung_attempt: each rung has max_attempts
    if retryable and job and not job.state.is_finished() \
            and trial.attempt - trial.rung_attempt < job_spec(job).max_attempts:
        return end_attempt(deps, trial, TrialState.WAITING, "Retrying", f"{message}; retrying")
    return end_attempt(deps, trial, TrialState.FAILED, reason, message, error=message, **changes)


def cancel_trial(deps: Deps, trial: Trial, reason: str, message: str) -> Trial | None:
    """End an active trial whose job has ended, cancelling its batch."""
    if trial.batch_id:
        deps.launcher.cancel(trial.batch_id)
    return end_attempt(deps, trial, TrialState.CANCELLED, reason, message)


def stop_job(deps: Deps, job_id: str, state: JobState, reason: str, message: str) -> None:
    """End a running job early (cancelled or out of budget): record it with the best trial so far,
    cancel its batches and its waiting trials. Idempotent."""
    job = deps.repo.get_job(job_id)
    if job is None:
        return
    trials = deps.repo.list_trials(job_id)
    if not job.state.is_finished():
        _end_job(deps, job, trials, state, reason, message)
    _cancel_unfinished(deps, trials, reason, message)


def _cancel_unfinished(deps: Deps, trials: list[Trial], reason: str, message: str) -> None:
    """Cancel the waiting and active ones of `trials` (their batches too). Idempotent."""
    now = deps.now()
    for trial in trials:
        if trial.state in (TrialState.WAITING, TrialState.PAUSED):
            deps.repo.update_trial(trial.job_id, trial.trial_id, lambda t: t.transition(
                TrialState.CANCELLED, reason, message, now) if t.state in (TrialState.WAITING, TrialState.PAUSED)
                else None)
        elif trial.state.is_active():
            cancel_trial(deps, trial, reason, message)


def _end_job(deps: Deps, job: Job, trials: list[Trial], state: JobState, reason: str, message: str,
             best: Trial | None = None, **extra) -> None:
    best = best or best_trial(trials, job_spec(job).direction)
    now = deps.now()
    if best:
        extra.update(best_trial_id=best.trial_id, best_objective=_score(best))
    if state is JobState.FAILED:
        extra["error"] = message
    ended = deps.repo.update_job(job.job_id, lambda j: j.transition(state, reason, message, now, **extra)
                                 if j.state is JobState.RUNNING else None)
    if ended is None:
        return  # another handler ended it
    log.info("job finished job_id=%s state=%s %s", job.job_id, state.value, message)
    # let the reconciler make sure no batch of this job outlives it
    deps.publisher.publish("cluster_idle", json.dumps({"reason": "job-finished", "job_id": job.job_id}).encode(),
                           reason="job-finished", job_id=job.job_id)


def budget_problem(deps: Deps, job: Job, spec: JobSpec, trials: list[Trial] | None) -> str | None:
    budget = spec.budget
    now = deps.clock()
    search_seconds = budget.search_seconds(deps.settings.batch_startup_seconds + FINALIZE_WORK_SECONDS)
    if search_seconds is not None:
        elapsed = (now - datetime.fromisoformat(job.created_at)).total_seconds()
        deadline = budget.deadline_minutes * 60
        if elapsed >= deadline:
            return f"deadline of {budget.deadline_minutes:g} minutes reached"
        if elapsed >= search_seconds:
            return (f"deadline of {budget.deadline_minutes:g} minutes near ({deadline - elapsed:.0f} s left, "
                    f"kept to register the model)")
    if budget.max_core_hours is not None:
        trials = deps.repo.list_trials(job.job_id) if trials is None else trials
        core_hours = budget.cores_per_trial * sum(packing.batch_runtimes(trials, now)) / 3600
        if core_hours >= budget.max_core_hours:
            return f"{core_hours:.3g} of {budget.max_core_hours:g} core-hours used"
    return None


def maybe_finish_job(job_id: str, deps: Deps) -> None:
    """Advance the job: end it when its data is rejected or its budget is spent; when every
    planned training trial has finished, queue the winner's finalisation; when that is done,
    register the model version and end the job."""
    job = deps.repo.get_job(job_id)
    if job is None or job.state.is_finished():
        return
    spec = job_spec(job)
    prepare = deps.repo.get_trial(job_id, PREPARE)
    if prepare is not None and prepare.state.is_finished() and prepare.state is not TrialState.SUCCEEDED:
        stop_job(deps, job_id, JobState.FAILED, "DataRejected", f"the data cannot serve: {prepare.error}")
        return
    problem = budget_problem(deps, job, spec, None)
    if problem is not None:
        trials = deps.repo.list_trials(job_id)
        if _winner([t for t in trials if t.kind == TRAIN], spec, problem)[0] is None:
            stop_job(deps, job_id, JobState.BUDGET_EXHAUSTED, "BudgetExhausted", problem)
            return
        # the search ends: its waiting, paused and running trials are cancelled, the best so far is finalised
        _cancel_unfinished(deps, [t for t in trials if t.kind == TRAIN], "BudgetExhausted", problem)
        trials = deps.repo.list_trials(job_id)
    else:
        advance_rungs(deps, job_id, spec)
        if deps.repo.list_trials(job_id, UNFINISHED, limit=1):
            return  # the common case, decided without reading the job's trials
        trials = deps.repo.list_trials(job_id)
    finalize = next((t for t in trials if t.kind == FINALIZE), None)
    train = [t for t in trials if t.kind == TRAIN]
    if not all(t.state.is_finished() for t in train) or (
            problem is None and len(train) < search.planned_trial_count(spec)):
        return
    best, partial = _winner(train, spec, problem)
    if best is None:
        first = next((t.error for t in train if t.error), "no trial succeeded")
        _end_job(deps, job, trials, JobState.FAILED, "AllTrialsFailed",
                 f"all {len(train)} trials failed; first error: {first}")
        return
    if finalize is None:
        deps.repo.add_trial(_finalize_trial(deps, job, spec, best, prepare, refit=partial))
        return
    if not finalize.state.is_finished():
        return
    if finalize.state is not TrialState.SUCCEEDED:
        _end_job(deps, job, trials, JobState.FAILED, "FinalizationFailed",
                 f"the winner {best.trial_id} could not be packaged: {finalize.error}")
        return
    name = spec.name or job_id
    try:  # checked again here, atomically: the name may have been taken since the job was accepted
        version = deps.repo.register_model_version(name, job_id, {
            **finalize.outputs, "algorithm": best.algorithm, "params": best.params, "trial_id": best.trial_id,
            "metric": spec.objective, "validation_metrics": best.metrics, "registered_at": deps.now()}, job.owner)
    except ModelNameTaken:
        _end_job(deps, job, trials, JobState.FAILED, "ModelNameTaken",
                 f"name: the model {name!r} belongs to another user (taken after this job was accepted, or its "
                 "owner withdrew your write access), so nothing was registered: run the job again with another "
                 "name", best)
        log.warning("registration refused job_id=%s model=%s: the name belongs to another user", job_id, name)
        return
    test_metrics = dict(finalize.outputs.get("test_metrics") or {})
    score = test_metrics.get(spec.objective)
    fitted = (f" with {pruning.percent(best.train_fraction)} (none finished on all of them in time), refitted on "
              f"all of them" if partial else "")
    message = (f"best trial {best.trial_id} ({best.algorithm}) {spec.objective}={_score(best):.6g} on validation"
               + fitted + (f", {score:.6g} on test" if score is not None else "")
               + f"; registered as {name} v{version}")
    if problem is None:
        _end_job(deps, job, trials, JobState.SUCCEEDED, "ModelRegistered", message, best,
                 model_name=name, model_version=version, test_metrics=test_metrics)
    else:  # the search was cut short, but the user still gets the best model found in time
        done = sum(t.state is TrialState.SUCCEEDED for t in train)
        _end_job(deps, job, trials, JobState.BUDGET_EXHAUSTED, "BudgetExhausted",
                 f"{problem} after {done} trials; {message}", best,
                 model_name=name, model_version=version, test_metrics=test_metrics)


def advance_rungs(deps: Deps, job_id: str, spec: JobSpec) -> list[pruning.Decision]:
    """Apply successive halving's decisions due now to the job's PAUSED trials: promoted ones wait again
    at the next rung's fraction (their attempts there counted afresh), the others end PRUNED. Stateless
    and replay-safe: each change applies only to a trial still PAUSED at the rung it was decided at."""
    rungs = pruning.rungs_of(spec)
    if rungs is None or not deps.repo.list_trials(job_id, [TrialState.PAUSED], limit=1):
        return []
    trials = [t for t in deps.repo.list_trials(job_id) if t.kind == TRAIN]
    decisions = pruning.decide(trials, rungs, spec.direction, search.exhausted(spec, trials), spec.objective)
    now = deps.now()
    applied = []
    for d in decisions:
        def change(t: Trial, d: pruning.Decision = d) -> Trial | None:
            if t.state is not TrialState.PAUSED or t.rung != d.rung:
                return None
            if d.action == pruning.PRUNE:
                return t.transition(TrialState.PRUNED, "Pruned", d.message, now)
            return t.transition(TrialState.WAITING, "Promoted", d.message, now, rung=d.rung + 1,
                                train_fraction=rungs.fraction(d.rung + 1), rung_attempt=t.attempt)

        if deps.repo.update_trial(job_id, d.trial_id, change) is not None:
            applied.append(d)
            log.info("trial %s job_id=%s trial_id=%s rung=%d", "pruned" if d.action == pruning.PRUNE else "promoted",
                     job_id, d.trial_id, d.rung)
    return applied


def _winner(train: list[Trial], spec: JobSpec, problem: str | None) -> tuple[Trial | None, bool]:
    """(the trial to finalise, whether it is partial): the best trial fitted on the whole train part;
    when a budget ended the search before any was, the best scored at a fraction (refitted on all)."""
    best = best_trial(train, spec.direction)
    if best is None and problem is not None:
        partial = pruning.best_partial(train, spec.direction)
        return partial, partial is not None
    return best, False


def _score(trial: Trial) -> float | None:
    return trial.objective if trial.objective is not None else (trial.rung_scores[-1] if trial.rung_scores else None)


def _finalize_trial(deps: Deps, job: Job, spec: JobSpec, best: Trial, prepare: Trial | None,
                    refit: bool = False) -> Trial:
    manifest = {"job_id": job.job_id, "owner": job.owner, "trial_id": best.trial_id, "algorithm": best.algorithm,
                "params": best.params, "validation_metrics": best.metrics, "seed": spec.seed, "spec": job.spec,
                "dataset_fingerprint": (prepare.outputs.get("fingerprint") if prepare else None) or {},
                "code_version": deps.settings.code_version, "metric": spec.objective}
    params: dict = {"model_uri": best.model_uri, "manifest": manifest}
    if best.model_uri is None or spec.final_fit == "train_and_validation" or refit:
        refit_params = dict(best.params)
        if "best_iteration" in best.metrics:  # XGBoost's early stop: the rounds to fit on train + validation
            refit_params["best_iteration"] = int(best.metrics["best_iteration"])
        params["refit"] = {"algorithm": best.algorithm, "params": refit_params}
        if spec.final_fit == "train_and_validation" or refit:
            params["model_uri"] = None
    return Trial(job_id=job.job_id, trial_id=FINALIZE, index=-1, algorithm=best.algorithm, kind=FINALIZE,
                 params=params, created_at=deps.now())
