"""What the performance model reads: a trial's shape, and the timings of finished work.

Pure data (stdlib only). An Observation keeps shapes and timings, never data: row and column
counts, cores, the learner and only its cost-driving parameters. It serialises to plain JSON
(`dumps`/`loads`, versioned) so that every finished trial of an installation can be kept and the
model refitted from them.

Stages timed:
- fit: one learner's fit on the prepared train part (TrialResult metrics["train_seconds"]);
  rows = the train part's rows (a rung fits train_fraction of them), columns = features after
  preprocessing, cores = the task cores the fit had (its batch's executor cores / concurrency);
- evaluate: the rest of a trial in its batch (scoring, metrics, save); rows = the
  validation rows, columns = features;
- load: a batch reading and caching the prepared parts before its first trial;
- prepare / finalize: the job's preparation and finalisation stages; rows x columns of the dataset;
- startup: a batch's fixed start-up (creation, JVM, session) before it runs anything.
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

FIT, EVALUATE, LOAD, PREPARE, FINALIZE, STARTUP = "fit", "evaluate", "load", "prepare", "finalize", "startup"
STAGES = (FIT, EVALUATE, LOAD, PREPARE, FINALIZE, STARTUP)
FORMAT_VERSION = 1
REFERENCE_CORES = 1.0  # the cores the prior's family figures are quoted for
# The parameters that drive a learner's cost; an observation keeps only these (numbers, short
# strings, lists of ints), whatever else the trial set.
COST_PARAMS = frozenset({
    "numTrees", "maxDepth", "maxIter", "maxBins", "subsamplingRate", "featureSubsetStrategy", "elasticNetParam",
    "n_estimators", "max_depth", "learning_rate", "early_stopping_rounds", "subsample", "colsample_bytree",
    "max_bin", "max_leaves", "grow_policy", "hiddenLayers", "blockSize", "solver", "factorSize", "k",
})
_MAX_TEXT = 40


def cost_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The cost-driving subset of `params`, JSON-safe (anything else, or of another type, is left out)."""
    out: dict[str, Any] = {}
    for key, value in (params or {}).items():
        if key not in COST_PARAMS:
            continue
        if isinstance(value, bool) or value is None:
            continue
        number = isinstance(value, (int, float)) and math.isfinite(value)
        if number or (isinstance(value, str) and len(value) <= _MAX_TEXT):
            out[key] = value
        elif isinstance(value, (list, tuple)) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            out[key] = [int(v) for v in value][:16]
    return out


@dataclass(frozen=True)
class TrialShape:
    """A trial as the model sees it before it runs."""

    algorithm: str
    params: Mapping[str, Any]
    rows: int  # the prepared train part's rows
    features: int  # feature columns after preprocessing (one-hot expanded)
    cores: float = REFERENCE_CORES  # task cores the fit has
    train_fraction: float = 1.0  # a successive halving rung fits on this share of the rows

    def __post_init__(self) -> None:
        _check_counts("trial shape", rows=self.rows, features=self.features)
        if not (math.isfinite(self.cores) and self.cores > 0):
            raise ValueError(f"trial shape: cores must be positive, got {self.cores!r}")
        if not (0 < self.train_fraction <= 1):
            raise ValueError(f"trial shape: train_fraction must be in (0, 1], got {self.train_fraction!r}")

    @property
    def fit_rows(self) -> float:
        return max(1.0, self.rows * self.train_fraction)

    def with_cores(self, cores: float) -> TrialShape:
        return TrialShape(self.algorithm, self.params, self.rows, self.features, cores, self.train_fraction)


@dataclass(frozen=True)
class Observation:
    """One finished piece of work: its stage, shape and seconds (see the module's docstring)."""

    stage: str
    seconds: float
    rows: int = 0
    columns: int = 0
    cores: float = REFERENCE_CORES
    algorithm: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    train_fraction: float = 1.0
    rounds: float | None = None  # boosting rounds actually fitted (XGBoost stops early), when known

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"observation: stage must be one of {', '.join(STAGES)}, got {self.stage!r}")
        if not (isinstance(self.seconds, (int, float)) and math.isfinite(self.seconds) and self.seconds > 0):
            raise ValueError(f"observation: seconds must be a positive number, got {self.seconds!r}")
        _check_counts("observation", rows=self.rows, columns=self.columns)
        if not (isinstance(self.cores, (int, float)) and math.isfinite(self.cores) and self.cores > 0):
            raise ValueError(f"observation: cores must be a positive number, got {self.cores!r}")
        if self.stage == FIT and not self.algorithm:
            raise ValueError("observation: a fit names its algorithm")
        if not (0 < self.train_fraction <= 1):
            raise ValueError(f"observation: train_fraction must be in (0, 1], got {self.train_fraction!r}")
        if self.rounds is not None and not (math.isfinite(self.rounds) and self.rounds > 0):
            raise ValueError(f"observation: rounds must be positive when given, got {self.rounds!r}")
        object.__setattr__(self, "params", cost_params(self.params))

    @classmethod
    def of_fit(cls, shape: TrialShape, seconds: float, rounds: float | None = None) -> Observation:
        return cls(FIT, seconds, shape.rows, shape.features, shape.cores, shape.algorithm, shape.params,
                   shape.train_fraction, rounds)

    def shape(self) -> TrialShape:
        """The trial shape of a fit observation."""
        return TrialShape(self.algorithm, self.params, max(self.rows, 1), max(self.columns, 1), self.cores,
                          self.train_fraction)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"stage": self.stage, "seconds": round(float(self.seconds), 4), "rows": self.rows,
                               "columns": self.columns, "cores": self.cores}
        if self.algorithm:
            out.update(algorithm=self.algorithm, params=dict(self.params))
        if self.train_fraction != 1.0:
            out["train_fraction"] = self.train_fraction
        if self.rounds is not None:
            out["rounds"] = self.rounds
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Observation:
        if not isinstance(data, Mapping):
            raise ValueError(f"observation: expected an object, got {type(data).__name__}")
        unknown = set(data) - {"stage", "seconds", "rows", "columns", "cores", "algorithm", "params",
                               "train_fraction", "rounds"}
        if unknown:
            raise ValueError(f"observation: unknown field {sorted(unknown)[0]!r}")
        params = data.get("params") or {}
        if not isinstance(params, Mapping):
            raise ValueError("observation: params must be an object")
        return cls(stage=data.get("stage", ""), seconds=data.get("seconds", 0), rows=data.get("rows", 0),
                   columns=data.get("columns", 0), cores=data.get("cores", REFERENCE_CORES),
                   algorithm=str(data.get("algorithm") or ""), params=params,
                   train_fraction=data.get("train_fraction", 1.0), rounds=data.get("rounds"))


def _check_counts(what: str, **counts: Any) -> None:
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{what}: {name} must be a non-negative integer, got {value!r}")


def dumps(observations: Iterable[Observation]) -> str:
    """Observations as one JSON document: {"version": 1, "observations": [...]}."""
    return json.dumps({"version": FORMAT_VERSION, "observations": [o.to_dict() for o in observations]},
                      separators=(",", ":"), sort_keys=True)


def loads(text: str) -> list[Observation]:
    """The observations of a `dumps` document; ValueError with one sentence when it is not one."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"observations: not JSON ({exc.msg} at line {exc.lineno})") from None
    valid = isinstance(doc, dict) and doc.get("version") == FORMAT_VERSION
    if not (valid and isinstance(doc.get("observations"), list)):
        raise ValueError(f"observations: expected {{\"version\": {FORMAT_VERSION}, \"observations\": [...]}}")
    out = []
    for i, item in enumerate(doc["observations"]):
        try:
            out.append(Observation.from_dict(item))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"observations[{i}]: {exc}") from None
    return out
