"""The job page's leaderboard (the job's metric and the task's key metrics in columns of their own,
every other recorded metric behind a toggle) and its charts (parallel coordinates with an SVG
fallback for browsers without WebGL)."""
from __future__ import annotations

import json
from html.parser import HTMLParser

from tests.unit.web.conftest import add_job
from zygarde.web import charts, leaderboard


class _Table(HTMLParser):
    """The leaderboard's header cells and rows as (text, class) pairs."""

    def __init__(self):
        super().__init__()
        self.head, self.rows, self._in, self._cell, self._cls, self._part = [], [], False, None, "", None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("id") == "leaderboard":
            self._in, self.table_class = True, attrs.get("class", "")
        elif self._in and tag in ("thead", "tbody"):
            self._part = tag
        elif self._in and tag == "tr" and self._part == "tbody":
            self.rows.append([])
        elif self._in and tag in ("th", "td"):
            self._cell, self._cls = "", attrs.get("class", "")

    def handle_endtag(self, tag):
        if tag == "table":
            self._in = False
        elif self._in and tag in ("th", "td") and self._cell is not None:
            (self.head if tag == "th" else self.rows[-1]).append((self._cell.strip(), self._cls))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def _table(page: str) -> _Table:
    parsed = _Table()
    parsed.feed(page)
    return parsed


def test_the_leaderboard_has_a_column_per_key_metric_and_the_rest_behind_a_toggle(ana, deps):
    add_job(deps.repo, "ana", "ana-job")
    page = ana.get("/jobs/ana-job").get_data(as_text=True)
    table = _table(page)
    head = [text for text, _ in table.head]
    assert head[6:10] == ["areaUnderROC", "f1", "accuracy", "logLoss"]  # the job's metric, then the task's key ones
    assert [cls for _, cls in table.head[6:10]] == ["job-metric", "key-metric", "key-metric", "key-metric"]
    more = [text for text, cls in table.head if cls == "more-metric"]
    assert more == ["areaUnderPR", "mcc", "peak_memory_bytes", "predict_ms_per_1k", "train_seconds",
                    "weightedPrecision", "weightedRecall"]
    assert "metrics-collapsed" in table.table_class  # hidden until the toggle shows them (style.css)
    assert 'id="metrics-toggle"' in page and "Show all metrics (7 more)" in page
    best = dict(zip(head, (text for text, _ in table.rows[0])))
    assert (best["trial"], best["areaUnderROC"], best["f1"], best["logLoss"], best["train_seconds"]) == (
        "t001", "0.9300", "0.83", "0.27", "12.5")
    assert all(len(row) == len(head) for row in table.rows)
    assert "areaUnderROC=0.93 areaUnderPR" not in page  # no longer every metric in one cell


def test_progress_json_carries_the_columns_the_page_renders_live(ana, deps):
    add_job(deps.repo, "ana", "ana-run", finished=False)
    data = ana.get("/jobs/ana-run/progress.json").get_json()
    assert data["columns"]["metric"] == "areaUnderROC"
    assert data["columns"]["key"] == ["f1", "accuracy", "logLoss"]
    assert "train_seconds" in data["columns"]["more"] and "f1" not in data["columns"]["more"]


def test_key_metrics_leave_out_the_jobs_own_and_follow_the_task():
    rows = [{"metrics": {"rmse": 3.0, "mae": 2.0, "r2": 0.5, "mape": 0.1, "train_seconds": 4.0}}]
    assert leaderboard.columns("regression", "mae", rows) == {
        "metric": "mae", "key": ["rmse", "r2"], "more": ["mape", "train_seconds"]}
    assert leaderboard.columns("binary_classification", "f1", []) == {
        "metric": "f1", "key": ["areaUnderROC", "accuracy", "logLoss"], "more": []}
    assert leaderboard.columns(None, None, []) == {"metric": "objective", "key": [], "more": []}  # a rejected job


def test_parallel_coordinates_carry_an_svg_fallback_with_a_line_per_trial(ana, deps):
    add_job(deps.repo, "ana", "ana-job")
    page = ana.get("/jobs/ana-job").get_data(as_text=True)
    figures = json.loads(page.split('id="figures">')[1].split("</script>")[0])
    par = figures["parcoords-logistic_regression"]
    assert par["data"][0]["type"] == "parcoords"
    fallback = par["fallback"]
    lines = [t for t in fallback["data"] if t.get("mode") == "lines+markers"]
    assert {t["type"] for t in fallback["data"]} == {"scatter"}  # SVG in plotly.js, never WebGL
    assert [t["name"] for t in lines] == ["t000", "t001"]
    assert [t["y"] for t in lines] == [[0.0, 0.0], [1.0, 1.0]]  # regParam 0 -> 0.1, AUC 0.81 -> 0.93
    assert fallback["layout"]["xaxis"]["ticktext"] == ["regParam", "areaUnderROC"]
    assert lines[0]["line"]["color"] != lines[1]["line"]["color"]  # coloured by the metric
    assert [t["text"] for t in lines][1] == ["regParam = 0.1", "areaUnderROC = 0.93"]
    assert all("fallback" not in f for k, f in figures.items() if not k.startswith("parcoords-"))


def test_svg_axes_are_log_scaled_over_wide_ranges_and_centre_a_constant():
    dims = [{"label": "regParam", "values": [1e-4, 1e-2, 1.0]}, {"label": "maxIter", "values": [50, 50, 50]},
            {"label": "rmse", "values": [3.0, 2.0, 4.0]}]
    fig = charts.parallel_svg(dims, ["a", "b", "c"], "linear_regression")
    ys = [t["y"] for t in fig["data"] if t.get("name") in ("a", "b", "c")]
    assert [y[0] for y in ys] == [0.0, 0.5, 1.0]  # log10: -4, -2, 0
    assert [y[1] for y in ys] == [0.5, 0.5, 0.5]
    assert [y[2] for y in ys] == [0.5, 0.0, 1.0]
    colorbar = fig["data"][-1]["marker"]
    assert colorbar["showscale"] and colorbar["color"] == [2.0, 4.0]
    labels = {(a["x"], a["text"]) for a in fig["layout"]["annotations"]}
    assert {(0, "0.0001"), (0, "1"), (2, "2"), (2, "4")} <= labels
