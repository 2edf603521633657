"""The job's data preparation, once before any trial: pin the input, read it, select columns and rows,
write the data report, split by seed into train / validation / test and write the parts as Parquet.

Trials read the parts, never the raw file, so the parts are the job's pinned copy of its data.
`run_prepare` never raises: data that cannot serve the job gives a FAILED PrepareResult whose error
is the report's problems; `execute` also writes the result, as the very last act of the batch.
"""
from __future__ import annotations

import json
import logging
import math
from typing import Any

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from zygarde.domain.algorithms import CLASSIFICATION, CLUSTERING
from zygarde.domain.contracts import PrepareRequest, PrepareResult
from zygarde.domain.errors import DatasetError
from zygarde.spark import duplicates, hadoop_fs, row_filter, splitting
from zygarde.spark.data_report import build_report, part_sizes, target_key
from zygarde.spark.dataset import describe_columns, read_dataset
from zygarde.spark.failures import describe_failure, value_error
from zygarde.spark.pinning import fingerprint
from zygarde.spark.wide import codegen_restored, interpret_if_wide, keep, release, select_names

log = logging.getLogger(__name__)

PARTS = ("train", "validation", "test")
SPLIT_EXACT_MAX = 100_000  # strata up to this size are split by rank (exact sizes), larger ones by hash
BYTES_PER_FILE = 128 * 1024 * 1024
_U, _STRATUM, _POS, _PART = "zy__u", "zy__stratum", "zy__pos", "zy__part"


def under(prefix: str, name: str) -> str:
    """{prefix}name, whether or not the prefix ends with a slash."""
    return prefix.rstrip("/") + "/" + name


def _context(request: PrepareRequest) -> str:
    return f"job_id={request.job_id} stage=prepare attempt={request.attempt}"


# ---- selection ----

def select(df: DataFrame, request: PrepareRequest) -> tuple[DataFrame, list[str]]:
    """The job's columns (include / exclude, the target always kept) and rows (row_filter)."""
    problems, target = [], request.target if request.task != CLUSTERING else None
    for option, names in (("include_columns", request.include_columns or []),
                          ("exclude_columns", request.exclude_columns or [])):
        unknown = [n for n in names if n not in df.columns]
        if unknown:
            problems.append(f"{option} names columns that are not in the dataset: {', '.join(unknown)} "
                            f"(columns: {describe_columns(df)})")
    if target and target in (request.exclude_columns or []):
        problems.append(f"the target column {target!r} cannot be excluded")
    keep = [c for c in df.columns
            if (request.include_columns is None or c in request.include_columns or c == target)
            and c not in (request.exclude_columns or [])]
    if problems:
        return df, problems
    if keep != df.columns:
        df = select_names(df, keep)  # by name in one call: a wide frame costs no round trip per column
    if request.row_filter is not None:
        df, refused = row_filter.apply(df, request.row_filter)
        problems += [refused] if refused else []
    return df, problems


def group_by_problems(raw: DataFrame, selected: DataFrame, request: PrepareRequest) -> list[str]:
    """data.group_by must name columns of the dataset that the selection keeps, and not the target."""
    names = list(request.group_by or [])
    unknown = [n for n in names if n not in raw.columns]
    problems = []
    if unknown:
        problems.append(f"data.group_by names columns that are not in the dataset: {', '.join(unknown)} "
                        f"(columns: {describe_columns(raw)})")
    if request.task != CLUSTERING and request.target in names:
        problems.append(f"data.group_by cannot include the target column {request.target!r}")
    dropped = [n for n in names if n in raw.columns and n not in selected.columns]
    if dropped and selected is not raw:
        problems.append(f"data.group_by names columns that include_columns / exclude_columns drop: "
                        f"{', '.join(dropped)} (a group column must be kept to split by it)")
    return problems


# ---- split ----

def assign_parts(df: DataFrame, *, seed: int, validation_fraction: float, test_fraction: float,
                 strata: dict[str, int], stratum) -> DataFrame:
    """Adds _PART (train / validation / test), row by row: each row gets a hash of its content, its
    copy number among identical rows and the seed (splitting.with_row_key), so copies are split
    independently and the split depends on neither partitioning nor row or column order. Strata
    (classes, or the whole data when not stratified) of up to SPLIT_EXACT_MAX rows are ranked by that
    hash and cut at exact sizes (see part_sizes); larger ones are cut at hash thresholds."""
    df = splitting.with_row_key(df, seed, _U).withColumn(_STRATUM, stratum)
    exact = {k: part_sizes(n, validation_fraction, test_fraction) for k, n in strata.items() if n <= SPLIT_EXACT_MAX}
    pieces = []
    if exact:
        bounds = df.sparkSession.createDataFrame(
            [(k, tr, tr + va) for k, (tr, va, _) in exact.items()],
            schema="zy__stratum string, zy__train_end long, zy__validation_end long")
        ranked = (df.where(F.col(_STRATUM).isin(list(exact))).join(F.broadcast(bounds), _STRATUM)
                  .withColumn(_POS, F.row_number().over(Window.partitionBy(_STRATUM).orderBy(_U))))
        pieces.append(ranked.withColumn(_PART, F.when(F.col(_POS) <= F.col("zy__train_end"), "train")
                                        .when(F.col(_POS) <= F.col("zy__validation_end"), "validation")
                                        .otherwise("test"))
                      .drop(_POS, "zy__train_end", "zy__validation_end"))
    if len(exact) < len(strata):
        big = df.where(~F.col(_STRATUM).isin(list(exact))) if exact else df
        pieces.append(big.withColumn(_PART, splitting.part_by_hash(F.col(_U), validation_fraction, test_fraction)))
    out = pieces[0] if len(pieces) == 1 else pieces[0].unionByName(pieces[1])
    return out.drop(_U, _STRATUM)


def split_and_write(spark: SparkSession, df: DataFrame, request: PrepareRequest, report: dict[str, Any],
                    input_bytes: int) -> tuple[dict[str, str], dict[str, int], dict[str, Any]]:
    """Writes {output_prefix}train, validation (and test) as Parquet; returns their URIs, rows and
    how the split was made (method row or group, group_by, groups per part)."""
    classification = request.task in CLASSIFICATION
    if request.task != CLUSTERING:
        df = df.where(target_key(df, request.target).isNotNull())  # rows without a target cannot serve
    strata = dict(report["class_balance"] or {}) if classification else {"": report["rows_with_target"]}
    stratum = target_key(df, request.target) if classification else F.lit("")
    method: dict[str, Any] = {"method": "row", "group_by": []}
    if request.group_by:
        assigned, groups = splitting.assign_group_parts(
            df, seed=request.seed, validation_fraction=request.validation_fraction,
            test_fraction=request.test_fraction, group_by=list(request.group_by), stratum=stratum)
        method = {"method": "group", "group_by": list(request.group_by),
                  "groups": {p: groups.get(p, 0) for p in PARTS if p != "test" or request.test_fraction > 0}}
    else:
        assigned = assign_parts(df, seed=request.seed, validation_fraction=request.validation_fraction,
                                test_fraction=request.test_fraction, strata=strata, stratum=stratum)
    assigned = keep(assigned)
    try:
        rows = {p: 0 for p in PARTS if p != "test" or request.test_fraction > 0}
        rows.update({r[_PART]: int(r["count"]) for r in assigned.groupBy(_PART).count().collect()})
        if rows.get("train", 0) < 2 or rows.get("validation", 0) < 1:
            detail = f" ({method['groups']} groups of {', '.join(request.group_by)})" if request.group_by else ""
            raise DatasetError(f"too few rows to split: {rows.get('train', 0)} train and "
                               f"{rows.get('validation', 0)} validation rows{detail}")
        total = max(1, sum(rows.values()))
        uris = {}
        for part, n in rows.items():
            uri = under(request.output_prefix, part)
            files = max(1, math.ceil(input_bytes * n / total / BYTES_PER_FILE))
            (assigned.where(F.col(_PART) == part).drop(_PART).coalesce(files)
             .write.mode("overwrite").parquet(hadoop_fs.qualify(uri)))
            uris[part] = uri
            log.info("part written %s part=%s rows=%d method=%s uri=%s", _context(request), part, n,
                     method["method"], uri)
        return uris, rows, method
    finally:
        release(assigned)


# ---- the stage ----

def _validate_fractions(request: PrepareRequest) -> None:
    v, t = request.validation_fraction, request.test_fraction
    if not (0 < v < 1 and 0 <= t < 1 and v + t < 1):
        raise DatasetError(f"validation_fraction ({v}) and test_fraction ({t}) must be in (0, 1) and sum to "
                           "less than 1")


def _write_report(spark: SparkSession, request: PrepareRequest, report: dict[str, Any]) -> None:
    hadoop_fs.write_bytes(spark, under(request.output_prefix, "report.json"),
                          json.dumps(report, sort_keys=True, default=str).encode("utf-8"))


def _failed(request: PrepareRequest, report: dict, fingerprint_: dict, problems: list[str]) -> PrepareResult:
    reasons = "; ".join(p.replace("\n", " ") for p in problems)
    log.warning("data cannot serve the job %s problems=%s", _context(request), reasons)
    return PrepareResult(job_id=request.job_id, attempt=request.attempt, status="FAILED", report=report,
                         fingerprint=fingerprint_, error=f"the data cannot serve this job: {reasons}",
                         error_kind="data")


def _check_unchanged(spark: SparkSession, request: PrepareRequest, pinned: dict[str, Any]) -> None:
    """The parts must hold exactly the pinned input: fail (retryably) if it changed while being read."""
    keys = ("files", "size", "modification_time", "checksum", "generation")
    uri = request.dataset_uri
    now = fingerprint(spark, uri, request.dataset_home)
    if any(now.get(k) != pinned.get(k) for k in keys):
        raise RuntimeError(f"the input at {uri} changed while it was being prepared; a new attempt pins it again")


def _prepare(spark: SparkSession, request: PrepareRequest, cached: list[DataFrame]) -> PrepareResult:
    _validate_fractions(request)
    pinned = fingerprint(spark, request.dataset_uri, request.dataset_home)
    log.info("input pinned %s size=%s checksum=%s generation=%s", _context(request), pinned.get("size"),
             pinned.get("checksum"), pinned.get("generation"))
    raw = read_dataset(spark, request.dataset_uri, request.dataset_format, request.dataset_options,
                       request.dataset_home)
    if interpret_if_wide(spark, raw):
        log.info("wide data: expressions interpreted %s columns=%d", _context(request), len(raw.columns))
    selected, problems = select(raw, request)
    problems += group_by_problems(raw, selected, request)
    selection = {"include_columns": request.include_columns, "exclude_columns": list(request.exclude_columns),
                 "row_filter": request.row_filter}
    if problems:
        report = {"schema": [{"name": f.name, "type": f.dataType.simpleString(), "nullable": f.nullable}
                             for f in raw.schema.fields], "selection": selection, "warnings": [], "problems": problems}
        _write_report(spark, request, report)
        return _failed(request, report, pinned, problems)
    base = keep(selected)
    cached.append(base)
    report = build_report(base, target=request.target, task=request.task,
                          validation_fraction=request.validation_fraction, test_fraction=request.test_fraction,
                          expectations=request.expectations, min_rows=request.min_rows)
    if request.row_filter:
        selection["rows_read"] = raw.count()
    report["selection"] = selection
    if report["problems"]:
        _write_report(spark, request, report)
        return _failed(request, report, pinned, report["problems"])
    report["duplicates"], duplicate_warnings = duplicates.summarize(base, request.target, request.task,
                                                                    grouped=bool(request.group_by))
    report["warnings"] += duplicate_warnings
    parts, rows, method = split_and_write(spark, base, request, report, int(pinned.get("size") or 0))
    _check_unchanged(spark, request, pinned)
    report["split"] = {"seed": request.seed, "validation_fraction": request.validation_fraction,
                       "test_fraction": request.test_fraction, "rows": rows,
                       "stratified": request.task in CLASSIFICATION, **method}
    _write_report(spark, request, report)
    return PrepareResult(job_id=request.job_id, attempt=request.attempt, status="SUCCEEDED", report=report,
                         parts=parts, rows=rows, fingerprint=pinned)


def run_prepare(spark: SparkSession, request: PrepareRequest) -> PrepareResult:
    """Prepares the job's data. Never raises."""
    cached: list[DataFrame] = []
    log.info("preparation started %s uri=%s format=%s", _context(request), request.dataset_uri,
             request.dataset_format)
    try:
        with codegen_restored(spark):
            result = _prepare(spark, request, cached)
    except Exception as exc:  # noqa: BLE001 - every failure must become a result
        kind, message = describe_failure(exc, "data preparation")
        if request.row_filter is not None and (why := value_error(exc)) is not None:
            message = row_filter.value_failure(request.row_filter, why)  # the filter computes on values
        log.error("preparation failed %s error_kind=%s error=%s", _context(request), kind, message, exc_info=True)
        result = PrepareResult(job_id=request.job_id, attempt=request.attempt, status="FAILED", error=message,
                               error_kind=kind)
    finally:
        for df in cached:
            release(df)
    if result.status == "SUCCEEDED":
        log.info("preparation succeeded %s rows=%s warnings=%d", _context(request), json.dumps(result.rows),
                 len(result.report.get("warnings", [])))
    return result


def execute(spark: SparkSession, request: PrepareRequest) -> PrepareResult:
    """run_prepare, then write the result to request.result_uri (last). Raises only if that write fails."""
    return hadoop_fs.run_then_report(spark, run_prepare, request, "prepare")
