"""What `Client.train` and `Model.predict` send: a pandas DataFrame, a Spark DataFrame or a local CSV or
Parquet file, made one Parquet dataset under the user's folder datasets/{owner}/ (where every way in
puts a user's data: `zygarde upload`, the web app's upload). A pandas frame or a file becomes one
object named after its content (the same data is uploaded once); a small Spark DataFrame goes through
pandas, a large one is written by Spark itself as a folder of Parquet part files. A `gs://` URI of a
dataset already in the user's folder is used as it is.

Nothing is written until the job's checks pass: `Staged.blobs(store)` is the bucket as it will be once
the object is written, for the same dataset checks the submit function runs."""
from __future__ import annotations

import hashlib
import io
import os
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from zygarde.domain.errors import DatasetError, NotFound, SpecError
from zygarde.service_layer.catalog import format_of, owner_prefix
from zygarde.service_layer.ports import BlobStore

SMALL_SPARK_ROWS = 200_000  # a Spark DataFrame of at most this many rows is collected through pandas
MAX_DISTINCT = 10_000  # distinct target values kept to suggest a task
FILE_SUFFIXES = (".csv", ".csv.gz", ".parquet")


@dataclass
class Staged:
    """A dataset ready to be (or already) written: its URI and format, its columns, the bytes to write
    (None when it is already in the bucket) and the target's distinct values (to suggest a task)."""

    uri: str
    format: str
    columns: list[str]
    payload: bytes | None = None
    target_values: list[str] | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def blobs(self, store: BlobStore) -> BlobStore:
        """The bucket as it will be once the payload is written (reads only)."""
        return store if self.payload is None else _WithObject(store, self.uri, self.payload)

    def write(self, store: BlobStore) -> None:
        """Write the payload (once: an object of the same name holds the same bytes)."""
        if self.payload is not None and not store.exists(self.uri):
            store.write_bytes(self.uri, self.payload, "application/vnd.apache.parquet")


class _WithObject(BlobStore):
    """A read-only view of a store with one more object in it."""

    def __init__(self, store: BlobStore, uri: str, data: bytes):
        self.store, self.uri, self.data = store, uri, data

    def read_bytes(self, uri: str, max_bytes: int | None = None) -> bytes:
        if uri == self.uri:
            return self.data if max_bytes is None else self.data[:max_bytes]
        return self.store.read_bytes(uri, max_bytes)

    def read_tail(self, uri: str, n: int) -> bytes:
        if uri == self.uri:
            return self.data[-n:] if n > 0 else b""
        return self.store.read_tail(uri, n)

    def write_bytes(self, uri, data, content_type="application/octet-stream", if_generation_match=None) -> int:
        raise NotImplementedError("a staged view is read-only")

    def exists(self, uri: str) -> bool:
        return uri == self.uri or self.store.exists(uri)

    def list(self, uri_prefix: str) -> list[str]:
        found = set(self.store.list(uri_prefix))
        return sorted(found | {self.uri} if self.uri.startswith(uri_prefix) else found)

    def sizes(self, uri_prefix: str) -> dict[str, int | None]:
        sizes = self.store.sizes(uri_prefix)
        if self.uri.startswith(uri_prefix):
            sizes[self.uri] = len(self.data)
        return sizes


def kind_of(data: Any) -> str:
    """"pandas", "spark", "file" or "uri"; SpecError naming `data` for anything else."""
    if _is_spark(data):
        return "spark"
    if isinstance(data, (str, os.PathLike)):
        return "uri" if str(data).startswith("gs://") else "file"
    if type(data).__module__.split(".")[0] == "pandas" and hasattr(data, "to_parquet"):
        return "pandas"
    raise SpecError([("data", "must be a pandas DataFrame, a Spark DataFrame, a path to a local CSV or Parquet "
                              f"file, or a gs:// URI of one of your datasets; got {type(data).__name__}")])


def _is_spark(data: Any) -> bool:
    return type(data).__module__.startswith("pyspark.") and hasattr(data, "toPandas") and hasattr(data, "write")


def stage(data: Any, target: str | None, owner: str, bucket: str, stem: str | None = None) -> Staged:
    """The dataset `data` makes under gs://BUCKET/datasets/OWNER/. Raises SpecError or DatasetError,
    naming `data` (what was given) or the field at fault. A large Spark DataFrame is written here."""
    kind = kind_of(data)
    if kind == "pandas":
        return _from_pandas(data, target, owner, bucket, stem or "dataframe")
    if kind == "spark":
        return _from_spark(data, target, owner, bucket, stem or "spark")
    if kind == "uri":
        return _existing(str(data))
    return _from_file(Path(data), target, owner, bucket)


def _existing(uri: str) -> Staged:
    fmt = format_of(uri.rstrip("/")) or ("parquet" if uri.endswith("/") else None)
    if fmt is None:
        raise SpecError([("data", f"cannot tell the format of {uri[:200]}: name a file ending in .csv, .parquet, "
                                  ".json, .jsonl or .libsvm (or a folder of Parquet part files ending in /)")])
    return Staged(uri, fmt, [])


def _from_pandas(df, target: str | None, owner: str, bucket: str, stem: str) -> Staged:
    names = list(df.columns)
    bad = [repr(c) for c in names if not isinstance(c, str) or not c.strip()]
    if bad:
        raise SpecError([("data", f"column names must be non-empty strings; {', '.join(bad[:5])} "
                                  f"{'is' if len(bad) == 1 else 'are'} not")])
    repeated = sorted({c for c in names if names.count(c) > 1})
    if repeated:
        raise SpecError([("data", f"the columns {', '.join(map(repr, repeated[:5]))} appear more than once")])
    if len(df) == 0:
        raise DatasetError("data: the DataFrame has no rows")
    buffer = io.BytesIO()
    try:
        df.to_parquet(buffer, index=False, engine="pyarrow")
    except Exception as exc:  # noqa: BLE001 - pyarrow's many conversion errors: one sentence naming the data
        raise DatasetError(f"data: the DataFrame cannot be written as Parquet ({type(exc).__name__}: "
                           f"{str(exc)[:200]})") from None
    payload = buffer.getvalue()
    values = None
    if target is not None and target in names:
        distinct = df[target].dropna().unique()[:MAX_DISTINCT]
        values = [str(v) for v in distinct]
    return Staged(object_uri(bucket, owner, stem, payload), "parquet", names, payload, values)


def _from_spark(df, target: str | None, owner: str, bucket: str, stem: str) -> Staged:
    if df.limit(SMALL_SPARK_ROWS + 1).count() <= SMALL_SPARK_ROWS:
        return _from_pandas(df.toPandas(), target, owner, bucket, stem)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    uri = f"{owner_prefix(bucket, owner)}{_safe_stem(stem)}-{stamp}-{secrets.token_hex(4)}/"
    df.write.mode("errorifexists").parquet(uri)  # the session must be able to write gs:// (Dataproc, Databricks)
    values = None
    if target is not None and target in df.columns:
        rows = df.select(target).where(df[target].isNotNull()).distinct().limit(MAX_DISTINCT).collect()
        values = [str(r[0]) for r in rows]
    return Staged(uri, "parquet", list(df.columns), None, values)


def _from_file(path: Path, target: str | None, owner: str, bucket: str) -> Staged:
    from zygarde.web.uploads import content_problem

    name = path.name
    if not name.lower().endswith(FILE_SUFFIXES):
        raise SpecError([("data", f"{name[:200]} is not a CSV or Parquet file (a name ending in "
                                  f"{', '.join(FILE_SUFFIXES)})")])
    if not path.is_file():
        raise DatasetError(f"data: there is no file {str(path)[:300]}")
    stem = re.sub(r"(\.csv\.gz|\.csv|\.parquet)$", "", name, flags=re.IGNORECASE)
    if name.lower().endswith(".parquet"):
        payload = path.read_bytes()
        if (problem := content_problem(name, payload[:64 * 1024], payload[-8:])) is not None:
            raise DatasetError(f"data: {name[:200]}: {problem}")
        import pyarrow.parquet as pq

        columns = list(pq.read_schema(io.BytesIO(payload)).names)
        values = None
        if target is not None and target in columns:
            column = pq.read_table(io.BytesIO(payload), columns=[target]).column(0).drop_null().unique()
            values = [str(v) for v in column.to_pylist()[:MAX_DISTINCT]]
        return Staged(object_uri(bucket, owner, stem, payload), "parquet", columns, payload, values)
    import pandas as pd

    try:
        df = pd.read_csv(path)
    except (ValueError, UnicodeDecodeError, OSError) as exc:  # pandas' parser errors are ValueErrors
        raise DatasetError(f"data: {name[:200]} cannot be read as CSV ({type(exc).__name__}: {str(exc)[:200]})") \
            from None
    return _from_pandas(df, target, owner, bucket, stem)


def _safe_stem(stem: str) -> str:
    """A name part the dataset naming rules take (zygarde.web.uploads): letters, digits, '.', '_', '-'."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-._")[:60]
    return safe if safe and safe[0].isalnum() else "data"


def object_uri(bucket: str, owner: str, stem: str, payload: bytes) -> str:
    """gs://BUCKET/datasets/OWNER/STEM-HASH.parquet: named after its content, checked by the upload rules."""
    from zygarde.web.uploads import dataset_object_problem

    name = f"{_safe_stem(stem)}-{hashlib.sha256(payload).hexdigest()[:12]}.parquet"
    if (problem := dataset_object_problem(name)) is not None:  # never, for a name made as above
        raise DatasetError(f"data: {problem}")
    return owner_prefix(bucket, owner) + name


def read_parquet_objects(store: BlobStore, uri_prefix: str):
    """The pandas DataFrame of the Parquet part files under a folder (Spark's output), in name order."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    parts = [u for u in store.list(uri_prefix) if u.endswith(".parquet")]
    if not parts:
        raise NotFound(f"no Parquet files under {uri_prefix}")
    tables = [pq.read_table(io.BytesIO(store.read_bytes(u))) for u in sorted(parts)]
    return pa.concat_tables(tables, promote_options="default").to_pandas() if tables else pd.DataFrame()
