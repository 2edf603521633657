"""The data report's passes over a wide frame (more than data_report.WIDE_COLUMNS columns), as
group-bys of the frame's cells (zygarde.spark.wide.cells: one (column name, value as text) record per
row and non-null column, built from one star expression). Nothing here builds an expression per
column, so 20,000 columns plan as fast as 20 and no expression tree deepens with the columns.
Each function returns what its narrow counterpart in data_report returns."""
from __future__ import annotations

from typing import Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from zygarde.spark.wide import NAME, TEXT, cells

_INDEX = "zy__i"


def _number() -> Column:
    """The value as a double, NaN as missing (as in the narrow report). Constant SQL text: no user
    text ever reaches the parser."""
    x = F.expr(f"try_cast({TEXT} AS DOUBLE)")
    return F.when(~F.isnan(x), x)


def _time() -> Column:
    return F.expr(f"try_cast({TEXT} AS TIMESTAMP)")


def _indexed(df: DataFrame, names: list[str]) -> DataFrame:
    """(zy__i, zy__name) of `names`, to join the cells with (broadcast: one row per column)."""
    return F.broadcast(df.sparkSession.createDataFrame([(i, n) for i, n in enumerate(names)],
                                                       f"{_INDEX} int, {NAME} string"))


def column_stats(df: DataFrame, fields: list[T.StructField], rows: int, kind_of, exact_max_rows: int) -> dict[str, Any]:
    """n{i} (missing values), d{i} (distinct), lo{i} / hi{i} (min / max), m{i} (mean) of each field,
    keyed as data_report._narrow_stats keys them, in one shuffle of the cells."""
    count = F.count_distinct if rows <= exact_max_rows else F.approx_count_distinct
    found = {r[NAME]: r for r in cells(df).groupBy(NAME).agg(
        F.count(F.lit(1)).alias("present"), F.count_if(F.col(TEXT) == "NaN").alias("nan"),
        count(TEXT).alias("d"), F.min(_number()).alias("lo"), F.max(_number()).alias("hi"),
        F.avg(_number()).alias("m"), F.min(_time()).alias("tlo"), F.max(_time()).alias("thi")).collect()}
    out: dict[str, Any] = {}
    for i, f in enumerate(fields):
        kind, r = kind_of(f.dataType), found.get(f.name)
        floating = isinstance(f.dataType, (T.FloatType, T.DoubleType))
        nan = int(r["nan"]) if r is not None and floating else 0
        present = int(r["present"]) - nan if r is not None else 0
        out[f"n{i}"] = rows - present
        if kind != "other":
            out[f"d{i}"] = (int(r["d"]) - (1 if nan else 0)) if r is not None else 0
        if r is None:
            continue
        if kind == "numeric":
            integral = isinstance(f.dataType, T.IntegralType)
            out.update({f"lo{i}": int(r["lo"]) if integral and r["lo"] is not None else r["lo"],
                        f"hi{i}": int(r["hi"]) if integral and r["hi"] is not None else r["hi"], f"m{i}": r["m"]})
        elif kind == "temporal":
            date = isinstance(f.dataType, T.DateType)
            out.update({f"lo{i}": r["tlo"].date() if date and r["tlo"] else r["tlo"],
                        f"hi{i}": r["thi"].date() if date and r["thi"] else r["thi"]})
    return out


def top_values(df: DataFrame, names: list[str], top: int) -> dict[str, list]:
    """The `top` most frequent values (as text) of each of `names`, in one shuffle."""
    if not names:
        return {}
    counts = cells(df).join(_indexed(df, names), NAME).groupBy(_INDEX, TEXT).count()
    rank = F.row_number().over(Window.partitionBy(_INDEX).orderBy(F.desc("count"), F.asc(TEXT)))
    out: dict[str, list] = {n: [] for n in names}
    for r in counts.withColumn("r", rank).where(F.col("r") <= top).orderBy(_INDEX, "r").collect():
        out[names[r[_INDEX]]].append([r[TEXT], int(r["count"])])
    return out


def correlations(df: DataFrame, names: list[str], y: Column) -> dict[str, float]:
    """Pearson r of each of `names` (numeric) with y."""
    import math

    if not names:
        return {}
    found = (cells(df, y.alias("zy__y")).join(_indexed(df, names), NAME)
             .groupBy(_INDEX).agg(F.corr(_number(), F.col("zy__y")).alias("c")).collect())
    return {names[r[_INDEX]]: r["c"] for r in found if r["c"] is not None and math.isfinite(r["c"])}


def purity_counts(df: DataFrame, names: list[str], key: Column) -> dict[str, tuple[int, int]]:
    """Per column of `names`: (rows with a value, rows whose value's most common class is theirs)."""
    if not names:
        return {}
    counts = (cells(df, key.alias("zy__k")).join(_indexed(df, names), NAME)
              .groupBy(_INDEX, TEXT, "zy__k").count()
              .groupBy(_INDEX, TEXT).agg(F.sum("count").alias("n"), F.max("count").alias("top"))
              .groupBy(_INDEX).agg(F.sum("n").alias("n"), F.sum("top").alias("top")).collect())
    return {names[r[_INDEX]]: (int(r["n"]), int(r["top"])) for r in counts}
