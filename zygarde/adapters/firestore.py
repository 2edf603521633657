"""JobRepository on Firestore (native mode).

Layout: zygarde_jobs/{job} holds the job header; zygarde_jobs/{job}/trials/{trial} one document per
trial; zygarde_jobs/{job}/slots/{n} exists while slot n is held. Each update is a transaction on one
document, so concurrent handlers of different trials never contend.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Callable

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from zygarde.adapters.records import job_from_dict, job_to_dict, trial_from_dict, trial_to_dict
from zygarde.config import collection
from zygarde.domain.errors import NotFound, TransientError
from zygarde.domain.model import Job, JobState, Trial, TrialState
from zygarde.service_layer.ports import JobRepository, SlotHold

_TRANSIENT = (gexc.ServiceUnavailable, gexc.DeadlineExceeded, gexc.InternalServerError, gexc.TooManyRequests,
              gexc.Aborted)
_BATCH_LIMIT = 400


def _transient(func):
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except _TRANSIENT as exc:
            raise TransientError(f"firestore: {exc}") from exc
    wrapper.__name__, wrapper.__doc__ = func.__name__, func.__doc__
    return wrapper


class FirestoreJobRepository(JobRepository):
    def __init__(self, client: firestore.Client):
        self._db = client
        self._jobs = client.collection(collection("jobs"))

    def _job_ref(self, job_id: str):
        return self._jobs.document(job_id)

    def _trials(self, job_id: str):
        return self._job_ref(job_id).collection(collection("trials"))

    def _slots(self, job_id: str):
        return self._job_ref(job_id).collection(collection("job_slots"))

    @_transient
    def add_job(self, job: Job, trials: list[Trial]) -> bool:
        if self._job_ref(job.job_id).get().exists:
            return False
        # Trials first, the header last: the header's existence marks a complete job, and a
        # redelivery after a crash rewrites the same (deterministic) trial documents.
        for start in range(0, len(trials), _BATCH_LIMIT):
            batch = self._db.batch()
            for t in trials[start:start + _BATCH_LIMIT]:
                batch.set(self._trials(job.job_id).document(t.trial_id), trial_to_dict(t))
            batch.commit()
        try:
            self._job_ref(job.job_id).create(job_to_dict(job))
        except gexc.AlreadyExists:
            return False
        return True

    @_transient
    def get_job(self, job_id: str) -> Job | None:
        snap = self._job_ref(job_id).get()
        return job_from_dict(snap.to_dict()) if snap.exists else None

    def _update(self, ref, decode, encode, change, what: str):
        @firestore.transactional
        def run(tx):
            snap = ref.get(transaction=tx)
            if not snap.exists:
                raise NotFound(f"{what} not found")
            new = change(decode(snap.to_dict()))
            if new is not None:
                tx.set(ref, encode(new))
            return new

        return run(self._db.transaction())

    @_transient
    def update_job(self, job_id: str, change: Callable[[Job], Job | None]) -> Job | None:
        return self._update(self._job_ref(job_id), job_from_dict, job_to_dict, change, f"job {job_id}")

    @_transient
    def list_jobs(self, owner: str | None = None, states: list[JobState] | None = None, limit: int = 100) -> list[Job]:
        query = self._jobs
        if owner is not None:
            query = query.where(filter=FieldFilter("owner", "==", owner))
        if states is not None:
            query = query.where(filter=FieldFilter("state", "in", [s.value for s in states]))
        jobs = [job_from_dict(s.to_dict()) for s in query.stream()]
        return sorted(jobs, key=lambda j: j.created_at, reverse=True)[:limit]

    @_transient
    def get_trial(self, job_id: str, trial_id: str) -> Trial | None:
        snap = self._trials(job_id).document(trial_id).get()
        return trial_from_dict(snap.to_dict()) if snap.exists else None

    @_transient
    def list_trials(self, job_id: str, states: Sequence[TrialState] | None = None,
                    limit: int | None = None) -> list[Trial]:
        query = self._trials(job_id)
        if states is not None:
            query = query.where(filter=FieldFilter("state", "in", [s.value for s in states]))
        if limit is not None:
            query = query.limit(limit)
        return sorted((trial_from_dict(s.to_dict()) for s in query.stream()), key=lambda t: t.index)

    @_transient
    def update_trial(self, job_id: str, trial_id: str, change: Callable[[Trial], Trial | None]) -> Trial | None:
        return self._update(self._trials(job_id).document(trial_id), trial_from_dict, trial_to_dict, change,
                            f"trial {job_id}/{trial_id}")

    @_transient
    def add_trial(self, trial: Trial) -> bool:
        try:
            self._trials(trial.job_id).document(trial.trial_id).create(trial_to_dict(trial))
        except gexc.AlreadyExists:
            return False
        return True

    @_transient
    def active_trials(self) -> list[Trial]:
        query = self._db.collection_group(collection("trials")).where(
            filter=FieldFilter("state", "in", [TrialState.LAUNCHING.value, TrialState.RUNNING.value]))
        return [trial_from_dict(s.to_dict()) for s in query.stream()]

    @_transient
    def claim_slot(self, job_id: str, slot: int, trial_id: str, now: str) -> bool:
        try:
            self._slots(job_id).document(str(slot)).create({"trial_id": trial_id, "claimed_at": now})
        except gexc.AlreadyExists:
            return False
        return True

    @_transient
    def release_slot(self, job_id: str, slot: int, trial_id: str) -> None:
        self._delete_if_held(self._slots(job_id).document(str(slot)), {"trial_id": trial_id})

    def _delete_if_held(self, ref, holder: dict[str, str]) -> None:
        """Delete a slot document only if `holder` still holds it (one-document transaction)."""

        @firestore.transactional
        def run(tx):
            snap = ref.get(transaction=tx)
            if snap.exists and all(snap.get(k) == v for k, v in holder.items()):
                tx.delete(ref)

        run(self._db.transaction())

    @_transient
    def slot_holders(self, job_id: str) -> dict[int, SlotHold]:
        return {int(s.id): SlotHold(s.get("trial_id"), s.get("claimed_at")) for s in self._slots(job_id).stream()}

    def _capacity(self):
        return self._db.collection(collection("capacity"))

    @_transient
    def claim_capacity(self, slot: int, job_id: str, trial_id: str, now: str) -> bool:
        try:
            self._capacity().document(str(slot)).create({"job_id": job_id, "trial_id": trial_id, "claimed_at": now})
        except gexc.AlreadyExists:
            return False
        return True

    @_transient
    def release_capacity(self, slot: int, job_id: str, trial_id: str) -> None:
        self._delete_if_held(self._capacity().document(str(slot)), {"job_id": job_id, "trial_id": trial_id})

    @_transient
    def capacity_holders(self) -> dict[int, SlotHold]:
        return {int(s.id): SlotHold(s.get("trial_id"), s.get("claimed_at"), s.get("job_id"))
                for s in self._capacity().stream()}

    def _model(self, name: str):
        return self._db.collection(collection("models")).document(name)

    @_transient
    def register_model_version(self, name: str, job_id: str, record: dict) -> int:
        model = self._model(name)

        @firestore.transactional
        def run(tx):
            snap = model.get(transaction=tx)
            data = snap.to_dict() if snap.exists else {"name": name, "next_version": 1, "jobs": {}}
            if job_id in data["jobs"]:
                return data["jobs"][job_id]
            number = data["next_version"]
            tx.set(model.collection(collection("model_versions")).document(str(number)),
                   {**record, "job_id": job_id, "version": number})
            tx.set(model, {**data, "next_version": number + 1, "jobs": {**data["jobs"], job_id: number},
                           "latest_version": number})
            return number

        return run(self._db.transaction())

    @_transient
    def model_versions(self, name: str) -> list[dict]:
        docs = self._model(name).collection(collection("model_versions")).stream()
        return sorted((d.to_dict() for d in docs), key=lambda v: v["version"])

    @_transient
    def model_version(self, name: str, version: int) -> dict | None:
        snap = self._model(name).collection(collection("model_versions")).document(str(version)).get()
        return snap.to_dict() if snap.exists else None

    @_transient
    def set_alias(self, name: str, alias: str, version: int, moved_by: str, moved_at: str) -> dict:
        model = self._model(name)
        doc = model.collection(collection("model_aliases")).document(alias)

        @firestore.transactional
        def run(tx):
            if not model.collection(collection("model_versions")).document(str(version)).get(transaction=tx).exists:
                raise KeyError(f"model {name!r} has no version {version}")
            snap = doc.get(transaction=tx)
            history = (snap.to_dict() or {}).get("history", []) if snap.exists else []
            move = {"version": version, "moved_by": moved_by, "moved_at": moved_at}
            record = {"alias": alias, **move, "history": [*history, move]}
            tx.set(doc, record)
            return record

        return run(self._db.transaction())

    @_transient
    def model_aliases(self, name: str) -> dict[str, dict]:
        return {d.id: d.to_dict() for d in self._model(name).collection(collection("model_aliases")).stream()}

