"""A successive halving rung on the Spark side: train_fraction < 1 fits the learner on a seeded
sample of the train part (at least MIN_SAMPLE_ROWS rows), scores on the whole validation part, the
same sample alone or in a pack; a fit on a sample is never kept as the warm winner's model."""
from __future__ import annotations

from dataclasses import replace

import pytest

from zygarde.spark import fitting, warm_models
from zygarde.spark import pack_runner as pack

from .test_train_pack import TRIALS, alone, pack_request

THIRD = 1 / 3


def test_sample_train_is_seeded_bounded_and_nested(spark):
    rows = spark.range(3000).repartition(2).cache()
    rows.count()
    ids = lambda df: {r.id for r in df.collect()}  # noqa: E731
    third = fitting.sample_train(rows, THIRD, seed=11, min_rows=10)
    assert ids(third) == ids(fitting.sample_train(rows, THIRD, seed=11, min_rows=10))  # deterministic
    assert 800 < len(ids(third)) < 1200
    ninth = fitting.sample_train(rows, 1 / 9, seed=11, min_rows=10)
    assert ids(ninth) < ids(third)  # a smaller fraction keeps a subset of the rows of a larger one
    assert ids(fitting.sample_train(rows, 1 / 9, seed=12, min_rows=10)) != ids(ninth)
    floor = fitting.sample_train(rows, 0.01, seed=11, min_rows=600)  # never fewer than min_rows (about)
    assert 500 < len(ids(floor)) < 700
    assert fitting.sample_train(rows, 1.0, seed=11) is rows
    assert fitting.sample_train(rows, THIRD, seed=11, min_rows=5000) is rows  # fewer rows than the floor: all
    rows.unpersist()


def test_a_trial_at_a_fraction_fits_fewer_rows_deterministically_and_scores_all_validation(
        spark, clinic_parts, tmp_path, monkeypatch):
    monkeypatch.setattr(fitting, "MIN_SAMPLE_ROWS", 10)
    full = alone(spark, clinic_parts, tmp_path, "t-lr")
    part = alone(spark, clinic_parts, tmp_path, "t-lr", train_fraction=THIRD)
    again = alone(spark, clinic_parts, tmp_path, "t-lr", train_fraction=THIRD)
    assert full.status == part.status == "SUCCEEDED", (full.error, part.error)
    assert part.validation_rows == full.validation_rows
    assert 0.2 * full.train_rows < part.train_rows < 0.5 * full.train_rows
    assert part.metrics["train_fraction"] == pytest.approx(THIRD) and part.metrics["fit_rows"] == part.train_rows
    assert "train_fraction" not in full.metrics
    assert again.train_rows == part.train_rows
    assert again.metrics["areaUnderROC"] == pytest.approx(part.metrics["areaUnderROC"], abs=1e-9)


def test_the_minimum_sample_keeps_every_row_of_a_small_part(spark, clinic_parts, tmp_path):
    full = alone(spark, clinic_parts, tmp_path, "t-lr")
    floor = alone(spark, clinic_parts, tmp_path, "t-lr", train_fraction=THIRD)  # < 2,000 rows: all of them
    assert floor.train_rows == full.train_rows
    assert floor.metrics["areaUnderROC"] == pytest.approx(full.metrics["areaUnderROC"], abs=1e-9)


def test_a_packed_trial_at_a_fraction_fits_the_same_sample_and_is_never_kept_warm(
        spark, clinic_parts, tmp_path, monkeypatch):
    monkeypatch.setattr(fitting, "MIN_SAMPLE_ROWS", 10)
    warm_models.forget()
    offered = []
    offer = warm_models.offer
    monkeypatch.setattr(warm_models, "offer", lambda *args: offered.append(args[4]) or offer(*args))
    request = pack_request(clinic_parts, tmp_path, {"t-lr": TRIALS["t-lr"], "t-lr2": TRIALS["t-lr2"]},
                           handoff_prefix=str(tmp_path / "handoffs") + "/", handoff_seconds=5.0)
    request = replace(request, trials=(replace(request.trials[0], train_fraction=THIRD), request.trials[1]))
    outcome = pack.run_pack(spark, request)
    sampled, whole = outcome.results["t-lr"], outcome.results["t-lr2"]
    assert sampled.status == whole.status == "SUCCEEDED", (sampled.error, whole.error)
    single = alone(spark, clinic_parts, tmp_path, "t-lr", train_fraction=THIRD)
    assert sampled.train_rows == single.train_rows < whole.train_rows
    assert sampled.validation_rows == whole.validation_rows == single.validation_rows
    assert sampled.metrics["areaUnderROC"] == pytest.approx(single.metrics["areaUnderROC"], abs=1e-6)
    algorithm, params = TRIALS["t-lr2"]
    key = warm_models.fit_key(algorithm, dict(params), request.seed, request.train_uri, request.validation_uri)
    assert offered == [key]  # the sample's fit is never offered as the winner's model
    assert warm_models.take("job-pack", key) is not None
    warm_models.forget()
