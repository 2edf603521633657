"""Queries for the model page's serving part: the aliases, each version's online status, the columns
a version's online model reads (from its manifest) and an example request row built from them."""
from __future__ import annotations

import json
import logging
import threading
from typing import Any

from zygarde.domain.errors import NotFound
from zygarde.service_layer.ports import BlobStore, JobRepository

log = logging.getLogger(__name__)

INTEGER_TYPES = ("tinyint", "smallint", "int", "bigint")
NO_EXPORT = "registered without an ONNX export"


def alias_rows(repo: JobRepository, name: str, visible: set[int]) -> list[dict[str, Any]]:
    """Model `name`'s aliases that point at a version in `visible` (the viewer's), by alias name:
    {"alias", "version", "moved_by", "moved_at", "moves"}."""
    rows = []
    for alias, record in sorted(repo.model_aliases(name).items()):
        version = int(record["version"])
        if version in visible:
            rows.append({"alias": alias, "version": version, "moved_by": record.get("moved_by") or "",
                         "moved_at": record.get("moved_at") or "", "moves": len(record.get("history") or [])})
    return rows


def online_status(online: dict[str, Any]) -> dict[str, Any]:
    """{"available": bool, "reason": str} from a version record's `online` summary."""
    if online.get("status") == "available":
        return {"available": True, "reason": ""}
    return {"available": False, "reason": online.get("reason") or NO_EXPORT}


class ManifestColumns:
    """The input columns of each version's online model, read from its manifest once per process
    (a package is written once and never changed). Failed reads are not kept."""

    def __init__(self, blobs: BlobStore, size: int = 256):
        self.blobs, self.size, self._lock = blobs, size, threading.Lock()
        self._columns: dict[str, list[dict[str, str]]] = {}

    def get(self, manifest_uri: str | None) -> list[dict[str, str]]:
        """[{"name", "kind" ("numeric" | "categorical"), "type" (Spark's)}]; [] when unreadable."""
        if not manifest_uri:
            return []
        with self._lock:
            if manifest_uri in self._columns:
                return self._columns[manifest_uri]
        try:
            manifest = json.loads(self.blobs.read_bytes(manifest_uri))
        except (NotFound, ValueError) as exc:
            log.warning("manifest unreadable manifest_uri=%s error=%s", manifest_uri, exc)
            return []
        columns = input_columns(manifest)
        with self._lock:
            if len(self._columns) >= self.size:
                self._columns.pop(next(iter(self._columns)))
            self._columns[manifest_uri] = columns
        return columns


def input_columns(manifest: dict[str, Any]) -> list[dict[str, str]]:
    """The columns the manifest's online model reads, each with its kind and the training data's type."""
    types = {c.get("name"): c.get("type") for c in manifest.get("input_schema") or [] if isinstance(c, dict)}
    out = []
    for spec in (manifest.get("online") or {}).get("inputs") or []:
        kind = spec.get("kind", "numeric")
        out.append({"name": spec["name"], "kind": kind,
                    "type": types.get(spec["name"]) or ("double" if kind == "numeric" else "string")})
    return out


def example_value(column: dict[str, str], stats: dict[str, Any]) -> Any:
    """A realistic value for one column: the training data's most frequent value or its mean when the
    data report has them (not for withheld values), else a plain value of the column's type."""
    kind, spark_type = column["kind"], column["type"]
    top = [value for value, _ in stats.get("top") or []]
    if spark_type == "boolean":
        return top[0] == "true" if top else True
    if kind != "numeric":
        return top[0] if top else "example"
    mean = stats.get("mean")
    if not isinstance(mean, (int, float)) or isinstance(mean, bool):
        low, high = stats.get("min"), stats.get("max")
        numbers = isinstance(low, (int, float)) and isinstance(high, (int, float))
        mean = (low + high) / 2 if numbers else (1 if spark_type in INTEGER_TYPES else 1.5)
    if spark_type in INTEGER_TYPES:
        return int(round(mean))
    return float(f"{mean:.6g}")


def example_instance(columns: list[dict[str, str]], column_stats: dict[str, dict]) -> dict[str, Any]:
    """One request row {column: value} for a version's online model."""
    return {c["name"]: example_value(c, column_stats.get(c["name"]) or {}) for c in columns}
