"""Who runs next: dispatch() fills free capacity across all running jobs. A freed slot goes to the
owner with the fewest running trials, then to the oldest job (first come, first served); a job's
waiting training trials launch as packs (packs.py) unless the job turns packing off."""
from __future__ import annotations

from collections import Counter, defaultdict

from zygarde.domain import search
from zygarde.domain.model import FINALIZE, PREPARE, TRAIN, Job, JobState, Trial, TrialState
from zygarde.domain.spec import JobSpec
from zygarde.service_layer import packs
from zygarde.service_layer.deps import Deps, log
from zygarde.service_layer.job_specs import job_spec
from zygarde.service_layer.launching import claim_and_launch, launch
from zygarde.service_layer.lifecycle import budget_problem

RUNNING = [JobState.RUNNING]
__all__ = ["dispatch", "job_spec"]


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
    if not search.is_adaptive(spec) or budget_problem(deps, job, spec, train):
        return None
    trial = search.ask(spec, job.job_id, train, deps.now())
    if trial is None or not deps.repo.add_trial(trial):
        return None
    log.info("trial asked job_id=%s trial_id=%s algorithm=%s", job.job_id, trial.trial_id, trial.algorithm)
    return trial
