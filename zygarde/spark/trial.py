"""One trial end to end: read the prepared parts, preprocess, fit, score, save the model, then report.

`run_trial` never raises: any failure becomes a FAILED TrialResult with one readable sentence.
`execute` also writes that result to request.result_uri, as the very last act of the batch.
What a trial shares with a pack of trials and the finalisation's refit lives in zygarde.spark.fitting.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from pyspark.sql import DataFrame, SparkSession

from zygarde.domain.contracts import TrialRequest, TrialResult
from zygarde.domain.errors import SpecError
from zygarde.spark import boosting, hadoop_fs
from zygarde.spark.dataset import LABEL
from zygarde.spark.estimators import resolve_params
from zygarde.spark.evaluation import evaluate, finite
from zygarde.spark.failures import describe_failure
from zygarde.spark.features import FEATURES
from zygarde.spark.fitting import (LATENCY_ROWS, PREDICTED_LABEL, Parts, Phases, algorithm_for,  # noqa: F401
                                   cross_validate, distance, fit_pipeline, fold_parts, folds,
                                   load_prepared, predict_ms_per_1k, require_objective, use_cv_objective)
from zygarde.spark.resources import ResourceMeter

log = logging.getLogger(__name__)


@dataclass
class _Outcome:
    metrics: dict[str, float] = field(default_factory=dict)
    train_rows: int | None = None
    validation_rows: int | None = None


def _context(request: TrialRequest) -> str:
    return f"job_id={request.job_id} trial_id={request.trial_id} attempt={request.attempt}"


def _load_parts(spark: SparkSession, request: TrialRequest, cached: list[DataFrame]) -> Parts:
    """The train and validation rows: the Parquet parts the job's preparation wrote. A trial never
    reads the raw dataset; a request without the parts is refused."""
    if not (request.train_uri and request.validation_uri):
        raise SpecError([("", "the trial request names no prepared data (train_uri and validation_uri): a trial "
                              "trains only on the parts the job's data preparation writes")])
    return load_prepared(spark, request.train_uri, request.validation_uri, request.target, request.task, cached)


def _cross_validate(request: TrialRequest, algorithm, parts: Parts, cached: list[DataFrame]) -> dict[str, float]:
    """k-fold CV on the train part: fit on the other folds (preprocessing included), score on this one."""
    folded, sizes = folds(request, parts.train, cached)

    def score_fold(i: int) -> DataFrame:
        fit_part, held_out = fold_parts(folded, i)
        model, _ = fit_pipeline(request, algorithm, parts.raw, fit_part, parts.labels, cached)
        return model.transform(held_out)

    cv = cross_validate(request, algorithm, sizes, score_fold, _context(request))
    folded.unpersist()
    return cv


def _train_and_score(spark: SparkSession, request: TrialRequest, cached: list[DataFrame]) -> _Outcome:
    algorithm = algorithm_for(request)
    resolve_params(algorithm, request.params)  # fail fast, before touching data
    outcome, phases = _Outcome(), Phases(_context(request))
    parts = _load_parts(spark, request, cached)
    outcome.train_rows, outcome.validation_rows = parts.train_rows, parts.validation_rows
    phases.done("load", train_rows=outcome.train_rows, validation_rows=outcome.validation_rows)

    cv: dict[str, float] = {}
    if request.k_folds >= 2:
        cv = _cross_validate(request, algorithm, parts, cached)
        phases.done("cross_validate", k_folds=request.k_folds)
    fitted_rows: list[int] = []
    model, outcome.metrics["train_seconds"] = fit_pipeline(request, algorithm, parts.raw, parts.train, parts.labels,
                                                           cached, phases, validation=parts.validation,
                                                           fitted_rows=fitted_rows)
    if fitted_rows:  # a successive halving rung: fitted on a sample of the train part
        outcome.train_rows = fitted_rows[0]
        outcome.metrics.update(train_fraction=float(request.train_fraction), fit_rows=float(fitted_rows[0]))
    outcome.metrics.update(boosting.fitted_metrics(model))
    parts.train.unpersist()  # only validation rows are needed from here on

    predictions = model.transform(parts.validation).cache()
    cached.append(predictions)
    outcome.metrics.update(evaluate(request.task, predictions, label_col=LABEL, features_col=FEATURES,
                                    distance=distance(algorithm, request.params)))
    phases.done("evaluate")
    require_objective(request, outcome.metrics)
    if cv:
        use_cv_objective(request, outcome.metrics, cv)
    outcome.metrics["predict_ms_per_1k"] = predict_ms_per_1k(spark, model, parts.validation, outcome.validation_rows)
    phases.done("latency")
    model.write().overwrite().save(hadoop_fs.qualify(request.model_uri))
    outcome.metrics["model_bytes"] = float(hadoop_fs.total_bytes(spark, request.model_uri))
    phases.done("save")
    return outcome


def run_trial(spark: SparkSession, request: TrialRequest) -> TrialResult:
    """Trains and scores one trial. Never raises."""
    started = time.monotonic()
    meter = ResourceMeter(spark)
    cached: list[DataFrame] = []
    common = dict(job_id=request.job_id, trial_id=request.trial_id, attempt=request.attempt,
                  spark_version=spark.version)
    log.info("trial started %s algorithm=%s task=%s", _context(request), request.algorithm, request.task)
    try:
        outcome = _train_and_score(spark, request, cached)
        metrics = finite({**outcome.metrics, **meter.usage()})
        result = TrialResult(status="SUCCEEDED", metrics=metrics, model_uri=request.model_uri,
                             train_rows=outcome.train_rows, validation_rows=outcome.validation_rows,
                             duration_seconds=time.monotonic() - started, **common)
        log.info("trial succeeded %s %s=%s", _context(request), request.metric, metrics.get(request.metric))
    except Exception as exc:  # noqa: BLE001 - every failure must become a result
        kind, message = describe_failure(exc, "training")
        log.error("trial failed %s error_kind=%s error=%s", _context(request), kind, message, exc_info=True)
        result = TrialResult(status="FAILED", error=message, error_kind=kind,
                             duration_seconds=time.monotonic() - started, **common)
    finally:
        for df in cached:
            try:
                df.unpersist()
            except Exception:  # noqa: BLE001 - best effort
                pass
    return result


def execute(spark: SparkSession, request: TrialRequest) -> TrialResult:
    """run_trial, then write the result to request.result_uri (last). Raises only if that write fails."""
    return hadoop_fs.run_then_report(spark, run_trial, request, "train")
