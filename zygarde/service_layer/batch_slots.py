"""A batch's slots: they belong to the batch, from its claim until it ends or is told to. SettleBatch
(a trial of the batch ended): when none of its work is left, a batch that waits for more keeps its slots
and is marked finishing (it will report idle; if its job has ended, it is told to exit), any other has
them freed. ReleaseBatch frees them, and puts
the job back in the ready queue when it has work. CancelBatch cancels a batch the job no longer wants."""
from __future__ import annotations

from zygarde.domain import search
from zygarde.domain.contracts import EXIT, Handoff, handoff_object
from zygarde.domain.errors import BatchNotFound, PreconditionFailed
from zygarde.domain.messages import BatchCancelled, CancelBatch, Message, PlaceWork, ReleaseBatch, SettleBatch
from zygarde.domain.model import ACTIVE, JobState, TrialState
from zygarde.service_layer.deps import Deps, log
from zygarde.service_layer.job_specs import job_spec
from zygarde.service_layer.locations import handoff_prefix
from zygarde.service_layer.scheduling_board import SlotHold
from zygarde.service_layer.unit_of_work import work_is_ready


def settle_batch(cmd: SettleBatch, deps: Deps) -> list[Message]:
    if deps.repo.batch_trials(cmd.job_id, cmd.batch_id, ACTIVE, limit=1):
        return []  # more of its work runs
    slot, hold = job_slot_of(deps, cmd.job_id, cmd.batch_id)
    if hold is None:
        return []  # already freed
    if not (hold.waits_for_more and _alive(deps, cmd.batch_id)):
        return [ReleaseBatch(cmd.job_id, cmd.batch_id)]
    job = deps.repo.get_job(cmd.job_id)
    if job is None or job.state is not JobState.RUNNING:  # it would wait for work that will not come
        return tell_to_exit(deps, cmd.job_id, cmd.batch_id)
    if hold.finishing_since is None:
        deps.repo.update_slot(cmd.job_id, slot, cmd.batch_id, finishing_since=deps.now())
    return []  # it reports idle next: BatchIdle hands it more work or lets it go


def release_batch(cmd: ReleaseBatch, deps: Deps) -> list[Message]:
    slot, hold = job_slot_of(deps, cmd.job_id, cmd.batch_id)
    if hold is None and cmd.capacity_slot is None:
        return []  # freed already
    capacity = cmd.capacity_slot if cmd.capacity_slot is not None else hold.capacity_slot
    if capacity is not None:
        deps.repo.release_capacity(capacity, cmd.batch_id)
    if hold is not None:
        deps.repo.release_slot(cmd.job_id, slot, cmd.batch_id)
        log.info("batch released job_id=%s batch_id=%s slot=%s capacity=%s", cmd.job_id, cmd.batch_id, slot, capacity)
    job = deps.repo.get_job(cmd.job_id)
    if job is not None and job.state is JobState.RUNNING and (
            search.is_adaptive(job_spec(job)) or deps.repo.list_trials(cmd.job_id, [TrialState.WAITING], limit=1)):
        return work_is_ready(deps, job)  # its freed job slot may take more of its work
    return [PlaceWork()]


def cancel_batch(cmd: CancelBatch, deps: Deps) -> list[Message]:
    try:
        live = not deps.launcher.get(cmd.batch_id).is_ending
    except BatchNotFound:
        live = False
    if live:
        deps.launcher.cancel(cmd.batch_id)
        log.info("batch cancelled job_id=%s batch_id=%s", cmd.job_id, cmd.batch_id)
        return [BatchCancelled(cmd.job_id, cmd.batch_id), SettleBatch(cmd.job_id, cmd.batch_id)]
    return []


def tell_to_exit(deps: Deps, job_id: str, batch_id: str, n: int | None = None) -> list[Message]:
    """Tell a batch that waits for more work to end now (its handoff number n: by default the one after
    those written), and free its slots."""
    prefix = handoff_prefix(deps.settings, job_id, batch_id)
    n = n if n is not None else 1 + len(deps.blobs.list(prefix))
    try:
        deps.blobs.write_bytes(handoff_object(prefix, n), Handoff(main=EXIT).to_json().encode(), "application/json",
                               if_generation_match=0)
        log.info("batch told to exit job_id=%s batch_id=%s handoff=%d", job_id, batch_id, n)
    except PreconditionFailed:
        pass  # answered already
    return [ReleaseBatch(job_id, batch_id)]


def job_slot_of(deps: Deps, job_id: str, batch_id: str) -> tuple[int | None, SlotHold | None]:
    """(slot, hold) of the job slot the batch holds, or (None, None)."""
    return next(((s, h) for s, h in deps.repo.slot_holders(job_id).items() if h.batch_id == batch_id), (None, None))


def _alive(deps: Deps, batch_id: str) -> bool:
    try:
        return not deps.launcher.get(batch_id).is_ending
    except BatchNotFound:
        return False
