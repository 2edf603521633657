"""Trial-parallel XGBoost (issue #24), the driver's side: the pack's fit mode (domain/fit_mode.py) from
the session's executors, the prepared parts turned into float32 arrays and broadcast once per
preprocessing plan, one Spark job of one task per trial (single_node.fit_and_score on the broadcast
arrays, with the task's cores), and the fitted booster wrapped back into an xgboost.spark model.

The model is the one data-parallel fits register: the same estimator (fitting.fit_learner's, with
boosting.settings) makes the wrapper, as xgboost.spark's own fit does with the booster its barrier
stage returns, so the PipelineModel, its saving, batch prediction and ONNX export do not depend on the
mode. The booster's parameters come from that estimator too (booster_arguments), so both modes train
the same configuration; they differ only in how the rows are spread (one worker or several) and in
predict_ms_per_1k, here the booster scoring the validation arrays (no Spark job, no preprocessing).
"""
from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
from pyspark.ml import PipelineModel
from pyspark.ml.feature import IndexToString
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from zygarde.domain import algorithms, fit_mode
from zygarde.domain.algorithms import Algorithm
from zygarde.spark import boosting, hadoop_fs, warm_models
from zygarde.spark.dataset import LABEL
from zygarde.spark.estimators import build_estimator
from zygarde.spark.features import FEATURES, Prepared
from zygarde.spark.one_task_job import Arrays, run_task
from zygarde.spark.validation_predictions import ROW_ID, write_arrays
from zygarde.spark.fitting import (PREDICTED_LABEL, Features, Phases, fit_learner, preprocess, preprocessing_key,
                                   profile_plan, require_objective, train_fraction)

log = logging.getLogger(__name__)
LOCAL_MEMORY = "1g"  # spark.driver.memory's default: a local session's one executor is the driver


def task_slots(spark: SparkSession) -> int:
    """Tasks one executor runs at once: local[n]'s n, else spark.executor.cores / spark.task.cpus."""
    sc = spark.sparkContext
    if sc.master.startswith("local"):
        return max(1, sc.defaultParallelism)
    conf = sc.getConf()
    return max(1, int(conf.get("spark.executor.cores", "4")) // max(1, int(conf.get("spark.task.cpus", "1"))))


def executor_memory_bytes(spark: SparkSession) -> int:
    """One executor's memory (the driver's in local mode, where the driver runs the tasks)."""
    conf = spark.sparkContext.getConf()
    key = "spark.driver.memory" if spark.sparkContext.master.startswith("local") else "spark.executor.memory"
    return fit_mode.memory_bytes(conf.get(key, LOCAL_MEMORY), fit_mode.memory_bytes(LOCAL_MEMORY))


def decide(spark: SparkSession, rows: int, features: int, k_folds: int = 0,
           requested: str = fit_mode.AUTO) -> fit_mode.FitMode:
    return fit_mode.choose(rows, features, executor_memory_bytes(spark), task_slots(spark), k_folds=k_folds,
                           requested=requested)


def _arrays(frame: DataFrame, n_features: int, ids: bool = False) -> tuple[np.ndarray, ...]:
    extra = [F.col(ROW_ID).alias("r")] if ids and ROW_ID in frame.columns else []
    table = frame.select(vector_to_array(F.col(FEATURES), "float32").alias("x"),
                         F.col(LABEL).cast("float").alias("y"), *extra).toArrow()
    x = table.column("x").combine_chunks().flatten().to_numpy(zero_copy_only=False)
    out = (x.reshape(table.num_rows, n_features), table.column("y").to_numpy())
    return out + ((table.column("r").to_numpy(),) if extra else ())


def to_arrays(features: Features) -> dict[str, np.ndarray]:
    """features.train (and features.validation, with its row ids "rv" when it has them) as float32
    arrays, rows in the frames' order."""
    n = features.prepared.n_features
    out = dict(zip(("x", "y"), _arrays(features.train, n)))
    if features.validation is not None:
        out.update(zip(("xv", "yv", "rv"), _arrays(features.validation, n, ids=True)))
    return out


def broadcast(spark: SparkSession, features: Features) -> Arrays:
    data = to_arrays(features)
    return Arrays(spark.sparkContext.broadcast(data), len(data["y"]) + len(data.get("yv", ())))


def estimator(spark: SparkSession, candidate, algorithm: Algorithm, prepared: Prepared, labels: list[str] | None,
              early: bool):
    """The xgboost.spark estimator fitting.fit_learner would fit (its params are the model's)."""
    extra = boosting.settings(spark, seed=candidate.seed, task=candidate.task, metric=candidate.metric,
                              validation=early, feature_types=prepared.feature_types)
    return build_estimator(algorithm, candidate.params, candidate.seed, features_col=FEATURES, label_col=LABEL,
                           n_features=prepared.n_features, n_classes=len(labels) if labels else None,
                           max_categories=prepared.max_categories, extra=extra)


def booster_arguments(xgb_estimator, n_classes: int | None) -> dict[str, dict[str, Any]]:
    """The booster parameters, xgboost.train arguments and matrix arguments xgboost.spark derives from
    `xgb_estimator` for its workers (its _get_xgb_parameters: feature_types with enable_categorical
    among the matrix arguments), with the class count given instead of counted, and no per-round printing."""
    from xgboost.spark import SparkXGBClassifier

    params = xgb_estimator._gen_xgb_params_dict()
    fit_params = xgb_estimator._gen_fit_params_dict()
    fit_params.pop("verbose", None)
    params.update(fit_params)
    params["verbose_eval"] = False
    if isinstance(xgb_estimator, SparkXGBClassifier):
        if (n_classes or 2) <= 2:
            params["objective"] = "binary:logistic"
        else:
            params.update(objective="multi:softprob", num_class=int(n_classes))
    else:
        params["objective"] = xgb_estimator.getOrDefault("objective")
    params["num_boost_round"] = xgb_estimator.getOrDefault("n_estimators")
    booster_params, train_kwargs = xgb_estimator._get_xgb_train_call_args(params)
    types = xgb_estimator.getOrDefault("feature_types")
    dmatrix = {"missing": float(xgb_estimator.getOrDefault("missing")), "max_bin": booster_params.get("max_bin"),
               "feature_types": list(types) if types else None, "enable_categorical": True if types else None}
    return {"booster_params": {k: v for k, v in booster_params.items() if v is not None},
            "train_kwargs": {k: v for k, v in train_kwargs.items() if v is not None},
            "dmatrix_kwargs": {k: v for k, v in dmatrix.items() if v is not None}}


def wrap(xgb_estimator, kept: dict[str, Any]):
    """The xgboost.spark model of a booster fitted elsewhere, as the estimator's own fit makes it."""
    from xgboost.spark.summary import XGBoostTrainingSummary

    sklearn_model = xgb_estimator._convert_to_sklearn_model(bytearray(kept["booster"]), kept["config"])
    model = xgb_estimator._create_pyspark_model(sklearn_model, XGBoostTrainingSummary())
    model._resetUid(xgb_estimator.uid)
    return xgb_estimator._copyValues(model)


def pipeline(prepared: Prepared, learner, labels: list[str] | None) -> PipelineModel:
    stages = [*prepared.model.stages, learner]
    if labels:
        stages.append(IndexToString(inputCol="prediction", outputCol=PREDICTED_LABEL, labels=labels))
    return PipelineModel(stages)


def spec_of(candidate, xgb_estimator, labels: list[str] | None, early: bool, keep: bool,
            predictions: bool = False) -> dict[str, Any]:
    return {**booster_arguments(xgb_estimator, len(labels) if labels else None), "task": candidate.task,
            "early": early, "keep": keep, "seed": int(candidate.seed), "train_fraction": train_fraction(candidate),
            "predictions": predictions}


def fit_and_score(spark: SparkSession, candidate, algorithm: Algorithm, features: Features, arrays: Arrays,
                  labels: list[str] | None, keep: bool, context: str,
                  predictions: Any = None) -> tuple[dict[str, float], PipelineModel | None]:
    """A packed XGBoost trial in one task: (its metrics, its PipelineModel when `keep`); `predictions`:
    called with the task's validation predictions, (prediction, probabilities or None), to keep them."""
    early = boosting.early_stopping(algorithm, candidate.params)
    xgb = estimator(spark, candidate, algorithm, features.prepared, labels, early)
    started = time.monotonic()
    out = run_task(spark, arrays, spec_of(candidate, xgb, labels, early, keep, predictions is not None))
    if predictions is not None and "validation_prediction" in out:
        predictions(out["validation_prediction"], out.get("validation_probability"))
    seconds = out["seconds"]
    inside = seconds["matrix_seconds"] + seconds["train_seconds"] + seconds["evaluate_seconds"]
    for phase, value in (("fit", seconds["matrix_seconds"] + seconds["train_seconds"]),
                         ("evaluate", seconds["evaluate_seconds"]),
                         ("task_overhead", time.monotonic() - started - inside)):
        log.info("phase done %s phase=%s seconds=%.2f", context, phase, value)
    model = pipeline(features.prepared, wrap(xgb, out), labels) if keep else None
    return out["metrics"], model


def choose(pack) -> fit_mode.FitMode | None:
    """A pack's fit mode for its XGBoost trials, from its rows and the width of their preprocessing
    (fitted here, first); None when it has none or its data did not load (its trials say why)."""
    r = pack.request
    xgb = next((a for a in map(algorithms.get, (t.algorithm for t in r.trials)) if getattr(a, "barrier", False)),
               None)
    if xgb is None or pack.parts is None:
        return None
    width = 0
    if r.fit_mode != fit_mode.DATA_PARALLEL and r.k_folds < 2:  # else the width does not matter
        try:
            width = pack.features(xgb, None).prepared.n_features
        except Exception:  # noqa: BLE001 - each of its trials reports it
            return None
    mode = decide(pack.spark, pack.parts.train_rows + pack.parts.validation_rows, width, r.k_folds, r.fit_mode)
    log.info("fit mode %s mode=%s reason=%s", pack.ids, mode.mode, mode.reason)
    return mode


def in_a_task(mode: fit_mode.FitMode | None, algorithm: Algorithm | None) -> bool:
    return bool(mode is not None and mode.trial_parallel and algorithm is not None and algorithm.barrier)


def train_and_score(pack, trial, candidate, algorithm: Algorithm, context: str) -> dict[str, float]:
    """pack._train_and_score for a trial-parallel XGBoost trial: the pack's shared preprocessing, its
    arrays broadcast once (released with the preprocessing's last user), the trial in one task, then
    what the pack does with any trial's model (the warm model offered, the model saved)."""
    r, phases, key = pack.request, Phases(context), preprocessing_key(algorithm)
    features = pack.features(algorithm, None)

    def share() -> Arrays:
        shared = Phases(f"{pack.ids} plan={key}")
        arrays = broadcast(pack.spark, features)
        shared.done("broadcast", rows=arrays.rows)
        return arrays

    arrays = pack.once.get(("arrays", key), share)
    phases.done("preprocess", plan=key, shared=True)
    offer = r.handoff_seconds > 0 and candidate.train_fraction >= 1.0
    keep_predictions = None
    if pack.keeps_predictions(trial, candidate) and "rv" in arrays.broadcast.value:
        data = arrays.broadcast.value

        def keep_predictions(prediction, probabilities) -> None:
            pack.keep_predictions(trial, lambda: write_arrays(pack.spark, trial.predictions_uri, data["rv"],
                                                              data["yv"], prediction, probabilities))

    metrics, model = fit_and_score(pack.spark, candidate, algorithm, features, arrays, pack.parts.labels,
                                   bool(trial.model_uri) or offer, context, keep_predictions)
    if "fit_rows" in metrics:
        metrics["train_fraction"] = float(candidate.train_fraction)
    require_objective(candidate, metrics)
    phases = Phases(context)
    if offer:
        warm_models.offer(r.job_id, r.task, r.metric, metrics.get(r.metric), warm_models.fit_key(
            trial.algorithm, dict(trial.params), r.seed, r.train_uri, r.validation_uri), model)
    if trial.model_uri:
        model.write().overwrite().save(hadoop_fs.qualify(trial.model_uri))
        metrics["model_bytes"] = float(hadoop_fs.total_bytes(pack.spark, trial.model_uri))
        phases.done("save")
    return metrics


def fit_pipeline(candidate, algorithm: Algorithm, raw: DataFrame, train: DataFrame, labels: list[str] | None,
                 cached: list[DataFrame], phases: Phases | None = None, validation: DataFrame | None = None,
                 requested: str = fit_mode.AUTO, rows: int | None = None) -> tuple[PipelineModel, float]:
    """fitting.fit_pipeline for XGBoost (a refit): single-node in one task when the fit mode says so
    (the same decision as the job's packs, from `rows`: the train + validation rows), else
    data-parallel as fitting.fit_learner fits it."""
    spark, started = train.sparkSession, time.monotonic()
    early = validation is not None and boosting.early_stopping(algorithm, candidate.params)
    plan, stats = profile_plan(candidate.target, raw, train, tuple(getattr(candidate, "ordinal_columns", ())))
    features = preprocess(candidate.task, algorithm, plan, stats, train, validation if early else None, cached)
    if rows is None:
        rows = features.train.count() + (features.validation.count() if features.validation is not None else 0)
    mode = decide(spark, rows, features.prepared.n_features, 0, requested)
    log.info("fit mode mode=%s reason=%s", mode.mode, mode.reason)
    if phases:
        phases.done("preprocess", features=features.prepared.n_features, fit_mode=mode.mode)
    try:
        if not mode.trial_parallel:
            model = fit_learner(candidate, algorithm, features, labels, early).model
        else:
            arrays = broadcast(spark, features)
            try:
                xgb = estimator(spark, candidate, algorithm, features.prepared, labels, early)
                model = pipeline(features.prepared, wrap(xgb, run_task(
                    spark, arrays, spec_of(candidate, xgb, labels, early, True), score=False)), labels)
            finally:
                arrays.unpersist()
        if phases:
            phases.done("fit")
    finally:
        features.unpersist()
    return model, time.monotonic() - started
