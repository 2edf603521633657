"""Slots belong to one attempt: a stale handler ending attempt 1 never frees what attempt 2 holds.
The same interleaving runs on the Firestore emulator in tests/integration/test_firestore_slots.py."""
from __future__ import annotations

import dataclasses

from tests.unit.conftest import job_message, spec_dict
from tests.unit.test_handlers import submit
from zygarde.domain.model import TrialState
from zygarde.service_layer.lifecycle import trial_ended
from zygarde.service_layer.scheduling import dispatch


def two_ticks_on_one_stale_snapshot(deps) -> None:
    """Under a cap of 2, job-1 (max_parallel 2) runs t0000 and t0001 and the same owner's job-2
    waits. t0000's batch dies; two reconciler ticks both read it RUNNING. The first retries it
    (attempt 2 launches into the freed slots), the second's state update is refused, then a
    dispatch runs. Slots released per attempt leave 2 batches running, not 3."""
    deps.settings = dataclasses.replace(deps.settings, max_concurrent_batches=2)
    submit(job_message(spec_dict(max_parallel=2)), deps)
    submit(job_message(spec_dict(job_id="job-2", max_parallel=2), message_id="m2"), deps)
    stale = deps.repo.get_trial("job-1", "t0000")
    assert stale.state is TrialState.RUNNING and len(deps.launcher.running) == 2
    deps.launcher.finish(stale.batch_id, "FAILED", "executor lost")
    trial_ended(deps, stale, False, "BatchDied", "batch died", True)  # tick 1
    dispatch(deps)
    second = deps.repo.get_trial("job-1", "t0000")
    assert second.state is TrialState.RUNNING and second.attempt == 2
    assert trial_ended(deps, stale, False, "BatchDied", "batch died", True) is None  # tick 2: refused
    dispatch(deps)


def assert_slots_held_by_running_attempts(deps) -> None:
    running = {t.trial_id: t for t in deps.repo.active_trials()}
    assert len(deps.launcher.running) == len(running) == 2
    capacity = deps.repo.capacity_holders()
    assert {(h.trial_id, h.attempt) for h in capacity.values()} == {(t.trial_id, t.attempt) for t in running.values()}
    assert {(s, h.trial_id, h.attempt, h.batch_id) for s, h in deps.repo.slot_holders("job-1").items()} == {
        (t.slot, t.trial_id, t.attempt, t.batch_id) for t in running.values()}


def test_a_stale_tick_does_not_free_the_slots_of_the_next_attempt(deps):
    two_ticks_on_one_stale_snapshot(deps)
    assert_slots_held_by_running_attempts(deps)
    assert deps.repo.get_trial("job-1", "t0000").attempt == 2


def test_release_is_conditional_on_the_attempt(deps):
    repo = deps.repo
    assert repo.claim_slot("job-1", 0, "t0000", "now", attempt=2, batch_id="zyg-job-1-t0000-a2")
    assert repo.claim_capacity(1, "job-1", "t0000", "now", attempt=2, batch_id="zyg-job-1-t0000-a2")
    repo.release_slot("job-1", 0, "t0000", attempt=1)
    repo.release_capacity(1, "job-1", "t0000", attempt=1)
    assert repo.slot_holders("job-1")[0].attempt == 2 and repo.capacity_holders()[1].batch_id == "zyg-job-1-t0000-a2"
    repo.release_slot("job-1", 0, "t0000", attempt=2)
    repo.release_capacity(1, "job-1", "t0000", attempt=2)
    assert repo.slot_holders("job-1") == {} and repo.capacity_holders() == {}
