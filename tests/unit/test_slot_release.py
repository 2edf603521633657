"""Slots belong to one batch: a stale handler ending attempt 1 never frees what attempt 2's batch holds.
The same interleaving runs on the Firestore emulator in tests/integration/test_firestore_slots.py."""
from __future__ import annotations

import dataclasses

from tests.unit.conftest import job_message, spec_dict
from tests.unit.test_handlers import submit
from zygarde.domain.messages import AttemptEnded, PlaceWork, Retry
from zygarde.domain.model import TrialState
from zygarde.domain.reasons import Reason
from zygarde.service_layer import messagebus
from zygarde.service_layer.scheduling_board import SlotHold


def two_ticks_on_one_stale_snapshot(deps) -> None:
    """Under a cap of 2, job-1 (max_parallel 2) runs t0000 and t0001 and the same owner's job-2
    waits. t0000's batch dies; two reconciler ticks both read it RUNNING. The first retries it
    (attempt 2 launches into the freed slots), the second's is refused, then a placement runs.
    Slots released per batch leave 2 batches running, not 3."""
    deps.settings = dataclasses.replace(deps.settings, max_concurrent_batches=2)
    submit(job_message(spec_dict(max_parallel=2)), deps)
    submit(job_message(spec_dict(job_id="job-2", max_parallel=2), message_id="m2"), deps)
    stale = deps.repo.get_trial("job-1", "t0000")
    assert stale.state is TrialState.RUNNING and len(deps.launcher.running) == 2
    deps.launcher.finish(stale.batch_id, "FAILED", "executor lost")
    died = AttemptEnded("job-1", "t0000", stale.attempt, Reason.BATCH_DIED, "batch died", Retry.IF_ATTEMPTS_LEFT)
    messagebus.handle(died, deps)  # tick 1
    second = deps.repo.get_trial("job-1", "t0000")
    assert second.state is TrialState.RUNNING and second.attempt == 2
    messagebus.handle(died, deps)  # tick 2, on the same stale snapshot: refused
    assert deps.repo.get_trial("job-1", "t0000") == second
    messagebus.handle(PlaceWork(), deps)


def assert_slots_held_by_running_attempts(deps) -> None:
    running = {t.trial_id: t for t in deps.repo.active_trials()}
    assert len(deps.launcher.running) == len(running) == 2
    capacity = deps.repo.capacity_holders()  # slots belong to the running attempts' batches
    assert {(s, h.batch_id) for s, h in capacity.items()} == {(t.capacity_slot, t.batch_id) for t in running.values()}
    assert {(s, h.batch_id) for s, h in deps.repo.slot_holders("job-1").items()} == {
        (t.slot, t.batch_id) for t in running.values()}


def test_a_stale_tick_does_not_free_the_slots_of_the_next_attempt(deps):
    two_ticks_on_one_stale_snapshot(deps)
    assert_slots_held_by_running_attempts(deps)
    assert deps.repo.get_trial("job-1", "t0000").attempt == 2


def test_release_is_conditional_on_the_batch(deps):
    repo = deps.repo
    hold = SlotHold("zyg-job-1-t0000-a2", "job-1", "now", "ana@example.com", 1, capacity_slot=1)
    assert repo.claim_slot("job-1", 0, hold) and repo.claim_capacity(1, hold)
    repo.release_slot("job-1", 0, "zyg-job-1-t0000-a1")
    repo.release_capacity(1, "zyg-job-1-t0000-a1")
    assert repo.slot_holders("job-1")[0].batch_id == repo.capacity_holders()[1].batch_id == "zyg-job-1-t0000-a2"
    repo.release_slot("job-1", 0, "zyg-job-1-t0000-a2")
    repo.release_capacity(1, "zyg-job-1-t0000-a2")
    assert repo.slot_holders("job-1") == {} and repo.capacity_holders() == {}
