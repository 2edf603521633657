"""Ports: the small interfaces the handlers depend on. Real adapters live in zygarde/adapters,
in-memory fakes in zygarde/adapters/memory.py."""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from datetime import datetime
from typing import Sequence, TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from zygarde.domain.model import Job, JobState, Trial, TrialState

# Dataproc batch states, as the API spells them.
BATCH_TERMINAL_STATES = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})


@dataclass(frozen=True)
class BatchRequest:
    """One Dataproc Serverless PySpark batch to create."""

    batch_id: str  # 4-63 chars of [a-z0-9-], starts with a letter or digit
    main_python_file_uri: str
    args: tuple[str, ...] = ()
    python_file_uris: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)
    ttl_seconds: int | None = None  # Dataproc ends the batch after this long; None: the launcher's default


@dataclass(frozen=True)
class BatchInfo:
    """What the Dataproc API says of one batch."""

    batch_id: str
    state: str  # STATE_UNSPECIFIED PENDING RUNNING CANCELLING CANCELLED SUCCEEDED FAILED
    state_message: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    create_time: datetime | None = None
    state_time: datetime | None = None  # when it entered its state (for a finished batch: when it ended)

    @property
    def is_terminal(self) -> bool:
        return self.state in BATCH_TERMINAL_STATES


@dataclass(frozen=True)
class SlotHold:
    """Who holds a slot: one attempt of one trial (attempt 0: a claim that named no attempt)."""

    trial_id: str
    claimed_at: str  # ISO 8601
    job_id: str = ""  # set for global capacity slots
    attempt: int = 0
    batch_id: str = ""


class BatchLauncher(abc.ABC):
    """Creates and controls Dataproc Serverless batches."""

    @abc.abstractmethod
    def create(self, request: BatchRequest) -> None:
        """Submit the batch. Raises BatchAlreadyExists if the id is taken, TransientError on
        retryable failures."""

    @abc.abstractmethod
    def get(self, batch_id: str) -> BatchInfo:
        """Raises BatchNotFound."""

    @abc.abstractmethod
    def list(self, labels: dict[str, str] | None = None) -> list[BatchInfo]:
        """Batches whose labels include all of `labels`."""

    @abc.abstractmethod
    def cancel(self, batch_id: str) -> None:
        """Ask the batch to stop. A no-op for a finished or unknown batch."""


class BlobStore(abc.ABC):
    """Objects in the Zygarde bucket (or any gs:// URI)."""

    @abc.abstractmethod
    def read_bytes(self, uri: str, max_bytes: int | None = None) -> bytes:
        """Raises NotFound."""

    @abc.abstractmethod
    def read_tail(self, uri: str, n: int) -> bytes:
        """The last n bytes (all of a shorter object). Raises NotFound."""

    @abc.abstractmethod
    def write_bytes(self, uri: str, data: bytes, content_type: str = "application/octet-stream",
                    if_generation_match: int | None = None) -> int:
        """Returns the new generation. if_generation_match=0 means only if absent (raises
        PreconditionFailed)."""

    @abc.abstractmethod
    def exists(self, uri: str) -> bool: ...

    @abc.abstractmethod
    def list(self, uri_prefix: str) -> list[str]:
        """URIs of the objects under a gs://bucket/prefix."""

    def sizes(self, uri_prefix: str) -> dict[str, int | None]:
        """URI -> size in bytes of the objects under a prefix (None where the store cannot tell)."""
        return {uri: None for uri in self.list(uri_prefix)}

    def upload_url(self, uri: str, content_type: str, expires_seconds: int = 900) -> str | None:
        """A signed URL a browser may PUT the object to directly, or None where the store has none."""
        return None


class EventPublisher(abc.ABC):
    """Publishes to Pub/Sub topics (by short key from resources.json, e.g. "jobs")."""

    @abc.abstractmethod
    def publish(self, topic_key: str, data: bytes, **attributes: str) -> str:
        """Returns the message id."""


class JobRepository(abc.ABC):
    """Jobs, their trials and their launch slots. Every update is a read-modify-write on ONE
    document (a job header or a trial), so no document is hot."""

    @abc.abstractmethod
    def add_job(self, job: "Job", trials: list["Trial"]) -> bool:
        """Store a new job with its trials, all or nothing; False (and nothing written) if the job id
        exists. Raises Unstorable (nothing written) for a value the store cannot hold."""

    @abc.abstractmethod
    def orphan_jobs(self, created_before: str) -> list[str]:
        """Ids of jobs that have trials but no job document (a job write that failed after its
        trials), whose preparation trial was created before `created_before`."""

    @abc.abstractmethod
    def delete_orphan(self, job_id: str, created_before: str) -> int:
        """Delete the trials of a job that still has no job document and whose preparation trial
        is still older than `created_before` (checked atomically with each delete). Returns how many."""

    @abc.abstractmethod
    def get_job(self, job_id: str) -> "Job | None": ...

    @abc.abstractmethod
    def update_job(self, job_id: str, change: "Callable[[Job], Job | None]") -> "Job | None":
        """Apply `change` atomically; it returns the new snapshot or None for no change.
        Returns what was written, or None."""

    @abc.abstractmethod
    def list_jobs(self, owner: str | None = None, states: "list[JobState] | None" = None,
                  limit: int = 100) -> "list[Job]":
        """Newest first."""

    @abc.abstractmethod
    def get_trial(self, job_id: str, trial_id: str) -> "Trial | None": ...

    @abc.abstractmethod
    def list_trials(self, job_id: str, states: "Sequence[TrialState] | None" = None,
                    limit: int | None = None) -> "list[Trial]":
        """The job's trials (those in `states`, at most `limit` of them: any ones), by index."""

    @abc.abstractmethod
    def update_trial(self, job_id: str, trial_id: str,
                     change: "Callable[[Trial], Trial | None]") -> "Trial | None":
        """Apply `change` atomically; it returns the new snapshot or None for no change."""

    @abc.abstractmethod
    def add_trial(self, trial: "Trial") -> bool:
        """Store a new trial of an existing job (adaptive search); False if its id is taken."""

    @abc.abstractmethod
    def active_trials(self) -> "list[Trial]":
        """LAUNCHING or RUNNING trials of every job."""

    @abc.abstractmethod
    def claim_slot(self, job_id: str, slot: int, trial_id: str, now: str, attempt: int = 0,
                   batch_id: str = "") -> bool:
        """Take job slot `slot` for attempt `attempt` of `trial_id` (running batch `batch_id`) at time
        `now`; False if it is held (an atomic create)."""

    @abc.abstractmethod
    def release_slot(self, job_id: str, slot: int, trial_id: str, attempt: int = 0) -> None:
        """Free the slot if this attempt of `trial_id` holds it (atomically: never another attempt's)."""

    @abc.abstractmethod
    def slot_holders(self, job_id: str) -> dict[int, "SlotHold"]:
        """slot -> who holds it since when."""

    @abc.abstractmethod
    def claim_capacity(self, slot: int, job_id: str, trial_id: str, now: str, attempt: int = 0,
                       batch_id: str = "") -> bool:
        """Take global capacity slot `slot` (of ZYGARDE_MAX_CONCURRENT_BATCHES) for one attempt;
        False if held."""

    @abc.abstractmethod
    def release_capacity(self, slot: int, job_id: str, trial_id: str, attempt: int = 0) -> None:
        """Free the capacity slot if this attempt of this trial holds it."""

    @abc.abstractmethod
    def capacity_holders(self) -> dict[int, SlotHold]:
        """slot -> holder, for every held global capacity slot."""

    @abc.abstractmethod
    def register_model_version(self, name: str, job_id: str, record: dict) -> int:
        """Register the model package of `job_id` as the next version of model `name` and return its
        number; a job registers at most once (a repeat returns the version it got)."""

    @abc.abstractmethod
    def model_versions(self, name: str) -> list[dict]:
        """Every version of model `name`, oldest first, each with its "version" number."""

    def model_version(self, name: str, version: int) -> dict | None:
        """One registered version of model `name`, None if there is no such version."""
        return next((v for v in self.model_versions(name) if int(v["version"]) == version), None)

    @abc.abstractmethod
    def set_alias(self, name: str, alias: str, version: int, moved_by: str, moved_at: str) -> dict:
        """Points `alias` of model `name` at `version`, recording who moved it and when (its history
        kept in the alias record); returns the record. KeyError if the model has no such version."""

    @abc.abstractmethod
    def model_aliases(self, name: str) -> dict[str, dict]:
        """alias -> {"alias", "version", "moved_by", "moved_at", "history": [...]} for model `name`."""
