"""The auto-mode benchmark's pure parts (issue #11): the gap and target arithmetic, trial counts, the
table, Spark's binned AUC, the datasets (row counts, derived binary target), the auto-mode job and
reading the prepared parts. No network, no Spark; no figure here is a benchmark result."""
from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from bench import automl_data, automl_flaml
from bench import automl_report as report
from zygarde.adapters.memory import MemoryBlobStore

AUC, RMSE = "areaUnderROC", "rmse"


# --- gap and target ---------------------------------------------------------------------------------
def test_auc_gap_is_the_difference_and_within_0_003_meets_the_target():
    assert report.gap(AUC, 0.850, 0.852) == pytest.approx(-0.002)
    assert report.target_met(AUC, report.gap(AUC, 0.850, 0.852)) is True
    assert report.target_met(AUC, report.gap(AUC, 0.849, 0.852)) is True  # exactly 0.003 behind
    assert report.target_met(AUC, report.gap(AUC, 0.8489, 0.852)) is False
    assert report.target_met(AUC, report.gap(AUC, 0.90, 0.85)) is True  # better


def test_rmse_gap_is_relative_percent_and_within_1_percent_meets_the_target():
    assert report.gap(RMSE, 505.0, 500.0) == pytest.approx(1.0)
    assert report.target_met(RMSE, report.gap(RMSE, 505.0, 500.0)) is True  # exactly 1 % worse
    assert report.gap(RMSE, 510.0, 500.0) == pytest.approx(2.0)
    assert report.target_met(RMSE, 2.0) is False
    assert report.gap(RMSE, 450.0, 500.0) == pytest.approx(-10.0)
    assert report.target_met(RMSE, -10.0) is True


def test_a_missing_score_has_no_gap_and_no_verdict():
    assert report.gap(AUC, None, 0.85) is None
    assert report.gap(RMSE, 500.0, float("nan")) is None
    assert report.gap(RMSE, 500.0, 0.0) is None
    assert report.target_met(AUC, None) is None
    with pytest.raises(ValueError):
        report.gap("f1", 0.5, 0.5)


def test_compare_uses_flamls_spark_binned_auc_and_keeps_the_exact_one():
    c = report.compare(AUC, {"test_score": 0.80}, {"test_score": 0.805, "test_score_spark_binned": 0.802})
    assert c["flaml_test"] == 0.802 and c["flaml_test_exact"] == 0.805
    assert c["gap"] == pytest.approx(-0.002) and c["target_met"] is True
    r = report.compare(RMSE, {"test_score": 530.0}, {"test_score": 500.0})
    assert r["gap"] == pytest.approx(6.0) and r["target_met"] is False
    assert report.compare(RMSE, None, {"test_score": 500.0})["target_met"] is None


# --- trials ---------------------------------------------------------------------------------------
def test_state_counts_run_failed_cancelled_and_pruned_only_where_the_state_exists():
    states = ["SUCCEEDED"] * 5 + ["FAILED", "CANCELLED", "CANCELLED", "WAITING"]
    counts = report.state_counts(states, known=["WAITING", "SUCCEEDED", "FAILED", "CANCELLED"])
    assert (counts["run"], counts["succeeded"], counts["failed"], counts["cancelled"]) == (6, 5, 1, 2)
    assert counts["total"] == 9 and counts["pruned"] is None
    with_pruning = report.state_counts(states + ["PRUNED"], known=["SUCCEEDED", "PRUNED"])
    assert with_pruning["pruned"] == 1 and with_pruning["by_state"]["PRUNED"] == 1


def test_flaml_log_counts_every_trial_and_its_failures(tmp_path):
    log = tmp_path / "flaml.log"
    lines = [{"record_id": 0, "learner": "rf", "validation_loss": 0.2, "sample_size": 1000},
             {"record_id": 1, "learner": "xgboost", "validation_loss": float("inf"), "sample_size": 4000},
             {"record_id": 2, "learner": "xgboost", "validation_loss": 0.1, "sample_size": 4000},
             {"curr_best_record_id": 2}]
    log.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    counts = automl_flaml.log_counts(log)
    assert counts["run"] == 3 and counts["failed"] == 1 and counts["pruned"] is None
    assert counts["by_learner"] == {"rf": 1, "xgboost": 2} and counts["on_a_sample"] == 1


def test_flaml_learners_are_its_defaults_less_those_not_installed():
    used, missing = automl_flaml.estimators("binary_classification", installed=lambda name: name != "lightgbm")
    assert "lgbm" in missing and "lgbm" not in used
    assert {"xgboost", "xgb_limitdepth", "rf", "extra_tree", "lrl1"} <= set(used)
    used, missing = automl_flaml.estimators("regression", installed=lambda name: True)
    assert "lgbm" in used and "lrl1" not in used and missing == []


# --- Spark's AUC ----------------------------------------------------------------------------------
def test_spark_binned_auc_equals_the_exact_auc_without_grouping():
    from sklearn.metrics import roc_auc_score

    labels = [0, 0, 1, 1, 0, 1, 0, 1]
    scores = [0.1, 0.4, 0.35, 0.8, 0.4, 0.9, 0.2, 0.4]  # ties across classes too
    assert report.spark_binned_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores))


def test_spark_binned_auc_groups_distinct_scores_and_stays_close():
    import numpy as np
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 5000)
    scores = rng.random(5000) * 0.5 + labels * 0.3
    exact = roc_auc_score(labels, scores)
    binned = report.spark_binned_auc(labels.tolist(), scores.tolist(), num_bins=1000)  # groups of 5
    coarse = report.spark_binned_auc(labels.tolist(), scores.tolist(), num_bins=2)  # 2 groups
    assert binned != exact and binned == pytest.approx(exact, abs=1e-3)
    assert abs(coarse - exact) > 0.01  # grouping really happens
    with pytest.raises(ValueError):
        report.spark_binned_auc([1, 1], [0.2, 0.3])


# --- table ----------------------------------------------------------------------------------------
def test_table_shows_each_side_the_gap_and_the_verdict():
    results = {
        "movies": {"metric": AUC, "zygarde": {"test_score": 0.851, "wall_seconds": 598.2, "state": "SUCCEEDED",
                                              "trials": {"run": 12, "failed": 0, "cancelled": 0, "pruned": None}},
                   "flaml": {"test_score": 0.8555, "test_score_spark_binned": 0.855, "wall_seconds": 601.0,
                             "state": "DONE", "trials": {"run": 140, "failed": 1, "pruned": None}}},
        "diamonds": {"metric": RMSE, "zygarde": None,
                     "flaml": {"test_score": 530.0, "wall_seconds": 600.0, "trials": {"run": 90, "failed": 0}}},
    }
    for r in results.values():
        r["comparison"] = report.compare(r["metric"], r["zygarde"], r["flaml"])
    text = report.table(results)
    lines = text.splitlines()
    flaml_movies = next(line for line in lines if line.startswith("movies") and "flaml" in line)
    assert "0.8550 (exact 0.8555)" in flaml_movies and "-0.0040" in flaml_movies and flaml_movies.endswith("no")
    assert "12 run (0 failed), n/a pruned" in text and "140 run (1 failed), n/a pruned" in text
    diamonds_zygarde = next(line for line in lines if line.startswith("diamonds") and "zygarde" in line)
    assert "skipped" in diamonds_zygarde
    results["movies"]["zygarde"].update(test_score=None, state="BUDGET_EXHAUSTED",
                                        ended_because="deadline of 10 minutes reached")
    results["movies"]["comparison"] = report.compare(AUC, results["movies"]["zygarde"], results["movies"]["flaml"])
    text = report.table(results)
    assert results["movies"]["comparison"]["target_met"] is None
    assert text.splitlines()[-1] == ("movies: Zygarde has no test score: the job ended BUDGET_EXHAUSTED "
                                     "(deadline of 10 minutes reached)")


# --- datasets and the job --------------------------------------------------------------------------
def test_derive_binary_is_strictly_above_the_threshold_and_drops_rows_without_a_value():
    frame = pd.DataFrame({"arr_delay": [-5.0, 15.0, 15.5, None, 120.0], "carrier": ["a", "b", "c", "d", "e"]})
    out = automl_data.derive_binary(frame, automl_data.Derived("delayed", "arr_delay", 15.0))
    assert out["delayed"].tolist() == [0, 0, 1, 1] and out["carrier"].tolist() == ["a", "b", "c", "e"]
    assert "arr_delay" not in out.columns


def test_the_shipped_datasets_have_50000_rows_or_more_and_binary_targets():
    diamonds = automl_data.load(automl_data.DATASETS["diamonds"])
    movies = automl_data.load(automl_data.DATASETS["movies"])
    assert len(diamonds) == 53_940 and len(movies) == 58_788
    assert sorted(movies["Drama"].unique()) == [0, 1] and "title" not in movies.columns
    for name, frame in (("diamonds", diamonds), ("movies", movies)):
        assert automl_data.problems(frame, automl_data.DATASETS[name], subsampled=False) == []


def test_flights_target_is_derived_from_arrival_delay_without_leaking_it():
    flights = automl_data.load(automl_data.DATASETS["flights"])
    assert len(flights) == 327_346  # 336,776 flights less the 9,430 without an arrival delay
    assert not {"arr_delay", "dep_delay", "dep_time", "arr_time", "air_time"} & set(flights.columns)
    assert sorted(flights["delayed"].unique()) == [0, 1]
    assert 0.15 < flights["delayed"].mean() < 0.3


def test_problems_flag_small_frames_unless_subsampled_and_non_binary_targets():
    movies = automl_data.DATASETS["movies"]
    small = pd.DataFrame({"Drama": [0, 1, 2], "x": [1, 2, 3]})
    assert automl_data.problems(small, movies, subsampled=True) == [
        "movies: target 'Drama' has 3 values, not 2: [0, 1, 2]"]
    assert any("fewer than 50,000" in p for p in automl_data.problems(small, movies, subsampled=False))
    subsample = automl_data.load(movies, rows=500)
    assert len(subsample) == 500 and automl_data.problems(subsample, movies, subsampled=True) == []


def test_the_job_is_auto_mode_with_the_deadline_and_the_platform_fills_the_search():
    from zygarde.domain.default_space import DEADLINE_MAX_TRIALS, DEFAULT_MAX_TRIALS
    from zygarde.domain.spec import parse_job_spec

    raw = automl_data.job_spec("automl-movies-1", "gs://bkt/datasets/bench/m.csv", automl_data.DATASETS["movies"], 10)
    assert set(raw) == {"job_id", "name", "owner", "dataset", "task", "budget"}
    spec = parse_job_spec(raw)
    # with a deadline, auto mode searches until it: brackets of 27 pruned trials, TPE after the first
    assert spec.budget.deadline_minutes == 10 and spec.search.strategy == "bayesian"
    assert spec.search.max_trials == DEADLINE_MAX_TRIALS and spec.search.pruning.bracket_trials == DEFAULT_MAX_TRIALS
    assert spec.candidates[0].algorithm == "xgboost_classifier"
    more = parse_job_spec(automl_data.job_spec("automl-d-1", "gs://bkt/datasets/bench/d.csv",
                                               automl_data.DATASETS["diamonds"], 10, max_trials=40))
    assert more.search.max_trials == 40 and more.candidates[0].algorithm == "xgboost_regressor"
    assert more.packing == "auto"  # the platform's default, unless asked otherwise
    off = automl_data.job_spec("automl-d-2", "gs://bkt/datasets/bench/d.csv", automl_data.DATASETS["diamonds"], 5,
                               packing="off")
    assert parse_job_spec(off).packing == "off" and "search" not in off


# --- the prepared parts ---------------------------------------------------------------------------
def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def test_read_parts_reads_every_parquet_file_of_each_part_and_nothing_else():
    blobs = MemoryBlobStore()
    prefix = "gs://bkt/artifacts/job-1/data/"
    parts = {p: prefix + p for p in automl_flaml.PARTS}
    blobs.write_bytes(prefix + "train/part-00000-a.snappy.parquet", _parquet(pd.DataFrame({"x": [1, 2], "y": [0, 1]})))
    blobs.write_bytes(prefix + "train/part-00001-a.snappy.parquet", _parquet(pd.DataFrame({"x": [3], "y": [1]})))
    blobs.write_bytes(prefix + "train/_SUCCESS", b"")
    blobs.write_bytes(prefix + "train/.part-00000-a.snappy.parquet.crc", b"junk")
    blobs.write_bytes(prefix + "validation/part-00000-b.snappy.parquet", _parquet(pd.DataFrame({"x": [4], "y": [0]})))
    blobs.write_bytes(prefix + "test/part-00000-c.snappy.parquet", _parquet(pd.DataFrame({"x": [5, 6], "y": [1, 0]})))
    blobs.write_bytes(prefix + "train_extra/part-00000-d.snappy.parquet", _parquet(pd.DataFrame({"x": [9], "y": [9]})))
    frames = automl_flaml.read_parts(blobs, parts)
    assert frames["train"]["x"].tolist() == [1, 2, 3]
    assert len(frames["validation"]) == 1 and frames["test"]["y"].tolist() == [1, 0]
    with pytest.raises(FileNotFoundError):
        automl_flaml.read_parts(MemoryBlobStore(), parts)
