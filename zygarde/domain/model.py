"""Jobs and trials: states, allowed transitions, immutable snapshots that record conditions."""
from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any

from zygarde.domain.errors import InvalidTransition


class TrialState(str, enum.Enum):
    WAITING = "WAITING"  # expanded, not launched
    LAUNCHING = "LAUNCHING"  # slot claimed, batch being created
    RUNNING = "RUNNING"  # batch created
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    PAUSED = "PAUSED"  # scored at a lower fidelity (rung), waiting to be promoted or pruned
    PRUNED = "PRUNED"  # stopped early by successive halving: finished at its last rung, never retried

    def is_finished(self) -> bool:
        return self in FINISHED

    def is_active(self) -> bool:
        return self in ACTIVE


# The one definition of the trial state sets (Firestore queries, the rules and the views use these).
ACTIVE = frozenset({TrialState.LAUNCHING, TrialState.RUNNING})  # an attempt holds a batch
FINISHED = frozenset({TrialState.SUCCEEDED, TrialState.FAILED, TrialState.CANCELLED, TrialState.PRUNED})
UNFINISHED = frozenset(TrialState) - FINISHED  # waiting, launching, running or paused between rungs


class JobState(str, enum.Enum):
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"
    BUDGET_EXHAUSTED = "BUDGET_EXHAUSTED"

    def is_finished(self) -> bool:
        return self is not JobState.RUNNING


_T = TrialState
TRIAL_TRANSITIONS: dict[TrialState, frozenset[TrialState]] = {
    _T.WAITING: frozenset({_T.LAUNCHING, _T.CANCELLED}),
    # LAUNCHING -> WAITING: the launch was refused for a transient reason; -> SUCCEEDED/FAILED: the
    # result arrived before RUNNING was recorded (and so on for a rung's result: PAUSED, PRUNED).
    _T.LAUNCHING: frozenset({_T.RUNNING, _T.WAITING, _T.SUCCEEDED, _T.FAILED, _T.CANCELLED, _T.PAUSED,
                             _T.PRUNED}),
    # WAITING: a retry, or a promotion to the next rung; PAUSED / PRUNED: a lower rung's result
    _T.RUNNING: frozenset({_T.SUCCEEDED, _T.FAILED, _T.CANCELLED, _T.WAITING, _T.PAUSED, _T.PRUNED}),
    _T.PAUSED: frozenset({_T.WAITING, _T.PRUNED, _T.CANCELLED}),  # WAITING: promoted to the next rung
    _T.SUCCEEDED: frozenset(),
    _T.FAILED: frozenset(),
    _T.CANCELLED: frozenset(),
    _T.PRUNED: frozenset(),
}
JOB_TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.RUNNING: frozenset(set(JobState) - {JobState.RUNNING}),
    **{s: frozenset() for s in JobState if s is not JobState.RUNNING},
}


@dataclass(frozen=True)
class Condition:
    """One recorded state change (Katib style)."""

    state: str
    reason: str  # CamelCase word, e.g. BatchCreated
    message: str
    time: str  # ISO 8601 UTC

    def __post_init__(self) -> None:
        object.__setattr__(self, "reason", str(self.reason))  # a Reason is stored as its plain word

    def to_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class BatchRun:
    """One ended attempt's time in its batch, kept so that budgets bill every rung and every retry."""

    batch_id: str
    started_at: str  # ISO 8601
    finished_at: str


class StageKind(enum.StrEnum):
    """What a trial's batch does: prepare the job's data, train candidates (always in a pack), or
    finalise the winner. A job's stages run as trials too, each with its own record."""

    PREPARE = "prepare"
    TRAIN = "train"
    FINALIZE = "finalize"


TRAIN, PREPARE, FINALIZE = StageKind.TRAIN, StageKind.PREPARE, StageKind.FINALIZE


@dataclass(frozen=True)
class Trial:
    """An immutable snapshot of one batch-backed unit of work of a job: a candidate (kind "train":
    algorithm + params), or the job's data preparation or winner finalisation stage."""

    job_id: str
    trial_id: str
    index: int
    algorithm: str
    params: dict[str, Any]
    state: TrialState = TrialState.WAITING
    attempt: int = 0  # launches so far
    batch_id: str | None = None
    slot: int | None = None  # the job slot held while LAUNCHING/RUNNING
    capacity_slot: int | None = None  # the global capacity slot held while LAUNCHING/RUNNING
    metrics: dict[str, float] = field(default_factory=dict)
    objective: float | None = None  # the job metric's value on validation
    model_uri: str | None = None
    error: str | None = None
    created_at: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    conditions: tuple[Condition, ...] = ()
    kind: StageKind = StageKind.TRAIN
    outputs: dict[str, Any] = field(default_factory=dict)  # stage results: data report, parts, package...
    pack_id: str | None = None  # the pack this attempt runs in (its batch holds the pack's slots)
    handoff: int | None = None  # 0: this attempt's batch was created to take handoffs; n: the nth handed to it
    # multi-fidelity search (domain/pruning.py): the rung this trial runs (or last ran), the fraction of the
    # train part it fits on there, its validation score at each rung so far, and `attempt` when that rung began
    rung: int = 0
    train_fraction: float = 1.0
    rung_scores: list[float] = field(default_factory=list)
    rung_attempt: int = 0
    # the time limit of the attempt's stage (zygarde.domain.time_limits), set when it is claimed
    time_limit_seconds: float | None = None
    runs: tuple[BatchRun, ...] = ()  # every ended attempt that ran (budgets count them all)

    def __post_init__(self) -> None:
        if not isinstance(self.kind, StageKind):
            try:
                object.__setattr__(self, "kind", StageKind(self.kind))
            except ValueError:
                raise ValueError(f"trial {self.trial_id}: unknown kind {self.kind!r}") from None
        if self.state is TrialState.SUCCEEDED and self.kind == TRAIN and self.objective is None:
            raise ValueError(f"trial {self.trial_id}: SUCCEEDED needs an objective value")
        if self.state is TrialState.PRUNED and not self.rung_scores:
            raise ValueError(f"trial {self.trial_id}: PRUNED needs the score of its last rung")
        if self.state is TrialState.FAILED and not self.error:
            raise ValueError(f"trial {self.trial_id}: FAILED needs an error")
        if self.state.is_active() and (self.slot is None or self.attempt < 1):
            raise ValueError(f"trial {self.trial_id}: {self.state.value} needs a slot and an attempt")

    def transition(self, new: TrialState, reason: str, message: str, now: str, **changes: Any) -> "Trial":
        """The trial in state `new` with a condition recorded. Raises InvalidTransition."""
        if new not in TRIAL_TRANSITIONS[self.state]:
            raise InvalidTransition(f"trial {self.job_id}/{self.trial_id}: {self.state.value} -> {new.value}")
        extra: dict[str, Any] = {}
        if new.is_finished():
            extra["finished_at"] = now
        if new is TrialState.RUNNING:
            extra.update(started_at=now, finished_at=None)  # a later rung's attempt runs anew
        if new is TrialState.PAUSED:
            extra["finished_at"] = now  # this rung's attempt has ended
        if self.state is TrialState.RUNNING and new is not TrialState.RUNNING and self.started_at:
            extra["runs"] = self.runs + (BatchRun(self.batch_id or "", self.started_at, now),)
        cond = Condition(new.value, reason, message, now)
        return dataclasses.replace(self, state=new, conditions=self.conditions + (cond,), **extra, **changes)

    @property
    def duration_seconds(self) -> float | None:
        from datetime import datetime

        if not (self.started_at and self.finished_at):
            return None
        return (datetime.fromisoformat(self.finished_at) - datetime.fromisoformat(self.started_at)).total_seconds()


@dataclass(frozen=True)
class Job:
    """An immutable snapshot of a training job's header (its trials live apart, to avoid a hot document)."""

    job_id: str
    owner: str
    state: JobState
    spec: dict[str, Any]  # the validated spec (or, for REJECTED, whatever could be read)
    created_at: str
    trial_count: int = 0
    best_trial_id: str | None = None
    best_objective: float | None = None
    error: str | None = None
    finished_at: str | None = None
    conditions: tuple[Condition, ...] = ()
    model_version: int | None = None  # the registry version of the winner, once registered
    model_name: str | None = None
    test_metrics: dict[str, float] = field(default_factory=dict)
    # the plan made at acceptance (service_layer/job_plans.py): planner.Plan.to_dict() and "summary",
    # "sized" (the planner chose the batches' size), "fixed_parallel", "price_per_dcu_hour", "infeasible"
    plan: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.state in (JobState.REJECTED, JobState.FAILED) and not self.error:
            raise ValueError(f"job {self.job_id}: {self.state.value} needs an error")

    @property
    def duration_seconds(self) -> float | None:
        """Submission to the end, once the job has ended."""
        from datetime import datetime

        if not (self.state.is_finished() and self.finished_at):
            return None
        return (datetime.fromisoformat(self.finished_at) - datetime.fromisoformat(self.created_at)).total_seconds()

    def transition(self, new: JobState, reason: str, message: str, now: str, **changes: Any) -> "Job":
        if new not in JOB_TRANSITIONS[self.state]:
            raise InvalidTransition(f"job {self.job_id}: {self.state.value} -> {new.value}")
        cond = Condition(new.value, reason, message, now)
        return dataclasses.replace(self, state=new, finished_at=now, conditions=self.conditions + (cond,), **changes)


def best_trial(trials: list[Trial], direction: str) -> Trial | None:
    """The succeeded training trial with the best objective (ties: lowest index). Only trials fitted on
    the whole train part compete: a score at a lower fidelity is not comparable."""
    done = [t for t in trials if t.kind == TRAIN and t.state is TrialState.SUCCEEDED and t.objective is not None
            and t.train_fraction >= 1.0]
    if not done:
        return None
    sign = -1.0 if direction == "maximize" else 1.0
    return min(done, key=lambda t: (sign * t.objective, t.index))
