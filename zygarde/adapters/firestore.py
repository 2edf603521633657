"""JobRepository on Firestore (native mode).

Layout: zygarde_jobs/{job} holds the job header; zygarde_jobs/{job}/trials/{trial} one document per
trial; the scheduling board (slots and the ready queue) is adapters/firestore_board.py, the model registry
adapters/firestore_models.py. Each update is a transaction on one document, so concurrent handlers of
different trials never contend; a job and its trials are written in one batch.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Callable

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

from zygarde.adapters.firestore_board import FirestoreSchedulingBoard
from zygarde.adapters.firestore_models import FirestoreModelRegistry
from zygarde.adapters.firestore_support import transient
from zygarde.adapters.records import job_from_dict, job_to_dict, trial_from_dict, trial_to_dict
from zygarde.config import collection
from zygarde.domain.errors import NotFound, Unstorable
from zygarde.domain.model import ACTIVE, PREPARE, Job, JobState, Trial, TrialState
from zygarde.service_layer.ports import JobRepository

_BATCH_LIMIT = 400


class FirestoreJobRepository(FirestoreSchedulingBoard, FirestoreModelRegistry, JobRepository):
    def __init__(self, client: firestore.Client):
        self._db = client
        self._jobs = client.collection(collection("jobs"))

    def _job_ref(self, job_id: str):
        return self._jobs.document(job_id)

    def _trials(self, job_id: str):
        return self._job_ref(job_id).collection(collection("trials"))

    def add_job(self, job: Job, trials: list[Trial]) -> bool:
        """One batched write, the job's create first: all or nothing, and refused whole if the job
        exists. A value Firestore cannot hold is refused (Unstorable) before anything is written.
        A job of more than _BATCH_LIMIT trials is written in chunks, trials first and the job with
        the last chunk: a failure in between leaves trials that a redelivery completes (the trial
        documents are deterministic) or that the reconciler sweeps (orphan_jobs)."""
        try:
            return self._add_job(job, trials)
        except Unstorable:
            raise
        except (gexc.InvalidArgument, gexc.FailedPrecondition, ValueError, TypeError, UnicodeEncodeError) as exc:
            raise Unstorable(f"Firestore refuses the job document ({type(exc).__name__})") from exc

    @transient
    def _add_job(self, job: Job, trials: list[Trial]) -> bool:
        if self._job_ref(job.job_id).get().exists:
            return False
        try:
            docs = [(self._trials(job.job_id).document(t.trial_id), trial_to_dict(t)) for t in trials]
            chunks = [docs[i:i + _BATCH_LIMIT] for i in range(0, len(docs), _BATCH_LIMIT)] or [[]]
            batches = [self._db.batch() for _ in chunks]
            batches[-1].create(self._job_ref(job.job_id), job_to_dict(job))  # staged (encoded) first
            for batch, chunk in zip(batches, chunks):
                for ref, doc in chunk:
                    batch.set(ref, doc)
        except (ValueError, TypeError, OverflowError) as exc:  # encoding, before any write
            raise Unstorable(f"job {job.job_id} cannot be stored: {exc}") from exc
        try:
            for batch in batches:
                batch.commit()
        except gexc.AlreadyExists:
            return False
        return True

    @transient
    def orphan_jobs(self, created_before: str) -> list[str]:
        query = self._db.collection_group(collection("trials")).where(
            filter=FieldFilter("kind", "==", PREPARE)).where(
            filter=FieldFilter("state", "==", TrialState.WAITING.value))
        stale = {s.get("job_id") for s in query.stream() if (s.to_dict().get("created_at") or "") < created_before}
        if not stale:
            return []
        return sorted(s.id for s in self._db.get_all([self._job_ref(job_id) for job_id in stale]) if not s.exists)

    @transient
    def delete_orphan(self, job_id: str, created_before: str) -> int:
        job_ref, prepare_ref = self._job_ref(job_id), self._trials(job_id).document(PREPARE)
        refs = [r for r in self._trials(job_id).list_documents() if r.id != PREPARE] + [prepare_ref]

        @firestore.transactional
        def run(tx, chunk) -> bool:
            """Delete a chunk only while the job is still missing and its preparation still old."""
            prepare = prepare_ref.get(transaction=tx)
            if job_ref.get(transaction=tx).exists or not prepare.exists or \
                    (prepare.to_dict().get("created_at") or "") >= created_before:
                return False
            for ref in chunk:
                tx.delete(ref)
            return True

        deleted = 0
        for start in range(0, len(refs), _BATCH_LIMIT):
            chunk = refs[start:start + _BATCH_LIMIT]
            if not run(self._db.transaction(), chunk):
                break
            deleted += len(chunk)
        return deleted

    @transient
    def get_job(self, job_id: str) -> Job | None:
        snap = self._job_ref(job_id).get()
        return job_from_dict(snap.to_dict()) if snap.exists else None

    def _update(self, ref, decode, encode, change, what: str):
        """A value Firestore cannot hold (too large, beyond 64 bits, not UTF-8) raises Unstorable, as in
        add_job, and leaves the document as it was."""
        @firestore.transactional
        def run(tx):
            snap = ref.get(transaction=tx)
            if not snap.exists:
                raise NotFound(f"{what} not found")
            new = change(decode(snap.to_dict()))
            if new is not None:
                _write(lambda: tx.set(ref, encode(new)), what)
            return new

        return _refused_as_unstorable(lambda: run(self._db.transaction()), what)

    @transient
    def update_job(self, job_id: str, change: Callable[[Job], Job | None]) -> Job | None:
        return self._update(self._job_ref(job_id), job_from_dict, job_to_dict, change, f"job {job_id}")

    @transient
    def list_jobs(self, owner: str | None = None, states: list[JobState] | None = None, limit: int = 100) -> list[Job]:
        query = self._jobs
        if owner is not None:
            query = query.where(filter=FieldFilter("owner", "==", owner))
        if states is not None:
            query = query.where(filter=FieldFilter("state", "in", sorted(s.value for s in states)))
        jobs = [job_from_dict(s.to_dict()) for s in query.stream()]
        return sorted(jobs, key=lambda j: j.created_at, reverse=True)[:limit]

    @transient
    def get_trial(self, job_id: str, trial_id: str) -> Trial | None:
        snap = self._trials(job_id).document(trial_id).get()
        return trial_from_dict(snap.to_dict()) if snap.exists else None

    @transient
    def list_trials(self, job_id: str, states: Sequence[TrialState] | None = None,
                    limit: int | None = None) -> list[Trial]:
        query = self._trials(job_id)
        if states is not None:
            query = query.where(filter=FieldFilter("state", "in", [s.value for s in states]))
        if limit is not None:
            query = query.limit(limit)
        return sorted((trial_from_dict(s.to_dict()) for s in query.stream()), key=lambda t: t.index)

    @transient
    def batch_trials(self, job_id: str, batch_id: str, states: Sequence[TrialState] | None = None,
                     limit: int | None = None) -> list[Trial]:
        query = self._trials(job_id).where(filter=FieldFilter("batch_id", "==", batch_id))
        if states is not None:
            query = query.where(filter=FieldFilter("state", "in", sorted(s.value for s in states)))
        if limit is not None:
            query = query.limit(limit)
        return sorted((trial_from_dict(s.to_dict()) for s in query.stream()), key=lambda t: t.index)

    @transient
    def update_trial(self, job_id: str, trial_id: str, change: Callable[[Trial], Trial | None]) -> Trial | None:
        return self._update(self._trials(job_id).document(trial_id), trial_from_dict, trial_to_dict, change,
                            f"trial {job_id}/{trial_id}")

    @transient
    def add_trial(self, trial: Trial) -> bool:
        what = f"trial {trial.job_id}/{trial.trial_id}"
        ref = self._trials(trial.job_id).document(trial.trial_id)
        try:
            _refused_as_unstorable(lambda: _write(lambda: ref.create(trial_to_dict(trial)), what), what)
        except gexc.AlreadyExists:
            return False
        return True

    @transient
    def active_trials(self) -> list[Trial]:
        query = self._db.collection_group(collection("trials")).where(
            filter=FieldFilter("state", "in", sorted(s.value for s in ACTIVE)))
        return [trial_from_dict(s.to_dict()) for s in query.stream()]


def _write(write: Callable, what: str):
    """Run `write` (a set or create, which encodes the document first): a value the client cannot encode
    (an integer beyond 64 bits, an empty field name, text that is not UTF-8) raises Unstorable."""
    try:
        return write()
    except (ValueError, TypeError, OverflowError) as exc:
        raise Unstorable(f"{what} cannot be stored: {exc}") from exc


def _refused_as_unstorable(write: Callable, what: str):
    """Run `write`; Firestore's refusal of a document (InvalidArgument: over 1 MiB, ...) raises Unstorable."""
    try:
        return write()
    except gexc.InvalidArgument as exc:
        raise Unstorable(f"Firestore refuses the {what} ({type(exc).__name__})") from exc
