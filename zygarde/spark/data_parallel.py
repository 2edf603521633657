"""A packed trial fitted data-parallel (Spark ML's own fit; XGBoost as one barrier stage), the pack's
path for every trial that does not fit in one task (trial_parallel.py): cross-validated on the pack's
shared folds when k_folds >= 2, fitted on its shared preprocessing, scored on the validation part, its
validation (or out-of-fold) predictions kept when asked, the fit offered to the finalisation and the
model saved when the trial names a model_uri.
"""
from __future__ import annotations

from pyspark.sql import DataFrame

from zygarde.domain.algorithms import Algorithm
from zygarde.domain.contracts import PackedTrial
from zygarde.spark import boosting, hadoop_fs, validation_predictions, warm_models
from zygarde.spark.dataset import LABEL
from zygarde.spark.evaluation import evaluate
from zygarde.spark.features import FEATURES
from zygarde.spark.fitting import (Candidate, Phases, cross_validate, distance, fit_learner, preprocessing_key,
                                   require_objective, use_cv_objective)
from zygarde.spark.validation_predictions import ROW_ID


def train_and_score(pack, trial: PackedTrial, candidate: Candidate, algorithm: Algorithm,
                    context: str) -> dict[str, float]:
    """pack._train_and_score for a trial fitted data-parallel: its metrics (validation, cross-validation
    means, the fit's), its predictions kept and its model saved as the trial asks."""
    parts, phases, metrics = pack.parts, Phases(context), {}
    cv: dict[str, float] = {}
    keeps = pack.keeps_predictions(trial, candidate)
    out_of_fold: list = []  # each fold's held-out rows as its model scored them (pyarrow tables)
    if candidate.k_folds >= 2:
        scored_folds: list[DataFrame] = []

        def score_fold(i: int) -> DataFrame:
            features = pack.features(algorithm, i)
            scored = fit_learner(candidate, algorithm, features, parts.labels).learner.transform(features.validation)
            if keeps and ROW_ID in scored.columns:  # kept for the ensemble selection, scored once
                scored = scored.cache()
                scored_folds.append(scored)
                out_of_fold.append(validation_predictions.scored_table(scored, fold=i))
            return scored

        try:
            cv = cross_validate(candidate, algorithm, pack.folds().sizes, score_fold, context)
        finally:
            for scored in scored_folds:
                scored.unpersist()
        phases.done("cross_validate", k_folds=candidate.k_folds)
    features = pack.features(algorithm, None)
    phases.done("preprocess", plan=preprocessing_key(algorithm), shared=True)
    fitted = fit_learner(candidate, algorithm, features, parts.labels,
                         early=boosting.early_stopping(algorithm, candidate.params))
    metrics["train_seconds"] = fitted.seconds
    if fitted.rows is not None:  # a successive halving rung: fitted on a sample of the train part
        metrics.update(train_fraction=float(candidate.train_fraction), fit_rows=float(fitted.rows))
    metrics.update(boosting.fitted_metrics(fitted.model))
    phases.done("fit")
    predictions = fitted.learner.transform(features.validation).cache()
    try:
        metrics.update(evaluate(candidate.task, predictions, label_col=LABEL, features_col=FEATURES,
                                distance=distance(algorithm, candidate.params)))
        if keeps and ROW_ID in predictions.columns and candidate.k_folds < 2:
            pack.keep_predictions(trial, lambda: validation_predictions.write_scored(
                pack.spark, trial.predictions_uri, predictions))
        elif keeps and ROW_ID in predictions.columns and len(out_of_fold) == candidate.k_folds:
            pack.keep_predictions(trial, lambda: validation_predictions.write_out_of_fold(
                pack.spark, trial.predictions_uri, out_of_fold,
                validation_predictions.scored_table(predictions, fold=validation_predictions.VALIDATION_FOLD)))
    finally:
        predictions.unpersist()
    phases.done("evaluate")
    require_objective(candidate, metrics)
    if cv:
        use_cv_objective(candidate, metrics, cv)
    # the finalisation may come to this batch: keep the best fit (on all the train rows: a rung's
    # fit on a sample is never the winner's model)
    if pack.request.handoff_seconds > 0 and candidate.train_fraction >= 1.0:
        r = pack.request
        warm_models.offer(r.job_id, r.task, r.metric, metrics.get(r.metric), warm_models.fit_key(
            trial.algorithm, dict(trial.params), r.seed, r.train_uri, r.validation_uri), fitted.model)
    if trial.model_uri:
        fitted.model.write().overwrite().save(hadoop_fs.qualify(trial.model_uri))
        metrics["model_bytes"] = float(hadoop_fs.total_bytes(pack.spark, trial.model_uri))
        phases.done("save")
    return metrics
