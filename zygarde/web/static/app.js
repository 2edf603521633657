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
  table.querySelectorAll("th").forEach((th, col) => {
    th.addEventListener("click", () => {
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
  });
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
    Plotly.react(div, fig.data, fig.layout, {displaylogo: false, responsive: true});
  });
}

function fmt(v, digits) {
  return v == null ? "" : Number(v).toFixed(digits);
}

function renderLeaderboard(rows) {
  const body = document.getElementById("leaderboard-body");
  if (!body) return;
  body.replaceChildren(...rows.map((r) => {
    const tr = document.createElement("tr");
    const metrics = Object.entries(r.metrics || {}).sort().map(([k, v]) => `${k}=${Number(v).toPrecision(4)}`).join(" ");
    const details = document.createElement("details");
    details.appendChild(text("summary", r.conditions.length));
    r.conditions.forEach((c) => details.appendChild(text("div", c)));
    const state = text("span", r.state, "state " + r.state);
    const cells = [text("td", r.rank || ""), text("td", r.trial_id), text("td", r.algorithm)];
    const params = document.createElement("td");
    params.appendChild(text("code", JSON.stringify(r.params)));
    const stateTd = document.createElement("td");
    stateTd.appendChild(state);
    const condTd = document.createElement("td");
    condTd.appendChild(details);
    tr.append(...cells, params, stateTd, text("td", r.fidelity || "", "fidelity"), text("td", fmt(r.objective, 4)), text("td", metrics, "metrics"),
              text("td", fmt(r.duration, 1)), text("td", r.attempt), condTd);
    return tr;
  }));
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
    set("job-done", data.done);
    set("job-total", data.total);
    const bar = document.getElementById("job-progress");
    bar.max = data.total || 1;
    bar.value = data.done;
    set("job-counts", Object.entries(data.counts).filter(([, n]) => n).map(([s, n]) => `${s.toLowerCase()} ${n}`).join(" "));
    set("job-best", data.best == null ? "-" : `${data.best_trial} ${fmt(data.best, 4)}`);
    set("job-cost", `${fmt(data.cost.dcu_hours, 4)} DCU-hours, $${fmt(data.cost.dollars, 4)}`);
    renderLeaderboard(data.leaderboard);
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
  live();
  jobForm();
  signedUpload();
  predictForm();
});
