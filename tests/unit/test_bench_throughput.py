"""The throughput benchmark's pure parts on fabricated log lines and records: how phases are read per
trial and per pack, the bracket it runs, and its tables. No figure here is a performance claim."""
from __future__ import annotations

import logging
from types import SimpleNamespace

from bench import bench_throughput as bench


def _record(message: str) -> logging.LogRecord:
    return logging.LogRecord("zygarde.spark.fitting", logging.INFO, __file__, 1, message, None, None)


def test_phases_are_summed_per_trial_and_pack_phases_kept_by_plan():
    phases = bench.PhaseLog()
    for line in ("phase done job_id=j pack_id=r1 phase=load seconds=4.30 train_rows=10",
                 "phase done job_id=j pack_id=r1 plan=indexed phase=broadcast seconds=2.29 rows=45",
                 "phase done job_id=j pack_id=r1 trial_id=r1-03 attempt=1 phase=fit seconds=3.50",
                 "phase done job_id=j pack_id=r1 trial_id=r1-03 attempt=1 phase=fit seconds=0.25",
                 "phase done job_id=j pack_id=r1 trial_id=r1-03 attempt=1 phase=task_overhead seconds=1.00",
                 "trial started job_id=j pack_id=r1 trial_id=r1-03"):
        phases.emit(_record(line))
    assert phases.pack == [("load", 4.3), ("broadcast:indexed", 2.29)]
    assert dict(phases.trials) == {"r1-03": {"fit": 3.75, "task_overhead": 1.0}}
    trial = SimpleNamespace(trial_id="r1-03", algorithm="xgboost_regressor")
    outcome = SimpleNamespace(results={"r1-03": SimpleNamespace(status="SUCCEEDED", duration_seconds=5.5)})
    assert bench.split([trial], outcome, phases) == {
        "xgboost": {"trials": 1, "fit": 3.75, "task_overhead": 1.0, "other": 0.75, "total": 5.5}}


def test_the_bracket_is_the_auto_mode_s_first_cheapest_first():
    points = bench.bracket_points("regression", 27)
    assert len(points) == 27 and [a for a, _ in points].count("linear_regression") == 3
    assert {a for a, _ in points} == {"linear_regression", "xgboost_regressor"}
    assert points == bench.bracket_points("regression", 27)  # seeded


def test_the_tables_show_each_mode_and_flaml_with_load_averages():
    split = {"rung 1 (1/3 of the rows)": {"xgboost": {"trials": 2, "fit": 3.0, "total": 4.0}}}
    mode = {"split": split, "bracket_trials": 36, "bracket_seconds": 303.5, "trials_per_minute": 7.12,
            "winner": {"validation_rmse": 527.32}, "finalize": {"test_rmse": 521.1}, "load_average_start": 28.7,
            "load_average_rungs": [34.9, 36.5]}
    record = {"dataset": {"metric": "rmse"}, "modes": {"trial-parallel": mode},
              "flaml": {"trials": 57, "budget_seconds": 303.5, "trials_per_minute": 11.27, "validation_score": 557.68,
                        "test_score": 552.75, "load_average": [22.7, 20.0]}}
    text = bench.table(record)
    assert "| trial-parallel, rung 1 (1/3 of the rows), xgboost | 2 | - | 3.00 | - | - | - | - | 4.00 |" in text
    assert "| trial-parallel | 36 | 303.5 | 7.12 | 527.3200 | 521.1000 | 28.7-36.5 |" in text
    assert "| FLAML | 57 | 303.5 | 11.27 | 557.6800 | 552.7500 | 22.7-20.0 |" in text
