"""Default search spaces: what a job that names only its dataset, target and task will try.

Small on purpose: three learners per supervised task (a regularised linear model and two tree
ensembles), k-means for clustering. With no candidates and no search the job runs a seeded random
search of DEFAULT_MAX_TRIALS trials, so a default job costs about as much as a 12-point grid.
A job that gives a grid search but no candidates gets the same space as lists of values
(ranges replaced by a few points), since grid search takes no distributions.

Pure data in the spec's own format (plain dicts), filled into the spec before validation so the
stored spec says exactly what ran.
"""
from __future__ import annotations

import copy
from typing import Any

from zygarde.domain.algorithms import BINARY, CLUSTERING, MULTICLASS, REGRESSION

DEFAULT_MAX_TRIALS = 12
DEFAULT_SEARCH: dict[str, Any] = {"strategy": "random", "max_trials": DEFAULT_MAX_TRIALS}

_REG_PARAM = {"type": "float", "low": 1e-4, "high": 1.0, "log": True}
_REG_PARAM_GRID = [1e-4, 1e-2, 1.0]
_FOREST = {"numTrees": [50, 100], "maxDepth": [5, 10]}

# task -> [(algorithm, params for random/bayesian search, grid replacements for its ranges)]
_SPACES: dict[str, list[tuple[str, dict[str, Any], dict[str, Any]]]] = {
    BINARY: [
        ("logistic_regression", {"regParam": _REG_PARAM, "elasticNetParam": [0.0, 0.5]},
         {"regParam": _REG_PARAM_GRID}),
        ("random_forest_classifier", _FOREST, {}),
        ("gbt_classifier", {"maxDepth": [3, 5]}, {}),
    ],
    MULTICLASS: [
        ("logistic_regression", {"regParam": _REG_PARAM, "elasticNetParam": [0.0, 0.5]},
         {"regParam": _REG_PARAM_GRID}),
        ("random_forest_classifier", _FOREST, {}),
        ("decision_tree_classifier", {"maxDepth": [5, 10]}, {}),  # gbt_classifier is binary only
    ],
    REGRESSION: [
        ("linear_regression", {"regParam": _REG_PARAM, "elasticNetParam": [0.0, 0.5]},
         {"regParam": _REG_PARAM_GRID}),
        ("random_forest_regressor", _FOREST, {}),
        ("gbt_regressor", {"maxDepth": [3, 5]}, {}),
    ],
    CLUSTERING: [
        ("kmeans", {"k": {"type": "int", "low": 2, "high": 8}}, {"k": list(range(2, 9))}),
    ],
}
TASKS = tuple(_SPACES)


def default_candidates(task: str, strategy: str = "random") -> list[dict[str, Any]]:
    """The default candidates of `task` as spec dicts; `strategy` "grid" gives lists only.
    Raises KeyError for an unknown task."""
    return [{"algorithm": algorithm, "params": copy.deepcopy({**params, **(grid if strategy == "grid" else {})})}
            for algorithm, params, grid in _SPACES[task]]


def fill_defaults(doc: Any) -> Any:
    """A raw job document with the default candidates (and, when it has no search either, the
    default random search) filled in. Anything else (not a dict, candidates given, unknown task)
    is returned unchanged for validation to judge."""
    if not isinstance(doc, dict) or doc.get("candidates") is not None or not isinstance(doc.get("task"), str) \
            or doc["task"] not in _SPACES:
        return doc
    filled = dict(doc)
    if filled.get("search") is None:
        filled["search"] = dict(DEFAULT_SEARCH)
    search = filled["search"]
    strategy = search.get("strategy", "grid") if isinstance(search, dict) else getattr(search, "strategy", "grid")
    strategy = strategy if isinstance(strategy, str) else "grid"  # a wrong type is validation's to report
    filled["candidates"] = default_candidates(filled["task"], strategy)
    return filled
