"""A model version's global feature importance as a server-rendered SVG bar chart (no script, no WebGL):
permutation importance on validation when it was measured, else the learner's own measure."""
from __future__ import annotations

from html import escape
from typing import Any

from markupsafe import Markup

TOP = 15
BAR_HEIGHT, GAP, LABEL_WIDTH, BAR_WIDTH, VALUE_WIDTH = 18, 6, 180, 320, 80


def measure(section: dict[str, Any]) -> tuple[str, str]:
    """(the columns' key charted, what it means in words)."""
    if any("permutation" in c for c in section.get("columns") or []):
        metric = (section.get("permutation") or {}).get("metric") or "the metric"
        return "permutation", f"how much {metric} worsens on the validation part when the column is shuffled"
    return "native", f"the learner's own measure ({section.get('native') or 'unknown'}), normalised to sum to 1"


def importance_svg(section: dict[str, Any] | None, top: int = TOP) -> Markup | None:
    """The chart of the `top` most important columns; None when the version has no importance."""
    if not section or section.get("status") != "available":
        return None
    key, meaning = measure(section)
    columns = [c for c in section.get("columns") or [] if isinstance(c.get(key), (int, float))][:top]
    if not columns:
        return None
    scale = max(max(abs(float(c[key])) for c in columns), 1e-12)
    height = len(columns) * (BAR_HEIGHT + GAP) + GAP
    width = LABEL_WIDTH + BAR_WIDTH + VALUE_WIDTH
    parts = [f'<svg class="importance-chart" role="img" xmlns="http://www.w3.org/2000/svg" '
             f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
             f"<title>{escape(meaning)}</title>"]
    for i, c in enumerate(columns):
        y = GAP + i * (BAR_HEIGHT + GAP)
        value = float(c[key])
        length = max(0.0, value) / scale * BAR_WIDTH
        name = str(c["column"])
        shown = name if len(name) <= 26 else name[:25] + "…"
        parts += [f'<text x="{LABEL_WIDTH - 6}" y="{y + BAR_HEIGHT - 5}" text-anchor="end">{escape(shown)}</text>',
                  f'<rect class="bar" data-column="{escape(name)}" x="{LABEL_WIDTH}" y="{y}" width="{length:.1f}" '
                  f'height="{BAR_HEIGHT}"><title>{escape(name)}: {value:.4g}</title></rect>',
                  f'<text x="{LABEL_WIDTH + length + 4:.1f}" y="{y + BAR_HEIGHT - 5}">{value:.4g}</text>']
    parts.append("</svg>")
    return Markup("".join(parts))
