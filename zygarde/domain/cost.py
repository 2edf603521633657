"""A trial's relative cost, guessed before it runs from its learner and parameters, so that a
random search runs cheap configurations first and expensive ones later (FLAML's cost-frugal
idea): under a deadline or a core-hour budget, the cheap trials are the ones that surely finish.

The unit is one pass over the training data; only the order matters. Histogram trees cost about
one pass per level (XGBoost's hist, Spark's trees), iterative linear models one per iteration.
"""
from __future__ import annotations

from typing import Any

from zygarde.domain import algorithms

_SPARK_DEPTH, _XGB_DEPTH = 5, 6  # the libraries' default depths
_LINEAR_ITERATIONS = 100  # Spark's maxIter default


def relative_cost(algorithm: str, params: dict[str, Any]) -> float:
    """Expected passes over the data of one trial (a guess; larger is costlier)."""
    algo = algorithms.get(algorithm)
    p = {**(algo.defaults if algo else {}), **params}
    if algorithm.startswith("xgboost_"):
        rate = float(p.get("learning_rate", 0.3))
        rounds = float(p.get("n_estimators", 100))
        if int(p.get("early_stopping_rounds", 0)) > 0:  # a faster rate stops sooner
            rounds = min(rounds, 10.0 / rate + int(p["early_stopping_rounds"]))
        sampled = float(p.get("subsample", 1.0)) * float(p.get("colsample_bytree", 1.0))
        return rounds * int(p.get("max_depth", _XGB_DEPTH)) * max(sampled, 0.1)
    if "numTrees" in (algo.params if algo else {}):
        return float(p.get("numTrees", 20)) * int(p.get("maxDepth", _SPARK_DEPTH)) / 2  # trees grow together
    if "maxDepth" in (algo.params if algo else {}):
        iterations = int(p.get("maxIter", 20)) if "maxIter" in algo.params else 1  # gbt, or one tree
        return float(iterations * int(p.get("maxDepth", _SPARK_DEPTH)))
    return float(p.get("maxIter", _LINEAR_ITERATIONS)) * 0.2  # cheap passes (one gradient each)
