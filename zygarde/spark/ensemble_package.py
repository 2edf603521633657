"""The ensemble selection of a finalisation (FinalizeRequest.ensemble, issue #24 item 2): the best trials'
validation predictions read and lined up by row id, Caruana's greedy selection run on the job's metric
(domain/ensemble.py), and, when the ensemble beats the best single trial on validation, its members
fitted as the winner is (their kept model, or refitted with their params and seed on the same rows).
A k-fold job's trials keep out-of-fold predictions instead (every train and validation row, lined up by
row id and fold: validation_predictions), and the selection runs on those (selected_on "out_of_fold").

A candidate whose predictions cannot be read, or do not cover the same rows with the same labels as
the winner's, or lack class probabilities (a classifier without them), is left out (logged); with
fewer than two left there is no ensemble and the single winner is packaged as before.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np
from pyspark.sql import DataFrame, SparkSession

from zygarde.domain import ensemble
from zygarde.domain.algorithms import CLASSIFICATION, REGRESSION
from zygarde.domain.contracts import DATA_PARTS, EnsembleCandidate, FinalizeRequest, RefitSpec
from zygarde.spark import validation_predictions
from zygarde.spark.ensemble_model import Member
from zygarde.spark.predict import load_model
from zygarde.spark.refit import refit

log = logging.getLogger(__name__)

VALIDATION, OUT_OF_FOLD = "validation", "out_of_fold"  # what the selection scored: FinalizeResult.ensemble's selected_on


def _aligned(spark: SparkSession, request: FinalizeRequest,
             context: str) -> tuple[dict[str, np.ndarray], np.ndarray | None, str | None]:
    """(trial id -> predictions, best first; the labels; what they are: VALIDATION or OUT_OF_FOLD) of the
    candidates that line up with the first."""
    classes = request.task in CLASSIFICATION
    out: dict[str, np.ndarray] = {}
    reference = None
    for candidate in request.ensemble:
        try:
            read = validation_predictions.read(spark, candidate.predictions_uri)
        except Exception as exc:  # noqa: BLE001 - that trial is left out, nothing more
            log.warning("ensemble candidate left out %s trial_id=%s: unreadable predictions (%s)", context,
                        candidate.trial_id, str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__)
            continue
        if (read["values"].ndim == 2) != classes:
            log.info("ensemble candidate left out %s trial_id=%s: no class probabilities", context, candidate.trial_id)
            continue
        if reference is None:
            reference = read
        elif not (np.array_equal(read["row_id"], reference["row_id"])
                  and (read["fold"] is None) == (reference["fold"] is None)
                  and (read["fold"] is None or np.array_equal(read["fold"], reference["fold"]))
                  and np.array_equal(read["label"], reference["label"])
                  and read["values"].shape == reference["values"].shape):
            log.warning("ensemble candidate left out %s trial_id=%s: its rows differ from the first "
                        "candidate's", context, candidate.trial_id)
            continue
        out[candidate.trial_id] = read["values"]
    if reference is None:
        return out, None, None
    return out, reference["label"], (OUT_OF_FOLD if reference["fold"] is not None else VALIDATION)


def choose(spark: SparkSession, request: FinalizeRequest, context: str) -> tuple[ensemble.Selection | None,
                                                                                    dict[str, Any] | None]:
    """(the selection, FinalizeResult.ensemble); (None, None) when the request names no ensemble."""
    if len(request.ensemble) < 2:
        return None, None
    if request.task not in CLASSIFICATION and request.task != REGRESSION:
        return None, {"status": "skipped", "reason": f"no ensembles for {request.task}"}
    predictions, labels, selected_on = _aligned(spark, request, context)
    if len(predictions) < 2:
        return None, {"status": "skipped", "candidates": len(predictions),
                      "reason": "fewer than two of the best trials kept usable validation predictions"}
    selection = ensemble.select(predictions, labels, request.task, request.metric, request.ensemble_rounds)
    algorithms = {c.trial_id: c.algorithm for c in request.ensemble}
    summary = selection.as_dict()
    summary.pop("improved")
    summary["status"] = "registered" if selection.improved else "not_better"
    summary["candidates"] = len(predictions)
    summary["selected_on"] = selected_on
    for member in summary["members"]:
        member["algorithm"] = algorithms[member["trial_id"]]
    log.info("ensemble selected %s status=%s members=%d %s=%.6g best_single=%s %.6g", context, summary["status"],
             len(selection.counts), request.metric, selection.score, selection.best_single,
             selection.best_single_score)
    return selection, summary


def _data(request: FinalizeRequest) -> tuple[str, str, int, bool]:
    """(train_uri, validation_uri, seed, on_train_and_validation) every member is fitted with."""
    if request.refit is not None:
        r = request.refit
        return r.train_uri, r.validation_uri, r.seed, r.on_train_and_validation
    test = DATA_PARTS[2]
    prefix = request.test_uri[:-len(test)] if request.test_uri.endswith(test) else request.test_uri.rstrip("/") + "/"
    return prefix + DATA_PARTS[0], prefix + DATA_PARTS[1], int(request.manifest.get("seed") or 0), False


def fit_members(spark: SparkSession, request: FinalizeRequest, selection: ensemble.Selection,
                cached: list[DataFrame]) -> list[tuple[EnsembleCandidate, Member, dict[str, Any]]]:
    """Each member fitted as the winner is: its kept model (on the train part), else refitted."""
    train_uri, validation_uri, seed, both = _data(request)
    by_id = {c.trial_id: c for c in request.ensemble}
    weights = selection.weights
    out = []
    for trial_id in selection.counts:
        candidate = by_id[trial_id]
        kept = candidate.model_uri if not both else None  # fitted on the train part by its trial
        if kept is not None:
            model, info = load_model(kept), {"refitted": False, "source_model_uri": kept}
        else:
            spec = RefitSpec(algorithm=candidate.algorithm, params=dict(candidate.params), seed=seed,
                             train_uri=train_uri, validation_uri=validation_uri, on_train_and_validation=both)
            model, info = refit(spark, dataclasses.replace(request, model_uri=None, refit=spec), cached)
        out.append((candidate, Member(model, weights[trial_id]), info))
    return out
