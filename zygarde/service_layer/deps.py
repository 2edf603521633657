"""The dependencies every handler takes, bundled once by bootstrap."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

from zygarde.config import Settings
from zygarde.service_layer.ports import BatchLauncher, BlobStore, EventPublisher, IdentityVerifier, JobRepository

log = logging.getLogger("zygarde")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Deps:
    repo: JobRepository
    launcher: BatchLauncher
    blobs: BlobStore
    publisher: EventPublisher
    settings: Settings
    clock: Callable[[], datetime] = field(default=utcnow)
    verifier: IdentityVerifier | None = None  # publishers' identity tokens; None: every message is refused

    def now(self) -> str:
        return self.clock().isoformat()
