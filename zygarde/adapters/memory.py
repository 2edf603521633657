"""In-memory fakes of every port, for unit tests and the scheduling simulation."""
from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Sequence
from typing import Callable

from zygarde.adapters.memory_board import MemorySchedulingBoard
from zygarde.adapters.memory_models import MemoryModelRegistry
from zygarde.adapters.memory_storable import check_document
from zygarde.adapters.records import job_to_dict, trial_to_dict
from zygarde.config import collection
from zygarde.domain.errors import BatchAlreadyExists, BatchNotFound, NotFound, PreconditionFailed
from zygarde.domain.model import PREPARE, Job, Trial, TrialState
from zygarde.service_layer.ports import (BatchInfo, BatchLauncher, BatchRequest, BlobStore,
                                         EventPublisher, JobRepository)


class MemoryJobRepository(MemorySchedulingBoard, MemoryModelRegistry, JobRepository):
    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.RLock()
        self.jobs: dict[str, Job] = {}
        self.trials: dict[str, dict[str, Trial]] = defaultdict(dict)
        self._init_models()
        self._active: dict[tuple[str, str], Trial] = {}  # index of LAUNCHING/RUNNING trials
        self.writes = 0  # how many documents were written, for idempotency tests

    def add_job(self, job: Job, trials: list[Trial]) -> bool:
        """All or nothing, like the Firestore batch: a value Firestore cannot hold is refused before anything
        is written."""
        with self._lock:
            if job.job_id in self.jobs:
                return False
            _check_job(job)
            for trial in trials:
                _check_trial(trial)
            for t in trials:
                self._put(t)
            self.jobs[job.job_id] = job
            self.writes += 1 + len(trials)
            return True

    def orphan_jobs(self, created_before: str) -> list[str]:
        with self._lock:
            return sorted(job_id for job_id, trials in self.trials.items() if job_id not in self.jobs and trials
                          and _old_waiting_prepare(trials.get(PREPARE), created_before))

    def delete_orphan(self, job_id: str, created_before: str) -> int:
        with self._lock:
            trials = self.trials.get(job_id, {})
            if job_id in self.jobs or not _old_waiting_prepare(trials.get(PREPARE), created_before):
                return 0
            for trial_id in list(trials):
                self._active.pop((job_id, trial_id), None)
            self.writes += len(trials)
            return len(self.trials.pop(job_id, {}))

    def get_job(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def update_job(self, job_id: str, change: Callable[[Job], Job | None]) -> Job | None:
        with self._lock:
            current = self.jobs.get(job_id)
            if current is None:
                raise NotFound(f"job {job_id} not found")
            new = change(current)
            if new is not None:
                _check_job(new)
                self.jobs[job_id] = new
                self.writes += 1
            return new

    def list_jobs(self, owner=None, states=None, limit=100) -> list[Job]:
        jobs = [j for j in self.jobs.values()
                if (owner is None or j.owner == owner) and (states is None or j.state in states)]
        return sorted(jobs, key=lambda j: j.created_at, reverse=True)[:limit]

    def get_trial(self, job_id: str, trial_id: str) -> Trial | None:
        return self.trials.get(job_id, {}).get(trial_id)

    def list_trials(self, job_id: str, states: Sequence[TrialState] | None = None,
                    limit: int | None = None) -> list[Trial]:
        trials = [t for t in self.trials.get(job_id, {}).values() if states is None or t.state in states]
        return sorted(trials[:limit] if limit is not None else trials, key=lambda t: t.index)

    def batch_trials(self, job_id: str, batch_id: str, states: Sequence[TrialState] | None = None,
                     limit: int | None = None) -> list[Trial]:
        trials = [t for t in self.trials.get(job_id, {}).values()
                  if t.batch_id == batch_id and (states is None or t.state in states)]
        return sorted(trials[:limit] if limit is not None else trials, key=lambda t: t.index)

    def update_trial(self, job_id: str, trial_id: str, change: Callable[[Trial], Trial | None]) -> Trial | None:
        with self._lock:
            current = self.get_trial(job_id, trial_id)
            if current is None:
                raise NotFound(f"trial {job_id}/{trial_id} not found")
            new = change(current)
            if new is not None:
                _check_trial(new)
                self._put(new)
                self.writes += 1
            return new

    def _put(self, trial: Trial) -> None:
        self.trials[trial.job_id][trial.trial_id] = trial
        key = (trial.job_id, trial.trial_id)
        if trial.state.is_active():
            self._active[key] = trial
        else:
            self._active.pop(key, None)

    def add_trial(self, trial: Trial) -> bool:
        _check_trial(trial)
        with self._lock:
            if trial.trial_id in self.trials.get(trial.job_id, {}):
                return False
            self._put(trial)
            self.writes += 1
            return True

    def active_trials(self) -> list[Trial]:
        with self._lock:
            return list(self._active.values())



def _old_waiting_prepare(prepare: Trial | None, created_before: str) -> bool:
    return prepare is not None and prepare.state is TrialState.WAITING and (prepare.created_at or "") < created_before


def _check_job(job: Job) -> None:
    check_document(job_to_dict(job), (collection("jobs"), job.job_id), f"job {job.job_id}")


def _check_trial(trial: Trial) -> None:
    check_document(trial_to_dict(trial), (collection("jobs"), trial.job_id, collection("trials"), trial.trial_id),
                   f"trial {trial.job_id}/{trial.trial_id}")


class MemoryBatchLauncher(BatchLauncher):
    """Records batches; tests move them through states with finish()."""

    def __init__(self) -> None:
        self.batches: dict[str, BatchInfo] = {}
        self.requests: dict[str, BatchRequest] = {}
        self.create_calls = 0
        self.fail_next_create: Exception | None = None

    def create(self, request: BatchRequest) -> None:
        self.create_calls += 1
        if self.fail_next_create is not None:
            exc, self.fail_next_create = self.fail_next_create, None
            raise exc
        if request.batch_id in self.batches:
            raise BatchAlreadyExists(request.batch_id)
        self.requests[request.batch_id] = request
        self.batches[request.batch_id] = BatchInfo(request.batch_id, "RUNNING", labels=dict(request.labels))

    def get(self, batch_id: str) -> BatchInfo:
        if batch_id not in self.batches:
            raise BatchNotFound(batch_id)
        return self.batches[batch_id]

    def list(self, labels=None) -> list[BatchInfo]:
        labels = labels or {}
        return [b for b in list(self.batches.values()) if all(b.labels.get(k) == v for k, v in labels.items())]

    def cancel(self, batch_id: str) -> None:
        b = self.batches.get(batch_id)
        if b is not None and not b.is_terminal:
            self.finish(batch_id, "CANCELLED", "cancelled")

    def finish(self, batch_id: str, state: str, message: str = "", state_time=None) -> None:
        b = self.batches[batch_id]
        self.batches[batch_id] = BatchInfo(batch_id, state, message, b.labels, b.create_time, state_time)

    @property
    def running(self) -> list[str]:
        return [b.batch_id for b in list(self.batches.values()) if not b.is_terminal]


def _bucket_of(uri: str) -> str:
    """The URI's bucket; ValueError for a name Cloud Storage's client refuses, as the client does."""
    bucket = uri.removeprefix("gs://").partition("/")[0]
    if uri.startswith("gs://") and not (bucket and bucket[0].isalnum() and bucket[-1].isalnum()):
        raise ValueError("Bucket names must start and end with a number or letter.")
    return bucket


class MemoryBlobStore(BlobStore):
    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, int]] = {}
        self._generation = 0

    def read_bytes(self, uri: str, max_bytes: int | None = None) -> bytes:
        _bucket_of(uri)
        if uri not in self.objects:
            raise NotFound(f"{uri} does not exist")
        data = self.objects[uri][0]
        return data if max_bytes is None else data[:max_bytes]

    def read_tail(self, uri: str, n: int) -> bytes:
        if uri not in self.objects:
            raise NotFound(f"{uri} does not exist")
        return self.objects[uri][0][-n:] if n > 0 else b""

    def write_bytes(self, uri, data, content_type="application/octet-stream", if_generation_match=None) -> int:
        current = self.objects.get(uri, (b"", 0))[1]
        if if_generation_match is not None and if_generation_match != current:
            raise PreconditionFailed(f"{uri}: generation is {current}, not {if_generation_match}")
        self._generation += 1
        self.objects[uri] = (bytes(data), self._generation)
        return self._generation

    def exists(self, uri: str) -> bool:
        _bucket_of(uri)
        return uri in self.objects

    def list(self, uri_prefix: str) -> list[str]:
        _bucket_of(uri_prefix)
        return sorted(u for u in self.objects if u.startswith(uri_prefix))

    def sizes(self, uri_prefix: str) -> dict[str, int | None]:
        return {u: len(self.objects[u][0]) for u in self.list(uri_prefix)}


class MemoryPublisher(EventPublisher):
    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes, dict[str, str]]] = []

    def publish(self, topic_key: str, data: bytes, **attributes: str) -> str:
        self.messages.append((topic_key, data, attributes))
        return str(len(self.messages))
