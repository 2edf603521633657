"""The pack planner: cost model, online correction and pack sizes."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zygarde.domain.budgets import billed_dcu_seconds
from zygarde.domain.pack_planner import (DataShape, Observation, TrialCost, correction,
                                    plan_packs, predict_seconds, whole_job_fits_one_batch)

STARTUP = 60.0


def costs(*seconds: float) -> list[TrialCost]:
    return [TrialCost(f"t{i:03d}", i, s) for i, s in enumerate(seconds)]


def test_cost_grows_with_rows_features_and_params():
    small, big = DataShape(1_000, 10), DataShape(500_000, 40)
    assert predict_seconds("random_forest_classifier", {}, big) > predict_seconds("random_forest_classifier", {},
                                                                                  small)
    assert predict_seconds("random_forest_classifier", {"numTrees": 200}, big) > \
        predict_seconds("random_forest_classifier", {"numTrees": 20}, big)
    assert predict_seconds("gbt_regressor", {"maxDepth": 10}, big) > predict_seconds("gbt_regressor", {"maxDepth": 3},
                                                                                     big)
    assert predict_seconds("gbt_classifier", {}, big) > predict_seconds("logistic_regression", {}, big)
    assert predict_seconds("logistic_regression", {}, DataShape(0, 0)) >= 1.0  # never zero


def test_correction_uses_the_family_then_the_job_and_is_bounded():
    obs = [Observation("random_forest_classifier", 10, 30), Observation("random_forest_regressor", 10, 50),
           Observation("logistic_regression", 4, 2)]
    assert correction(obs, "random_forest_classifier") == pytest.approx(4.0)  # median of 3 and 5
    assert correction(obs, "logistic_regression") == pytest.approx(0.5)
    assert correction(obs, "gbt_classifier") == pytest.approx(3.0)  # no boosted trial yet: the job's median
    assert correction([], "gbt_classifier") == 1.0
    assert correction([Observation("kmeans", 1, 1000)], "kmeans") == 10.0


def test_small_job_is_one_pack_and_fits_one_batch():
    packs = plan_packs(costs(3, 4, 5, 2), free_batches=4, startup_seconds=STARTUP)
    assert [len(p.trial_ids) for p in packs] == [4]
    assert whole_job_fits_one_batch([3, 4, 5, 2], startup_seconds=STARTUP)
    assert not whole_job_fits_one_batch([100, 100, 100], startup_seconds=STARTUP)


def test_long_trials_get_a_batch_each_and_the_rest_is_packed():
    packs = plan_packs(costs(400, 5, 6, 7, 300), free_batches=5, startup_seconds=STARTUP)
    assert ("t000",) in [p.trial_ids for p in packs] and ("t004",) in [p.trial_ids for p in packs]
    assert sorted(len(p.trial_ids) for p in packs) == [1, 1, 3]


def test_work_is_spread_over_the_free_batches_when_there_is_a_lot():
    packs = plan_packs(costs(*[50] * 12), free_batches=3, startup_seconds=STARTUP)
    assert [len(p.trial_ids) for p in packs] == [4, 4, 4]
    packs = plan_packs(costs(*[50] * 12), free_batches=8, startup_seconds=STARTUP)  # 600 s: 4 packs of 150 s
    assert len(packs) == 4 and all(p.predicted_seconds <= 3 * STARTUP for p in packs)


def test_concurrency_inside_a_batch_shortens_its_wall_time():
    one = plan_packs(costs(*[40] * 4), free_batches=1, startup_seconds=STARTUP, concurrency=1)
    two = plan_packs(costs(*[40] * 4), free_batches=1, startup_seconds=STARTUP, concurrency=2)
    assert one[0].predicted_seconds == 160 and two[0].predicted_seconds == 80


def test_nothing_to_plan():
    assert plan_packs([], free_batches=3, startup_seconds=STARTUP) == []
    assert plan_packs(costs(5), free_batches=0, startup_seconds=STARTUP) == []
    with pytest.raises(ValueError):
        TrialCost("t", 0, float("nan"))


def test_billing_has_a_one_minute_minimum():
    assert billed_dcu_seconds(10, 12) == 720
    assert billed_dcu_seconds(90, 4) == 360


@settings(max_examples=200, deadline=None)
@given(seconds=st.lists(st.floats(0.5, 2000), min_size=0, max_size=60), free=st.integers(0, 10),
       concurrency=st.integers(1, 4), max_pack=st.integers(1, 20))
def test_plans_never_duplicate_or_exceed_the_free_batches(seconds, free, concurrency, max_pack):
    waiting = costs(*seconds)
    packs = plan_packs(waiting, free_batches=free, startup_seconds=STARTUP, concurrency=concurrency,
                       max_pack_size=max_pack)
    planned = [t for p in packs for t in p.trial_ids]
    assert len(planned) == len(set(planned))
    assert set(planned) <= {t.trial_id for t in waiting}
    assert len(packs) <= free and all(len(p.trial_ids) <= max_pack for p in packs)
    long_ids = {t.trial_id for t in waiting if t.seconds >= 3 * STARTUP}
    assert all(len(p.trial_ids) == 1 for p in packs if set(p.trial_ids) & long_ids)
    if waiting and free >= 1:
        assert packs  # free capacity and waiting work always launch something


def test_batch_runtimes_count_a_pack_s_batch_once_and_a_running_one_until_now():
    from datetime import datetime, timezone

    from zygarde.domain.model import Trial, TrialState
    from zygarde.domain.budgets import batch_runtimes

    def at(s: int) -> str:
        return datetime(2026, 1, 1, 0, 0, s, tzinfo=timezone.utc).isoformat()

    packed = [Trial("j", f"t{i}", i, "naive_bayes", {}, TrialState.SUCCEEDED, 1, "zyg-j-pab-a1", 0, 0,
                    objective=0.5, started_at=at(10), finished_at=at(20 + i), pack_id="pack-ab") for i in range(3)]
    alone = Trial("j", "t9", 9, "naive_bayes", {}, TrialState.RUNNING, 1, "zyg-j-t9-a1", 1, 1, started_at=at(5))
    never = Trial("j", "t8", 8, "naive_bayes", {})
    now = datetime(2026, 1, 1, 0, 0, 50, tzinfo=timezone.utc)
    assert sorted(batch_runtimes([*packed, alone, never], now)) == [12.0, 45.0]
    assert billed_dcu_seconds(12.0, 12) == 720.0 and billed_dcu_seconds(90.0, 12) == 1080.0
