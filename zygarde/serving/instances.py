"""Request rows -> ONNX feeds, checked against the model's online input schema.

The schema is the manifest's `online.inputs`: [{"name": column, "input": onnx input, "kind":
"numeric" | "categorical"}]. Values are handled as the Spark pipeline handles them: a number or a
boolean for a numeric column (null -> NaN, which the model imputes); a string for a categorical
column (null -> a value no model has seen, which goes to the "unknown" slot, as unseen categories do).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

MAX_ROWS = 1000
NULL_CATEGORY = "\u0000zygarde:null"  # never a training category: indexes as "unknown", as Spark's null does


class InstanceError(ValueError):
    """A bad request; `field` names what is wrong (e.g. "instances[3].age")."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def _numeric(value: Any, where: str) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return float(value)
    raise InstanceError(where, f"expected a number, got {type(value).__name__} {value!r:.40}")


def _categorical(value: Any, where: str) -> str:
    if value is None:
        return NULL_CATEGORY
    if isinstance(value, str):
        return value
    raise InstanceError(where, f"expected a string, got {type(value).__name__} {value!r:.40}")


def feeds(inputs: list[dict[str, str]], instances: Any, max_rows: int = MAX_ROWS) -> dict[str, np.ndarray]:
    """{onnx input name: [rows, 1] array} for `instances` (a list of {column: value}); raises
    InstanceError naming the first bad field. Columns the model does not read are ignored."""
    if not isinstance(instances, list):
        raise InstanceError("instances", "expected a list of rows ({column: value} objects)")
    if not instances:
        raise InstanceError("instances", "no rows to score")
    if len(instances) > max_rows:
        raise InstanceError("instances", f"{len(instances)} rows; at most {max_rows} per request")
    columns: dict[str, list] = {spec["input"]: [] for spec in inputs}
    for i, row in enumerate(instances):
        if not isinstance(row, dict):
            raise InstanceError(f"instances[{i}]", "expected an object {column: value}")
        for spec in inputs:
            name = spec["name"]
            if name not in row:
                raise InstanceError(f"instances[{i}].{name}", "missing column")
            convert = _numeric if spec["kind"] == "numeric" else _categorical
            columns[spec["input"]].append(convert(row[name], f"instances[{i}].{name}"))
    out = {}
    for spec in inputs:
        values = columns[spec["input"]]
        if spec["kind"] == "numeric":
            out[spec["input"]] = np.asarray(values, dtype=np.float64).reshape(-1, 1)
        else:
            out[spec["input"]] = np.asarray(values, dtype=object).reshape(-1, 1)
    return out
