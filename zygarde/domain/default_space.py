"""Default search spaces: what a job that names only its dataset, target and task will try.

Boosted trees first: XGBoost (early stopping on the validation part) over its key parameters,
log-uniform where they act multiplicatively (rounds, learning rate, child weight, regularisation),
and a regularised linear model as the cheap baseline, the one place an MLlib learner can win
(small or linear data). The linear model has three points, so a default job's other trials are
XGBoost's. With no candidates and no search the job runs a seeded random search of
DEFAULT_MAX_TRIALS trials, run cheapest first (perf_prior.relative_cost: few shallow trees before many deep
ones), with successive halving over the train rows (domain/pruning.py): all 27 fit on 1/9 of the
train part, the best 9 go on with 1/3 of it and the best 3 of those with all of it, the others end
PRUNED. That costs about as much as 9 trials on all the rows (27/9 + 9/3 + 3), less than the
12 full trials the default used to run, while it looks at more than twice as many points.
A job that also gives a deadline (budget.deadline_minutes) searches until then, as FLAML does with its
time budget: brackets of 27 trials, each halved on its own (1/3 of the rows, then all of them for the
best 9), up to DEADLINE_MAX_TRIALS; the first 27 are the starting portfolio's 10 configurations
(portfolio.py, measured across datasets by bench/build_portfolio.py), then the same seeded random
points, cheapest first, and later ones come from Optuna's TPE, which, as BOHB does, learns from the highest rung with enough
trials scored on it (tpe_study.model_rung: 9 for this space, so all the rows once the first bracket is
done), never from a mix of fractions.
A job that gives a grid search but no candidates gets the same learners with lists of values
(ranges replaced by a few points), since grid search takes no distributions.

Pure data in the spec's own format (plain dicts), filled into the spec before validation so the
stored spec says exactly what ran.
"""
from __future__ import annotations

import copy
from typing import Any

from zygarde.domain.algorithms import BINARY, CLUSTERING, MULTICLASS, REGRESSION

DEFAULT_MAX_TRIALS = 27
DEFAULT_MIN_FRACTION = 1 / 9
DEFAULT_REDUCTION_FACTOR = 3
DEFAULT_PRUNING: dict[str, Any] = {"strategy": "successive_halving", "min_fraction": DEFAULT_MIN_FRACTION,
                                   "reduction_factor": DEFAULT_REDUCTION_FACTOR}
DEFAULT_SEARCH: dict[str, Any] = {"strategy": "random", "max_trials": DEFAULT_MAX_TRIALS, "pruning": DEFAULT_PRUNING}
DEADLINE_MAX_TRIALS = 10 * DEFAULT_MAX_TRIALS  # a cap: the deadline normally ends the search first
# Rungs of 1/3 and all the rows: a third of the rows ranks trials closer to how they rank on all of them
# (on 1/9 of diamonds' rows, heavily regularised trials led and TPE followed them), and a bracket of 27
# gives TPE 9 trials fitted on all the rows to learn from.
DEADLINE_MIN_FRACTION = 1 / 3
DEADLINE_SEARCH: dict[str, Any] = {
    "strategy": "bayesian", "max_trials": DEADLINE_MAX_TRIALS, "n_startup_trials": DEFAULT_MAX_TRIALS,
    "pruning": {**DEFAULT_PRUNING, "min_fraction": DEADLINE_MIN_FRACTION, "bracket_trials": DEFAULT_MAX_TRIALS}}


def _log(type_: str, low: float, high: float) -> dict[str, Any]:
    return {"type": type_, "low": low, "high": high, "log": True}


# XGBoost: n_estimators is a ceiling (early stopping ends sooner); depth 2-10 spans stumps-ish to deep.
_XGB = {"n_estimators": _log("int", 50, 1000), "max_depth": {"type": "int", "low": 2, "high": 10},
        "learning_rate": _log("float", 0.01, 0.3), "min_child_weight": _log("float", 0.5, 20.0),
        "subsample": {"type": "float", "low": 0.6, "high": 1.0},
        "colsample_bytree": {"type": "float", "low": 0.5, "high": 1.0},
        "reg_lambda": _log("float", 1e-3, 10.0), "reg_alpha": _log("float", 1e-3, 10.0)}
_XGB_GRID = {"n_estimators": [300], "max_depth": [4, 6], "learning_rate": [0.05, 0.2], "min_child_weight": [1.0],
             "subsample": [0.8], "colsample_bytree": [0.8], "reg_lambda": [1.0], "reg_alpha": [0.0]}
_LINEAR = {"regParam": [1e-4, 1e-2, 1.0]}

# task -> [(algorithm, params for random/bayesian search, grid replacements for its ranges)]
_SPACES: dict[str, list[tuple[str, dict[str, Any], dict[str, Any]]]] = {
    BINARY: [("xgboost_classifier", _XGB, _XGB_GRID), ("logistic_regression", _LINEAR, {})],
    MULTICLASS: [("xgboost_classifier", _XGB, _XGB_GRID), ("logistic_regression", _LINEAR, {})],
    REGRESSION: [("xgboost_regressor", _XGB, _XGB_GRID), ("linear_regression", _LINEAR, {})],
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


def _has_deadline(doc: dict) -> bool:
    budget = doc.get("budget")
    return isinstance(budget, dict) and budget.get("deadline_minutes") is not None


def fill_defaults(doc: Any) -> Any:
    """A raw job document with the default candidates (and, when it has no search either, the
    default search: random and pruned, or searching until the deadline when it has one) filled in. Anything else (not a dict, candidates given, unknown task)
    is returned unchanged for validation to judge."""
    if not isinstance(doc, dict) or doc.get("candidates") is not None or not isinstance(doc.get("task"), str) \
            or doc["task"] not in _SPACES:
        return doc
    filled = dict(doc)
    if filled.get("search") is None:
        filled["search"] = copy.deepcopy(DEADLINE_SEARCH if _has_deadline(doc) else DEFAULT_SEARCH)
    search = filled["search"]
    strategy = search.get("strategy", "grid") if isinstance(search, dict) else getattr(search, "strategy", "grid")
    strategy = strategy if isinstance(strategy, str) else "grid"  # a wrong type is validation's to report
    filled["candidates"] = default_candidates(filled["task"], strategy)
    return filled
