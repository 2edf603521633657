"""The catalog of learners Zygarde can train: names, tasks, Spark classes and their hyperparameters.

Pure data and checks (stdlib only): the control plane validates specs against it, and the Spark
batch (which receives this package as a zip) builds estimators from it. Every Spark MLlib learner
for classification, regression and clustering is here, plus XGBoost on Spark (`xgboost.spark`);
hyperparameter names are the library's own, except `hiddenLayers` (multilayer perceptron), from
which the batch derives Spark's `layers`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

BINARY = "binary_classification"
MULTICLASS = "multiclass_classification"
REGRESSION = "regression"
CLUSTERING = "clustering"
TASKS = (BINARY, MULTICLASS, REGRESSION, CLUSTERING)
CLASSIFICATION = frozenset({BINARY, MULTICLASS})

MAXIMIZE, MINIMIZE = "maximize", "minimize"
# metric name -> direction, per task. Every metric is recorded; the job optimises one.
METRICS: dict[str, dict[str, str]] = {
    BINARY: {"areaUnderROC": MAXIMIZE, "areaUnderPR": MAXIMIZE, "accuracy": MAXIMIZE, "f1": MAXIMIZE,
             "weightedPrecision": MAXIMIZE, "weightedRecall": MAXIMIZE, "logLoss": MINIMIZE,
             "mcc": MAXIMIZE},
    MULTICLASS: {"accuracy": MAXIMIZE, "f1": MAXIMIZE, "weightedPrecision": MAXIMIZE,
                 "weightedRecall": MAXIMIZE, "logLoss": MINIMIZE},
    REGRESSION: {"rmse": MINIMIZE, "mae": MINIMIZE, "r2": MAXIMIZE, "mape": MINIMIZE},
    CLUSTERING: {"silhouette": MAXIMIZE},
}
DEFAULT_METRIC = {BINARY: "areaUnderROC", MULTICLASS: "f1", REGRESSION: "rmse", CLUSTERING: "silhouette"}
# The metrics a leaderboard shows beside the job's own, in this order (the job's metric left out).
KEY_METRICS = {BINARY: ("areaUnderROC", "f1", "accuracy", "logLoss"), MULTICLASS: ("f1", "accuracy", "logLoss"),
               REGRESSION: ("rmse", "mae", "r2"), CLUSTERING: ("silhouette",)}
# Recorded with every trial besides the task's metrics; informational, never optimised.
RESOURCE_METRICS = ("train_seconds", "predict_ms_per_1k", "model_bytes", "executor_cpu_seconds",
                    "peak_memory_bytes")
MAX_HIDDEN_LAYERS = 8


@dataclass(frozen=True)
class ParamSpec:
    """One hyperparameter: its name, type and allowed values. Types: "int", "float", "str", "bool",
    and "int_list" (a list of ints, or a string like "16,8"; low/high bound each element)."""

    name: str
    type: str
    low: float | None = None  # inclusive
    high: float | None = None  # inclusive
    choices: tuple[Any, ...] | None = None

    def problem(self, value: Any) -> str | None:
        """Why `value` is not allowed for this parameter, or None when it is."""
        if self.type == "int_list":
            return self._list_problem(value)
        if self.type == "bool":
            return None if isinstance(value, bool) else f"expected true or false, got {value!r}"
        if self.type == "str":
            if not isinstance(value, str):
                return f"expected a string, got {value!r}"
        elif self.type == "int":
            if isinstance(value, bool) or not (isinstance(value, int) or
                                               (isinstance(value, float) and value.is_integer())):
                return f"expected an integer, got {value!r}"
        elif self.type == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return f"expected a number, got {value!r}"
            if not math.isfinite(value):
                return f"expected a finite number, got {value!r}"
        if self.choices is not None and value not in self.choices:
            return f"expected one of {', '.join(map(str, self.choices))}, got {value!r}"
        return self._range_problem(value)

    def _range_problem(self, value: Any) -> str | None:
        if self.low is not None and value < self.low:
            return f"must be >= {self.low}, got {value!r}"
        if self.high is not None and value > self.high:
            return f"must be <= {self.high}, got {value!r}"
        return None

    def _list_problem(self, value: Any) -> str | None:
        items = _split_int_list(value)
        if items is None:
            return f"expected a list of integers like [16, 8] or \"16,8\", got {value!r}"
        if len(items) > MAX_HIDDEN_LAYERS:
            return f"at most {MAX_HIDDEN_LAYERS} values, got {len(items)}"
        for item in items:
            if (reason := self._range_problem(item)) is not None:
                return f"each value {reason}"
        return None

    def coerce(self, value: Any) -> Any:
        if self.type == "int_list":
            return _split_int_list(value)
        return int(value) if self.type == "int" else float(value) if self.type == "float" else value


def _split_int_list(value: Any) -> list[int] | None:
    """[16, 8] / (16, 8) / "16,8" / "16 8" / "" -> a list of ints, or None if it is not one."""
    if isinstance(value, str):
        parts = value.replace(",", " ").split()
        if not all(p.strip().lstrip("-").isdigit() for p in parts):
            return None
        return [int(p) for p in parts]
    if isinstance(value, (list, tuple)):
        if not all(not isinstance(v, bool) and (isinstance(v, int) or (isinstance(v, float) and v.is_integer()))
                   for v in value):
            return None
        return [int(v) for v in value]
    return None


Check = Callable[[dict[str, Any]], list[tuple[str, str]]]


@dataclass(frozen=True)
class Algorithm:
    name: str
    tasks: frozenset[str]
    spark_class: str  # dotted path of the pyspark.ml estimator
    params: dict[str, ParamSpec]
    scale_features: bool = False  # linear models, MLP, FM, clustering want scaled inputs
    one_hot: bool = True  # trees do better on indexed categories without one-hot
    defaults: dict[str, Any] = field(default_factory=dict)  # applied unless the spec sets them
    # when scale_features: "standard" (centre + unit variance), "unit_variance" (no centring) or
    # "minmax" ([0, 1], for learners that need non-negative features)
    scaler: str = "standard"
    check: Check | None = None  # cross-parameter rules, given all of a trial's params
    summary: str = ""
    # trains in Spark's barrier mode (all workers at once): its batches need fixed executors
    barrier: bool = False

    @property
    def supervised(self) -> bool:
        return CLUSTERING not in self.tasks

    def problems(self, params: dict[str, Any]) -> list[tuple[str, str]]:
        out = []
        for key, value in params.items():
            spec = self.params.get(key)
            if spec is None:
                known = ", ".join(sorted(self.params))
                out.append((key, f"{self.name} has no hyperparameter {key!r} (it has: {known})"))
            elif (reason := spec.problem(value)) is not None:
                out.append((key, reason))
        if not out and self.check is not None:
            out.extend(self.check(params))
        return out


def _p(name: str, type_: str, low=None, high=None, choices=None) -> ParamSpec:
    return ParamSpec(name, type_, low, high, tuple(choices) if choices else None)


def _params(*specs: ParamSpec) -> dict[str, ParamSpec]:
    return {s.name: s for s in specs}


_MAX_ITER = _p("maxIter", "int", 1, 10_000)
_REG = _p("regParam", "float", 0.0, None)
_TOL = _p("tol", "float", 0.0, None)
_FIT_INTERCEPT = _p("fitIntercept", "bool")
_STANDARDIZATION = _p("standardization", "bool")
_STEP = _p("stepSize", "float", 1e-9, None)
_SUBSAMPLING = _p("subsamplingRate", "float", 1e-4, 1.0)
_SUBSET = _p("featureSubsetStrategy", "str", choices=("auto", "all", "onethird", "sqrt", "log2"))
_TREE = _params(_p("maxDepth", "int", 0, 30), _p("maxBins", "int", 2, 100_000),
                _p("minInstancesPerNode", "int", 1, None), _p("minInfoGain", "float", 0.0, None),
                _p("minWeightFractionPerNode", "float", 0.0, 0.49))
_FOREST = {**_TREE, **_params(_p("numTrees", "int", 1, 2000), _SUBSAMPLING, _SUBSET, _p("bootstrap", "bool"))}
_GBT = {**_TREE, **_params(_MAX_ITER, _p("stepSize", "float", 1e-6, 1.0), _SUBSAMPLING, _SUBSET)}
_LINEAR = _params(_MAX_ITER, _REG, _p("elasticNetParam", "float", 0.0, 1.0), _TOL, _FIT_INTERCEPT,
                  _STANDARDIZATION)
_FM = _params(_p("factorSize", "int", 1, 1000), _FIT_INTERCEPT, _p("fitLinear", "bool"), _REG,
              _p("miniBatchFraction", "float", 1e-6, 1.0), _p("initStd", "float", 1e-9, None), _MAX_ITER,
              _p("stepSize", "float", 1e-9, None), _TOL, _p("solver", "str", choices=("adamW", "gd")))
# XGBoost (xgboost.spark), histogram trees. early_stopping_rounds: stop when the validation part's
# score has not improved for that many rounds (0: off, all n_estimators are built).
_XGB = _params(_p("n_estimators", "int", 1, 10_000), _p("max_depth", "int", 1, 64),
               _p("max_leaves", "int", 0, 2**20), _p("grow_policy", "str", choices=("depthwise", "lossguide")),
               _p("learning_rate", "float", 1e-6, 1.0), _p("min_child_weight", "float", 0.0, None),
               _p("subsample", "float", 1e-3, 1.0), _p("colsample_bytree", "float", 1e-3, 1.0),
               _p("colsample_bylevel", "float", 1e-3, 1.0), _p("colsample_bynode", "float", 1e-3, 1.0),
               _p("reg_alpha", "float", 0.0, None), _p("reg_lambda", "float", 0.0, None),
               _p("gamma", "float", 0.0, None), _p("max_bin", "int", 2, 65_536),
               _p("max_delta_step", "float", 0.0, None), _p("early_stopping_rounds", "int", 0, 10_000))
_XGB_DEFAULTS = {"early_stopping_rounds": 20}
_GINI = _params(_p("impurity", "str", choices=("gini", "entropy")))
_K = _p("k", "int", 2, 10_000)
_DISTANCE = _p("distanceMeasure", "str", choices=("euclidean", "cosine"))

# Link functions Spark accepts for each GLM family (tweedie uses linkPower instead).
GLM_LINKS = {"gaussian": ("identity", "log", "inverse"), "binomial": ("logit", "probit", "cloglog"),
             "poisson": ("log", "identity", "sqrt"), "gamma": ("inverse", "identity", "log"), "tweedie": ()}


def _glm_check(params: dict[str, Any]) -> list[tuple[str, str]]:
    """Family/link rules; only checked when the family is among the params (callers validating one
    param at a time must not be told about a default they may override)."""
    if "family" not in params:
        return []
    family, out = params["family"], []
    if "link" in params:
        allowed = GLM_LINKS.get(family, ())
        if family == "tweedie":
            out.append(("link", "the tweedie family takes linkPower, not link"))
        elif params["link"] not in allowed:
            out.append(("link", f"family {family} supports links {', '.join(allowed)}, not {params['link']}"))
    for key in ("linkPower", "variancePower"):
        if key in params and family != "tweedie":
            out.append((key, f"{key} only applies to the tweedie family"))
    power = params.get("variancePower")
    if power is not None and 0 < power < 1:
        out.append(("variancePower", "must be 0 or >= 1"))
    return out


def _huber_check(params: dict[str, Any]) -> list[tuple[str, str]]:
    if params.get("loss") == "huber" and params.get("elasticNetParam", 0.0) != 0.0:
        return [("elasticNetParam", "huber loss supports L2 regularisation only (elasticNetParam 0)")]
    return []


_C, _R = "pyspark.ml.classification.", "pyspark.ml.regression."
_BOTH, _REGRESSION = CLASSIFICATION, frozenset({REGRESSION})

ALGORITHMS: dict[str, Algorithm] = {a.name: a for a in [
    # classification
    Algorithm("logistic_regression", _BOTH, _C + "LogisticRegression",
              {**_LINEAR, **_params(_p("threshold", "float", 0.0, 1.0),
                                    _p("family", "str", choices=("auto", "binomial", "multinomial")))},
              scale_features=True, summary="logistic regression (binomial or multinomial)"),
    Algorithm("linear_svc", frozenset({BINARY}), _C + "LinearSVC",
              _params(_MAX_ITER, _REG, _TOL, _FIT_INTERCEPT, _STANDARDIZATION, _p("threshold", "float")),
              scale_features=True, summary="linear support vector machine (hinge loss, OWL-QN)"),
    Algorithm("naive_bayes", _BOTH, _C + "NaiveBayes",
              _params(_p("smoothing", "float", 0.0, None),
                      _p("modelType", "str", choices=("multinomial", "complement", "bernoulli", "gaussian"))),
              scale_features=True, scaler="minmax",
              summary="naive Bayes; features min-max scaled to [0, 1] (bernoulli needs 0/1 features)"),
    Algorithm("decision_tree_classifier", _BOTH, _C + "DecisionTreeClassifier", {**_TREE, **_GINI},
              one_hot=False, summary="a single decision tree"),
    Algorithm("random_forest_classifier", _BOTH, _C + "RandomForestClassifier", {**_FOREST, **_GINI},
              one_hot=False, summary="random forest"),
    Algorithm("gbt_classifier", frozenset({BINARY}), _C + "GBTClassifier",
              {**_GBT, **_params(_p("lossType", "str", choices=("logistic",)))},
              one_hot=False, summary="gradient-boosted trees (binary only)"),
    Algorithm("xgboost_classifier", _BOTH, "xgboost.spark.SparkXGBClassifier",
              {**_XGB, **_params(_p("scale_pos_weight", "float", 1e-6, None))}, one_hot=False,
              defaults=_XGB_DEFAULTS, barrier=True,
              summary="XGBoost gradient-boosted trees (hist), early stopping on the validation part"),
    Algorithm("multilayer_perceptron", _BOTH, _C + "MultilayerPerceptronClassifier",
              _params(_p("hiddenLayers", "int_list", 1, 4096), _MAX_ITER, _TOL, _p("stepSize", "float", 1e-9, None),
                      _p("solver", "str", choices=("l-bfgs", "gd")), _p("blockSize", "int", 1, 100_000)),
              scale_features=True, defaults={"hiddenLayers": [16]},
              summary="feed-forward neural network; hiddenLayers e.g. [16, 8], input/output sizes derived"),
    Algorithm("fm_classifier", frozenset({BINARY}), _C + "FMClassifier", _FM, scale_features=True,
              summary="factorization machine (binary only)"),
    # regression
    Algorithm("linear_regression", _REGRESSION, _R + "LinearRegression",
              {**_LINEAR, **_params(_p("loss", "str", choices=("squaredError", "huber")),
                                    _p("epsilon", "float", 1.000001, None),
                                    _p("solver", "str", choices=("auto", "normal", "l-bfgs")))},
              scale_features=True, check=_huber_check, summary="linear regression (least squares or huber)"),
    Algorithm("generalized_linear_regression", _REGRESSION, _R + "GeneralizedLinearRegression",
              _params(_p("family", "str", choices=tuple(GLM_LINKS)),
                      _p("link", "str", choices=sorted({l for links in GLM_LINKS.values() for l in links})),
                      _p("linkPower", "float"), _p("variancePower", "float", 0.0, None),
                      _p("maxIter", "int", 1, 1000), _REG, _TOL, _FIT_INTERCEPT),
              scale_features=True, check=_glm_check,
              summary="generalized linear model (IRLS; at most 4096 features)"),
    Algorithm("decision_tree_regressor", _REGRESSION, _R + "DecisionTreeRegressor", _TREE, one_hot=False,
              summary="a single regression tree"),
    Algorithm("random_forest_regressor", _REGRESSION, _R + "RandomForestRegressor", _FOREST, one_hot=False,
              summary="random forest regression"),
    Algorithm("gbt_regressor", _REGRESSION, _R + "GBTRegressor",
              {**_GBT, **_params(_p("lossType", "str", choices=("squared", "absolute")))}, one_hot=False,
              summary="gradient-boosted regression trees"),
    Algorithm("xgboost_regressor", _REGRESSION, "xgboost.spark.SparkXGBRegressor",
              {**_XGB, **_params(_p("objective", "str", choices=(
                  "reg:squarederror", "reg:absoluteerror", "reg:pseudohubererror", "reg:squaredlogerror",
                  "reg:gamma", "reg:tweedie", "count:poisson")))}, one_hot=False,
              defaults=_XGB_DEFAULTS, barrier=True,
              summary="XGBoost gradient-boosted regression trees (hist), early stopping on the validation part"),
    Algorithm("fm_regressor", _REGRESSION, _R + "FMRegressor", _FM, scale_features=True,
              summary="factorization machine regression"),
    Algorithm("isotonic_regression", _REGRESSION, _R + "IsotonicRegression",
              _params(_p("isotonic", "bool"), _p("featureIndex", "int", 0, None)), one_hot=False,
              summary="isotonic regression on one feature: featureIndex counts the feature columns in "
                      "dataset order, target excluded"),
    # clustering (no target; scored by silhouette)
    Algorithm("kmeans", frozenset({CLUSTERING}), "pyspark.ml.clustering.KMeans",
              _params(_K, _p("maxIter", "int", 1, 10_000), _TOL, _DISTANCE,
                      _p("initMode", "str", choices=("k-means||", "random")), _p("initSteps", "int", 1, 100)),
              scale_features=True, summary="k-means"),
    Algorithm("bisecting_kmeans", frozenset({CLUSTERING}), "pyspark.ml.clustering.BisectingKMeans",
              _params(_K, _p("maxIter", "int", 1, 10_000), _DISTANCE,
                      _p("minDivisibleClusterSize", "float", 1e-9, None)),
              scale_features=True, scaler="unit_variance",  # it cannot split a cluster centred on 0
              summary="bisecting k-means (hierarchical, divisive)"),
    Algorithm("gaussian_mixture", frozenset({CLUSTERING}), "pyspark.ml.clustering.GaussianMixture",
              _params(_p("k", "int", 2, 1000), _p("maxIter", "int", 1, 10_000), _TOL),
              scale_features=True, summary="Gaussian mixture model (EM)"),
]}

# Learner names of Zygarde v1 requests -> (name here, params it implied).
V1_NAMES: dict[str, tuple[str, dict[str, Any]]] = {
    "linear-regression": ("linear_regression", {}),
    "generalized-linear-regression": ("generalized_linear_regression", {}),
    "decision-tree-regression": ("decision_tree_regressor", {}),
    "random-forest-regression": ("random_forest_regressor", {}),
    "gradient-boosted-tree-regression": ("gbt_regressor", {}),
    "linear-support-vector-machine": ("linear_svc", {}),
    "binomial-logistic-regression": ("logistic_regression", {"family": "binomial"}),
    "multinomial-logistic-regression": ("logistic_regression", {"family": "multinomial"}),
    "gradient-boosted-tree-classification": ("gbt_classifier", {}),
    "naive-bayes": ("naive_bayes", {}),
    "decision-tree-classification": ("decision_tree_classifier", {}),
    "random-forest-classification": ("random_forest_classifier", {}),
    "multilayer-perceptron-classifier": ("multilayer_perceptron", {}),
    "k-means": ("kmeans", {}),
    "gaussian-mixture-model": ("gaussian_mixture", {}),
}


def get(name: str) -> Algorithm | None:
    return ALGORITHMS.get(name)


def for_task(task: str) -> list[str]:
    return sorted(n for n, a in ALGORITHMS.items() if task in a.tasks)
