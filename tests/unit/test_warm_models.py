"""The best model a warm batch keeps for its job's finalisation (zygarde/spark/warm_models.py)."""
from __future__ import annotations

import pytest

from zygarde.spark import warm_models


@pytest.fixture(autouse=True)
def _empty():
    warm_models.forget()
    yield
    warm_models.forget()


def key(depth: int) -> str:
    return warm_models.fit_key("gbt_regressor", {"maxDepth": depth}, 42, "gs://b/train", "gs://b/validation")


def test_the_best_fit_by_the_metric_direction_is_kept():
    warm_models.offer("j", "regression", "rmse", 3.0, key(3), "m3")
    warm_models.offer("j", "regression", "rmse", 2.0, key(5), "m5")  # lower rmse: better
    warm_models.offer("j", "regression", "rmse", 2.5, key(7), "m7")
    assert warm_models.take("j", key(5)) == "m5"
    warm_models.offer("k", "binary_classification", "areaUnderROC", 0.7, key(3), "a")
    warm_models.offer("k", "binary_classification", "areaUnderROC", 0.9, key(5), "b")  # higher AUC: better
    assert warm_models.take("k", key(5)) == "b"


def test_another_fit_is_not_taken_and_the_entry_is_dropped():
    warm_models.offer("j", "regression", "rmse", 2.0, key(5), "m5")
    assert warm_models.take("j", key(3)) is None  # the winner was fitted elsewhere: refit it
    assert warm_models.take("j", key(5)) is None  # dropped at the job's finalisation
    assert warm_models.take("other", key(5)) is None


def test_params_seed_and_data_are_part_of_the_fit():
    assert key(5) == warm_models.fit_key("gbt_regressor", {"maxDepth": 5}, 42, "gs://b/train", "gs://b/validation")
    assert key(5) != warm_models.fit_key("gbt_regressor", {"maxDepth": 5}, 7, "gs://b/train", "gs://b/validation")
    assert key(5) != warm_models.fit_key("gbt_regressor", {"maxDepth": 5}, 42, "gs://c/train", "gs://b/validation")


def test_missing_or_nan_scores_are_never_kept():
    warm_models.offer("j", "regression", "rmse", None, key(3), "none")
    warm_models.offer("j", "regression", "rmse", float("nan"), key(5), "nan")
    assert warm_models.take("j", key(3)) is None
    warm_models.offer("j", "regression", "rmse", float("nan"), key(5), "nan")
    assert warm_models.take("j", key(5)) is None
