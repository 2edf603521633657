// Zygarde web: sortable tables, live job progress (polling JSON), charts, job form helpers,
// direct uploads with signed URLs. No inline scripts (the CSP forbids them).
"use strict";

function text(tag, value, cls) {
  const el = document.createElement(tag);
  el.textContent = value == null ? "" : String(value);
  if (cls) el.className = cls;
  return el;
}

function sortable(table) {
  // Delegated to the table: the live leaderboard replaces its header as new metrics appear.
  table.addEventListener("click", (ev) => {
    const th = ev.target.closest("th");
    if (!th || !table.tHead || !table.tHead.contains(th)) return;
    const col = th.cellIndex;
    const body = table.tBodies[0];
    const numeric = th.dataset.type === "number";
    const dir = th.dataset.dir === "asc" ? -1 : 1;
    table.querySelectorAll("th").forEach((h) => delete h.dataset.dir);
    th.dataset.dir = dir === 1 ? "asc" : "desc";
    const key = (row) => {
      const v = row.cells[col] ? row.cells[col].textContent.trim() : "";
      if (!numeric) return v;
      const n = parseFloat(v);
      return isNaN(n) ? Infinity * dir : n;
    };
    Array.from(body.rows).sort((a, b) => {
      const ka = key(a), kb = key(b);
      return (ka > kb ? 1 : ka < kb ? -1 : 0) * dir;
    }).forEach((r) => body.appendChild(r));
  });
}

let webgl = null;

function hasWebGL() {
  // plotly's parcoords draws with WebGL; without it (no GPU, WebGL turned off) its lines never appear.
  if (webgl === null) {
    try {
      const canvas = document.createElement("canvas");
      webgl = !!(window.WebGLRenderingContext && (canvas.getContext("webgl") || canvas.getContext("experimental-webgl")));
    } catch (e) {
      webgl = false;
    }
  }
  return webgl;
}

function drawFigures(figures) {
  if (!window.Plotly) return;
  const box = document.getElementById("charts");
  Object.entries(figures).forEach(([id, fig]) => {
    let div = document.getElementById("chart-" + id);
    if (!div) {
      div = document.createElement("div");
      div.className = "chart";
      div.id = "chart-" + id;
      box.appendChild(div);
    }
    const shown = fig.fallback && !hasWebGL() ? fig.fallback : fig;  // SVG lines instead of WebGL ones
    div.dataset.rendering = shown === fig ? "default" : "svg-fallback";
    Plotly.react(div, shown.data, shown.layout, {displaylogo: false, responsive: true});
  });
}

function fmt(v, digits) {
  return v == null ? "" : Number(v).toFixed(digits);
}

function cell(value, cls) {
  return text("td", value, cls);
}

function g4(v) {
  // Four significant digits, as the server's '%.4g' writes them (2.5e+08, 0.83, 12.5).
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e4 || a < 1e-4)) {
    const [m, e] = v.toExponential(3).split("e");
    return `${Number(m)}e${e[0]}${e.slice(1).padStart(2, "0")}`;
  }
  return String(Number(v.toPrecision(4)));
}

function metricCell(v, cls) {
  return cell(typeof v === "number" ? g4(v) : "", cls);
}

function renderLeaderboardHead(columns) {
  const head = document.getElementById("leaderboard-head");
  if (!head || !columns) return;
  const th = (label, cls, numeric) => {
    const el = text("th", label, cls);
    if (numeric) el.dataset.type = "number";
    return el;
  };
  const tr = document.createElement("tr");
  tr.append(th("#", "", true), th("trial"), th("algorithm"), th("params"), th("state"), th("rung (rows)"),
            th(columns.metric, "job-metric", true),
            ...columns.key.map((m) => th(m, "key-metric", true)),
            ...columns.more.map((m) => th(m, "more-metric", true)),
            th("duration (s)", "", true), th("attempts", "", true), th("conditions"));
  head.replaceChildren(tr);
  const toggle = document.getElementById("metrics-toggle");
  if (toggle) {
    toggle.dataset.more = columns.more.length;
    labelToggle(toggle);
  }
}

function renderLeaderboard(rows, columns) {
  const body = document.getElementById("leaderboard-body");
  if (!body) return;
  renderLeaderboardHead(columns);
  const key = columns ? columns.key : [], more = columns ? columns.more : [];
  body.replaceChildren(...rows.map((r) => {
    const tr = document.createElement("tr");
    const metrics = r.metrics || {};
    const details = document.createElement("details");
    details.appendChild(text("summary", r.conditions.length));
    r.conditions.forEach((c) => details.appendChild(text("div", c)));
    const state = text("span", r.state, "state " + r.state);
    const cells = [cell(r.rank || ""), cell(r.trial_id), cell(r.algorithm)];
    const params = document.createElement("td");
    params.appendChild(text("code", JSON.stringify(r.params)));
    const stateTd = document.createElement("td");
    stateTd.appendChild(state);
    if (r.why) stateTd.appendChild(text("div", r.why, "why"));
    const condTd = document.createElement("td");
    condTd.appendChild(details);
    tr.append(...cells, params, stateTd, cell(r.fidelity || "", "fidelity"), cell(fmt(r.objective, 4), "job-metric"),
              ...key.map((m) => metricCell(metrics[m], "key-metric")),
              ...more.map((m) => metricCell(metrics[m], "more-metric")),
              cell(fmt(r.duration, 1)), cell(r.attempt), condTd);
    return tr;
  }));
}

function labelToggle(toggle) {
  const table = document.getElementById("leaderboard");
  const collapsed = table.classList.contains("metrics-collapsed");
  const more = Number(toggle.dataset.more || 0);
  toggle.textContent = collapsed ? `Show all metrics (${more} more)` : "Show only the key metrics";
  toggle.setAttribute("aria-expanded", String(!collapsed));
  toggle.disabled = more === 0 && collapsed;
}

function metricsToggle() {
  const toggle = document.getElementById("metrics-toggle");
  const table = document.getElementById("leaderboard");
  if (!toggle || !table) return;
  toggle.addEventListener("click", () => {
    table.classList.toggle("metrics-collapsed");
    labelToggle(toggle);
  });
  labelToggle(toggle);
}

function live() {
  const box = document.getElementById("live") || document.querySelector("[data-pending]");
  if (!box) return;
  const url = box.dataset.progressUrl;
  const figs = document.getElementById("figures");
  if (figs) drawFigures(JSON.parse(figs.textContent));
  if (box.dataset.finished === "1") return;
  const poll = async () => {
    let data;
    try {
      const resp = await fetch(url, {headers: {"Accept": "application/json"}, credentials: "same-origin"});
      data = await resp.json();
    } catch (e) {
      setTimeout(poll, 5000);
      return;
    }
    if (box.dataset.pending) {
      if (data.state !== "PENDING") { window.location.reload(); return; }
      setTimeout(poll, 2000);
      return;
    }
    const set = (id, v) => { const el = document.getElementById(id); if (el) el.textContent = v; };
    const state = document.getElementById("job-state");
    state.textContent = data.state;
    state.className = "state " + data.state;
    set("job-stage", data.stage);
    set("job-trials", data.trials_text);
    const bar = document.getElementById("job-progress");
    bar.max = data.total || 1;
    bar.value = data.done;
    set("job-counts", Object.entries(data.counts).filter(([, n]) => n).map(([s, n]) => `${s.toLowerCase()} ${n}`).join(" "));
    set("job-best", data.best == null ? "-" : `${data.best_trial} ${fmt(data.best, 4)}`);
    set("job-cost", `${fmt(data.cost.dcu_hours, 4)} DCU-hours, $${fmt(data.cost.dollars, 4)}`);
    renderLeaderboard(data.leaderboard, data.columns);
    drawFigures(data.figures);
    if (data.finished) {
      window.location.reload();  // the winner, data report and buttons of a finished job
      return;
    }
    setTimeout(poll, 3000);
  };
  setTimeout(poll, 2000);
}

function jobForm() {
  document.querySelectorAll("[data-autosubmit]").forEach((el) =>
    el.addEventListener("change", () => el.form.submit()));
  document.querySelectorAll(".js-hide").forEach((el) => { el.hidden = true; });
  const task = document.getElementById("task");
  const target = document.getElementById("target");
  if (!task) return;
  const filter = () => {
    document.querySelectorAll(".algorithm").forEach((div) => {
      div.hidden = !div.dataset.tasks.split(" ").includes(task.value);
      if (div.hidden) div.querySelector("input[type=checkbox]").checked = false;
    });
    const metric = document.getElementById("metric");
    Array.from(metric.options).forEach((o) => {
      o.hidden = o.dataset.task && o.dataset.task !== task.value;
      if (o.hidden && o.selected) metric.value = "";
    });
  };
  target.addEventListener("change", () => {
    const suggested = target.selectedOptions[0] && target.selectedOptions[0].dataset.task;
    if (suggested) {
      task.value = suggested;
      document.getElementById("task-hint").textContent = `(suggested from ${target.value}: ${suggested})`;
      filter();
    }
  });
  task.addEventListener("change", filter);
  filter();
}

function signedUpload() {
  const form = document.getElementById("upload-form");
  if (!form || form.dataset.signed !== "1") return;
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const file = form.querySelector("input[type=file]").files[0];
    const error = document.getElementById("file-js-error");
    const token = document.querySelector("meta[name=csrf-token]").content;
    const resp = await fetch(form.dataset.uploadUrl, {method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": token},
      body: JSON.stringify({name: file.name, size: file.size})});
    const answer = await resp.json();
    if (!resp.ok) { error.textContent = answer.error; error.hidden = false; return; }
    const put = await fetch(answer.url, {method: "PUT", headers: {"Content-Type": answer.content_type}, body: file});
    if (!put.ok) { error.textContent = `upload failed: HTTP ${put.status}`; error.hidden = false; return; }
    window.location.href = answer.next;
  });
}

function predictForm() {
  // Picking another version or alias swaps in its example rows, unless the rows were edited.
  const pick = document.getElementById("predict-ref");
  const body = document.getElementById("predict-body");
  if (!pick || !body) return;
  let shown = pick.selectedOptions[0] ? pick.selectedOptions[0].dataset.example : "";
  pick.addEventListener("change", () => {
    const example = pick.selectedOptions[0].dataset.example;
    if (body.value.trim() === (shown || "").trim()) body.value = example;
    shown = example;
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("table.sortable").forEach(sortable);
  metricsToggle();
  live();
  jobForm();
  signedUpload();
  predictForm();
});
