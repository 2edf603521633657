"""The winner fitted again at finalisation, when no trial model was kept (FinalizeRequest.refit).

Same learner, params and seed as its trial, and the same PipelineModel shape (preprocessing, learner,
IndexToString: fitting.fit_pipeline), on the job's prepared train part, or on train + validation when
`on_train_and_validation`. Fitted on train alone, XGBoost stops early watching the validation part,
as its trial did. Fitted on both parts nothing is left to watch: it builds `best_iteration + 1` trees
when the params hold the trial's recorded `best_iteration` (boosting.fitted_metrics), else its
n_estimators. `best_iteration` is never passed on to the learner itself.
"""
from __future__ import annotations

import dataclasses
import functools
import logging
from typing import Any

from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, SparkSession

from zygarde.domain.contracts import FinalizeRequest
from zygarde.spark import boosting, trial_parallel, warm_models
from zygarde.spark.estimators import resolve_params
from zygarde.spark.fitting import Candidate, Phases, algorithm_for, fit_pipeline, load_prepared

log = logging.getLogger(__name__)

BEST_ITERATION = "best_iteration"  # a refit param, not the learner's: the trial's recorded best round (0-based)


def refit(spark: SparkSession, request: FinalizeRequest, cached: list[DataFrame]) -> tuple[PipelineModel, dict[str, Any]]:
    """(the winner fitted again, what the manifest records of that fit)."""
    spec = request.refit
    phases = Phases(f"job_id={request.job_id} stage=finalize attempt={request.attempt}")
    params = dict(spec.params)
    best = params.pop(BEST_ITERATION, None)
    candidate = Candidate(task=request.task, metric=request.metric, target=request.target,
                          algorithm=spec.algorithm, params=params, seed=spec.seed,
                          ordinal_columns=tuple(request.ordinal_columns))
    algorithm = algorithm_for(candidate)
    both = bool(spec.on_train_and_validation)
    if both and best is not None and "n_estimators" in algorithm.params:
        params["n_estimators"] = int(best) + 1  # the rounds its trial predicted with
        candidate = dataclasses.replace(candidate, params=params)
    resolve_params(algorithm, params)  # fail fast, before touching data
    if not both:  # fitted by its trial in this (warm) batch: the same fit, already done
        kept = warm_models.take(request.job_id, warm_models.fit_key(spec.algorithm, params, spec.seed,
                                                                    spec.train_uri, spec.validation_uri))
        if kept is not None:
            log.info("winner reused job_id=%s: fitted by its trial in this batch", request.job_id)
            info = {"refitted": False, "reused": "fitted by its trial in this batch", "on": "train",
                    "algorithm": spec.algorithm, "params": params, "seed": spec.seed, "train_uri": spec.train_uri,
                    "validation_uri": spec.validation_uri, **boosting.fitted_metrics(kept)}
            return kept, ({**info, "trial_best_iteration": best} if best is not None else info)
    parts = load_prepared(spark, spec.train_uri, spec.validation_uri, request.target, request.task, cached)
    phases.done("load", train_rows=parts.train_rows, validation_rows=parts.validation_rows)
    fit = fit_pipeline
    if algorithm.barrier:  # issue #24: XGBoost refits in the fit mode its packs chose (same decision)
        fit = functools.partial(trial_parallel.fit_pipeline, requested=request.fit_mode,
                                rows=parts.train_rows + parts.validation_rows)
    if both:
        rows = parts.train.unionByName(parts.validation)
        model, seconds = fit(candidate, algorithm, parts.raw, rows, parts.labels, cached, phases)
    else:
        model, seconds = fit(candidate, algorithm, parts.raw, parts.train, parts.labels, cached, phases,
                             validation=parts.validation)
    info = {"refitted": True, "on": "train+validation" if both else "train", "algorithm": spec.algorithm,
            "params": params, "seed": spec.seed, "train_uri": spec.train_uri, "validation_uri": spec.validation_uri,
            "train_rows": parts.train_rows + (parts.validation_rows if both else 0),
            "train_seconds": seconds, **boosting.fitted_metrics(model)}
    if best is not None:
        info["trial_best_iteration"] = best
    log.info("winner refitted job_id=%s on=%s rows=%d seconds=%.2f", request.job_id, info["on"],
             info["train_rows"], seconds)
    return model, info
