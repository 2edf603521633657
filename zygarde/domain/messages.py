"""The messages of the control plane: commands (do this) and events (this happened), small frozen
records. Each has one handler in service_layer/messagebus.HANDLERS; a handler returns the messages
it causes. Outcomes are answers for the caller (the edge), recorded on the bus's trace, handled by none.

Where each comes from and what it changes: docs/architecture.md.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Mapping

from zygarde.domain.model import JobState
from zygarde.domain.reasons import Reason


class Message:
    """Base of every message on the bus."""


class Command(Message):
    """Something to do, by exactly one handler."""


class Event(Message):
    """Something that happened; its handler decides what follows."""


class Outcome(Message):
    """An answer for whoever put the first message on the bus; nothing handles it."""


class Retry(enum.Enum):
    """Whether an attempt that ended without a result is tried again."""

    NEVER = "never"  # a deterministic failure, or a refused launch
    IF_ATTEMPTS_LEFT = "if_attempts_left"  # within max_attempts (per rung), while the job runs
    ALWAYS = "always"  # the attempt never ran (its work was handed to a batch that had gone)


# --- from the edge (Pub/Sub) --------------------------------------------------------------------------
@dataclass(frozen=True)
class Published(Message):
    """What a message published on the jobs topic carries (a base, not a message of its own): its raw
    bytes, whatever they are, and its attributes (the sender's identity token); `publish_time` is
    Pub/Sub's, for the token's verification."""

    data: bytes
    attributes: Mapping[str, str] = field(default_factory=dict)
    message_id: str = ""
    publish_time: str = ""


@dataclass(frozen=True)
class SubmitJob(Published, Command):
    """A job spec published on the jobs topic, signed by its owner."""


@dataclass(frozen=True)
class JobFileWritten(Event):
    """A job file was written under jobs/ in a bucket."""

    bucket: str
    name: str
    generation: str = ""
    attributes: Mapping[str, str] = field(default_factory=dict)
    message_id: str = ""


@dataclass(frozen=True)
class CancelJob(Published, Command):
    """A cancel published on the jobs topic (attribute action=cancel; data {"job_id"}), signed by the job's owner."""


@dataclass(frozen=True)
class GrantAccess(Published, Command):
    """A grant on the jobs topic (attribute action=grant; data {"model", "grantee", "role"}), signed by the
    model's owner (service_layer/grants.py)."""


@dataclass(frozen=True)
class ResultWritten(Event):
    """results/{job}/{trial}/attempt-{n}.json was written (or found by the reconciler: `recovered`)."""

    job_id: str
    trial_id: str
    attempt: int
    uri: str
    recovered: bool = False


@dataclass(frozen=True)
class BatchIdle(Event):
    """results/{job}/{batch}/idle-{n}.json was written: the batch has done its work and waits for its
    handoff number `handoff` (more work, or "exit")."""

    job_id: str
    batch_id: str
    handoff: int
    results_checked: bool = False  # its trials' own results were looked for first
    reviewed: bool = False  # its job was reviewed first (it had no unfinished trial, and no work for the batch)


@dataclass(frozen=True)
class Reconcile(Command):
    """The scheduler's tick: make the store and Dataproc agree."""

    source: str = "tick"


@dataclass(frozen=True)
class JobEnded(Event):
    """A job ended (published on the reconcile topic): no batch of it may outlive it."""

    job_id: str


# --- inside the control plane ---------------------------------------------------------------------
@dataclass(frozen=True)
class PlaceWork(Command):
    """Fill free capacity with ready work, fairly."""


@dataclass(frozen=True)
class StartWork(Command):
    """The LAUNCHING trials of one batch: create it, or hand them to it when it waits (handoff n)."""

    job_id: str
    batch_id: str


@dataclass(frozen=True)
class AttemptEnded(Event):
    """An attempt ended without a result the job can use (its batch died, its result was unreadable or
    forged, its launch was refused or missed)."""

    job_id: str
    trial_id: str
    attempt: int
    reason: Reason
    message: str
    retry: Retry


@dataclass(frozen=True)
class ReviewJob(Command):
    """Apply the job's rules now: deadlines and budgets, rung decisions, its end."""

    job_id: str


@dataclass(frozen=True)
class ReplanJob(Command):
    """Plan the job again if its finished trials show the performance model was wrong (plan_revision)."""

    job_id: str


@dataclass(frozen=True)
class ResumeLaunches(Command):
    """Finish the job's launches that a handler left half done (trials LAUNCHING)."""

    job_id: str


@dataclass(frozen=True)
class SettleBatch(Command):
    """A trial of this batch ended: when none of its work is left, it waits for more (it will report
    idle) or its slots are freed."""

    job_id: str
    batch_id: str


@dataclass(frozen=True)
class ReleaseBatch(Command):
    """Free the capacity slot and job slot a batch holds (it has ended, or is told to)."""

    job_id: str
    batch_id: str
    capacity_slot: int | None = None  # when known (its job slot may be gone already)


@dataclass(frozen=True)
class CancelBatch(Command):
    """Cancel a batch whose work the job no longer wants."""

    job_id: str
    batch_id: str


@dataclass(frozen=True)
class Finalize(Command):
    """Queue the finalisation of the job's winner (refit: fit it again on all the train rows)."""

    job_id: str
    trial_id: str
    refit: bool = False


@dataclass(frozen=True)
class RegisterModel(Command):
    """Register the finalised winner as the next version of its model, then end the job with
    `message_prefix` + the version number."""

    job_id: str
    model_name: str
    owner: str
    record: Mapping[str, Any]
    state: JobState
    reason: Reason
    message_prefix: str
    changes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EndJob(Command):
    """End a running job, recording the best trial so far."""

    job_id: str
    state: JobState
    reason: Reason
    message: str
    changes: Mapping[str, Any] = field(default_factory=dict)  # best trial, model version, test metrics


# --- answers for the caller -------------------------------------------------------------------------
@dataclass(frozen=True)
class JobRecorded(Outcome):
    job_id: str
    accepted: bool  # False: recorded REJECTED


@dataclass(frozen=True)
class CancelAnswered(Outcome):
    job_id: str | None  # None: refused


@dataclass(frozen=True)
class GrantAnswered(Outcome):
    model: str | None  # None: refused


@dataclass(frozen=True)
class WorkStarted(Outcome):
    job_id: str
    batch_id: str
    trials: int


@dataclass(frozen=True)
class BatchCancelled(Outcome):
    job_id: str
    batch_id: str


@dataclass(frozen=True)
class Reconciled(Outcome):
    counts: Mapping[str, int]
