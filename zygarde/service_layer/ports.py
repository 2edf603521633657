"""Ports: the small interfaces the handlers depend on. Real adapters live in zygarde/adapters,
in-memory fakes in zygarde/adapters/memory.py."""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from datetime import datetime

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
        return self.state in BATCH_TERMINAL_STATES


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
    def write_bytes(self, uri: str, data: bytes, content_type: str = "application/octet-stream",
                    if_generation_match: int | None = None) -> int:
        """Returns the new generation. if_generation_match=0 means only if absent (raises
        PreconditionFailed... mapped to BatchAlreadyExists-like `AlreadyExists`)."""

    @abc.abstractmethod
    def exists(self, uri: str) -> bool: ...

    @abc.abstractmethod
    def list(self, uri_prefix: str) -> list[str]:
        """URIs of the objects under a gs://bucket/prefix."""


class EventPublisher(abc.ABC):
    """Publishes to Pub/Sub topics (by short key from resources.json, e.g. "jobs")."""

    @abc.abstractmethod
    def publish(self, topic_key: str, data: bytes, **attributes: str) -> str:
        """Returns the message id."""
