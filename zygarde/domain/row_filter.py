"""What a job's row_filter (a Spark SQL condition) may contain.

The condition runs inside the job's own batch, under the Spark service account, which can read the
whole Zygarde bucket. A subquery (`x IN (SELECT * FROM parquet.`gs://...`)`) or Java reflection
(`reflect`, `java_method`) would let one user's job read other users' data or run code, so they are
refused by name here, before anything is launched; the preparation batch checks the parsed
expression again.
"""
from __future__ import annotations

import re

# A subquery needs SELECT or TABLE (`x IN (TABLE parquet.`gs://...`)`); FROM alone is harmless
# (`extract(YEAR FROM d)`, `trim(BOTH ' ' FROM c)`).
FORBIDDEN_WORDS = ("select", "table", "reflect", "try_reflect", "java_method")
_STRING_LITERAL = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", re.DOTALL)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def problem(condition: str) -> str | None:
    """Why `condition` is refused, or None. String literals may say anything."""
    code = _STRING_LITERAL.sub("''", condition)
    if ";" in code:
        return "must be one condition (no ';')"
    if "${" in condition:  # Spark SQL substitutes ${env:...} and ${system:...} before parsing
        return "may not use ${...}: variable substitution would read the batch's environment"
    words = {w.lower() for w in _WORD.findall(code)}
    found = [w for w in FORBIDDEN_WORDS if w in words]
    if found:
        return (f"may not use {', '.join(found)}: a row filter is a condition on the dataset's own "
                "columns (subqueries and Java reflection are not allowed)")
    return None
