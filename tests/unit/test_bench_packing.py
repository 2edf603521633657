"""The packing benchmark's pure parts on fabricated timings: ratios, DCU billing, best candidates.
No figure here is a performance claim."""
from __future__ import annotations

import pytest

from bench import packing_data
from bench import packing_report as report


def _trial(trial_id: str, score: float | None, fit: float = 1.0, algorithm: str = "gbt_regressor") -> dict:
    return {"trial_id": trial_id, "algorithm": algorithm, "params": {}, "score": score, "fit_seconds": fit}


def _runs() -> dict:
    cloud = {"wall_seconds": 600.0, "prepare_seconds": 40.0, "batches": [40.0, 30.0, 90.0, 20.0],
             "trials": [_trial("t0000", 900.0, 10.0), _trial("t0001", 700.0, 30.0)]}
    session = {"wall_seconds": 100.0, "prepare_seconds": 20.0,
               "trials": [_trial("t0000", 905.0, 8.0), _trial("t0001", 702.0, 24.0)]}
    sklearn = {"wall_seconds": 10.0, "trials": [_trial("t0000", 650.0, 2.0), _trial("t0001", 800.0, 3.0)]}
    flaml = {"wall_seconds": 60.0, "grid": False, "trials": [_trial("flaml-rf", 500.0, 5.0, "rf")]}
    return {"cloud": cloud, "session": session, "sklearn": sklearn, "flaml": flaml}


def test_billing_has_a_one_minute_minimum_per_batch_at_12_dcu():
    assert report.BATCH_DCU == 12
    assert report.billed_dcu([30.0, 90.0]) == 60 * 12 + 90 * 12
    assert report.billed_dcu([]) == 0


def test_overhead_ratio_is_wall_over_preparation_plus_spread_fits():
    assert report.overhead_ratio(600.0, 40.0, 40.0, 2) == pytest.approx(600.0 / 60.0)
    assert report.overhead_ratio(10.0, 0.0, 0.0, 2) is None


def test_best_trial_follows_the_direction_and_skips_unscored():
    trials = [_trial("a", None), _trial("b", 2.0), _trial("c", 1.0), _trial("d", float("nan")), _trial("e", 1.0)]
    assert report.best_trial(trials, "minimize")["trial_id"] == "c"  # ties: first in grid order
    assert report.best_trial(trials, "maximize")["trial_id"] == "b"
    assert report.best_trial([_trial("a", None)], "minimize") is None


def test_summary_ratios_differences_and_agreement():
    s = report.summarise(_runs(), "minimize", parallelism=2)
    runs = s["runs"]
    assert s["wall_ratio_cloud_over_session"] == pytest.approx(6.0)
    assert runs["cloud"]["billed_dcu_seconds"] == (60 + 60 + 90 + 60) * 12
    assert runs["session"]["billed_dcu_seconds_as_one_batch"] == 100 * 12
    assert s["dcu_ratio_cloud_over_one_batch"] == pytest.approx(270 / 100)
    assert runs["cloud"]["overhead_ratio"] == pytest.approx(600 / (40 + 40 / 2))
    assert runs["session"]["overhead_ratio"] == pytest.approx(100 / (20 + 32 / 2))
    assert runs["session"]["best_score_minus_cloud"] == pytest.approx(2.0)
    assert runs["sklearn"]["best_score_minus_cloud"] == pytest.approx(-50.0)
    assert runs["session"]["same_best_as_cloud"] is True
    assert runs["sklearn"]["same_best_as_cloud"] is False
    assert runs["flaml"]["same_best_as_cloud"] is None  # FLAML searches its own space
    assert s["best_candidate_same_everywhere"] is False
    text = report.table(s)
    assert "wall-time ratio (local cloud / one session): 6.00" in text and "flaml" in text


def test_without_the_cloud_the_session_is_the_reference():
    runs = _runs()
    del runs["cloud"], runs["sklearn"]
    s = report.summarise(runs, "minimize", parallelism=2)
    assert s["reference"] == "session" and s["wall_ratio_cloud_over_session"] is None
    assert s["runs"]["session"]["best_score_minus_session"] == 0
    assert s["best_candidate_same_everywhere"] is True
    assert "-" in report.table(s)


def test_the_grid_is_the_14_candidate_job():
    spec = packing_data.job_spec("bench-diamonds-1", "gs://zygarde-local/datasets/bench/diamonds.csv",
                                 packing_data.DATASETS["diamonds"], max_parallel=2)
    grid = packing_data.expand(spec)
    assert len(grid) == 14
    assert [a for _, a, _ in grid].count("linear_regression") == 6
    assert spec["owner"] == "bench" and spec["dataset"]["uri"].endswith("/datasets/bench/diamonds.csv")
