"""Plotly figures (as plain JSON dicts, drawn by plotly.js in the page) from a job's series."""
from __future__ import annotations

_LAYOUT = {"margin": {"l": 60, "r": 20, "t": 40, "b": 50}, "height": 340}


def _layout(title: str, **extra) -> dict:
    return {**_LAYOUT, "title": {"text": title}, **extra}


def figures(series: dict, metric: str | None) -> dict[str, dict]:
    """Chart id -> {data, layout}: objective over time, parallel coordinates per algorithm,
    objective against each parameter, trial durations on a timeline."""
    metric = metric or "objective"
    obj = series["objective"]
    out = {"objective": {"data": [
        {"type": "scatter", "mode": "markers", "name": "trial", "x": obj["time"], "y": obj["value"],
         "text": obj["trial"]},
        {"type": "scatter", "mode": "lines", "name": "best so far", "line": {"shape": "hv"}, "x": obj["time"],
         "y": obj["best"]}],
        "layout": _layout(f"{metric} over time", xaxis={"title": {"text": "finished"}},
                          yaxis={"title": {"text": metric}})}}
    for algo, rows in sorted(series["by_algorithm"].items()):
        names = sorted({k for r in rows for k, v in r["params"].items() if isinstance(v, (int, float, bool))})
        if names and len(rows) > 1:  # a line per trial: nothing to see with one
            dims = [{"label": n, "values": [float(r["params"].get(n, 0) or 0) for r in rows]} for n in names]
            dims.append({"label": metric, "values": [r["objective"] for r in rows]})
            out[f"parcoords-{algo}"] = {"data": [{"type": "parcoords", "dimensions": dims,
                                                  "line": {"color": [r["objective"] for r in rows]}}],
                                        "layout": _layout(f"{algo}: parameters and {metric}")}
        for name in sorted({k for r in rows for k in r["params"]}):
            out[f"param-{algo}-{name}"] = {"data": [{
                "type": "scatter", "mode": "markers", "x": [_plain(r["params"].get(name)) for r in rows],
                "y": [r["objective"] for r in rows], "text": [r["trial_id"] for r in rows]}],
                "layout": _layout(f"{algo}: {metric} against {name}", xaxis={"title": {"text": name}},
                                  yaxis={"title": {"text": metric}})}
    timeline = series["timeline"]
    out["timeline"] = {"data": [{
        "type": "bar", "orientation": "h", "y": [t["trial_id"] for t in timeline],
        "base": [t["start"] for t in timeline], "x": [_ms(t["start"], t["end"]) for t in timeline],
        "text": [f"{t['algorithm']} {t['state']}" for t in timeline]}],
        "layout": _layout("trial durations", xaxis={"type": "date"}, yaxis={"automargin": True})}
    return out


def _plain(value):
    return value if isinstance(value, (int, float, str)) and not isinstance(value, bool) else str(value)


def _ms(start: str | None, end: str | None) -> float | None:
    """Bar length in milliseconds (plotly date axes), running bars drawn to their start."""
    from datetime import datetime

    if not (start and end):
        return 0
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds() * 1000
