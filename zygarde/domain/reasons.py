"""Why a job or trial changed state: the reason recorded with each condition (Katib style), one
CamelCase word. The one list of them; a condition's message says the rest in a sentence."""
from __future__ import annotations

import enum


class Reason(enum.StrEnum):
    # a job is accepted, refused, or ends
    ACCEPTED = "Accepted"
    PLAN_INFEASIBLE = "PlanInfeasible"  # accepted, but no plan meets its deadline or max_cost_usd
    REPLANNED = "Replanned"  # finished trials showed the plan's model wrong: a new plan for what is left
    INVALID_JOB = "InvalidJob"
    CANCELLED = "Cancelled"
    DATA_REJECTED = "DataRejected"
    ALL_TRIALS_FAILED = "AllTrialsFailed"
    FINALIZATION_FAILED = "FinalizationFailed"
    MODEL_REGISTERED = "ModelRegistered"
    BUDGET_EXHAUSTED = "BudgetExhausted"
    MODEL_NAME_TAKEN = "ModelNameTaken"  # the model's name went to another user before registration
    CANCEL_REFUSED = "CancelRefused"  # a cancel not signed by the job's owner (recorded on the job)
    JOB_FINISHED = "JobFinished"  # a trial still active when its job had ended
    # an attempt is claimed and started
    SLOT_CLAIMED = "SlotClaimed"  # a new batch: capacity slot and job slot claimed for it
    PACK_CLAIMED = "PackClaimed"  # work claimed into a waiting batch that holds its slots
    BATCH_CREATED = "BatchCreated"
    BATCH_EXISTED = "BatchExisted"
    HANDED_OFF = "HandedOff"
    HANDOFF_MISSED = "HandoffMissed"
    LAUNCH_REFUSED = "LaunchRefused"
    # an attempt ends
    RETRYING = "Retrying"
    BATCH_DIED = "BatchDied"
    BATCH_FAILED = "BatchFailed"
    DATA_ERROR = "DataError"
    DETERMINISTIC_FAILURE = "DeterministicFailure"  # the same input breaks the same code (a stack overflow)
    RESOURCE_EXHAUSTED = "ResourceExhausted"  # out of memory: another attempt with the same memory fails too
    TIME_LIMIT_EXCEEDED = "TimeLimitExceeded"  # stopped at the stage's time limit (domain/time_limits.py)
    RESULT_UNREADABLE = "ResultUnreadable"
    METRIC_MISSING = "MetricMissing"
    TRAINING_SUCCEEDED = "TrainingSucceeded"
    DATA_PREPARED = "DataPrepared"
    MODEL_PACKAGED = "ModelPackaged"
    # successive halving
    RUNG_SCORED = "RungScored"
    PROMOTED = "Promoted"
    PRUNED = "Pruned"
