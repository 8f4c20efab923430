"""The run view's HTML page: a static shell whose script polls the data route and draws the tables.

Every value reaches the page through ``textContent`` (never as HTML), so a row holding markup shows
as text. The script and style carry a per-response nonce that the Content-Security-Policy requires.
"""

from __future__ import annotations

import html
import json
import secrets

POLL_SECONDS = 3.0
PREVIEW_ROWS = 10

_STYLE = """
body { font: 13px/1.4 system-ui, sans-serif; margin: 12px; color: #1f2937; }
h1 { font-size: 18px; margin: 0 0 4px; } h2 { font-size: 15px; margin: 18px 0 6px; }
.meta { color: #4b5563; margin-bottom: 8px; } .meta span { margin-right: 14px; }
.problem { color: #991b1b; background: #fef2f2; padding: 6px 8px; border-radius: 4px; }
table { border-collapse: collapse; margin-bottom: 8px; }
.scroll { overflow-x: auto; } .preview td { max-width: 24em; overflow-wrap: anywhere; }
th, td { border: 1px solid #e5e7eb; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f3f4f6; font-weight: 600; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.state { padding: 1px 6px; border-radius: 8px; font-size: 12px; background: #e5e7eb; white-space: nowrap; }
th { white-space: nowrap; }
.state-finished, .state-success { background: #dcfce7; } .state-running { background: #cffafe; }
.state-failed { background: #fee2e2; } .state-retrying, .state-up_for_retry { background: #fef9c3; }
.state-waiting, .state-up_for_reschedule { background: #e0f2fe; }
code { font-size: 12px; } details { margin: 4px 0; } summary { cursor: pointer; }
.error { color: #991b1b; max-width: 40em; white-space: pre-wrap; }
"""

_SCRIPT = r"""
"use strict";
const config = JSON.parse(document.getElementById("config").textContent);
const base = window.location.pathname.replace(/\/+$/, "");
const previews = {};
let live = true;

function el(tag, attrs, children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  for (const child of children || []) node.append(child instanceof Node ? child : String(child));
  return node;
}
function fmt(value, digits) {
  if (value === null || value === undefined) return "\u2014";
  if (typeof value === "number") return value.toLocaleString("en-US", {maximumFractionDigits: digits || 0});
  return String(value);
}
function badge(state) { return el("span", {"class": "state state-" + String(state).replace(" ", "_")}, [state]); }
function cell(field, value, digits) { return el("td", {"class": "num", "data-field": field}, [fmt(value, digits)]); }
function table(headers, rows) {
  return el("table", {}, [el("tr", {}, headers.map((h) => el("th", {}, [h]))), ...rows]);
}
function shortId(id) { return id ? String(id).slice(0, 8) + (String(id).length > 8 ? "\u2026" : "") : "\u2014"; }
function scroll(headers, rows) { return el("div", {"class": "scroll"}, [table(headers, rows)]); }
function triesText(tries) {
  if (!tries || !tries.length) return "\u2014";
  return tries.map((t) => "#" + t.try_number + " " + (t.state || "none")).join(", ");
}

function drawSummary(report, tries) {
  const root = document.getElementById("stages");
  root.replaceChildren();
  for (const stage of report.stages) {
    const title = "Stage " + stage.index + (stage.is_global ? " (global)" : "");
    root.append(el("h2", {"data-stage": stage.index}, [title + " ", badge(stage.state)]));
    const rows = stage.steps.map((step) => el("tr", {"data-step": step.name}, [
      el("td", {"data-field": "name"}, [step.name]), el("td", {}, [step.kind]),
      el("td", {"data-field": "state"}, [badge(step.state)]),
      cell("rows_in", step.rows_in), cell("rows_out", step.rows_out),
      cell("batches_in", step.batches_in), cell("batches_out", step.batches_out),
      cell("rows_per_second", step.rows_per_second, 1), cell("replicas", step.replicas.length),
      el("td", {"data-field": "gpus"}, [gpusText(step)]),
      cell("input_tokens", step.input_tokens), cell("output_tokens", step.output_tokens),
    ]));
    root.append(scroll(["step", "kind", "state", "rows in", "rows out", "batches in", "batches out",
                       "rows/s", "replicas", "GPUs", "tokens in", "tokens out"], rows));
  }
  drawReplicas(report, tries);
}
function gpusText(step) {
  const held = step.replicas.map((r) => r.gpus.join("+")).filter((g) => g !== "");
  return held.length ? held.join(", ") : (step.gpus_per_replica ? "\u2014" : "none");
}
function drawReplicas(report, tries) {
  const rows = [];
  for (const stage of report.stages) for (const step of stage.steps) for (const r of step.replicas) {
    const airflow = (tries[step.name] || {})[r.replica];
    rows.push(el("tr", {"data-replica": step.name + "/" + r.replica}, [
      el("td", {}, [step.name]), cell("replica", r.replica), el("td", {"data-field": "state"}, [badge(r.state)]),
      cell("rows_in", r.rows_in), cell("rows_out", r.rows_out), cell("batches_out", r.batches_out),
      cell("rows_per_second", r.rows_per_second, 1), el("td", {"data-field": "gpus"}, [r.gpus.join(", ") || "\u2014"]),
      cell("input_tokens", r.input_tokens), cell("output_tokens", r.output_tokens),
      cell("attempt", r.attempt), el("td", {"data-field": "generation"}, [el("code", {}, [fmt(r.generation)])]),
      el("td", {"data-field": "incarnation", "title": r.incarnation || ""}, [el("code", {}, [shortId(r.incarnation)])]),
      el("td", {"data-field": "tries"}, [triesText(airflow)]),
      el("td", {"data-field": "heartbeat"}, [r.heartbeat_age === null ? "\u2014" : fmt(r.heartbeat_age) + " s ago"]),
      el("td", {"class": "error", "data-field": "error"}, [r.error || ""]),
    ]));
  }
  const root = document.getElementById("replicas");
  root.replaceChildren(scroll(["step", "replica", "state", "rows in", "rows out", "batches out", "rows/s", "GPUs",
    "tokens in", "tokens out", "attempt", "generation", "incarnation", "Airflow tries", "heartbeat", "error"], rows));
}

function drawPreviewShells(report) {
  const root = document.getElementById("previews");
  for (const stage of report.stages) for (const step of stage.steps) {
    if (previews[step.name]) continue;
    const body = el("div", {"data-preview-body": step.name}, []);
    const details = el("details", {"data-preview": step.name}, [el("summary", {}, [step.name]), body]);
    previews[step.name] = {offset: 0, details: details, body: body};
    details.addEventListener("toggle", () => { if (details.open) loadPreview(step.name); });
    root.append(details);
  }
}
async function loadPreview(name) {
  const preview = previews[name];
  const url = base + "/rows/" + encodeURIComponent(name) + "?offset=" + preview.offset + "&limit=" + config.previewRows;
  let page;
  try {
    const answer = await fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"}});
    page = await answer.json();
    if (!answer.ok || page.problem) throw new Error(page.problem || page.detail || answer.status);
  } catch (error) {
    preview.body.replaceChildren(el("p", {"class": "problem"}, [error.message]));
    return;
  }
  const rows = page.rows.map((row) => el("tr", {}, row.map((value) => el("td", {}, [fmt(value, 6)]))));
  const first = page.rows.length ? page.offset + 1 : page.offset;
  const last = page.offset + page.rows.length;
  const previous = el("button", {"data-action": "previous"}, ["\u2190 previous"]);
  const next = el("button", {"data-action": "next"}, ["next \u2192"]);
  previous.disabled = page.offset === 0;
  next.disabled = !page.has_more;
  previous.addEventListener("click", () => {
    preview.offset = Math.max(0, preview.offset - config.previewRows);
    loadPreview(name);
  });
  next.addEventListener("click", () => { preview.offset += config.previewRows; loadPreview(name); });
  const note = page.limited ? " (a preview covers the first parts only: later rows are in the run's Distiset)" : "";
  preview.body.replaceChildren(
    el("p", {}, ["rows " + first + "\u2013" + last + note + " ", previous, " ", next]),
    page.columns.length ? el("div", {"class": "scroll preview"}, [table(page.columns, rows)])
                        : el("p", {}, ["no rows yet"]));
}

async function refresh() {
  try {
    const answer = await fetch(base + "/data", {credentials: "same-origin", headers: {Accept: "application/json"}});
    const data = await answer.json();
    if (!answer.ok) {
      if (answer.status < 500) live = false;  // no such run, no access: asking again cannot help
      throw new Error(data.detail || answer.status);
    }
    live = data.live;
    document.getElementById("airflow-state").replaceChildren("Airflow: ", badge(data.airflow_state));
    const updated = new Date(data.updated_at * 1000).toLocaleTimeString();
    document.getElementById("updated").textContent = "updated " + updated + (live ? " \u00b7 refreshing" : "");
    document.getElementById("problem").textContent = data.problem || "";
    document.getElementById("problem").hidden = !data.problem;
    if (data.report) {
      document.getElementById("run-state").replaceChildren("store: ", badge(data.report.state));
      drawSummary(data.report, data.tries);
      drawPreviewShells(data.report);
      if (live) for (const [name, preview] of Object.entries(previews)) if (preview.details.open) loadPreview(name);
    }
  } catch (error) {
    document.getElementById("problem").textContent = "The run view could not refresh: " + error.message;
    document.getElementById("problem").hidden = false;
  }
  document.body.dataset.live = String(live);
  document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
  if (live) setTimeout(refresh, config.pollMs);
}
refresh();
"""

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>__TITLE__</title>
<style nonce="__NONCE__">__STYLE__</style></head>
<body data-refreshed="0">
<h1>__TITLE__</h1>
<div class="meta"><span id="airflow-state"></span><span id="run-state"></span><span id="updated"></span></div>
<p id="problem" class="problem" hidden></p>
<div id="stages"></div>
<h2>Replicas, attempts and tries</h2><div id="replicas"></div>
<h2>Output preview</h2><div id="previews"></div>
<script type="application/json" id="config">__CONFIG__</script>
<script nonce="__NONCE__">__SCRIPT__</script>
</body></html>
"""


def render_page(dag_id: str, run_id: str) -> tuple[str, str]:
    """``(html, nonce)``: the page of run ``run_id`` of ``dag_id``, served at ``.../runs/<dag>/<run>``;
    its script reads ``<that>/data`` and ``<that>/rows/<step>``. Send the nonce in the response's
    Content-Security-Policy (:func:`content_security_policy`)."""
    nonce = secrets.token_urlsafe(16)
    config = {"pollMs": int(POLL_SECONDS * 1000), "previewRows": PREVIEW_ROWS}
    page = (  # the nonce first: the ids that follow are user text
        _PAGE.replace("__STYLE__", _STYLE)
        .replace("__SCRIPT__", _SCRIPT)
        .replace("__NONCE__", nonce)
        .replace("__CONFIG__", json.dumps(config))
        .replace("__TITLE__", html.escape(f"{dag_id} · {run_id}"))
    )
    return page, nonce


def content_security_policy(nonce: str) -> str:
    """Only this page's own script and style run; it talks to its own origin; only Airflow's UI frames it."""
    return (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; connect-src 'self';"
        " img-src 'self'; frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
    )
