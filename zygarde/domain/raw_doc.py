"""Whatever bytes arrive as a job: read them as JSON within limits, say what is wrong in one
sentence naming the field, and make any document safe to store (Firestore keeps 64-bit integers,
finite-or-not doubles, valid UTF-8 text, documents under 1 MiB). Pure code.
"""
from __future__ import annotations

import json
import math
from typing import Any

MAX_JOB_BYTES = 256 * 1024  # a job document larger than this is refused unread
MAX_DEPTH = 32  # objects and lists nested deeper than this are refused
MAX_TEXT = 4096  # characters in any one string of a job
MAX_KEY_BYTES = 1500  # Firestore's limit on a field name
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1
STORED_RAW_CHARS = 20_000  # of a rejected job's raw text kept with its record
STORED_REASON_CHARS = 2_000


class RawDocError(ValueError):
    """The bytes are not a readable JSON document; `path` names the field ("" for the whole)."""

    def __init__(self, path: str, reason: str):
        self.path, self.reason = path, reason
        super().__init__(f"{path}: {reason}" if path else reason)


def load(raw: bytes | str) -> Any:
    """The JSON document in `raw`; raises RawDocError with a one-sentence reason."""
    if isinstance(raw, bytes):
        if len(raw) > MAX_JOB_BYTES:
            raise RawDocError("", f"the job is {len(raw):,} bytes, more than the {MAX_JOB_BYTES // 1024} KiB limit")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RawDocError("", f"the job is not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset "
                                  f"{exc.start} is invalid)") from None
    else:
        text = raw
        if len(text) > MAX_JOB_BYTES:
            raise RawDocError("", f"the job is {len(text):,} characters, more than the "
                                  f"{MAX_JOB_BYTES // 1024} KiB limit")
    text = text.removeprefix("\ufeff")
    if _bracket_depth(text) > MAX_DEPTH:
        raise RawDocError("", f"the job nests objects or lists more than {MAX_DEPTH} levels deep")
    try:
        return json.loads(text, parse_constant=_constant, parse_int=_integer)
    except RawDocError:
        raise
    except json.JSONDecodeError as exc:
        raise RawDocError("", f"the job is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") \
            from None
    except RecursionError:  # _bracket_depth should have caught it
        raise RawDocError("", f"the job nests objects or lists more than {MAX_DEPTH} levels deep") from None
    except ValueError:  # an integer of thousands of digits
        raise RawDocError("", "the job holds a number too long to read (integers must fit in 64 bits)") from None


class LongNumber:
    """An integer written with more digits than any 64-bit integer has: kept unparsed (converting
    thousands of digits is slow), so that `problems` names the field that holds it."""

    def __init__(self, digits: str):
        self.digits = digits

    def __str__(self) -> str:
        return self.digits

    def __repr__(self) -> str:
        return f"LongNumber({shorten(self.digits, 40)!r})"


def _integer(digits: str) -> int | LongNumber:
    return int(digits) if len(digits) <= 20 else LongNumber(digits)  # 2**63 has 19 digits


def _constant(name: str) -> float:
    raise RawDocError("", f"the job is not valid JSON ({name} is not a JSON number)")


def _bracket_depth(text: str) -> int:
    """The deepest nesting of [ and { outside strings (an upper bound for invalid JSON)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def problems(doc: Any) -> list[tuple[str, str]]:
    """(field path, reason) for each value no job may hold: a number out of range or not finite, a
    string that is not valid Unicode or longer than MAX_TEXT."""
    out: list[tuple[str, str]] = []
    stack: list[tuple[str, Any]] = [("", doc)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                where = f"{path}.{key}" if path else str(key)
                if not key:
                    out.append((path or "(document)", "has a field whose name is empty"))
                elif len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
                    out.append((path or "(document)", f"has a field name longer than {MAX_KEY_BYTES:,} bytes"))
                elif (reason := _text_problem(key)) is not None:
                    out.append((path or "(document)", f"a field name {reason}"))
                elif key.startswith("__") and key.endswith("__"):
                    out.append((where, "field names of the form __name__ are reserved"))
                else:
                    stack.append((where, item))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", item) for i, item in enumerate(value))
        elif (reason := value_problem(value)) is not None:
            out.append((path, reason))
    return sorted(out)


def value_problem(value: Any) -> str | None:
    """Why a scalar cannot be part of a job, or None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, LongNumber):
        return f"the number {shorten(value.digits, 40)} is out of range (integers must fit in 64 bits)"
    if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
        return f"the number {shorten(str(value), 40)} is out of range (integers must fit in 64 bits)"
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number (a value beyond ±1.8e308 reads as infinite)"
    if isinstance(value, str):
        return _text_problem(value)
    return None


def _text_problem(text: str) -> str | None:
    if len(text) > MAX_TEXT:
        return f"is {len(text):,} characters long, more than the {MAX_TEXT:,} allowed"
    if not is_valid_unicode(text):
        return "is not valid Unicode text (it holds a lone surrogate escape such as \\ud800)"
    return None


def is_valid_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def shorten(text: str, limit: int) -> str:
    """`text` cut to `limit` characters (an ellipsis and the full length when cut)."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def safe_text(text: Any, limit: int) -> str:
    """Valid UTF-8 text of at most about `limit` characters, for storing and logging."""
    text = text if isinstance(text, str) else str(text)
    if not is_valid_unicode(text):
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return shorten(text, limit)


def storable(value: Any, depth: int = 0) -> Any:
    """`value` with everything Firestore cannot store turned to text: integers beyond 64 bits,
    non-finite numbers, invalid Unicode, very long strings, deep nesting."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if INT64_MIN <= value <= INT64_MAX else shorten(str(value), 40)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return safe_text(value, MAX_TEXT)
    if depth >= MAX_DEPTH:
        return safe_text(json.dumps(value, default=str)[:MAX_TEXT], MAX_TEXT)
    if isinstance(value, dict):
        return {safe_text(k, 200): storable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [storable(v, depth + 1) for v in value]
    return safe_text(value, MAX_TEXT)
