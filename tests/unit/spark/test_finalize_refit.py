"""Finalisation when no trial model was kept: the winner is fitted again from FinalizeRequest.refit
(same learner, params, seed, PipelineModel shape), scored once on the test part and packaged."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from pyspark.ml import PipelineModel

from zygarde.domain.contracts import FinalizeRequest, FinalizeResult, RefitSpec
from zygarde.spark.pack_runner import run_pack

from .conftest import pack_of_one

LR = ("logistic_regression", {"maxIter": 50, "regParam": 0.01})


def finalize(spark, parts: dict, root: Path, name: str, **fields) -> tuple[int, FinalizeResult, dict]:
    from spark_jobs.finalize_model import main

    values = dict(job_id="job-refit", attempt=1, model_uri=None, test_uri=parts["test"],
                  task="binary_classification", target="diagnosis", metric="areaUnderROC",
                  package_uri=f"{root}/models/{name}/", result_uri=f"{root}/results/{name}.json",
                  manifest={"job_id": "job-refit", "trial_id": name})
    values.update(fields)
    request = FinalizeRequest(**values)
    code = main(["--request", request.to_json()], spark=spark)
    result = FinalizeResult.from_json(Path(request.result_uri).read_text())
    manifest = json.loads(Path(result.manifest_uri).read_text()) if result.manifest_uri else {}
    return code, result, manifest


def refit_spec(parts: dict, algorithm: str, params: dict, **fields) -> RefitSpec:
    return RefitSpec(algorithm=algorithm, params=params, seed=11, train_uri=parts["train"],
                     validation_uri=parts["validation"], **fields)


def test_refit_on_train_packages_the_model_its_trial_would_have_saved(spark, clinic_parts, tmp_path):
    algorithm, params = LR
    trial = run_pack(spark, pack_of_one(
        "job-refit", "t-lr", algorithm, params, target="diagnosis", task="binary_classification",
        metric="areaUnderROC", seed=11, model_uri=str(tmp_path / "trial-model"),
        result_uri=str(tmp_path / "trial.json"), train_uri=clinic_parts["train"],
        validation_uri=clinic_parts["validation"])).results["t-lr"]
    assert trial.status == "SUCCEEDED", trial.error
    code, saved, saved_manifest = finalize(spark, clinic_parts, tmp_path, "saved", model_uri=trial.model_uri)
    assert code == 0, saved.error
    assert "refit" not in saved_manifest and saved_manifest["source_model_uri"] == trial.model_uri

    code, refitted, manifest = finalize(spark, clinic_parts, tmp_path, "refitted",
                                        refit=refit_spec(clinic_parts, algorithm, params))
    assert code == 0 and refitted.status == "SUCCEEDED", refitted.error
    assert set(refitted.test_metrics) == set(saved.test_metrics)
    for name, value in saved.test_metrics.items():
        assert refitted.test_metrics[name] == pytest.approx(value, abs=1e-6), name

    assert manifest["source_model_uri"] is None and manifest["model_uri"] == refitted.package_uri + "model"
    info = manifest["refit"]
    assert info["refitted"] is True and info["on"] == "train" and info["algorithm"] == algorithm
    assert info["params"] == params and info["seed"] == 11 and info["train_rows"] == trial.train_rows
    assert manifest["labels"] == ["benign", "malignant"] and manifest["test_metrics"] == refitted.test_metrics
    assert refitted.online["status"] == "available"  # exported to ONNX like any packaged model
    packaged = PipelineModel.load(manifest["model_uri"])
    assert [type(s).__name__ for s in packaged.stages] == \
        [type(s).__name__ for s in PipelineModel.load(trial.model_uri).stages]


def test_refit_on_train_and_validation_builds_the_trials_best_rounds(spark, clinic_parts, tmp_path):
    params = {"n_estimators": 200, "max_depth": 3, "learning_rate": 0.3, "early_stopping_rounds": 5,
              "best_iteration": 6.0}  # best_iteration as the trial's metrics recorded it
    code, result, manifest = finalize(spark, clinic_parts, tmp_path, "xgb",
                                      refit=refit_spec(clinic_parts, "xgboost_classifier", params,
                                                       on_train_and_validation=True))
    assert code == 0 and result.status == "SUCCEEDED", result.error
    info = manifest["refit"]
    assert info["on"] == "train+validation" and info["params"]["n_estimators"] == 7
    assert "best_iteration" not in info["params"] and info["trial_best_iteration"] == 6.0
    rows = sum(spark.read.parquet(clinic_parts[p]).count() for p in ("train", "validation"))
    assert info["train_rows"] == rows and info["boosted_rounds"] == 7  # every tree built: nothing to watch

    model = PipelineModel.load(manifest["model_uri"])
    assert model.stages[-2].get_booster().num_boosted_rounds() == 7
    test = spark.read.parquet(clinic_parts["test"]).select("diagnosis")
    scored = model.transform(spark.read.parquet(clinic_parts["test"])).select("diagnosis", "predicted_label")
    hits = scored.filter("diagnosis = predicted_label").count()
    assert hits / test.count() == pytest.approx(result.test_metrics["accuracy"], abs=1e-12)
    assert result.test_metrics["areaUnderROC"] > 0.9


def test_a_refit_that_cannot_run_is_a_readable_failure(spark, clinic_parts, tmp_path):
    code, result, _ = finalize(spark, clinic_parts, tmp_path, "bad",
                               refit=refit_spec(clinic_parts, "random_forest_classifier", {"numTrees": 0}))
    assert code == 1 and result.status == "FAILED" and result.error_kind == "data"
    assert "numTrees" in result.error and "\n" not in result.error
    assert not (tmp_path / "models" / "bad" / "manifest.json").exists()
