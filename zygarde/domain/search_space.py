"""Search spaces: how a spec describes one hyperparameter, its checks against the catalog, and
drawing values from it.

A hyperparameter is a list of values (tried as a grid, or drawn from as a categorical) or a
distribution: `{"type": "int"|"float", "low": x, "high": y, "log": false}` or
`{"type": "categorical", "choices": [...]}`. Pure code; Optuna is imported lazily, only by the
Bayesian helpers at the bottom.
"""
from __future__ import annotations

import itertools
import json
import math
import random
from typing import Annotated, Any, Iterable, Literal, Protocol, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from zygarde.domain.algorithms import Algorithm, ParamSpec



class CandidateSpace(Protocol):
    """What the functions here read of a spec's candidate (spec.CandidateSpec has it); a protocol,
    so that this module does not import the spec, which imports it."""

    algorithm: str
    params: dict[str, Any]

ParamValue = bool | int | float | str
MAX_FINITE_POINTS = 10_000  # spaces up to this size are enumerated (grid, exhaustion, no repeats)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Range(_Strict):
    """A numeric range: uniform, or log-uniform when `log` (then low > 0)."""

    type: Literal["int", "float"] = Field(description="int or float, as the learner's parameter")
    low: float = Field(description="inclusive")
    high: float = Field(description="inclusive")
    log: bool = Field(False, description="draw uniformly in log space (low must be > 0)")

    @model_validator(mode="after")
    def _bounds(self) -> "Range":
        if not all(math.isfinite(x) for x in (self.low, self.high, self.high - self.low)):
            raise ValueError("low and high must be finite numbers less than about 1.8e308 apart")
        if self.type == "int" and not (float(self.low).is_integer() and float(self.high).is_integer()):
            raise ValueError("an int range needs integer low and high")
        if not self.low < self.high:
            raise ValueError(f"low ({self.low:g}) must be below high ({self.high:g})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0, got {self.low:g}")
        return self


class Choices(_Strict):
    """A categorical: one of the choices (unordered)."""

    type: Literal["categorical"]
    choices: list[ParamValue] = Field(min_length=1)


def _parse(value: Any) -> Any:
    """Lists pass through; dicts become a Range or Choices with one clear message per problem."""
    if isinstance(value, (list, tuple, Range, Choices)):
        return value
    if not isinstance(value, dict):
        raise ValueError('expected a list of values or a distribution such as '
                         '{"type": "float", "low": 0.001, "high": 1, "log": true}')
    model = Choices if value.get("type") == "categorical" else Range
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        reasons = []
        for err in exc.errors():
            where = ".".join(map(str, err["loc"]))
            reasons.append(f"{where}: {err['msg']}" if where else err["msg"].removeprefix("Value error, "))
        raise ValueError("; ".join(reasons)) from None


Hyperparameter = Annotated[Union[list[ParamValue], Range, Choices], BeforeValidator(_parse)]


def problems(algo: Algorithm, key: str, hp: Any) -> list[tuple[str, str]]:
    """(path suffix, reason) for each way `hp` does not fit the learner's parameter `key`."""
    if isinstance(hp, list):
        return [(f"[{j}]", reason) for j, v in enumerate(hp) for _, reason in algo.problems({key: v})]
    if isinstance(hp, Choices):
        return [(f".choices[{j}]", reason) for j, v in enumerate(hp.choices) for _, reason in algo.problems({key: v})]
    spec = algo.params.get(key)
    if spec is None:
        return [("", reason) for _, reason in algo.problems({key: hp.low})]
    if spec.type not in ("int", "float"):
        return [(".type", f"{key} is a {spec.type} parameter: give a list of values or a categorical")]
    if hp.type != spec.type:
        return [(".type", f"{key} is an {spec.type}: use \"type\": \"{spec.type}\"" if spec.type == "int"
                 else f"{key} is a float: use \"type\": \"float\"")]
    out = []
    for end in ("low", "high"):
        if (reason := spec.problem(getattr(hp, end))) is not None:
            out.append((f".{end}", reason))
    return out


def is_finite(hp: Any) -> bool:
    return not (isinstance(hp, Range) and hp.type == "float")


def values(hp: Any) -> list[Any]:
    """The values of a finite hyperparameter, in order."""
    if isinstance(hp, Range):
        return list(range(int(hp.low), int(hp.high) + 1))
    return list(hp.choices if isinstance(hp, Choices) else hp)


def size(hp: Any) -> float:
    """How many values a hyperparameter has (inf for a float range)."""
    if isinstance(hp, Range):
        return int(hp.high) - int(hp.low) + 1 if hp.type == "int" else math.inf
    return len(values(hp))


def combinations(algo: Algorithm, params: dict[str, Any]) -> Iterable[dict[str, Any]]:
    """Every combination of a finite candidate's values (keys sorted), coerced, in order, keeping
    only those the learner's cross-parameter rules allow."""
    keys = sorted(params)
    for combo in itertools.product(*(values(params[k]) for k in keys)):
        point = {k: algo.params[k].coerce(v) for k, v in zip(keys, combo)}
        if not algo.problems(point):
            yield point


def space_size(candidates: list[CandidateSpace]) -> float:
    """An upper bound of the number of distinct points (inf when any range is continuous)."""
    return sum(math.prod(size(hp) for hp in c.params.values()) for c in candidates)


def finite_points(candidates: list[CandidateSpace], catalog: dict[str, Algorithm]) -> list[tuple[str, dict]] | None:
    """Every allowed (algorithm, params) point of the space in order, or None when the space is
    continuous or larger than MAX_FINITE_POINTS."""
    if space_size(candidates) > MAX_FINITE_POINTS:
        return None
    points, seen = [], set()
    for cand in candidates:
        for params in combinations(catalog[cand.algorithm], cand.params):
            if (k := point_key(cand.algorithm, params)) not in seen:
                seen.add(k)
                points.append((cand.algorithm, params))
    return points


def point_key(algorithm: str, params: dict[str, Any]) -> str:
    """A canonical text of a point, to spot repeats."""
    return json.dumps([algorithm, params], sort_keys=True)


def draw(hp: Any, spec: ParamSpec, rng: random.Random) -> Any:
    """One value of `hp`, coerced to the parameter's type."""
    if not isinstance(hp, Range):
        return spec.coerce(rng.choice(values(hp)))
    if hp.type == "float":
        if hp.log:
            return math.exp(rng.uniform(math.log(hp.low), math.log(hp.high)))
        return rng.uniform(hp.low, hp.high)
    low, high = int(hp.low), int(hp.high)
    if not hp.log:
        return rng.randint(low, high)
    # log-uniform over the integers: each integer owns [v - 0.5, v + 0.5) in log space
    value = round(math.exp(rng.uniform(math.log(low - 0.5), math.log(high + 0.5))))
    return min(max(int(value), low), high)


# --- Bayesian (Optuna) helpers: imported lazily ---------------------------------------------------

def optuna_distribution(hp: Any):
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(hp, Range):
        if hp.type == "int":
            return IntDistribution(int(hp.low), int(hp.high), log=hp.log)
        return FloatDistribution(hp.low, hp.high, log=hp.log)
    return CategoricalDistribution(_unique(values(hp)))


def optuna_value(hp: Any, spec: ParamSpec, value: Any) -> tuple[bool, Any]:
    """(True, the value as Optuna knows it) for a stored trial value, or (False, None) when the
    value is not in the space (then the trial is left out of the study)."""
    if isinstance(hp, Range):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not hp.low <= value <= hp.high:
            return False, None
        return True, int(value) if hp.type == "int" else float(value)
    for choice in _unique(values(hp)):
        if spec.coerce(choice) == value:
            return True, choice
    return False, None


def _unique(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if not any(type(item) is type(o) and item == o for o in out):
            out.append(item)
    return out


def rung_fractions(min_fraction: float, reduction_factor: int) -> list[float]:
    """The train fractions of successive halving's rungs: min_fraction * reduction_factor**k while
    below 1, then 1.0 (1/9 and 3: 1/9, 1/3, 1)."""
    out, fraction = [], float(min_fraction)
    while fraction < 1 - 1e-9 and len(out) < 64:
        out.append(round(fraction, 9))
        fraction *= reduction_factor
    return out + [1.0]
