"""A wide dataset's data report fits in its Firestore record: cut, with a pointer to the full one."""
from __future__ import annotations

import json

from tests.unit.conftest import job_message, spec_dict
from tests.unit.test_handlers import deliver
from zygarde.domain.contracts import PrepareResult
from zygarde.domain.model import PREPARE, TrialState
from zygarde.domain.report_record import MAX_RECORD_BYTES, report_for_record
from zygarde.service_layer import edge
from zygarde.service_layer.locations import data_prefix


def wide_report(n: int) -> dict:
    names = [f"probe_{i:05d}" for i in range(n)] + ["y"]
    return {"schema": [{"name": c, "type": "double", "nullable": True} for c in names], "target": "y",
            "task": "binary_classification", "row_count": 5000, "rows_with_target": 5000,
            "columns": {c: {"kind": "numeric", "nulls": 0, "min": -3.1, "max": 3.2, "mean": 0.01, "stddev": 1.0,
                            "distinct": 4990} for c in names},
            "class_balance": {"0": 2500, "1": 2500},
            "warnings": [{"column": c, "kind": "id_like", "message": f"{c} looks like an identifier"} for c in names],
            "problems": []}


def test_a_small_report_is_kept_whole():
    report = wide_report(20)
    assert report_for_record(report, "gs://b/r.json") is report


def test_a_wide_report_is_cut_below_the_limit_keeping_the_target_and_a_pointer():
    report = wide_report(10_000)
    assert len(json.dumps(report)) > 1024 * 1024  # more than a Firestore document holds
    kept = report_for_record(report, "gs://b/artifacts/j/data/report.json")
    assert len(json.dumps(kept).encode()) <= MAX_RECORD_BYTES
    assert "y" in kept["columns"] and kept["class_balance"] == report["class_balance"]
    assert kept["truncated"]["columns"] == 10_001 and kept["truncated"]["columns_kept"] == len(kept["columns"])
    assert kept["truncated"]["full_report"] == "gs://b/artifacts/j/data/report.json"


def test_the_preparation_of_a_wide_dataset_is_recorded_with_a_cut_report(deps):
    job_id = edge.submit_job(job_message(spec_dict()), deps)
    trial = deps.repo.get_trial(job_id, PREPARE)
    result = PrepareResult(job_id, trial.attempt, "SUCCEEDED", report=wide_report(10_000),
                           rows={"train": 3500, "validation": 1000, "test": 500},
                           parts={"train": data_prefix(deps.settings, job_id) + "train"})
    deliver(deps, trial, result, True, times=2)
    prep = deps.repo.get_trial(job_id, PREPARE)
    assert prep.state is TrialState.SUCCEEDED
    assert len(json.dumps(prep.outputs["report"]).encode()) <= MAX_RECORD_BYTES
    assert prep.outputs["report"]["truncated"]["full_report"] == data_prefix(deps.settings, job_id) + "report.json"
