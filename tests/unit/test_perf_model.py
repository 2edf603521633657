"""The performance model: one prior formula, its observations' records, and the fit that refines it."""
from __future__ import annotations

import json
import math
import random

import pytest

from zygarde.domain import perf_model as pm
from zygarde.domain import perf_prior as pf
from zygarde.domain import perf_records as pr
from zygarde.domain.perf_records import Observation, TrialShape

FOREST = "random_forest_regressor"


def forest_shape(rng: random.Random) -> TrialShape:
    return TrialShape(FOREST, {"numTrees": rng.choice([10, 20, 50, 100]), "maxDepth": rng.randint(2, 12)},
                      rows=rng.choice([10_000, 50_000, 200_000, 1_000_000]), features=rng.choice([5, 10, 30]),
                      cores=rng.choice([1, 2, 4, 8, 16]))


def law(shape: TrialShape) -> float:
    """A known scaling law: seconds proportional to rows x trees x depth / cores (features do not matter)."""
    return 2e-5 * shape.fit_rows * shape.params["numTrees"] * shape.params["maxDepth"] / shape.cores


def observed(n: int, seed: int, noise: float = 0.1) -> list[Observation]:
    rng = random.Random(seed)
    shapes = [forest_shape(rng) for _ in range(n)]
    return [Observation.of_fit(s, law(s) * math.exp(rng.gauss(0, noise))) for s in shapes]


# --- the prior: one formula ------------------------------------------------------------------------

@pytest.mark.parametrize(("algorithm", "params", "seconds"), [
    # packing.predict_seconds at 100,000 rows x 10 features (FAMILY_SECONDS x param factor), unchanged
    ("random_forest_regressor", {"numTrees": 40, "maxDepth": 5}, 16.0),
    ("gbt_classifier", {"maxIter": 10}, 6.0),
    ("logistic_regression", {"maxIter": 50}, 1.5),
    ("naive_bayes", {}, 1.5),
    ("kmeans", {"maxIter": 40}, 8.0),
    ("multilayer_perceptron", {"hiddenLayers": [16, 16], "maxIter": 100}, 20.0),
    ("xgboost_classifier", {"n_estimators": 100, "max_depth": 6, "early_stopping_rounds": 0}, 6.0),
])
def test_the_prior_is_the_pack_planners_formula_where_the_two_agreed(algorithm, params, seconds):
    shape = TrialShape(algorithm, params, rows=100_000, features=10)
    assert pf.fit_seconds(shape) == pytest.approx(seconds)
    assert pf.fit_seconds(TrialShape(algorithm, params, rows=200_000, features=10)) == pytest.approx(2 * seconds)


def test_depth_prices_levels_and_node_doubling_in_one_term():
    assert pf.depth_factor(5, 5) == 1.0
    assert 1.0 < pf.depth_factor(8, 5) < pf.depth_factor(12, 5)
    # deeper than the linear guess (cost.py), a level's worth cheaper than packing's pure doubling
    assert 12 / 5 < pf.depth_factor(12, 5) < 2 ** (12 / 5) / 2 ** (5 / 5) + 1
    assert pf.depth_factor(40, 5) == pf.depth_factor(pf.MAX_DEPTH, 5)


def test_early_stopping_caps_xgboosts_rounds():
    patient = {"n_estimators": 1000, "learning_rate": 0.1, "early_stopping_rounds": 20}
    assert pf.boosting_rounds(patient) == pytest.approx(120)
    impatient = {**patient, "early_stopping_rounds": 0}
    assert pf.work("xgboost_regressor", patient) < pf.work("xgboost_regressor", impatient) / 5
    assert pf.work("xgboost_regressor", {"subsample": 0.5}) < pf.work("xgboost_regressor", {})


def test_more_cores_shorten_a_fit_with_diminishing_returns():
    assert pf.core_factor(pf.REFERENCE_CORES) == 1.0
    assert pf.core_factor(2) > pf.core_factor(4) > pf.core_factor(64) > pf.SERIAL_SHARE


def test_search_order_uses_the_same_formula():
    cheap, dear = ("logistic_regression", {"maxIter": 10}), ("random_forest_classifier", {"numTrees": 100})
    assert pf.relative_cost(*cheap) < pf.relative_cost(*dear)
    shape = TrialShape(dear[0], dear[1], rows=pf.REFERENCE_ROWS, features=pf.REFERENCE_FEATURES)
    assert pm.prior().predict(shape) == pytest.approx(pf.relative_cost(*dear))


# --- records ---------------------------------------------------------------------------------------

def test_an_observation_keeps_shapes_and_cost_params_only_and_round_trips_through_json():
    shape = TrialShape(FOREST, {"numTrees": 30, "maxDepth": 7, "seed_column": "customer_email", "impurity": "variance"},
                       rows=5_000, features=12, cores=4, train_fraction=0.5)
    o = Observation.of_fit(shape, 3.25, rounds=None)
    assert dict(o.params) == {"numTrees": 30, "maxDepth": 7}
    text = pr.dumps([o, Observation(pr.PREPARE, 20.0, rows=10_000, columns=9, cores=8)])
    assert json.loads(text)["version"] == pr.FORMAT_VERSION
    assert pr.loads(text) == [o, Observation(pr.PREPARE, 20.0, rows=10_000, columns=9, cores=8)]


@pytest.mark.parametrize(("item", "field"), [
    ({"stage": "fit", "seconds": 1.0}, "algorithm"),
    ({"stage": "train", "seconds": 1.0}, "stage"),
    ({"stage": "prepare", "seconds": -2}, "seconds"),
    ({"stage": "prepare", "seconds": float("nan")}, "seconds"),
    ({"stage": "prepare", "seconds": 1.0, "rows": 2.5}, "rows"),
    ({"stage": "prepare", "seconds": 1.0, "cores": 0}, "cores"),
    ({"stage": "prepare", "seconds": 1.0, "data": [1, 2]}, "data"),
])
def test_a_bad_record_is_refused_with_the_field_named(item, field):
    with pytest.raises(ValueError, match=rf"observations\[0\]: .*{field}"):
        pr.loads(json.dumps({"version": 1, "observations": [item]}))


def test_a_document_that_is_not_observations_is_refused_in_one_sentence():
    for text in ("not json", "[]", '{"version": 2, "observations": []}'):
        with pytest.raises(ValueError, match="^observations: "):
            pr.loads(text)


# --- the fit ---------------------------------------------------------------------------------------

def test_the_fit_recovers_a_known_scaling_law():
    history, held_out = observed(200, seed=1), observed(100, seed=2)
    fitted = pm.fit(history)
    assert pm.mape(pm.prior(), held_out) > 0.5  # the prior's laws are not this one
    assert pm.mape(fitted, held_out) < 0.15  # 10 % noise: the floor is about 0.08
    assert fitted.fits["forest"].technique == "loglinear"


def test_the_fit_recovers_a_stage_with_a_fixed_overhead():
    rng = random.Random(3)

    def stage(n):
        out = []
        for _ in range(n):
            rows, columns = rng.choice([1_000, 20_000, 300_000, 2_000_000]), rng.choice([5, 20, 80])
            seconds = (40 + 5e-6 * rows * columns) * math.exp(rng.gauss(0, 0.05))
            out.append(Observation(pr.PREPARE, seconds, rows, columns))
        return out

    fitted = pm.fit(stage(60))
    assert pm.mape(fitted, stage(40), stage=pr.PREPARE) < 0.1


@pytest.mark.parametrize("n", [0, 1, 2])
def test_the_prior_dominates_with_up_to_two_observations(n):
    history = observed(n, seed=4, noise=0.0)
    model = pm.fit(history)
    worst = max((abs(math.log(o.seconds / pf.fit_seconds(o.shape()))) for o in history), default=0.0)
    for shape in (forest_shape(random.Random(i)) for i in range(50)):
        moved = abs(math.log(model.predict(shape) / pf.fit_seconds(shape)))
        assert moved <= 0.5 * worst + 1e-9


def test_more_observations_weigh_more():
    shape = TrialShape(FOREST, {"numTrees": 20, "maxDepth": 5}, rows=50_000, features=10, cores=2)
    slow = [Observation.of_fit(shape, 10 * pf.fit_seconds(shape))] * 30
    gaps = [abs(math.log(pm.fit(slow[:n]).predict(shape) / (10 * pf.fit_seconds(shape)))) for n in (1, 3, 10, 30)]
    assert gaps == sorted(gaps, reverse=True) and gaps[-1] < 0.25


def test_a_family_never_seen_leans_on_every_fit():
    shape = TrialShape("gbt_regressor", {"maxIter": 20}, rows=50_000, features=10)
    slow = [Observation.of_fit(s, 4 * pf.fit_seconds(s)) for s in (forest_shape(random.Random(i)) for i in range(20))]
    assert pm.fit(slow).predict(shape) > 2.5 * pf.fit_seconds(shape)


def test_a_correction_is_bounded():
    shape = TrialShape(FOREST, {}, rows=50_000, features=10)
    absurd = [Observation.of_fit(shape, 1e6 * pf.fit_seconds(shape))] * 50
    assert pm.fit(absurd).predict(shape) <= pm.MAX_RATIO * pf.fit_seconds(shape) * (1 + 1e-9)


def test_the_fit_keeps_the_newest_window_per_key():
    old = observed(pm.WINDOW, seed=5)
    new = [Observation.of_fit(o.shape(), 3 * o.seconds) for o in observed(pm.WINDOW, seed=6)]
    model = pm.fit(old + new)
    assert model.fits["forest"].n == pm.WINDOW
    assert pm.mape(model, [Observation.of_fit(o.shape(), 3 * o.seconds) for o in observed(50, seed=7)]) < 0.2


def test_an_estimate_brackets_its_prediction_and_narrows_with_evidence():
    shape = forest_shape(random.Random(8))
    before, after = pm.prior().estimate(shape), pm.fit(observed(200, seed=9)).estimate(shape)
    assert before.low < before.seconds < before.high and after.low < after.seconds < after.high
    assert after.high / after.low < before.high / before.low


def test_startup_is_the_observed_median_shrunk_toward_where_the_job_runs():
    startups = [Observation(pr.STARTUP, s, cores=4) for s in (100.0, 110.0, 105.0, 108.0, 102.0, 107.0)]
    model = pm.fit(startups, startup_seconds=60.0)
    assert 60.0 < model.startup < 106.0 and model.stage_seconds(pr.STARTUP, 0, 0) == model.startup
    assert pm.fit([], startup_seconds=60.0).startup == 60.0


def test_a_model_round_trips_through_json_with_the_same_predictions():
    model = pm.fit(observed(60, seed=10) + [Observation(pr.FINALIZE, 50.0, 10_000, 9)] * 3).scaled(1.5)
    again = pm.PerfModel.from_dict(json.loads(json.dumps(model.to_dict())))
    for shape in (forest_shape(random.Random(i)) for i in range(20)):
        assert again.predict(shape) == pytest.approx(model.predict(shape), rel=1e-5)
    assert again.stage_seconds(pr.FINALIZE, 20_000, 9) == pytest.approx(model.stage_seconds(pr.FINALIZE, 20_000, 9))


def test_a_job_scale_multiplies_fits_within_bounds():
    shape = forest_shape(random.Random(11))
    model = pm.prior()
    assert model.scaled(2.0).predict(shape) == pytest.approx(2 * model.predict(shape))
    assert model.scaled(1e9).predict(shape) == pytest.approx(pm.MAX_RATIO * model.predict(shape))
    with pytest.raises(ValueError):
        model.scaled(0.0)


def test_vectorised_predictions_are_the_single_ones():
    rng = random.Random(13)
    linear = TrialShape("logistic_regression", {"maxIter": 50}, 20_000, 30)
    history = observed(40, seed=14) + [Observation.of_fit(linear, 4.0), Observation(pr.EVALUATE, 3.0, 6_000, 30, 2)] * 3
    model = pm.fit(history).scaled(1.2)
    shapes = [forest_shape(rng) for _ in range(10)] + [TrialShape("logistic_regression", {"maxIter": 20}, 9_000, 12, 3),
                                                      TrialShape("kmeans", {"k": 4}, 1_000, 3)]
    assert list(model.predict_many(shapes)) == pytest.approx([model.predict(s) for s in shapes])
    assert list(model.trial_seconds_many(shapes)) == pytest.approx([model.trial_seconds(s) for s in shapes])


def test_mape_is_zero_for_a_perfect_model_and_refuses_nothing_to_score():
    shapes = [forest_shape(random.Random(i)) for i in range(5)]
    perfect = [Observation.of_fit(s, pm.prior().predict(s)) for s in shapes]
    assert pm.mape(pm.prior(), perfect) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="no held-out"):
        pm.mape(pm.prior(), perfect, stage=pr.FINALIZE)


def test_a_trial_in_its_batch_is_its_fit_and_its_evaluation():
    shape = forest_shape(random.Random(12))
    model = pm.prior()
    evaluation = model.stage_seconds(pr.EVALUATE, shape.rows * pm.VALIDATION_SHARE, shape.features, shape.cores)
    assert model.trial_seconds(shape) == pytest.approx(model.predict(shape) + evaluation)
