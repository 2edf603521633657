"""A k-fold job's ensemble (issue #24): its trials keep their out-of-fold predictions (every train row
scored by the model of its fold, fitted on the other folds, every validation row by the model fitted on
the whole train part), and the finalisation selects the ensemble on those, not on the validation part
alone. Through the real batches, on the prepared clinic data (nulls in numbers, categories and flags, a
60-level category, duplicate rows) and on diabetes (regression)."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from pyspark.ml import PipelineModel

from zygarde.domain import ensemble
from zygarde.domain.algorithms import METRICS
from zygarde.domain.contracts import EnsembleCandidate, PackedTrial, PackRequest
from zygarde.spark import validation_predictions
from zygarde.spark.pack_runner import run_pack
from zygarde.spark.validation_predictions import ROW_ID, VALIDATION_FOLD, with_row_id

from .conftest import DATASETS, TRIAL_SEED, TRIAL_VALIDATION_FRACTION, finalize_ensemble

K = 3
# name -> (task, metric, target, trials): diverse learners, whose errors differ
JOBS = {
    "clinic": ("binary_classification", "logLoss", "diagnosis", {
        "t-lr": ("logistic_regression", {"maxIter": 30, "regParam": 0.1}),
        "t-rf": ("random_forest_classifier", {"numTrees": 10, "maxDepth": 3}),
        "t-tree": ("decision_tree_classifier", {"maxDepth": 3}),
    }),
    "diabetes": ("regression", "rmse", "progression", {
        "t-lin": ("linear_regression", {"regParam": 0.1}),
        "t-rf": ("random_forest_regressor", {"numTrees": 10, "maxDepth": 4}),
    }),
}


@pytest.fixture(scope="module")
def kfold_jobs(spark, clinic_parts, prepared, data_dir, tmp_path_factory):
    """kfold_jobs(name) -> (parts, results): the job's trials run in one pack with K-fold cross-validation,
    none keeping its model, each keeping its out-of-fold predictions. Once per module."""
    root, done = tmp_path_factory.mktemp("ensemble-kfold"), {}

    def run(name: str):
        if name in done:
            return done[name]
        task, metric, target, trials = JOBS[name]
        if name == "clinic":
            parts = clinic_parts
        else:
            file, fmt, _, _ = DATASETS[name]
            code, prep = prepared(dataset_uri=str(data_dir / file), dataset_format=fmt, target=target, task=task,
                                  seed=TRIAL_SEED, validation_fraction=TRIAL_VALIDATION_FRACTION)
            assert code == 0, prep.error
            parts = prep.parts
        packed = tuple(PackedTrial(trial_id=tid, attempt=1, algorithm=algorithm, params=params,
                                   result_uri=str(root / name / f"{tid}.json"),
                                   predictions_uri=str(root / name / f"{tid}.oof.parquet"))
                       for tid, (algorithm, params) in trials.items())
        request = PackRequest(job_id="job-kfold", pack_id=f"p-{name}", task=task, metric=metric, target=target,
                              seed=TRIAL_SEED, train_uri=parts["train"], validation_uri=parts["validation"],
                              trials=packed, k_folds=K, concurrency=2)
        results = run_pack(spark, request).results
        for result in results.values():
            assert result.status == "SUCCEEDED", result.error
        done[name] = (parts, results)
        return done[name]

    return run


def _row_ids(spark, uri: str) -> Counter:
    return Counter(r[0] for r in with_row_id(spark.read.parquet(uri)).select(ROW_ID).collect())


@pytest.mark.parametrize("name", ["clinic", "diabetes"])
def test_kfold_trials_keep_out_of_fold_predictions_covering_every_row_once(spark, kfold_jobs, name):
    parts, results = kfold_jobs(name)
    task, metric, _, _ = JOBS[name]
    train, validation = _row_ids(spark, parts["train"]), _row_ids(spark, parts["validation"])
    read = {tid: validation_predictions.read(spark, r.validation_predictions_uri) for tid, r in results.items()}
    first = next(iter(read.values()))
    # every train and validation row exactly once (copies of a row as often as it occurs)
    assert len(first["row_id"]) == sum(train.values()) + sum(validation.values())
    assert Counter(first["row_id"].tolist()) == train + validation
    held_out = first["fold"] != VALIDATION_FOLD
    assert Counter(first["row_id"][held_out].tolist()) == train  # train rows: by the model of their fold
    assert Counter(first["row_id"][~held_out].tolist()) == validation  # validation rows: by the final model
    assert sorted(set(first["fold"].tolist())) == [VALIDATION_FOLD, *range(K)]
    for tid, kept in read.items():
        assert np.array_equal(kept["row_id"], first["row_id"]) and np.array_equal(kept["fold"], first["fold"]), tid
        assert np.array_equal(kept["label"], first["label"]), tid
        m = results[tid].metrics
        # the held-out rows are the ones cross-validation scored: their per-fold metric's mean is the CV mean
        per_fold = [ensemble.score(task, metric, kept["label"][kept["fold"] == i], kept["values"][kept["fold"] == i])
                    for i in range(K)]
        assert np.mean(per_fold) == pytest.approx(m[f"cv_{metric}_mean"], rel=1e-6), tid
        # and the validation rows are the final model's validation predictions
        on_validation = kept["fold"] == VALIDATION_FOLD
        assert ensemble.score(task, metric, kept["label"][on_validation], kept["values"][on_validation]) == \
            pytest.approx(m[f"validation_{metric}"], rel=1e-6), tid


def _finalize(spark, name: str, parts, results, root: Path):
    task, metric, target, trials = JOBS[name]
    sign = -1.0 if METRICS[task][metric] == "maximize" else 1.0
    ranked = sorted(results, key=lambda tid: (sign * results[tid].metrics[metric], tid))
    candidates = tuple(EnsembleCandidate(trial_id=tid, algorithm=trials[tid][0], params=trials[tid][1],
                                         predictions_uri=results[tid].validation_predictions_uri) for tid in ranked)
    result, manifest = finalize_ensemble(spark, job_id="job-kfold", task=task, target=target, metric=metric,
                                         parts=parts, candidates=candidates, root=root, name=name)
    return candidates, result, manifest


@pytest.mark.parametrize("name", ["clinic", "diabetes"])
def test_the_ensemble_of_a_kfold_job_is_selected_on_out_of_fold_predictions(spark, kfold_jobs, tmp_path, name):
    parts, results = kfold_jobs(name)
    task, metric, _, _ = JOBS[name]
    candidates, result, manifest = _finalize(spark, name, parts, results, tmp_path)
    summary = result.ensemble
    assert summary["selected_on"] == "out_of_fold" and summary["candidates"] == len(candidates)
    oof = {c.trial_id: validation_predictions.read(spark, c.predictions_uri) for c in candidates}
    labels = next(iter(oof.values()))["label"]
    singles = {tid: ensemble.score(task, metric, labels, kept["values"]) for tid, kept in oof.items()}
    direction = METRICS[task][metric]
    best = max(singles.values()) if direction == "maximize" else min(singles.values())
    # the selection's scores are the out-of-fold ones, over every train and validation row
    assert summary["best_single_score"] == pytest.approx(best, rel=1e-9)
    members = summary["members"]
    average = ensemble.combine([oof[m["trial_id"]]["values"] for m in members], [m["weight"] for m in members])
    assert summary["validation_score"] == pytest.approx(ensemble.score(task, metric, labels, average), rel=1e-9)
    # never worse than its best member out of fold
    assert not ensemble.better(best, summary["validation_score"], direction)
    if summary["status"] == "registered":
        assert ensemble.better(summary["validation_score"], best, direction) and len(members) >= 2
        assert manifest["ensemble"]["selected_on"] == "out_of_fold"
        assert [PipelineModel.load(m["model_uri"]).stages for m in manifest["ensemble"]["members"]]
    else:
        assert summary["status"] == "not_better" and "ensemble" not in manifest
