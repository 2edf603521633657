"""One trial end to end: read, split, preprocess, fit, score, save the model, then report.

`run_trial` never raises: any failure becomes a FAILED TrialResult with one readable sentence.
`execute` also writes that result to request.result_uri, as the very last act of the batch.
"""
from __future__ import annotations

import logging
import math
import statistics
import time
from dataclasses import dataclass, field

from pyspark.ml import PipelineModel
from pyspark.ml.feature import IndexToString
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from zygarde.domain import algorithms
from zygarde.domain.algorithms import CLUSTERING, Algorithm
from zygarde.domain.contracts import TrialRequest, TrialResult
from zygarde.domain.errors import DatasetError, SpecError
from zygarde.spark import boosting, hadoop_fs
from zygarde.spark.dataset import LABEL, read_dataset, split, with_label
from zygarde.spark.estimators import build_estimator, resolve_params
from zygarde.spark.evaluation import evaluate, finite
from zygarde.spark.failures import describe_failure
from zygarde.spark.features import FEATURES, fit_preprocessing, plan_features, profile
from zygarde.spark.resources import ResourceMeter
from zygarde.spark.splitting import with_fold

log = logging.getLogger(__name__)

LATENCY_ROWS = 10_000
_PART = "zy__part"  # 0 train / 1 validation, when the job's data comes prepared
_FOLD = "zy__fold"  # 0..k-1: the cross-validation fold of a train row
PREDICTED_LABEL = "predicted_label"  # the class name, next to Spark's numeric "prediction"


@dataclass
class _Outcome:
    metrics: dict[str, float] = field(default_factory=dict)
    train_rows: int | None = None
    validation_rows: int | None = None


def _context(request: TrialRequest) -> str:
    return f"job_id={request.job_id} trial_id={request.trial_id} attempt={request.attempt}"


def _algorithm_for(request: TrialRequest) -> Algorithm:
    algorithm = algorithms.get(request.algorithm)
    if algorithm is None:
        raise SpecError([("algorithm", f"unknown algorithm {request.algorithm!r}")])
    if request.task not in algorithm.tasks:
        raise SpecError([("algorithm", f"{request.algorithm} cannot do {request.task} "
                                       f"(it does: {', '.join(sorted(algorithm.tasks))})")])
    return algorithm


class _Phases:
    """Logs how long each phase of a trial takes (key=value, with the trial's ids)."""

    def __init__(self, context: str):
        self.context, self.t = context, time.monotonic()

    def done(self, phase: str, **extra) -> float:
        now = time.monotonic()
        seconds, self.t = now - self.t, now
        details = "".join(f" {k}={v}" for k, v in extra.items())
        log.info("phase done %s phase=%s seconds=%.2f%s", self.context, phase, seconds, details)
        return seconds


def _load_and_split(spark: SparkSession, request: TrialRequest, cached: list[DataFrame], outcome: _Outcome):
    """(raw columns, train, validation, class names): from the job's prepared Parquet parts when the
    request names them, else from the raw dataset split here by seed."""
    prepared = bool(request.train_uri and request.validation_uri)
    if prepared:
        raw = read_dataset(spark, request.train_uri, "parquet")
        both = raw.withColumn(_PART, F.lit(0)).unionByName(
            read_dataset(spark, request.validation_uri, "parquet").withColumn(_PART, F.lit(1)))
    else:
        raw = both = read_dataset(spark, request.dataset_uri, request.dataset_format, request.dataset_options)
    labelled, labels = with_label(both, request.target, request.task)  # classes of both parts
    base = labelled.cache()
    cached.append(base)
    if prepared:
        train, validation = base.filter(F.col(_PART) == 0), base.filter(F.col(_PART) == 1)
    else:
        train, validation = split(base, request.validation_fraction, request.seed, len(labels) if labels else None)
    train, validation = train.cache(), validation.cache()
    cached += [train, validation]
    outcome.train_rows, outcome.validation_rows = train.count(), validation.count()
    base.unpersist()
    if outcome.train_rows < 2 or outcome.validation_rows < 1:
        raise DatasetError(f"the dataset is too small to train and validate: {outcome.train_rows} training "
                           f"and {outcome.validation_rows} validation rows")
    return raw, train, validation, labels


def _fit_pipeline(request: TrialRequest, algorithm: Algorithm, raw: DataFrame, train: DataFrame,
                  labels: list[str] | None, cached: list[DataFrame],
                  phases: "_Phases | None" = None, validation: DataFrame | None = None) -> tuple[PipelineModel, float]:
    """(preprocessing + learner fitted on `train`, seconds it took). A learner that stops early
    (XGBoost) also gets the `validation` rows, marked, to watch."""
    started = time.monotonic()
    plan = plan_features(raw, {request.target} if request.target in raw.columns else set())
    prepared = fit_preprocessing(train, plan, profile(train, plan), algorithm)
    supervised = request.task != CLUSTERING
    early = validation is not None and boosting.early_stopping(algorithm, request.params)
    extra = boosting.settings(train.sparkSession, seed=request.seed, task=request.task, metric=request.metric,
                              validation=early) if algorithm.barrier else None
    estimator = build_estimator(algorithm, request.params, request.seed, features_col=FEATURES,
                                label_col=LABEL if supervised else None, n_features=prepared.n_features,
                                n_classes=len(labels) if labels else None,
                                max_categories=0 if algorithm.one_hot else prepared.max_categories, extra=extra)
    columns = [FEATURES, LABEL] if supervised else [FEATURES]
    prepped = prepared.model.transform(train).select(*columns)
    if early:
        prepped = boosting.with_validation(prepped, prepared.model.transform(validation).select(*columns))
    prepped = prepped.cache()
    cached.append(prepped)
    if phases:
        phases.done("preprocess", features=prepared.n_features)
    fitted = estimator.fit(prepped)
    if phases:
        phases.done("fit")
    prepped.unpersist()
    stages = [*prepared.model.stages, fitted]
    if labels:
        stages.append(IndexToString(inputCol="prediction", outputCol=PREDICTED_LABEL, labels=labels))
    return PipelineModel(stages), time.monotonic() - started


def _cross_validate(request: TrialRequest, algorithm: Algorithm, raw: DataFrame, train: DataFrame,
                    labels: list[str] | None, cached: list[DataFrame]) -> dict[str, float]:
    """k-fold CV on the train part: each row's fold comes from splitting.with_fold (row by row, copies
    of a row numbered; by group when group_by is set); fit on the other folds, score on this one.
    cv_<objective>_mean / _std (population) and cv_<name> means."""
    k, objective = request.k_folds, request.metric or algorithms.DEFAULT_METRIC.get(request.task)
    folded = with_fold(train, seed=request.seed, k=k, name=_FOLD, group_by=list(request.group_by)).cache()
    cached.append(folded)
    sizes = {int(r[0]): int(r[1]) for r in folded.groupBy(_FOLD).count().collect()}
    if len(sizes) < k or sum(sizes.values()) - max(sizes.values()) < 2:  # an empty fold, or too few to fit
        raise DatasetError(f"the training part is too small for {k}-fold cross-validation "
                           f"({sum(sizes.values())} rows)")
    distance = resolve_params(algorithm, request.params).get("distanceMeasure", "euclidean")
    per_fold: list[dict[str, float]] = []
    for i in range(k):
        fit_part = folded.filter(F.col(_FOLD) != i).drop(_FOLD)
        model, _ = _fit_pipeline(request, algorithm, raw, fit_part, labels, cached)
        scored = model.transform(folded.filter(F.col(_FOLD) == i).drop(_FOLD))
        metrics = evaluate(request.task, scored, label_col=LABEL, features_col=FEATURES, distance=distance)
        _require_objective(request, metrics, where=f"cross-validation fold {i + 1} of {k}")
        per_fold.append(metrics)
        log.info("cv fold done %s fold=%d rows=%d %s=%s", _context(request), i, sizes[i], objective,
                 metrics.get(objective))
    folded.unpersist()
    names = set.intersection(*(set(m) for m in per_fold))
    out = {f"cv_{name}": statistics.fmean(m[name] for m in per_fold) for name in names if name != objective}
    if objective in names:
        values = [m[objective] for m in per_fold]
        out[f"cv_{objective}_mean"], out[f"cv_{objective}_std"] = statistics.fmean(values), statistics.pstdev(values)
    return out


def _train_and_score(spark: SparkSession, request: TrialRequest, cached: list[DataFrame]) -> _Outcome:
    algorithm = _algorithm_for(request)
    resolve_params(algorithm, request.params)  # fail fast, before touching data
    outcome, phases = _Outcome(), _Phases(_context(request))
    raw, train, validation, labels = _load_and_split(spark, request, cached, outcome)
    phases.done("load", train_rows=outcome.train_rows, validation_rows=outcome.validation_rows)

    cv: dict[str, float] = {}
    if request.k_folds >= 2:
        cv = _cross_validate(request, algorithm, raw, train, labels, cached)
        phases.done("cross_validate", k_folds=request.k_folds)
    model, outcome.metrics["train_seconds"] = _fit_pipeline(request, algorithm, raw, train, labels, cached, phases,
                                                            validation=validation)
    outcome.metrics.update(boosting.fitted_metrics(model))
    train.unpersist()  # only validation rows are needed from here on

    predictions = model.transform(validation).cache()
    cached.append(predictions)
    distance = resolve_params(algorithm, request.params).get("distanceMeasure", "euclidean")
    outcome.metrics.update(evaluate(request.task, predictions, label_col=LABEL, features_col=FEATURES,
                                    distance=distance))
    phases.done("evaluate")
    _require_objective(request, outcome.metrics)
    if cv:
        _use_cv_objective(request, outcome.metrics, cv)
    outcome.metrics["predict_ms_per_1k"] = _predict_ms_per_1k(spark, model, validation, outcome.validation_rows)
    phases.done("latency")
    model.write().overwrite().save(hadoop_fs.qualify(request.model_uri))
    outcome.metrics["model_bytes"] = float(hadoop_fs.total_bytes(spark, request.model_uri))
    phases.done("save")
    return outcome


def _use_cv_objective(request: TrialRequest, metrics: dict[str, float], cv: dict[str, float]) -> None:
    """The objective becomes its CV mean; its validation-part value is kept as validation_<metric>."""
    objective = request.metric or algorithms.DEFAULT_METRIC.get(request.task)
    metrics.update(cv)
    if f"cv_{objective}_mean" in cv:
        metrics[f"validation_{objective}"] = metrics.get(objective)
        metrics[objective] = cv[f"cv_{objective}_mean"]


def _require_objective(request: TrialRequest, metrics: dict[str, float], where: str = "validation") -> None:
    """A model whose optimised metric is undefined (NaN, one cluster) cannot be ranked: fail it."""
    objective = request.metric or algorithms.DEFAULT_METRIC.get(request.task)
    if objective in algorithms.METRICS.get(request.task, {}) and objective not in metrics:
        why = ("every validation row fell in one cluster" if request.task == CLUSTERING
               else "the learner may have diverged; try other hyperparameters")
        raise DatasetError(f"the model's {where} {objective} is not a finite number ({why})")


def _predict_ms_per_1k(spark: SparkSession, model: PipelineModel, validation: DataFrame, rows: int) -> float:
    """Batch scoring time per 1,000 rows: validation rows repeated up to ~LATENCY_ROWS so that
    Spark's fixed per-job cost does not dominate, scored and aggregated (so nothing is pruned)."""
    repeats = max(1, min(100, math.ceil(LATENCY_ROWS / rows)))
    sample = validation.crossJoin(spark.range(repeats).withColumnRenamed("id", "zy__repeat"))
    t0 = time.monotonic()
    model.transform(sample).agg(F.sum("prediction")).collect()
    return (time.monotonic() - t0) * 1000.0 * 1000.0 / (rows * repeats)


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
