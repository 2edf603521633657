"""Reading a dataset (raw or a prepared part) and deriving its label column."""
from __future__ import annotations

import logging
import re
from typing import Any

from pyspark.ml.feature import StringIndexer
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from zygarde.domain.algorithms import BINARY, CLASSIFICATION, CLUSTERING, REGRESSION
from zygarde.domain.errors import DatasetError
from zygarde.spark import listing
from zygarde.spark.sniffing import check_text_input

log = logging.getLogger(__name__)

LABEL = "zy__label"  # the indexed / numeric label every learner is trained on
FORMATS = ("csv", "parquet", "json", "libsvm")
_READ_DEFAULTS = {"csv": {"header": "true", "inferSchema": "true"}}
MAX_CLASSES = 1000


def quote(name: str) -> str:
    """A column name as a SQL identifier (dots, spaces and backticks are safe)."""
    return "`" + name.replace("`", "``") + "`"


def column(name: str):
    return F.col(quote(name))


def _option(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def read_dataset(spark: SparkSession, uri: str, fmt: str, options: dict[str, Any] | None = None,
                 home: str | None = None) -> DataFrame:
    """The dataset as a DataFrame. csv: header and inferSchema on unless options say otherwise;
    json: JSON lines; libsvm: label + features columns. The dataset is listed once and checked
    (zygarde.spark.listing: every object it takes in passes the path rules, and lies under `home`, the
    owner's folder, when given), then Spark reads the listed files by name. A text file's first bytes
    are checked first (binary, another format, undecodable or corrupt compressed content give one
    clear sentence), and a byte-order mark left on a column name is dropped."""
    fmt = (fmt or "").lower()
    if fmt not in FORMATS:
        raise DatasetError(f"unsupported dataset format {fmt!r} (use one of: {', '.join(FORMATS)})")
    opts = {**_READ_DEFAULTS.get(fmt, {}), **{k: _option(v) for k, v in (options or {}).items()}}
    found = listing.list_dataset(spark, uri, home)
    if fmt in ("csv", "json"):
        check_text_input(spark, found, fmt, opts)
    df = listing.load(spark, spark.read.format(fmt).options(**opts), found)
    columns = df.columns
    if not columns:
        raise DatasetError(f"the dataset at {uri} is empty: it has no header and no rows")
    for name in columns:
        if strip_bom(name) != name:  # a renaming per marked name (one, the first, in practice)
            df = df.withColumnRenamed(name, strip_bom(name))
    unreadable = [c for c in columns if _UNREADABLE.search(c)]
    if unreadable:
        raise DatasetError(f"the header of the dataset at {uri} has {len(unreadable)} unreadable column "
                           f"name{'s' * (len(unreadable) != 1)} (binary or wrongly encoded text): is it a "
                           f"{fmt.upper()} file?")
    return df


def strip_bom(name: str) -> str:
    """A column name without leading byte-order marks (spreadsheet tools write one, some twice)."""
    return name.lstrip("\ufeff")


_UNREADABLE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f\ufffd\ufeff\ud800-\udfff]")


def readable(name: str) -> str:
    """A name as it may appear in a reason: control characters and undecodable bytes left out."""
    return _UNREADABLE.sub("", name)


def describe_columns(df: DataFrame, limit: int = 20) -> str:
    names = [readable(n) for n in df.columns]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def with_label(df: DataFrame, target: str, task: str) -> tuple[DataFrame, list[str] | None]:
    """Adds LABEL (class index for classification, double for regression) and drops rows without a
    target. Returns the frame and, for classification, the class names in index order."""
    if task == CLUSTERING:
        return df, None
    if target not in df.columns:
        raise DatasetError(f"target column {target!r} is not in the dataset (columns: {describe_columns(df)})")
    dtype = df.schema[target].dataType
    present = column(target).isNotNull()
    if isinstance(dtype, (T.DoubleType, T.FloatType)):
        present = present & ~F.isnan(column(target))
    df = df.filter(present)
    if task in CLASSIFICATION:
        if not isinstance(dtype, (T.StringType, T.NumericType, T.BooleanType)):
            raise DatasetError(f"target column {target!r} has type {dtype.simpleString()}; "
                               "classification needs string, numeric or boolean labels")
        df = df.withColumn("zy__target", column(target).cast("string"))  # any name, any type
        indexer = StringIndexer(inputCol="zy__target", outputCol=LABEL, stringOrderType="alphabetAsc",
                                handleInvalid="error").fit(df)
        labels = list(indexer.labelsArray[0])
        if task == BINARY and len(labels) != 2:
            raise DatasetError(f"binary_classification needs exactly 2 distinct values in target {target!r}, "
                               f"found {len(labels)}" + (f" ({', '.join(labels[:5])})" if labels else ""))
        if len(labels) < 2:
            raise DatasetError(f"target {target!r} has fewer than 2 distinct values; nothing to classify")
        if len(labels) > MAX_CLASSES:
            raise DatasetError(f"target {target!r} has {len(labels)} distinct values (more than {MAX_CLASSES}); "
                               "is it a regression target?")
        return indexer.transform(df).drop("zy__target"), labels
    if task == REGRESSION:
        if not isinstance(dtype, (T.NumericType, T.BooleanType)):
            raise DatasetError(f"regression needs a numeric target; column {target!r} has type "
                               f"{dtype.simpleString()}")
        return df.withColumn(LABEL, column(target).cast("double")), None
    raise DatasetError(f"unknown task {task!r}")
