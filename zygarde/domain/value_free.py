"""Error text from Spark or Dataproc made fit for a job's reasons: no data value survives. Pure.

Spark's ANSI errors quote the value that broke them (`[CAST_INVALID_INPUT] The value 'hunter2' of
the type "STRING" cannot be cast to "BIGINT"...`), which put a password column's value in a job's
public reason. `translate` turns the errors a row filter or a dataset can raise into a sentence that
names the problem and its error class, never the value; `scrub` is the last line of defence for any
other text: every quoted span is replaced, but for type names and settings.
"""
from __future__ import annotations

import re

HIDDEN = "…"
# Spark's error class -> what went wrong, without the value
VALUE_ERRORS = {
    "CAST_INVALID_INPUT": "a value cannot be converted to the type the expression needs (compare text "
                          "with quoted strings, or numbers with numbers)",
    "CAST_OVERFLOW": "a value is too large for the type it is converted to",
    "CAST_OVERFLOW_IN_TABLE_INSERT": "a value is too large for the type it is converted to",
    "ARITHMETIC_OVERFLOW": "an arithmetic result is too large for its type (an integer overflow)",
    "BINARY_ARITHMETIC_OVERFLOW": "an arithmetic result is too large for its type (an integer overflow)",
    "DIVIDE_BY_ZERO": "a value is divided by zero",
    "INTERVAL_DIVIDED_BY_ZERO": "a value is divided by zero",
    "REMAINDER_BY_ZERO": "a value is divided by zero",
    "NUMERIC_VALUE_OUT_OF_RANGE": "a number does not fit its decimal type",
    "NUMERIC_OUT_OF_SUPPORTED_RANGE": "a number is out of the supported range",
    "CANNOT_PARSE_TIMESTAMP": "a text value is not a date or time in the expected form",
    "CANNOT_PARSE_DECIMAL": "a text value is not a decimal number",
    "DATETIME_OVERFLOW": "a date or time is out of range",
    "DATETIME_FIELD_OUT_OF_BOUNDS": "a date or time field is out of range",
    "INVALID_FRACTION_OF_SECOND": "a date or time has an invalid fraction of a second",
    "INVALID_FORMAT": "a like pattern or format has a misplaced escape character",
    "INVALID_LIKE_PATTERN": "a like pattern is invalid",
    "INVALID_REGEXP_REPLACE": "a pattern is invalid",
}
_CLASS = re.compile(r"\[([A-Z][A-Z0-9_]+)(?:\.[A-Z0-9_]+)?\]")
# Java exceptions whose message carries the value (no error class)
_JAVA_VALUE_ERRORS = {
    "java.lang.NumberFormatException": "a text value is not a number",
    "java.lang.ArithmeticException": "an arithmetic result is out of range (an overflow or a division by zero)",
    "java.time.format.DateTimeParseException": "a text value is not a date or time in the expected form",
}
_QUOTED = re.compile(r"'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"")
_KEPT_QUOTED = re.compile(r"[A-Z][A-Z0-9_ ]*(?:\(\s*\d+(?:\s*,\s*\d+)?\s*\))?|spark\.[\w.]+|[a-z_]+\([^)]*\)")
_VALUE_PHRASE = re.compile(r"(\b[Tt]he value |\bFor input string: ?|\bText )(\S+)(?= of the type| cannot|\s*$|,? could not)")


def error_classes(text: str) -> list[str]:
    """Spark's error classes in an error's text, outermost first (`[CAST_INVALID_INPUT] ...`)."""
    return [m.group(1) for m in _CLASS.finditer(text or "")]


def translate(text: str, java_class: str | None = None) -> str | None:
    """A value-free sentence for an error that a data value caused (an ANSI cast, overflow, division
    by zero, unparsable date...), or None when the text is no such error."""
    found = next((c for c in error_classes(text) if c in VALUE_ERRORS), None)
    if found is not None:
        return f"{VALUE_ERRORS[found]} ({found})"
    for name, sentence in _JAVA_VALUE_ERRORS.items():
        if java_class == name or f"{name}:" in (text or ""):
            return f"{sentence} ({name.rsplit('.', 1)[-1]})"
    return None


def scrub(text: str) -> str:
    """`text` with every quoted span that could hold a value replaced by …; type names in double
    quotes ("BIGINT", "DECIMAL(10,2)"), settings and function names are kept. Back-quoted column names
    are not values and stay."""
    def quoted(m: re.Match) -> str:
        inner = m.group(0)[1:-1]
        if m.group(0)[0] == '"' and _KEPT_QUOTED.fullmatch(inner):
            return m.group(0)
        return m.group(0)[0] + HIDDEN + m.group(0)[0]

    text = _QUOTED.sub(quoted, text or "")
    return _VALUE_PHRASE.sub(lambda m: m.group(1) + (m.group(2) if m.group(2) in ("'…'", '"…"') else HIDDEN), text)
