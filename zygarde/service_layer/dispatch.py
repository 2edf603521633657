"""PlaceWork: fill free capacity with ready work, fairly. Reads the scheduling board, not the system: a few
free capacity slots, a page of the ready queue, and each candidate owner's running trials; then, for the
job chosen, its slots and its next work. A freed slot goes to the owner with the fewest running trials,
then to the oldest job (first come, first served). A job leaves the queue when it has nothing to place or
no free job slot; the others' hints are left exact. Safe to run concurrently and repeatedly: every claim
is atomic (pack_claims.py)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from zygarde.domain.messages import Message, PlaceWork, StartWork
from zygarde.domain.model import Job
from zygarde.service_layer import job_plans
from zygarde.service_layer.deps import Deps
from zygarde.service_layer.job_specs import job_spec
from zygarde.service_layer.pack_claims import claim_new_batch
from zygarde.service_layer.ready_work import Work, next_work
from zygarde.service_layer.scheduling_board import ReadyJob

FILL_LIMIT = 32  # free capacity slots one placement fills at most (the next event goes on)
READY_PAGE = 16  # ready jobs read at a time at most (twice the free slots, plus two: the queue is in order)
MAX_TRIES = 8  # pieces of work one pick may try to claim (others' handlers may take them first)
FINISHING_GRACE_SECONDS = 30.0  # beyond the batch's wait, a batch that said it would report idle is not waited for


@dataclass
class _Candidate:
    ready: ReadyJob
    job: Job | None = None
    free_job_slots: list[int] = field(default_factory=list)
    plan: list[Work] = field(default_factory=list)
    cleared: bool = False


def place_work(cmd: PlaceWork, deps: Deps) -> list[Message]:
    free = deps.repo.free_capacity(deps.settings.max_concurrent_batches, FILL_LIMIT)
    started: list[Message] = []
    counts: dict[str, int] = {}  # owner -> running trials, read fresh once per placement
    after = None
    while free:
        page = [_Candidate(r) for r in deps.repo.ready_jobs(min(READY_PAGE, 2 * len(free) + 2), after)]
        if not page:
            break
        after = page[-1].ready.order
        for c in page:
            if c.ready.owner not in counts:
                counts[c.ready.owner] = deps.repo.owner_running(c.ready.owner)
        candidates = list(page)
        while free and candidates:
            pick = min(candidates, key=lambda c: (counts[c.ready.owner], c.ready.created_at, c.ready.job_id))
            batch, trials = _place_one(deps, pick, free)
            if batch is None:
                candidates.remove(pick)
                continue
            started.append(StartWork(pick.ready.job_id, batch))
            counts[pick.ready.owner] += trials
        for c in page:  # the queue's order as it is now
            if not c.cleared and c.ready.owner_running != counts[c.ready.owner]:
                deps.repo.mark_ready(ReadyJob(c.ready.job_id, c.ready.owner, c.ready.created_at, counts[c.ready.owner]))
    return started


def _place_one(deps: Deps, c: _Candidate, free: list[int]) -> tuple[str | None, int]:
    """Claim the candidate job's next piece of work for a new batch: (batch id, trials), or (None, 0) when it
    has none to place now."""
    if c.job is None:
        c.job = deps.repo.get_job(c.ready.job_id)
        if c.job is None or c.job.state.is_finished():
            return _clear(deps, c)
        holds = deps.repo.slot_holders(c.job.job_id)
        if any(_finishing(deps, h.finishing_since) for h in holds.values()):
            c.cleared = True  # a batch of the job has done its work and will report idle: the work waits for it
            return None, 0
        c.free_job_slots = [s for s in range(job_plans.max_parallel(job_spec(c.job), c.job.plan)) if s not in holds]
    spec, tries = job_spec(c.job), 0
    while free and c.free_job_slots and tries < MAX_TRIES:
        tries += 1
        if not c.plan:
            c.plan = next_work(deps, c.job, spec, min(len(free), len(c.free_job_slots)))
            if not c.plan:
                return _clear(deps, c)
        work = c.plan.pop(0)
        batch = claim_new_batch(deps, c.job, spec, work, free, c.free_job_slots)
        if batch is not None:
            return batch, len(work.trials)
    if not c.free_job_slots:  # at max_parallel: back in the queue when one of its batches ends
        return _clear(deps, c)
    return None, 0


def _clear(deps: Deps, c: _Candidate) -> tuple[None, int]:
    deps.repo.clear_ready(c.ready.job_id)
    c.cleared = True
    return None, 0


def _finishing(deps: Deps, since: str | None) -> bool:
    if since is None:
        return False
    waited = (deps.clock() - datetime.fromisoformat(since)).total_seconds()
    return waited < deps.settings.handoff_seconds + FINISHING_GRACE_SECONDS
