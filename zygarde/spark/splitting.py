"""Which part (train / validation / test) or cross-validation fold a row falls in.

Row-wise (the default), as sklearn's train_test_split and Spark's randomSplit: the copies of an
identical row are numbered 1..k and each row is hashed with its content, its copy number and the
seed, so copies are split independently. Copies are interchangeable, so the outcome depends on
neither partitioning nor row or column order, and the same seed and data give the same parts.

By group (data.group_by), as sklearn's GroupShuffleSplit: every row of a group shares the hash of
its group key and the seed, so a group never spans two parts or folds. Groups are stratified by
their most frequent class and cut where their cumulative rows reach the fractions.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from zygarde.domain.errors import DatasetError
from zygarde.spark.dataset import column
from zygarde.spark.wide import select_names

EXACT_MAX = 100_000  # strata (or fold assignments) of up to this many rows or groups are cut exactly
_GROUP, _STRATUM, _ROWS, _PART = "zy__group", "zy__stratum", "zy__group_rows", "zy__part"
_DIGEST, _TIE_BREAK = "zy__digest", "zy__tie_break"


def _hashable(df: DataFrame, names: list[str]) -> list[Column]:
    """The columns in name order (column order is no matter); maps, which Spark cannot group, as JSON."""
    fields = {f.name: f for f in df.schema.fields}
    return [F.to_json(column(n)) if isinstance(fields[n].dataType, T.MapType) else column(n) for n in sorted(names)]


def with_row_key(df: DataFrame, seed: int, name: str, salt: str = "") -> DataFrame:
    """Adds `name`: a 64-bit hash of (seed, salt, row content, copy number among identical rows).
    The content is hashed in column name order: by star expressions over the columns selected in
    that order (one call each, however wide the frame), the frame's own order put back after."""
    columns = df.columns
    if any(isinstance(f.dataType, T.MapType) for f in df.schema.fields):  # maps hash as JSON: rare, explicit
        content = _hashable(df, columns)
        keyed = df.withColumn(_DIGEST, F.xxhash64(*content)).withColumn(_TIE_BREAK,
                                                                       F.xxhash64(F.lit("copies"), *content))
    else:
        # Copies share the digest; a second hash orders the (2^-64 rare) distinct rows that share it too.
        # Two hashed longs keep the window cheap on wide data, where the columns themselves would not.
        keyed = select_names(df, sorted(columns)).select(
            F.col("*"), F.xxhash64(F.col("*")).alias(_DIGEST), F.xxhash64(F.lit("copies"), F.col("*")).alias(_TIE_BREAK))
    copy = F.row_number().over(Window.partitionBy(_DIGEST).orderBy(_TIE_BREAK))
    keyed = keyed.withColumn(name, F.xxhash64(F.lit(seed), F.lit(salt), F.col(_DIGEST), copy))
    return select_names(keyed, [*columns, name])


def group_key(df: DataFrame, seed: int, group_by: list[str], salt: str = "") -> Column:
    """A 64-bit hash of (seed, salt, group key); rows with missing group values form their own groups."""
    return F.xxhash64(F.lit(seed), F.lit(salt), *_hashable(df, group_by))


def _threshold(q: float) -> int:
    """The signed 64-bit hash below which a share q of uniformly hashed keys falls."""
    return min(-(2 ** 63) + int(q * 2 ** 64), 2 ** 63 - 1)


def _part_by_share(share: Column, validation_fraction: float, test_fraction: float) -> Column:
    train_end = 1.0 - validation_fraction - test_fraction
    return F.when(share < train_end, "train").when(share < 1.0 - test_fraction, "validation").otherwise("test")


def part_by_hash(key: Column, validation_fraction: float, test_fraction: float) -> Column:
    """train / validation / test by where a uniform 64-bit hash falls."""
    train_end = _threshold(1.0 - validation_fraction - test_fraction)
    validation_end = _threshold(1.0 - test_fraction) if test_fraction > 0 else 2 ** 63 - 1
    return F.when(key < F.lit(train_end), "train").when(key < F.lit(validation_end), "validation").otherwise("test")


def assign_group_parts(df: DataFrame, *, seed: int, validation_fraction: float, test_fraction: float,
                       group_by: list[str], stratum: Column) -> tuple[DataFrame, dict[str, int]]:
    """(df with _PART, groups per part). Each group takes the stratum of its most frequent class (ties:
    the first class by name); within a stratum groups are ordered by hash and a group goes to the part
    where the middle of its rows falls on the stratum's cumulative row count, so part row shares are
    near the fractions. Strata of more than EXACT_MAX groups are cut at hash thresholds."""
    keyed = df.withColumn(_GROUP, group_key(df, seed, group_by)).withColumn(_STRATUM, stratum)
    per_class = keyed.groupBy(_GROUP, _STRATUM).agg(F.count(F.lit(1)).alias(_ROWS))
    by_group = Window.partitionBy(_GROUP)
    groups = (per_class
              .withColumn("zy__rank", F.row_number().over(by_group.orderBy(F.desc(_ROWS), F.col(_STRATUM).asc_nulls_last())))
              .withColumn("zy__total", F.sum(_ROWS).over(by_group))
              .where(F.col("zy__rank") == 1)
              .select(_GROUP, _STRATUM, F.col("zy__total").alias(_ROWS))).cache()
    try:
        sizes = {r[_STRATUM]: int(r["count"]) for r in groups.groupBy(_STRATUM).count().collect()}
        exact = [s for s, n in sizes.items() if n <= EXACT_MAX]
        in_exact = F.col(_STRATUM).isin(exact)  # strata are never null: rows without a target are left out
        ordered = Window.partitionBy(_STRATUM).orderBy(_GROUP)
        before = F.coalesce(F.sum(_ROWS).over(ordered.rowsBetween(Window.unboundedPreceding, -1)), F.lit(0))
        total = F.sum(_ROWS).over(Window.partitionBy(_STRATUM))
        share = (before + F.col(_ROWS) / 2.0) / total
        parts = groups.withColumn(_PART, F.when(in_exact, _part_by_share(share, validation_fraction, test_fraction))
                                  .otherwise(part_by_hash(F.col(_GROUP), validation_fraction, test_fraction)))
        parts = parts.select(_GROUP, _PART).cache()
        per_part = {r[_PART]: int(r["count"]) for r in parts.groupBy(_PART).count().collect()}
    finally:
        groups.unpersist()
    assigned = keyed.drop(_STRATUM).join(parts, _GROUP).drop(_GROUP)
    return assigned, per_part


def with_fold(df: DataFrame, *, seed: int, k: int, name: str, group_by: list[str] | None = None) -> DataFrame:
    """Adds `name` (0..k-1). Row-wise: the row key (copies numbered) mod k. By group: groups ordered by
    hash are dealt to folds in turn (every fold gets one when there are k groups), or, beyond EXACT_MAX
    groups, the group hash mod k."""
    if not group_by:
        return with_row_key(df, seed, name, salt="fold").withColumn(name, F.pmod(F.col(name), F.lit(k)))
    keyed = df.withColumn(_GROUP, group_key(df, seed, group_by, salt="fold"))
    groups = keyed.select(_GROUP).distinct()
    n = groups.count()
    if n < k:
        raise DatasetError(f"the training part has {n} groups of {', '.join(group_by)}: too few for {k}-fold "
                           "cross-validation by group")
    if n <= EXACT_MAX:
        folds = groups.withColumn(name, F.pmod(F.row_number().over(Window.orderBy(_GROUP)) - 1, F.lit(k)))
    else:
        folds = groups.withColumn(name, F.pmod(F.col(_GROUP), F.lit(k)))
    return keyed.join(folds, _GROUP).drop(_GROUP)
