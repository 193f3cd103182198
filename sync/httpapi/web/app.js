// portsync dashboard: a single page over the daemon's own API, polled
// every two seconds. No framework and no network beyond the daemon.
"use strict";

const POLL_MS = 2000;
const TOKEN_KEY = "portsync_token";
const view = document.getElementById("view");
let timer = null;

function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
}

function fmtAge(seconds) {
  seconds = Math.max(0, Math.round(seconds));
  if (seconds < 60) return seconds + "s";
  if (seconds < 3600) return Math.floor(seconds / 60) + "m " + (seconds % 60) + "s";
  return Math.floor(seconds / 3600) + "h " + Math.floor(seconds % 3600 / 60) + "m";
}

function fmtTime(t) {
  const d = new Date(t);
  return isNaN(d) ? "" : d.toLocaleTimeString([], {hour12: false});
}

function fmtDateTime(t) {
  const d = new Date(t);
  return isNaN(d) ? "" : d.toLocaleString([], {hour12: false});
}

function pill(text, cls) {
  return `<span class="pill ${esc(cls ?? text)}">${esc(text)}</span>`;
}

function containerLink(id) {
  return id ? `<a href="#/c/${encodeURIComponent(id)}" class="mono">${esc(id)}</a>` : "";
}

class Unauthorized extends Error {}

async function api(path, options = {}) {
  const headers = {"Accept": "application/json"};
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers["Authorization"] = "Bearer " + token;
  const resp = await fetch(path, {...options, headers});
  if (resp.status === 401) throw new Unauthorized();
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(body.error || `HTTP ${resp.status}`);
  return body;
}

function showLogin(message) {
  stop();
  view.innerHTML = document.getElementById("login-tpl").innerHTML;
  document.getElementById("login-error").textContent = message || "";
  document.getElementById("login").addEventListener("submit", ev => {
    ev.preventDefault();
    const token = document.getElementById("token").value.trim();
    sessionStorage.setItem(TOKEN_KEY, token);
    // A session cookie lets a reload of the page itself through; it is
    // never sent cross-site and never accepted for changes.
    document.cookie = `${TOKEN_KEY}=${encodeURIComponent(token)}; path=/; SameSite=Strict`;
    route();
  });
  document.getElementById("token").focus();
}

function stop() {
  if (timer) clearTimeout(timer);
  timer = null;
}

async function poll(render) {
  stop();
  try {
    await render();
    document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString([], {hour12: false});
  } catch (err) {
    if (err instanceof Unauthorized) {
      showLogin(sessionStorage.getItem(TOKEN_KEY) ? "That token was not accepted." : "");
      return;
    }
    document.getElementById("updated").innerHTML = `<span class="bad">${esc(err.message)}</span>`;
  }
  timer = setTimeout(() => poll(render), POLL_MS);
}

// ---- overview ------------------------------------------------------------

function stat(label, value, cls) {
  return `<div class="stat ${cls || ""}"><b>${esc(value)}</b><span>${esc(label)}</span></div>`;
}

// OVERRIDE marks the source of an operator's manual override
// (portsync override): "override:" and who made it.
const OVERRIDE = "override:";

function overrideBy(source) {
  return typeof source === "string" && source.startsWith(OVERRIDE) ? source.slice(OVERRIDE.length) : null;
}

// holdName names a hold type; "" is the agency's general hold.
function holdName(type) {
  return type === "" ? "general" : type;
}

function describe(e) {
  switch (e.kind) {
    case "agency_event": {
      const by = overrideBy(e.source);
      return `${e.agency} ${e.status}${e.hold ? " " + e.hold : ""}${by !== null ? " — manual override by " + by : ""}${e.result && e.result !== "applied" ? " (" + e.result + ")" : ""}`;
    }
    case "tos_event": return `TOS ${e.status} [${(e.holds || []).join(", ")}]${e.result && e.result !== "applied" ? " (" + e.result + ")" : ""}`;
    case "command": return `command ${e.action} ${e.hold} issued`;
    case "command_sent": return `command ${e.action} ${e.hold} sent (${e.detail || ""})`;
    case "command_confirmed": return `command ${e.action} ${e.hold} confirmed by TOS`;
    case "command_superseded": return `command ${e.action} ${e.hold} superseded`;
    case "alert_firing": return `alert ${e.status} firing`;
    case "alert_resolved": return `alert ${e.status} resolved`;
  }
  return e.kind;
}

function setReady(ok, reasons) {
  const ready = document.getElementById("ready");
  ready.className = "pill " + (ok ? "ok" : "bad");
  ready.textContent = ok ? "ready" : "not ready";
  ready.title = (reasons || []).join("\n");
}

function renderOverview(o) {
  document.getElementById("terminal").textContent = o.terminal;
  setReady(o.ready, o.reasons);

  const inYard = o.presence.in_yard || 0;
  const held = inYard - o.cleared_in_yard;
  // The overview lists critical alerts first: they are the last left out.
  const critical = o.alerts.filter(a => a.severity === "critical").length;
  let html = `<section class="stats wide">
    ${stat("in yard", inYard)}
    ${stat("cleared in yard", o.cleared_in_yard, "ok")}
    ${stat("not cleared in yard", held, held ? "warn" : "")}
    ${stat("expected", o.presence.expected || 0)}
    ${stat("departed", o.presence.departed || 0)}
    ${stat("open mismatches", o.mismatch_count, o.mismatch_count ? "warn" : "ok")}
    ${stat("alerts firing", o.alert_count, critical ? "bad" : o.alert_count ? "warn" : "ok")}
    ${stat("dead letters", o.deadletter_count, o.deadletter_count ? "warn" : "")}
  </section>`;
  if (!o.ready) {
    html += `<section class="card wide"><h2>Not ready</h2><ul>${o.reasons.map(r => `<li class="bad">${esc(r)}</li>`).join("")}</ul></section>`;
  }

  html += `<section class="card" id="alerts"><h2>Alerts firing</h2>`;
  if (!o.alerts.length) html += `<p class="empty">none</p>`;
  else html += `<div class="scroll"><table><tr><th>severity</th><th>what</th><th>since</th></tr>` +
    o.alerts.sort((a, b) => (a.severity === "critical" ? -1 : 1) - (b.severity === "critical" ? -1 : 1))
      .map(a => `<tr><td>${pill(a.severity)}<br><span class="muted">${esc(a.kind)}</span></td>
        <td>${containerLink(a.container)} ${esc(a.summary)}</td><td>${esc(fmtTime(a.since))}</td></tr>`).join("") +
    `</table></div>`;
  if (o.alert_count > o.alerts.length) html += `<p class="muted">${o.alerts.length} of ${o.alert_count}, critical and oldest first</p>`;
  html += `</section>`;

  html += `<section class="card" id="mismatches"><h2>Open mismatches (SLA ${fmtAge(o.sla_seconds)})</h2>`;
  if (!o.mismatches.length) html += `<p class="empty">none: the TOS holds what the agencies decided</p>`;
  else html += `<div class="scroll"><table><tr><th>container</th><th>agency</th><th>kind</th><th>age</th></tr>` +
    o.mismatches.map(m => {
      const frac = Math.min(1, m.age_seconds / o.sla_seconds);
      const over = m.age_seconds >= o.sla_seconds;
      return `<tr class="mismatch ${esc(m.kind)}"><td>${containerLink(m.container)}</td><td>${esc(m.agency)}</td>
        <td>${pill(m.kind, m.kind === "stale_hold" ? "warn" : "bad")}</td>
        <td class="age ${over ? "over" : ""}">${fmtAge(m.age_seconds)}${over ? " <b class=bad>over SLA</b>" : ""}
          <div class="bar"><i style="width:${(frac * 100).toFixed(0)}%"></i></div></td></tr>`;
    }).join("") + `</table></div>`;
  if (o.mismatch_count > o.mismatches.length) html += `<p class="muted">oldest ${o.mismatches.length} of ${o.mismatch_count}</p>`;
  html += `</section>`;

  html += `<section class="card" id="recent"><h2>Recent activity</h2>`;
  if (!o.recent.length) html += `<p class="empty">nothing yet</p>`;
  else html += `<div class="scroll"><table><tr><th>time</th><th>container</th><th>what</th></tr>` +
    o.recent.slice(0, 40).map(e => `<tr><td>${esc(fmtTime(e.at))}</td><td>${containerLink(e.container)}</td>
      <td>${esc(describe(e))}${e.event_id ? ` <span class="muted mono">${esc(e.event_id)}</span>` : ""}</td></tr>`).join("") +
    `</table></div>`;
  html += `</section>`;

  html += `<section class="card" id="deadletters"><h2>Dead letters (${o.deadletter_count}${o.deadletter_count > o.deadletters.length ? ", newest " + o.deadletters.length + " shown" : ""})</h2>`;
  if (!o.deadletters.length) html += `<p class="empty">none: every message decoded</p>`;
  else html += `<div class="scroll"><table><tr><th>time</th><th>source</th><th>why</th></tr>` +
    o.deadletters.map(d => `<tr><td>${esc(fmtTime(d.received_at))}</td><td>${esc(d.source)}</td>
      <td>${pill(d.code, "warn")} ${esc(d.reason)}<details><summary>payload</summary><pre>${esc(d.payload)}</pre></details></td></tr>`).join("") +
    `</table></div>`;
  html += `</section>`;

  html += `<section class="card" id="endpoints"><h2>Sources, sink and channels</h2><div class="scroll"><table>
    <tr><th>name</th><th>role</th><th>state</th><th>detail</th></tr>` +
    o.endpoints.map(e => `<tr><td>${esc(e.name)}</td><td>${esc(e.role)} <span class="muted">${esc(e.type)}</span></td>
      <td>${e.breaker ? pill("breaker " + e.breaker, e.breaker) : ""} ${pill(e.healthy ? "healthy" : "failing", e.healthy ? "ok" : "bad")}</td>
      <td class="muted">${esc(endpointDetail(e))}</td></tr>`).join("") +
    `</table></div></section>`;
  view.innerHTML = html;
}

// endpointDetail is an endpoint's detail with its failure streak: since
// when, how many attempts in a row, the last error, and for a source when
// it last delivered.
function endpointDetail(e) {
  const parts = [e.detail || ""];
  if (e.failing_since) {
    let streak = "failing since " + fmtTime(e.failing_since);
    if (e.consecutive_failures) streak += `, ${e.consecutive_failures} in a row`;
    parts.push(streak);
  }
  if (e.last_error) parts.push("last error: " + e.last_error);
  if (e.role === "source") parts.push(e.last_message ? "last message " + fmtTime(e.last_message) : "no message yet");
  return parts.filter(Boolean).join("; ");
}

// ---- container ------------------------------------------------------------

const LANES = [
  {name: "agencies", kinds: ["agency_event"]},
  {name: "TOS", kinds: ["tos_event"]},
  {name: "commands", kinds: ["command", "command_sent", "command_confirmed", "command_superseded"]},
  {name: "alerts", kinds: ["alert_firing", "alert_resolved"]},
];

function markerClass(e) {
  if (e.result === "stale") return "var(--muted)";
  switch (e.kind) {
    case "agency_event": return e.status === "released" ? "var(--ok)" : "var(--bad)";
    case "command_confirmed": case "alert_resolved": return "var(--ok)";
    case "alert_firing": return "var(--bad)";
    case "command_superseded": return "var(--muted)";
  }
  return "var(--info)";
}

function shortLabel(e) {
  switch (e.kind) {
    case "agency_event": return `${overrideBy(e.source) !== null ? "OVERRIDE " : ""}${e.agency} ${e.status}${e.hold ? " " + e.hold : ""}`;
    case "tos_event": return `${e.status} [${(e.holds || []).join(",")}]`;
    case "command": return `${e.action === "release_hold" ? "release" : "add"} ${e.hold}`;
    case "command_sent": return "sent";
    case "command_confirmed": return "confirmed";
    case "command_superseded": return "superseded";
    case "alert_firing": return `${e.status} firing`;
    case "alert_resolved": return "resolved";
  }
  return e.kind;
}

// timeline draws the journal on one time axis, a lane per kind of entry,
// so that an operator sees at a glance why a container is held.
function timeline(history, live) {
  if (!history.length) return `<p class="empty">no journal entries</p>`;
  const times = history.map(e => new Date(e.at).getTime());
  // The axis runs to now only while something is still open; a settled
  // container's story fills the width.
  const t0 = Math.min(...times), t1 = Math.max(...times, live ? Date.now() : 0);
  const W = 1000, left = 90, right = 20, laneH = 46, top = 24;
  const x = t => left + (t1 === t0 ? 0 : (t - t0) / (t1 - t0)) * (W - left - right);
  const H = top + LANES.length * laneH + 24;
  let svg = `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="timeline">`;
  LANES.forEach((lane, i) => {
    const y = top + i * laneH + laneH / 2;
    svg += `<text class="lane" x="4" y="${y + 4}">${esc(lane.name)}</text>`;
    svg += `<line class="axis" x1="${left}" x2="${W - right}" y1="${y}" y2="${y}"/>`;
    // Labels of marks close together take turns on three rows; marks at
    // the same spot (a command and its sending) are nudged apart.
    let row = 0, lastX = -1e9;
    history.filter(e => lane.kinds.includes(e.kind)).forEach(e => {
      let cx = x(new Date(e.at).getTime());
      if (cx - lastX < 8) cx = lastX + 8;
      row = cx - lastX < 90 ? (row + 1) % 3 : 0;
      lastX = cx;
      const ly = [y - 9, y + 18, y - 20][row];
      const anchor = cx > W - right - 60 ? "end" : cx < left + 40 ? "start" : "middle";
      const fill = markerClass(e);
      const r = e.kind === "command_sent" ? 4 : 6;
      // An override is a diamond, so it never passes for the agency's own word.
      const shape = overrideBy(e.source) !== null
        ? `<rect class="override" x="${cx - r}" y="${y - r}" width="${2 * r}" height="${2 * r}" transform="rotate(45 ${cx} ${y})" fill="${fill}" stroke="var(--warn)" stroke-width="2" fill-opacity="${e.result === "stale" ? 0 : 1}"/>`
        : `<circle cx="${cx}" cy="${y}" r="${r}" fill="${fill}" stroke="${fill}" fill-opacity="${e.result === "stale" ? 0 : 1}"/>`;
      svg += `<g class="mark ${esc(e.kind)}${overrideBy(e.source) !== null ? " override" : ""}"><title>${esc(fmtDateTime(e.at))}: ${esc(describe(e))}${e.event_id ? " (" + esc(e.event_id) + ")" : ""}</title>
        ${shape}
        <text x="${cx}" y="${ly}" text-anchor="${anchor}">${esc(shortLabel(e))}</text></g>`;
    });
  });
  svg += `<text x="${left}" y="${H - 6}">${esc(fmtDateTime(t0))}</text>`;
  svg += `<text x="${W - right}" y="${H - 6}" text-anchor="end">${esc(fmtDateTime(t1))}</text></svg>`;
  return svg;
}

// HISTORY_PAGES bounds what the container page loads and draws; the CLI's
// `portsync history` prints a journal whole.
const HISTORY_PAGES = 5;

// loadHistory follows the history's pages, oldest first, up to
// HISTORY_PAGES of 1000 entries.
async function loadHistory(id) {
  const path = "/api/v1/containers/" + encodeURIComponent(id) + "/history?limit=1000";
  let history = [], cursor = "";
  for (let i = 0; i < HISTORY_PAGES; i++) {
    const h = await api(path + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""));
    history = history.concat(h.history);
    if (!h.next_cursor) return {history, more: false};
    cursor = h.next_cursor;
  }
  return {history, more: true};
}

// sourceCell names where a ledger entry came from, an override marked.
function sourceCell(source) {
  const by = overrideBy(source);
  return by !== null ? `${pill("override", "warn")} by ${esc(by)}` : esc(source || "");
}

// ledgerRow is one line of an agency's ledger.
function ledgerRow(what, entry, open) {
  return `<tr class="ledger-entry${overrideBy(entry.source) !== null ? " override" : ""}"><td>${what}</td><td>${pill(entry.state, open ? "held" : "released")}</td>
    <td>${esc(fmtDateTime(entry.at))}</td><td class="mono">${esc(entry.event_id)}</td><td>${sourceCell(entry.source)}</td></tr>`;
}

// ledger shows an agency's release and its holds by type, open first.
function ledger(det) {
  const rows = [];
  if (det.release && det.release.state) rows.push(ledgerRow("release", det.release, det.release.state === "revoked"));
  const holds = Object.entries(det.holds || {}).sort(([ta, a], [tb, b]) =>
    (a.state === "open" ? 0 : 1) - (b.state === "open" ? 0 : 1) || ta.localeCompare(tb));
  for (const [type, h] of holds) rows.push(ledgerRow(`hold <span class="mono">${esc(holdName(type))}</span>`, h, h.state === "open"));
  if (!rows.length) return "";
  return `<table class="ledger"><tr><th>entry</th><th>state</th><th>agency time</th><th>event</th><th>source</th></tr>${rows.join("")}</table>`;
}

function renderContainer(d, history, more) {
  const agencies = Object.keys(d.agencies).sort().map(a => {
    const det = (d.agency_detail || {})[a];
    const open = (d.holds || {})[a] || [];
    return `<dt>${esc(a)}</dt><dd>${pill(d.agencies[a])}${open.length ? ` open holds: <span class="mono">${esc(open.map(holdName).join(", "))}</span>` : ""}${det ? ` <span class="muted">last change at ${esc(fmtDateTime(det.at))}, event <span class="mono">${esc(det.event_id)}</span> from</span> ${sourceCell(det.source)}${ledger(det)}` : ""}</dd>`;
  }).join("");
  let html = `<section class="card wide" id="container"><h2>Container <span class="mono">${esc(d.container)}</span></h2>
    <dl class="kv">
      <dt>presence</dt><dd>${pill(d.presence)}</dd>
      <dt>cleared</dt><dd>${pill(d.cleared ? "cleared" : "not cleared", d.cleared ? "ok" : "bad")}</dd>
      ${agencies}
      <dt>TOS holds</dt><dd class="mono">${esc((d.tos_holds || []).join(", ") || "none")}</dd>
      <dt>mismatch</dt><dd>${d.mismatch ? d.mismatches.map(m => pill(m.kind + " " + m.agency + (m.hold ? " " + m.hold : ""), "warn")).join(" ") : pill("none", "ok")}</dd>
      <dt>pending commands</dt><dd>${d.pending_commands.length ? d.pending_commands.map(p =>
        `<span class="mono">${esc(p.id)}</span> ${esc(p.action)} ${esc(p.hold)} (cause ${esc(p.cause)}, sent ${p.attempts}×)`).join("<br>") : "none"}</dd>
      <dt>open alerts</dt><dd>${d.open_alerts.length ? d.open_alerts.map(a => `${pill(a.severity)} ${esc(a.summary)}`).join("<br>") : "none"}</dd>
      ${d.bls && d.bls.length ? `<dt>B/L</dt><dd class="mono">${esc(d.bls.join(", "))}</dd>` : ""}
      ${d.declarations && d.declarations.length ? `<dt>declarations</dt><dd class="mono">${esc(d.declarations.join(", "))}</dd>` : ""}
    </dl></section>
    <section class="card wide timeline" id="timeline"><h2>Timeline</h2><div class="scroll">${timeline(history, d.pending_commands.length > 0 || d.mismatch)}</div>
      <div class="legend muted"><span><b class="ok">●</b> release / confirmed / resolved</span><span><b class="bad">●</b> hold / alert</span><span><b style="color:var(--info)">●</b> TOS / command</span><span>○ stale (changed nothing)</span><span><b class="warn">◆</b> manual override</span></div>
    </section>
    <section class="card wide" id="journal"><h2>Journal</h2>
      ${more ? `<p class="muted">the oldest ${history.length} entries; <code>portsync history ${esc(d.container)}</code> prints them all</p>` : ""}
      <div class="scroll"><table>
      <tr><th>time</th><th>kind</th><th>what</th><th>event</th><th>source</th></tr>` +
    history.map(e => `<tr class="entry ${esc(e.kind)}${overrideBy(e.source) !== null ? " override" : ""}"><td>${esc(fmtDateTime(e.at))}</td><td>${esc(e.kind)}</td>
      <td>${esc(describe(e))}${e.command ? ` <span class="mono">${esc(e.command)}</span>` : ""}${e.detail && e.kind !== "command_sent" ? `<br><span class="muted">${esc(e.detail)}</span>` : ""}</td>
      <td class="mono">${esc(e.event_id || "")}</td><td>${sourceCell(e.source)}</td></tr>`).join("") +
    `</table></div></section>`;
  view.innerHTML = html;
}

// ---- search and routing ---------------------------------------------------

async function search(q) {
  const r = await api("/api/v1/search?q=" + encodeURIComponent(q));
  if (r.containers.length === 1) {
    location.hash = "#/c/" + encodeURIComponent(r.containers[0]);
    return;
  }
  stop();
  view.innerHTML = `<section class="card wide" id="results"><h2>Search: ${esc(q)}</h2>` +
    (r.containers.length ? `<ul>${r.containers.map(c => `<li>${containerLink(c)}</li>`).join("")}</ul>`
      : `<p class="empty">no container, B/L or declaration number matches</p>`) +
    (r.next_cursor ? `<p class="muted">the first ${r.containers.length} matches; search for a container number to narrow it</p>` : "") +
    `</section>`;
}

function route() {
  const m = location.hash.match(/^#\/c\/([^/]+)$/);
  if (m) {
    const id = decodeURIComponent(m[1]);
    poll(async () => {
      const [d, h] = await Promise.all([
        api("/api/v1/containers/" + encodeURIComponent(id)),
        loadHistory(id),
      ]);
      const terminal = document.getElementById("terminal");
      if (!terminal.textContent) terminal.textContent = (await api("/api/v1/overview")).terminal;
      const ready = await fetch("/readyz").then(r => r.ok).catch(() => false);
      setReady(ready, []);
      renderContainer(d, h.history, h.more);
    });
    return;
  }
  poll(async () => renderOverview(await api("/api/v1/overview")));
}

document.getElementById("search").addEventListener("submit", ev => {
  ev.preventDefault();
  const q = document.getElementById("q").value.trim();
  if (q) search(q).catch(err => {
    if (err instanceof Unauthorized) showLogin();
    else view.innerHTML = `<section class="card wide"><p class="bad">${esc(err.message)}</p></section>`;
  });
});
window.addEventListener("hashchange", route);
route();
