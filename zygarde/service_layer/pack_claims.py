"""Claiming work for a batch: one claim-and-rollback loop for every stage and pack.

A new batch holds one global capacity slot (zygarde_capacity/{n}, n < the cap) and one job slot
(zygarde_jobs/{job}/slots/{n}, n < max_parallel), each taken by an atomic claim under the batch's id; then
each of its trials moves WAITING -> LAUNCHING on its own document, as its next attempt. What was taken is
given back when a later step fails, so concurrent handlers never exceed either limit and never launch a
trial twice, with no hot document. Work handed to a waiting batch needs no slot: the batch holds them.
Each trial is claimed with its work's time limit (ready_work.Work.time_limit), which its stage's request
carries; a new batch's hold records the ttl that follows (what is left of it decides what it may take).
"""
from __future__ import annotations

import random

from zygarde.domain.decisions import TrialChange
from zygarde.domain.model import Job, Trial, TrialState
from zygarde.domain.reasons import Reason
from zygarde.domain.spec import JobSpec
from zygarde.service_layer.deps import Deps, log
from zygarde.service_layer.ready_work import Work
from zygarde.service_layer.scheduling_board import SlotHold


def claim_new_batch(deps: Deps, job: Job, spec: JobSpec, work: Work, free_capacity: list[int],
                    free_job_slots: list[int]) -> str | None:
    """Claim a capacity slot, a job slot and the work's trials for a new batch: its id, or None when nothing
    could be claimed. `free_capacity` and `free_job_slots` are updated in place."""
    members, stage = list(work.trials), work.stage
    while free_capacity and free_job_slots:
        capacity_slot = free_capacity.pop(random.randrange(len(free_capacity)))
        pack_id, batch_id = stage.batch_ids(job.job_id, members, capacity_slot)
        waits, limit = stage.takes_handoffs(spec, deps.settings), work.time_limit(deps.settings)
        hold = SlotHold(batch_id, job.job_id, deps.now(), job.owner, len(members), stage.batch_properties(members, job.plan),
                        capacity_slot, waits, ttl_seconds=stage.batch_ttl(limit, waits, deps.settings))
        if not deps.repo.claim_capacity(capacity_slot, hold):
            continue  # another handler took it: try another capacity slot
        job_slot = free_job_slots.pop(0)
        if not deps.repo.claim_slot(job.job_id, job_slot, hold):  # taken meanwhile: give the capacity back
            deps.repo.release_capacity(capacity_slot, batch_id)
            free_capacity.append(capacity_slot)
            continue
        claimed = _claim_trials(deps, members, batch_id, pack_id, job_slot, capacity_slot,
                                0 if hold.waits_for_more else None, Reason.SLOT_CLAIMED, limit)
        if not claimed:  # another handler launched these trials: give both slots back
            deps.repo.release_slot(job.job_id, job_slot, batch_id)
            deps.repo.release_capacity(capacity_slot, batch_id)
            free_capacity.append(capacity_slot)
            free_job_slots.insert(0, job_slot)
            return None
        if len(claimed) != len(members):
            deps.repo.set_capacity_trials(capacity_slot, batch_id, len(claimed))
        log.info("batch claimed job_id=%s batch_id=%s trials=%s predicted_seconds=%s", job.job_id, batch_id,
                 ",".join(t.trial_id for t in claimed), work.predicted_seconds)
        return batch_id
    return None


def claim_into_batch(deps: Deps, job: Job, spec: JobSpec, work: Work, job_slot: int, hold: SlotHold,
                     handoff: int) -> bool:
    """Claim the work's trials for a batch that waits for more (its handoff number `handoff`): the batch's
    slots carry over to them. False when none could be claimed."""
    members, stage = list(work.trials), work.stage
    pack_id, _ = stage.batch_ids(job.job_id, members, hold.capacity_slot or 0)
    claimed = _claim_trials(deps, members, hold.batch_id, pack_id, job_slot, hold.capacity_slot, handoff,
                            Reason.PACK_CLAIMED, work.time_limit(deps.settings))
    if not claimed:
        return False
    if hold.capacity_slot is not None:
        deps.repo.set_capacity_trials(hold.capacity_slot, hold.batch_id, len(claimed))
    deps.repo.update_slot(job.job_id, job_slot, hold.batch_id, trials=len(claimed), finishing_since=None,
                          waits_for_more=stage.takes_handoffs(spec, deps.settings))
    return True


def _claim_trials(deps: Deps, members: list[Trial], batch_id: str, pack_id: str | None, slot: int,
                  capacity_slot: int | None, handoff: int | None, reason: Reason, time_limit: int) -> list[Trial]:
    """WAITING -> LAUNCHING as each trial's next attempt, with its stage's time limit; those no longer
    waiting for it are left out."""
    now, claimed = deps.now(), []
    for t in members:
        where = f"pack {pack_id}, " if pack_id else ""
        change = TrialChange(t.trial_id, TrialState.LAUNCHING, reason,
                             f"{where}slot {slot}, capacity {capacity_slot}, attempt {t.attempt + 1}",
                             expect=frozenset({TrialState.WAITING}), attempt=t.attempt,
                             changes={"slot": slot, "capacity_slot": capacity_slot, "attempt": t.attempt + 1,
                                      "batch_id": batch_id, "pack_id": pack_id, "handoff": handoff,
                                      "time_limit_seconds": time_limit})
        updated = deps.repo.update_trial(t.job_id, t.trial_id, lambda cur, c=change: c.apply(cur, now))
        if updated is not None:
            claimed.append(updated)
    return claimed
