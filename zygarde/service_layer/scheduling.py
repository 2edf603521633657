"""Who runs next, and when a job ends.

dispatch() fills free capacity across all running jobs: a freed slot goes to the owner with the
fewest running trials, then to the oldest job (first come, first served). Job ends are decided
from the trials alone: all finished (SUCCEEDED / FAILED), a budget spent (BUDGET_EXHAUSTED) or a
cancellation (CANCELLED); each always records the best trial so far.
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import datetime

from zygarde.domain import packing, search
from zygarde.domain.model import FINALIZE, PREPARE, TRAIN, Job, JobState, Trial, TrialState, best_trial
from zygarde.domain.spec import JobSpec
from zygarde.service_layer import packs
from zygarde.service_layer.deps import Deps, log
from zygarde.service_layer.launching import claim_and_launch, end_attempt, launch

RUNNING = [JobState.RUNNING]
UNFINISHED = [TrialState.WAITING, TrialState.LAUNCHING, TrialState.RUNNING]


_SPECS: dict[str, JobSpec] = {}
_BY_IDENTITY: dict[int, tuple[dict, JobSpec]] = {}  # holds the dict, so its id is not reused


def job_spec(job: Job) -> JobSpec:
    """The job's validated spec, parsed once per process per distinct spec (validation is the
    costliest step of a dispatch)."""
    hit = _BY_IDENTITY.get(id(job.spec))
    if hit is not None and hit[0] is job.spec:
        return hit[1]
    key = json.dumps(job.spec, sort_keys=True)
    spec = _SPECS.get(key)
    if spec is None:
        if len(_SPECS) > 10_000:
            _SPECS.clear()
            _BY_IDENTITY.clear()
        spec = _SPECS[key] = JobSpec.model_validate(job.spec)
    if len(_BY_IDENTITY) < 10_000:
        _BY_IDENTITY[id(job.spec)] = (job.spec, spec)
    return spec


def dispatch(deps: Deps) -> list[str]:
    """Resume interrupted launches, then launch waiting trials into free capacity, fairly.
    Returns the ids (job/trial) launched. Safe to run concurrently and repeatedly."""
    active = deps.repo.active_trials()
    launched = []
    resuming = [t for t in active if t.state is TrialState.LAUNCHING]
    holders = deps.repo.capacity_holders()
    free_capacity = [s for s in range(deps.settings.max_concurrent_batches) if s not in holders]
    if not free_capacity and not resuming:
        return launched  # saturated: nothing to read further
    jobs = {j.job_id: j for j in deps.repo.list_jobs(states=RUNNING, limit=100_000)}
    launched += _resume(deps, resuming, jobs)
    by_user = Counter(jobs[t.job_id].owner for t in active if t.job_id in jobs)  # fairness counts trials
    by_job = Counter(job_id for job_id, _ in {(t.job_id, t.pack_id or t.trial_id) for t in active})  # batches
    specs = {job_id: job_spec(job) for job_id, job in jobs.items()}
    candidates = [j for j in jobs.values() if by_job[j.job_id] < specs[j.job_id].max_parallel]
    waiting: dict[str, list[Trial]] = {}
    held: dict[str, set[int]] = {}
    while free_capacity and candidates:
        job = min(candidates, key=lambda j: (by_user[j.owner], j.created_at, j.job_id))
        spec = specs[job.job_id]
        if not waiting.get(job.job_id):  # first look, or all taken: look again (adaptive search asks)
            waiting[job.job_id] = _eligible(deps, job, spec)
        if job.job_id not in held:
            held[job.job_id] = set(deps.repo.slot_holders(job.job_id))
        ready = waiting[job.job_id]
        if ready and ready[0].kind == TRAIN and packs.uses_packs(spec):
            trials = packs.claim_pack(deps, job, spec, ready, free_capacity, held[job.job_id])
        else:
            one = claim_and_launch(deps, job, spec, ready, free_capacity, held[job.job_id])
            trials = [one] if one is not None else []
        if not trials:
            candidates.remove(job)
            continue
        launched += [f"{job.job_id}/{t.trial_id}" for t in trials]
        by_user[job.owner] += len(trials)
        by_job[job.job_id] += 1
        if by_job[job.job_id] >= spec.max_parallel:
            candidates.remove(job)
    return launched


def _resume(deps: Deps, resuming: list[Trial], jobs: dict[str, Job]) -> list[str]:
    """Finish launches that a handler left half done: one trial's batch, or a pack's."""
    launched, by_pack = [], defaultdict(list)
    for t in resuming:
        if t.job_id not in jobs:
            continue
        if t.pack_id:
            by_pack[(t.job_id, t.pack_id)].append(t)
        elif launch(t, job_spec(jobs[t.job_id]), jobs[t.job_id].owner, deps):
            launched.append(f"{t.job_id}/{t.trial_id}")
    for (job_id, _), trials in by_pack.items():
        launched += [f"{job_id}/{t.trial_id}" for t in
                     packs.launch_pack(trials, job_spec(jobs[job_id]), jobs[job_id].owner, deps)]
    return launched


def _eligible(deps: Deps, job: Job, spec: JobSpec) -> list[Trial]:
    """The waiting trials of a job that may launch now: its data preparation first, then its
    training trials (asking the search when none waits: a pack's worth when trials are packed),
    then its finalisation. Reads the two stage documents and the waiting trials, not the whole job."""
    for kind in (PREPARE, FINALIZE):
        stage = deps.repo.get_trial(job.job_id, kind)
        if stage is not None and (kind == FINALIZE or stage.state is not TrialState.SUCCEEDED):
            return [stage] if stage.state is TrialState.WAITING else []
    # a dispatch launches at most max_parallel batches of a job: no need to read more
    limit = spec.max_parallel * (packs.MAX_PACK_SIZE if packs.uses_packs(spec) else 1) + 2
    ready = [t for t in deps.repo.list_trials(job.job_id, [TrialState.WAITING], limit=limit) if t.kind == TRAIN]
    if not ready and search.is_adaptive(spec):
        train = [t for t in deps.repo.list_trials(job.job_id) if t.kind == TRAIN]
        wanted = spec.max_parallel * max(1, deps.settings.pack_concurrency) if packs.uses_packs(spec) else 1
        for _ in range(wanted):  # constant liar: each ask sees the ones asked before it as pending
            asked = _ask(deps, job, spec, train)
            if asked is None:
                break
            ready.append(asked)
            train.append(asked)
    return ready


def _ask(deps: Deps, job: Job, spec: JobSpec, train: list[Trial]) -> Trial | None:
    """Adaptive search: a new trial from the strategy, stored so that exactly one handler owns it."""
    if not search.is_adaptive(spec) or _budget_problem(deps, job, spec, train):
        return None
    trial = search.ask(spec, job.job_id, train, deps.now())
    if trial is None or not deps.repo.add_trial(trial):
        return None
    log.info("trial asked job_id=%s trial_id=%s algorithm=%s", job.job_id, trial.trial_id, trial.algorithm)
    return trial


def trial_ended(deps: Deps, trial: Trial, ok: bool, reason: str, message: str, retryable: bool,
                **changes) -> Trial | None:
    """Record the end of an attempt: SUCCEEDED, FAILED, or back to WAITING for a retry."""
    if ok:
        return end_attempt(deps, trial, TrialState.SUCCEEDED, reason, message, **changes)
    job = deps.repo.get_job(trial.job_id)
    if retryable and job and not job.state.is_finished() and trial.attempt < job_spec(job).max_attempts:
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
    now = deps.now()
    for trial in trials:
        if trial.state is TrialState.WAITING:
            deps.repo.update_trial(job_id, trial.trial_id, lambda t: t.transition(
                TrialState.CANCELLED, reason, message, now) if t.state is TrialState.WAITING else None)
        elif trial.state.is_active():
            cancel_trial(deps, trial, reason, message)


def _end_job(deps: Deps, job: Job, trials: list[Trial], state: JobState, reason: str, message: str,
             **extra) -> None:
    best = best_trial(trials, job_spec(job).direction)
    now = deps.now()
    if best:
        extra.update(best_trial_id=best.trial_id, best_objective=best.objective)
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


def _budget_problem(deps: Deps, job: Job, spec: JobSpec, trials: list[Trial] | None) -> str | None:
    budget = spec.budget
    now = deps.clock()
    if budget.deadline_minutes is not None:
        elapsed = (now - datetime.fromisoformat(job.created_at)).total_seconds() / 60
        if elapsed >= budget.deadline_minutes:
            return f"deadline of {budget.deadline_minutes:g} minutes reached"
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
    problem = _budget_problem(deps, job, spec, None)
    if problem is not None:
        stop_job(deps, job_id, JobState.BUDGET_EXHAUSTED, "BudgetExhausted", problem)
        return
    if deps.repo.list_trials(job_id, UNFINISHED, limit=1):
        return  # the common case, decided without reading the job's trials
    trials = deps.repo.list_trials(job_id)
    finalize = next((t for t in trials if t.kind == FINALIZE), None)
    train = [t for t in trials if t.kind == TRAIN]
    if not all(t.state.is_finished() for t in train) or len(train) < search.planned_trial_count(spec):
        return
    best = best_trial(train, spec.direction)
    if best is None:
        first = next((t.error for t in train if t.error), "no trial succeeded")
        _end_job(deps, job, trials, JobState.FAILED, "AllTrialsFailed",
                 f"all {len(train)} trials failed; first error: {first}")
        return
    if finalize is None:
        deps.repo.add_trial(_finalize_trial(deps, job, spec, best, prepare))
        return
    if not finalize.state.is_finished():
        return
    if finalize.state is not TrialState.SUCCEEDED:
        _end_job(deps, job, trials, JobState.FAILED, "FinalizationFailed",
                 f"the winner {best.trial_id} could not be packaged: {finalize.error}")
        return
    name = spec.name or job_id
    version = deps.repo.register_model_version(name, job_id, {
        **finalize.outputs, "algorithm": best.algorithm, "params": best.params, "trial_id": best.trial_id,
        "metric": spec.objective, "validation_metrics": best.metrics, "registered_at": deps.now()})
    test_metrics = dict(finalize.outputs.get("test_metrics") or {})
    score = test_metrics.get(spec.objective)
    _end_job(deps, job, trials, JobState.SUCCEEDED, "ModelRegistered",
             f"best trial {best.trial_id} ({best.algorithm}) {spec.objective}={best.objective:.6g} on validation"
             + (f", {score:.6g} on test" if score is not None else "") + f"; registered as {name} v{version}",
             model_name=name, model_version=version, test_metrics=test_metrics)


def _finalize_trial(deps: Deps, job: Job, spec: JobSpec, best: Trial, prepare: Trial | None) -> Trial:
    manifest = {"job_id": job.job_id, "owner": job.owner, "trial_id": best.trial_id, "algorithm": best.algorithm,
                "params": best.params, "validation_metrics": best.metrics, "seed": spec.seed, "spec": job.spec,
                "dataset_fingerprint": (prepare.outputs.get("fingerprint") if prepare else None) or {},
                "code_version": deps.settings.code_version, "metric": spec.objective}
    params: dict = {"model_uri": best.model_uri, "manifest": manifest}
    if best.model_uri is None or spec.final_fit == "train_and_validation":
        params["refit"] = {"algorithm": best.algorithm, "params": best.params}
        if spec.final_fit == "train_and_validation":
            params["model_uri"] = None
    return Trial(job_id=job.job_id, trial_id=FINALIZE, index=-1, algorithm=best.algorithm, kind=FINALIZE,
                 params=params, created_at=deps.now())
