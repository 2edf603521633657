"""Checks of an uploaded dataset before it is stored: a plain file name (no path), a known format,
and content that is what the name says (text for CSV / JSON lines / LIBSVM, a Parquet file)."""
from __future__ import annotations

import json
import re

from zygarde.service_layer.catalog import format_of
from zygarde.service_layer.dataset_paths import dataset_object_problem as path_problem
from zygarde.service_layer.datasets import is_libsvm_line

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
SNIFF_BYTES = 64 * 1024


def dataset_object_problem(name: str) -> str | None:
    """Why `name` cannot be a dataset file name under the owner's prefix, or None: a plain name of a
    known format, and nothing the submission check would refuse in a path."""
    if not name:
        return "the file has no name"
    if "/" in name or "\\" in name or name in (".", "..") or ".." in name:
        return "the file name must be a plain name, without folders or '..'"
    if (reason := path_problem(name)) is not None:
        return f"the file name {reason}"
    if not NAME_PATTERN.match(name):
        return "use letters, digits, '.', '_' and '-' only in the file name (at most 200 characters)"
    if format_of(name) is None:
        return "the file must end in .csv, .csv.gz, .parquet, .json, .jsonl, .ndjson, .libsvm or .svm"
    return None


def content_problem(name: str, head: bytes, tail: bytes) -> str | None:
    """Why the first/last bytes of the file do not look like its format, or None."""
    fmt = format_of(name)
    if not head:
        return "the file is empty"
    if fmt == "parquet":
        if head[:4] != b"PAR1" or tail[-4:] != b"PAR1":
            return "this is not a Parquet file (no PAR1 magic bytes)"
        return None
    if name.lower().endswith(".gz"):
        return None if head[:2] == b"\x1f\x8b" else "the file ends in .gz but is not gzip data"
    if b"\x00" in head[:SNIFF_BYTES]:
        return f"this is a binary file, not {fmt.upper() if fmt != 'json' else 'JSON lines'} text"
    try:
        text = head[:SNIFF_BYTES].decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head[:SNIFF_BYTES]) - 4:  # not just a character cut at the sniff boundary
            return "the file is not UTF-8 text"
        text = head[:exc.start].decode("utf-8")
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    if fmt == "json":
        try:
            if not isinstance(json.loads(first), dict):
                raise ValueError
        except ValueError:
            return "the first line is not a JSON object (JSON lines expected: one object per line)"
    elif fmt == "libsvm" and not is_libsvm_line(first):
        return "the first line is not LIBSVM ('label index:value ...')"
    elif fmt == "csv" and "," not in first and ";" not in first and "\t" not in first:
        return "the first line is not a CSV header with several columns"
    return None
