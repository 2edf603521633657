"""Plotly figures (as plain JSON dicts, drawn by plotly.js in the page) from a job's series."""
from __future__ import annotations

import math

_LAYOUT = {"margin": {"l": 60, "r": 20, "t": 40, "b": 50}, "height": 340}
COLORSCALE = "Viridis"


def _layout(title: str, **extra) -> dict:
    return {**_LAYOUT, "title": {"text": title}, **extra}


def figures(series: dict, metric: str | None) -> dict[str, dict]:
    """Chart id -> {data, layout}: objective over time, parallel coordinates per algorithm,
    objective against each parameter, trial durations on a timeline. A parallel-coordinates figure
    (plotly's `parcoords`, drawn with WebGL) carries `fallback`: the same lines as SVG traces, which
    the page draws where the browser has no WebGL."""
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
            title = f"{algo}: parameters and {metric}"
            out[f"parcoords-{algo}"] = {"data": [{"type": "parcoords", "dimensions": dims,
                                                  "line": {"color": [r["objective"] for r in rows],
                                                           "colorscale": COLORSCALE}}],
                                        "layout": _layout(title),
                                        "fallback": parallel_svg(dims, [r["trial_id"] for r in rows], title)}
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


def parallel_svg(dims: list[dict], trials: list[str], title: str) -> dict:
    """Parallel coordinates as plain scatter traces (SVG, no WebGL): one vertical axis per dimension at
    x = 0, 1, ..., each scaled to [0, 1] between its lowest and highest value (log-scaled when its
    positive values span 100x or more, as regularisation strengths do), one line per trial coloured by
    the last dimension (the metric) on the same colour scale as `parcoords`, each axis labelled with its
    range."""
    from plotly.colors import sample_colorscale

    scaled = [_scale(d["values"]) for d in dims]
    metric = dims[-1]["values"]
    low, high = _bounds(metric)
    colours = sample_colorscale(COLORSCALE, [0.5 if high == low else (m - low) / (high - low) for m in metric])
    xs = list(range(len(dims)))
    data = [{"type": "scatter", "mode": "lines+markers", "x": xs, "y": [s[i] for s in scaled], "name": trial,
             "line": {"color": colours[i], "width": 2}, "marker": {"size": 5, "color": colours[i]},
             "text": [f"{d['label']} = {_fmt(d['values'][i])}" for d in dims],
             "hovertemplate": f"{trial}<br>%{{text}}<extra></extra>"} for i, trial in enumerate(trials)]
    data.append({"type": "scatter", "mode": "markers", "x": [None], "y": [None], "hoverinfo": "skip",
                 "marker": {"color": [low, high], "colorscale": COLORSCALE, "showscale": True,
                            "colorbar": {"title": {"text": dims[-1]["label"]}, "thickness": 12}}})
    shapes = [{"type": "line", "x0": x, "x1": x, "y0": 0, "y1": 1, "line": {"color": "#666", "width": 1}}
              for x in xs]
    notes = []
    for x, d in zip(xs, dims):
        lo, hi = _bounds(d["values"])
        notes += [{"x": x, "y": 1.0, "yanchor": "bottom", "text": _fmt(hi), "showarrow": False, "font": {"size": 10}},
                  {"x": x, "y": 0.0, "yanchor": "top", "text": _fmt(lo), "showarrow": False, "font": {"size": 10}}]
    return {"data": data, "layout": _layout(
        title, showlegend=False, shapes=shapes, annotations=notes, hovermode="closest",
        xaxis={"tickvals": xs, "ticktext": [d["label"] for d in dims], "range": [-0.3, len(dims) - 0.7],
               "showgrid": False, "zeroline": False},
        yaxis={"visible": False, "range": [-0.12, 1.12]})}


def _bounds(values: list) -> tuple[float, float]:
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return (min(finite), max(finite)) if finite else (0.0, 0.0)


def _scale(values: list) -> list[float | None]:
    """Each value's place in [0, 1] between the lowest and highest (0.5 when they are equal)."""
    low, high = _bounds(values)
    use_log = low > 0 and high / low >= 100
    f = math.log10 if use_log else float
    lo, hi = f(low), f(high)
    out = []
    for v in values:
        if v is None or not math.isfinite(float(v)):
            out.append(None)
        else:
            out.append(0.5 if hi == lo else round((f(float(v)) - lo) / (hi - lo), 6))
    return out


def _fmt(value) -> str:
    return f"{float(value):.4g}" if value is not None else ""


def _plain(value):
    return value if isinstance(value, (int, float, str)) and not isinstance(value, bool) else str(value)


def _ms(start: str | None, end: str | None) -> float | None:
    """Bar length in milliseconds (plotly date axes), running bars drawn to their start."""
    from datetime import datetime

    if not (start and end):
        return 0
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds() * 1000
