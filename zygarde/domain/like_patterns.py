"""A row filter's LIKE pattern: checked, then matched without backtracking. Pure, stdlib only.

Spark turns `v like '%a%a%...%b'` into the regex `.*a.*a.*...b`, which backtracks: each `%` multiplies
the work on a value that does not match, so thirty of them held a batch for minutes on 60 rows.
Here a pattern is limited in length and wildcards, and compiled to a regex that never backtracks
past a `%`: the pieces between wildcards have a fixed length, so the leftmost place where each fits
is always a right choice, and an atomic group `(?>.*?piece)` commits to it. Matching is linear in
the value times the pattern. The same regex runs in Java (the batch's `rlike`) and in Python (tests).

LIKE as Spark reads it: `%` any run of characters, `_` one character, `\\` escapes `%`, `_` and
itself (before anything else, or at the end, it is an error: refused here).
"""
from __future__ import annotations

MAX_LIKE_CHARS = 200
MAX_LIKE_WILDCARDS = 10  # runs of '%'
ESCAPE = "\\"
ANY, ONE = object(), object()  # the wildcards, among a pattern's characters


def tokens(pattern: str) -> list:
    """The pattern as literal characters, ONE and ANY (runs of % as one). Raises ValueError for a
    misplaced escape."""
    out: list = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == ESCAPE:
            if i + 1 == len(pattern):
                raise ValueError("ends with the escape character \\ (write \\\\ for a backslash)")
            nxt = pattern[i + 1]
            if nxt not in "%_\\":
                raise ValueError(f"has the escape character \\ before {nxt!r}; it may only precede %, _ or \\")
            out.append(nxt)
            i += 2
            continue
        if ch == "%":
            if not out or out[-1] is not ANY:
                out.append(ANY)
        else:
            out.append(ONE if ch == "_" else ch)
        i += 1
    return out


def problem(pattern: str) -> str | None:
    """Why a LIKE pattern is refused, or None."""
    if len(pattern) > MAX_LIKE_CHARS:
        return f"a like pattern may have at most {MAX_LIKE_CHARS} characters, not {len(pattern)}"
    try:
        found = tokens(pattern)
    except ValueError as exc:
        return f"the like pattern {exc}"
    wildcards = sum(1 for t in found if t is ANY)
    if wildcards > MAX_LIKE_WILDCARDS:
        return f"a like pattern may have at most {MAX_LIKE_WILDCARDS} '%' wildcards, not {wildcards}"
    return None


def _piece(items: list) -> str:
    return "".join("." if t is ONE else (t if t.isalnum() or ord(t) > 127 else "\\" + t) for t in items)


JAVA_END, PYTHON_END = r"\z", r"\Z"  # the very end of the value (Java's \Z, like Python's $, allows a final newline)


def to_regex(pattern: str, end: str = JAVA_END) -> str:
    """A regex that finds exactly the values the LIKE pattern matches, anchored at both ends, without
    backtracking past a wildcard: Java syntax (Spark's rlike), or Python's with end=PYTHON_END."""
    pieces: list[list] = [[]]
    for t in tokens(pattern):
        if t is ANY:
            pieces.append([])
        else:
            pieces[-1].append(t)
    if len(pieces) == 1:
        return r"(?s)\A" + _piece(pieces[0]) + end
    middle = "".join(f"(?>.*?{_piece(p)})" for p in pieces[1:-1])
    return r"(?s)\A" + _piece(pieces[0]) + middle + ".*" + _piece(pieces[-1]) + end
