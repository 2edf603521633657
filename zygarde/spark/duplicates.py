"""How much of the data repeats exactly: the share of rows that copy another row and, for
classification, of distinct feature vectors seen with more than one label. Many copies mean few
distinct examples; the split and k-fold treat copies as separate rows unless data.group_by is set."""
from __future__ import annotations

from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from zygarde.domain.algorithms import CLASSIFICATION, CLUSTERING
from zygarde.spark.data_report import target_key, warning
from zygarde.spark.wide import hashable, row_hash

DUPLICATE_SHARE = 0.1  # share of rows that repeat another row exactly from which the report warns
_LABEL, _ROWS, _LABELS, _FIRST, _SECOND = "zy__label", "zy__rows", "zy__labels", "zy__h1", "zy__h2"


def duplicate_findings(rows: int, distinct_rows: int, vectors: int, mixed_vectors: int | None,
                       mixed_rows: int | None, grouped: bool) -> tuple[dict[str, Any], list[dict]]:
    """(numbers for report["duplicates"], warnings) from the counts (no Spark)."""
    share = (rows - distinct_rows) / rows if rows else 0.0
    numbers: dict[str, Any] = {"rows": rows, "distinct_rows": distinct_rows, "duplicate_row_share": share,
                               "distinct_feature_vectors": vectors}
    if mixed_vectors is not None:
        numbers["mixed_label_vectors"] = mixed_vectors
        numbers["mixed_label_vector_share"] = mixed_vectors / vectors if vectors else 0.0
        numbers["mixed_label_rows"] = mixed_rows
    if rows == 0 or share < DUPLICATE_SHARE:
        return numbers, []
    message = (f"{share:.0%} of rows repeat another row exactly ({distinct_rows} distinct rows, {vectors} distinct "
               f"feature vectors in {rows} rows)")
    if mixed_vectors:
        message += (f"; {mixed_vectors} feature vectors ({numbers['mixed_label_vector_share']:.0%}) are seen "
                    "with more than one label")
    message += ("; the data is grouped by data.group_by" if grouped else
                "; copies are split row by row: set data.group_by if related rows must stay in one part")
    return numbers, [warning(None, "duplicate_rows", message)]


def summarize(df: DataFrame, target: str, task: str, *, grouped: bool = False) -> tuple[dict[str, Any], list[dict]]:
    """(report["duplicates"], warnings) of `df` (cache it), rows without a target left out. Two
    aggregations: (feature vector, label) -> rows, then feature vector -> labels and rows. A feature
    vector is keyed by two 64-bit hashes of its columns (zygarde.spark.wide.row_hash: one star
    expression, so 20,000 columns group as fast as 20 and never by 20,000 keys; two distinct vectors
    share both hashes with odds near 2^-128)."""
    supervised = task != CLUSTERING and target in df.columns
    df = hashable(df)
    if supervised:
        df = df.where(target_key(df, target).isNotNull())
    label = target_key(df, target) if supervised else F.lit("")
    first, second = row_hash(df, excluded=[target] if supervised else [])
    keyed = df.select(first.alias(_FIRST), second.alias(_SECOND), label.alias(_LABEL))
    per_row = keyed.groupBy(_FIRST, _SECOND, _LABEL).agg(F.count(F.lit(1)).alias(_ROWS))
    per_vector = per_row.groupBy(_FIRST, _SECOND).agg(F.count(F.lit(1)).alias(_LABELS), F.sum(_ROWS).alias(_ROWS))
    mixed = F.col(_LABELS) > 1
    totals = per_vector.agg(F.sum(_ROWS).alias("rows"), F.sum(_LABELS).alias("distinct_rows"),
                            F.count(F.lit(1)).alias("vectors"), F.sum(mixed.cast("long")).alias("mixed"),
                            F.sum(F.when(mixed, F.col(_ROWS)).otherwise(0)).alias("mixed_rows")).first()
    classification = supervised and task in CLASSIFICATION
    return duplicate_findings(int(totals["rows"] or 0), int(totals["distinct_rows"] or 0), int(totals["vectors"]),
                              int(totals["mixed"] or 0) if classification else None,
                              int(totals["mixed_rows"] or 0) if classification else None, grouped)
