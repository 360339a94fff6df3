// The talent office dashboard: reads the figures from this gateway's HTTP
// API with the user's bearer token and keeps them current by following the
// Summary's stream (GET /v1/summary:watch, newline-delimited JSON, at most
// a message per --summary-watch-interval): when its revision moves, the
// cards show the Summary streamed, every other figure on the page is read
// again at that revision (minRevision), and the change is announced to
// screen readers. A stream that ends is opened again after a backoff (the
// status says "reconnecting"); only a gateway without the route (404 or
// 501) makes the page poll GET /v1/summary instead.
import { messages, valueNames } from "./i18n.js";
import { barChart, lineChart } from "./chart.js";

const TOKEN_KEY = "talentreg.dashboard.token"; // sessionStorage only
const LANG_KEY = "talentreg.dashboard.lang";
const POLL_MS = 2000;
const WATCH_PATH = "/v1/summary:watch";
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 5000;

const KINDS = ["ENTITY_KIND_ENTERPRISE", "ENTITY_KIND_UNIVERSITY", "ENTITY_KIND_RESEARCH_INSTITUTE", "ENTITY_KIND_INCUBATOR", "ENTITY_KIND_OTHER"];
const CATEGORIES = ["TALENT_CATEGORY_GATHERED", "TALENT_CATEGORY_CULTIVATED", "TALENT_CATEGORY_ASSESSED"];
const SUMMARY_CARDS = [
  "entities", ...KINDS.map((k) => "entitiesByKind." + k),
  "consortia", "alliances", "consortiumMembers", "allianceMembers",
  "talentsGathered", "talentsCultivated", "talentsAssessed", "assessingEntities",
  "leadingEnterprises", "futureIndustryPlatforms", "platformsOrLeadingEnterprises",
  "policies", "pilotPolicies", "jingjinjiOrganisations", "targets", "talentRecords", "programs",
];
const DIMENSIONS = ["region", "entityKind", "industry", "groupField", "program", "period"];
const BREAKDOWN_MEASURES = ["entities", "groups", "consortiumMembers", "allianceMembers", "talentsGathered", "talentsCultivated", "talentsAssessed", "talentRecords"];
const TREND_MEASURES = ["entities", "consortiumMembers", "allianceMembers", "talentsGathered", "talentsCultivated", "talentsAssessed", "platformsOrLeadingEnterprises", "pilotPolicies"];
const RANGES = { "1h": [3600, 60], "24h": [86400, 3600], "30d": [30 * 86400, 86400], "365d": [365 * 86400, 7 * 86400] };

const $ = (id) => document.getElementById(id);

const state = {
  lang: pickLanguage(),
  token: sessionStorage.getItem(TOKEN_KEY) || "",
  revision: null, // BigInt: the Summary revision on screen
  summary: null,
  polling: false,
  pollTimer: 0,
  live: "off", // off, live, reconnecting or polling: what #live-state says
  watchGen: 0, // bumped to end the stream being followed
  watchAbort: null,
  view: null, // {name, refresh()} of the route on screen
  breakdown: { dimension: "region", measure: "entities" },
  trend: { range: "30d", measure: "entities" },
  routedOnce: false,
};

// ---- language ----------------------------------------------------------

function pickLanguage() {
  const saved = localStorage.getItem(LANG_KEY);
  if (saved === "en" || saved === "zh") return saved;
  return (navigator.language || "").toLowerCase().startsWith("zh") ? "zh" : "en";
}

function locale() {
  return state.lang === "zh" ? "zh-CN" : "en";
}

function t(key, vars) {
  let s = messages[state.lang][key] ?? messages.en[key] ?? key;
  for (const [k, v] of Object.entries(vars || {})) s = s.replaceAll("{" + k + "}", v);
  return s;
}

function valueName(v) {
  if (v === "") return t("unset");
  if (messages.en[v] !== undefined) return t(v); // enum names
  return valueNames[state.lang][v] ?? v;
}

function applyI18n(root) {
  for (const e of root.querySelectorAll("[data-i18n]")) e.textContent = t(e.dataset.i18n);
  for (const e of root.querySelectorAll("[data-i18n-aria-label]")) e.setAttribute("aria-label", t(e.dataset.i18nAriaLabel));
}

function applyLanguage() {
  document.documentElement.lang = locale();
  document.title = t("title");
  applyI18n(document);
  const sw = $("lang-switch");
  sw.textContent = t("switchLabel");
  sw.lang = state.lang === "zh" ? "en" : "zh-CN";
  sw.setAttribute("aria-label", t("switchTo"));
  setLive(state.live);
}

// ---- formatting --------------------------------------------------------

// fmtInt formats an int64 as the API sends it (a decimal string) exactly.
function fmtInt(s) {
  try {
    return BigInt(s).toLocaleString(locale());
  } catch {
    return String(s);
  }
}

function fmtTime(d, withTime) {
  const o = withTime ? { dateStyle: "medium", timeStyle: "short" } : { dateStyle: "medium" };
  return new Intl.DateTimeFormat(locale(), o).format(d);
}

function fmtPct(f) {
  return new Intl.NumberFormat(locale(), { style: "percent", maximumFractionDigits: 1 }).format(f);
}

// ---- API ---------------------------------------------------------------

class APIError extends Error {
  constructor(status, message, details) {
    super(message);
    this.status = status;
    this.details = Array.isArray(details) ? details : [];
  }
}

async function api(path) {
  let res;
  try {
    res = await fetch(path, {
      headers: { Authorization: "Bearer " + state.token, Accept: "application/json" },
      cache: "no-store",
      credentials: "omit",
      referrerPolicy: "no-referrer",
    });
  } catch (e) {
    throw new APIError(0, e.message);
  }
  let body = null;
  try {
    body = await res.json();
  } catch {
    /* not JSON: the status says enough */
  }
  if (!res.ok) throw new APIError(res.status, (body && body.message) || res.statusText, body && body.details);
  return body;
}

// unavailable reports whether err means this server lacks the route (an
// older metrics service or gateway): the section says so, the rest works.
function unavailable(err) {
  return err instanceof APIError && (err.status === 404 || err.status === 501);
}

function showError(msg) {
  const e = $("error");
  e.textContent = msg;
  e.hidden = false;
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

// handleError reports err in the banner; a 401 signs out. It returns a
// short text for the section that failed.
function handleError(err) {
  if (!(err instanceof APIError)) {
    showError(String(err));
    return String(err);
  }
  if (err.status === 401) {
    signOut();
    showError(t("err401"));
  } else if (err.status === 403) {
    showError(t("err403"));
  } else if (err.status === 0) {
    showError(t("errNetwork", { message: err.message }));
  } else {
    showError(t("errOther", { status: err.status, message: err.message }));
  }
  return t("errOther", { status: err.status, message: err.message });
}

// loading marks a section as being read again; what it shows stays until
// the answer replaces it (no flicker on live updates).
function loading(container) {
  container.dataset.state = "loading";
  container.setAttribute("aria-busy", "true");
}

function sectionNote(container, text) {
  const p = document.createElement("p");
  p.className = "note";
  p.textContent = text;
  container.replaceChildren(p);
}

// sectionFailed shows why a section has no data.
function sectionFailed(container, err) {
  container.removeAttribute("aria-busy");
  if (unavailable(err)) {
    container.dataset.state = "unavailable";
    sectionNote(container, t("notAvailable"));
    return;
  }
  container.dataset.state = "error";
  sectionNote(container, handleError(err));
}

// ---- sign in -----------------------------------------------------------

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  state.token = "";
  state.revision = null;
  state.summary = null;
  stopLive();
  $("sign-out").hidden = true;
  $("sign-in").hidden = false;
  $("view").replaceChildren();
  $("token-input").value = "";
  $("token-input").focus();
}

function signedIn() {
  $("sign-in").hidden = true;
  $("sign-out").hidden = false;
  route(true);
  startLive();
}

// ---- cards -------------------------------------------------------------

// get reads a dotted field; a key missing from a map the answer has (a
// kind with no entities) is zero, a field the answer lacks is undefined.
function get(obj, path) {
  const parts = path.split(".");
  const parent = parts.slice(0, -1).reduce((o, k) => (o == null ? undefined : o[k]), obj);
  if (parent == null) return undefined;
  const v = parent[parts[parts.length - 1]];
  return v === undefined && parts.length > 1 ? "0" : v;
}

function cardLabel(field) {
  return field.startsWith("entitiesByKind.") ? t(field.slice("entitiesByKind.".length)) : t(field);
}

// renderCards fills a <dl> with one card per field of data; a field the
// answer lacks (an older server) says it is not available.
function renderCards(dl, data, fields, label) {
  const before = new Map([...dl.querySelectorAll("dd[data-field]")].map((d) => [d.dataset.field, d.dataset.value]));
  const cards = fields.map((f) => {
    const v = get(data, f);
    const div = document.createElement("div");
    div.className = "card";
    div.dataset.field = f;
    const dt = document.createElement("dt");
    dt.textContent = label(f);
    dt.id = "card-" + f.replace(/\W/g, "-") + "-" + dl.id;
    const dd = document.createElement("dd");
    dd.dataset.field = f;
    if (v === undefined || v === null) {
      dd.className = "na";
      dd.textContent = t("notAvailable");
    } else {
      dd.dataset.value = String(v);
      dd.textContent = fmtInt(v);
      if (before.has(f) && before.get(f) !== String(v)) div.classList.add("changed");
    }
    div.append(dt, dd);
    return div;
  });
  dl.replaceChildren(...cards);
}

// ---- views -------------------------------------------------------------

function mount(tplId) {
  const frag = $(tplId).content.cloneNode(true);
  applyI18n(frag);
  $("view").replaceChildren(frag);
}

function options(select, values, label, selected) {
  select.replaceChildren(
    ...values.map((v) => {
      const o = document.createElement("option");
      o.value = v;
      o.textContent = label(v);
      o.selected = v === selected;
      return o;
    }),
  );
}

function minRev() {
  return state.revision === null ? "" : "minRevision=" + state.revision.toString();
}

function overview() {
  mount("tpl-overview");
  const dim = $("bd-dimension"), meas = $("bd-measure"), range = $("trend-range"), tmeas = $("trend-measure");
  options(dim, DIMENSIONS, (d) => t("dim_" + d), state.breakdown.dimension);
  options(meas, BREAKDOWN_MEASURES, t, state.breakdown.measure);
  options(range, Object.keys(RANGES), (r) => t("range_" + r), state.trend.range);
  options(tmeas, TREND_MEASURES, t, state.trend.measure);
  dim.addEventListener("change", () => { state.breakdown.dimension = dim.value; loadBreakdown(); });
  meas.addEventListener("change", () => { state.breakdown.measure = meas.value; loadBreakdown(); });
  range.addEventListener("change", () => { state.trend.range = range.value; loadTrend(); });
  tmeas.addEventListener("change", () => { state.trend.measure = tmeas.value; loadTrend(); });

  if (state.summary) renderCards($("cards"), state.summary, SUMMARY_CARDS, cardLabel);
  // live: the Summary just streamed is state.summary, no need to read it.
  const refresh = (live) => Promise.all([loadSummaryCards(live), loadTargets(), loadBreakdown(), loadTrend()]);
  refresh();
  return { name: "overview", refresh };
}

async function loadSummaryCards(live) {
  const cards = $("cards");
  if (!cards) return;
  try {
    let s = state.summary;
    if (!live || !s) {
      s = await api("/v1/summary?" + minRev());
      acceptSummary(s);
    }
    renderCards(cards, s, SUMMARY_CARDS, cardLabel);
    cards.dataset.revision = s.revision;
    cards.dataset.state = "ready";
  } catch (err) {
    sectionFailed(cards, err);
  }
}

async function loadTargets() {
  const box = $("targets");
  if (!box) return;
  try {
    const r = await api("/v1/targets:progress?" + minRev());
    const targets = r.targets || [];
    if (!targets.length) {
      sectionNote(box, t("noTargets"));
    } else {
      box.replaceChildren(
        ...targets.map((tg, i) => {
          const div = document.createElement("div");
          div.className = "target";
          div.dataset.target = tg.target;
          const id = "target-" + i;
          const label = document.createElement("label");
          label.htmlFor = id;
          label.textContent = tg.displayName || tg.target;
          const goal = Number(tg.goalValue), cur = Number(tg.currentValue);
          const frac = typeof tg.fraction === "number" ? tg.fraction : goal > 0 ? cur / goal : 0;
          const p = document.createElement("progress");
          p.id = id;
          p.max = goal > 0 ? goal : 1;
          p.value = Math.min(cur, p.max);
          p.dataset.goal = String(tg.goalValue);
          p.dataset.current = String(tg.currentValue);
          p.textContent = fmtPct(frac);
          const detail = document.createElement("p");
          detail.className = "detail";
          const vars = { current: fmtInt(tg.currentValue), goal: fmtInt(tg.goalValue), pct: fmtPct(frac) };
          if (tg.deadline) {
            vars.deadline = fmtTime(new Date(tg.deadline), false);
            detail.textContent = t("targetDetail", vars);
          } else {
            detail.textContent = t("targetDetailNoDeadline", vars);
          }
          if (tg.metric) detail.textContent = valueName(tg.metric) + " · " + detail.textContent;
          if (tg.scope) detail.textContent += " · " + t("scope") + " " + tg.scope;
          div.append(label, p, detail);
          return div;
        }),
      );
    }
    box.dataset.state = "ready";
  } catch (err) {
    sectionFailed(box, err);
  }
}

async function loadBreakdown() {
  const box = $("breakdown");
  if (!box) return;
  const { dimension, measure } = state.breakdown;
  loading(box);
  try {
    const r = await api("/v1/breakdowns/" + encodeURIComponent(dimension) + "?" + minRev());
    const rows = (r.rows || []).map((row) => ({
      key: row.key,
      label: valueName(row.key),
      value: Number(row[measure] ?? 0),
      text: fmtInt(row[measure] ?? "0"),
    }));
    if (!rows.length) {
      sectionNote(box, t("noData"));
    } else {
      const title = t("chartLabel", { measure: t(measure), dimension: t("dim_" + dimension) });
      barChart(box, rows, { title, tableSummary: t("showData"), keyHeader: t("dim_" + dimension), valueHeader: t(measure) });
    }
    box.dataset.state = "ready";
    box.removeAttribute("aria-busy");
    box.dataset.revision = r.revision;
  } catch (err) {
    sectionFailed(box, err);
  }
}

// historyCompleteFrom returns, for a read refused because it starts
// before the replica's history (HISTORY_INCOMPLETE: a replica bootstrapped
// from a registry snapshot), the time its history is complete from, as the
// server wrote it (nanoseconds: a Date would round it down, before it).
function historyCompleteFrom(err) {
  if (!(err instanceof APIError)) return null;
  const info = err.details.find((d) => d && d.reason === "HISTORY_INCOMPLETE");
  const from = info && info.metadata && info.metadata.complete_from;
  return from && !Number.isNaN(new Date(from).getTime()) ? from : null;
}

async function loadTrend() {
  const box = $("trend");
  if (!box) return;
  const { range, measure } = state.trend;
  const [span, step] = RANGES[range];
  const end = new Date();
  const start = new Date(end.getTime() - span * 1000);
  const q = new URLSearchParams({ startTime: start.toISOString(), endTime: end.toISOString(), interval: step + "s" });
  loading(box);
  box.dataset.range = range;
  try {
    let r;
    try {
      r = await api("/v1/summary:history?" + q);
    } catch (err) {
      // This replica's history starts later: show what it has, from then
      // (the note below says from when).
      const from = historyCompleteFrom(err);
      if (!from || new Date(from) >= end) throw err;
      // The latest point of the grid ending now that is past from (from
      // may carry nanoseconds beyond its millisecond), so the line still
      // ends at now.
      const fromMs = new Date(from).getTime();
      let s = end.getTime() - Math.floor((end.getTime() - fromMs) / (step * 1000)) * step * 1000;
      if (s <= fromMs) s += step * 1000;
      q.set("startTime", new Date(Math.min(s, end.getTime())).toISOString());
      r = await api("/v1/summary:history?" + q);
    }
    const points = (r.points || []).map((p) => {
      const v = get(p.summary || {}, measure) ?? "0";
      return { time: new Date(p.time), value: Number(v), text: fmtInt(v) };
    });
    if (!points.length) {
      sectionNote(box, t("noData"));
    } else {
      const title = t("trendLabel", { measure: t(measure), range: t("range_" + range) });
      lineChart(box, points, {
        title,
        tableSummary: t("showData"),
        keyHeader: t("colTime"),
        valueHeader: t(measure),
        fmtTime: (d) => fmtTime(d, step < 86400),
        fmtAxis: (v) => v.toLocaleString(locale(), { maximumFractionDigits: 1 }),
      });
      if (r.completeFrom) {
        const p = document.createElement("p");
        p.className = "note";
        p.textContent = t("historyFrom", { time: fmtTime(new Date(r.completeFrom), true) });
        box.append(p);
      }
    }
    box.dataset.state = "ready";
    box.removeAttribute("aria-busy");
    box.dataset.points = String(points.length);
  } catch (err) {
    sectionFailed(box, err);
  }
}

function groupsView() {
  mount("tpl-groups");
  const box = $("groups");
  const table = document.createElement("table");
  const head = document.createElement("thead");
  const hr = document.createElement("tr");
  for (const k of ["colName", "colKind", "colField"]) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = t(k);
    hr.append(th);
  }
  head.append(hr);
  const body = document.createElement("tbody");
  table.append(head, body);
  const more = document.createElement("button");
  more.type = "button";
  more.className = "secondary";
  more.textContent = t("more");
  more.hidden = true;
  box.replaceChildren(table, more);
  let token = "";
  const load = async (reset) => {
    try {
      const q = new URLSearchParams({ pageSize: "100" });
      if (!reset && token) q.set("pageToken", token);
      const r = await api("/v1/groups?" + q);
      if (reset) body.replaceChildren();
      for (const g of r.groups || []) {
        const id = g.name.slice("groups/".length);
        const tr = document.createElement("tr");
        tr.dataset.group = id;
        const name = document.createElement("th");
        name.scope = "row";
        const a = document.createElement("a");
        a.href = "#/groups/" + encodeURIComponent(id);
        a.textContent = g.displayName;
        name.append(a);
        const kind = document.createElement("td");
        kind.textContent = t(g.kind);
        const field = document.createElement("td");
        field.textContent = valueName(g.field || "");
        tr.append(name, kind, field);
        body.append(tr);
      }
      token = r.nextPageToken || "";
      more.hidden = !token;
      box.dataset.state = "ready";
    } catch (err) {
      sectionFailed(box, err);
    }
  };
  more.addEventListener("click", () => load(false));
  load(true);
  return { name: "groups", refresh: () => load(true) };
}

function groupView(id) {
  mount("tpl-group");
  const title = $("group-title");
  title.textContent = id;
  const refresh = async () => {
    const cards = $("group-cards"), kinds = $("group-kinds");
    if (!cards) return;
    try {
      const [g, s] = await Promise.all([
        api("/v1/groups/" + encodeURIComponent(id)),
        api("/v1/groups/" + encodeURIComponent(id) + "/stats?" + minRev()),
      ]);
      title.textContent = g.displayName;
      $("group-meta").textContent = t("groupKindField", { kind: t(g.kind), field: valueName(g.field || "") });
      // The group's own records, then those of its member organisations
      // (each member once), when the server reports them.
      const fields = ["members", ...CATEGORIES.map((c) => "talentsByCategory." + c)];
      if (s.memberTalentsByCategory) fields.push(...CATEGORIES.map((c) => "memberTalentsByCategory." + c));
      renderCards(cards, s, fields, (f) => {
        const [map, key] = f.split(".");
        if (map === "talentsByCategory") return t(key);
        if (map === "memberTalentsByCategory") return t("member_" + key);
        return t(f);
      });
      cards.dataset.state = "ready";
      cards.dataset.revision = s.revision;
      const rows = KINDS.filter((k) => s.membersByKind && s.membersByKind[k] !== undefined).map((k) => ({
        key: k,
        label: t(k),
        value: Number(s.membersByKind[k]),
        text: fmtInt(s.membersByKind[k]),
      }));
      if (rows.length) {
        barChart(kinds, rows, { title: t("membersByKind"), tableSummary: t("showData"), keyHeader: t("colKind"), valueHeader: t("members") });
      } else {
        sectionNote(kinds, t("noData"));
      }
    } catch (err) {
      sectionFailed(cards, err);
    }
  };
  refresh();
  return { name: "group", refresh };
}

function searchView(q) {
  mount("tpl-search");
  $("search-input").value = q;
  const run = async () => {
    const summary = $("search-summary"), list = $("search-results");
    if (!summary) return;
    if (!q.trim()) {
      summary.textContent = t("searchEmpty");
      list.replaceChildren();
      return;
    }
    try {
      const r = await api("/v1/entities:search?" + new URLSearchParams({ query: q, pageSize: "20" }));
      const results = r.results || [];
      summary.textContent = results.length ? t("searchCount", { n: fmtInt(r.totalSize ?? results.length), q }) : t("searchNone", { q });
      list.replaceChildren(
        ...results.map((x) => {
          const li = document.createElement("li");
          li.dataset.name = x.name;
          const [collection, id] = x.name.split("/");
          let head;
          if (collection === "groups") {
            head = document.createElement("a");
            head.href = "#/groups/" + encodeURIComponent(id);
          } else {
            head = document.createElement("strong");
          }
          head.textContent = x.displayName;
          const meta = document.createElement("div");
          meta.className = "meta";
          const parts = [x.kind ? valueName(x.kind) : t(collection.replace(/s$/, ""))];
          if (x.creditCode) parts.push(t("creditCode") + " " + x.creditCode);
          meta.textContent = parts.join(" · ");
          li.append(head, meta);
          return li;
        }),
      );
      list.dataset.state = "ready";
    } catch (err) {
      list.replaceChildren();
      if (unavailable(err)) {
        summary.textContent = t("notAvailable");
        list.dataset.state = "unavailable";
      } else {
        summary.textContent = handleError(err);
      }
    }
  };
  run();
  return { name: "search", refresh: () => {} };
}

// ---- routing -----------------------------------------------------------

function parseRoute() {
  const h = location.hash.replace(/^#/, "") || "/";
  const [path, query] = h.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "groups" && parts[1]) return { name: "group", id: parts[1] };
  if (parts[0] === "groups") return { name: "groups" };
  if (parts[0] === "search") return { name: "search", q: new URLSearchParams(query || "").get("q") || "" };
  return { name: "overview" };
}

function route(initial) {
  if (!state.token) return;
  clearError();
  const r = parseRoute();
  for (const [id, names] of [["nav-overview", ["overview"]], ["nav-groups", ["groups", "group"]]]) {
    if (names.includes(r.name)) $(id).setAttribute("aria-current", "page");
    else $(id).removeAttribute("aria-current");
  }
  if (r.name === "group") state.view = groupView(r.id);
  else if (r.name === "groups") state.view = groupsView();
  else if (r.name === "search") state.view = searchView(r.q);
  else state.view = overview();
  // After a navigation (not the first load) the new view's heading takes
  // the focus, so keyboard and screen-reader users start reading there.
  if (!initial && state.routedOnce) {
    const h = document.querySelector("#view .view-title");
    if (h) h.focus();
  }
  state.routedOnce = true;
}

// ---- live updates ------------------------------------------------------

function acceptSummary(s) {
  state.summary = s;
  const rev = BigInt(s.revision);
  const moved = state.revision !== null && rev > state.revision;
  if (state.revision === null || rev > state.revision) state.revision = rev;
  $("revision").textContent = state.revision.toString();
  const now = new Date();
  const up = $("updated");
  up.dateTime = now.toISOString();
  up.textContent = fmtTime(now, true);
  document.body.dataset.revision = state.revision.toString();
  return moved;
}

// setLive shows the state of live updates in the footer (a status: read
// out by screen readers when it changes).
function setLive(mode) {
  state.live = mode;
  const el = $("live-state");
  el.dataset.state = mode;
  el.textContent = t({ live: "liveOn", reconnecting: "liveReconnecting", polling: "livePolling", off: "liveOff" }[mode]);
}

// onSummary takes a Summary from the stream or a poll: when its revision
// moved, the page shows it and the change is announced.
async function onSummary(s, live) {
  const before = state.revision;
  if (before === null || BigInt(s.revision) > before) {
    acceptSummary(s);
    if (before !== null) {
      if (state.view) await state.view.refresh(live);
      $("live").textContent = t("updatedTo", { rev: state.revision.toString() });
    }
  }
  if (!$("error").hidden && !$("error").dataset.sticky) clearError();
}

function startLive() {
  stopLive();
  watchSummary(++state.watchGen);
}

function stopLive() {
  state.watchGen++;
  if (state.watchAbort) state.watchAbort.abort();
  state.watchAbort = null;
  stopPolling();
  setLive("off");
}

// pause waits ms, or less when signal aborts.
function pause(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}

// watchSummary follows the Summary's stream until signed out, opening it
// again after a backoff (0.5 s doubling to 5 s, jittered) whenever it ends
// or cannot be opened. gen is its generation: a newer one ends it.
async function watchSummary(gen) {
  const ctl = new AbortController();
  state.watchAbort = ctl;
  const current = () => gen === state.watchGen && state.token;
  let backoff = BACKOFF_MIN_MS;
  while (current()) {
    let res = null;
    try {
      res = await fetch(WATCH_PATH, {
        headers: { Authorization: "Bearer " + state.token, Accept: "application/json" },
        cache: "no-store",
        credentials: "omit",
        referrerPolicy: "no-referrer",
        signal: ctl.signal,
      });
    } catch {
      /* the network, or aborted: see below */
    }
    if (!current()) return;
    if (res && (res.status === 404 || res.status === 501)) {
      // An older gateway or metrics service: poll instead.
      startPolling();
      return;
    }
    if (res && (res.status === 401 || res.status === 403)) {
      let body = null;
      try {
        body = await res.json();
      } catch {
        /* not JSON */
      }
      handleError(new APIError(res.status, (body && body.message) || res.statusText));
      if (current()) setLive("off"); // a 401 has signed out already
      return;
    }
    if (res && res.ok && res.body) {
      try {
        await readStream(res.body, ctl.signal, async (s) => {
          backoff = BACKOFF_MIN_MS;
          if (state.live !== "live") setLive("live");
          await onSummary(s, true);
        });
      } catch {
        /* ended: reconnect */
      }
    } else if (res && res.body) {
      res.body.cancel().catch(() => {});
    }
    if (!current()) return;
    setLive("reconnecting");
    await pause(backoff * (0.75 + Math.random() / 2), ctl.signal);
    backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
  }
}

// readStream calls onMessage with each Summary of a newline-delimited JSON
// stream ({"result": {"summary": …}} per line), until it ends: normally,
// with an error line ({"error": …}), or aborted.
async function readStream(body, signal, onMessage) {
  const reader = body.getReader();
  signal.addEventListener("abort", () => reader.cancel().catch(() => {}), { once: true });
  const decoder = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done || signal.aborted) return;
    buf += decoder.decode(value, { stream: true });
    for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (!line) continue;
      const msg = JSON.parse(line);
      if (msg.error) {
        reader.cancel().catch(() => {});
        return;
      }
      if (msg.result && msg.result.summary) await onMessage(msg.result.summary);
    }
  }
}

function startPolling() {
  stopPolling();
  state.polling = true;
  setLive("polling");
  state.pollTimer = setTimeout(poll, POLL_MS);
}

function stopPolling() {
  state.polling = false;
  clearTimeout(state.pollTimer);
}

async function poll() {
  if (!state.polling || !state.token) return;
  if (document.visibilityState === "visible") {
    try {
      await onSummary(await api("/v1/summary"), false);
    } catch (err) {
      handleError(err);
      if (!state.token) return; // signed out
    }
  }
  if (state.polling) state.pollTimer = setTimeout(poll, POLL_MS);
}

// ---- start -------------------------------------------------------------

function start() {
  applyLanguage();
  $("lang-switch").addEventListener("click", () => {
    state.lang = state.lang === "zh" ? "en" : "zh";
    localStorage.setItem(LANG_KEY, state.lang);
    applyLanguage();
    if (state.token) route(true);
  });
  $("sign-out").addEventListener("click", () => {
    signOut();
    clearError();
  });
  $("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const tok = $("token-input").value.trim();
    if (!tok) return;
    state.token = tok;
    sessionStorage.setItem(TOKEN_KEY, tok);
    $("token-input").value = "";
    clearError();
    signedIn();
  });
  $("search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const q = $("search-input").value.trim();
    const target = "#/search?" + new URLSearchParams({ q });
    if (location.hash === target) route(false);
    else location.hash = target;
  });
  window.addEventListener("hashchange", () => route(false));
  if (state.token) signedIn();
  else {
    $("sign-in").hidden = false;
    $("token-input").focus();
  }
}

start();
