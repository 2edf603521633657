"""Slot ownership per batch on the Firestore emulator (the in-memory twin: tests/unit/test_slot_release.py)."""
from __future__ import annotations


import pytest

from tests.unit.test_slot_release import assert_slots_held_by_running_attempts, two_ticks_on_one_stale_snapshot
from tests.unit.test_slot_release import test_release_is_conditional_on_the_batch  # noqa: F401 - run here on Firestore

pytestmark = pytest.mark.integration


def test_a_stale_tick_does_not_free_the_slots_of_the_next_attempt(deps):
    two_ticks_on_one_stale_snapshot(deps)
    assert_slots_held_by_running_attempts(deps)
