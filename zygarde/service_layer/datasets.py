"""Cheap checks of a job's dataset at submission: it exists and has the target column."""
from __future__ import annotations

import csv
import io
import json

from zygarde.domain.errors import DatasetError, NotFound
from zygarde.domain.spec import JobSpec
from zygarde.service_layer.ports import BlobStore

HEAD_BYTES = 64 * 1024


def check(spec: JobSpec, blobs: BlobStore) -> None:
    """Raises DatasetError with a readable reason."""
    ds = spec.dataset
    try:
        head = blobs.read_bytes(ds.uri, max_bytes=HEAD_BYTES)
    except NotFound:
        raise DatasetError(f"dataset {ds.uri} does not exist") from None
    if not head.strip():
        raise DatasetError(f"dataset {ds.uri} is empty")
    columns = _columns(ds.format, head, ds.options)
    if columns is not None and spec.task != "clustering" and ds.target not in columns:
        shown = ", ".join(columns[:30]) + (" ..." if len(columns) > 30 else "")
        raise DatasetError(f"target column {ds.target!r} is not in {ds.uri} (columns: {shown})")


def _columns(fmt: str, head: bytes, options: dict) -> list[str] | None:
    text = head.decode("utf-8", "replace")
    if fmt == "csv":
        if str(options.get("header", True)).lower() == "false":
            return None  # Spark names them _c0, _c1 ...: checked in the batch
        sep = str(options.get("sep", options.get("delimiter", ",")))
        quote = str(options.get("quote", '"'))
        first = next(csv.reader(io.StringIO(text), delimiter=sep, quotechar=quote), [])
        return [c.strip() for c in first]
    if fmt == "json":
        line = text.splitlines()[0] if text.splitlines() else ""
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            raise DatasetError("the dataset's first line is not a JSON object (JSON lines expected)") from None
        return list(obj) if isinstance(obj, dict) else None
    return None  # parquet: the schema is checked in the batch; libsvm: always has label
