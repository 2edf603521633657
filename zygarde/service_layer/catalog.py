"""A user's datasets in Zygarde's bucket (datasets/{owner}/...): listing with size and columns, and
the cheap reads the job form needs (columns, a few values per column, a suggested task). Columns
are read as the submission check reads them (CSV header, first JSON line, Parquet footer)."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field

from zygarde.config import prefix
from zygarde.domain.errors import DatasetError, NotFound
from zygarde.service_layer import datasets
from zygarde.service_layer.ports import BlobStore

FORMATS_BY_SUFFIX = {".csv": "csv", ".csv.gz": "csv", ".parquet": "parquet", ".json": "json",
                     ".jsonl": "json", ".ndjson": "json", ".libsvm": "libsvm", ".svm": "libsvm"}
MAX_LISTED = 500
SAMPLE_ROWS = 200


@dataclass(frozen=True)
class DatasetInfo:
    uri: str
    name: str  # the object name under the owner's prefix
    size: int | None
    format: str | None
    columns: list[str] = field(default_factory=list)
    problem: str | None = None  # why its columns cannot be read


def format_of(name: str) -> str | None:
    lower = name.lower()
    return next((fmt for suffix, fmt in sorted(FORMATS_BY_SUFFIX.items(), key=lambda kv: -len(kv[0]))
                 if lower.endswith(suffix)), None)


def owner_prefix(bucket: str, owner: str) -> str:
    """gs://BUCKET/datasets/OWNER/: where an owner's datasets live."""
    return f"gs://{bucket}/{prefix('datasets')}{owner}/"


def columns_of(blobs: BlobStore, uri: str, fmt: str) -> list[str]:
    """The dataset object's columns ([] when they are only known to Spark: libsvm). Raises DatasetError."""
    try:
        cols = datasets.columns(fmt, uri, blobs)
    except NotFound:
        raise DatasetError(f"{uri} does not exist") from None
    if fmt == "libsvm":
        return ["label", "features"]
    return list(cols or [])


def list_datasets(blobs: BlobStore, bucket: str, owner: str, with_columns: bool = True) -> list[DatasetInfo]:
    """The owner's datasets, by name."""
    base = owner_prefix(bucket, owner)
    out = []
    for uri, size in sorted(blobs.sizes(base).items())[:MAX_LISTED]:
        name = uri[len(base):]
        if not name or name.endswith("/"):
            continue
        fmt, cols, problem = format_of(name), [], None
        if fmt and with_columns:
            try:
                cols = columns_of(blobs, uri, fmt)
            except DatasetError as exc:
                problem = str(exc)
        out.append(DatasetInfo(uri, name, size, fmt, cols, problem))
    return out


def column_samples(blobs: BlobStore, uri: str, fmt: str) -> dict[str, list[str]]:
    """A few values of each column from the head of a CSV or JSON lines object ({} for other formats)."""
    if fmt not in ("csv", "json"):
        return {}
    try:
        head = datasets.head_text(uri, blobs)
    except (NotFound, DatasetError):
        return {}
    lines = head.splitlines()[:SAMPLE_ROWS + 1]
    if len(head) >= datasets.HEAD_BYTES and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut
    samples: dict[str, list[str]] = {}
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO("\n".join(lines))))
        if not rows:
            return {}
        for row in rows[1:]:
            for name, value in zip(rows[0], row):
                samples.setdefault(name.strip(), []).append(value.strip())
        return samples
    for line in lines:
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            for name, value in obj.items():
                samples.setdefault(name, []).append("" if value is None else str(value))
    return samples


def suggest_task(values: list[str]) -> str:
    """binary, multiclass or regression from a column's sampled values."""
    present = [v for v in values if v != ""]
    distinct = set(present)
    if len(distinct) <= 2:
        return "binary_classification"
    numeric = all(_is_number(v) for v in distinct)
    if numeric and (len(distinct) > 20 or any(not float(v).is_integer() for v in distinct)):
        return "regression"
    return "multiclass_classification" if len(distinct) <= 50 else "regression"


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True
