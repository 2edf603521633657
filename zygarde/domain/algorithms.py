"""The catalog of learners Zygarde can train: names, tasks, Spark classes and their hyperparameters.

Pure data and checks (stdlib only): the control plane validates specs against it, and the Spark
batch (which receives this package as a zip) builds estimators from it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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


@dataclass(frozen=True)
class ParamSpec:
    """One hyperparameter: its Spark name, type and allowed values."""

    name: str
    type: str  # "int" | "float" | "str" | "bool"
    low: float | None = None  # inclusive
    high: float | None = None  # inclusive
    choices: tuple[Any, ...] | None = None

    def problem(self, value: Any) -> str | None:
        """Why `value` is not allowed for this parameter, or None when it is."""
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
        if self.choices is not None and value not in self.choices:
            return f"expected one of {', '.join(map(str, self.choices))}, got {value!r}"
        if self.low is not None and value < self.low:
            return f"must be >= {self.low}, got {value!r}"
        if self.high is not None and value > self.high:
            return f"must be <= {self.high}, got {value!r}"
        return None

    def coerce(self, value: Any) -> Any:
        return int(value) if self.type == "int" else float(value) if self.type == "float" else value


@dataclass(frozen=True)
class Algorithm:
    name: str
    tasks: frozenset[str]
    spark_class: str  # dotted path of the pyspark.ml estimator
    params: dict[str, ParamSpec]
    scale_features: bool = False  # linear models, MLP, FM want standardised inputs
    one_hot: bool = True  # trees do better on indexed categories without one-hot
    defaults: dict[str, Any] = field(default_factory=dict)  # applied unless the spec sets them

    def problems(self, params: dict[str, Any]) -> list[tuple[str, str]]:
        out = []
        for key, value in params.items():
            spec = self.params.get(key)
            if spec is None:
                known = ", ".join(sorted(self.params))
                out.append((key, f"{self.name} has no hyperparameter {key!r} (it has: {known})"))
            elif (reason := spec.problem(value)) is not None:
                out.append((key, reason))
        return out


def _p(name: str, type_: str, low=None, high=None, choices=None) -> ParamSpec:
    return ParamSpec(name, type_, low, high, tuple(choices) if choices else None)


_TREE = {"maxDepth": _p("maxDepth", "int", 0, 30), "maxBins": _p("maxBins", "int", 2, 10_000),
         "minInstancesPerNode": _p("minInstancesPerNode", "int", 1, None),
         "minInfoGain": _p("minInfoGain", "float", 0.0, None)}
_FOREST = {**_TREE, "numTrees": _p("numTrees", "int", 1, 1000),
           "subsamplingRate": _p("subsamplingRate", "float", 0.0001, 1.0),
           "featureSubsetStrategy": _p("featureSubsetStrategy", "str",
                                       choices=("auto", "all", "onethird", "sqrt", "log2"))}
_LINEAR = {"maxIter": _p("maxIter", "int", 1, 10_000), "regParam": _p("regParam", "float", 0.0, None),
           "elasticNetParam": _p("elasticNetParam", "float", 0.0, 1.0),
           "tol": _p("tol", "float", 0.0, None), "fitIntercept": _p("fitIntercept", "bool"),
           "standardization": _p("standardization", "bool")}

ALGORITHMS: dict[str, Algorithm] = {a.name: a for a in [
    Algorithm("logistic_regression", CLASSIFICATION, "pyspark.ml.classification.LogisticRegression",
              {**_LINEAR, "threshold": _p("threshold", "float", 0.0, 1.0)}, scale_features=True),
    Algorithm("random_forest_classifier", CLASSIFICATION,
              "pyspark.ml.classification.RandomForestClassifier",
              {**_FOREST, "impurity": _p("impurity", "str", choices=("gini", "entropy"))}, one_hot=False),
    Algorithm("linear_regression", frozenset({REGRESSION}), "pyspark.ml.regression.LinearRegression",
              {**_LINEAR, "loss": _p("loss", "str", choices=("squaredError", "huber"))}, scale_features=True),
    Algorithm("random_forest_regressor", frozenset({REGRESSION}),
              "pyspark.ml.regression.RandomForestRegressor", _FOREST, one_hot=False),
]}


def get(name: str) -> Algorithm | None:
    return ALGORITHMS.get(name)


def for_task(task: str) -> list[str]:
    return sorted(n for n, a in ALGORITHMS.items() if task in a.tasks)
