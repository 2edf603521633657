"""The winner's finalisation (spark_jobs/finalize_model.py) and batch prediction (spark_jobs/predict.py)
in-process on local Spark, on data prepared by prepare_data.py and a model trained from its parts."""
from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pandas as pd
import pytest

from zygarde.domain.algorithms import METRICS
from zygarde.domain.contracts import FinalizeRequest, FinalizeResult, PrepareRequest, PrepareResult, TrialResult
from zygarde.spark.evaluation import confusion_metrics

from .conftest import pack_of_one
from .test_prepare import spark  # noqa: F401 - this helper's local session (ports 18500-18599)


@pytest.fixture(scope="module")
def prepared(spark, data_dir, tmp_path_factory):  # noqa: F811
    """The breast cancer data prepared once: (PrepareResult, work directory)."""
    from spark_jobs.prepare_data import main

    root = tmp_path_factory.mktemp("job")
    request = PrepareRequest(job_id="job-fin", attempt=1, dataset_uri=str(data_dir / "cancer.csv"),
                             dataset_format="csv", target="diagnosis", task="binary_classification", seed=7,
                             validation_fraction=0.2, test_fraction=0.2, output_prefix=f"{root}/data/",
                             result_uri=f"{root}/results/prepare.json")
    assert main(["--request", request.to_json()], spark=spark) == 0
    return PrepareResult.from_json(Path(request.result_uri).read_text()), root


@pytest.fixture(scope="module")
def trained(spark, prepared):  # noqa: F811
    """A logistic regression trial trained on the prepared parts: its TrialResult."""
    from spark_jobs.train_pack import main

    result, root = prepared
    request = pack_of_one("job-fin", "t0001", "logistic_regression", {"maxIter": 50, "regParam": 0.01},
                          target="diagnosis", task="binary_classification", metric="areaUnderROC", seed=7,
                          model_uri=f"{root}/artifacts/t0001/model", result_uri=f"{root}/results/t0001.json",
                          train_uri=result.parts["train"], validation_uri=result.parts["validation"])
    assert main(["--request", request.to_json()], spark=spark) == 0
    return TrialResult.from_json(Path(request.trials[0].result_uri).read_text())


def _finalize(spark, prepared, trained, **overrides):  # noqa: F811
    from spark_jobs.finalize_model import main

    result, root = prepared
    fields = dict(job_id="job-fin", attempt=1, model_uri=trained.model_uri, test_uri=result.parts["test"],
                  task="binary_classification", target="diagnosis", metric="areaUnderROC",
                  package_uri=f"{root}/models/cancer/job-fin/", result_uri=f"{root}/results/finalize.json",
                  manifest={"job_id": "job-fin", "trial_id": "t0001", "algorithm": "logistic_regression",
                            "params": {"maxIter": 50, "regParam": 0.01}, "validation_metrics": trained.metrics,
                            "seed": 7, "dataset_fingerprint": result.fingerprint})
    fields.update(overrides)
    request = FinalizeRequest(**fields)
    code = main(["--request", request.to_json()], spark=spark)
    return code, FinalizeResult.from_json(Path(request.result_uri).read_text()), request


@pytest.fixture(scope="module")
def package(spark, prepared, trained):  # noqa: F811
    code, result, request = _finalize(spark, prepared, trained)
    assert code == 0 and result.status == "SUCCEEDED", result.error
    return result, request


def test_finalize_scores_the_test_part_and_writes_model_and_manifest(spark, prepared, package):  # noqa: F811
    from pyspark.ml import PipelineModel

    result, request = package
    assert set(METRICS["binary_classification"]) <= set(result.test_metrics)
    assert result.test_metrics["areaUnderROC"] > 0.95 and result.test_metrics["accuracy"] > 0.9
    assert result.package_uri == request.package_uri
    assert result.manifest_uri == request.package_uri + "manifest.json"

    manifest = json.loads(Path(result.manifest_uri).read_text())
    assert manifest["job_id"] == "job-fin" and manifest["trial_id"] == "t0001" and manifest["seed"] == 7
    assert manifest["validation_metrics"] == request.manifest["validation_metrics"]
    assert manifest["dataset_fingerprint"]["checksum"].startswith("sha256:")
    assert manifest["test_metrics"] == result.test_metrics and manifest["test_rows"] == prepared[0].rows["test"]
    assert manifest["target"] == "diagnosis" and manifest["task"] == "binary_classification"
    assert manifest["labels"] == ["benign", "malignant"]
    assert manifest["predict_ms_per_1k"] > 0  # the registered model's latency, measured here only
    assert [c["name"] for c in manifest["input_schema"]][:3] == ["size_band", "mean_radius", "mean_texture"]
    assert "diagnosis" not in {c["name"] for c in manifest["input_schema"]}
    assert manifest["spark_version"] == spark.version and manifest["python_version"].count(".") == 2
    assert manifest["packages"]["pyspark"] and manifest["created_at"].endswith("Z")
    assert manifest["model_uri"] == request.package_uri + "model"

    # The packaged copy is a complete model: it scores the test part to the same accuracy.
    model = PipelineModel.load(manifest["model_uri"])
    scored = model.transform(spark.read.parquet(request.test_uri)).select("diagnosis", "predicted_label").toPandas()
    assert (scored["diagnosis"] == scored["predicted_label"]).mean() == pytest.approx(result.test_metrics["accuracy"],
                                                                                       abs=1e-12)


def test_finalize_again_replaces_the_package(spark, prepared, trained, package):  # noqa: F811
    code, result, request = _finalize(spark, prepared, trained, attempt=2)
    assert code == 0 and result.test_metrics == package[0].test_metrics
    assert not (Path(request.package_uri) / "model" / "model").exists()  # not copied into the old copy


def test_a_failed_finalisation_is_a_readable_result(spark, prepared, trained, tmp_path):  # noqa: F811
    code, result, _ = _finalize(spark, prepared, trained, model_uri=str(tmp_path / "no-model"),
                                package_uri=f"{tmp_path}/pkg/", result_uri=f"{tmp_path}/finalize.json")
    assert code == 1 and result.status == "FAILED" and result.error_kind == "data"
    assert "no-model" in result.error and "\n" not in result.error
    assert not (tmp_path / "pkg" / "manifest.json").exists()


def test_predict_reproduces_the_trials_validation_metrics(spark, prepared, trained, package, tmp_path):  # noqa: F811
    from spark_jobs.predict import main

    model_uri = package[1].package_uri + "model"
    out = tmp_path / "predictions"
    code = main(["--model-uri", model_uri, "--input", prepared[0].parts["validation"], "--format", "parquet",
                 "--output", str(out)], spark=spark)
    assert code == 0

    scored = pd.read_parquet(out)
    validation = spark.read.parquet(prepared[0].parts["validation"])
    assert list(scored.columns) == [*validation.columns, "prediction", "predicted_label", "probability"]
    assert len(scored) == trained.validation_rows == validation.count()
    labels = ["benign", "malignant"]
    truth = scored["diagnosis"].map(labels.index).astype(float)
    counts = pd.Series(list(zip(truth, scored["prediction"]))).value_counts().to_dict()
    metrics = confusion_metrics({(float(y), float(p)): int(n) for (y, p), n in counts.items()})
    p_true = [max(1e-15, probs[int(y)]) for probs, y in zip(scored["probability"], truth)]
    metrics["logLoss"] = sum(-math.log(p) for p in p_true) / len(p_true)
    for name in ("accuracy", "f1", "weightedPrecision", "weightedRecall", "logLoss"):
        assert metrics[name] == pytest.approx(trained.metrics[name], abs=1e-6), name
    assert (scored["predicted_label"] == scored["prediction"].map(lambda p: labels[int(p)])).all()


def test_predict_reads_raw_csv_and_names_missing_columns(spark, data_dir, package, tmp_path, caplog):  # noqa: F811
    from spark_jobs.predict import main

    model_uri = package[1].package_uri + "model"
    code = main(["--model-uri", model_uri, "--input", str(data_dir / "cancer.csv"), "--format", "csv",
                 "--options", json.dumps({"header": True}), "--output", str(tmp_path / "all")], spark=spark)
    assert code == 0
    assert len(pd.read_parquet(tmp_path / "all")) == 569

    frame = pd.read_csv(data_dir / "cancer.csv").drop(columns=["mean_radius", "diagnosis"])
    frame.to_csv(tmp_path / "partial.csv", index=False)
    with caplog.at_level(logging.ERROR, logger="zygarde.spark.predict"):
        code = main(["--model-uri", model_uri, "--input", str(tmp_path / "partial.csv"), "--format", "csv",
                     "--output", str(tmp_path / "partial")], spark=spark)
    assert code == 1
    assert "the input lacks columns the model was trained with: mean_radius" in caplog.text
    assert main(["--model-uri", model_uri, "--input", "x", "--format", "xlsx", "--output", "y"], spark=spark) == 2
