"""What a pack of trials (zygarde.spark.pack_runner) and the winner's refit
at finalisation (zygarde.spark.refit) share: the prepared parts read and labelled, preprocessing
fitted on the training rows, a learner fitted on the preprocessed rows and wrapped with them (and
IndexToString) in one PipelineModel, k-fold cross-validation, the objective checks and the latency probe.

A "candidate" is anything with the attributes task, metric, target, algorithm, params, seed, k_folds,
group_by and train_fraction: a Candidate built from a packed trial or a refit.

A train_fraction below 1 (a successive halving rung, domain/pruning.py) fits the learner on a seeded
sample of the training rows (sample_train); the preprocessing is still fitted on all of them, and the
model is always scored on the whole validation part, so that scores at one fraction compare.
"""
from __future__ import annotations

import logging
import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from pyspark.ml import Model, PipelineModel
from pyspark.ml.feature import IndexToString
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from zygarde.domain import algorithms
from zygarde.domain.algorithms import CLUSTERING, Algorithm
from zygarde.domain.errors import DatasetError, SpecError
from zygarde.spark import boosting
from zygarde.spark.dataset import LABEL, read_dataset, with_label
from zygarde.spark.estimators import build_estimator, resolve_params
from zygarde.spark.evaluation import evaluate
from zygarde.spark.features import FEATURES, FeaturePlan, Prepared, fit_preprocessing, plan_features, profile
from zygarde.spark.splitting import with_fold
from zygarde.spark.validation_predictions import ROW_ID, with_row_id

log = logging.getLogger(__name__)

LATENCY_ROWS = 10_000
MIN_SAMPLE_ROWS = 2_000  # a rung's sample holds at least this many training rows (all of them when fewer)
PART = "zy__part"  # 0 train / 1 validation, when the job's data comes prepared
FOLD = "zy__fold"  # 0..k-1: the cross-validation fold of a train row
PREDICTED_LABEL = "predicted_label"  # the class name, next to Spark's numeric "prediction"


@dataclass(frozen=True)
class Candidate:
    """A learner to fit and score."""

    task: str
    metric: str
    target: str
    algorithm: str
    params: dict[str, Any]
    seed: int
    k_folds: int = 0
    group_by: tuple[str, ...] = ()
    train_fraction: float = 1.0
    ordinal_columns: tuple[str, ...] = ()  # data.ordinal_columns (features.plan_features' `ordinal`)


class Phases:
    """Logs how long each phase takes (key=value, with the ids in `context`)."""

    def __init__(self, context: str):
        self.context, self.t = context, time.monotonic()

    def done(self, phase: str, **extra) -> float:
        now = time.monotonic()
        seconds, self.t = now - self.t, now
        details = "".join(f" {k}={v}" for k, v in extra.items())
        log.info("phase done %s phase=%s seconds=%.2f%s", self.context, phase, seconds, details)
        return seconds


def algorithm_for(candidate) -> Algorithm:
    algorithm = algorithms.get(candidate.algorithm)
    if algorithm is None:
        raise SpecError([("algorithm", f"unknown algorithm {candidate.algorithm!r}")])
    if candidate.task not in algorithm.tasks:
        raise SpecError([("algorithm", f"{candidate.algorithm} cannot do {candidate.task} "
                                       f"(it does: {', '.join(sorted(algorithm.tasks))})")])
    return algorithm


def objective(candidate) -> str | None:
    return candidate.metric or algorithms.DEFAULT_METRIC.get(candidate.task)


def distance(algorithm: Algorithm, params: dict[str, Any]) -> str:
    return resolve_params(algorithm, params).get("distanceMeasure", "euclidean")


@dataclass
class Parts:
    """The labelled train and validation rows (cached), the raw columns and the class names."""

    raw: DataFrame  # the train part as read: its columns are what the model takes
    train: DataFrame
    validation: DataFrame
    labels: list[str] | None
    train_rows: int
    validation_rows: int


def cache_parts(raw: DataFrame, base: DataFrame, train: DataFrame, validation: DataFrame,
                labels: list[str] | None, cached: list[DataFrame]) -> Parts:
    """Caches and counts train and validation (filtered from the cached, labelled `base`, which is
    released once they are); fails when they are too small to fit and score."""
    train, validation = train.cache(), validation.cache()
    cached += [train, validation]
    parts = Parts(raw, train, validation, labels, train.count(), validation.count())
    base.unpersist()
    if parts.train_rows < 2 or parts.validation_rows < 1:
        raise DatasetError(f"the dataset is too small to train and validate: {parts.train_rows} training "
                           f"and {parts.validation_rows} validation rows")
    return parts


def load_prepared(spark: SparkSession, train_uri: str, validation_uri: str, target: str, task: str,
                  cached: list[DataFrame]) -> Parts:
    """The job's prepared Parquet parts, labelled together (the classes of both parts, in one order), each
    row with its stable id (validation_predictions.ROW_ID)."""
    raw = read_dataset(spark, train_uri, "parquet")
    both = with_row_id(raw).withColumn(PART, F.lit(0)).unionByName(
        with_row_id(read_dataset(spark, validation_uri, "parquet")).withColumn(PART, F.lit(1)))
    labelled, labels = with_label(both, target, task)
    base = labelled.cache()
    cached.append(base)
    return cache_parts(raw, base, base.filter(F.col(PART) == 0), base.filter(F.col(PART) == 1), labels, cached)


def preprocessing_key(algorithm: Algorithm) -> str:
    """What fit_preprocessing's output depends on besides the data: learners with the same key share
    one fitted preprocessing ("one_hot+standard", "indexed", "one_hot+minmax"...)."""
    scaling = f"+{algorithm.scaler}" if algorithm.scale_features else ""
    return ("one_hot" if algorithm.one_hot else "indexed") + scaling


def profile_plan(target: str, raw: DataFrame, train: DataFrame,
                 ordinal: tuple[str, ...] = ()) -> tuple[FeaturePlan, dict]:
    """The feature plan of the raw columns (target excluded; `ordinal`: data.ordinal_columns) and the
    training rows' column stats."""
    plan = plan_features(raw, {target} if target in raw.columns else set(), ordinal)
    return plan, profile(train, plan)


@dataclass
class Features:
    """Preprocessing fitted on training rows, with the rows it produced (cached, materialised)."""

    prepared: Prepared
    train: DataFrame  # FEATURES (+ LABEL)
    validation: DataFrame | None  # the same for the rows the model is scored on, when given
    seconds: float = 0.0
    frames: list[DataFrame] = field(default_factory=list)

    def unpersist(self) -> None:
        for df in self.frames:
            df.unpersist()


def preprocess(task: str, algorithm: Algorithm, plan: FeaturePlan, stats: dict, train: DataFrame,
               validation: DataFrame | None, cached: list[DataFrame]) -> Features:
    started = time.monotonic()
    prepared = fit_preprocessing(train, plan, stats, algorithm)
    columns = [FEATURES, LABEL] if task != CLUSTERING else [FEATURES]
    if ROW_ID in train.columns and (validation is None or ROW_ID in validation.columns):
        columns.append(ROW_ID)  # the rows' ids, for the validation predictions a trial keeps
    frames = [prepared.model.transform(df).select(*columns).cache() for df in (train, validation) if df is not None]
    cached += frames
    for df in frames:
        df.count()
    return Features(prepared, frames[0], frames[1] if validation is not None else None,
                    time.monotonic() - started, frames)


def sample_train(rows: DataFrame, fraction: float, seed: int, count: int | None = None,
                 min_rows: int | None = None) -> DataFrame:
    """A seeded Bernoulli sample of about `fraction` of `rows` (at least min(all, min_rows) of them), or
    `rows` itself at fraction 1. Deterministic for the same rows in the same partitions (a cached part,
    or a row-wise transformation of it: the same rows are kept before and after preprocessing), and the
    same seed keeps a larger fraction's sample a superset of a smaller one's."""
    if fraction >= 1.0:
        return rows
    count = rows.count() if count is None else count
    min_rows = MIN_SAMPLE_ROWS if min_rows is None else min_rows
    wanted = max(fraction * count, min(count, min_rows))
    if wanted >= count:
        return rows
    return rows.sample(withReplacement=False, fraction=wanted / count, seed=seed)


def train_fraction(candidate) -> float:
    return float(getattr(candidate, "train_fraction", 1.0) or 1.0)


@dataclass
class Fitted:
    model: PipelineModel  # preprocessing + learner (+ IndexToString)
    learner: Model
    seconds: float  # the learner's fit
    rows: int | None = None  # the training rows fitted on, when a sample of them (train_fraction < 1)


def fit_learner(candidate, algorithm: Algorithm, features: Features, labels: list[str] | None,
                early: bool = False) -> Fitted:
    """The learner fitted on features.train (a seeded sample of it at a train_fraction below 1); with
    `early` (XGBoost's early stopping) it also watches features.validation, marked."""
    started = time.monotonic()
    train, rows = features.train, None
    if train_fraction(candidate) < 1.0:
        train = sample_train(train, train_fraction(candidate), candidate.seed)
        rows = train.count()
    prepared, supervised = features.prepared, candidate.task != CLUSTERING
    extra = boosting.settings(features.train.sparkSession, seed=candidate.seed, task=candidate.task,
                              metric=candidate.metric, validation=early,
                              feature_types=prepared.feature_types) if algorithm.barrier else None
    estimator = build_estimator(algorithm, candidate.params, candidate.seed, features_col=FEATURES,
                                label_col=LABEL if supervised else None, n_features=prepared.n_features,
                                n_classes=len(labels) if labels else None,
                                max_categories=0 if algorithm.one_hot else prepared.max_categories, extra=extra)
    data = boosting.with_validation(train, features.validation) if early else train
    learner = estimator.fit(data)
    stages = [*prepared.model.stages, learner]
    if labels:
        stages.append(IndexToString(inputCol="prediction", outputCol=PREDICTED_LABEL, labels=labels))
    return Fitted(PipelineModel(stages), learner, time.monotonic() - started, rows)


def fit_pipeline(candidate, algorithm: Algorithm, raw: DataFrame, train: DataFrame, labels: list[str] | None,
                 cached: list[DataFrame], phases: Phases | None = None,
                 validation: DataFrame | None = None, fitted_rows: list[int] | None = None) -> tuple[PipelineModel, float]:
    """(preprocessing + learner fitted on `train`, seconds it took). A learner that stops early
    (XGBoost) also gets the `validation` rows, marked, to watch. When the learner fits on a sample
    (train_fraction < 1), its row count is appended to `fitted_rows`."""
    started = time.monotonic()
    early = validation is not None and boosting.early_stopping(algorithm, candidate.params)
    plan, stats = profile_plan(candidate.target, raw, train, tuple(getattr(candidate, "ordinal_columns", ())))
    features = preprocess(candidate.task, algorithm, plan, stats, train, validation if early else None, cached)
    if phases:
        phases.done("preprocess", features=features.prepared.n_features)
    fitted = fit_learner(candidate, algorithm, features, labels, early)
    if fitted_rows is not None and fitted.rows is not None:
        fitted_rows.append(fitted.rows)
    if phases:
        phases.done("fit", **({"fit_rows": fitted.rows} if fitted.rows is not None else {}))
    features.unpersist()
    return fitted.model, time.monotonic() - started


def folds(candidate, train: DataFrame, cached: list[DataFrame]) -> tuple[DataFrame, dict[int, int]]:
    """(train rows with FOLD, cached; rows per fold): each row's fold comes from splitting.with_fold
    (row by row, copies of a row numbered; by group when group_by is set)."""
    k = candidate.k_folds
    folded = with_fold(train, seed=candidate.seed, k=k, name=FOLD, group_by=list(candidate.group_by)).cache()
    cached.append(folded)
    sizes = {int(r[0]): int(r[1]) for r in folded.groupBy(FOLD).count().collect()}
    if len(sizes) < k or sum(sizes.values()) - max(sizes.values()) < 2:  # an empty fold, or too few to fit
        raise DatasetError(f"the training part is too small for {k}-fold cross-validation "
                           f"({sum(sizes.values())} rows)")
    return folded, sizes


def fold_parts(folded: DataFrame, i: int) -> tuple[DataFrame, DataFrame]:
    """(rows to fit on, held-out rows to score) of fold i."""
    return folded.filter(F.col(FOLD) != i).drop(FOLD), folded.filter(F.col(FOLD) == i).drop(FOLD)


def cross_validate(candidate, algorithm: Algorithm, sizes: dict[int, int], score_fold: Callable[[int], DataFrame],
                   context: str) -> dict[str, float]:
    """k-fold CV: `score_fold(i)` is fold i's held-out rows scored by a model fitted on the other
    folds. cv_<objective>_mean / _std (population) and cv_<name> means."""
    k, goal = candidate.k_folds, objective(candidate)
    how_far = distance(algorithm, candidate.params)
    per_fold: list[dict[str, float]] = []
    for i in range(k):
        metrics = evaluate(candidate.task, score_fold(i), label_col=LABEL, features_col=FEATURES, distance=how_far)
        require_objective(candidate, metrics, where=f"cross-validation fold {i + 1} of {k}")
        per_fold.append(metrics)
        log.info("cv fold done %s fold=%d rows=%d %s=%s", context, i, sizes[i], goal, metrics.get(goal))
    names = set.intersection(*(set(m) for m in per_fold))
    out = {f"cv_{name}": statistics.fmean(m[name] for m in per_fold) for name in names if name != goal}
    if goal in names:
        values = [m[goal] for m in per_fold]
        out[f"cv_{goal}_mean"], out[f"cv_{goal}_std"] = statistics.fmean(values), statistics.pstdev(values)
    return out


def use_cv_objective(candidate, metrics: dict[str, float], cv: dict[str, float]) -> None:
    """The objective becomes its CV mean; its validation-part value is kept as validation_<metric>."""
    goal = objective(candidate)
    metrics.update(cv)
    if f"cv_{goal}_mean" in cv:
        metrics[f"validation_{goal}"] = metrics.get(goal)
        metrics[goal] = cv[f"cv_{goal}_mean"]


def require_objective(candidate, metrics: dict[str, float], where: str = "validation") -> None:
    """A model whose optimised metric is undefined (NaN, one cluster) cannot be ranked: fail it."""
    goal = objective(candidate)
    if goal in algorithms.METRICS.get(candidate.task, {}) and goal not in metrics:
        why = ("every validation row fell in one cluster" if candidate.task == CLUSTERING
               else "the learner may have diverged; try other hyperparameters")
        raise DatasetError(f"the model's {where} {goal} is not a finite number ({why})")


def predict_ms_per_1k(spark: SparkSession, transform: Callable[[DataFrame], DataFrame], validation: DataFrame,
                      rows: int) -> float:
    """Batch scoring time per 1,000 rows of `transform` (a model's, or an ensemble's): validation rows
    repeated up to ~LATENCY_ROWS so that Spark's fixed per-job cost does not dominate, scored and
    aggregated (so nothing is pruned)."""
    repeats = max(1, min(100, math.ceil(LATENCY_ROWS / rows)))
    sample = validation.crossJoin(spark.range(repeats).withColumnRenamed("id", "zy__repeat"))
    t0 = time.monotonic()
    transform(sample).agg(F.sum("prediction")).collect()
    return (time.monotonic() - t0) * 1000.0 * 1000.0 / (rows * repeats)
