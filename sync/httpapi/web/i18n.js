// portsync dashboard: its words in English and Simplified Chinese. The
// language comes from ?lang=, else the switch's choice kept in local
// storage, else the browser's languages (zh* is Chinese); t() looks a
// message up. MESSAGES is plain JSON, so that a Go test can check that both
// languages have every key: keep it so (double quotes, no trailing commas).
"use strict";

const MESSAGES = {
  "en": {
    "lang.switch": "Language",
    "search.placeholder": "Container, B/L or declaration",
    "search.label": "Search containers",
    "login.title": "Sign in",
    "login.text": "This portsync asks for its API token (the contents of <code>http.token_file</code>). It is kept for this browser session only.",
    "login.token": "API token",
    "login.submit": "Sign in",
    "login.rejected": "That token was not accepted.",
    "updated": "updated {time}",
    "ready": "ready",
    "not_ready": "not ready",
    "none": "none",
    "age.s": "{s}s",
    "age.ms": "{m}m {s}s",
    "age.hm": "{h}h {m}m",
    "unit.ms": "{n} ms",
    "unit.s": "{n} s",
    "unit.min": "{n} min",
    "unit.h": "{n} h",
    "stat.in_yard": "in yard",
    "stat.cleared_in_yard": "cleared in yard",
    "stat.not_cleared_in_yard": "not cleared in yard",
    "stat.expected": "expected",
    "stat.departed": "departed",
    "stat.mismatches": "open mismatches",
    "stat.alerts": "alerts firing",
    "stat.deadletters": "dead letters",
    "notready.title": "Not ready",
    "col.severity": "severity",
    "col.what": "what",
    "col.since": "since",
    "col.container": "container",
    "col.agency": "agency",
    "col.kind": "kind",
    "col.age": "age",
    "col.time": "time",
    "col.source": "source",
    "col.why": "why",
    "col.name": "name",
    "col.role": "role",
    "col.state": "state",
    "col.detail": "detail",
    "col.event": "event",
    "col.entry": "entry",
    "col.agency_time": "agency time",
    "alerts.title": "Alerts firing",
    "alerts.more": "{n} of {total}, critical and oldest first",
    "mismatches.title": "Open mismatches (SLA {sla})",
    "mismatches.none": "none: the TOS holds what the agencies decided",
    "mismatches.over": "over SLA",
    "mismatches.more": "oldest {n} of {total}",
    "recent.title": "Recent activity",
    "recent.none": "nothing yet",
    "dead.title": "Dead letters ({count})",
    "dead.title_more": "Dead letters ({count}, newest {n} shown)",
    "dead.none": "none: every message decoded",
    "dead.payload": "payload",
    "endpoints.title": "Sources, sink and channels",
    "endpoint.breaker": "breaker {state}",
    "endpoint.healthy": "healthy",
    "endpoint.failing": "failing",
    "endpoint.failing_since": "failing since {time}",
    "endpoint.in_a_row": "{n} in a row",
    "endpoint.last_error": "last error:",
    "endpoint.last_message": "last message {time}",
    "endpoint.no_message": "no message yet",
    "endpoint.source_detail": "{kind} for {agency}",
    "endpoint.pending": "{n} commands awaiting confirmation",
    "role.source": "source",
    "role.sink": "sink",
    "role.channel": "channel",
    "role.broker": "broker",
    "breaker.closed": "closed",
    "breaker.half-open": "half-open",
    "breaker.open": "open",
    "source_kind.agency": "agency",
    "source_kind.tos": "tos",
    "status.unknown": "unknown",
    "status.held": "held",
    "status.released": "released",
    "status.hold_removed": "hold_removed",
    "status.revoked": "revoked",
    "presence.expected": "expected",
    "presence.in_yard": "in_yard",
    "presence.departed": "departed",
    "tos.arrived": "arrived",
    "tos.holds": "holds",
    "tos.departed": "departed",
    "action.add_hold": "add_hold",
    "action.release_hold": "release_hold",
    "result.applied": "applied",
    "result.duplicate": "duplicate",
    "result.stale": "stale",
    "result.rejected": "rejected",
    "severity.warning": "warning",
    "severity.critical": "critical",
    "kind.stale_hold": "stale_hold",
    "kind.missing_hold": "missing_hold",
    "kind.unauthorized_departure": "unauthorized_departure",
    "kind.sink_down": "sink_down",
    "kind.invalid_input": "invalid_input",
    "kind.command_rejected": "command_rejected",
    "kind.session_lost": "session_lost",
    "kind.source_down": "source_down",
    "kind.source_silent": "source_silent",
    "kind.manual_override": "manual_override",
    "journal.agency_event": "agency_event",
    "journal.tos_event": "tos_event",
    "journal.command": "command",
    "journal.command_sent": "command_sent",
    "journal.command_confirmed": "command_confirmed",
    "journal.command_superseded": "command_superseded",
    "journal.command_rejected": "command_rejected",
    "journal.alert_firing": "alert_firing",
    "journal.alert_resolved": "alert_resolved",
    "code.malformed": "malformed",
    "code.invalid_field": "invalid_field",
    "code.bad_check_digit": "bad_check_digit",
    "code.forbidden_agency": "forbidden_agency",
    "code.too_large": "too_large",
    "code.unstorable": "unstorable",
    "code.bad_signature": "bad_signature",
    "code.cursor_loop": "cursor_loop",
    "code.unreadable_file": "unreadable_file",
    "act.result": " ({result})",
    "act.agency_event": "{agency} {status}{hold}{override}{result}",
    "act.tos_event": "TOS {status} [{holds}]{result}",
    "act.command": "command {action} {hold} issued",
    "act.command_sent": "command {action} {hold} sent ({detail})",
    "act.attempt": "attempt {n} via {sink}",
    "act.override": " — manual override by {by}",
    "act.command_confirmed": "command {action} {hold} confirmed by TOS",
    "act.command_superseded": "command {action} {hold} superseded",
    "act.command_rejected": "command {action} {hold} rejected by TOS",
    "act.alert_firing": "alert {kind} firing",
    "act.alert_resolved": "alert {kind} resolved",
    "alert.stale_hold": "{agency} no longer holds {container} but the terminal still does, since {since}",
    "alert.missing_hold": "{agency} holds {container} but the terminal has no hold, since {since}",
    "alert.unauthorized_departure": "{container} departed while not cleared, at {since}",
    "alert.sink_down": "{source} has failed since {since}",
    "alert.invalid_input": "{count} invalid messages from source {source} since {since}",
    "alert.command_rejected": "the TOS rejected a command for {container} ({agency}) at {since}; it is sent again only after the next sweep",
    "alert.session_lost": "broker {source} came back at {since} without portsync's persistent session: the messages it queued are lost and a full sweep runs",
    "alert.source_down": "source {source} has failed since {since}",
    "alert.source_silent": "source {source} has delivered no message since {since}",
    "alert.manual_override": "{agency}'s decision on {container} was overridden by hand at {since}; a newer {agency} decision outranks it",
    "alert.other": "{kind} since {since}",
    "chart.latency.title": "Release to TOS, per hour (24 h)",
    "chart.latency.label": "release-to-TOS latency per hour over the last 24 hours",
    "chart.latency.empty": "no release confirmed by the TOS in the last 24 h",
    "chart.latency.point": "{hour}: p50 {p50}, p99 {p99}, {n} releases",
    "chart.p50": "p50 (median)",
    "chart.p99": "p99",
    "chart.sla": "SLA {sla}",
    "chart.mismatches.title": "Open mismatches (24 h)",
    "chart.mismatches.label": "open mismatches over the last 24 hours",
    "chart.mismatches.empty": "no data yet",
    "chart.mismatches.point": "{time}: {open} open, peak {peak}",
    "chart.open": "open",
    "chart.peak": "peak in 5 min",
    "chart.note": "kept in memory since the daemon started",
    "lane.agencies": "agencies",
    "lane.TOS": "TOS",
    "lane.commands": "commands",
    "lane.alerts": "alerts",
    "short.release": "release",
    "short.add": "add",
    "short.sent": "sent",
    "short.confirmed": "confirmed",
    "short.superseded": "superseded",
    "short.rejected": "rejected",
    "short.firing": "firing",
    "short.resolved": "resolved",
    "short.override": "OVERRIDE",
    "timeline.none": "no journal entries",
    "timeline.label": "timeline",
    "c.title": "Container",
    "c.presence": "presence",
    "c.cleared": "cleared",
    "c.cleared_yes": "cleared",
    "c.cleared_no": "not cleared",
    "c.agency_at": "last change at {time}, event",
    "c.agency_from": "from {source}",
    "c.open_holds": "open holds:",
    "ledger.release": "release",
    "ledger.hold": "hold",
    "ledger.general_hold": "general hold",
    "ledger.granted": "granted",
    "ledger.revoked": "revoked",
    "ledger.open": "open",
    "ledger.removed": "removed",
    "src.override": "override",
    "src.by": "by {by}",
    "c.tos_holds": "TOS holds",
    "c.mismatch": "mismatch",
    "c.pending": "pending commands",
    "c.pending_cmd": "{action} {hold}, sent {n}×, cause",
    "c.open_alerts": "open alerts",
    "c.bls": "B/L",
    "c.declarations": "declarations",
    "c.timeline": "Timeline",
    "legend.ok": "release / confirmed / resolved",
    "legend.bad": "hold / alert",
    "legend.info": "TOS / command",
    "legend.stale": "stale (changed nothing)",
    "legend.override": "manual override",
    "c.journal": "Journal",
    "c.journal_more": "the oldest {n} entries; <code>portsync history {container}</code> prints them all",
    "search.title": "Search: {q}",
    "search.none": "no container, B/L or declaration number matches",
    "search.more": "the first {n} matches; search for a container number to narrow it"
  },
  "zh": {
    "lang.switch": "语言",
    "search.placeholder": "箱号、提单号或报关单号",
    "search.label": "搜索集装箱",
    "login.title": "登录",
    "login.text": "此 portsync 需要 API 令牌（即 <code>http.token_file</code> 文件的内容），令牌只保存在本浏览器会话中。",
    "login.token": "API 令牌",
    "login.submit": "登录",
    "login.rejected": "该令牌未被接受。",
    "updated": "更新于 {time}",
    "ready": "就绪",
    "not_ready": "未就绪",
    "none": "无",
    "age.s": "{s}秒",
    "age.ms": "{m}分{s}秒",
    "age.hm": "{h}小时{m}分",
    "unit.ms": "{n}毫秒",
    "unit.s": "{n}秒",
    "unit.min": "{n}分钟",
    "unit.h": "{n}小时",
    "stat.in_yard": "在场",
    "stat.cleared_in_yard": "在场已放行",
    "stat.not_cleared_in_yard": "在场未放行",
    "stat.expected": "待进场",
    "stat.departed": "已离场",
    "stat.mismatches": "未解决的不一致",
    "stat.alerts": "正在告警",
    "stat.deadletters": "死信",
    "notready.title": "未就绪",
    "col.severity": "级别",
    "col.what": "内容",
    "col.since": "开始于",
    "col.container": "集装箱",
    "col.agency": "机构",
    "col.kind": "类型",
    "col.age": "持续时间",
    "col.time": "时间",
    "col.source": "来源",
    "col.why": "原因",
    "col.name": "名称",
    "col.role": "角色",
    "col.state": "状态",
    "col.detail": "详情",
    "col.event": "事件",
    "col.entry": "条目",
    "col.agency_time": "机构时间",
    "alerts.title": "正在告警",
    "alerts.more": "共 {total} 条，显示 {n} 条，严重和最早的在前",
    "mismatches.title": "未解决的不一致（时限 {sla}）",
    "mismatches.none": "无：码头系统的扣留与各机构的决定一致",
    "mismatches.over": "已超时",
    "mismatches.more": "共 {total} 条，显示最早的 {n} 条",
    "recent.title": "最近动态",
    "recent.none": "暂无",
    "dead.title": "死信（{count}）",
    "dead.title_more": "死信（{count}，显示最新 {n} 条）",
    "dead.none": "无：所有消息都已解码",
    "dead.payload": "原始消息",
    "endpoints.title": "数据源、码头接口和通知渠道",
    "endpoint.breaker": "熔断器{state}",
    "endpoint.healthy": "正常",
    "endpoint.failing": "故障",
    "endpoint.failing_since": "自 {time} 起故障",
    "endpoint.in_a_row": "连续 {n} 次",
    "endpoint.last_error": "最近一次错误：",
    "endpoint.last_message": "最近消息 {time}",
    "endpoint.no_message": "尚无消息",
    "endpoint.source_detail": "{agency} {kind}",
    "endpoint.pending": "{n} 条指令待确认",
    "role.source": "数据源",
    "role.sink": "码头接口",
    "role.channel": "通知渠道",
    "role.broker": "消息代理",
    "breaker.closed": "闭合",
    "breaker.half-open": "半开",
    "breaker.open": "断开",
    "source_kind.agency": "机构消息",
    "source_kind.tos": "码头系统事件",
    "status.unknown": "未决定",
    "status.held": "扣留",
    "status.released": "放行",
    "status.hold_removed": "撤销扣留",
    "status.revoked": "撤回放行",
    "presence.expected": "待进场",
    "presence.in_yard": "在场",
    "presence.departed": "已离场",
    "tos.arrived": "进场",
    "tos.holds": "扣留变更",
    "tos.departed": "离场",
    "action.add_hold": "加扣留",
    "action.release_hold": "解除扣留",
    "result.applied": "已应用",
    "result.duplicate": "重复",
    "result.stale": "无变化",
    "result.rejected": "已拒收",
    "severity.warning": "警告",
    "severity.critical": "严重",
    "kind.stale_hold": "多余扣留",
    "kind.missing_hold": "缺少扣留",
    "kind.unauthorized_departure": "未放行离场",
    "kind.sink_down": "送达故障",
    "kind.invalid_input": "无效输入",
    "kind.command_rejected": "指令被拒",
    "kind.session_lost": "会话丢失",
    "kind.source_down": "数据源故障",
    "kind.source_silent": "数据源静默",
    "kind.manual_override": "人工覆盖",
    "journal.agency_event": "机构事件",
    "journal.tos_event": "码头事件",
    "journal.command": "指令下达",
    "journal.command_sent": "指令发送",
    "journal.command_confirmed": "指令确认",
    "journal.command_superseded": "指令作废",
    "journal.command_rejected": "指令被拒",
    "journal.alert_firing": "告警触发",
    "journal.alert_resolved": "告警解除",
    "code.malformed": "格式错误",
    "code.invalid_field": "字段无效",
    "code.bad_check_digit": "校验位错误",
    "code.forbidden_agency": "越权机构",
    "code.too_large": "消息过大",
    "code.unstorable": "无法存储",
    "code.bad_signature": "签名错误",
    "code.cursor_loop": "游标循环",
    "code.unreadable_file": "文件不可读",
    "act.result": "（{result}）",
    "act.agency_event": "{agency} {status}{hold}{override}{result}",
    "act.tos_event": "码头系统 {status} [{holds}]{result}",
    "act.command": "指令 {action} {hold} 已下达",
    "act.command_sent": "指令 {action} {hold} 已发送（{detail}）",
    "act.attempt": "第 {n} 次，经 {sink}",
    "act.override": "——由 {by} 人工覆盖",
    "act.command_confirmed": "指令 {action} {hold} 已由码头系统确认",
    "act.command_superseded": "指令 {action} {hold} 已作废",
    "act.command_rejected": "指令 {action} {hold} 被码头系统拒绝",
    "act.alert_firing": "告警 {kind} 触发",
    "act.alert_resolved": "告警 {kind} 解除",
    "alert.stale_hold": "{agency} 已不再扣留 {container}，但码头系统仍有扣留（自 {since} 起）",
    "alert.missing_hold": "{agency} 要求扣留 {container}，但码头系统没有扣留（自 {since} 起）",
    "alert.unauthorized_departure": "{container} 于 {since} 未放行即离场",
    "alert.sink_down": "{source} 自 {since} 起无法送达",
    "alert.invalid_input": "数据源 {source} 自 {since} 起收到 {count} 条无效消息",
    "alert.command_rejected": "码头系统于 {since} 拒绝了 {container}（{agency}）的指令；下次全量核对后才会重发",
    "alert.session_lost": "消息代理 {source} 于 {since} 重连后丢失了 portsync 的持久会话：其间排队的消息已丢失，正在全量核对",
    "alert.source_down": "数据源 {source} 自 {since} 起故障",
    "alert.source_silent": "数据源 {source} 自 {since} 起没有消息",
    "alert.manual_override": "{container} 上 {agency} 的决定于 {since} 被人工覆盖；{agency} 此后的新决定将取代它",
    "alert.other": "{kind}（自 {since} 起）",
    "chart.latency.title": "放行到码头系统生效耗时（每小时，近 24 小时）",
    "chart.latency.label": "近 24 小时每小时的放行到码头系统生效耗时",
    "chart.latency.empty": "近 24 小时内码头系统没有确认任何放行",
    "chart.latency.point": "{hour}：p50 {p50}，p99 {p99}，共 {n} 次放行",
    "chart.p50": "p50（中位数）",
    "chart.p99": "p99",
    "chart.sla": "时限 {sla}",
    "chart.mismatches.title": "未解决的不一致（近 24 小时）",
    "chart.mismatches.label": "近 24 小时未解决的不一致数量",
    "chart.mismatches.empty": "暂无数据",
    "chart.mismatches.point": "{time}：未解决 {open}，峰值 {peak}",
    "chart.open": "未解决",
    "chart.peak": "5 分钟内峰值",
    "chart.note": "自守护进程启动起保存在内存中",
    "lane.agencies": "机构",
    "lane.TOS": "码头系统",
    "lane.commands": "指令",
    "lane.alerts": "告警",
    "short.release": "解扣",
    "short.add": "加扣",
    "short.sent": "已发送",
    "short.confirmed": "已确认",
    "short.superseded": "已作废",
    "short.rejected": "被拒",
    "short.firing": "触发",
    "short.resolved": "解除",
    "short.override": "人工覆盖",
    "timeline.none": "无日志记录",
    "timeline.label": "时间线",
    "c.title": "集装箱",
    "c.presence": "位置",
    "c.cleared": "放行",
    "c.cleared_yes": "已放行",
    "c.cleared_no": "未放行",
    "c.agency_at": "最近变更于 {time}，事件",
    "c.agency_from": "来自 {source}",
    "c.open_holds": "未解除的扣留：",
    "ledger.release": "放行",
    "ledger.hold": "扣留",
    "ledger.general_hold": "一般扣留",
    "ledger.granted": "已放行",
    "ledger.revoked": "已撤回",
    "ledger.open": "生效中",
    "ledger.removed": "已解除",
    "src.override": "人工覆盖",
    "src.by": "由 {by}",
    "c.tos_holds": "码头系统扣留",
    "c.mismatch": "不一致",
    "c.pending": "待确认指令",
    "c.pending_cmd": "{action} {hold}，已发送 {n} 次，起因",
    "c.open_alerts": "未解除的告警",
    "c.bls": "提单",
    "c.declarations": "报关单",
    "c.timeline": "时间线",
    "legend.ok": "放行 / 已确认 / 已解除",
    "legend.bad": "扣留 / 告警",
    "legend.info": "码头系统 / 指令",
    "legend.stale": "无变化（未改变任何状态）",
    "legend.override": "人工覆盖",
    "c.journal": "日志",
    "c.journal_more": "最早的 {n} 条；<code>portsync history {container}</code> 可列出全部",
    "search.title": "搜索：{q}",
    "search.none": "没有匹配的箱号、提单号或报关单号",
    "search.more": "前 {n} 个匹配；输入箱号可缩小范围"
  }
};

const LANG_KEY = "portsync_lang";
const LANGS = {en: "en", zh: "zh-CN"}; // the page's lang attribute per language

function pickLang() {
  const asked = new URLSearchParams(location.search).get("lang");
  if (asked in MESSAGES) return asked;
  let saved = null;
  try { saved = localStorage.getItem(LANG_KEY); } catch { /* storage may be off */ }
  if (saved in MESSAGES) return saved;
  for (const l of navigator.languages || [navigator.language || ""]) {
    const base = String(l).toLowerCase().split("-")[0];
    if (base in MESSAGES) return base;
  }
  return "en";
}

let LANG = pickLang();

function escText(s) {
  return String(s ?? "").replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
}

function fill(template, args, quote) {
  return template.replace(/\{(\w+)\}/g, (m, name) => args && name in args ? quote(args[name] ?? "") : m);
}

// t is a message as text, with {name}s filled in from args.
function t(key, args) {
  const m = MESSAGES[LANG][key] ?? MESSAGES.en[key] ?? key;
  return fill(m, args, String);
}

// th is a message as HTML: the catalogue's own markup stays, args are
// escaped.
function th(key, args) {
  const m = MESSAGES[LANG][key] ?? MESSAGES.en[key] ?? escText(key);
  return fill(m, args, escText);
}

// thm is a message as HTML whose args are HTML already, escaped by the
// caller (a name marked as a name, a pill).
function thm(key, args) {
  const m = MESSAGES[LANG][key] ?? MESSAGES.en[key] ?? escText(key);
  return fill(m, args, String);
}

// tw is a word the API sends (a status, a kind, a code) in the page's
// language; a word the catalogue does not know is shown as it is.
function tw(group, word) {
  const key = group + "." + word;
  return MESSAGES[LANG][key] ?? MESSAGES.en[key] ?? String(word ?? "");
}

// locale is for dates and times: the browser's own in English.
function locale() {
  return LANG === "en" ? [] : LANGS[LANG];
}

// applyI18n words the static page: data-i18n sets an element's text,
// data-i18n-html its markup, data-i18n-placeholder and -aria-label those
// attributes.
function applyI18n(root) {
  root.querySelectorAll("[data-i18n]").forEach(e => { e.textContent = t(e.dataset.i18n); });
  root.querySelectorAll("[data-i18n-html]").forEach(e => { e.innerHTML = th(e.dataset.i18nHtml); });
  root.querySelectorAll("[data-i18n-placeholder]").forEach(e => { e.placeholder = t(e.dataset.i18nPlaceholder); });
  root.querySelectorAll("[data-i18n-aria-label]").forEach(e => { e.setAttribute("aria-label", t(e.dataset.i18nAriaLabel)); });
}

function showLang() {
  document.documentElement.lang = LANGS[LANG];
  document.querySelectorAll("#lang [data-lang]").forEach(b => b.setAttribute("aria-pressed", String(b.dataset.lang === LANG)));
  applyI18n(document);
}

// setLang switches the page's language, keeps the choice, and tells the
// page to draw itself again (the "langchange" event).
function setLang(lang) {
  if (!(lang in MESSAGES)) return;
  LANG = lang;
  try { localStorage.setItem(LANG_KEY, lang); } catch { /* storage may be off */ }
  const url = new URL(location.href);
  if (url.searchParams.has("lang")) {
    url.searchParams.delete("lang");
    history.replaceState(null, "", url);
  }
  showLang();
  window.dispatchEvent(new Event("langchange"));
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("#lang [data-lang]").forEach(b => b.addEventListener("click", () => setLang(b.dataset.lang)));
  showLang();
});
