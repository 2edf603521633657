"""The performance-model benchmark's pure parts on fabricated records: how histories are read and
cut into runs. No figure here is a performance claim."""
from __future__ import annotations

import json

from bench import perf_model_mape as bench
from zygarde.domain import perf_records as pr
from zygarde.domain.perf_records import Observation


def test_collected_observations_are_cut_into_runs_at_each_preparation(monkeypatch):
    monkeypatch.setattr(bench, "packing_history", list)
    monkeypatch.setattr(bench, "automl_history", lambda dataset: [])
    fit = Observation(pr.FIT, 3.0, 6_500, 9, 2, "gbt_regressor", {"maxIter": 10})
    collected = [Observation(pr.STARTUP, 30.0, cores=2), Observation(pr.PREPARE, 80.0, 10_000, 10, 2), fit,
                 Observation(pr.STARTUP, 31.0, cores=2), Observation(pr.PREPARE, 50.0, 5_822, 86, 2), fit, fit]
    runs = bench.sources(collected)
    assert [len(r) for r in runs.values()] == [3, 4]
    assert list(runs) == ["collected, 10,000 rows x 10 columns, 2 cores", "collected, 5,822 rows x 86 columns, 2 cores"]


def test_the_auto_mode_history_infers_each_fits_rung(tmp_path):
    record = lambda state, fit: {"kind": "train", "state": state, "fit_seconds": fit,
                                 "algorithm": "xgboost_regressor", "params": {"n_estimators": 300, "max_depth": 6}}
    records = [record("PRUNED", 5.0), record("SUCCEEDED", 7.0), record("CANCELLED", 4.0), record("PRUNED", None)]
    rows = {"train": 35_061, "validation": 1, "test": 1}
    results = {"results": {"diamonds": {"zygarde": {"rows": rows, "trial_records": records}}}}
    path = tmp_path / "results_automl.json"
    path.write_text(json.dumps(results))
    fits = bench.automl_history("diamonds", path)
    assert [(o.seconds, round(o.train_fraction, 3), o.rows, o.columns) for o in fits] == [
        (5.0, 0.333, 35_061, 9), (7.0, 1.0, 35_061, 9)]


def test_the_packing_session_fits_had_a_core_each(tmp_path):
    results = {"dataset": {"rows": 20_000}, "runs": {"session": {"trials": [
        {"algorithm": "linear_regression", "params": {"regParam": 0.1}, "fit_seconds": 3.5},
        {"algorithm": "random_forest_regressor", "params": {"numTrees": 20}, "fit_seconds": 4.8},
        {"algorithm": "gbt_regressor", "params": {}, "fit_seconds": None}]}}}
    path = tmp_path / "results_packing.json"
    path.write_text(json.dumps(results))
    fits = bench.packing_history(path)
    assert [(o.algorithm, o.rows, o.columns, o.cores) for o in fits] == [
        ("linear_regression", 13_000, 29, 1.0), ("random_forest_regressor", 13_000, 9, 1.0)]
