"""The wire contract between the control plane and a Spark trial batch.

A batch receives one request as JSON in its `--request` argument (a PrepareRequest, a PackRequest of
one or more trials, a FinalizeRequest) and writes one result JSON object per piece of work (a
PrepareResult, a TrialResult per trial, a FinalizeResult) to the result URI it names. Stdlib only: this module is shipped to
the Spark batch inside the core package zip.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from zygarde.domain.fit_mode import MODES as FIT_MODES


# What a FAILED result's error_kind says, and whether another attempt may pass (the control plane
# retries only those): "runtime" is transient (a lost executor, I/O); the others fail the same way
# every time: "data" (the dataset, the job's selection or row filter, a path rule), "resource" (out of
# memory: not retried with the same memory), "deterministic" (the same input breaks the same code: a
# stack overflow, an unsupported operation), "time_limit" (the stage ran past its time limit).
DATA, RESOURCE, RUNTIME, DETERMINISTIC, TIME_LIMIT = "data", "resource", "runtime", "deterministic", "time_limit"
RETRYABLE_ERROR_KINDS = frozenset({RUNTIME})


def retryable(error_kind: str | None) -> bool:
    """Whether a failure of this kind may pass on another attempt."""
    return error_kind in RETRYABLE_ERROR_KINDS


class _JsonMessage:
    """JSON round trip for the contract dataclasses; unknown keys from a newer sender are ignored."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes):
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, data: dict):
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class PrepareRequest(_JsonMessage):
    """spark_jobs/prepare_data.py --request: validate the raw dataset once per job, write its data
    report and the train / validation / test parts as Parquet under output_prefix."""

    job_id: str
    attempt: int
    dataset_uri: str
    dataset_format: str
    target: str
    task: str
    seed: int
    validation_fraction: float
    test_fraction: float
    output_prefix: str  # gs://.../artifacts/{job}/data/ ; parts at {prefix}train, validation, test
    result_uri: str  # a PrepareResult JSON, written last
    dataset_options: dict[str, Any] = field(default_factory=dict)
    include_columns: list[str] | None = None
    exclude_columns: list[str] = field(default_factory=list)
    row_filter: dict[str, Any] | None = None  # a filter tree (zygarde.domain.row_filter), compiled in the batch
    expectations: dict[str, dict[str, Any]] = field(default_factory=dict)  # column -> {type, min, max, allowed}
    min_rows: int = 20
    group_by: list[str] = field(default_factory=list)  # keep each group of these columns in one part
    handoff_prefix: str | None = None  # see Handoff
    handoff_seconds: float = 0.0
    # The owner's folder (gs://BUCKET/datasets/{owner}/) every object the dataset takes in must lie
    # under, checked again on every listing in the batch; None for a dataset outside Zygarde's bucket.
    dataset_home: str | None = None
    time_limit_seconds: float = 0.0  # > 0: the stage is stopped after this long
    idle_prefix: str | None = None  # see Handoff



@dataclass(frozen=True)
class PrepareResult(_JsonMessage):
    job_id: str
    attempt: int
    status: str  # SUCCEEDED | FAILED
    report: dict[str, Any] = field(default_factory=dict)  # schema, row count, per-column stats, warnings
    parts: dict[str, str] = field(default_factory=dict)  # train / validation / test -> Parquet URI
    rows: dict[str, int] = field(default_factory=dict)  # train / validation / test -> row count
    fingerprint: dict[str, Any] = field(default_factory=dict)  # uri, size, crc32c/md5, generation of the input
    error: str | None = None  # the report's reasons when the data cannot serve
    error_kind: str | None = None  # DATA, RESOURCE, RUNTIME, DETERMINISTIC or TIME_LIMIT (retryable() says)



@dataclass(frozen=True)
class RefitSpec(_JsonMessage):
    """The winner to fit again at finalisation: its learner, params and seed, and the data."""

    algorithm: str
    params: dict[str, Any]
    seed: int
    train_uri: str
    validation_uri: str
    on_train_and_validation: bool = False  # fit on both parts (the job's final_fit says so)


@dataclass(frozen=True)
class EnsembleCandidate(_JsonMessage):
    """One of the best trials a finalisation may put in an ensemble (domain/ensemble.py): its learner,
    params (with its recorded best_iteration) and the Parquet of its validation predictions
    (TrialResult.validation_predictions_uri); model_uri when its model was kept."""

    trial_id: str
    algorithm: str
    params: dict[str, Any]
    predictions_uri: str
    model_uri: str | None = None


@dataclass(frozen=True)
class FinalizeRequest(_JsonMessage):
    """spark_jobs/finalize_model.py --request: score the winning model once on the test split and
    write the model package (the PipelineModel copied under package_uri + manifest.json)."""

    job_id: str
    attempt: int
    model_uri: str | None  # the winning trial's saved PipelineModel; None: refit it (see `refit`)
    test_uri: str  # the test part (Parquet) written by the preparation
    task: str
    target: str
    metric: str
    package_uri: str  # gs://.../models/{name}/{job_id}/ : model/ and manifest.json go under it
    result_uri: str  # a FinalizeResult JSON, written last
    manifest: dict[str, Any] = field(default_factory=dict)  # what the control plane knows: spec, params, ...
    # When no trial model was kept: the winner refitted here with the same params and seed, on the
    # train part (or train + validation), before it is scored on test and packaged.
    refit: RefitSpec | None = None
    handoff_prefix: str | None = None  # see Handoff
    handoff_seconds: float = 0.0
    time_limit_seconds: float = 0.0  # > 0: the stage is stopped after this long
    fit_mode: str = "auto"  # how an XGBoost refit fits: as PackRequest.fit_mode
    # The best trials (best first, the winner among them) whose validation predictions the ensemble
    # selection reads; fewer than two: no ensemble. ensemble_rounds: its additions after the first member.
    ensemble: tuple[EnsembleCandidate, ...] = ()
    ensemble_rounds: int = 25
    ordinal_columns: list[str] = field(default_factory=list)  # as PackRequest.ordinal_columns, for a refit

    def __post_init__(self) -> None:
        if isinstance(self.refit, dict):
            object.__setattr__(self, "refit", RefitSpec(**self.refit))
        object.__setattr__(self, "ensemble", tuple(EnsembleCandidate.from_dict(c) if isinstance(c, dict) else c
                                                   for c in self.ensemble))
        if self.model_uri is None and self.refit is None:
            raise ValueError("a FinalizeRequest needs model_uri or refit")
        if self.fit_mode not in FIT_MODES:
            raise ValueError(f"fit_mode must be one of {', '.join(FIT_MODES)}, not {self.fit_mode!r}")



@dataclass(frozen=True)
class FinalizeResult(_JsonMessage):
    job_id: str
    attempt: int
    status: str  # SUCCEEDED | FAILED
    test_metrics: dict[str, float] = field(default_factory=dict)
    package_uri: str | None = None
    manifest_uri: str | None = None
    error: str | None = None
    error_kind: str | None = None
    online: dict[str, Any] | None = None  # {"status": "available" | "unavailable", "reason"?, "onnx_uri"?, ...}
    # {"status", "native", "columns": [{"column", "permutation"?, "native"?}] (most important first, the top
    # 50), "permutation": {"metric", "rows", "repeats", "baseline", "part", ...}} or {"status", "reason"}
    importance: dict[str, Any] | None = None
    explanations: dict[str, Any] | None = None  # online attributions: {"status", "method"?, "output"?, "reason"?}
    # The ensemble selection: {"status": "registered" | "not_better" | "skipped", "reason"?, "metric",
    # "validation_score", "best_single_trial_id", "best_single_score", "rounds",
    # "members": [{"trial_id", "algorithm", "count", "weight"}]}; None when none was considered.
    ensemble: dict[str, Any] | None = None



@dataclass(frozen=True)
class PackedTrial(_JsonMessage):
    """One trial of a pack: its learner and where its own TrialResult goes."""

    trial_id: str
    attempt: int
    algorithm: str
    params: dict[str, Any]
    result_uri: str  # results/{job}/{trial}/attempt-{n}.json, written as soon as this trial ends
    model_uri: str | None = None  # set only when the job keeps every trial's model (keep_trial_models)
    train_fraction: float = 1.0  # < 1: fit on a seeded sample of the train part (a successive halving rung)
    # Where a trial fitted on all the train rows writes its validation predictions (one Parquet file:
    # zy__row_id, zy__label, prediction, probability?) for the ensemble selection; None: not kept.
    predictions_uri: str | None = None


@dataclass(frozen=True)
class PackRequest(_JsonMessage):
    """spark_jobs/train_pack.py --request: train a pack of one job's trials in one Spark session.
    The prepared parts are read and cached once, each preprocessing plan is fitted once and shared,
    and the trials fit `concurrency` at a time; each writes its own TrialResult when it ends."""

    job_id: str
    pack_id: str
    task: str
    metric: str
    target: str
    seed: int
    train_uri: str
    validation_uri: str
    trials: tuple[PackedTrial, ...]
    k_folds: int = 0
    group_by: list[str] = field(default_factory=list)
    concurrency: int = 0  # trials fitted at once; 0: the session's default parallelism
    handoff_prefix: str | None = None  # see Handoff
    handoff_seconds: float = 0.0
    time_limit_seconds: float = 0.0  # > 0: the pack is stopped after this long
    idle_prefix: str | None = None  # see Handoff
    # How XGBoost trials fit (domain/fit_mode.py): "auto" (trial-parallel when the prepared parts fit an
    # executor's memory), "trial_parallel" (one single-node fit per Spark task) or "data_parallel"
    # (one xgboost.spark barrier stage per trial).
    fit_mode: str = "auto"
    # data.ordinal_columns: string columns XGBoost splits as numbers (their values in lexical order);
    # its other string columns are native categoricals
    ordinal_columns: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        trials = tuple(PackedTrial.from_dict(t) if isinstance(t, dict) else t for t in self.trials)
        object.__setattr__(self, "trials", trials)
        if not trials:
            raise ValueError("a pack holds at least one trial")
        ids = [t.trial_id for t in trials]
        if len(set(ids)) != len(ids):
            raise ValueError("a pack holds each trial once")
        if self.fit_mode not in FIT_MODES:
            raise ValueError(f"fit_mode must be one of {', '.join(FIT_MODES)}, not {self.fit_mode!r}")


@dataclass(frozen=True)
class TrialResult(_JsonMessage):
    job_id: str
    trial_id: str
    attempt: int
    status: str  # SUCCEEDED | FAILED
    metrics: dict[str, float] = field(default_factory=dict)  # validation metrics, all of them
    model_uri: str | None = None
    error: str | None = None  # one readable sentence when status == FAILED
    error_kind: str | None = None  # DATA, RESOURCE, RUNTIME, DETERMINISTIC or TIME_LIMIT (retryable() says)
    train_rows: int | None = None
    validation_rows: int | None = None
    duration_seconds: float | None = None
    spark_version: str | None = None
    validation_predictions_uri: str | None = None  # PackedTrial.predictions_uri, once written

    def __post_init__(self) -> None:
        if self.status not in ("SUCCEEDED", "FAILED"):
            raise ValueError(f"status must be SUCCEEDED or FAILED, not {self.status!r}")
        if self.status == "FAILED" and not self.error:
            raise ValueError("a FAILED result needs an error message")



EXIT = "exit"  # a Handoff's main when the batch is to end now


@dataclass(frozen=True)
class Handoff(_JsonMessage):
    """More work for a warm batch, or its leave to go. A batch whose request names a handoff_prefix does
    not exit when its work is done: it reports that it is idle ({idle_prefix}idle-{n}.json, an
    IdleReport), then waits up to handoff_seconds for {handoff_prefix}{n}.json (n = 1, 2, ...: the
    handoffs it has run, plus one) and runs it in the same Spark session, with no new start-up; a
    handoff whose main is EXIT ends it at once. The control plane writes it (create-only)."""

    main: str  # the entry point whose work this is: train_pack.py, finalize_model.py; or EXIT
    request: dict[str, Any] = field(default_factory=dict)  # that entry point's request (names the next handoff)


@dataclass(frozen=True)
class IdleReport(_JsonMessage):
    """A batch's report that it has done its work and waits for handoff number `handoff`."""

    job_id: str
    handoff: int


def handoff_object(prefix: str, n: int) -> str:
    return f"{prefix}{n}.json"


def idle_object(prefix: str, n: int) -> str:
    return f"{prefix}idle-{n}.json"


_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")  # a job or trial id (a valid Firestore document id)
DATA_PARTS = ("train", "validation", "test")  # the prepared parts, {output_prefix}{part}
MANIFEST_NAME = "manifest.json"  # a model package's manifest, {package_uri}manifest.json


def result_object_name(job_id: str, trial_id: str, attempt: int) -> str:
    """results/{job}/{trial}/attempt-{n}.json: the object whose finalize event reports a trial."""
    return f"results/{job_id}/{trial_id}/attempt-{attempt}.json"


def idle_prefix_name(job_id: str, batch_id: str) -> str:
    """results/{job}/{batch}/: where a batch reports it is idle (idle-{n}.json)."""
    return f"results/{job_id}/{batch_id}/"


def parse_idle_object_name(name: str) -> tuple[str, str, int] | None:
    """(job_id, batch_id, n) from results/{job}/{batch}/idle-{n}.json, or None if it is not exactly such
    a name (ids of letters, digits, _ and -; n >= 1 without leading zeros)."""
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != "results" or not _ID.fullmatch(parts[1]) or not _ID.fullmatch(parts[2]) \
            or not parts[3].startswith("idle-") or not parts[3].endswith(".json"):
        return None
    digits = parts[3][len("idle-"):-len(".json")]
    if not digits.isdecimal() or not digits.isascii():
        return None
    n = int(digits)
    if n < 1 or idle_object(idle_prefix_name(parts[1], parts[2]), n) != name:
        return None
    return parts[1], parts[2], n


def parse_result_object_name(name: str) -> tuple[str, str, int] | None:
    """(job_id, trial_id, attempt) from a result object name, or None if it is not exactly the name
    result_object_name gives, with ids of letters, digits, _ and - ("..", attempt 0, "attempt-01" are not)."""
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != "results" or not _ID.fullmatch(parts[1]) or not _ID.fullmatch(parts[2]) \
            or not parts[3].startswith("attempt-") or not parts[3].endswith(".json"):
        return None
    try:
        attempt = int(parts[3][len("attempt-"):-len(".json")])
    except ValueError:
        return None
    if attempt < 1 or result_object_name(parts[1], parts[2], attempt) != name:
        return None
    return parts[1], parts[2], attempt
