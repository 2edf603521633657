"""The planner: the cheapest plan that meets the deadline, checked against brute force on synthetic
performance models, and the timeline and billing it predicts with."""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zygarde.domain import perf_model as pm
from zygarde.domain import plan_timeline as tl
from zygarde.domain import planner as pl
from zygarde.domain.perf_records import Observation, TrialShape
from zygarde.domain.plan_timeline import BatchSize


@dataclass(frozen=True)
class Synthetic:
    """A performance model with known answers: trial i takes base[i] x (s + (1 - s) / cores) seconds,
    stages take fixed seconds."""

    base: tuple[float, ...]
    serial: float = 0.3
    startup: float = 60.0
    prepare: float = 30.0
    load: float = 5.0
    finalize: float = 20.0
    scale: float = 1.0

    def predict(self, shape: TrialShape) -> float:
        return self.scale * self.base[shape.params["numTrees"] - 1] * (self.serial + (1 - self.serial) / shape.cores)

    def trial_seconds(self, shape: TrialShape) -> float:
        return self.predict(shape)

    def stage_seconds(self, stage: str, rows: float, columns: float, cores: float = 1.0) -> float:
        return {"prepare": self.prepare, "load": self.load, "finalize": self.finalize}[stage]

    def scaled(self, factor: float) -> Synthetic:
        return replace(self, scale=self.scale * factor)


def workload(n: int, **kw) -> pl.Workload:
    shapes = (TrialShape("random_forest_regressor", {"numTrees": i + 1}, rows=50_000, features=10) for i in range(n))
    return pl.Workload(tuple(shapes), rows=70_000, columns=11, **kw)


SMALL = pl.Capacity(max_batches=3, max_executors=3)  # a space small enough for brute force


def brute_force(model, work: pl.Workload, capacity: pl.Capacity, deadline: float | None) -> float | None:
    """The fewest DCU-seconds of any configuration running every trial by the deadline (None: none does)."""
    best = None
    n = len(work.trials)
    for cores in tl.VALID_CORES:
        for executors in range(2, capacity.max_executors + 1):
            size = BatchSize(executors, cores)
            for q in range(1, min(n, size.task_cores) + 1):
                if q not in pl.CONCURRENCIES:
                    continue
                durations = [model.trial_seconds(t.with_cores(size.task_cores / q)) for t in work.trials]
                for b in range(1, min(capacity.max_batches, math.ceil(n / q)) + 1):
                    t = tl.simulate(tl.Stages.of(model, work.rows, work.columns, size), durations, size=size,
                                    batches=b, concurrency=q)
                    if deadline is None or t.end_seconds <= deadline:
                        best = t.dcu_seconds if best is None else min(best, t.dcu_seconds)
    return best


models = st.builds(Synthetic, base=st.lists(st.floats(1, 3000), min_size=1, max_size=7).map(tuple),
                   serial=st.floats(0.0, 0.9), startup=st.floats(5, 120), prepare=st.floats(1, 200),
                   load=st.floats(0, 30), finalize=st.floats(1, 100))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model=models, deadline=st.one_of(st.none(), st.floats(60, 4 * 3600)))
def test_the_plan_meets_the_deadline_at_the_brute_force_minimum_or_says_none_does(model, deadline):
    work = workload(len(model.base))
    best = brute_force(model, work, SMALL, deadline)
    if best is None:
        with pytest.raises(pl.Infeasible):
            pl.plan(model, work, deadline_seconds=deadline, capacity=SMALL)
        return
    plan = pl.plan(model, work, deadline_seconds=deadline, capacity=SMALL)
    assert plan.trials == len(work.trials)
    assert deadline is None or plan.predicted_seconds <= deadline
    assert plan.predicted_dcu_hours * 3600 == pytest.approx(best)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model=models, deadline=st.one_of(st.none(), st.floats(60, 4 * 3600)), batches=st.integers(1, 4))
def test_the_plan_is_never_dearer_than_the_naive_plan_when_that_one_meets_the_deadline(model, deadline, batches):
    work, capacity = workload(len(model.base)), pl.Capacity(max_batches=batches, max_executors=6)
    naive = pl.naive_plan(model, work, capacity)
    if deadline is not None and naive.predicted_seconds > deadline:
        return
    plan = pl.plan(model, work, deadline_seconds=deadline, capacity=capacity)
    assert plan.predicted_dcu_hours <= naive.predicted_dcu_hours + 1e-9


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model=models, deadline=st.floats(60, 4 * 3600))
def test_every_plan_respects_the_billing_minimums(model, deadline):
    work = workload(len(model.base))
    try:
        plan = pl.plan(model, work, deadline_seconds=deadline, capacity=SMALL)
    except pl.Infeasible:
        return
    assert plan.size.dcu >= tl.MIN_DCU
    assert plan.predicted_dcu_hours >= plan.batches * tl.MIN_DCU * tl.MIN_BILLED_SECONDS / 3600 - 1e-12


def test_a_short_deadline_says_in_one_sentence_what_the_fastest_plan_needs():
    model, work = Synthetic(base=(3000.0,) * 6, serial=0.9), workload(6)
    with pytest.raises(pl.Infeasible) as caught:
        pl.plan(model, work, deadline_seconds=300, capacity=SMALL)
    message = str(caught.value)
    assert message.startswith("the fastest plan for 6 trials needs about ")
    assert "5-minute deadline" in message and "raise budget.deadline_minutes" in message
    assert message.count(". ") == 0 and "\n" not in message


def test_a_cost_cap_is_met_or_refused_with_the_cheapest_price():
    model, work = Synthetic(base=(600.0,) * 4), workload(4)
    cheapest = pl.plan(model, work, capacity=SMALL)
    capped = pl.plan(model, work, max_cost_usd=cheapest.predicted_dollars * 1.01, capacity=SMALL)
    assert capped.predicted_dollars <= cheapest.predicted_dollars * 1.01
    refusal = r"^the cheapest plan for 4 trials costs about \$0\.\d\d+, .*raise budget\.max_cost_usd$"
    with pytest.raises(pl.Infeasible, match=refusal):
        pl.plan(model, work, max_cost_usd=cheapest.predicted_dollars / 2, capacity=SMALL)


def test_a_deadline_and_a_cap_that_conflict_name_both():
    model, work = Synthetic(base=(900.0,) * 6), workload(6)
    fast = pl.plan(model, work, deadline_seconds=600, capacity=SMALL)
    with pytest.raises(pl.Infeasible, match="deadline_minutes or budget.max_cost_usd"):
        pl.plan(model, work, deadline_seconds=600, max_cost_usd=fast.predicted_dollars * 0.9, capacity=SMALL)


def test_a_tight_deadline_runs_the_most_trials_that_fit_and_no_fewer_than_asked():
    model = Synthetic(base=(2000.0,) * 12)
    work = workload(12, min_trials=3)
    plan = pl.plan(model, work, deadline_seconds=900, capacity=pl.Capacity(max_batches=1, max_executors=2))
    assert 3 <= plan.trials < 12 and plan.predicted_seconds <= 900
    one_more = workload(plan.trials + 1)
    with pytest.raises(pl.Infeasible):
        pl.plan(model, one_more, deadline_seconds=900, capacity=pl.Capacity(max_batches=1, max_executors=2))


def test_bigger_work_under_the_same_deadline_gets_more_compute():
    small, big = Synthetic(base=(300.0,) * 8, serial=0.1), Synthetic(base=(3000.0,) * 8, serial=0.1)
    capacity = pl.Capacity(max_batches=4)
    a = pl.plan(small, workload(8), deadline_seconds=1800, capacity=capacity)
    b = pl.plan(big, workload(8), deadline_seconds=1800, capacity=capacity)
    assert b.batches * b.size.task_cores > a.batches * a.size.task_cores


def test_the_capacity_cap_and_a_core_quota_hold():
    model, work = Synthetic(base=(2000.0,) * 8, serial=0.05), workload(8)
    plan = pl.plan(model, work, deadline_seconds=1200, capacity=pl.Capacity(max_batches=2, max_cores=60))
    assert plan.batches <= 2 and plan.batches * plan.size.dcu <= 60


def test_a_plan_checks_its_own_invariants():
    good = dict(batches=1, size=BatchSize(), concurrency=2, trials=3, search_seconds=100.0, predicted_seconds=120.0,
                predicted_dcu_hours=0.4, predicted_dollars=0.024)
    pl.Plan(**good)
    for bad, why in [({"batches": 0}, "at least 1"), ({"predicted_seconds": 90.0}, "before the job"),
                     ({"predicted_dcu_hours": 0.1, "predicted_dollars": 0.006}, "bill at least"),
                     ({"predicted_dollars": 1.0}, "DCU-hours at the price"),
                     ({"deadline_seconds": 100.0}, "past the deadline"), ({"max_cost_usd": 0.01}, "over max_cost_usd")]:
        with pytest.raises(ValueError, match=why):
            pl.Plan(**{**good, **bad})


def test_a_plan_says_what_it_predicts_and_carries_dataproc_properties():
    plan = pl.plan(Synthetic(base=(500.0,) * 5), workload(5), deadline_seconds=1800, capacity=SMALL)
    assert plan.summary() == (f"about {math.ceil(plan.predicted_seconds / 60)} minutes, about "
                              f"{plan.predicted_dcu_hours:.2f} DCU-hours, about ${plan.predicted_dollars:.2f}")
    assert set(plan.to_dict()) >= {"predicted_seconds", "predicted_dcu_hours", "predicted_dollars"}
    props = plan.batch_properties()
    assert props["spark.executor.instances"] == str(plan.executors)
    assert props["spark.executor.cores"] in {"4", "8", "16"} and props["spark.driver.cores"] in {"4", "8", "16"}


@pytest.mark.parametrize(("executors", "cores", "driver"), [(1, 4, 4), (2, 6, 4), (2, 4, 2), (3, 32, 4)])
def test_batch_sizes_follow_dataproc_serverless_rules(executors, cores, driver):
    with pytest.raises(ValueError):
        BatchSize(executors, cores, driver)


def test_billing_is_per_second_with_a_minute_and_twelve_dcu_minimum():
    assert BatchSize().dcu == 12 and BatchSize(4, 8, 4).dcu == 36
    assert tl.billed_dcu_seconds(10, 12) == 60 * 12
    assert tl.billed_dcu_seconds(90.5, 36) == 90.5 * 36
    assert tl.billed_dcu_seconds(90, 4) == 90 * 12


def test_the_timeline_counts_startup_preparation_warm_handoff_and_finalisation():
    model = Synthetic(base=(10.0, 20.0), serial=1.0, startup=60, prepare=5, load=1, finalize=4)
    stages = tl.Stages.of(model, 1, 1, BatchSize())
    one = tl.simulate(stages, [10.0, 20.0], size=BatchSize(), batches=1, concurrency=1)
    assert (one.search_seconds, one.end_seconds, one.batch_seconds) == (96.0, 100.0, (100.0,))
    assert one.dcu_seconds == 100 * 12
    # the first batch prepares and goes on with trials (warm); a second starts up when the preparation
    # ends, and is not created at all when the first would take its trial sooner
    assert tl.simulate(stages, [10.0, 20.0], size=BatchSize(), batches=2, concurrency=1) == one
    two = tl.simulate(stages, [100.0, 90.0], size=BatchSize(), batches=2, concurrency=1)
    assert (two.search_seconds, two.end_seconds) == (66 + 60 + 90.0, 66 + 60 + 90.0 + 4)
    assert two.batch_seconds == (166.0, 220.0 - 65) and two.dcu_seconds == (166 + 155) * 12
    warm = tl.simulate(stages, [10.0, 20.0], size=BatchSize(), batches=2, concurrency=1, prepared=True, warm=2)
    assert warm.search_seconds == 20.0 and warm.batch_seconds == (24.0, 10.0)
    assert warm.dcu_seconds == 2 * 60 * 12  # each billed its minute


def test_drift_calls_for_a_replan_that_uses_what_the_trials_showed():
    model = Synthetic(base=(300.0,) * 10, serial=0.2)
    work = workload(10)
    plan = pl.plan(model, work, deadline_seconds=3600, capacity=pl.Capacity(max_batches=4))
    shapes = [t.with_cores(plan.size.task_cores / plan.concurrency) for t in work.trials[:3]]
    slow = [Observation.of_fit(s, 3 * model.predict(s)) for s in shapes]
    on_time = [Observation.of_fit(s, model.predict(s)) for s in shapes]
    assert not pl.should_replan(plan, on_time) and pl.should_replan(plan, slow)


def test_a_replan_finishes_the_rest_within_what_is_left_of_the_deadline():
    model = Synthetic(base=(200.0,) * 10, serial=0.2)
    work = workload(10)
    plan = pl.plan(model, work, deadline_seconds=3600, capacity=pl.Capacity(max_batches=4))
    done = [Observation.of_fit(t.with_cores(2.0), 2.0 * model.predict(t.with_cores(2.0))) for t in work.trials[:4]]
    again = pl.replan(plan, done, elapsed_seconds=1200, done=range(4))
    assert again.trials == 6 and again.predicted_seconds <= 3600 - 1200
    assert again.deadline_seconds == pytest.approx(2400)
    with pytest.raises(pl.Infeasible, match="used its deadline"):
        pl.replan(plan, done, elapsed_seconds=3600, done=range(4))


def test_a_replan_runs_more_trials_when_they_proved_faster():
    model, capacity = Synthetic(base=(2000.0,) * 12), pl.Capacity(max_batches=1, max_executors=2)
    plan = pl.plan(model, workload(12, min_trials=3), deadline_seconds=900, capacity=capacity)
    assert plan.trials < 12
    shapes = [t.with_cores(4.0) for t in plan.workload.trials[:3]]
    fast = [Observation.of_fit(s, model.predict(s) / 4) for s in shapes]
    again = pl.replan(plan, fast, elapsed_seconds=300, done=range(3))
    assert 3 + again.trials > plan.trials


def test_the_real_model_plans_the_fourteen_candidate_grid():
    grid = [("linear_regression", {"regParam": r, "elasticNetParam": e}) for r in (0.0, 0.01, 0.1) for e in (0.0, 0.5)]
    grid += [("random_forest_regressor", {"numTrees": t, "maxDepth": d}) for t in (20, 50) for d in (5, 10)]
    grid += [("gbt_regressor", {"maxIter": i, "maxDepth": d}) for i in (20, 50) for d in (3, 5)]
    work = pl.Workload(tuple(TrialShape(a, p, rows=212_775, features=20) for a, p in grid), rows=327_346, columns=12)
    model = pm.prior()
    naive = pl.naive_plan(model, work)
    for minutes in (10, 30):
        plan = pl.plan(model, work, deadline_seconds=minutes * 60)
        assert plan.trials == 14 and plan.predicted_seconds <= minutes * 60
        assert plan.predicted_dcu_hours <= naive.predicted_dcu_hours
