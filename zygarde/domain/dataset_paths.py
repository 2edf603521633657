"""Which object names may hold dataset data, and what a listing may return. Pure code, stdlib only:
the submission checks them (zygarde.service_layer.dataset_paths) and so does every batch that lists
a dataset (zygarde.spark.listing).

Spark (Hadoop's Path) normalises `.` and `..` segments, percent-decoded or not, so an object
literally named `datasets/../artifacts/JOB/data/train` would be read as another job's prepared
data, and a folder holding `racedir/../../A/secret.csv` lists as a folder inside itself (a listing
that never ends). Such names are refused wherever they appear. Also here: Hadoop brace globs
(`{a,b}`) expanded into the patterns they stand for.
"""
from __future__ import annotations

from urllib.parse import unquote

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


def object_name(uri: str) -> str:
    """The path part of a URI: `gs://b/datasets/x.csv` -> `datasets/x.csv`, `file:/tmp/x` -> `tmp/x`."""
    scheme, sep, rest = uri.partition(":")
    if not sep or "/" in scheme:
        return uri.lstrip("/")
    rest = rest.lstrip("/") if not rest.startswith("//") else rest[2:].partition("/")[2]
    return rest.lstrip("/") if scheme == "file" else rest


def listed_object_problem(listed: str, found: str, home: str | None = None) -> str | None:
    """Why `found`, returned by a listing of the folder `listed` (or matched by a glob under it),
    may not be read as dataset data, or None. It must lie strictly inside `listed` (a name with a
    `..` segment lists as a folder outside it, or as the folder itself), pass dataset_object_problem,
    and lie under `home` (the owner's folder) when one is given. URIs as the file system spells them."""
    base = listed.rstrip("/") + "/"
    if not found.startswith(base) or len(found.rstrip("/")) <= len(base.rstrip("/")):
        return f"is not inside {listed} although listing it returned it (an object name with a '..' segment?)"
    reason = dataset_object_problem(object_name(found))
    if reason is not None:
        return reason
    if home is not None and not found.startswith(home.rstrip("/") + "/"):
        return f"is outside the owner's folder {home}"
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
