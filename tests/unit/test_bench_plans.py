"""The plan benchmark's simulation on the two real shapes (bench/bench_plans.py): the planner's plan against
max parallel at Dataproc's default size, in the planner's own model and in the benchmark's simulation."""
from __future__ import annotations

import pytest

from bench import bench_plans as bench
from zygarde.domain import perf_model
from zygarde.domain import plan_timeline as tl
from zygarde.domain import planner as pl


@pytest.mark.parametrize("dataset", sorted(bench.SHAPES))
@pytest.mark.parametrize("search_kind", ["grid-14", "auto-27"])
def test_the_plan_is_never_dearer_than_naive_in_its_own_model_and_meets_each_deadline(dataset, search_kind):
    model, work = perf_model.prior(bench.STARTUP_SECONDS), bench.workload(dataset, search_kind)
    naive = pl.naive_plan(model, work, pl.Capacity(max_batches=4))
    for minutes in (5, 10, 30):
        plan = pl.plan(model, work, deadline_seconds=minutes * 60, capacity=pl.Capacity(max_batches=4))
        assert plan.trials == len(work.trials) and plan.predicted_seconds <= minutes * 60
        assert plan.predicted_dcu_hours <= naive.predicted_dcu_hours + 1e-9


def test_the_simulation_bills_each_batch_at_least_a_minute_of_twelve_dcu_and_counts_the_start_up():
    model, work = perf_model.prior(bench.STARTUP_SECONDS), bench.workload("diamonds", "grid-14")
    errors = [1.0] * (len(work.trials) + 2)
    one = bench.run(model, work, 1, tl.DEFAULT_SIZE, 3, errors, dispatch="packs")
    four = bench.run(model, work, 4, tl.DEFAULT_SIZE, 3, errors, dispatch="packs")
    assert one["batches"] == 1 and four["batches"] == 4
    assert one["end_minutes"] * 60 > bench.STARTUP_SECONDS
    # three more batches, each started after the preparation and billed at least a minute of 12 DCU
    assert four["dcu_hours"] >= 12 * 4 * 60 / 3600 and four["dcu_hours"] > one["dcu_hours"]


def test_on_both_shapes_the_plan_is_on_time_and_never_dearer_than_naive_in_the_simulation():
    rows = bench.compare(noise=0.3, seed=42)  # trials packed by the control plane's pack planner
    assert len(rows) == 12
    for row in rows:
        assert row["plan"]["meets_deadline"] and row["naive"]["meets_deadline"], row
        assert row["saving"] >= 0, row


def test_against_max_parallel_taken_literally_the_plan_is_at_least_30_percent_cheaper():
    for row in bench.compare(noise=0.3, seed=42, dispatch="packs"):
        assert row["plan"]["meets_deadline"], row
        assert row["saving"] >= 0.30, row
