"""Ensemble selection at finalisation (issue #24 item 2), through the real batches: a pack of trials on
the prepared clinic data keeps each trial's validation predictions; the finalisation selects an
ensemble from them, packages it when it beats the best trial on validation (else the single winner),
and batch prediction with the package is the weighted average of its members."""
from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from pyspark.ml import PipelineModel
from pyspark.ml.functions import vector_to_array

from zygarde.domain import ensemble
from zygarde.domain.algorithms import METRICS
from zygarde.domain.contracts import EnsembleCandidate, PackedTrial, PackRequest
from zygarde.serving.runtime import OnlineModel
from zygarde.spark import validation_predictions
from zygarde.spark.pack_runner import run_pack
from zygarde.spark.predict import score

from .conftest import DATASETS, TRIAL_SEED, TRIAL_VALIDATION_FRACTION, finalize_ensemble

# name -> (dataset, task, metric, trials): diverse learners, whose errors differ, so that averaging pays
PACKS = {
    "binary": ("cancer", "binary_classification", "logLoss", {
        "t-lr": ("logistic_regression", {"maxIter": 30, "regParam": 0.1}),
        "t-rf": ("random_forest_classifier", {"numTrees": 10, "maxDepth": 3}),
        "t-tree": ("decision_tree_classifier", {"maxDepth": 3}),
        "t-lr-twin": ("logistic_regression", {"maxIter": 30, "regParam": 0.1}),  # the same fit as t-lr
    }),
    "regression": ("diabetes", "regression", "rmse", {
        "t-lin": ("linear_regression", {"regParam": 0.1}),
        "t-rf": ("random_forest_regressor", {"numTrees": 10, "maxDepth": 4}),
        "t-xgb": ("xgboost_regressor", {"n_estimators": 40, "max_depth": 2, "learning_rate": 0.2}),
    }),
}


@dataclass
class Pack:
    parts: dict[str, str]
    task: str
    metric: str
    trials: dict[str, tuple[str, dict]]
    results: dict
    target: str


@pytest.fixture(scope="module")
def packs(spark, prepared, data_dir, tmp_path_factory):
    """packs(name) -> Pack: the dataset prepared as a job prepares it, then its trials run in one pack
    (XGBoost fitted trial-parallel, in one task), none keeping its model. Run once per module."""
    root, done = tmp_path_factory.mktemp("ensemble"), {}

    def run(name: str) -> Pack:
        if name in done:
            return done[name]
        dataset, task, metric, trials = PACKS[name]
        file, fmt, target, _ = DATASETS[dataset]
        code, prep = prepared(dataset_uri=str(data_dir / file), dataset_format=fmt, target=target, task=task,
                              seed=TRIAL_SEED, validation_fraction=TRIAL_VALIDATION_FRACTION)
        assert code == 0, prep.error
        packed = tuple(PackedTrial(trial_id=tid, attempt=1, algorithm=algorithm, params=params,
                                   result_uri=str(root / name / f"{tid}.json"),
                                   predictions_uri=str(root / name / f"{tid}.parquet"))
                       for tid, (algorithm, params) in trials.items())
        request = PackRequest(job_id="job-ens", pack_id=f"p-{name}", task=task, metric=metric, target=target,
                              seed=TRIAL_SEED, train_uri=prep.parts["train"], validation_uri=prep.parts["validation"],
                              trials=packed, concurrency=2, fit_mode="trial_parallel")
        results = run_pack(spark, request).results
        for result in results.values():
            assert result.status == "SUCCEEDED", result.error
        done[name] = Pack(prep.parts, task, metric, trials, results, target)
        return done[name]

    return run


def _candidates(pack: Pack, ids) -> tuple[EnsembleCandidate, ...]:
    sign = -1.0 if METRICS[pack.task][pack.metric] == "maximize" else 1.0
    ranked = sorted(ids, key=lambda tid: (sign * pack.results[tid].metrics[pack.metric], tid))
    return tuple(EnsembleCandidate(trial_id=tid, algorithm=pack.trials[tid][0], params=pack.trials[tid][1],
                                   predictions_uri=pack.results[tid].validation_predictions_uri) for tid in ranked)


def _finalize(spark, pack: Pack, root: Path, name: str, candidates, attempt: int = 1):
    return finalize_ensemble(spark, job_id="job-ens", task=pack.task, target=pack.target, metric=pack.metric,
                             parts=pack.parts, candidates=candidates, root=root, name=name, attempt=attempt)


@pytest.mark.parametrize("name", ["binary", "regression"])
def test_trials_keep_their_validation_predictions_on_the_same_rows(spark, packs, name):
    pack = packs(name)
    rows = spark.read.parquet(pack.parts["validation"]).count()
    read = {tid: validation_predictions.read(spark, r.validation_predictions_uri) for tid, r in pack.results.items()}
    first = next(iter(read.values()))
    assert len(first["row_id"]) == rows
    assert first["values"].shape == ((rows, 2) if pack.task != "regression" else (rows,))
    for tid, kept in read.items():  # the Spark-scored trials and the one fitted in a task line up
        assert np.array_equal(kept["row_id"], first["row_id"]) and np.array_equal(kept["label"], first["label"]), tid
        # the kept predictions are the ones the trial was scored on
        assert ensemble.score(pack.task, pack.metric, kept["label"], kept["values"]) == \
            pytest.approx(pack.results[tid].metrics[pack.metric], rel=1e-6), tid


def _test_labels(spark, pack: Pack) -> tuple[np.ndarray, list[str] | None]:
    test = spark.read.parquet(pack.parts["test"])
    if pack.task == "regression":
        return np.array([r[0] for r in test.select(pack.target).collect()], float), None
    names = sorted({r[0] for r in test.select(pack.target).collect()})
    return np.array([names.index(r[0]) for r in test.select(pack.target).collect()], float), names


def _member_predictions(spark, pack: Pack, models) -> list[np.ndarray]:
    test = spark.read.parquet(pack.parts["test"])
    column = vector_to_array("probability") if pack.task != "regression" else "prediction"
    return [np.array([r[0] for r in m.transform(test).select(column).collect()]) for m in models]


@pytest.mark.parametrize("name, ids", [("binary", ["t-lr", "t-rf", "t-tree"]),
                                       ("regression", ["t-lin", "t-rf", "t-xgb"])])
def test_an_ensemble_that_beats_the_best_trial_is_packaged_and_predicts_its_members_average(
        spark, packs, tmp_path, name, ids):
    pack = packs(name)
    candidates = _candidates(pack, ids)
    result, manifest = _finalize(spark, pack, tmp_path, "wins", candidates)
    summary = result.ensemble
    assert summary["status"] == "registered" and summary["metric"] == pack.metric and summary["candidates"] == 3
    direction = METRICS[pack.task][pack.metric]
    assert ensemble.better(summary["validation_score"], summary["best_single_score"], direction)
    assert summary["best_single_trial_id"] == candidates[0].trial_id
    members = summary["members"]
    assert len(members) >= 2 and sum(m["weight"] for m in members) == pytest.approx(1.0)
    assert all(m["weight"] == pytest.approx(m["count"] / sum(n["count"] for n in members)) for m in members)
    assert result.online["status"] == "available", result.online.get("reason")  # one ONNX graph, parity checked

    section = manifest["ensemble"]
    assert [m["trial_id"] for m in section["members"]] == [m["trial_id"] for m in members]
    assert manifest["model_uri"] is None and manifest["test_metrics"] == result.test_metrics
    # its batch scoring latency per 1,000 test rows, measured on its own scoring as a single model's is
    latency = manifest["predict_ms_per_1k"]
    assert isinstance(latency, float) and math.isfinite(latency) and latency > 0
    models = [PipelineModel.load(m["model_uri"]) for m in section["members"]]
    weights = [m["weight"] for m in section["members"]]

    # scored once on test: the metric of the members' weighted average
    labels, names = _test_labels(spark, pack)
    average = ensemble.combine(_member_predictions(spark, pack, models), weights)
    assert result.test_metrics[pack.metric] == pytest.approx(
        ensemble.score(pack.task, pack.metric, labels, average), rel=1e-9)

    # batch prediction with the package (its model URI, as a prediction batch names it): the same
    # average, row by row, and for classes its argmax's name
    output = str(tmp_path / "predicted")
    done = score(spark, result.package_uri + "model", pack.parts["test"], "parquet", {}, output)
    assert done["rows"] == len(labels)
    out = spark.read.parquet(output)
    assert pack.target in out.columns  # the input's columns come first, as for any model
    if names is None:
        assert np.allclose([r[0] for r in out.select("prediction").collect()], average, atol=1e-9)
    else:
        predicted = out.select("probability", "predicted_label").collect()
        assert np.allclose(np.array([r[0] for r in predicted]), average, atol=1e-12)
        assert [r[1] for r in predicted] == [names[int(i)] for i in np.argmax(average, axis=1)]

    # online: the ONNX graph of the members gives the same average (scored as the online service scores)
    online = manifest["online"]
    assert online["parity"]["rows"] == len(labels) and online["parity"].get("labels_disagree", 0) == 0
    rows = [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.asDict().items()}
            for r in spark.read.parquet(pack.parts["test"]).drop(pack.target).collect()]
    onnx_model = OnlineModel(Path(online["onnx_uri"]).read_bytes(), {**online, "max_rows": len(rows)})
    prediction, probability = onnx_model.raw(rows)
    if names is None:
        assert np.allclose(prediction, average, rtol=1e-4)
    else:
        assert np.allclose(probability, average, atol=1e-4)
        assert np.array_equal(prediction, np.argmax(average, axis=1).astype(float))

    _carries_what_a_single_model_carries(spark, pack, result, manifest, models, weights, average, tmp_path)

    # finalised again (a retried attempt): the same selection, members and test scores
    again, _ = _finalize(spark, pack, tmp_path, "wins", candidates, attempt=2)
    assert again.ensemble == result.ensemble and again.test_metrics == pytest.approx(result.test_metrics)
    assert len(list((tmp_path / "models" / "wins" / "members").iterdir())) == len(members)


def _carries_what_a_single_model_carries(spark, pack: Pack, result, manifest, models, weights, average, tmp_path):
    """Feature importance (its members', measured on validation, averaged with its weights), no per-row
    explanations (and why), and the MLflow files: pyfunc predicts the package's own average, through
    its ONNX graph and, for a copy without it, through Spark."""
    import mlflow.pyfunc

    from zygarde.domain.ensemble_importance import NO_ATTRIBUTIONS, combine
    from zygarde.spark.dataset import read_dataset
    from zygarde.spark.feature_layout import feature_columns
    from zygarde.spark.importance import importance
    from zygarde.spark.predict import label_as_model, model_labels

    section = manifest["importance"]
    assert section["status"] == "available" and result.importance["status"] == "available"
    assert [(m["trial_id"], m["weight"]) for m in section["ensemble"]["members"]] == \
        [(m["trial_id"], m["weight"]) for m in manifest["ensemble"]["members"]]
    validation = label_as_model(read_dataset(spark, pack.parts["validation"], "parquet"), pack.target, pack.task,
                                model_labels(models[0]))
    members = [importance(spark, m, validation, feature_columns(m, validation), pack.task, pack.metric, TRIAL_SEED)
               for m in models]
    expected = combine(members, weights, [m["trial_id"] for m in manifest["ensemble"]["members"]])
    assert [c["column"] for c in section["columns"]] == [c["column"] for c in expected["columns"]]
    for got, want in zip(section["columns"], expected["columns"]):
        assert got == pytest.approx(want), want["column"]
    inputs = {c["name"] for c in manifest["input_schema"]}
    assert {c["column"] for c in section["columns"]} == inputs
    assert manifest["explanations"] == result.explanations == {"status": "unavailable", "reason": NO_ATTRIBUTIONS}

    package = Path(result.package_uri)
    assert (package / "MLmodel").exists() and (package / "input_example.json").exists()
    assert set(manifest["input_example"]) == inputs
    rows = spark.read.parquet(pack.parts["test"]).drop(pack.target).toPandas()
    loaded = mlflow.pyfunc.load_model(str(package))
    assert len(loaded.predict(loaded.input_example)) == 1
    got = loaded.predict(rows)
    offline = tmp_path / "offline"  # a copy that does not serve online: scored by its members in Spark
    shutil.copytree(package, offline)
    (offline / "model.onnx").unlink()
    copied = json.loads((offline / "manifest.json").read_text())
    copied["online"] = {"status": "unavailable", "reason": "no ONNX export"}
    (offline / "manifest.json").write_text(json.dumps(copied))
    by_spark = mlflow.pyfunc.load_model(str(offline)).predict(rows)
    if pack.task == "regression":
        assert np.allclose(got["prediction"], average, rtol=1e-4)
        assert np.allclose(by_spark["prediction"], average, atol=1e-9)
    else:
        names = manifest["labels"]
        assert np.allclose(np.array(got["probabilities"].tolist()), average, atol=1e-4)
        assert np.allclose(np.array(by_spark["probabilities"].tolist()), average, atol=1e-12)
        expected_labels = [names[int(i)] for i in np.argmax(average, axis=1)]
        assert list(got["label"]) == expected_labels == list(by_spark["label"])


def test_when_no_ensemble_beats_the_best_trial_the_single_trial_is_packaged(spark, packs, tmp_path):
    pack = packs("binary")
    candidates = _candidates(pack, ["t-lr", "t-lr-twin"])  # the same predictions twice
    result, manifest = _finalize(spark, pack, tmp_path, "single", candidates)
    assert result.ensemble["status"] == "not_better"
    assert [m["trial_id"] for m in result.ensemble["members"]] == [candidates[0].trial_id]
    assert "ensemble" not in manifest and manifest["model_uri"] == result.package_uri + "model"
    assert manifest["predict_ms_per_1k"] > 0  # the single model's latency, as before ensembles
    assert result.online["status"] == "available"  # a single model, exported as before ensembles
    assert PipelineModel.load(manifest["model_uri"]).stages
