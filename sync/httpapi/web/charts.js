// portsync dashboard: the overview's charts, inline SVG drawn from the
// overview's "charts": release-to-TOS latency per hour (p50 and p99) and
// open mismatches per five minutes, both over the last 24 hours.
"use strict";

const CHART = {w: 600, h: 210, left: 58, right: 14, top: 14, bottom: 26};
const DAY_MS = 24 * 3600 * 1000;
const SLOT_MS = 5 * 60 * 1000;

// fmtSecs words a duration for an axis or a tooltip: 250 ms, 2.5 s, 4 min.
function fmtSecs(s) {
  const round = (v, digits) => String(+v.toFixed(digits));
  if (s < 1) return t("unit.ms", {n: round(s * 1000, 0)});
  if (s < 60) return t("unit.s", {n: round(s, s < 10 ? 1 : 0)});
  if (s < 3600) return t("unit.min", {n: round(s / 60, s < 600 ? 1 : 0)});
  return t("unit.h", {n: round(s / 3600, s < 36000 ? 1 : 0)});
}

function fmtClock(ms) {
  return new Date(ms).toLocaleTimeString(locale(), {hour: "2-digit", minute: "2-digit", hour12: false});
}

// timeAxis draws the last 24 hours along the bottom, a tick every three
// hours, and returns x().
function timeAxis(now) {
  const t0 = now - DAY_MS;
  const plotW = CHART.w - CHART.left - CHART.right;
  const x = ms => CHART.left + Math.min(1, Math.max(0, (ms - t0) / DAY_MS)) * plotW;
  const base = CHART.h - CHART.bottom;
  let svg = `<line x1="${CHART.left}" x2="${CHART.w - CHART.right}" y1="${base}" y2="${base}" stroke="var(--line)"/>`;
  const first = new Date(t0);
  first.setMinutes(0, 0, 0);
  for (let h = first.getTime() + 3600e3; h <= now; h += 3600e3) {
    if (new Date(h).getHours() % 3) continue;
    const hx = x(h).toFixed(1);
    svg += `<line x1="${hx}" x2="${hx}" y1="${CHART.top}" y2="${base}" stroke="var(--line)" stroke-dasharray="2 3"/>`;
    svg += `<text x="${hx}" y="${CHART.h - 8}" text-anchor="middle">${escText(fmtClock(h))}</text>`;
  }
  return {x, svg};
}

function yGrid(ticks, y, label) {
  return ticks.map(v => {
    const vy = y(v).toFixed(1);
    return `<line x1="${CHART.left}" x2="${CHART.w - CHART.right}" y1="${vy}" y2="${vy}" stroke="var(--line)"/>
      <text x="${CHART.left - 6}" y="${(+vy + 4).toFixed(1)}" text-anchor="end">${escText(label(v))}</text>`;
  }).join("");
}

function svgOpen(id, label, points) {
  return `<svg id="${id}" viewBox="0 0 ${CHART.w} ${CHART.h}" role="img" aria-label="${escText(label)}" data-points="${points}"
    style="width:100%;height:auto;display:block" font-size="11" fill="var(--muted)">`;
}

function emptyNote(text) {
  const cx = (CHART.left + CHART.w - CHART.right) / 2, cy = (CHART.top + CHART.h - CHART.bottom) / 2;
  return `<text x="${cx}" y="${cy}" text-anchor="middle" font-style="italic">${escText(text)}</text>`;
}

function legend(items) {
  return `<div class="legend muted">${items.map(([color, text, dash]) =>
    `<span><svg width="18" height="10" aria-hidden="true"><line x1="0" x2="18" y1="5" y2="5" stroke="${color}" stroke-width="${dash ? 1.5 : 3}"${dash ? ` stroke-dasharray="4 3"` : ""}/></svg> ${escText(text)}</span>`).join("")}</div>`;
}

// Durations on the latency axis: a log scale between these.
const NICE_SECONDS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200,
  1800, 3600, 7200, 14400, 28800, 86400, 172800];

function latencyChart(points, now, sla) {
  const {x, svg: axis} = timeAxis(now);
  let svg = svgOpen("latency-svg", t("chart.latency.label"), points.length);
  const values = points.flatMap(p => [p.p50, p.p99]).filter(v => v > 0);
  if (sla > 0) values.push(sla);
  const lo = Math.min(...values, 1), hi = Math.max(...values, 1);
  let i0 = NICE_SECONDS.findLastIndex(v => v <= lo), i1 = NICE_SECONDS.findIndex(v => v >= hi);
  if (i0 < 0) i0 = 0;
  if (i1 < 0) i1 = NICE_SECONDS.length - 1;
  if (i1 <= i0) i1 = Math.min(NICE_SECONDS.length - 1, i0 + 1);
  const ymin = NICE_SECONDS[i0], ymax = NICE_SECONDS[i1];
  const base = CHART.h - CHART.bottom;
  const y = v => base - (Math.log(Math.max(ymin, Math.min(ymax, v)) / ymin) / Math.log(ymax / ymin)) * (base - CHART.top);
  let ticks = NICE_SECONDS.slice(i0, i1 + 1);
  const every = Math.ceil(ticks.length / 6);
  ticks = ticks.filter((_, i) => i % every === 0 || i === ticks.length - 1);
  svg += yGrid(ticks, y, fmtSecs) + axis;
  if (sla > 0) {
    const sy = y(sla).toFixed(1);
    svg += `<line class="sla" x1="${CHART.left}" x2="${CHART.w - CHART.right}" y1="${sy}" y2="${sy}" stroke="var(--muted)" stroke-dasharray="6 4"/>
      <text x="${CHART.w - CHART.right - 2}" y="${(+sy - 4).toFixed(1)}" text-anchor="end">${escText(t("chart.sla", {sla: fmtSecs(sla)}))}</text>`;
  }
  if (!points.length) return svg + emptyNote(t("chart.latency.empty")) + `</svg>`;
  // A point sits in the middle of its hour (the current hour's at now); an
  // hour without releases breaks the line.
  const at = p => Math.min(now, new Date(p.hour).getTime() + 1800e3);
  for (const [q, color] of [["p99", "var(--warn)"], ["p50", "var(--info)"]]) {
    let d = "", prev = null;
    for (const p of points) {
      const h = new Date(p.hour).getTime();
      d += `${prev !== null && h - prev <= 3600e3 ? "L" : "M"}${x(at(p)).toFixed(1)} ${y(p[q]).toFixed(1)} `;
      prev = h;
    }
    svg += `<path class="${q}" d="${d.trim()}" fill="none" stroke="${color}" stroke-width="2" stroke-linejoin="round"/>`;
    svg += points.map(p => `<circle class="point ${q}" cx="${x(at(p)).toFixed(1)}" cy="${y(p[q]).toFixed(1)}" r="3.5" fill="${color}">
      <title>${escText(t("chart.latency.point", {hour: fmtClock(new Date(p.hour).getTime()), p50: fmtSecs(p.p50), p99: fmtSecs(p.p99), n: p.n}))}</title></circle>`).join("");
  }
  return svg + `</svg>`;
}

function mismatchChart(points, now) {
  const {x, svg: axis} = timeAxis(now);
  let svg = svgOpen("mismatches-svg", t("chart.mismatches.label"), points.length);
  const top = Math.max(1, ...points.map(p => p.peak));
  const step = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000].find(s => top / s <= 4) || 100000;
  const ymax = Math.ceil(top / step) * step;
  const base = CHART.h - CHART.bottom;
  const y = v => base - (v / ymax) * (base - CHART.top);
  const ticks = [];
  for (let v = 0; v <= ymax; v += step) ticks.push(v);
  svg += yGrid(ticks, y, String) + axis;
  if (!points.length) return svg + emptyNote(t("chart.mismatches.empty")) + `</svg>`;
  // A slot's bar is its peak; the line joins the counts at the slots' ends
  // (the current slot's at now).
  const end = p => Math.min(now, new Date(p.at).getTime() + SLOT_MS);
  svg += points.map(p => {
    const x0 = x(new Date(p.at).getTime()), x1 = Math.max(x0 + 1, x(end(p)));
    return `<rect class="point peak" x="${x0.toFixed(1)}" y="${y(p.peak).toFixed(1)}" width="${(x1 - x0).toFixed(1)}" height="${(base - y(p.peak)).toFixed(1)}"
      fill="var(--warn)" fill-opacity="0.3"><title>${escText(t("chart.mismatches.point", {time: fmtClock(new Date(p.at).getTime()), open: p.open, peak: p.peak}))}</title></rect>`;
  }).join("");
  const line = points.map((p, i) => `${i ? "L" : "M"}${x(end(p)).toFixed(1)} ${y(p.open).toFixed(1)}`).join(" ");
  svg += `<path class="open" d="${line}" fill="none" stroke="var(--bad)" stroke-width="2" stroke-linejoin="round"/>`;
  const last = points[points.length - 1];
  svg += `<circle class="point open now" cx="${x(end(last)).toFixed(1)}" cy="${y(last.open).toFixed(1)}" r="3.5" fill="var(--bad)">
    <title>${escText(t("chart.mismatches.point", {time: fmtClock(end(last)), open: last.open, peak: last.peak}))}</title></circle>`;
  return svg + `</svg>`;
}

// chartsHTML is the overview's two chart cards.
function chartsHTML(charts, nowISO, slaSeconds) {
  const now = new Date(nowISO).getTime() || Date.now();
  const c = charts || {};
  return `<section class="card chart" id="chart-latency"><h2>${th("chart.latency.title")}</h2>
      ${latencyChart(c.latency || [], now, slaSeconds)}
      ${legend([["var(--info)", t("chart.p50")], ["var(--warn)", t("chart.p99")], ["var(--muted)", t("chart.sla", {sla: fmtSecs(slaSeconds)}), true]])}
    </section>
    <section class="card chart" id="chart-mismatches"><h2>${th("chart.mismatches.title")}</h2>
      ${mismatchChart(c.mismatches || [], now)}
      ${legend([["var(--bad)", t("chart.open")], ["color-mix(in srgb, var(--warn) 40%, transparent)", t("chart.peak")]])}
      <p class="muted">${th("chart.note")}</p>
    </section>`;
}
