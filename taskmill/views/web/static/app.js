// taskmill UI: renders the JSON routes; one EventSource per page for live updates.
"use strict";

const VALUES = ["Failure", "LateToStart", "RunningLate", "Restart", "OnHold", "Unknown",
  "Waiting", "Inactive", "Running", "Cancel", "Success"];
const main = document.getElementById("main");

function esc(text) {
  const div = document.createElement("div");
  div.textContent = text == null ? "" : String(text);
  return div.innerHTML;
}

function human(seconds) {
  if (seconds == null) return "-";
  if (seconds < 120) return seconds + "s";
  if (seconds < 7200) return Math.floor(seconds / 60) + "m";
  if (seconds < 172800) return Math.floor(seconds / 3600) + "h";
  return Math.floor(seconds / 86400) + "d";
}

async function getJSON(url) {
  const response = await fetch(url);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

let seen = 0; // the newest snapshot version rendered

function footer(body) {
  seen = Math.max(seen, body.version || 0);
  document.getElementById("version").textContent = "version " + body.version;
  const warnings = (body.denied || []).map((k) => "you may not list " + k)
    .concat(body.notes || []);
  document.getElementById("warnings").textContent = warnings.join("; ");
  if (body.viewer !== undefined) document.getElementById("viewer").textContent = body.viewer;
}

// --- job status -------------------------------------------------------------

function statusQuery() {
  const params = new URLSearchParams(location.search);
  return params;
}

function filterForm(params) {
  const checked = new Set(params.getAll("status"));
  const boxes = VALUES.map((v) =>
    `<label><span><input type="checkbox" name="status" value="${v}"` +
    `${checked.has(v) ? " checked" : ""}> ${v}</span></label>`).join("");
  return `<form class="filters" id="filters">
    <label>Kind <input id="f-kind" name="kind" value="${esc(params.get("kind") || "")}"></label>
    <label>Name contains <input id="f-name" name="name" value="${esc(params.get("name") || "")}"></label>
    <label>Created within <input id="f-since" name="since" placeholder="24h" value="${esc(params.get("since") || "")}"></label>
    <label>Saved view <input id="f-view" name="view" list="views" value="${esc(params.get("view") || "")}"></label>
    <datalist id="views"></datalist>
    <fieldset id="f-status"><legend>Status</legend>${boxes}</fieldset>
    <input type="hidden" name="sort" id="f-sort" value="${esc(params.get("sort") || "")}">
    <button type="submit" id="f-apply">Apply</button>
  </form>`;
}

async function renderStatus() {
  const params = statusQuery();
  let body;
  try {
    body = await getJSON("/api/status?" + params.toString());
  } catch (e) {
    main.innerHTML = filterForm(params) + `<p class="error" id="error">${esc(e.message)}</p>`;
    bindFilters();
    return;
  }
  const sort = (params.get("sort") || "STATUS").toUpperCase();
  const head = body.columns.map((c) =>
    `<th data-col="${c}" class="${c === sort ? "sorted" : ""}">${c}</th>`).join("");
  const rows = body.items.map((item) => {
    const cells = body.columns.map((c) => `<td>${cell(item, c)}</td>`).join("");
    return `<tr data-name="${esc(item.name)}" data-status="${esc(item.normalizedStatus)}">${cells}</tr>`;
  }).join("");
  main.innerHTML = filterForm(params) +
    `<table id="status-table"><thead><tr>${head}</tr></thead><tbody>${rows}</tbody></table>` +
    (body.items.length ? "" : "<p id=\"empty\">No workloads match.</p>");
  footer(body);
  bindFilters();
  for (const th of main.querySelectorAll("th")) {
    th.addEventListener("click", () => {
      params.set("sort", th.dataset.col);
      history.pushState(null, "", "/?" + params.toString());
      renderStatus();
    });
  }
}

function cell(item, column) {
  switch (column) {
    case "NAME":
      return `<a href="/jobs/${encodeURIComponent(item.namespace)}/${encodeURIComponent(item.kind)}/${encodeURIComponent(item.name)}">${esc(item.name)}</a>`;
    case "KIND": return esc(item.kind);
    case "NAMESPACE": return esc(item.namespace);
    case "STATUS": return `<span class="s-${esc(item.normalizedStatus)}">${esc(item.normalizedStatus)}</span>`;
    case "PROGRESS": return esc(item.progress || "-");
    case "AGE": return human(item.ageSeconds);
    case "DURATION": return human(item.durationSeconds);
    case "REASON": return esc(item.reason);
    case "POLICY": return esc(item.policy || "-");
    case "RULE": return esc(item.rule || "-");
  }
  return "";
}

async function fillViews() {
  const list = document.getElementById("views");
  if (!list) return;
  const body = await getJSON("/api/views");
  list.innerHTML = body.items.map((v) =>
    `<option value="${esc(v.name)}">${esc(v.kind)}${v.mine ? " (yours)" : ""}</option>`).join("");
}

function bindFilters() {
  fillViews().catch(() => {});
  const form = document.getElementById("filters");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const [key, value] of new FormData(form).entries()) {
      if (value) params.append(key, value);
    }
    history.pushState(null, "", "/?" + params.toString());
    renderStatus();
  });
}

// --- alerts -----------------------------------------------------------------

async function renderAlerts() {
  const body = await getJSON("/api/alerts");
  main.innerHTML = `<h2>Alerts</h2><div id="alerts">` + (body.items.length ? body.items.map((a) =>
    `<div class="alert ${esc(a.severity)}" data-subject="${esc(a.subject)}">
      <strong>${esc(a.severity.toUpperCase())}</strong> ${esc(a.title)}: ${esc(a.subject)}<br>
      ${esc(a.reason)}<br><span class="next">next: ${esc(a.next_step)}</span></div>`).join("")
    : "<p>No alerts.</p>") + "</div>";
  footer(body);
}

// --- dashboard --------------------------------------------------------------

function chart(id, title, values) {
  const width = 320, height = 90, top = Math.max(0, ...values), peak = Math.max(1, top);
  const step = values.length > 1 ? width / (values.length - 1) : width;
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${(height - v / peak * (height - 10)).toFixed(1)}`);
  return `<figure><figcaption>${esc(title)} (now ${values.length ? values[values.length - 1] : 0}, peak ${top})</figcaption>
    <svg class="chart" id="${id}" width="${width}" height="${height}">
    <polyline fill="none" stroke="#1565c0" stroke-width="2" points="${points.join(" ")}"/></svg></figure>`;
}

async function renderDashboard() {
  const body = await getJSON("/api/dashboard");
  const counts = Object.entries(body.byStatus).map(([s, n]) =>
    `<tr data-status="${esc(s)}"><td class="s-${esc(s)}">${esc(s)}</td><td>${n}</td></tr>`).join("");
  const statuses = Object.keys(body.byStatus);
  const kinds = Object.entries(body.byKind).map(([kind, c]) =>
    `<tr><td>${esc(kind)}</td>${statuses.map((s) => `<td>${c[s] || 0}</td>`).join("")}</tr>`).join("");
  const caps = body.capabilities.map((c) =>
    `<tr data-capability="${esc(c.capability)}"><td>${esc(c.capability)}</td><td>${c.pending}</td>` +
    `<td>${c.running}</td><td>${c.providers}</td><td>${c.freeSlots}</td></tr>`).join("");
  main.innerHTML = `<h2>Dashboard</h2>
    <table id="by-status"><thead><tr><th>Status</th><th>Workloads</th></tr></thead><tbody>${counts}</tbody></table>
    <h3>By kind</h3><table id="by-kind"><thead><tr><th>Kind</th>${statuses.map((s) => `<th>${esc(s)}</th>`).join("")}</tr></thead><tbody>${kinds}</tbody></table>
    <h3>Capabilities</h3><table id="capabilities"><thead><tr><th>Capability</th><th>Backlog</th><th>Running</th><th>Providers</th><th>Free slots</th></tr></thead><tbody>${caps}</tbody></table>
    <div class="charts">
      ${chart("backlog-chart", "Backlog", body.history.map((h) => h.backlog))}
      ${chart("throughput-chart", "Tasks finished per minute", body.tasksFinishedPerMinute)}
    </div>`;
  footer(body);
}

// --- one job ----------------------------------------------------------------

async function renderJob(namespace, kind, name) {
  const body = await getJSON(`/api/jobs/${namespace}/${kind}/${name}`);
  const w = body.workload;
  const why = body.why.map((c) => `<li><strong>${esc(c.title)}</strong>: ${esc(c.detail)}` +
    (c.next_step ? `<br><span class="next">next: ${esc(c.next_step)}</span>` : "") + "</li>").join("");
  const tasks = body.tasks.map((t) => `<tr data-task="${esc(t.name)}"><td>${t.index}</td><td>${esc(t.name)}</td>` +
    `<td class="s-${esc(t.normalizedStatus)}">${esc(t.normalizedStatus)}</td><td>${t.attempts}</td>` +
    `<td>${esc(t.holder || "-")}</td><td>${esc(t.message)}</td>` +
    `<td>${t.history.map((h) => esc(h.outcome || h.phase || "")).join(", ")}</td></tr>`).join("");
  const events = body.events.map((e) => `<tr><td>${esc(e.time)}</td><td>${esc(e.type)}</td>` +
    `<td>${esc(e.reason)}</td><td>${esc(e.note)}</td></tr>`).join("");
  main.innerHTML = `<h2 id="job-title">${esc(w.kind)} ${esc(w.namespace)}/${esc(w.name)}:
      <span id="job-status" class="s-${esc(w.normalizedStatus)}">${esc(w.normalizedStatus)}</span></h2>
    <p>${esc(w.reason)} <small>(policy ${esc(w.policy || "-")}, rule ${esc(w.rule || "-")})</small></p>
    <h3>Why</h3><ul id="why">${why}</ul>
    <h3>Tasks</h3><table id="tasks"><thead><tr><th>#</th><th>Name</th><th>Status</th><th>Attempts</th><th>Holder</th><th>Message</th><th>History</th></tr></thead><tbody>${tasks}</tbody></table>
    <h3>Events</h3><table id="events"><thead><tr><th>Time</th><th>Type</th><th>Reason</th><th>Note</th></tr></thead><tbody>${events}</tbody></table>`;
  footer(body);
}

// --- routing and live updates -----------------------------------------------

function render() {
  const path = location.pathname;
  const job = path.match(/^\/jobs\/([^/]+)\/([^/]+)\/([^/]+)$/);
  const page = job ? renderJob(job[1], job[2], job[3])
    : path === "/alerts" ? renderAlerts()
    : path === "/dashboard" ? renderDashboard()
    : renderStatus();
  return page.catch((e) => { main.innerHTML = `<p class="error" id="error">${esc(e.message)}</p>`; });
}

window.addEventListener("popstate", render);
render();
const live = new EventSource("/api/events");
live.onopen = () => document.getElementById("live").classList.add("on");
live.onerror = () => document.getElementById("live").classList.remove("on");
live.onmessage = (message) => {
  const version = JSON.parse(message.data).version;
  // Re-render only when the data moved on, and never while a filter is being typed in.
  if (version > seen && !(document.activeElement && document.activeElement.form)) {
    seen = version;
    render();
  }
};
