"""A job's row filter compiled to Spark Column expressions, inside the preparation batch.

The tree (zygarde.domain.row_filter) is checked again here, so a tree forged past submission is
refused, then built from F.col / F.lit / Column operators and the named pyspark functions of
FUNCTIONS only: no user text ever reaches Spark's SQL parser (never F.expr, never spark.sql). A LIKE
runs as `rlike` of the regex zygarde.domain.like_patterns builds from the pattern, which never
backtracks past a wildcard.
"""
from __future__ import annotations

import functools
import operator
from typing import Any, Callable

from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from zygarde.domain import like_patterns, row_filter
from zygarde.domain.row_filter import RowFilterError, to_text
from zygarde.spark.dataset import column, describe_columns

FUNCTIONS: dict[str, Callable[..., Column]] = {
    "lower": F.lower, "upper": F.upper, "length": F.length, "trim": F.trim, "ltrim": F.ltrim, "rtrim": F.rtrim,
    "substring": lambda c, pos, n: F.substring(c, pos, n), "concat": F.concat,
    "abs": F.abs, "round": lambda c, scale=0: F.round(c, scale), "floor": F.floor, "ceil": F.ceil, "sqrt": F.sqrt,
    "coalesce": F.coalesce, "greatest": F.greatest, "least": F.least,
    "to_date": F.to_date, "year": F.year, "month": F.month, "day": F.dayofmonth, "dayofweek": F.dayofweek,
    "hour": F.hour, "minute": F.minute,
}
_BINARY: dict[str, Callable[[Column, Column], Column]] = {
    "=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv, "%": operator.mod,
}
assert set(FUNCTIONS) == set(row_filter.FUNCTIONS), "the domain allow-list and its compilation must agree"


def _compile(node: dict) -> Column:
    if "col" in node:
        return column(node["col"])
    if "lit" in node:
        return F.lit(node["lit"])
    if "fn" in node:
        name, args = node["fn"], node["args"]
        values: list[Any] = [a["lit"] if (name, i) in row_filter.INTEGER_ARGS else _compile(a)
                             for i, a in enumerate(args)]
        return FUNCTIONS[name](*values)
    op, args = node["op"], node["args"]
    if op in ("and", "or"):
        return functools.reduce(operator.and_ if op == "and" else operator.or_, [_compile(a) for a in args])
    if op == "not":
        return ~_compile(args[0])
    if op == "neg":
        return -_compile(args[0])
    if op == "in":
        return _compile(args[0]).isin(*[F.lit(a["lit"]) for a in args[1:]])
    if op == "is_null":
        return _compile(args[0]).isNull()
    if op == "is_not_null":
        return _compile(args[0]).isNotNull()
    if op == "like":  # Spark's own like backtracks (a pattern of many % held a batch for minutes)
        return _compile(args[0]).rlike(like_patterns.to_regex(args[1]["lit"]))
    return _BINARY[op](_compile(args[0]), _compile(args[1]))


def compile_filter(tree: Any) -> Column:
    """The Column of a filter tree; raises RowFilterError for anything the allow-list does not know."""
    return _compile(row_filter.check(tree))


def apply(df: DataFrame, tree: Any) -> tuple[DataFrame, str | None]:
    """(the rows that meet the filter, None), or (df, the reason it cannot be applied). The reason
    names the filter's problem: never a raw Spark error or a value computed by Spark."""
    try:
        condition = compile_filter(tree)
    except RowFilterError as exc:
        return df, f"row_filter is refused: {exc}"
    checked = row_filter.check(tree)
    text = to_text(checked)
    unknown = [c for c in row_filter.columns(checked) if c not in df.columns]
    if unknown:
        return df, (f"row_filter {text} names columns that are not in the dataset (after the column "
                    f"selection): {', '.join(unknown)} (columns: {describe_columns(df)})")
    try:
        return df.filter(condition), None
    except Exception as exc:  # noqa: BLE001 - analysis errors mostly; Spark's own text is never shown
        condition_name = exc.getCondition() if isinstance(exc, AnalysisException) else None
        kind = (condition_name or "").split(".")[-1].replace("_", " ").lower() or type(exc).__name__
        used = {f.name: f.dataType.simpleString() for f in df.schema.fields}
        types = ", ".join(f"{c} {used[c]}" for c in row_filter.columns(checked))
        return df, (f"row_filter {text} does not fit this dataset's column types ({kind}; "
                    f"columns used: {types or 'none'})")


def value_failure(tree: Any, why: str) -> str:
    """The reason of a preparation that a value broke while the filter was computed on it (an ANSI
    cast, an overflow, a division by zero): the filter and what went wrong, never the value."""
    try:
        text = to_text(row_filter.check(tree))
    except RowFilterError:
        text = "(as given)"
    return f"row_filter {text} cannot be computed on this dataset's values: {why}"
