"""The one cost formula: a trial's fit seconds and a stage's seconds before anything is observed.

It unified the two guesses Zygarde had (cost.relative_cost, which ordered the search, and packing's
_param_factor, which sized packs); both are gone, and search, packing and the planner use this:

    fit seconds = FAMILY_SECONDS[family] x (fit rows x features / REFERENCE_CELLS)
                  x work(algorithm, params) x core_factor(cores)

- FAMILY_SECONDS, the families and the linear scaling in cells are packing's (cost.py had no data
  shape and units of "passes", which put XGBoost's default at 30x a linear model's where packing's
  measured figures say 2x);
- work() is 1 at the family's default parameters and linear in trees / iterations / rounds (both
  agreed; cost.py halved a forest's, "trees grow together", which only moved forests against other
  families); depth enters through depth_factor (cost.py: linear, packing: 2^(depth/5); see there);
- XGBoost's rounds are capped by early stopping and scaled by row/column sampling, as in cost.py
  (packing ignored both: a 1,000-round trial with early stopping was priced at 10x the default;
  with the catalog's default patience of 20, a default XGBoost trial is now 0.53 of packing's 6 s);
- FAMILY_SECONDS price the fit alone: packing's comment said "fit, evaluation, latency probe" but
  its online correction compared them with train_seconds, the fit; the evaluation is now a stage;
- core_factor (new): Amdahl's law with SERIAL_SHARE, 1 at REFERENCE_CORES (neither old formula
  knew the cores; the figures were measured on one).

Stages (preparation, a batch's load of the prepared parts, a trial's evaluation, finalisation) are
FIXED seconds plus seconds per million cells, the cell-bound part scaled by core_factor. A batch's
start-up is a constant given where the job runs (Settings.batch_startup_seconds).
Pure, stdlib only.
"""
from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from zygarde.domain import algorithms
from zygarde.domain.perf_records import (
    EVALUATE,
    FINALIZE,
    LOAD,
    PREPARE,
    REFERENCE_CORES,
    TrialShape,
)

# Seconds a fit of each family takes on 100,000 rows x 10 features with default params, on one
# core. Packing's rough figures, measured locally; the performance model corrects them.
FAMILY_SECONDS = {"linear": 3.0, "bayes": 1.5, "tree": 3.0, "forest": 8.0, "boosted": 12.0, "mlp": 10.0,
                  "fm": 6.0, "isotonic": 1.5, "clustering": 4.0, "xgboost": 6.0}
FAMILY_OF = {
    "logistic_regression": "linear", "linear_svc": "linear", "linear_regression": "linear",
    "generalized_linear_regression": "linear", "naive_bayes": "bayes",
    "decision_tree_classifier": "tree", "decision_tree_regressor": "tree",
    "random_forest_classifier": "forest", "random_forest_regressor": "forest",
    "gbt_classifier": "boosted", "gbt_regressor": "boosted", "multilayer_perceptron": "mlp",
    "fm_classifier": "fm", "fm_regressor": "fm", "isotonic_regression": "isotonic",
    "kmeans": "clustering", "bisecting_kmeans": "clustering", "gaussian_mixture": "clustering",
}
REFERENCE_ROWS, REFERENCE_FEATURES = 100_000, 10
REFERENCE_CELLS = REFERENCE_ROWS * REFERENCE_FEATURES
MIN_FIT_SECONDS = 1.0
SERIAL_SHARE = 0.1  # of a fit at REFERENCE_CORES that more cores do not shorten (Amdahl; a guess: see README)
SPARK_DEPTH, XGB_DEPTH = 5, 6  # the libraries' default depths
MAX_DEPTH = 16
DEPTH_DOUBLING = 5.0  # levels over which a tree's cost doubles beyond the linear part (see depth_factor)
XGB_ROUNDS = 100
STARTUP_SECONDS = 60.0  # Dataproc Serverless; the local cloud measures its own
# stage -> (fixed seconds, seconds per million cells at REFERENCE_CORES)
STAGE_PRIORS = {PREPARE: (20.0, 8.0), LOAD: (3.0, 1.0), EVALUATE: (2.0, 2.0), FINALIZE: (30.0, 6.0)}


def family(algorithm: str) -> str:
    return FAMILY_OF.get(algorithm, "xgboost" if algorithm.startswith("xgboost") else "forest")


def _num(params: Mapping[str, Any], key: str, default: float) -> float:
    value = params.get(key, default)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default


def depth_factor(depth: float, default: float) -> float:
    """A depth-`depth` tree's cost relative to one of the default depth.

    Histogram trees make one pass over the rows per level (linear in depth: cost.py), and aggregate
    per-node histograms whose number doubles per level until the nodes run out of rows (packing's
    2^(depth/5)). Both are in one: levels plus a doubling term, 2^(depth / DEPTH_DOUBLING), each
    normalised at the default depth. The two old laws agree from depth 5 to 10 (2x each) and part
    below and above. The timings of bench/perf_model_mape.py (at most 59k rows, where fixed
    overheads dominate) do not separate the three laws (README); the doubling is real on deep
    forests (20 trees at depth 12 took 5.6x depth 8 on 6,500 rows, linear says 1.5x), so it stays."""
    def raw(d: float) -> float:
        d = min(max(d, 1.0), MAX_DEPTH)
        return d / default + 2 ** (d / DEPTH_DOUBLING) / 2 ** (default / DEPTH_DOUBLING)

    return raw(depth) / raw(default)


def boosting_rounds(params: Mapping[str, Any]) -> float:
    """XGBoost's expected rounds: n_estimators, or fewer when early stopping ends it (a faster
    learning rate converges sooner: about 10 / rate rounds, plus the patience)."""
    rounds = _num(params, "n_estimators", XGB_ROUNDS)
    patience = _num(params, "early_stopping_rounds", 0)
    if patience > 0:
        rate = max(_num(params, "learning_rate", 0.3), 1e-3)
        rounds = min(rounds, 10.0 / rate + patience)
    return max(rounds, 1.0)


def work(algorithm: str, params: Mapping[str, Any] | None = None) -> float:
    """How much more (or less) work the params ask for than the family's defaults (1 at the defaults).
    The learner's own defaults (algorithms.Algorithm.defaults) apply under `params`."""
    known = algorithms.get(algorithm)
    p = {**(known.defaults if known else {}), **(params or {})}
    fam = family(algorithm)
    if fam == "forest":
        return max(_num(p, "numTrees", 20), 1) / 20 * depth_factor(_num(p, "maxDepth", SPARK_DEPTH), SPARK_DEPTH)
    if fam == "boosted":
        return max(_num(p, "maxIter", 20), 1) / 20 * depth_factor(_num(p, "maxDepth", SPARK_DEPTH), SPARK_DEPTH)
    if fam == "tree":
        return depth_factor(_num(p, "maxDepth", SPARK_DEPTH), SPARK_DEPTH)
    if fam == "xgboost":
        sampled = max(_num(p, "subsample", 1.0) * _num(p, "colsample_bytree", 1.0), 0.1)
        return (boosting_rounds(p) / XGB_ROUNDS * depth_factor(_num(p, "max_depth", XGB_DEPTH), XGB_DEPTH)
                * sampled)
    if fam in ("linear", "fm"):
        return max(_num(p, "maxIter", 100), 1) / 100
    if fam == "clustering":
        return max(_num(p, "maxIter", 20), 1) / 20
    if fam == "mlp":
        hidden = p.get("hiddenLayers", [16])
        width = sum(hidden) if isinstance(hidden, list) and all(isinstance(h, int) for h in hidden) else 16
        return max(_num(p, "maxIter", 100), 1) / 100 * max(width, 1) / 16
    return 1.0


def drivers(algorithm: str, params: Mapping[str, Any] | None = None) -> tuple[float, ...]:
    """The family's cost-driving parameters, defaults applied (a fixed tuple per family): the
    performance model's augmented features, so that it can learn a power law in each of them."""
    known = algorithms.get(algorithm)
    p = {**(known.defaults if known else {}), **(params or {})}
    fam = family(algorithm)
    if fam in ("forest", "boosted"):
        count = _num(p, "numTrees", 20) if fam == "forest" else _num(p, "maxIter", 20)
        return max(count, 1), min(max(_num(p, "maxDepth", SPARK_DEPTH), 1), MAX_DEPTH)
    if fam == "tree":
        return (min(max(_num(p, "maxDepth", SPARK_DEPTH), 1), MAX_DEPTH),)
    if fam == "xgboost":
        return (boosting_rounds(p), min(max(_num(p, "max_depth", XGB_DEPTH), 1), MAX_DEPTH),
                max(_num(p, "subsample", 1.0) * _num(p, "colsample_bytree", 1.0), 0.1))
    if fam in ("linear", "fm", "clustering", "mlp"):
        return (max(_num(p, "maxIter", 100 if fam != "clustering" else 20), 1),)
    return ()


def core_factor(cores: float, serial_share: float = SERIAL_SHARE) -> float:
    """Seconds on `cores` relative to REFERENCE_CORES (Amdahl's law)."""
    def amdahl(c: float) -> float:
        return serial_share + (1 - serial_share) / max(c, 1e-9)

    return amdahl(cores) / amdahl(REFERENCE_CORES)


@lru_cache(maxsize=4096)
def _terms(algorithm: str, frozen: tuple) -> tuple[float, tuple[float, ...]]:
    params = {k: list(v) if isinstance(v, tuple) else v for k, v in frozen}
    return work(algorithm, params), drivers(algorithm, params)


def terms(algorithm: str, params: Mapping[str, Any] | None) -> tuple[float, tuple[float, ...]]:
    """(work, drivers) of a learner's params, cached (models and planners ask for the same ones often)."""
    try:
        frozen = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in (params or {}).items()))
        return _terms(algorithm, frozen)
    except TypeError:  # an unhashable value: not cached
        return work(algorithm, params), drivers(algorithm, params)


def raw_fit_seconds(shape: TrialShape) -> float:
    """The formula itself, without the floor (what the performance model corrects)."""
    cells = shape.fit_rows * max(shape.features, 1) / REFERENCE_CELLS
    work_ = terms(shape.algorithm, shape.params)[0]
    return FAMILY_SECONDS[family(shape.algorithm)] * cells * work_ * core_factor(shape.cores)


def fit_seconds(shape: TrialShape) -> float:
    """The prior's seconds for one fit (at least MIN_FIT_SECONDS)."""
    return max(MIN_FIT_SECONDS, raw_fit_seconds(shape))


def stage_seconds(stage: str, rows: float, columns: float, cores: float = REFERENCE_CORES) -> float:
    """The prior's seconds for a stage over rows x columns (see STAGE_PRIORS)."""
    fixed, per_million = STAGE_PRIORS[stage]
    return fixed + per_million * max(rows, 1) * max(columns, 1) / 1e6 * core_factor(cores)


def relative_cost(algorithm: str, params: Mapping[str, Any] | None = None) -> float:
    """A trial's cost at the reference shape, for ordering a search cheapest first (replaces
    cost.relative_cost: same role, now the same formula as everything else)."""
    return FAMILY_SECONDS[family(algorithm)] * work(algorithm, params)

