"""Whole-frame expressions built in the JVM, so that a frame of 10,000 or 20,000 columns costs a
handful of py4j round trips instead of several per column (each takes a millisecond or more, tens
under load), and no expression grows deeper with the columns.

- `jvm_seq`: a Scala Seq of strings from one joined string, split in the JVM.
- `select_names`: columns chosen by name, in one call.
- `cells`: the frame as (column name, value as text) records, from one star expression
  (to_json of the row's struct, read back as a map): a column's statistics become a group-by.
- `row_hash`: 64-bit hashes of a row's columns (all of them, or all but some) from a star.
- `keep` / `release`: a frame computed once for several passes (a wide one by local checkpoint).
- `interpret_if_wide` within `codegen_restored`: no code generation for frames of 1,000+ columns.
"""
from __future__ import annotations

import contextlib

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

_SEP = "\u0000"  # never in a column name (read_dataset refuses control characters in names)
NAME, TEXT = "zy__name", "zy__text"


def jvm_seq(spark: SparkSession, values: list[str]):
    """A scala.collection.Seq[String] of `values` (none may hold a NUL character), in O(1) calls."""
    jvm = spark.sparkContext._jvm
    if any(_SEP in v for v in values):
        raise ValueError("a value holds a NUL character")
    joined = _SEP.join(values)
    items = jvm.java.util.regex.Pattern.compile(_SEP).splitAsStream(joined) if values else \
        jvm.java.util.stream.Stream.empty()
    return jvm.org.apache.spark.api.python.PythonUtils.toSeq(items.collect(jvm.java.util.stream.Collectors.toList()))


def quote(name: str) -> str:
    """A column name as Spark's name resolution reads it literally (dots, spaces, back quotes)."""
    return "`" + name.replace("`", "``") + "`"


def select_names(df: DataFrame, names: list[str]) -> DataFrame:
    """df.select of these columns, in this order."""
    if not names:
        return df.select()
    seq = jvm_seq(df.sparkSession, [quote(n) for n in names])
    return DataFrame(df._jdf.select(seq.head(), seq.tail()), df.sparkSession)


def _not_named(df: DataFrame, excluded: list[str]) -> Column:
    """Every column of df but `excluded`, as one star-like Column (a regex over the names, each
    excluded name escaped character by character; never SQL)."""
    if not excluded:
        return F.col("*")
    alternatives = "|".join("".join(c if c.isalnum() else "\\" + c for c in name) for name in excluded)
    return df.colRegex(f"`^(?!(?:{alternatives})$).*`")


def row_hash(df: DataFrame, *, seed: str = "", excluded: list[str] | None = None) -> tuple[Column, Column]:
    """Two independent 64-bit hashes of each row's columns but `excluded`, in the frame's column order
    (maps are hashed by their JSON: see `hashable`). Equal rows share them; distinct rows do (both) with
    odds near 2^-128."""
    rest = _not_named(df, list(excluded or []))
    return (F.xxhash64(F.lit(f"a{seed}"), rest), F.xxhash64(F.lit(f"b{seed}"), rest))


def hashable(df: DataFrame) -> DataFrame:
    """df with its map columns (which Spark can neither hash nor group) as JSON text; the rest kept."""
    for f in df.schema.fields:
        if isinstance(f.dataType, T.MapType):
            df = df.withColumn(f.name, F.to_json(F.col(quote(f.name))))
    return df


def cells(df: DataFrame, *extra: Column) -> DataFrame:
    """One record (`extra` columns..., NAME, TEXT) per row and non-null column of df: TEXT is the value
    as JSON writes it (strings as they are, numbers, true / false, NaN and Infinity, dates and
    timestamps in ISO form, nested values as JSON). Null values have no record."""
    as_map = F.from_json(F.to_json(F.struct(F.col("*"))), "map<string,string>")
    return df.select(*extra, F.explode(as_map).alias(NAME, TEXT))



WIDE_COLUMNS = 100  # from this many columns a frame is kept by local checkpoint, not by the cache


def keep(df: DataFrame) -> DataFrame:
    """df, computed once and kept for the passes that follow (memory, spilling to disk). A wide frame
    is checkpointed locally rather than cached: each query on a cached plan of 10,000 columns spends
    tens of seconds matching it against the cache (canonicalising every column), a checkpoint's plan
    none. Release it with `release`."""
    from pyspark import StorageLevel

    if len(df.columns) > WIDE_COLUMNS:
        return df.localCheckpoint(eager=True)
    return df.persist(StorageLevel.MEMORY_AND_DISK)


def release(df: DataFrame) -> None:
    """Frees what `keep` kept (a checkpoint's blocks go when its frame is garbage-collected)."""
    if df.storageLevel.useMemory or df.storageLevel.useDisk:
        df.unpersist()


INTERPRETED_COLUMNS = 1000  # from this many columns expressions are interpreted, not compiled
_FACTORY_MODE = "spark.sql.codegen.factoryMode"


@contextlib.contextmanager
def codegen_restored(spark: SparkSession):
    """Restores the session's expression code generation mode on exit (see `interpret_if_wide`)."""
    before = spark.conf.get(_FACTORY_MODE, None)
    try:
        yield
    finally:
        if before is None:
            spark.conf.unset(_FACTORY_MODE)
        else:
            spark.conf.set(_FACTORY_MODE, before)


def interpret_if_wide(spark: SparkSession, df: DataFrame) -> bool:
    """For a frame of INTERPRETED_COLUMNS columns or more, Spark evaluates expressions without
    generating code: compiling a projection of 10,000 fields (once per operator, per query) took far
    longer than evaluating it, and often ends in Spark's fallback anyway. Within codegen_restored."""
    if len(df.columns) < INTERPRETED_COLUMNS:
        return False
    spark.conf.set(_FACTORY_MODE, "NO_CODEGEN")
    return True
