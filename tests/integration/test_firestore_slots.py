"""Slot ownership per attempt on the Firestore emulator (the in-memory twin: tests/unit/test_slot_release.py)."""
from __future__ import annotations


import pytest

from tests.unit.test_slot_release import assert_slots_held_by_running_attempts, two_ticks_on_one_stale_snapshot

pytestmark = pytest.mark.integration


def test_a_stale_tick_does_not_free_the_slots_of_the_next_attempt(deps):
    two_ticks_on_one_stale_snapshot(deps)
    assert_slots_held_by_running_attempts(deps)


def test_release_is_conditional_on_the_attempt(repo):
    assert repo.claim_slot("job-1", 0, "t0000", "now", attempt=2, batch_id="zyg-job-1-t0000-a2")
    assert repo.claim_capacity(1, "job-1", "t0000", "now", attempt=2, batch_id="zyg-job-1-t0000-a2")
    repo.release_slot("job-1", 0, "t0000", attempt=1)
    repo.release_capacity(1, "job-1", "t0000", attempt=1)
    assert repo.slot_holders("job-1")[0].attempt == 2
    assert repo.capacity_holders()[1].batch_id == "zyg-job-1-t0000-a2"
    repo.release_slot("job-1", 0, "t0000", attempt=2)
    repo.release_capacity(1, "job-1", "t0000", attempt=2)
    assert repo.slot_holders("job-1") == {} and repo.capacity_holders() == {}
