"""The job's rules in one place: from a snapshot of a job (its trials, the clock, the settings it needs)
and an event, decide the trial transitions and the commands that follow. Pure: data in, a Decision out.

- an attempt that reports: its success as its stage recorded it; a rung's score waits PAUSED for the
  rung decisions; a failure is retried within max_attempts (per rung) while the job runs, only when it
  is transient (`failure`: a data, deterministic, memory or time-limit failure is final), and so is a
  batch that ended without a result, unless it was stopped at its time limit (`batch_ended`);
- the job: its data rejected, a budget spent (the search stops; the best so far is still finalised),
  successive halving's promotions and prunings, and, once every planned trial has finished, the
  winner's finalisation, its registration and the end of the job;
- a cancel: the job ends CANCELLED, its unfinished trials are cancelled with their batches.

Every transition is guarded by the state (and attempt, and rung) it was decided from, so a decision
applied twice, or on a snapshot gone stale, changes nothing the second time.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from zygarde.domain import budgets, contracts, pruning, search, time_limits
from zygarde.domain.decisions import CancelRequested, Decision, JobSnapshot, Reported, StageOutcome, TrialChange
from zygarde.domain.job_ending import cancel_unfinished, finish, stop_job, winner
from zygarde.domain.messages import AttemptEnded, Retry, ReviewJob
from zygarde.domain.model import ACTIVE, JobState, StageKind, Trial, TrialState
from zygarde.domain.reasons import Reason
from zygarde.domain.value_free import scrub


def decide(s: JobSnapshot, event: Reported | AttemptEnded | ReviewJob | CancelRequested) -> Decision:
    """The transitions and commands that follow `event` for this job."""
    if isinstance(event, CancelRequested):
        if s.job.state.is_finished():  # a repeated cancel, or a job's leftovers: cancel what is unfinished
            leftovers = [t for t in s.trials if t.state in ACTIVE or not event.active_only]
            return cancel_unfinished(leftovers, event.reason, event.message)
        return stop_job(s, event.reason, event.message, JobState.CANCELLED)
    own = _own(s, event)
    if s.job.state.is_finished():
        return own  # a late result of a job that ended: recorded, nothing follows
    return own + advance(s.assuming(own.changes))


def needs_whole_job(light: JobSnapshot, event: Any, *, others_unfinished: bool, any_paused: bool) -> bool:
    """Whether deciding `event` needs every trial of the job, from a light snapshot (the job and the
    event's trials; for a review, its preparation): the job may end, rung populations may change, or a
    budget counts every batch."""
    if isinstance(event, CancelRequested):
        return True
    if light.job.state.is_finished():
        return False
    spec, review = light.spec, isinstance(event, ReviewJob)
    if spec.budget.max_core_hours is not None or spec.budget.max_cost_usd is not None or \
            budgets.deadline_problem(light.job, spec, light.now, light.startup_seconds) is not None:
        return True
    for t in light.trials:
        if t.kind is not StageKind.TRAIN and (not review or t.state in (TrialState.FAILED, TrialState.CANCELLED)):
            return True  # a stage's own event, or a preparation that failed: the job's data, or its end
        if t.kind is StageKind.TRAIN and pruning.rungs_of(spec) is not None:
            return True  # a rung's population may change
    if review and any_paused:
        return True
    return not others_unfinished


def advance(s: JobSnapshot) -> Decision:
    """The job-level rules, in order: rejected data, budgets, rung decisions, the end."""
    prepare = s.trial(StageKind.PREPARE)
    if prepare is not None and prepare.state.is_finished() and prepare.state is not TrialState.SUCCEEDED:
        return stop_job(s, Reason.DATA_REJECTED, f"the data cannot serve: {prepare.error}", JobState.FAILED)
    problem = budgets.deadline_problem(s.job, s.spec, s.now, s.startup_seconds)
    if problem is None and s.whole:
        problem = budgets.core_hours_problem(s.spec, s.trials, s.now) or \
            budgets.cost_problem(s.job, s.spec, s.trials, s.now)
    if not s.whole:
        return Decision()
    if problem is not None:
        train = s.train()
        if winner(train, s.spec, problem)[0] is None:
            return stop_job(s, Reason.BUDGET_EXHAUSTED, problem, JobState.BUDGET_EXHAUSTED)
        cancels = cancel_unfinished(train, Reason.BUDGET_EXHAUSTED, problem)
        return cancels + finish(s.assuming(cancels.changes), problem)
    rungs = _rung_decisions(s)
    after = s.assuming(rungs.changes)
    if any(not t.state.is_finished() for t in after.trials):
        return rungs
    return rungs + finish(after, None)


# --- an attempt's own end -------------------------------------------------------------------------
def _own(s: JobSnapshot, event: Any) -> Decision:
    """The event's own trial change; none for a replay (the trial is no longer at that attempt, running)."""
    if not isinstance(event, (Reported, AttemptEnded)):
        return Decision()
    t = s.trial(event.trial_id)
    if t is None or t.state not in ACTIVE or t.attempt != event.attempt:
        return Decision()
    if isinstance(event, Reported):
        return _reported(s, t, event)
    return Decision((_ended(s, t, event.attempt, event.reason, event.message, event.retry),))


def _reported(s: JobSnapshot, t: Trial, event: Reported) -> Decision:
    outcome = event.outcome
    if not outcome.ok:
        return Decision((_ended(s, t, event.attempt, outcome.reason, outcome.message, outcome.retry,
                                outcome.changes),))
    guard = dict(expect=ACTIVE, attempt=event.attempt, premise=True)
    rungs = pruning.rungs_of(s.spec)
    if outcome.score is None or rungs is None:
        return Decision((TrialChange(t.trial_id, TrialState.SUCCEEDED, outcome.reason, outcome.message,
                                     changes=outcome.changes, **guard),))
    scores = [*t.rung_scores, outcome.score]
    if t.rung < rungs.last:  # a lower rung: the score waits PAUSED for the job's rung decisions
        kept = {k: v for k, v in outcome.changes.items() if k != "model_uri"}
        return Decision((TrialChange(
            t.trial_id, TrialState.PAUSED, Reason.RUNG_SCORED,
            f"{s.spec.objective}={outcome.score:.6g} at rung {t.rung} ({pruning.percent(t.train_fraction)})",
            changes={**kept, "rung_scores": scores}, **guard),))
    return Decision((TrialChange(t.trial_id, TrialState.SUCCEEDED, outcome.reason, outcome.message,
                                 changes={**outcome.changes, "rung_scores": scores}, **guard),))


def _ended(s: JobSnapshot, t: Trial, attempt: int, reason: Reason, message: str, retry: Retry,
           changes: Mapping[str, Any] | None = None) -> TrialChange:
    """An attempt that ended without a usable result: back to WAITING, or FAILED. A promoted trial's
    attempts at its new rung count from rung_attempt: each rung has max_attempts."""
    guard = dict(expect=ACTIVE, attempt=attempt, premise=True)
    if retry is Retry.ALWAYS:
        return TrialChange(t.trial_id, TrialState.WAITING, reason, message, **guard)
    if retry is Retry.IF_ATTEMPTS_LEFT and s.job.state is JobState.RUNNING \
            and t.attempt - t.rung_attempt < s.spec.max_attempts:
        return TrialChange(t.trial_id, TrialState.WAITING, Reason.RETRYING, f"{message}; retrying", **guard)
    return TrialChange(t.trial_id, TrialState.FAILED, reason, message, changes={**(changes or {}), "error": message},
                       **guard)


# --- how an attempt failed ------------------------------------------------------------------------
FAILURE_REASONS = {contracts.DATA: Reason.DATA_ERROR, contracts.DETERMINISTIC: Reason.DETERMINISTIC_FAILURE,
                   contracts.RESOURCE: Reason.RESOURCE_EXHAUSTED, contracts.TIME_LIMIT: Reason.TIME_LIMIT_EXCEEDED}


def failure(error_kind: str | None, message: str) -> StageOutcome:
    """A FAILED result, by the kind its batch gave: retried only when transient (contracts.retryable)."""
    retry = Retry.IF_ATTEMPTS_LEFT if contracts.retryable(error_kind) else Retry.NEVER
    return StageOutcome(False, FAILURE_REASONS.get(error_kind or "", Reason.BATCH_FAILED), message, retry)


def batch_ended(t: Trial, state: str, state_message: str, ended_at: datetime | None) -> AttemptEnded:
    """The end of an attempt whose batch ended `state` without a result: stopped at its time limit (Dataproc's
    ttl, or a batch that ran the attempt's whole limit) it is final, as another attempt would be stopped too;
    otherwise it died, and is retried. Dataproc's message is scrubbed of quoted values."""
    if time_limits.stopped_at_limit(t.time_limit_seconds, t.started_at, state, state_message, ended_at):
        return AttemptEnded(t.job_id, t.trial_id, t.attempt, Reason.TIME_LIMIT_EXCEEDED,
                            f"batch {t.batch_id} was stopped at its time limit of {t.time_limit_seconds:.0f} s (set "
                            "from its predicted cost) without a result; another attempt would be stopped too",
                            Retry.NEVER)
    detail = f": {scrub(state_message)}" if state_message else ""
    return AttemptEnded(t.job_id, t.trial_id, t.attempt, Reason.BATCH_DIED,
                        f"batch {t.batch_id} ended {state} without a result{detail}", Retry.IF_ATTEMPTS_LEFT)


# --- successive halving ----------------------------------------------------------------------------
def _rung_decisions(s: JobSnapshot) -> Decision:
    """Promotions and prunings due now for the job's PAUSED trials (each guarded by its rung)."""
    rungs = pruning.rungs_of(s.spec)
    if rungs is None or not any(t.state is TrialState.PAUSED for t in s.trials):
        return Decision()
    train = s.train()
    changes = []
    for d in pruning.decide(train, rungs, s.spec.direction, search.exhausted(s.spec, train), s.spec.objective):
        if d.action == pruning.PRUNE:
            changes.append(TrialChange(d.trial_id, TrialState.PRUNED, Reason.PRUNED, d.message,
                                       expect=frozenset({TrialState.PAUSED}), rung=d.rung))
        else:
            t = s.trial(d.trial_id)
            changes.append(TrialChange(d.trial_id, TrialState.WAITING, Reason.PROMOTED, d.message,
                                       expect=frozenset({TrialState.PAUSED}), rung=d.rung,
                                       changes={"rung": d.rung + 1, "train_fraction": rungs.fraction(d.rung + 1),
                                                "rung_attempt": t.attempt}))
    return Decision(tuple(changes))
