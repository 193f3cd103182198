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
  if (seconds < 60) return t("age.s", {s: seconds});
  if (seconds < 3600) return t("age.ms", {m: Math.floor(seconds / 60), s: seconds % 60});
  return t("age.hm", {h: Math.floor(seconds / 3600), m: Math.floor(seconds % 3600 / 60)});
}

function fmtTime(t) {
  const d = new Date(t);
  return isNaN(d) ? "" : d.toLocaleTimeString(locale(), {hour12: false});
}

function fmtDateTime(t) {
  const d = new Date(t);
  return isNaN(d) ? "" : d.toLocaleString(locale(), {hour12: false});
}

function pill(text, cls) {
  return `<span class="pill ${esc(cls ?? text)}">${esc(text)}</span>`;
}

function containerLink(id) {
  return id ? `<a href="#/c/${encodeURIComponent(id)}" class="mono">${esc(id)}</a>` : "";
}

// blLink links a bill of lading to its page.
function blLink(id) {
  return id ? `<a href="#/bl/${encodeURIComponent(id)}" class="mono bl-link">${esc(id)}</a>` : "";
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
  applyI18n(view);
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
    document.getElementById("updated").textContent = t("updated", {time: new Date().toLocaleTimeString(locale(), {hour12: false})});
  } catch (err) {
    if (err instanceof Unauthorized) {
      showLogin(sessionStorage.getItem(TOKEN_KEY) ? t("login.rejected") : "");
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
  return type === "" ? t("ledger.general_hold") : type;
}

// holdHTML is holdName as HTML: a hold type is a code, the general hold
// is words.
function holdHTML(type) {
  return type === "" ? esc(holdName(type)) : `<span class="mono">${esc(type)}</span>`;
}

// whoHTML is the operator who made an override, a name as it was given.
function whoHTML(by) {
  return `<span class="who" translate="no">${esc(by)}</span>`;
}

// describeAgencyEvent words an agency event, its hold type and, for an
// operator's override, who made it: as text, or as HTML with the name
// marked as a name.
function describeAgencyEvent(e, html) {
  const by = overrideBy(e.source);
  const [msg, q] = html ? [thm, esc] : [t, String];
  return msg("act.agency_event", {
    agency: q(e.agency), status: q(tw("status", e.status)), hold: e.hold ? q(" " + e.hold) : "",
    override: by === null ? "" : msg("act.override", {by: html ? whoHTML(by) : by}),
    result: e.result && e.result !== "applied" ? q(t("act.result", {result: tw("result", e.result)})) : "",
  });
}

// describeHTML is describe as HTML.
function describeHTML(e) {
  return e.kind === "agency_event" ? describeAgencyEvent(e, true) : esc(describe(e));
}

function describe(e) {
  const result = e.result && e.result !== "applied" ? t("act.result", {result: tw("result", e.result)}) : "";
  const cmd = {action: tw("action", e.action), hold: e.hold};
  switch (e.kind) {
    case "agency_event": return describeAgencyEvent(e, false);
    case "tos_event": return t("act.tos_event", {status: tw("tos", e.status), holds: (e.holds || []).join(", "), result});
    case "command_sent": {
      const attempt = /^attempt (\d+) via (.+)$/.exec(e.detail || "");
      return t("act.command_sent", {...cmd, detail: attempt ? t("act.attempt", {n: attempt[1], sink: attempt[2]}) : e.detail || ""});
    }
    case "command": case "command_confirmed": case "command_superseded": case "command_rejected":
      return t("act." + e.kind, cmd);
    case "alert_firing": case "alert_resolved": return t("act." + e.kind, {kind: tw("kind", e.status)});
    case "manifest": return t("act.manifest", {bl: e.bl || "", result});
  }
  return tw("journal", e.kind);
}

// alertSummary is an alert's one line: the server's own in English, in
// another language worded from the alert's fields.
function alertSummary(a) {
  if (LANG === "en" && a.summary) return a.summary;
  const args = {agency: a.agency, container: a.container, source: a.source, count: a.count || 1,
    since: fmtTime(a.since), kind: tw("kind", a.kind)};
  return t(("alert." + a.kind) in MESSAGES.en ? "alert." + a.kind : "alert.other", args);
}

function setReady(ok, reasons) {
  const ready = document.getElementById("ready");
  ready.className = "pill " + (ok ? "ok" : "bad");
  ready.textContent = ok ? t("ready") : t("not_ready");
  ready.title = (reasons || []).join("\n");
}

// setCluster shows, on a cluster's node, which node this is, its role and
// how far it is behind the leader.
function setCluster(c) {
  const pill = document.getElementById("cluster");
  pill.hidden = !c;
  if (!c) return;
  const role = t("role." + c.role);
  pill.className = "pill " + (c.role === "leader" ? "ok" : c.role === "follower" ? "" : "warn");
  pill.textContent = t("cluster.pill", {node: c.id, role, lag: c.lag ?? "?"});
  pill.title = t("cluster.title", {role, leader: c.leader || "?"});
}

function renderOverview(o) {
  document.getElementById("terminal").textContent = o.terminal;
  setReady(o.ready, o.reasons);
  setCluster(o.cluster);

  const inYard = o.presence.in_yard || 0;
  const held = inYard - o.cleared_in_yard;
  // The overview lists critical alerts first: they are the last left out.
  const critical = o.alerts.filter(a => a.severity === "critical").length;
  let html = `<section class="stats wide">
    ${stat(t("stat.in_yard"), inYard)}
    ${stat(t("stat.cleared_in_yard"), o.cleared_in_yard, "ok")}
    ${stat(t("stat.not_cleared_in_yard"), held, held ? "warn" : "")}
    ${stat(t("stat.expected"), o.presence.expected || 0)}
    ${stat(t("stat.departed"), o.presence.departed || 0)}
    ${stat(t("stat.mismatches"), o.mismatch_count, o.mismatch_count ? "warn" : "ok")}
    ${stat(t("stat.alerts"), o.alert_count, critical ? "bad" : o.alert_count ? "warn" : "ok")}
    ${stat(t("stat.deadletters"), o.deadletter_count, o.deadletter_count ? "warn" : "")}
  </section>`;
  if (!o.ready) {
    html += `<section class="card wide"><h2>${th("notready.title")}</h2><ul>${o.reasons.map(r => `<li class="bad" translate="no">${esc(r)}</li>`).join("")}</ul></section>`;
  }

  html += `<section class="card" id="alerts"><h2>${th("alerts.title")}</h2>`;
  if (!o.alerts.length) html += `<p class="empty">${th("none")}</p>`;
  else html += `<div class="scroll"><table><tr><th>${th("col.severity")}</th><th>${th("col.what")}</th><th>${th("col.since")}</th></tr>` +
    o.alerts.sort((a, b) => (a.severity === "critical" ? -1 : 1) - (b.severity === "critical" ? -1 : 1))
      .map(a => `<tr><td>${pill(tw("severity", a.severity), a.severity)}<br><span class="muted">${esc(tw("kind", a.kind))}</span></td>
        <td>${containerLink(a.container)} ${esc(alertSummary(a))}</td><td>${esc(fmtTime(a.since))}</td></tr>`).join("") +
    `</table></div>`;
  if (o.alert_count > o.alerts.length) html += `<p class="muted">${th("alerts.more", {n: o.alerts.length, total: o.alert_count})}</p>`;
  html += `</section>`;

  html += `<section class="card" id="mismatches"><h2>${th("mismatches.title", {sla: fmtAge(o.sla_seconds)})}</h2>`;
  if (!o.mismatches.length) html += `<p class="empty">${th("mismatches.none")}</p>`;
  else html += `<div class="scroll"><table><tr><th>${th("col.container")}</th><th>${th("col.agency")}</th><th>${th("col.kind")}</th><th>${th("col.age")}</th></tr>` +
    o.mismatches.map(m => {
      const frac = Math.min(1, m.age_seconds / o.sla_seconds);
      const over = m.age_seconds >= o.sla_seconds;
      return `<tr class="mismatch ${esc(m.kind)}"><td>${containerLink(m.container)}</td><td>${esc(m.agency)}</td>
        <td>${pill(tw("kind", m.kind), m.kind === "stale_hold" ? "warn" : "bad")}</td>
        <td class="age ${over ? "over" : ""}">${fmtAge(m.age_seconds)}${over ? ` <b class=bad>${th("mismatches.over")}</b>` : ""}
          <div class="bar"><i style="width:${(frac * 100).toFixed(0)}%"></i></div></td></tr>`;
    }).join("") + `</table></div>`;
  if (o.mismatch_count > o.mismatches.length) html += `<p class="muted">${th("mismatches.more", {n: o.mismatches.length, total: o.mismatch_count})}</p>`;
  html += `</section>`;

  html += chartsHTML(o.charts, o.now, o.sla_seconds);

  html += `<section class="card" id="recent"><h2>${th("recent.title")}</h2>`;
  if (!o.recent.length) html += `<p class="empty">${th("recent.none")}</p>`;
  else html += `<div class="scroll"><table><tr><th>${th("col.time")}</th><th>${th("col.container")}</th><th>${th("col.what")}</th></tr>` +
    o.recent.slice(0, 40).map(e => `<tr><td>${esc(fmtTime(e.at))}</td><td>${containerLink(e.container)}</td>
      <td>${describeHTML(e)}${e.event_id ? ` <span class="muted mono">${esc(e.event_id)}</span>` : ""}</td></tr>`).join("") +
    `</table></div>`;
  html += `</section>`;

  html += `<section class="card" id="deadletters"><h2>${o.deadletter_count > o.deadletters.length ? th("dead.title_more", {count: o.deadletter_count, n: o.deadletters.length}) : th("dead.title", {count: o.deadletter_count})}</h2>`;
  if (!o.deadletters.length) html += `<p class="empty">${th("dead.none")}</p>`;
  else html += `<div class="scroll"><table><tr><th>${th("col.time")}</th><th>${th("col.source")}</th><th>${th("col.why")}</th></tr>` +
    o.deadletters.map(d => `<tr><td>${esc(fmtTime(d.received_at))}</td><td>${esc(d.source)}</td>
      <td>${pill(tw("code", d.code), "warn")} <span translate="no">${esc(d.reason)}</span><details><summary>${th("dead.payload")}</summary><pre translate="no">${esc(d.payload)}</pre></details></td></tr>`).join("") +
    `</table></div>`;
  html += `</section>`;

  html += `<section class="card" id="endpoints"><h2>${th("endpoints.title")}</h2><div class="scroll"><table>
    <tr><th>${th("col.name")}</th><th>${th("col.role")}</th><th>${th("col.state")}</th><th>${th("col.detail")}</th></tr>` +
    o.endpoints.map(e => `<tr><td>${esc(e.name)}</td><td>${esc(tw("role", e.role))} <span class="muted">${esc(e.type)}</span></td>
      <td>${e.breaker ? pill(t("endpoint.breaker", {state: tw("breaker", e.breaker)}), e.breaker) : ""} ${pill(e.healthy ? t("endpoint.healthy") : t("endpoint.failing"), e.healthy ? "ok" : "bad")}</td>
      <td class="muted">${endpointDetail(e)}</td></tr>`).join("") +
    `</table></div></section>`;
  view.innerHTML = html;
}

// endpointDetail is an endpoint's detail with its failure streak: since
// when, how many attempts in a row, the last error, and for a source when
// it last delivered. It is HTML: texts the server passes on as they are
// (errors) are marked translate="no".
function endpointDetail(e) {
  const raw = s => `<span translate="no">${esc(s)}</span>`;
  let detail = e.detail ? raw(e.detail) : "";
  if (e.role === "source" && e.kind) detail = e.agency ? th("endpoint.source_detail", {kind: tw("source_kind", e.kind), agency: e.agency}) : esc(tw("source_kind", e.kind));
  if (e.role === "sink" && e.detail) detail = th("endpoint.pending", {n: e.pending || 0});
  const parts = [detail];
  if (e.failing_since) {
    let streak = th("endpoint.failing_since", {time: fmtTime(e.failing_since)});
    if (e.consecutive_failures) streak += ", " + th("endpoint.in_a_row", {n: e.consecutive_failures});
    parts.push(streak);
  }
  if (e.last_error) parts.push(th("endpoint.last_error") + " " + raw(e.last_error));
  if (e.role === "source") parts.push(e.last_message ? th("endpoint.last_message", {time: fmtTime(e.last_message)}) : th("endpoint.no_message"));
  return parts.filter(Boolean).join("; ");
}

// ---- container ------------------------------------------------------------

const LANES = [
  {name: "agencies", kinds: ["agency_event"]},
  {name: "TOS", kinds: ["tos_event"]},
  {name: "commands", kinds: ["command", "command_sent", "command_confirmed", "command_superseded"]},
  {name: "alerts", kinds: ["alert_firing", "alert_resolved"]},
];

// BL_LANES are a B/L's own timeline: its decisions and its manifests.
const BL_LANES = [
  {name: "agencies", kinds: ["agency_event"]},
  {name: "manifests", kinds: ["manifest"]},
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
    case "agency_event": return `${overrideBy(e.source) !== null ? t("short.override") + " " : ""}${e.agency} ${tw("status", e.status)}${e.hold ? " " + e.hold : ""}`;
    case "tos_event": return `${tw("tos", e.status)} [${(e.holds || []).join(",")}]`;
    case "command": return `${e.action === "release_hold" ? t("short.release") : t("short.add")} ${e.hold}`;
    case "command_sent": return t("short.sent");
    case "command_confirmed": return t("short.confirmed");
    case "command_superseded": return t("short.superseded");
    case "command_rejected": return t("short.rejected");
    case "alert_firing": return `${tw("kind", e.status)} ${t("short.firing")}`;
    case "alert_resolved": return t("short.resolved");
    case "manifest": return t("short.manifest");
  }
  return tw("journal", e.kind);
}

// timeline draws the journal on one time axis, a lane per kind of entry,
// so that an operator sees at a glance why a container (or a B/L) is held.
function timeline(history, live, lanes = LANES) {
  if (!history.length) return `<p class="empty">${th("timeline.none")}</p>`;
  const times = history.map(e => new Date(e.at).getTime());
  // The axis runs to now only while something is still open; a settled
  // container's story fills the width.
  const t0 = Math.min(...times), t1 = Math.max(...times, live ? Date.now() : 0);
  const W = 1000, left = 90, right = 20, laneH = 46, top = 24;
  const x = t => left + (t1 === t0 ? 0 : (t - t0) / (t1 - t0)) * (W - left - right);
  const H = top + lanes.length * laneH + 24;
  let svg = `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${th("timeline.label")}">`;
  lanes.forEach((lane, i) => {
    const y = top + i * laneH + laneH / 2;
    svg += `<text class="lane" x="4" y="${y + 4}">${esc(t("lane." + lane.name))}</text>`;
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
  return by !== null ? `${pill(t("src.override"), "warn")} ${thm("src.by", {by: whoHTML(by)})}` : esc(source || "");
}

// ledgerRow is one line of an agency's ledger.
function ledgerRow(what, entry, open) {
  return `<tr class="ledger-entry${overrideBy(entry.source) !== null ? " override" : ""}"><td>${what}</td><td>${pill(tw("ledger", entry.state), open ? "held" : "released")}</td>
    <td>${esc(fmtDateTime(entry.at))}</td><td class="mono">${esc(entry.event_id)}</td><td>${sourceCell(entry.source)}</td></tr>`;
}

// ledger shows an agency's release and its holds by type, open first.
function ledger(det) {
  const rows = [];
  if (det.release && det.release.state) rows.push(ledgerRow(th("ledger.release"), det.release, det.release.state === "revoked"));
  const holds = Object.entries(det.holds || {}).sort(([ta, a], [tb, b]) =>
    (a.state === "open" ? 0 : 1) - (b.state === "open" ? 0 : 1) || ta.localeCompare(tb));
  for (const [type, h] of holds) {
    rows.push(ledgerRow(type === "" ? esc(holdName(type)) : `${th("ledger.hold")} ${holdHTML(type)}`, h, h.state === "open"));
  }
  if (!rows.length) return "";
  return `<table class="ledger"><tr><th>${th("col.entry")}</th><th>${th("col.state")}</th><th>${th("col.agency_time")}</th><th>${th("col.event")}</th><th>${th("col.source")}</th></tr>${rows.join("")}</table>`;
}

function renderContainer(d, history, more) {
  const agencies = Object.keys(d.agencies).sort().map(a => {
    const det = (d.agency_detail || {})[a];
    const open = (d.holds || {})[a] || [];
    return `<dt>${esc(a)}</dt><dd>${pill(tw("status", d.agencies[a]), d.agencies[a])}${open.length ? ` ${th("c.open_holds")} ${open.map(holdHTML).join(", ")}` : ""}${det ? ` <span class="muted">${th("c.agency_at", {time: fmtDateTime(det.at)})} <span class="mono">${esc(det.event_id)}</span></span> ${thm("c.agency_from", {source: sourceCell(det.source)})}${ledger(det)}` : ""}</dd>`;
  }).join("");
  let html = `<section class="card wide" id="container"><h2>${th("c.title")} <span class="mono">${esc(d.container)}</span></h2>
    <dl class="kv">
      <dt>${th("c.presence")}</dt><dd>${pill(tw("presence", d.presence), d.presence)}</dd>
      <dt>${th("c.cleared")}</dt><dd>${pill(d.cleared ? t("c.cleared_yes") : t("c.cleared_no"), d.cleared ? "ok" : "bad")}</dd>
      ${agencies}
      <dt>${th("c.tos_holds")}</dt><dd>${(d.tos_holds || []).length ? `<span class="mono">${esc(d.tos_holds.join(", "))}</span>` : th("none")}</dd>
      <dt>${th("c.mismatch")}</dt><dd>${d.mismatch ? d.mismatches.map(m => pill(tw("kind", m.kind) + " " + m.agency + (m.hold ? " " + m.hold : ""), "warn")).join(" ") : pill(t("none"), "ok")}</dd>
      <dt>${th("c.pending")}</dt><dd>${d.pending_commands.length ? d.pending_commands.map(p =>
        `<span class="mono">${esc(p.id)}</span> ${th("c.pending_cmd", {action: tw("action", p.action), hold: p.hold, n: p.attempts})} <span class="mono">${esc(p.cause)}</span>`).join("<br>") : th("none")}</dd>
      <dt>${th("c.open_alerts")}</dt><dd>${d.open_alerts.length ? d.open_alerts.map(a => `${pill(tw("severity", a.severity), a.severity)} ${esc(alertSummary(a))}`).join("<br>") : th("none")}</dd>
      ${d.bls && d.bls.length ? `<dt>${th("c.bls")}</dt><dd>${d.bls.map(blLink).join(", ")}</dd>` : ""}
      ${d.declarations && d.declarations.length ? `<dt>${th("c.declarations")}</dt><dd class="mono">${esc(d.declarations.join(", "))}</dd>` : ""}
    </dl></section>
    <section class="card wide timeline" id="timeline"><h2>${th("c.timeline")}</h2><div class="scroll">${timeline(history, d.pending_commands.length > 0 || d.mismatch)}</div>
      ${legendHTML()}
    </section>
    <section class="card wide" id="journal"><h2>${th("c.journal")}</h2>
      ${more ? `<p class="muted">${th("c.journal_more", {n: history.length, container: d.container})}</p>` : ""}
      ${journalTable(history)}</section>`;
  view.innerHTML = html;
}

// legendHTML explains the timeline's marks.
function legendHTML() {
  return `<div class="legend muted"><span><b class="ok">●</b> ${th("legend.ok")}</span><span><b class="bad">●</b> ${th("legend.bad")}</span><span><b style="color:var(--info)">●</b> ${th("legend.info")}</span><span>○ ${th("legend.stale")}</span><span><b class="warn">◆</b> ${th("legend.override")}</span></div>`;
}

// journalTable lists journal entries, oldest first.
function journalTable(history) {
  return `<div class="scroll"><table>
      <tr><th>${th("col.time")}</th><th>${th("col.kind")}</th><th>${th("col.what")}</th><th>${th("col.event")}</th><th>${th("col.source")}</th></tr>` +
    history.map(e => `<tr class="entry ${esc(e.kind)}${overrideBy(e.source) !== null ? " override" : ""}"><td>${esc(fmtDateTime(e.at))}</td><td>${esc(tw("journal", e.kind))}</td>
      <td>${describeHTML(e)}${e.command ? ` <span class="mono">${esc(e.command)}</span>` : ""}${e.detail && e.kind !== "command_sent" ? `<br><span class="muted" translate="no">${esc(e.detail)}</span>` : ""}</td>
      <td class="mono">${esc(e.event_id || "")}</td><td>${sourceCell(e.source)}</td></tr>`).join("") +
    `</table></div>`;
}

// ---- bill of lading -------------------------------------------------------

// BL_PAGE is how many containers a B/L page lists at first and adds per
// "more"; blShown is how many the page asks for, per B/L.
const BL_PAGE = 25;
const blShown = {bl: "", n: BL_PAGE};

// loadBL reads a B/L with its first blShown.n containers, following the
// API's cursor.
async function loadBL(id) {
  if (blShown.bl !== id) Object.assign(blShown, {bl: id, n: BL_PAGE});
  const path = "/api/v1/bls/" + encodeURIComponent(id);
  let d = null, cursor = "";
  const containers = [];
  while (containers.length < blShown.n) {
    const limit = Math.min(1000, blShown.n - containers.length);
    const page = await api(`${path}?limit=${limit}${cursor ? "&cursor=" + encodeURIComponent(cursor) : ""}`);
    d = d || page;
    containers.push(...page.containers);
    cursor = page.next_cursor || "";
    if (!cursor) break;
  }
  return {...d, containers, next_cursor: cursor};
}

// agencyCell is an agency's status of a container or a B/L, with its open
// holds.
function agencyCell(status, open) {
  return `${pill(tw("status", status), status)}${(open || []).length ? ` <span class="muted">${open.map(holdHTML).join(", ")}</span>` : ""}`;
}

function renderBL(d) {
  const names = Object.keys(d.agencies).sort();
  const agencies = names.map(a => {
    const det = (d.agency_detail || {})[a];
    return `<dt>${esc(a)}</dt><dd>${agencyCell(d.agencies[a], [])}${(d.holds[a] || []).length ? ` ${th("c.open_holds")} ${d.holds[a].map(holdHTML).join(", ")}` : ""}${det ? ` <span class="muted">${th("c.agency_at", {time: fmtDateTime(det.at)})} <span class="mono">${esc(det.event_id)}</span></span> ${thm("c.agency_from", {source: sourceCell(det.source)})}${ledger(det)}` : ` <span class="muted">${th("bl.no_decision")}</span>`}</dd>`;
  }).join("");
  let html = `<section class="card wide" id="bl"><h2>${th("bl.title")} <span class="mono">${esc(d.bl)}</span></h2>
    <dl class="kv">
      <dt>${th("bl.manifest")}</dt><dd>${d.manifest_id ? `<span class="mono">${esc(d.manifest_id)}</span> <span class="muted">${th("bl.manifest_at", {time: fmtDateTime(d.manifest_at)})}</span>` : th("none")}</dd>
      <dt>${th("bl.count")}</dt><dd>${esc(d.count)}</dd>
      ${agencies}
    </dl><p class="muted">${th("bl.decisions_note")}</p></section>`;

  html += `<section class="card wide" id="bl-containers"><h2>${th("bl.containers", {count: d.count})}</h2>`;
  if (!d.containers.length) html += `<p class="empty">${th("bl.no_containers")}</p>`;
  else html += `<div class="scroll"><table><tr><th>${th("col.container")}</th><th>${th("c.presence")}</th>${names.map(a => `<th>${esc(a)}</th>`).join("")}<th>${th("c.cleared")}</th><th>${th("c.mismatch")}</th></tr>` +
    d.containers.map(c => `<tr class="bl-container"><td>${containerLink(c.container)}</td><td>${pill(tw("presence", c.presence), c.presence)}</td>
      ${names.map(a => `<td>${agencyCell(c.agencies[a], (c.holds || {})[a])}</td>`).join("")}
      <td>${pill(c.cleared ? t("c.cleared_yes") : t("c.cleared_no"), c.cleared ? "ok" : "bad")}</td>
      <td>${c.mismatch ? pill(t("bl.mismatch_yes"), "warn") : pill(t("none"), "ok")}</td></tr>`).join("") + `</table></div>`;
  html += `<p class="muted">${th("bl.shown", {n: d.containers.length, count: d.count})}</p>`;
  if (d.next_cursor) html += `<button type="button" id="bl-more">${th("bl.more", {n: BL_PAGE})}</button>`;
  html += `</section>`;

  html += `<section class="card wide timeline" id="timeline"><h2>${th("bl.timeline")}</h2><div class="scroll">${timeline(d.history, false, BL_LANES)}</div>
      ${legendHTML()}
    </section>
    <section class="card wide" id="journal"><h2>${th("c.journal")}</h2>${journalTable(d.history)}</section>`;
  view.innerHTML = html;
  const more = document.getElementById("bl-more");
  if (more) more.addEventListener("click", () => {
    blShown.n += BL_PAGE;
    more.disabled = true;
    route();
  });
}

// ---- search and routing ---------------------------------------------------

async function search(q) {
  const r = await api("/api/v1/search?q=" + encodeURIComponent(q));
  const bls = r.bls || [];
  if (r.containers.length === 1 && !bls.length) {
    location.hash = "#/c/" + encodeURIComponent(r.containers[0]);
    return;
  }
  if (!r.containers.length && bls.length === 1) {
    location.hash = "#/bl/" + encodeURIComponent(bls[0]);
    return;
  }
  stop();
  // A B/L the query names comes first: its page, then its containers.
  view.innerHTML = `<section class="card wide" id="results"><h2>${th("search.title", {q})}</h2>` +
    (bls.length ? `<ul class="bls">${bls.map(b => `<li>${thm("search.bl_page", {bl: blLink(b)})}</li>`).join("")}</ul>` : "") +
    (r.containers.length ? `${bls.length ? `<h3 class="muted">${th("search.containers")}</h3>` : ""}<ul>${r.containers.map(c => `<li>${containerLink(c)}</li>`).join("")}</ul>`
      : bls.length ? "" : `<p class="empty">${th("search.none")}</p>`) +
    (r.next_cursor ? `<p class="muted">${th("search.more", {n: r.containers.length})}</p>` : "") +
    `</section>`;
}

// header fills in the terminal's name and readiness on a page that is not
// the overview.
async function header() {
  const terminal = document.getElementById("terminal");
  if (!terminal.textContent) terminal.textContent = (await api("/api/v1/overview")).terminal;
  const ready = await fetch("/readyz").then(r => r.ok).catch(() => false);
  setReady(ready, []);
}

function route() {
  const bl = location.hash.match(/^#\/bl\/([^/]+)$/);
  if (bl) {
    const id = decodeURIComponent(bl[1]);
    poll(async () => {
      const d = await loadBL(id);
      await header();
      renderBL(d);
    });
    return;
  }
  const m = location.hash.match(/^#\/c\/([^/]+)$/);
  if (m) {
    const id = decodeURIComponent(m[1]);
    poll(async () => {
      const [d, h] = await Promise.all([
        api("/api/v1/containers/" + encodeURIComponent(id)),
        loadHistory(id),
      ]);
      await header();
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
window.addEventListener("langchange", route);
route();
