"""Cheap checks of a job's dataset at submission: it exists, where the job may read it, in the
format the spec says, with the target column and at most MAX_COLUMNS columns. The dataset is one
object, a folder of part files (as Spark writes them, hive partitions included) or a glob (brace
alternatives too); one data object of it is sampled, reading its header line (up to
MAX_HEADER_BYTES) or its Parquet footer, never the data."""
from __future__ import annotations

import csv
import fnmatch
import io
import json
import struct
import logging
import zlib

from zygarde.domain.errors import AccessDenied, DatasetError, NotFound
from zygarde.domain.raw_doc import shorten
from zygarde.domain.spec import JobSpec
from zygarde.service_layer.dataset_paths import dataset_object_problem, expand_braces, uri_problem
from zygarde.service_layer.ports import BlobStore

log = logging.getLogger("zygarde")

__all__ = ["check", "dataset_object_problem"]

HEAD_BYTES = 64 * 1024
MAX_HEADER_BYTES = 8 * 1024 * 1024  # a header line may be this long (10,000+ wide columns fit)
MAX_COLUMNS = 20_000  # wider datasets are refused at submission
PARQUET_MAGIC = b"PAR1"
GZIP_MAGIC = b"\x1f\x8b"
MAX_PARQUET_FOOTER = 16 * 1024 * 1024
GLOB_CHARS = "*?[{"
SAMPLED_OBJECTS = 5  # empty part files are skipped, up to this many


def check(spec: JobSpec, blobs: BlobStore, zygarde_bucket: str | None = None) -> None:
    """Raises DatasetError with a readable reason. In Zygarde's own bucket, only objects under
    datasets/{owner}/ are the owner's datasets: the rest (other users' datasets, jobs' data and
    models, results, code) is not for reading."""
    uri = spec.dataset.uri
    if (reason := uri_problem(uri, spec.owner, zygarde_bucket)) is not None:
        raise DatasetError(reason)
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
            if len(columns) > MAX_COLUMNS:
                raise DatasetError(f"{uri} has {len(columns):,} columns, more than the {MAX_COLUMNS:,} "
                                   "Zygarde trains on: select fewer columns before submitting")
        if columns is not None and spec.task != "clustering" and ds.target not in columns:
            shown = ", ".join(shorten(c, 60) for c in columns[:30]) + (" ..." if len(columns) > 30 else "")
            raise DatasetError(f"dataset.target: the target column {shorten(ds.target, 100)!r} is not in {ds.uri} "
                               f"(columns: {shown})")
        for field_name, names in (("data.group_by", spec.data.group_by),
                                  ("data.ordinal_columns", spec.data.ordinal_columns)):
            unknown = [c for c in names if columns is not None and c not in columns]
            if unknown:
                shown = ", ".join(shorten(c, 60) for c in columns[:30]) + (" ..." if len(columns) > 30 else "")
                raise DatasetError(f"{field_name} names columns that are not in {ds.uri}: "
                                   f"{', '.join(shorten(c, 60) for c in unknown)} (columns: {shown})")
        return
    raise DatasetError(f"dataset {ds.uri} is empty")


def _data_objects(uri: str, blobs: BlobStore) -> list[str]:
    """The data objects a dataset URI names: itself, the files under it, or those its glob matches."""
    if any(c in uri for c in GLOB_CHARS):
        try:
            patterns = expand_braces(uri)
        except ValueError as exc:
            raise DatasetError(f"dataset {uri}: its glob {exc}") from None
        matches: set[str] = set()
        for pattern in patterns:
            if not any(c in pattern for c in GLOB_CHARS):
                if blobs.exists(pattern):
                    matches.add(pattern)
                continue
            base = pattern[:min(pattern.index(c) for c in GLOB_CHARS if c in pattern)]
            found = _safe(uri, [u for u in blobs.list(base) if fnmatch.fnmatchcase(u, pattern)])
            matches.update(u for u in found if _is_data(u, base))
        if not matches:
            raise DatasetError(f"dataset {uri} matches no objects")
        return sorted(matches)
    if blobs.exists(uri):
        return [uri]
    parts = [u for u in _safe(uri, blobs.list(uri.rstrip("/") + "/")) if _is_data(u, uri)]
    if not parts:
        raise DatasetError(f"dataset {uri} does not exist")
    return parts


def _safe(dataset_uri: str, objects: list[str]) -> list[str]:
    """`objects`, or a DatasetError when one has a name Spark would resolve to another path."""
    for uri in objects:
        if (reason := dataset_object_problem(uri.removeprefix("gs://").partition("/")[2])) is not None:
            raise DatasetError(f"dataset {dataset_uri} takes in the object {shorten(uri, 200)}, which {reason}")
    return objects


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
    line = _first_line(uri, blobs)
    if line is None:
        return _EMPTY
    if fmt == "csv":
        if str(options.get("header", True)).lower() == "false":
            return None  # Spark names them _c0, _c1 ...: checked in the batch
        sep = str(options.get("sep", options.get("delimiter", ",")))
        quote = str(options.get("quote", '"'))
        try:
            first = next(csv.reader(io.StringIO(line), delimiter=sep, quotechar=quote), [])
        except (csv.Error, TypeError) as exc:
            raise DatasetError(f"{uri}: its CSV header line cannot be read ({exc})") from None
        return [c.strip() for c in first]
    if fmt == "json":
        try:
            obj = json.loads(line)
        except (RecursionError, ValueError):
            raise DatasetError(f"{uri}: the first line is not a JSON object (JSON lines expected)") from None
        return list(obj) if isinstance(obj, dict) else None
    if fmt == "libsvm":
        _check_libsvm_line(uri, line)
    return None


def total_bytes(blobs: BlobStore, uri: str) -> int | None:
    """The bytes under a dataset's URI (a glob: under its literal prefix); None when unknown."""
    glob = [uri.index(c) for c in GLOB_CHARS if c in uri]
    try:
        sizes = blobs.sizes(uri[:min(glob)] if glob else uri)
    except Exception as exc:  # noqa: BLE001 - an estimate only: unknown means the ceiling
        log.warning("dataset size unknown uri=%s error=%s", uri, exc)
        return None
    if not sizes or any(v is None for v in sizes.values()):
        return None
    return sum(int(v) for v in sizes.values())


def column_names(spec: JobSpec, blobs: BlobStore) -> list[str] | None:
    """The dataset's column names from its first non-empty sampled object (None: not knowable
    before Spark reads it). Raises DatasetError."""
    ds = spec.dataset
    for uri in _data_objects(ds.uri, blobs)[:SAMPLED_OBJECTS]:
        found = _columns(ds.format, uri, blobs, ds.options)
        if found is not _EMPTY:
            return None if found is None else found + _partition_columns(ds.uri, uri)
    return None


def columns(fmt: str, uri: str, blobs: BlobStore, options: dict | None = None) -> list[str] | None:
    """One data object's column names as the submission check reads them (None: not knowable
    before Spark reads it; [] for an object with no data). Raises DatasetError with a reason."""
    return _columns(fmt, uri, blobs, options or {})


def head_text(uri: str, blobs: BlobStore) -> str:
    """The first HEAD_BYTES of a text object as text (gzip-decompressed for .gz, without a UTF-8
    BOM); a character cut by the read is dropped. Raises DatasetError for binary or non-UTF-8 data."""
    raw = blobs.read_bytes(uri, max_bytes=HEAD_BYTES)
    data = _gunzip(uri, raw) if uri.endswith(".gz") else raw
    _refuse_binary(uri, data)
    return _decode(uri, data[:HEAD_BYTES].removeprefix(b"\xef\xbb\xbf"), complete=len(raw) < HEAD_BYTES)


def _first_line(uri: str, blobs: BlobStore) -> str | None:
    """The first non-blank line of a text object (gzip-decompressed for .gz), without a UTF-8 BOM;
    None for an object with no text. Reads more of the object until the line ends."""
    size = HEAD_BYTES
    while True:
        raw = blobs.read_bytes(uri, max_bytes=size)
        whole = len(raw) < size
        data = _gunzip(uri, raw) if uri.endswith(".gz") else raw
        _refuse_binary(uri, data)
        text = data.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
        end = text.find(b"\n")
        if end >= 0 or whole:
            line = text[:end] if end >= 0 else text
            return _decode(uri, line.rstrip(b"\r"), complete=True) or None
        if size >= MAX_HEADER_BYTES or len(data) >= MAX_HEADER_BYTES:
            raise DatasetError(f"{uri}: its first line is longer than {MAX_HEADER_BYTES / 2**20:g} MiB, "
                               "the most Zygarde reads of a header at submission")
        size = min(size * 4, MAX_HEADER_BYTES)


def _gunzip(uri: str, raw: bytes) -> bytes:
    if not raw:
        return raw
    try:
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw, MAX_HEADER_BYTES)
    except zlib.error:
        raise DatasetError(f"{uri} ends in .gz but is not gzip data") from None


def _refuse_binary(uri: str, data: bytes) -> None:
    """A sentence naming what a binary object is, in place of its bytes."""
    head = data[:4096]
    if head.startswith(PARQUET_MAGIC):
        raise DatasetError(f"{uri} is a Parquet file, not text: set the dataset's format to parquet")
    if head.startswith(GZIP_MAGIC):
        raise DatasetError(f"{uri} is gzip-compressed but its name does not end in .gz, so Spark would not "
                           "decompress it: rename it to end in .gz")
    if head.startswith((b"PK\x03\x04", b"BZh", b"\xfd7zXZ", b"\x28\xb5\x2f\xfd")):
        raise DatasetError(f"{uri} is a compressed archive, not text: Spark reads only gzip-compressed (.gz) text")
    if b"\x00" in head:
        raise DatasetError(f"{uri} holds binary data, not text in the dataset's format")


def _decode(uri: str, line: bytes, complete: bool) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError as exc:
        if not complete and exc.start >= len(line) - 3:  # a character cut by the read
            return line[:exc.start].decode("utf-8")
        raise DatasetError(f"{uri} is not UTF-8 text (byte 0x{line[exc.start]:02x} at offset {exc.start} of "
                           "its first line): save it as UTF-8") from None


def is_libsvm_line(line: str) -> bool:
    """A LIBSVM line: 'label index:value ...' (a trailing # comment allowed)."""
    tokens = line.split("#", 1)[0].split()
    try:
        float(tokens[0])
        for tok in tokens[1:]:
            index, value = tok.split(":")
            int(index), float(value)
    except (ValueError, IndexError):
        return False
    return True


def _check_libsvm_line(uri: str, line: str) -> None:
    if not is_libsvm_line(line):
        raise DatasetError(f"{uri}: the first line is not LIBSVM ('label index:value ...'): {line[:80]!r}")


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
        raise DatasetError(f"{uri}: its Parquet footer cannot be read ({' '.join(str(exc).split())})") from None
    return list(schema.names)
