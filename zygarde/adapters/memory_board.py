"""The scheduling board in memory (the fake beside adapters/firestore_board.py)."""
from __future__ import annotations

import dataclasses
import threading
from collections import defaultdict

from zygarde.service_layer.scheduling_board import ReadyJob, SchedulingBoard, SlotHold


class MemorySchedulingBoard(SchedulingBoard):
    def __init__(self) -> None:
        self._board_lock = threading.RLock()
        self.capacity: dict[int, SlotHold] = {}
        self.slots: dict[str, dict[int, SlotHold]] = defaultdict(dict)
        self.ready: dict[str, ReadyJob] = {}
        self.board_writes = 0

    def claim_capacity(self, slot: int, hold: SlotHold) -> bool:
        with self._board_lock:
            if slot in self.capacity:
                return False
            self.capacity[slot] = hold
            self.board_writes += 1
            return True

    def release_capacity(self, slot: int, batch_id: str) -> None:
        with self._board_lock:
            if (hold := self.capacity.get(slot)) is not None and hold.batch_id == batch_id:
                del self.capacity[slot]
                self.board_writes += 1

    def set_capacity_trials(self, slot: int, batch_id: str, trials: int) -> None:
        with self._board_lock:
            if (hold := self.capacity.get(slot)) is not None and hold.batch_id == batch_id and hold.trials != trials:
                self.capacity[slot] = dataclasses.replace(hold, trials=trials)
                self.board_writes += 1

    def capacity_holders(self) -> dict[int, SlotHold]:
        with self._board_lock:
            return dict(self.capacity)

    def free_capacity(self, cap: int, limit: int) -> list[int]:
        with self._board_lock:
            return [n for n in range(cap) if n not in self.capacity][:limit]

    def owner_running(self, owner: str) -> int:
        with self._board_lock:
            return sum(h.trials for h in self.capacity.values() if h.owner == owner)

    def claim_slot(self, job_id: str, slot: int, hold: SlotHold) -> bool:
        with self._board_lock:
            if slot in self.slots[job_id]:
                return False
            self.slots[job_id][slot] = hold
            self.board_writes += 1
            return True

    def release_slot(self, job_id: str, slot: int, batch_id: str) -> None:
        with self._board_lock:
            if (hold := self.slots[job_id].get(slot)) is not None and hold.batch_id == batch_id:
                del self.slots[job_id][slot]
                self.board_writes += 1

    def update_slot(self, job_id: str, slot: int, batch_id: str, **changes) -> None:
        with self._board_lock:
            hold = self.slots[job_id].get(slot)
            if hold is not None and hold.batch_id == batch_id and (new := dataclasses.replace(hold, **changes)) != hold:
                self.slots[job_id][slot] = new
                self.board_writes += 1

    def slot_holders(self, job_id: str) -> dict[int, SlotHold]:
        with self._board_lock:
            return dict(self.slots.get(job_id, {}))

    def mark_ready(self, ready: ReadyJob) -> None:
        with self._board_lock:
            if self.ready.get(ready.job_id) != ready:
                self.ready[ready.job_id] = ready
                self.board_writes += 1

    def clear_ready(self, job_id: str) -> None:
        with self._board_lock:
            if self.ready.pop(job_id, None) is not None:
                self.board_writes += 1

    def ready_jobs(self, limit: int, after: tuple | None = None) -> list[ReadyJob]:
        with self._board_lock:
            queue = sorted((r for r in self.ready.values() if after is None or r.order > after), key=lambda r: r.order)
            return queue[:limit]
