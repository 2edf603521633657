"""The default search (issue #11): a job naming only dataset, target and task gets XGBoost over its
key parameters (log scales where they belong) with a linear baseline, run cheapest first; bad
XGBoost parameters are rejected at submission with a reason; xgboost trials get fixed executors."""
from __future__ import annotations

import pytest

from zygarde.config import Settings
from zygarde.domain import perf_prior, search
from zygarde.domain.errors import SpecError
from zygarde.domain.model import StageKind, Trial
from zygarde.domain.spec import parse_job_spec
from zygarde.service_layer import batch_properties
from zygarde.service_layer.stages import STAGES

NOW = "2026-01-01T00:00:00+00:00"
BOOSTED = {"binary_classification": "xgboost_classifier", "multiclass_classification": "xgboost_classifier",
           "regression": "xgboost_regressor"}
BASELINE = {"binary_classification": "logistic_regression", "multiclass_classification": "logistic_regression",
            "regression": "linear_regression"}


def job(task: str = "regression", **over) -> dict:
    return {"owner": "ana@example.com", "dataset": {"uri": "gs://bkt/datasets/d.csv", "format": "csv",
                                                    "target": "y"}, "task": task, **over}


@pytest.mark.parametrize("task", sorted(BOOSTED))
def test_minimal_job_gets_boosted_trees_first_with_a_linear_baseline(task):
    spec = parse_job_spec(job(task))
    assert [c.algorithm for c in spec.candidates] == [BOOSTED[task], BASELINE[task]]
    xgb = spec.candidates[0].params
    for key in ("n_estimators", "learning_rate", "min_child_weight", "reg_lambda", "reg_alpha"):
        assert xgb[key].log, key
    assert not xgb["max_depth"].log and not xgb["subsample"].log
    trials = search.initial_trials(spec, "job-1", NOW)
    assert len(trials) == 27  # successive halving: all on 1/9 of the rows, the best third on to the next rung
    assert spec.search.pruning.strategy == "successive_halving" and spec.search.pruning.reduction_factor == 3
    assert {t.train_fraction for t in trials} == {round(1 / 9, 9)} and {t.rung for t in trials} == {0}
    boosted = [t for t in trials if t.algorithm == BOOSTED[task]]
    assert len(boosted) >= 8  # the baseline has three points; the rest is boosting
    costs = [perf_prior.relative_cost(t.algorithm, t.params) for t in trials]
    assert costs == sorted(costs)  # cheapest first
    first, last = boosted[0].params, boosted[-1].params
    assert first["n_estimators"] * first["max_depth"] < last["n_estimators"] * last["max_depth"]
    assert all(50 <= t.params["n_estimators"] <= 1000 and 2 <= t.params["max_depth"] <= 10 for t in boosted)


def test_grid_default_is_lists_of_a_few_points():
    spec = parse_job_spec(job("binary_classification", search={"strategy": "grid"}))
    trials = search.initial_trials(spec, "job-1", NOW)
    assert sorted({t.algorithm for t in trials}) == ["logistic_regression", "xgboost_classifier"]
    assert len([t for t in trials if t.algorithm == "xgboost_classifier"]) == 4


def test_cost_orders_cheap_configurations_first():
    assert perf_prior.relative_cost("xgboost_regressor", {"n_estimators": 50, "max_depth": 2}) < \
        perf_prior.relative_cost("xgboost_regressor", {"n_estimators": 500, "max_depth": 8})
    assert perf_prior.relative_cost("linear_regression", {}) < perf_prior.relative_cost("xgboost_regressor", {})
    # with early stopping a fast learning rate is expected to stop sooner
    assert perf_prior.relative_cost("xgboost_regressor", {"n_estimators": 1000, "learning_rate": 0.3}) < \
        perf_prior.relative_cost("xgboost_regressor", {"n_estimators": 1000, "learning_rate": 0.01})


@pytest.mark.parametrize("params, where, reason", [
    ({"learning_rate": [0.0]}, "learning_rate[0]", "must be >= 1e-06"),
    ({"max_depth": [2.5]}, "max_depth[0]", "expected an integer"),
    ({"subsample": [1.5]}, "subsample[0]", "must be <= 1.0"),
    ({"n_estimators": {"type": "float", "low": 10, "high": 100}}, "n_estimators.type", "is an int"),
    ({"grow_policy": ["leafwise"]}, "grow_policy[0]", "expected one of depthwise, lossguide"),
    ({"eta": [0.1]}, "eta[0]", "xgboost_regressor has no hyperparameter 'eta'"),
    ({"objective": ["binary:logistic"]}, "objective[0]", "expected one of reg:squarederror"),
])
def test_submission_rejects_bad_xgboost_params_with_a_reason(params, where, reason):
    with pytest.raises(SpecError) as info:
        parse_job_spec(job(candidates=[{"algorithm": "xgboost_regressor", "params": params}],
                           search={"strategy": "random", "max_trials": 3}))
    problems = dict(info.value.problems)
    assert reason in problems[f"candidates[0].params.{where}"], problems


def test_xgboost_cannot_do_clustering():
    with pytest.raises(SpecError) as info:
        parse_job_spec(job("clustering", candidates=[{"algorithm": "xgboost_classifier"}]))
    assert "cannot do clustering" in dict(info.value.problems)["candidates[0].algorithm"]


def test_xgboost_trials_get_fixed_executors_and_others_none():
    spec = parse_job_spec(job())
    settings = Settings(project="p", region="r", bucket="b")
    xgb = Trial(job_id="job-1", trial_id="t0001", index=1, algorithm="xgboost_regressor", params={},
                batch_id="zyg-job-1-t0001-a1", attempt=1, pack_id="pack-1")
    train = STAGES[StageKind.TRAIN]
    properties = train.batch_request([xgb], spec, "ana", settings).properties
    assert properties["spark.dynamicAllocation.enabled"] == "false"
    assert int(properties["spark.executor.instances"]) >= 2
    linear = Trial(job_id="job-1", trial_id="t0002", index=2, algorithm="linear_regression", params={},
                   batch_id="zyg-job-1-t0002-a1", attempt=1, pack_id="pack-2")
    assert train.batch_request([linear], spec, "ana", settings).properties == {}
    assert batch_properties.for_algorithm("kmeans") == {} and batch_properties.for_algorithm(None) == {}
