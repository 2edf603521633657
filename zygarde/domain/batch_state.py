"""Dataproc batch states, as the API spells them, and the one definition of which are final."""
from __future__ import annotations

import enum


class BatchState(enum.StrEnum):
    STATE_UNSPECIFIED = "STATE_UNSPECIFIED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    CANCELLING = "CANCELLING"
    CANCELLED = "CANCELLED"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


TERMINAL = frozenset({BatchState.SUCCEEDED, BatchState.FAILED, BatchState.CANCELLED})
ENDING = TERMINAL | {BatchState.CANCELLING}  # ended, or being cancelled: it takes no more work
