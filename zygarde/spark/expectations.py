"""A job's expectations on its columns: {column: {type, min, max, allowed, severity}}.

`plan` checks what the schema alone can tell and adds aggregations to the report's statistics
pass; `findings` reads that pass's row. A failed expectation is a problem (the job fails) unless its
severity is "warning".
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from zygarde.spark.dataset import column
from zygarde.spark.privacy import secret_name

KEYS = ("type", "min", "max", "allowed", "severity")
TYPES = {"numeric": T.NumericType, "integer": T.IntegralType, "string": T.StringType, "boolean": T.BooleanType,
         "date": T.DateType, "timestamp": T.TimestampType}


@dataclass
class Plan:
    aggregations: list[Column] = field(default_factory=list)
    checks: list[tuple[str, str, str, str]] = field(default_factory=list)  # column, key, count alias, example alias
    problems: list[str] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    specs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def report(self, name: str, message: str) -> None:
        if self.specs[name].get("severity") == "warning":
            self.warnings.append({"column": name, "kind": "expectation", "message": message})
        else:
            self.problems.append(message)

    def findings(self, row: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
        """(problems, warnings) once the statistics pass has run."""
        for name, key, count_alias, example_alias in self.checks:
            count = int(row[count_alias] or 0)
            if count:
                self.report(name, _message(name, key, count, row[example_alias], self.specs[name]))
        return self.problems, self.warnings


def _value(df: DataFrame, name: str) -> Column:
    """The column with NaN as null."""
    c = column(name)
    return F.when(~F.isnan(c), c) if isinstance(df.schema[name].dataType, (T.FloatType, T.DoubleType)) else c


def _type_issue(name: str, expected: Any, dtype: T.DataType) -> str | None:
    wanted = TYPES.get(str(expected).lower())
    ok = isinstance(dtype, wanted) if wanted else dtype.simpleString() == str(expected).lower()
    return None if ok else f"column {name!r} has type {dtype.simpleString()}, expected {expected}"


def _message(name: str, key: str, count: int, example: Any, spec: dict[str, Any]) -> str:
    """What failed, with an example value, unless the column's name says its values are secret
    (password, token, email...: zygarde.spark.privacy), whose values never reach a reason."""
    rows = f"{count} row{'s' * (count != 1)} of column {name!r}"
    shown = not secret_name(name)
    if key == "min":
        return f"{rows} are below the expected minimum {spec['min']}" + (f" (lowest {example})" if shown else "")
    if key == "max":
        return f"{rows} are above the expected maximum {spec['max']}" + (f" (highest {example})" if shown else "")
    return f"{rows} have values outside the allowed ones" + (f" (e.g. {example!r})" if shown else "")


def plan(df: DataFrame, expectations: dict[str, dict[str, Any]] | None) -> Plan:
    out = Plan()
    for i, (name, spec) in enumerate(sorted((expectations or {}).items())):
        if name not in df.columns:
            out.problems.append(f"expectations name column {name!r}, which is not in the dataset")
            continue
        unknown = sorted(set(spec) - set(KEYS))
        if unknown:
            out.problems.append(f"unknown expectation {unknown[0]!r} for column {name!r} (use: type, min, max, allowed)")
            continue
        out.specs[name] = spec
        dtype, value = df.schema[name].dataType, _value(df, name)
        if "type" in spec and (issue := _type_issue(name, spec["type"], dtype)):
            out.report(name, issue)
        for key in ("min", "max"):
            if spec.get(key) is None:
                continue
            if not isinstance(dtype, T.NumericType):
                out.problems.append(f"a {key} expectation needs a numeric column; {name!r} has type "
                                    f"{dtype.simpleString()}")
                continue
            bad, extreme = (value < F.lit(spec[key]), F.min(value)) if key == "min" else \
                (value > F.lit(spec[key]), F.max(value))
            out.aggregations += [F.count_if(bad).alias(f"e{i}{key}"), extreme.alias(f"e{i}{key}x")]
            out.checks.append((name, key, f"e{i}{key}", f"e{i}{key}x"))
        if spec.get("allowed") is not None:
            allowed = [str(v).lower() if isinstance(v, bool) else str(v) for v in spec["allowed"]]
            text = value.cast("string")
            bad = text.isNotNull() & ~text.isin(allowed)
            out.aggregations += [F.count_if(bad).alias(f"e{i}allowed"), F.min(F.when(bad, text)).alias(f"e{i}allowedx")]
            out.checks.append((name, "allowed", f"e{i}allowed", f"e{i}allowedx"))
    return out
