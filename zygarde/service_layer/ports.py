"""Ports: the small interfaces the handlers depend on. Real adapters live in zygarde/adapters,
in-memory fakes in zygarde/adapters/memory.py."""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from datetime import datetime
from typing import Sequence, TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from zygarde.domain.identity import Identity
    from zygarde.domain.model import Job, JobState, Trial, TrialState

from zygarde.domain.batch_state import ENDING, TERMINAL
from zygarde.service_layer.scheduling_board import ReadyJob, SchedulingBoard, SlotHold  # noqa: F401 - re-exported


@dataclass(frozen=True)
class BatchRequest:
    """One Dataproc Serverless PySpark batch to create."""

    batch_id: str  # 4-63 chars of [a-z0-9-], starts with a letter or digit
    main_python_file_uri: str
    args: tuple[str, ...] = ()
    python_file_uris: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchInfo:
    """What the Dataproc API says of one batch."""

    batch_id: str
    state: str  # STATE_UNSPECIFIED PENDING RUNNING CANCELLING CANCELLED SUCCEEDED FAILED
    state_message: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    create_time: datetime | None = None

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL

    @property
    def is_ending(self) -> bool:
        """Ended, or being cancelled: it takes no more work."""
        return self.state in ENDING


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


class IdentityVerifier(abc.ABC):
    """Checks an identity token (a Google-signed OpenID Connect JWT, or one the local cloud issued)."""

    @abc.abstractmethod
    def verify(self, token: str, at: datetime | None = None, audiences: Sequence[str] = ()) -> "Identity":
        """The identity `token` proves at time `at` (default: now; a Pub/Sub message's publish time, so
        that a redelivery hours later still verifies), for one of the configured audiences or of
        `audiences`. Raises TokenError when it proves nothing, TransientError when the public keys
        cannot be fetched."""


class JobRepository(SchedulingBoard):
    """Jobs, their trials, the scheduling board (scheduling_board.py) and the model registry. Every update
    is a read-modify-write on ONE document (a job header, a trial, a slot), so no document is hot."""

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
    def batch_trials(self, job_id: str, batch_id: str, states: "Sequence[TrialState] | None" = None,
                     limit: int | None = None) -> "list[Trial]":
        """The job's trials whose latest attempt was given to that batch (those in `states`, at most `limit`
        of them), by index."""

    @abc.abstractmethod
    def update_trial(self, job_id: str, trial_id: str,
                     change: "Callable[[Trial], Trial | None]") -> "Trial | None":
        """Apply `change` atomically; it returns the new snapshot or None for no change."""

    @abc.abstractmethod
    def add_trial(self, trial: "Trial") -> bool:
        """Store a new trial of an existing job (adaptive search); False if its id is taken."""

    @abc.abstractmethod
    def active_trials(self) -> "list[Trial]":
        """LAUNCHING or RUNNING trials of every job (the reconciler's view)."""

    @abc.abstractmethod
    def register_model_version(self, name: str, job_id: str, record: dict, owner: str) -> int:
        """Register the model package of `job_id`, a job of `owner`, as the next version of model `name`
        and return its number; a job registers at most once (a repeat returns the version it got). One
        transaction: the first registration creates the model document owned by `owner` (create-if-absent);
        a later one by an `owner` who may not write the model (model_access.may_write) raises
        ModelNameTaken and writes nothing. The version record gets "registered_by": `owner`."""

    @abc.abstractmethod
    def model(self, name: str) -> dict | None:
        """Model `name`'s document: {"name", "owner", "grants" {owner key: "reader" | "writer"}, "members"
        [owner and grantees], "next_version", "latest_version", "jobs" {job id: version}, "created_at"};
        None if there is no such model. Documents written before owners were recorded lack owner,
        grants, members and created_at (see model_access)."""

    @abc.abstractmethod
    def set_model_grant(self, name: str, grantee: str, role: str | None, owner: str) -> bool:
        """Give `grantee` `role` ("reader" or "writer") on model `name`, or remove their grant (role None),
        in one transaction; records `owner` on a document that has none. False when nothing changed.
        KeyError if there is no model `name`."""

    @abc.abstractmethod
    def list_models(self, member: str | None = None) -> list[dict]:
        """The documents of the models listing `member` (owner or grantee) in their members; all when None."""

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
