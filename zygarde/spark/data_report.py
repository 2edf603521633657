"""The data report of a job: schema, per-column statistics, class balance, warnings, and the problems
that stop the job before any trial (target missing, one class, non-numeric regression target, too few
rows, failed user expectations).

`build_report` reads the (cached) frame in a few aggregation passes; a wide frame (more than
WIDE_COLUMNS columns) is read as one record per (row, column) built in the JVM from one star
expression (zygarde.spark.wide_report), so that 20,000 columns take as many passes as ten, plan in
bounded memory and cost no round trip per column; the rules that turn statistics into warnings
and problems are plain functions of those statistics. Values of secret-looking columns (a name such
as password or email, or nearly every value distinct) stay out of the report: only their counts.
"""
from __future__ import annotations

import datetime as dt
import decimal
import logging
import math
from typing import Any

from pyspark.ml.linalg import VectorUDT
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from zygarde.domain.algorithms import BINARY, CLASSIFICATION, CLUSTERING, REGRESSION
from zygarde.spark.dataset import MAX_CLASSES, column, describe_columns
from zygarde.spark.expectations import plan as expectations_plan
from zygarde.spark.features import RESERVED
from zygarde.spark import wide, wide_report
from zygarde.spark.privacy import withhold_values

log = logging.getLogger(__name__)

MOSTLY_NULL = 0.5  # null fraction from which a column is "mostly null"
ID_LIKE = 0.95  # distinct / non-null values from which a string or integer column looks like an identifier
LEAK_CORRELATION = 0.99  # |Pearson r| with the target from which a numeric feature looks like the target
LEAK_PURITY = 0.99  # share of rows whose class the feature's value alone determines
LEAK_MAX_VALUES = 50  # only features with at most this many values (and 20+ rows a value) are checked for purity
LEAK_ROWS_PER_VALUE = 20
MIN_ROWS_FOR_HEURISTICS = 20  # identifier and leak warnings need at least this many rows
EXACT_DISTINCT_MAX_ROWS = 1_000_000  # exact distinct counts up to this many rows, HyperLogLog++ (5%) beyond
TOP = 5  # most frequent values listed per categorical column
TOP_MAX_DISTINCT = 10_000  # columns with more values get no top list
WIDE_COLUMNS = wide.WIDE_COLUMNS  # from this many columns statistics are computed per (row, column) record


# ---- rules: statistics -> warnings and problems (no Spark) ----

def kind_of(dtype: T.DataType) -> str:
    if isinstance(dtype, T.NumericType):
        return "numeric"
    if isinstance(dtype, T.BooleanType):
        return "boolean"
    if isinstance(dtype, T.StringType):
        return "string"
    if isinstance(dtype, (T.DateType, T.TimestampType, T.TimestampNTZType)):
        return "temporal"
    return "other"  # vectors, arrays, maps, structs: nulls only


def part_sizes(n: int, validation_fraction: float, test_fraction: float) -> tuple[int, int, int]:
    """(train, validation, test) rows for a stratum of n rows. Train gets the first row, validation
    the second, test the third; beyond that the fractions are rounded, train keeping the rest."""
    validation = min(max(1, round(n * validation_fraction)), n - 1) if n >= 2 else 0
    test = max(1, round(n * test_fraction)) if n >= 3 and test_fraction > 0 else 0
    while n - validation - test < 1:  # rounding left train empty: give back from the larger part
        if test >= validation and test > 1:
            test -= 1
        else:
            validation -= 1
    return n - validation - test, validation, test


def warning(column_name: str | None, kind: str, message: str) -> dict[str, Any]:
    return {"column": column_name, "kind": kind, "message": message}


def column_warnings(columns: dict[str, dict], row_count: int, target: str | None) -> list[dict]:
    """Constant, mostly null and identifier-like columns."""
    out = []
    for name, s in columns.items():
        if name == target:
            continue
        if s["null_fraction"] >= MOSTLY_NULL:
            out.append(warning(name, "mostly_null", f"column {name!r} is {s['null_fraction']:.0%} empty"))
        distinct, present = s.get("distinct"), row_count - s["nulls"]
        if distinct == 1:
            out.append(warning(name, "constant", f"column {name!r} has a single value; it cannot help the model"))
        elif (distinct is not None and present >= MIN_ROWS_FOR_HEURISTICS and s["type"] in _ID_TYPES
              and distinct >= ID_LIKE * present):
            out.append(warning(name, "id_like", f"column {name!r} has a distinct value in almost every row "
                                                "(an identifier?); consider excluding it"))
    return out


_ID_TYPES = ("string", "tinyint", "smallint", "int", "bigint")


def schema_findings(df: DataFrame, target: str | None) -> tuple[list[str], list[dict]]:
    """Columns every trial would trip on (model output names) or leave out (unsupported types)."""
    problems, warnings = [], []
    for f in df.schema.fields:
        if f.name == target:
            continue
        if f.name in RESERVED:
            problems.append(f"column {f.name!r} clashes with a model output column; rename or exclude it")
        elif kind_of(f.dataType) not in ("numeric", "boolean", "string") and not isinstance(f.dataType, VectorUDT):
            warnings.append(warning(f.name, "unused_type", f"column {f.name!r} has type "
                                                           f"{f.dataType.simpleString()}, which the models do not use"))
    return problems, warnings


def class_problems(target: str, task: str, balance: dict[str, int], n_distinct: int) -> list[str]:
    if n_distinct > MAX_CLASSES:
        return [f"target {target!r} has more than {MAX_CLASSES} distinct values; is it a regression target?"]
    if n_distinct < 2:
        only = f" ({next(iter(balance))!r})" if balance else ""
        return [f"target {target!r} has {n_distinct} distinct value{'' if n_distinct == 1 else 's'}{only}; "
                "classification needs at least 2 classes"]
    if task == BINARY and n_distinct != 2:
        return [f"binary_classification needs exactly 2 distinct values in target {target!r}, found "
                f"{n_distinct} ({', '.join(list(balance)[:5])})"]
    return []


def small_class_warnings(target: str, balance: dict[str, int], validation_fraction: float,
                         test_fraction: float) -> list[dict]:
    out = []
    for label, n in balance.items():
        train, validation, test = part_sizes(n, validation_fraction, test_fraction)
        if validation == 0 or (test == 0 and test_fraction > 0):
            out.append(warning(target, "small_class", f"class {label!r} has only {n} row{'s' * (n != 1)}: "
                                                       f"{train} train, {validation} validation, {test} test"))
    return out


def leak_warnings(correlations: dict[str, float], purities: dict[str, float], target: str) -> list[dict]:
    out = []
    for name in dict.fromkeys([*correlations, *purities]):
        r, purity = correlations.get(name), purities.get(name)
        if r is not None and abs(r) >= LEAK_CORRELATION:
            why = f"correlates with the target almost perfectly (r={r:.4f})"
        elif purity is not None and purity >= LEAK_PURITY:
            why = f"determines the class of {purity:.1%} of rows on its own"
        else:
            continue
        out.append(warning(name, "target_leak", f"column {name!r} {why}; is it the target {target!r} in "
                                                "disguise? exclude it if it is not known at prediction time"))
    return out


def _plain(value: Any) -> Any:
    """A JSON-able scalar: Decimal -> float, dates -> ISO text, NaN/inf -> None."""
    if isinstance(value, decimal.Decimal):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


# ---- Spark passes ----

def _missing(df: DataFrame, name: str) -> Column:
    c = column(name)
    if isinstance(df.schema[name].dataType, (T.FloatType, T.DoubleType)):
        return c.isNull() | F.isnan(c)
    return c.isNull()


def _value(df: DataFrame, name: str) -> Column:
    """The column with NaN as null."""
    return F.when(~_missing(df, name), column(name))


def _column_stats(df: DataFrame, extra_aggs: list) -> tuple[int, dict[str, dict], Any]:
    """Rows, then per column nulls, distinct values, min / max / mean: two aggregation passes
    (distinct counts on their own: mixed with other aggregates they make Spark expand every row;
    a wide frame goes through wide_report, as one pass plans n x n expressions for n distinct counts)."""
    fields = list(df.schema.fields)
    if len(fields) > WIDE_COLUMNS:
        row = df.agg(F.count(F.lit(1)).alias("rows"), *extra_aggs).first().asDict()
        row.update(wide_report.column_stats(df, fields, int(row["rows"]), kind_of, EXACT_DISTINCT_MAX_ROWS))
    else:
        row = _narrow_stats(df, fields, extra_aggs)
    rows = int(row["rows"])
    columns = {}
    for i, f in enumerate(fields):
        nulls = int(row[f"n{i}"])
        columns[f.name] = {"type": f.dataType.simpleString(), "nulls": nulls,
                           "null_fraction": nulls / rows if rows else 0.0, "distinct": row.get(f"d{i}"),
                           "min": _plain(row.get(f"lo{i}")), "max": _plain(row.get(f"hi{i}")),
                           "mean": _plain(row.get(f"m{i}")), "top": []}
    return rows, columns, row


def _narrow_stats(df: DataFrame, fields: list, extra_aggs: list) -> dict[str, Any]:
    aggs = [F.count(F.lit(1)).alias("rows"), *extra_aggs]
    distincts = []
    for i, f in enumerate(fields):
        kind, value = kind_of(f.dataType), _value(df, f.name)
        aggs.append(F.count_if(_missing(df, f.name)).alias(f"n{i}"))
        if kind != "other":
            distincts.append((i, value))
        if kind in ("numeric", "temporal"):
            aggs += [F.min(value).alias(f"lo{i}"), F.max(value).alias(f"hi{i}")]
        if kind == "numeric":
            aggs.append(F.avg(value.cast("double")).alias(f"m{i}"))
    row = df.agg(*aggs).first().asDict()
    if distincts:
        count = F.count_distinct if int(row["rows"]) <= EXACT_DISTINCT_MAX_ROWS else F.approx_count_distinct
        row.update(df.agg(*[count(value).alias(f"d{i}") for i, value in distincts]).first().asDict())
    return row


def _top_values(df: DataFrame, names: list[str]) -> dict[str, list]:
    """The TOP most frequent values of each column, in one shuffle."""
    if not names:
        return {}
    if len(df.columns) > WIDE_COLUMNS:
        return wide_report.top_values(df, names, TOP)
    pairs = F.explode(F.array(*[F.struct(F.lit(i).alias("i"), column(n).cast("string").alias("v"))
                                for i, n in enumerate(names)]))
    counts = df.select(pairs.alias("p")).select("p.i", "p.v").where(F.col("v").isNotNull()).groupBy("i", "v").count()
    rank = F.row_number().over(Window.partitionBy("i").orderBy(F.desc("count"), F.asc("v")))
    out: dict[str, list] = {n: [] for n in names}
    for r in counts.withColumn("r", rank).where(F.col("r") <= TOP).orderBy("i", "r").collect():
        out[names[r["i"]]].append([r["v"], int(r["count"])])
    return out


def _class_balance(df: DataFrame, key: Column) -> dict[str, int]:
    rows = (df.select(key.alias("k")).where(F.col("k").isNotNull()).groupBy("k").count()
            .orderBy(F.desc("count"), F.asc("k")).limit(MAX_CLASSES + 1).collect())
    return {r["k"]: int(r["count"]) for r in rows}


def _correlations(df: DataFrame, names: list[str], y: Column) -> dict[str, float]:
    if not names:
        return {}
    if len(df.columns) > WIDE_COLUMNS:
        return wide_report.correlations(df, names, y)
    row = df.agg(*[F.corr(_value(df, n).cast("double"), y).alias(f"c{i}") for i, n in enumerate(names)]).first()
    return {n: row[f"c{i}"] for i, n in enumerate(names) if row[f"c{i}"] is not None and math.isfinite(row[f"c{i}"])}


def _purities(df: DataFrame, names: list[str], key: Column) -> dict[str, float]:
    """Per feature: the share of (non-null) rows whose value's most common class is their class."""
    if not names:
        return {}
    if len(df.columns) > WIDE_COLUMNS:
        counts = wide_report.purity_counts(df, names, key)
        return {name: top / n for name, (n, top) in counts.items() if n >= MIN_ROWS_FOR_HEURISTICS}
    triples = F.explode(F.array(*[F.struct(F.lit(i).alias("i"), column(n).cast("string").alias("v"))
                                  for i, n in enumerate(names)]))
    counts = (df.select(triples.alias("p"), key.alias("k")).select("p.i", "p.v", "k").where(F.col("v").isNotNull())
              .groupBy("i", "v", "k").count().groupBy("i", "v").agg(F.sum("count").alias("n"),
                                                                     F.max("count").alias("top"))
              .groupBy("i").agg(F.sum("n").alias("n"), F.sum("top").alias("top")).collect())
    return {names[r["i"]]: r["top"] / r["n"] for r in counts if r["n"] >= MIN_ROWS_FOR_HEURISTICS}


def target_key(df: DataFrame, target: str) -> Column:
    """The class of a row as text (null when the target is missing), as the trial indexes it."""
    return F.when(~_missing(df, target), column(target).cast("string"))


def build_report(df: DataFrame, *, target: str, task: str, validation_fraction: float, test_fraction: float,
                 expectations: dict[str, dict] | None = None, min_rows: int = 20) -> dict[str, Any]:
    """The data report of `df` (already selected and filtered; cache it: this reads it a few times)."""
    supervised = task != CLUSTERING
    has_target = supervised and target in df.columns
    problems: list[str] = []
    if supervised and not has_target:
        problems.append(f"target column {target!r} is not in the dataset (columns: {describe_columns(df)})")
    checks = expectations_plan(df, expectations)
    rows, columns, stats = _column_stats(df, checks.aggregations)
    schema_problems, warnings = schema_findings(df, target if has_target else None)
    problems += schema_problems
    warnings += column_warnings(columns, rows, target if has_target else None)

    tops = _top_values(df, [f.name for f in df.schema.fields if kind_of(f.dataType) in ("string", "boolean")
                            and (columns[f.name]["distinct"] or 0) <= TOP_MAX_DISTINCT])
    for name, top in tops.items():
        columns[name]["top"] = top
    withhold_values(columns, rows, target if has_target else None)

    features = [f for f in df.schema.fields if f.name != target or not supervised]
    if not any(kind_of(f.dataType) in ("numeric", "boolean", "string") or isinstance(f.dataType, VectorUDT)
               for f in features):
        problems.append("no feature columns besides the target")
    balance, rows_with_target = None, rows
    if has_target:
        dtype, key = df.schema[target].dataType, target_key(df, target)
        rows_with_target = rows - columns[target]["nulls"]
        if rows_with_target < rows:
            warnings.append(warning(target, "target_nulls", f"{rows - rows_with_target} rows have no target "
                                                            "value and are left out"))
        if task in CLASSIFICATION:
            balance = _class_balance(df, key)
            columns[target]["top"] = [[k, v] for k, v in list(balance.items())[:TOP]]
            problems += class_problems(target, task, balance, len(balance))
            warnings += small_class_warnings(target, balance, validation_fraction, test_fraction)
        elif task == REGRESSION and not isinstance(dtype, (T.NumericType, T.BooleanType)):
            problems.append(f"regression needs a numeric target; column {target!r} has type {dtype.simpleString()}")
        if not problems and rows_with_target >= MIN_ROWS_FOR_HEURISTICS:
            warnings += _leaks(df, target, task, columns, warnings, balance, rows_with_target)
    if rows_with_target < min_rows:
        where = "with a target value" if has_target else "in the dataset"
        problems.append(f"only {rows_with_target} rows {where} (after the column selection and row filter); "
                        f"at least {min_rows} are needed")

    expectation_problems, expectation_warnings = checks.findings(stats)
    problems += expectation_problems
    warnings += expectation_warnings
    return {"schema": [{"name": f.name, "type": f.dataType.simpleString(), "nullable": f.nullable}
                       for f in df.schema.fields],
            "target": target if supervised else None, "task": task, "row_count": rows,
            "rows_with_target": rows_with_target, "columns": columns, "class_balance": balance,
            "warnings": warnings, "problems": problems}


def _leaks(df: DataFrame, target: str, task: str, columns: dict[str, dict], warnings: list[dict],
           balance: dict[str, int] | None, rows: int) -> list[dict]:
    """Features that look like the target: near-perfect correlation (regression, binary) or values
    that alone decide the class (classification, few-valued features that are not identifiers)."""
    id_like = {w["column"] for w in warnings if w["kind"] in ("id_like", "constant")}
    fields = [f for f in df.schema.fields if f.name != target and f.name not in id_like]
    present = df.where(~_missing(df, target))
    numeric = [f.name for f in fields if kind_of(f.dataType) == "numeric"]
    correlations: dict[str, float] = {}
    if task == REGRESSION:
        correlations = _correlations(present, numeric, column(target).cast("double"))
    elif task == BINARY and balance and len(balance) == 2:
        positive = sorted(balance)[1]  # the class the trial indexes 1 (alphabetical order)
        correlations = _correlations(present, numeric, (target_key(df, target) == positive).cast("double"))
    purities: dict[str, float] = {}
    if task in CLASSIFICATION:
        most = max(2, min(LEAK_MAX_VALUES, rows // LEAK_ROWS_PER_VALUE))  # purity of many rare values means little
        few = [f.name for f in fields if kind_of(f.dataType) in ("numeric", "string", "boolean")
               and 2 <= (columns[f.name]["distinct"] or 0) <= most]
        purities = _purities(present, few, target_key(df, target))
    return leak_warnings(correlations, purities, target)
