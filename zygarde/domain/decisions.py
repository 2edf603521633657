"""The records of a job decision: the snapshot a rule reads, the guarded trial changes and commands it
returns (a Decision), and the events that come from inside the job (an attempt's outcome, a cancel).
Pure data; the rules are in job_aggregate.py and job_ending.py."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping

from zygarde.domain.messages import Command, Retry
from zygarde.domain.model import Job, StageKind, Trial, TrialState
from zygarde.domain.reasons import Reason
from zygarde.domain.spec import JobSpec


@dataclass(frozen=True)
class JobSnapshot:
    """A job as one handler saw it: the job, its trials (all of them when `whole`, else the few the event
    concerns), the time, and the batch start-up the deadline keeps in reserve."""

    job: Job
    spec: JobSpec
    trials: tuple[Trial, ...]
    now: datetime
    startup_seconds: float = 60.0
    whole: bool = True

    def __post_init__(self) -> None:
        ids = [t.trial_id for t in self.trials]
        if len(set(ids)) != len(ids) or any(t.job_id != self.job.job_id for t in self.trials):
            raise ValueError(f"job {self.job.job_id}: a snapshot holds each of the job's trials once")

    def trial(self, trial_id: str) -> Trial | None:
        return next((t for t in self.trials if t.trial_id == trial_id), None)

    def train(self) -> list[Trial]:
        return [t for t in self.trials if t.kind is StageKind.TRAIN]

    def assuming(self, changes: tuple["TrialChange", ...]) -> "JobSnapshot":
        """The snapshot as it will be once `changes` are applied (those whose guard holds)."""
        now, by_id = self.now.isoformat(), {c.trial_id: c for c in changes}
        trials = []
        for t in self.trials:
            change = by_id.get(t.trial_id)
            trials.append((change.apply(t, now) if change else None) or t)
        return dataclasses.replace(self, trials=tuple(trials))


@dataclass(frozen=True)
class TrialChange:
    """One trial's transition, applied in a transaction on its own document only if the trial is still
    in one of `expect` (at `attempt` and `rung` when given)."""

    trial_id: str
    state: TrialState
    reason: Reason
    message: str
    expect: frozenset[TrialState]
    attempt: int | None = None
    rung: int | None = None
    changes: Mapping[str, Any] = field(default_factory=dict)
    premise: bool = False  # the event's own change: when refused (a replay, a race), nothing else applies

    def apply(self, trial: Trial, now: str) -> Trial | None:
        if trial.state not in self.expect or (self.attempt is not None and trial.attempt != self.attempt) \
                or (self.rung is not None and trial.rung != self.rung):
            return None
        return trial.transition(self.state, self.reason, self.message, now, **self.changes)


@dataclass(frozen=True)
class Decision:
    changes: tuple[TrialChange, ...] = ()
    commands: tuple[Command, ...] = ()

    def __add__(self, other: "Decision") -> "Decision":
        return Decision(self.changes + other.changes, self.commands + other.commands)


@dataclass(frozen=True)
class StageOutcome:
    """What an attempt's result means, as its stage reads it: success with what to record, or a failure."""

    ok: bool
    reason: Reason
    message: str
    retry: Retry = Retry.NEVER
    changes: Mapping[str, Any] = field(default_factory=dict)
    score: float | None = None  # a training trial's job metric on validation (a rung's score when pruning)


@dataclass(frozen=True)
class Reported:
    """The running attempt's own result was read."""

    trial_id: str
    attempt: int
    outcome: StageOutcome


@dataclass(frozen=True)
class CancelRequested:
    """Stop the job (its owner cancels: Cancelled), or cancel what is left of a job that has ended (JobFinished)."""

    message: str
    reason: Reason = Reason.CANCELLED
    active_only: bool = False  # of a job that has ended: only the attempts still running (their batches too)
