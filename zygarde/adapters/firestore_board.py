"""The scheduling board on Firestore (service_layer/scheduling_board.py).

zygarde_capacity/{n}: one document per slot of the global cap, kept once created, `held` by a batch or
free, so that free slots are found with a query (held == false, with a limit) and an owner's running trials
with a sum over its slots; zygarde_jobs/{job}/slots/{n}: exists while a batch of the job holds slot n;
zygarde_ready/{job}: exists while the job has work to place, ordered by `priority` (the owner's running
trials as a hint, then the job's age). Each change is a compare-and-set on one document, claimed and
released as a batch: a stale handler never frees another batch's slot.
"""
from __future__ import annotations

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from zygarde.adapters.firestore_support import transient
from zygarde.domain.errors import TransientError
from zygarde.config import collection
from zygarde.service_layer.scheduling_board import ReadyJob, SchedulingBoard, SlotHold


_CAS_TRIES = 8


def _hold_doc(hold: SlotHold) -> dict:
    return {"batch_id": hold.batch_id, "job_id": hold.job_id, "claimed_at": hold.claimed_at, "owner": hold.owner,
            "trials": hold.trials, "properties": dict(hold.properties), "capacity_slot": hold.capacity_slot,
            "waits_for_more": hold.waits_for_more, "finishing_since": hold.finishing_since,
            "ttl_seconds": hold.ttl_seconds}


def _hold(data: dict) -> SlotHold:
    return SlotHold(batch_id=data.get("batch_id") or "", job_id=data.get("job_id") or "",
                    claimed_at=data.get("claimed_at") or "", owner=data.get("owner") or "",
                    trials=int(data.get("trials") or 0), properties=dict(data.get("properties") or {}),
                    capacity_slot=data.get("capacity_slot"), waits_for_more=bool(data.get("waits_for_more")),
                    finishing_since=data.get("finishing_since"), ttl_seconds=data.get("ttl_seconds"))


def _held(data: dict | None) -> bool:
    return data is not None and bool(data.get("held", True))  # a slot document from before `held` is held


def _free(slot: int) -> dict:
    return {"slot": slot, "held": False, "batch_id": "", "job_id": "", "owner": "", "trials": 0}


def _priority(ready: ReadyJob) -> str:
    owner_running, created_at, job_id = ready.order
    return f"{owner_running:09d}|{created_at}|{job_id}"


class FirestoreSchedulingBoard(SchedulingBoard):
    _db: firestore.Client
    _capacity_known = 0  # slots 0..n-1 known to have their document (checked once per process)

    def _capacity(self):
        return self._db.collection(collection("capacity"))

    def _job_slots(self, job_id: str):
        return self._db.collection(collection("jobs")).document(job_id).collection(collection("job_slots"))

    def _ready(self):
        return self._db.collection(collection("ready"))

    def _change(self, ref, change) -> bool:
        """Apply `change(data or None) -> new data | None | False` to one document, compare-and-set: written
        (a dict), deleted (None) or left (False) only if the document is still as read; read again when it
        changed meanwhile. No transaction, so claims racing for one slot never wait on each other's locks.
        True when something was written."""
        for _ in range(_CAS_TRIES):
            snap = ref.get()
            new = change(snap.to_dict() if snap.exists else None)
            if new is False:
                return False
            try:
                if not snap.exists:
                    if new is not None:
                        ref.create(new)
                elif new is None:
                    ref.delete(option=self._db.write_option(last_update_time=snap.update_time))
                else:
                    ref.update(new, option=self._db.write_option(last_update_time=snap.update_time))
                return True
            except (gexc.FailedPrecondition, gexc.AlreadyExists, gexc.NotFound):
                continue  # changed meanwhile: look again
        raise TransientError(f"firestore contention on {ref.path}")

    # --- the global cap
    @transient
    def claim_capacity(self, slot: int, hold: SlotHold) -> bool:
        return self._change(self._capacity().document(str(slot)), lambda data: False if _held(data) else {
            **_hold_doc(hold), "slot": slot, "held": True})

    @transient
    def release_capacity(self, slot: int, batch_id: str) -> None:
        self._change(self._capacity().document(str(slot)), lambda data: _free(slot)
                     if _held(data) and data.get("batch_id") == batch_id else False)

    @transient
    def set_capacity_trials(self, slot: int, batch_id: str, trials: int) -> None:
        self._change(self._capacity().document(str(slot)), lambda data: {**data, "trials": trials}
                     if _held(data) and data.get("batch_id") == batch_id and data.get("trials") != trials else False)

    @transient
    def capacity_holders(self) -> dict[int, SlotHold]:
        return {int(s.id): _hold(s.to_dict()) for s in self._capacity().stream() if _held(s.to_dict())}

    @transient
    def free_capacity(self, cap: int, limit: int) -> list[int]:
        self._ensure_capacity(cap)
        # documents come in id order, as text ("10" before "2"): after the cap was lowered, the free slots
        # above it may come first, so read on until `limit` below it are found (at most the old cap's)
        found: list[int] = []
        for snap in self._capacity().where(filter=FieldFilter("held", "==", False)).stream():
            if int(snap.id) < cap:
                found.append(int(snap.id))
                if len(found) == limit:
                    break
        return sorted(found)

    @transient
    def owner_running(self, owner: str) -> int:
        query = self._capacity().where(filter=FieldFilter("owner", "==", owner)).sum("trials", alias="trials")
        return int(next((r.value for rows in query.get() for r in rows), 0) or 0)

    def _ensure_capacity(self, cap: int) -> None:
        """Every slot below the cap has its document (free when new); slot documents from before `held`
        are marked held (the reconciler frees them once their batch has gone)."""
        if self._capacity_known >= cap:
            return
        refs = [self._capacity().document(str(n)) for n in range(cap)]
        snaps = {s.id: s for s in self._db.get_all(refs)}
        for n, ref in enumerate(refs):
            snap = snaps.get(str(n))
            if snap is None or not snap.exists:
                try:
                    ref.create(_free(n))
                except gexc.AlreadyExists:
                    pass
            elif "held" not in snap.to_dict():
                ref.update({"held": True, "slot": n})
        self._capacity_known = cap

    # --- a job's max_parallel
    @transient
    def claim_slot(self, job_id: str, slot: int, hold: SlotHold) -> bool:
        try:
            self._job_slots(job_id).document(str(slot)).create(_hold_doc(hold))
        except gexc.AlreadyExists:
            return False
        return True

    @transient
    def release_slot(self, job_id: str, slot: int, batch_id: str) -> None:
        self._change(self._job_slots(job_id).document(str(slot)),
                     lambda data: None if data is not None and data.get("batch_id") == batch_id else False)

    @transient
    def update_slot(self, job_id: str, slot: int, batch_id: str, **changes) -> None:
        def change(data):
            if data is None or data.get("batch_id") != batch_id:
                return False
            new = {**data, **changes}
            return new if new != data else False

        self._change(self._job_slots(job_id).document(str(slot)), change)

    @transient
    def slot_holders(self, job_id: str) -> dict[int, SlotHold]:
        return {int(s.id): _hold(s.to_dict()) for s in self._job_slots(job_id).stream()}

    # --- the ready queue
    @transient
    def mark_ready(self, ready: ReadyJob) -> None:
        self._ready().document(ready.job_id).set({"job_id": ready.job_id, "owner": ready.owner,
                                                  "created_at": ready.created_at,
                                                  "owner_running": ready.owner_running, "priority": _priority(ready)})

    @transient
    def clear_ready(self, job_id: str) -> None:
        self._ready().document(job_id).delete()

    @transient
    def ready_jobs(self, limit: int, after: tuple | None = None) -> list[ReadyJob]:
        query = self._ready().order_by("priority")
        if after is not None:
            query = query.start_after({"priority": _priority(ReadyJob(after[2], "", after[1], after[0]))})
        return [ReadyJob(d["job_id"], d["owner"], d["created_at"], int(d.get("owner_running") or 0))
                for d in (s.to_dict() for s in query.limit(limit).stream())]
