"""XGBoost's native categoricals (issue #24 item 4): string columns reach XGBoost as categories
(feature_types "c"), split by set membership, so the model does not depend on how the values are
numbered nor on the rows' order; the columns declared in data.ordinal_columns keep a numeric split on
their lexical order. The ONNX export carries the categorical splits with parity, in either fit mode and
in an ensemble's graph, and a value not seen in training scores as a missing one."""
from __future__ import annotations

import numpy as np
import onnx
import pandas as pd
import pytest
from pyspark.ml.functions import vector_to_array

from zygarde.domain import algorithms, fit_mode
from zygarde.spark import trial_parallel
from zygarde.spark.dataset import with_label
from zygarde.spark.features import fit_preprocessing, plan_features, profile
from zygarde.spark.fitting import Candidate
from zygarde.spark.online import PREDICTION_TOLERANCE, PROBABILITY_TOLERANCE, export_and_check

MAKES = ["Audi", "BMW", "Citroen", "Dacia", "Fiat", "Ford", "Honda", "Kia", "Mazda", "Nissan", "Peugeot",
         "Renault", "Seat", "Skoda", "Toyota", "Vauxhall", "Volkswagen", "Volvo"]
FUELS = ["petrol", "diesel", "hybrid", "electric", "lpg"]
TRIMS = ["1-base", "2-comfort", "3-sport", "4-premium"]  # graded: lexical order is their order
AREAS = ["B", "BS", "CF", "G", "L", "LS", "M", "NE", "NG", "S"]
DISTRICTS = [f"{area}{n}" for area in AREAS for n in range(1, 31)]  # 300 postcode districts: "LS9" > "LS10"
SMALL = {"n_estimators": 40, "max_depth": 4, "learning_rate": 0.3, "early_stopping_rounds": 0}


def listings(rows: int, seed: int) -> pd.DataFrame:
    """Used-car listings as a dealer network exports them: make, fuel, trim, the seller's postcode
    district (300 levels, a long tail, 4 % blank), dealer branch ("branch-9" sorts after "branch-10"),
    mileage (some missing) and age; the price, whether it sold within 30 days, and its demand band."""
    rng = np.random.default_rng(seed)
    tail = 1.0 / np.arange(1, len(DISTRICTS) + 1) ** 0.7
    district = rng.choice(DISTRICTS, rows, p=tail / tail.sum())
    make, fuel = rng.choice(MAKES, rows), rng.choice(FUELS, rows, p=[0.45, 0.3, 0.15, 0.07, 0.03])
    trim, branch = rng.choice(TRIMS, rows), rng.choice([f"branch-{i}" for i in range(1, 25)], rows)
    age = rng.integers(0, 15, rows).astype(float)
    mileage = np.round(age * rng.uniform(5_000, 15_000, rows) + rng.uniform(0, 5_000, rows), -2)
    effect = np.random.default_rng(99)  # the same levels' effects in every sample
    district_premium = dict(zip(DISTRICTS, effect.normal(0, 1_500, len(DISTRICTS))))
    make_premium = dict(zip(MAKES, effect.normal(0, 3_000, len(MAKES))))
    fuel_premium = {"petrol": 0, "diesel": -800, "hybrid": 2_500, "electric": 4_000, "lpg": -2_000}
    new_price = (22_000 + np.array([make_premium[m] for m in make]) + np.array([fuel_premium[f] for f in fuel])
                 + np.array([district_premium[d] for d in district]) + 1_200 * np.array([TRIMS.index(t) for t in trim]))
    price = np.maximum(new_price * 0.93 ** age - 0.01 * mileage + rng.normal(0, 700, rows), 500)
    days = np.exp(3.0 + np.array([district_premium[d] for d in district]) / 2_000
                  - np.array([fuel_premium[f] for f in fuel]) / 4_000 + rng.normal(0, 0.35, rows))
    frame = pd.DataFrame({"make": make, "fuel": fuel, "trim": trim, "postcode_district": district,
                          "branch": branch, "mileage": mileage, "age_years": age, "price": np.round(price, -1),
                          "sold_in_30_days": np.where(days < 25, "yes", "no"),
                          "demand_band": np.select([days < 15, days < 35], ["fast", "steady"], "slow")})
    frame.loc[rng.random(rows) < 0.04, "postcode_district"] = None
    frame.loc[rng.random(rows) < 0.03, "mileage"] = np.nan
    return frame


TASKS = {"regression": ("price", "xgboost_regressor"),
         "binary_classification": ("sold_in_30_days", "xgboost_classifier"),
         "multiclass_classification": ("demand_band", "xgboost_classifier")}
DROP = {"price", "sold_in_30_days", "demand_band"}


@pytest.fixture(scope="module")
def frames(spark):
    """(train, validation, scoring) pandas frames; the scoring rows add districts never seen in
    training (new postcodes) and blank ones."""
    train, validation = listings(2_400, seed=1), listings(600, seed=2)
    scoring = listings(400, seed=3)
    new = np.random.default_rng(4).random(len(scoring)) < 0.1
    scoring.loc[new, "postcode_district"] = [f"ZE{n}" for n in range(int(new.sum()))]  # Shetland: not in train
    return train, validation, scoring


def _fit(spark, task: str, train: pd.DataFrame, validation: pd.DataFrame, mode: str, ordinal=(), params=None):
    target, name = TASKS[task]
    keep = [c for c in train.columns if c not in DROP or c == target]
    raw = spark.createDataFrame(train[keep])
    labelled, labels = with_label(raw, target, task)
    valid, _ = with_label(spark.createDataFrame(validation[keep]), target, task)
    if labels:  # the validation rows labelled as the training rows are
        from zygarde.spark.predict import label_as_model
        valid = label_as_model(spark.createDataFrame(validation[keep]), target, task, labels)
    metric = {"regression": "rmse", "binary_classification": "areaUnderROC"}.get(task, "logLoss")
    candidate = Candidate(task=task, metric=metric, target=target, algorithm=name, params=dict(params or SMALL),
                          seed=5, ordinal_columns=tuple(ordinal))
    model, _ = trial_parallel.fit_pipeline(candidate, algorithms.get(name), raw, labelled, labels, [],
                                           validation=valid, requested=mode)
    return model, labels


def _predict(spark, model, frame: pd.DataFrame) -> np.ndarray:
    schema = ("make string, fuel string, trim string, postcode_district string, branch string, mileage double, "
              "age_years double")
    scored = model.transform(spark.createDataFrame(frame.drop(columns=list(DROP)), schema))
    if "probability" in scored.columns:
        return np.array([r[0] for r in scored.select(vector_to_array("probability")).collect()])
    return np.array([r[0] for r in scored.select("prediction").collect()])


def _xgboost_types(model) -> list[str] | None:
    [xgb] = [s for s in model.stages if hasattr(s, "get_booster")]
    return xgb.getOrDefault("feature_types")


def test_xgboost_reads_string_columns_as_categories_except_the_declared_ordinal_ones(spark, frames):
    frame = spark.createDataFrame(frames[0].drop(columns=list(DROP)))
    plan = plan_features(frame, set(), ordinal=["trim"])
    stats = profile(frame, plan)
    xgb = fit_preprocessing(frame, plan, stats, algorithms.get("xgboost_regressor"))
    kinds = dict(plan.columns)
    assert xgb.feature_types == tuple("q" if kinds[n] == "numeric" or n == "trim" else "c" for n, _ in plan.columns)
    assert fit_preprocessing(frame, plan, stats, algorithms.get("linear_regression")).feature_types is None
    numbers = spark.createDataFrame(frames[0][["mileage", "age_years"]])
    numeric_plan = plan_features(numbers, set())
    assert fit_preprocessing(numbers, numeric_plan, profile(numbers, numeric_plan),
                             algorithms.get("xgboost_regressor")).feature_types is None  # as before


def test_the_model_does_not_depend_on_the_values_names_nor_the_rows_order(spark, frames):
    """Renaming the levels scrambles their lexical order (their numbers), and shuffling the rows
    changes which level comes first: the partition splits need no order, so the predictions agree."""
    train, validation, scoring = frames
    task = "regression"
    model, _ = _fit(spark, task, train, validation, fit_mode.TRIAL_PARALLEL)
    rename = {d: f"d{(i * 7919) % len(DISTRICTS):03d}" for i, d in enumerate(DISTRICTS)}  # a scrambled order
    makes = dict(zip(MAKES, reversed(MAKES)))

    def renamed(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        frame["postcode_district"] = frame["postcode_district"].map(lambda d: rename.get(d, d))
        frame["make"] = frame["make"].map(makes)
        return frame

    shuffled = renamed(train).sample(frac=1.0, random_state=7).reset_index(drop=True)
    other, _ = _fit(spark, task, shuffled, renamed(validation), fit_mode.TRIAL_PARALLEL)
    expected = _predict(spark, model, scoring)
    assert np.abs(_predict(spark, other, renamed(scoring)) - expected).max() <= 1e-3 * np.abs(expected).max()


@pytest.mark.parametrize("task", list(TASKS))
@pytest.mark.parametrize("mode", [fit_mode.TRIAL_PARALLEL, fit_mode.DATA_PARALLEL])
def test_categorical_splits_export_to_onnx_with_parity_in_either_fit_mode(spark, frames, tmp_path, task, mode):
    train, validation, scoring = frames
    model, labels = _fit(spark, task, train, validation, mode)
    assert _xgboost_types(model) is not None and "c" in _xgboost_types(model)
    scored = model.transform(spark.createDataFrame(scoring.drop(columns=list(DROP)))).cache()
    online = export_and_check(spark, model, scored, labels is not None, str(tmp_path / "package"))
    assert online["status"] == "available", online.get("reason")
    assert online["parity"]["rows"] == len(scoring)
    if labels:  # the finalisation's own tolerances (XGBoost sums its trees in float32)
        assert online["parity"]["labels_disagree"] == 0
        assert online["parity"]["max_abs_probability_diff"] <= PROBABILITY_TOLERANCE
    else:
        assert online["parity"]["max_rel_prediction_diff"] <= PREDICTION_TOLERANCE
    graph = onnx.load(str(tmp_path / "package" / "model.onnx")).graph
    [trees] = [n for n in graph.node if n.op_type == "TreeEnsemble"]
    modes = onnx.numpy_helper.to_array(next(a.t for a in trees.attribute if a.name == "nodes_modes"))
    assert (modes == 6).any()  # set-membership splits (BRANCH_MEMBER): the categorical ones


def test_both_fit_modes_register_the_same_categorical_model(spark, frames):
    train, validation, scoring = frames
    one, _ = _fit(spark, "binary_classification", train, validation, fit_mode.TRIAL_PARALLEL)
    two, _ = _fit(spark, "binary_classification", train, validation, fit_mode.DATA_PARALLEL)
    assert _xgboost_types(one) == _xgboost_types(two)
    assert np.abs(_predict(spark, one, scoring) - _predict(spark, two, scoring)).max() <= 1e-4


def test_a_district_not_seen_in_training_scores_as_a_blank_one(spark, frames):
    train, validation, scoring = frames
    model, _ = _fit(spark, "regression", train, validation, fit_mode.TRIAL_PARALLEL)
    rows = scoring.iloc[:20].copy()
    blank, unseen = rows.assign(postcode_district=None), rows.assign(postcode_district="ZE2 (new)")
    assert np.array_equal(_predict(spark, model, blank), _predict(spark, model, unseen))
    seen = rows.assign(postcode_district=train["postcode_district"].dropna().iloc[0])
    assert not np.array_equal(_predict(spark, model, blank), _predict(spark, model, seen))


def test_a_declared_ordinal_column_is_split_as_a_number(spark, frames):
    train, validation, _ = frames
    model, _ = _fit(spark, "regression", train, validation, fit_mode.TRIAL_PARALLEL, ordinal=["trim"])
    plan = plan_features(spark.createDataFrame(train.drop(columns=list(DROP))), set())
    types = dict(zip([n for n, _ in plan.columns], _xgboost_types(model)))
    assert types["trim"] == "q" and types["make"] == "c" and types["postcode_district"] == "c"


@pytest.mark.parametrize("task", list(TASKS))
def test_an_ensemble_of_categorical_models_exports_with_parity(spark, frames, tmp_path, task):
    """Issue #24's ensemble export (onnx_ensemble) with categorical splits in its members."""
    from zygarde.spark.ensemble_model import Member, transform

    train, validation, scoring = frames
    deep, labels = _fit(spark, task, train, validation, fit_mode.TRIAL_PARALLEL,
                        params={**SMALL, "max_depth": 6, "learning_rate": 0.1})
    shallow, _ = _fit(spark, task, train, validation, fit_mode.TRIAL_PARALLEL, params={**SMALL, "max_depth": 2})
    members = [Member(deep, 0.7), Member(shallow, 0.3)]
    rows = spark.createDataFrame(scoring.drop(columns=list(DROP)))
    scored = transform(members, rows, labels).cache()
    online = export_and_check(spark, deep, scored, labels is not None, str(tmp_path / "package"), members=members)
    assert online["status"] == "available", online.get("reason")
    if labels:
        assert online["parity"]["labels_disagree"] == 0
        assert online["parity"]["max_abs_probability_diff"] <= PROBABILITY_TOLERANCE
    else:
        assert online["parity"]["max_rel_prediction_diff"] <= PREDICTION_TOLERANCE
    graph = onnx.load(str(tmp_path / "package" / "model.onnx")).graph
    modes = [onnx.numpy_helper.to_array(a.t) for n in graph.node if n.op_type == "TreeEnsemble"
             for a in n.attribute if a.name == "nodes_modes"]
    assert len(modes) == 2 and all((m == 6).any() for m in modes)
