"""The scheduling board: the small summary that placing work reads instead of every active trial and
every running job. Slots belong to batches.

- capacity slots (zygarde_capacity/{n}, n < the global cap): held by a batch, carrying its job, owner
  and the number of trials given to it, so that per-owner running counts and free slots are read
  without reading trials;
- job slots (zygarde_jobs/{job}/slots/{n}, n < max_parallel): held by a batch of the job, with the
  Spark properties it was created with and, once its work is done and it waits for more, since when;
- the ready queue (zygarde_ready/{job}): one document per job that has work to place, read in order of
  its owner's running trials (a hint, checked when read) then age, with a limit.

Each document is written by the few events of its own batch or job, so none is hot.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Mapping


@dataclass(frozen=True)
class SlotHold:
    """A batch's hold on a slot."""

    batch_id: str
    job_id: str
    claimed_at: str  # ISO 8601
    owner: str = ""
    trials: int = 0  # trials given to the batch (fairness counts trials)
    properties: Mapping[str, str] = field(default_factory=dict)  # the Spark properties it was created with
    capacity_slot: int | None = None  # (job slots) the capacity slot the same batch holds
    waits_for_more: bool = False  # (job slots) its current work asks it to wait for more when done
    finishing_since: str | None = None  # (job slots) its work is done and it will report idle


@dataclass(frozen=True)
class ReadyJob:
    """A job with work to place."""

    job_id: str
    owner: str
    created_at: str
    owner_running: int = 0  # the owner's running trials when this was written: a hint, checked when read

    @property
    def order(self) -> tuple:
        return self.owner_running, self.created_at, self.job_id


class SchedulingBoard(abc.ABC):
    # --- the global cap
    @abc.abstractmethod
    def claim_capacity(self, slot: int, hold: SlotHold) -> bool:
        """Take capacity slot `slot` for a batch; False if it is held (atomically)."""

    @abc.abstractmethod
    def release_capacity(self, slot: int, batch_id: str) -> None:
        """Free the slot if that batch holds it (atomically: never another batch's)."""

    @abc.abstractmethod
    def set_capacity_trials(self, slot: int, batch_id: str, trials: int) -> None:
        """Record the trials now given to the batch holding the slot (a handoff)."""

    @abc.abstractmethod
    def capacity_holders(self) -> dict[int, SlotHold]:
        """Every held capacity slot (the reconciler's view; placing work reads free_capacity instead)."""

    @abc.abstractmethod
    def free_capacity(self, cap: int, limit: int) -> list[int]:
        """Up to `limit` free slot numbers below `cap`."""

    @abc.abstractmethod
    def owner_running(self, owner: str) -> int:
        """The trials given to the owner's batches that hold capacity now."""

    # --- a job's max_parallel
    @abc.abstractmethod
    def claim_slot(self, job_id: str, slot: int, hold: SlotHold) -> bool:
        """Take the job's slot `slot` for a batch; False if it is held (atomically)."""

    @abc.abstractmethod
    def release_slot(self, job_id: str, slot: int, batch_id: str) -> None:
        """Free the job slot if that batch holds it."""

    @abc.abstractmethod
    def update_slot(self, job_id: str, slot: int, batch_id: str, **changes) -> None:
        """Change the hold of the batch holding the job slot (finishing_since, waits_for_more, trials)."""

    @abc.abstractmethod
    def slot_holders(self, job_id: str) -> dict[int, SlotHold]:
        """The job's held slots."""

    # --- the ready queue
    @abc.abstractmethod
    def mark_ready(self, ready: ReadyJob) -> None:
        """Put (or keep) the job in the ready queue, with this hint."""

    @abc.abstractmethod
    def clear_ready(self, job_id: str) -> None: ...

    @abc.abstractmethod
    def ready_jobs(self, limit: int, after: tuple | None = None) -> list[ReadyJob]:
        """The first `limit` ready jobs by (owner_running hint, age), after `after` (a ReadyJob.order)."""
