"""Which dataset paths a job may read. Pure code.

Spark (Hadoop's Path) normalises `.` and `..` segments, percent-decoded or not, so an object
literally named `datasets/../artifacts/JOB/data/train` would be read as another job's prepared
data. Such names are refused wherever they appear: in the job's URI and in every object its
folder or glob names. In Zygarde's bucket a dataset lives under `datasets/{owner}/`.
Also here: Hadoop brace globs (`{a,b}`) expanded into the patterns they stand for.
"""
from __future__ import annotations

from urllib.parse import unquote

from zygarde.config import prefix

MAX_BRACE_PATTERNS = 256  # a glob standing for more patterns than this is refused


def dataset_object_problem(name: str) -> str | None:
    """Why an object name (or the path of a gs:// URI) may not hold dataset data, or None.
    For the upload path too: refuse such names before they are written."""
    decoded = name
    for _ in range(3):  # %252e%252e -> %2e%2e -> ..
        decoded = unquote(decoded)
    if "\\" in decoded:
        return "has a backslash (Zygarde refuses them in dataset paths)"
    if any(ord(c) < 0x20 or c == "\x7f" for c in decoded):
        return "has a control character (Zygarde refuses them in dataset paths)"
    segments = decoded.split("/")
    if any(seg in (".", "..") for seg in segments):
        return "has a '.' or '..' segment (plain or percent-encoded): Spark would resolve it to another path"
    if any(seg == "" for seg in segments[:-1]):
        return "has an empty segment ('//'), which Spark would drop"
    return None


def uri_problem(uri: str, owner: str, zygarde_bucket: str | None) -> str | None:
    """Why a job of `owner` may not read dataset `uri`, or None."""
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    try:
        names = expand_braces(name) if "{" in name or "}" in name else [name]
    except ValueError as exc:
        return f"dataset {uri}: its glob {exc}"
    for each in names:
        if (reason := dataset_object_problem(each)) is not None:
            return f"dataset {uri} {reason}"
    if zygarde_bucket and bucket == zygarde_bucket:
        home = f"gs://{zygarde_bucket}/{prefix('datasets')}{owner}/"
        if not uri.startswith(home):
            return f"dataset {uri}: datasets in Zygarde's bucket live under {home} (the owner's folder)"
    return None


def expand_braces(pattern: str) -> list[str]:
    """The glob patterns a Hadoop brace glob stands for: `d/{a,b}.csv` -> [`d/a.csv`, `d/b.csv`]
    (nested braces too). Raises ValueError for unbalanced braces or too many patterns."""
    out: list[str] = []
    todo = [pattern]
    while todo:
        p = todo.pop()
        open_at = _first_open(p)
        if open_at < 0:
            if "}" in p.replace("\\}", ""):
                raise ValueError("has a '}' without its '{'")
            out.append(p)
            continue
        close_at, commas = _matching_close(p, open_at)
        inner = p[open_at + 1:close_at]
        cuts = [-1, *(c - open_at - 1 for c in commas), len(inner)]
        for a, b in zip(cuts, cuts[1:]):
            todo.append(p[:open_at] + inner[a + 1:b] + p[close_at + 1:])
        if len(out) + len(todo) > MAX_BRACE_PATTERNS:
            raise ValueError(f"stands for more than {MAX_BRACE_PATTERNS} patterns")
    return sorted(set(out))


def _first_open(p: str) -> int:
    for i, ch in enumerate(p):
        if ch == "{" and (i == 0 or p[i - 1] != "\\"):
            return i
    return -1


def _matching_close(p: str, open_at: int) -> tuple[int, list[int]]:
    depth, commas = 0, []
    for i in range(open_at, len(p)):
        ch = p[i]
        if i > 0 and p[i - 1] == "\\":
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i, commas
        elif ch == "," and depth == 1:
            commas.append(i)
    raise ValueError("has a '{' without its '}'")
