"""Cheap checks of a job's dataset at submission: it exists, it is in the format the spec says, and
it has the target column. The dataset is one object, a folder of part files (as Spark writes
them, hive partitions included) or a glob; one data object of it is sampled."""
from __future__ import annotations

import csv
import fnmatch
import io
import json
import struct
import zlib

from zygarde.config import prefix
from zygarde.domain.errors import AccessDenied, DatasetError, NotFound
from zygarde.domain.spec import JobSpec
from zygarde.service_layer.ports import BlobStore

HEAD_BYTES = 64 * 1024
PARQUET_MAGIC = b"PAR1"
MAX_PARQUET_FOOTER = 16 * 1024 * 1024
GLOB_CHARS = "*?[{"
SAMPLED_OBJECTS = 5  # empty part files are skipped, up to this many


def check(spec: JobSpec, blobs: BlobStore, zygarde_bucket: str | None = None) -> None:
    """Raises DatasetError with a readable reason. In Zygarde's own bucket, only objects under
    datasets/ are datasets: the rest (other jobs' data and models, results, code) is not for reading."""
    uri = spec.dataset.uri
    allowed = f"gs://{zygarde_bucket}/{prefix('datasets')}"
    if zygarde_bucket and uri.startswith(f"gs://{zygarde_bucket}/") and not uri.startswith(allowed):
        raise DatasetError(f"dataset {uri}: datasets in Zygarde's bucket live under {allowed}")
    try:
        _check(spec, blobs)
    except AccessDenied as exc:
        raise DatasetError(f"Zygarde may not read dataset {uri}: {exc} (grant its service accounts "
                           "read access to the bucket)") from None
    except NotFound:  # a missing bucket, or an object deleted while it was being read
        raise DatasetError(f"dataset {uri} does not exist") from None


def _check(spec: JobSpec, blobs: BlobStore) -> None:
    ds = spec.dataset
    objects = _data_objects(ds.uri, blobs)
    for uri in objects[:SAMPLED_OBJECTS]:
        columns = _columns(ds.format, uri, blobs, ds.options)
        if columns is _EMPTY:
            continue
        if columns is not None:
            columns = columns + _partition_columns(ds.uri, uri)
        if columns is not None and spec.task != "clustering" and ds.target not in columns:
            shown = ", ".join(columns[:30]) + (" ..." if len(columns) > 30 else "")
            raise DatasetError(f"target column {ds.target!r} is not in {ds.uri} (columns: {shown})")
        unknown = [c for c in spec.data.group_by if columns is not None and c not in columns]
        if unknown:
            shown = ", ".join(columns[:30]) + (" ..." if len(columns) > 30 else "")
            raise DatasetError(f"data.group_by names columns that are not in {ds.uri}: {', '.join(unknown)} "
                               f"(columns: {shown})")
        return
    raise DatasetError(f"dataset {ds.uri} is empty")


def _data_objects(uri: str, blobs: BlobStore) -> list[str]:
    """The data objects a dataset URI names: itself, the files under it, or those its glob matches."""
    if any(c in uri for c in GLOB_CHARS):
        if "{" in uri:
            return []  # Hadoop brace globs: left to Spark
        prefix = uri[:min(uri.index(c) for c in GLOB_CHARS if c in uri)]
        matches = [u for u in blobs.list(prefix) if fnmatch.fnmatchcase(u, uri) and _is_data(u, prefix)]
        if not matches:
            raise DatasetError(f"dataset {uri} matches no objects")
        return matches
    if blobs.exists(uri):
        return [uri]
    parts = [u for u in blobs.list(uri.rstrip("/") + "/") if _is_data(u, uri)]
    if not parts:
        raise DatasetError(f"dataset {uri} does not exist")
    return parts


def _is_data(uri: str, base: str) -> bool:
    """Not a folder marker, nor under a name Spark treats as hidden (_SUCCESS, _temporary/, .crc files)."""
    names = uri[len(base.rstrip("/")):].strip("/").split("/")
    return not uri.endswith("/") and not any(n.startswith(("_", ".")) for n in names)


def _partition_columns(base: str, uri: str) -> list[str]:
    """Hive partition columns from the folders between the dataset URI and a part file."""
    inner = uri[len(base.rstrip("/")):].strip("/").split("/")[:-1]
    return [seg.split("=", 1)[0] for seg in inner if "=" in seg]


_EMPTY: list[str] = []  # sentinel: an object with no data, try the next one


def _columns(fmt: str, uri: str, blobs: BlobStore, options: dict) -> list[str] | None:
    """The object's column names (None: not knowable before Spark reads it), or _EMPTY."""
    if fmt == "parquet":
        return _parquet_columns(uri, blobs)
    head = _head_text(uri, blobs)
    if not head.strip():
        return _EMPTY
    if fmt == "csv":
        if str(options.get("header", True)).lower() == "false":
            return None  # Spark names them _c0, _c1 ...: checked in the batch
        sep = str(options.get("sep", options.get("delimiter", ",")))
        quote = str(options.get("quote", '"'))
        first = next(csv.reader(io.StringIO(head), delimiter=sep, quotechar=quote), [])
        return [c.strip() for c in first]
    line = next((ln for ln in head.splitlines() if ln.strip()), "")
    if fmt == "json":
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            raise DatasetError(f"{uri}: the first line is not a JSON object (JSON lines expected)") from None
        return list(obj) if isinstance(obj, dict) else None
    if fmt == "libsvm":
        _check_libsvm_line(uri, line)
    return None


def _head_text(uri: str, blobs: BlobStore) -> str:
    head = blobs.read_bytes(uri, max_bytes=HEAD_BYTES)
    if uri.endswith(".gz") and head:
        try:
            head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(head, HEAD_BYTES)
        except zlib.error:
            raise DatasetError(f"{uri} ends in .gz but is not gzip data") from None
    return head.decode("utf-8", "replace")


def _check_libsvm_line(uri: str, line: str) -> None:
    tokens = line.split("#", 1)[0].split()
    try:
        float(tokens[0])
        for tok in tokens[1:]:
            index, value = tok.split(":")
            int(index), float(value)
    except (ValueError, IndexError):
        raise DatasetError(f"{uri}: the first line is not LIBSVM ('label index:value ...'): {line[:80]!r}") from None


def _parquet_columns(uri: str, blobs: BlobStore) -> list[str] | list:
    """Column names from the Parquet footer, read with two small ranged reads at most."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tail = blobs.read_tail(uri, HEAD_BYTES)
    if not tail:
        return _EMPTY
    if len(tail) < 12 or tail[-4:] != PARQUET_MAGIC:
        raise DatasetError(f"{uri} is not a Parquet file (no Parquet footer)")
    (footer_len,) = struct.unpack("<I", tail[-8:-4])
    if footer_len > MAX_PARQUET_FOOTER:
        raise DatasetError(f"{uri}: its Parquet footer claims {footer_len} bytes; the file looks corrupt")
    if footer_len + 8 > len(tail):
        tail = blobs.read_tail(uri, footer_len + 8)
    try:
        schema = pq.read_schema(pa.BufferReader(PARQUET_MAGIC + tail[-(footer_len + 8):]))
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(f"{uri}: its Parquet footer cannot be read: {exc}") from None
    return list(schema.names)
