"""What of a data report is kept in the job's record. Pure.

Firestore holds at most 1 MiB per document, and a report of a wide dataset (thousands of columns,
each with its statistics) is larger. The record keeps the whole report when it is small, else the
report with its per-column parts cut to the first columns and a note of how much was left out; the
full report stays in the bucket (report.json beside the prepared parts).
"""
from __future__ import annotations

import json
from typing import Any

MAX_RECORD_BYTES = 256 * 1024
KEPT_COLUMNS = 300
KEPT_WARNINGS = 200


def _size(value: Any) -> int:
    return len(json.dumps(value, sort_keys=True, default=str).encode("utf-8"))


def report_for_record(report: dict[str, Any], full_report_uri: str,
                      max_bytes: int = MAX_RECORD_BYTES) -> dict[str, Any]:
    """The report itself when it fits in `max_bytes`, else a copy with the schema, per-column
    statistics and warnings cut, and `truncated` saying what was kept and where the rest is."""
    if _size(report) <= max_bytes:
        return report
    kept = dict(report)
    schema = list(report.get("schema") or [])
    columns = dict(report.get("columns") or {})
    names = [c.get("name") for c in schema if isinstance(c, dict)] or list(columns)
    target = report.get("target")
    keep = [n for n in names if n == target] + [n for n in names if n != target][:KEPT_COLUMNS]
    kept["schema"] = [c for c in schema if isinstance(c, dict) and c.get("name") in set(keep)]
    kept["columns"] = {n: columns[n] for n in keep if n in columns}
    kept["warnings"] = list(report.get("warnings") or [])[:KEPT_WARNINGS]
    kept["truncated"] = {"columns": len(names), "columns_kept": len(kept["columns"]),
                         "warnings": len(report.get("warnings") or []), "warnings_kept": len(kept["warnings"]),
                         "full_report": full_report_uri}
    if _size(kept) > max_bytes:  # still too large (huge problems or class lists): keep the headline only
        kept = {k: report[k] for k in ("target", "task", "row_count", "rows_with_target", "split") if k in report}
        kept["problems"] = [str(p)[:500] for p in (report.get("problems") or [])[:20]]
        kept["truncated"] = {"columns": len(names), "columns_kept": 0, "full_report": full_report_uri}
    return kept
