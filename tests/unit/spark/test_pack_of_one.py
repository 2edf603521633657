"""The walking-skeleton trial: a pack of one trial (what a job that does not pack launches) run through
spark_jobs/train_pack.py in-process on local files, on the parts the job's preparation wrote (data the
preparation refuses never reaches a trial: test_prepare.py)."""
from __future__ import annotations

from zygarde.domain.algorithms import METRICS, RESOURCE_METRICS
from zygarde.spark.failures import describe_failure

from .conftest import score_unseen

BINARY_METRICS = set(METRICS["binary_classification"])


def test_logistic_regression_trains_scores_saves_and_reloads(spark, trial, prepared_parts):
    code, result, request = trial("cancer", "logistic_regression", {"maxIter": 50, "regParam": 0.01})
    rows = prepared_parts("cancer").rows

    assert code == 0 and result.status == "SUCCEEDED", result.error
    assert BINARY_METRICS <= set(result.metrics)
    assert result.metrics["areaUnderROC"] > 0.95
    assert result.metrics["accuracy"] > 0.9 and result.metrics["mcc"] > 0.8
    assert (result.train_rows, result.validation_rows) == (rows["train"], rows["validation"])
    assert sum(rows.values()) == 569  # the test part is the rest, never seen by a trial
    # no latency probe per trial: the registered model's is measured at finalisation
    assert set(RESOURCE_METRICS) - {"predict_ms_per_1k"} <= set(result.metrics)
    assert "predict_ms_per_1k" not in result.metrics and result.metrics["model_bytes"] > 1000
    assert result.spark_version == spark.version and result.duration_seconds > 0

    scored = score_unseen(spark, request, {0: {"size_band": "gigantic"}, 1: {"mean_area": None}})
    assert len(scored) == 5
    assert {row.predicted_label for row in scored} <= {"benign", "malignant"}
    assert all(row.prediction in (0.0, 1.0) and len(row.probability) == 2 for row in scored)


def test_random_forest_classifier_with_indexed_categories(spark, trial):
    code, result, request = trial("cancer", "random_forest_classifier", {"numTrees": 10, "maxDepth": 4})
    assert code == 0, result.error
    assert result.metrics["areaUnderROC"] > 0.95
    assert BINARY_METRICS <= set(result.metrics)
    scored = score_unseen(spark, request, {0: {"size_band": "gigantic"}, 1: {"size_band": None,
                                                                             "mean_texture": None}})
    assert {row.predicted_label for row in scored} <= {"benign", "malignant"}


def test_linear_regression(trial):
    code, result, _ = trial("diabetes", "linear_regression", {"maxIter": 20})
    assert code == 0, result.error
    assert set(METRICS["regression"]) <= set(result.metrics)
    assert result.metrics["r2"] > 0.3
    assert 30 < result.metrics["rmse"] < 80 and 0 < result.metrics["mape"] < 1


def test_prepared_parts_are_used_instead_of_the_raw_dataset(trial, data_dir, tmp_path):
    code, result, _ = trial("iris", "decision_tree_classifier", {"maxDepth": 3},
                            dataset_uri=str(tmp_path / "raw-never-read.csv"),
                            train_uri=str(data_dir / "iris_train.parquet"),
                            validation_uri=str(data_dir / "iris_validation.parquet"))
    assert code == 0, result.error
    assert (result.train_rows, result.validation_rows) == (110, 40)
    assert result.metrics["f1"] > 0.8


def test_a_request_without_prepared_parts_is_a_readable_data_failure(trial):
    code, result, _ = trial("cancer", "logistic_regression", train_uri=None, validation_uri=None)
    assert code == 1
    assert result.status == "FAILED" and result.error_kind == "data"
    assert result.error == ("the trial request names no prepared data (train_uri and validation_uri): a trial "
                            "trains only on the parts the job's data preparation writes")
    assert result.metrics == {} and result.model_uri is None


def test_invalid_hyperparameter_fails_before_reading_data(trial, tmp_path):
    code, result, _ = trial("cancer", "random_forest_classifier", {"numTrees": 0},
                            train_uri=str(tmp_path / "never-read-train"),
                            validation_uri=str(tmp_path / "never-read-validation"))
    assert code == 1 and result.error_kind == "data"
    assert "numTrees" in result.error and ">= 1" in result.error


def test_unreadable_request_exits_2():
    from spark_jobs.train_pack import main
    assert main(["--request", "{not json"], spark=object()) == 2


def test_describe_failure_keeps_one_sentence():
    text = ("An error occurred while calling o1.fit.\n: org.apache.spark.SparkException: Job aborted due to "
            "stage failure: Task 0 in stage 3.0 failed 1 times, most recent failure: Lost task 0.0 in stage "
            "3.0 (TID 3) (127.0.0.1 executor driver): java.lang.OutOfMemoryError: Java heap space\n\tat x.y")
    kind, message = describe_failure(RuntimeError(text), "training")
    assert kind == "resource" and message.startswith("the training ran out of memory in an executor (Java heap space)")
    assert describe_failure(RuntimeError("[USER_RAISED_EXCEPTION] Labels MUST be in {0, 1}, but got 2.0 "
                                         "SQLSTATE: P0001")) == ("data", "Labels MUST be in {0, 1}, but got 2.0")


def test_learner_requirement_from_the_jvm_is_a_readable_data_failure(trial):
    code, result, _ = trial("iris", "logistic_regression", {"family": "binomial", "maxIter": 2})
    assert code == 1 and result.error_kind == "data"
    assert "Binomial family only supports 1 or 2 outcome classes" in result.error
    assert "calling o" not in result.error and "\n" not in result.error and len(result.error) > 10
