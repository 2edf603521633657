"""The auto-mode benchmark's arithmetic and table. Pure: records in, figures out (no Spark, no cloud).

Per dataset, each side's record holds "test_score" (test AUC or RMSE), "wall_seconds" and trial
counts; the comparison is Zygarde against FLAML: for AUC the difference (Zygarde - FLAML, the
target: >= -0.003), for RMSE the relative difference in percent ((Zygarde - FLAML) / FLAML x 100,
the target: <= 1 %). A side without a test score has no gap and does not meet the target.
"""
from __future__ import annotations

import math
from collections import Counter
from typing import Any, Iterable

from bench.packing_report import fmt

AUC_TOLERANCE = 0.003  # AUC within 0.003 of FLAML, or better
RMSE_TOLERANCE_PERCENT = 1.0  # RMSE within 1 % of FLAML, or better
SPARK_AUC_BINS = 1000  # BinaryClassificationEvaluator's default numBins


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def gap(metric: str, zygarde: float | None, flaml: float | None) -> float | None:
    """AUC: Zygarde - FLAML (positive: Zygarde better). RMSE: (Zygarde - FLAML) / FLAML in percent
    (negative: Zygarde better). None when either score is missing or FLAML's RMSE is 0."""
    if not (_number(zygarde) and _number(flaml)):
        return None
    if metric == "areaUnderROC":
        return zygarde - flaml
    if metric == "rmse":
        return (zygarde - flaml) / flaml * 100.0 if flaml else None
    raise ValueError(f"no target for metric {metric}")


def target_met(metric: str, the_gap: float | None) -> bool | None:
    """Whether the gap meets the issue's target; None when there is no gap to judge."""
    if the_gap is None:
        return None
    if metric == "areaUnderROC":
        return the_gap >= -AUC_TOLERANCE - 1e-12
    if metric == "rmse":
        return the_gap <= RMSE_TOLERANCE_PERCENT + 1e-12
    raise ValueError(f"no target for metric {metric}")


def state_counts(states: Iterable[str], known: Iterable[str]) -> dict[str, Any]:
    """Trials by state. run: trials that ran to an end (SUCCEEDED or FAILED); pruned: trials in a
    PRUNED state, or None when the platform has no such state (`known`: its trial states)."""
    counts = Counter(states)
    known = set(known)
    return {"by_state": dict(sorted(counts.items())), "total": sum(counts.values()),
            "run": counts.get("SUCCEEDED", 0) + counts.get("FAILED", 0),
            "succeeded": counts.get("SUCCEEDED", 0), "failed": counts.get("FAILED", 0),
            "cancelled": counts.get("CANCELLED", 0),
            "pruned": counts.get("PRUNED", 0) if "PRUNED" in known else None}


def spark_binned_auc(labels: list[float], scores: list[float], num_bins: int = SPARK_AUC_BINS) -> float:
    """Area under ROC as Spark's BinaryClassificationMetrics computes it (the evaluator Zygarde's test
    AUC comes from): distinct scores sorted descending, grouped `len // num_bins` at a time when that
    is 2 or more (one partition assumed), then the trapezoid rule over (0,0), the groups' cumulative
    (FPR, TPR) points and (1,1). Without grouping it equals the exact AUC."""
    per_score: dict[float, list[int]] = {}
    for y, s in zip(labels, scores):
        c = per_score.setdefault(float(s), [0, 0])
        c[0 if y == 1 else 1] += 1  # [positives, negatives]
    ordered = [per_score[s] for s in sorted(per_score, reverse=True)]
    grouping = len(ordered) // num_bins if num_bins > 0 else 0
    if grouping >= 2:
        ordered = [[sum(c[0] for c in ordered[i:i + grouping]), sum(c[1] for c in ordered[i:i + grouping])]
                   for i in range(0, len(ordered), grouping)]
    positives, negatives = sum(c[0] for c in ordered), sum(c[1] for c in ordered)
    if not positives or not negatives:
        raise ValueError("AUC needs both classes")
    points, tp, fp = [(0.0, 0.0)], 0, 0
    for p, n in ordered:
        tp, fp = tp + p, fp + n
        points.append((fp / negatives, tp / positives))
    points.append((1.0, 1.0))
    return sum((x1 - x0) * (y0 + y1) / 2 for (x0, y0), (x1, y1) in zip(points, points[1:]))


def compare(metric: str, zygarde: dict | None, flaml: dict | None) -> dict[str, Any]:
    """One dataset's comparison. FLAML's AUC is taken as Spark would compute it (binned, like
    Zygarde's) when its record has "test_score_spark_binned", else its exact score."""
    z = (zygarde or {}).get("test_score")
    f_record = flaml or {}
    f = f_record.get("test_score_spark_binned", f_record.get("test_score")) if metric == "areaUnderROC" \
        else f_record.get("test_score")
    g = gap(metric, z, f)
    return {"metric": metric, "zygarde_test": z, "flaml_test": f, "flaml_test_exact": f_record.get("test_score"),
            "gap": g, "gap_unit": "AUC difference" if metric == "areaUnderROC" else "RMSE relative %",
            "target_met": target_met(metric, g),
            "target": f">= -{AUC_TOLERANCE}" if metric == "areaUnderROC" else f"<= +{RMSE_TOLERANCE_PERCENT:g} %"}


def _fmt(value: Any, digits: int = 4) -> str:
    return fmt(value, digits)


def _trials(record: dict) -> str:
    t = record.get("trials") or {}
    if not t:
        return "-"
    pruned = "n/a" if t.get("pruned") is None else str(t["pruned"])
    extra = f", {t['cancelled']} cancelled" if t.get("cancelled") else ""
    return f"{t.get('run', '-')} run ({t.get('failed', 0)} failed{extra}), {pruned} pruned"


def table(results: dict[str, dict]) -> str:
    """A plain-text table: per dataset and side, the test score, wall seconds, trials, and the gap.
    results: {dataset: {"metric", "zygarde": record|None, "flaml": record|None, "comparison"}}."""
    cols = ["dataset", "side", "metric", "test", "wall s", "trials", "state", "gap", "target met"]
    rows = [cols]
    for name, r in results.items():
        comparison = r.get("comparison") or {}
        for side in ("zygarde", "flaml"):
            record = r.get(side)
            if record is None:
                rows.append([name, side, r["metric"], "-", "-", "skipped", "-", "", ""])
                continue
            score = _fmt(comparison.get(f"{side}_test") if comparison else record.get("test_score"))
            exact = record.get("test_score") if side == "flaml" else None
            if exact is not None and _fmt(exact) != score:
                score += f" (exact {_fmt(exact)})"
            rows.append([name, side, r["metric"], score, _fmt(record.get("wall_seconds"), 1),
                         _trials(record), str(record.get("state", "-")), "", ""])
        g = comparison.get("gap")
        unit = "" if g is None else (" %" if r["metric"] == "rmse" else "")
        digits = 2 if r["metric"] == "rmse" else 4
        rows[-1][7:] = [("-" if g is None else f"{g:+.{digits}f}{unit}"), _fmt(comparison.get("target_met"))]
    widths = [max(len(row[i]) for row in rows) for i in range(len(cols))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines += ["", f"gap: AUC Zygarde - FLAML (target >= -{AUC_TOLERANCE}); RMSE (Zygarde - FLAML) / FLAML "
                  f"(target <= +{RMSE_TOLERANCE_PERCENT:g} %)",
              f"FLAML's test AUC as Spark's evaluator computes Zygarde's ({SPARK_AUC_BINS} bins); exact in brackets"]
    for name, r in results.items():
        z = r.get("zygarde")
        if z is not None and z.get("test_score") is None:  # no model: no trial was scored in time
            lines.append(f"{name}: Zygarde has no test score: the job ended {z.get('state')}"
                         + (f" ({z['ended_because']})" if z.get("ended_because") else ""))
    return "\n".join(lines)
