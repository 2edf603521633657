"""An ensemble's feature importance (issue #24): its members' importance sections (spark/importance.py,
each measured on the validation part) averaged with the ensemble's weights. Pure (no I/O).

Per column and per measure (`permutation`, `native`), the weighted mean over the members that measured
it (their weights renormalised): a member whose learner has no native measure, or that did not shuffle a
column (importance.MAX_PERMUTED), does not pull that column's value towards zero. Members' native values
are each normalised to sum to 1, so their weighted mean does too when every member has one.
"""
from __future__ import annotations

import math
from typing import Any

MEASURES = ("permutation", "native")
METHOD = ("each member's importance on the validation part, averaged with the ensemble's weights over the "
          "members that measured it")
NO_ATTRIBUTIONS = ("an ensemble has no per-row explanations: its members' attributions are not combined (its "
                   "feature importance is its members', weighted)")


def _rank(row: dict[str, Any]) -> tuple[float, float]:
    """importance.importance's order: permutation first (largest), then native."""
    value = row.get("permutation")
    return (-value if value is not None and math.isfinite(value) else math.inf, -row.get("native", 0.0))


def _native_kind(kinds: list[str]) -> str | None:
    distinct = list(dict.fromkeys(k for k in kinds if k))
    return "+".join(distinct) if distinct else None


def combine(sections: list[dict[str, Any]], weights: list[float], trial_ids: list[str]) -> dict[str, Any]:
    """The ensemble's `importance` section from its members' (in member order), or {"status":
    "unavailable", "reason"} when no member's could be measured."""
    if not (len(sections) == len(weights) == len(trial_ids)):
        raise ValueError("sections, weights and trial_ids: one of each per member")
    measured = [(s, float(w)) for s, w in zip(sections, weights) if (s or {}).get("status") == "available"]
    if not measured:
        reasons = "; ".join(dict.fromkeys(str((s or {}).get("reason") or "not measured") for s in sections))
        return {"status": "unavailable", "reason": f"none of the ensemble's members' importance was measured ({reasons})"}
    columns = list(dict.fromkeys(c["column"] for s, _ in measured for c in s.get("columns") or []))
    totals = {(c, m): [0.0, 0.0] for c in columns for m in MEASURES}  # (weighted sum, weights)
    for section, weight in measured:
        for row in section.get("columns") or []:
            for measure in MEASURES:
                value = row.get(measure)
                if isinstance(value, (int, float)) and math.isfinite(value):
                    total = totals[(row["column"], measure)]
                    total[0] += weight * float(value)
                    total[1] += weight
    rows = []
    for name in columns:
        row: dict[str, Any] = {"column": name}
        for measure in MEASURES:
            value, weight = totals[(name, measure)]
            if weight > 0:
                row[measure] = value / weight
        rows.append(row)
    rows.sort(key=_rank)
    out: dict[str, Any] = {"status": "available", "native": _native_kind([s.get("native") for s, _ in measured]),
                           "columns": rows}
    permutations = [s["permutation"] for s, _ in measured if s.get("permutation")]
    if permutations:
        first = permutations[0]
        out["permutation"] = {"metric": first.get("metric"), "rows": first.get("rows"), "repeats": first.get("repeats"),
                              "part": first.get("part", "validation"),
                              "columns_scored": sum("permutation" in r for r in rows), "columns_total": len(rows),
                              "weighted": True}
        if any(p.get("fitted_on_it") for p in permutations):
            out["permutation"]["fitted_on_it"] = True
    out["ensemble"] = {"method": METHOD, "members": [
        {"trial_id": t, "weight": float(w), "status": (s or {}).get("status"), "native": (s or {}).get("native"),
         **({"reason": s.get("reason")} if (s or {}).get("status") != "available" else {})}
        for s, w, t in zip(sections, weights, trial_ids)]}
    return out
