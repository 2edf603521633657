"""Builds the Spark ML estimator of a trial from the algorithm catalog and the trial's params."""
from __future__ import annotations

import importlib
import logging
from typing import Any

from pyspark.ml import Estimator

from zygarde.domain.algorithms import Algorithm
from zygarde.domain.errors import DatasetError, SpecError

log = logging.getLogger(__name__)


def resolve_params(algorithm: Algorithm, params: dict[str, Any]) -> dict[str, Any]:
    """Catalog defaults overlaid with the trial's params, validated and coerced."""
    merged = {**algorithm.defaults, **(params or {})}
    problems = algorithm.problems(merged)
    if problems:
        raise SpecError([(f"params.{key}", reason) for key, reason in problems])
    return {key: algorithm.params[key].coerce(value) for key, value in merged.items()}


def build_estimator(algorithm: Algorithm, params: dict[str, Any], seed: int, *, features_col: str,
                    label_col: str | None, n_features: int, n_classes: int | None,
                    max_categories: int = 0, extra: dict[str, Any] | None = None) -> Estimator:
    """The unfitted estimator. Derived settings: MLP layers from hiddenLayers, maxBins raised to
    fit every categorical feature, the trial seed wherever the learner takes one, and `extra`
    (e.g. XGBoost's workers and early stopping; a None value leaves that parameter unset)."""
    module, _, name = algorithm.spark_class.rpartition(".")
    estimator = getattr(importlib.import_module(module), name)()
    values = resolve_params(algorithm, params)
    if "hiddenLayers" in values:
        values["layers"] = [n_features, *values.pop("hiddenLayers"), n_classes or 2]
    if estimator.hasParam("maxBins") and max_categories:
        wanted = values.get("maxBins", estimator.getOrDefault("maxBins"))
        if wanted < max_categories:
            log.info("raising maxBins from %s to %s to fit the categorical features", wanted, max_categories)
            values["maxBins"] = max_categories
    if "featureIndex" in values and values["featureIndex"] >= n_features:
        raise DatasetError(f"featureIndex {values['featureIndex']} is out of range: the model has "
                           f"{n_features} features (0 to {n_features - 1})")
    if estimator.hasParam("seed"):
        values["seed"] = int(seed)
    values["featuresCol"] = features_col
    if label_col and estimator.hasParam("labelCol"):
        values["labelCol"] = label_col
    values.update(extra or {})
    for key, value in values.items():
        if value is not None:
            estimator.set(estimator.getParam(key), value)
    return estimator
