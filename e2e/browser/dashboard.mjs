// Drives the dashboard in headless Chromium as a talent office user would,
// against a real stack started by e2e/webdashboard_test.go, which passes:
//
//   DASHBOARD_URL      the gateway, https://127.0.0.1:port
//   VIEWER_TOKEN       the token the user signs in with (role viewer)
//   WRITER_TOKEN       a token for the write the test makes (role editor)
//   FORBIDDEN_TOKEN    a valid token without the figures' permission (403)
//   CHROMIUM           the browser executable (Debian's /usr/bin/chromium)
//   OUT_DIR            where screenshots go (the test's output, never the repo)
//   SEARCH_QUERY, SEARCH_EXPECT   a query and the resource name it must find
//   GROUP_ID           the group to reach by keyboard
//   OFFICE_METRICS     "1": search, targets and history must work (else a
//                      section may say "not available", nothing more)
//   TARGET_GOAL        with OFFICE_METRICS, a goal a target must show
//   RESTART_METRICS    "1": the test restarts the metrics process when the
//                      script logs step "stop-metrics" (it answers
//                      "stopped" on stdin) and "start-metrics" ("started")
//
// Every check that fails throws; the script exits 1 with the reason.
import { chromium } from "playwright-core";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";

const env = (k, def) => {
  const v = process.env[k] ?? def;
  if (v === undefined) throw new Error(`${k} is not set`);
  return v;
};
const base = env("DASHBOARD_URL");
const viewer = env("VIEWER_TOKEN");
const writer = env("WRITER_TOKEN");
const forbidden = env("FORBIDDEN_TOKEN");
const outDir = env("OUT_DIR");
const officeMetrics = env("OFFICE_METRICS", "0") === "1";
const restartMetrics = env("RESTART_METRICS", "0") === "1";
const deadline = 20_000; // any one wait

// ask logs step and waits for the test's answer on stdin.
const stdin = restartMetrics ? createInterface({ input: process.stdin }) : null;
const answers = stdin ? stdin[Symbol.asyncIterator]() : null;
async function ask(step, want) {
  log(step, {});
  const { value, done } = await answers.next();
  check(!done && value.trim() === want, `the test answered ${JSON.stringify(value)} to ${step}, want ${want}`);
}
mkdirSync(outDir, { recursive: true });

const log = (step, detail) => console.log(JSON.stringify({ step, ...detail }));
function check(ok, msg) {
  if (!ok) throw new Error(msg);
}

const browser = await chromium.launch({
  executablePath: env("CHROMIUM", "/usr/bin/chromium"),
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-background-networking"],
});

// watch collects what must not happen on a page: script errors, console
// errors (a failed load of an expected status is allowed by the phase
// that expects it), CSP violations and requests to another origin.
function watch(page, phase) {
  const seen = { errors: [], csp: [], foreign: [] };
  const origin = new URL(base).origin;
  page.on("pageerror", (e) => seen.errors.push(`[${phase.name}] page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    const text = m.text();
    const status = /status of (\d{3})/.exec(text);
    if (status && phase.allowed.includes(Number(status[1]))) return;
    if (phase.allowedText && phase.allowedText.test(text)) return;
    if (/Content.Security.Policy|Refused to/i.test(text)) seen.csp.push(`[${phase.name}] ${text}`);
    else seen.errors.push(`[${phase.name}] console error: ${text}`);
  });
  page.on("request", (r) => {
    const u = new URL(r.url());
    if (u.origin !== origin && u.protocol !== "data:") seen.foreign.push(r.url());
  });
  return seen;
}

async function newPage() {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, locale: "en-US", viewport: { width: 1280, height: 900 } });
  // Violations are events, not only console lines: record them from the
  // start (an init script is the browser's, not the page's, so the CSP
  // does not apply to it).
  await context.addInitScript(() => {
    window.__csp = [];
    document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  const page = await context.newPage();
  page.setDefaultTimeout(deadline);
  return { context, page };
}

async function api(path, token, init = {}) {
  const r = await fetch(base + path, { ...init, headers: { Authorization: "Bearer " + token, "Content-Type": "application/json", ...(init.headers || {}) } });
  const body = await r.json();
  if (!r.ok) throw new Error(`${init.method || "GET"} ${path}: ${r.status} ${JSON.stringify(body)}`);
  return { body, revision: r.headers.get("x-revision") };
}

const shot = async (page, name) => {
  const path = join(outDir, name + ".png");
  await page.screenshot({ path, fullPage: true });
  log("screenshot", { path });
};

const digits = (s) => s.replace(/[^\d]/g, "");

// checkContrast computes the WCAG 2 contrast ratio of the text of every
// visible element that holds text against its effective background: 4.5:1
// at least (AA for body text).
async function checkContrast(page, where) {
  const low = await page.evaluate(() => {
    const rgb = (s) => (s.match(/[\d.]+/g) || []).map(Number);
    const lum = ([r, g, b]) => {
      const c = [r, g, b].map((v) => {
        v /= 255;
        return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
      });
      return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
    };
    const background = (e) => {
      for (; e; e = e.parentElement) {
        const c = rgb(getComputedStyle(e).backgroundColor);
        if (c.length === 3 || (c.length === 4 && c[3] > 0.5)) return c.slice(0, 3);
      }
      return [255, 255, 255];
    };
    const out = [];
    for (const e of document.querySelectorAll("body *")) {
      if (!e.offsetParent || e.closest("svg")) continue;
      const own = [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
      if (!own) continue;
      const cs = getComputedStyle(e);
      const l1 = lum(rgb(cs.color).slice(0, 3)), l2 = lum(background(e));
      const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
      if (ratio < 4.5) out.push(`${e.tagName.toLowerCase()}${e.id ? "#" + e.id : ""} "${e.textContent.trim().slice(0, 30)}": ${ratio.toFixed(2)}`);
    }
    return out;
  });
  check(low.length === 0, `text below 4.5:1 contrast on the ${where}:\n` + low.join("\n"));
}

async function signIn(page, token) {
  await page.locator("#token-input").fill(token);
  await page.locator("#token-form button[type=submit]").click();
}

// ---- the user's session ------------------------------------------------
const phase = { name: "sign-in", allowed: [] };
const { context, page } = await newPage();
const seen = watch(page, phase);
if (!officeMetrics) phase.allowed.push(404, 501); // sections of a server without them

try {
  await page.goto(base + "/dashboard/");
  await page.locator("#token-input").waitFor({ state: "visible" });
  check((await page.locator("label[for=token-input]").textContent()).trim() === "Bearer token", "the token field has no label");
  check(await page.evaluate(() => document.activeElement && document.activeElement.id === "token-input"), "the token field does not have the focus");
  await shot(page, "01-sign-in");

  // A wrong token: a clear error, the form again, nothing kept.
  phase.name = "wrong-token";
  phase.allowed.push(401);
  await signIn(page, viewer + "x");
  await page.locator("#error").waitFor({ state: "visible" });
  const err401 = await page.locator("#error").textContent();
  check(err401.includes("401"), `a wrong token shows ${JSON.stringify(err401)}, want an error naming 401`);
  check(await page.locator("#error").getAttribute("role") === "alert", "the error is not an alert");
  await page.locator("#sign-in").waitFor({ state: "visible" });
  check((await page.evaluate(() => sessionStorage.length)) === 0, "a refused token stayed in session storage");
  await checkContrast(page, "sign-in page with its error");
  await shot(page, "02-wrong-token");
  log("wrong token", { error: err401 });
  phase.allowed.pop();

  // The right one: the cards show exactly what the API says.
  phase.name = "overview";
  await signIn(page, viewer);
  await page.locator("#cards[data-state=ready]").waitFor();
  check(await page.locator("#error").isHidden(), "an error shows after signing in: " + (await page.locator("#error").textContent()));
  const stored = await page.evaluate(() => ({ s: Object.keys(sessionStorage), l: Object.keys(localStorage).map((k) => k + "=" + localStorage.getItem(k)) }));
  check(stored.s.length === 1 && !stored.l.some((x) => x.includes(viewer)), "the token is not in session storage only: " + JSON.stringify(stored));

  const { body: summary } = await api("/v1/summary", viewer);
  const cards = await page.locator("#cards dd[data-field]").evaluateAll((dds) => dds.map((d) => ({ field: d.dataset.field, value: d.dataset.value, text: d.textContent })));
  const get = (o, p) => {
    const [a, b] = p.split(".");
    if (b === undefined) return o[a];
    return o[a] === undefined ? undefined : (o[a][b] ?? "0"); // a kind absent from the map has none
  };
  let compared = 0;
  for (const c of cards) {
    const want = get(summary, c.field);
    if (want === undefined) {
      check(c.value === undefined, `card ${c.field} shows ${c.value}, the API has no such figure`);
      continue;
    }
    check(c.value === String(want) && digits(c.text) === String(want), `card ${c.field} shows ${JSON.stringify(c.text)} (${c.value}), the API says ${want}`);
    compared++;
  }
  for (const f of ["entities", "consortia", "alliances", "consortiumMembers", "allianceMembers", "talentsGathered", "talentsCultivated", "talentsAssessed", "leadingEnterprises", "futureIndustryPlatforms", "entitiesByKind.ENTITY_KIND_UNIVERSITY"]) {
    check(cards.some((c) => c.field === f && c.value !== undefined), `no card for ${f}`);
  }
  if (officeMetrics) {
    for (const f of ["policies", "pilotPolicies", "jingjinjiOrganisations", "targets"]) check(cards.some((c) => c.field === f && c.value !== undefined), `no card for ${f}`);
    check(Number(summary.pilotPolicies) > 0 && Number(summary.targets) > 0, "the stack has no pilot policy or target: the test loaded none");
  }
  check(Number(summary.talentsGathered) > 0, "the stack has no talents gathered: the test loaded no data");
  log("cards", { compared, revision: summary.revision });

  // The breakdown chart: one bar per row the API returns, same figures.
  await page.locator("#breakdown[data-state=ready] svg").waitFor();
  const { body: regions } = await api("/v1/breakdowns/region", viewer);
  const bars = await page.locator("#breakdown svg g.row").evaluateAll((gs) => gs.map((g) => ({ key: g.dataset.key, text: g.querySelector("text.value").textContent })));
  check(bars.length === regions.rows.length && bars.length > 1, `${bars.length} bars, the API has ${regions.rows.length} regions`);
  regions.rows.forEach((r, i) => check(bars[i].key === r.key && digits(bars[i].text) === String(r.entities), `bar ${i}: ${JSON.stringify(bars[i])}, the API says ${r.key}=${r.entities}`));
  check(await page.locator("#breakdown svg").getAttribute("role") === "img" && (await page.locator("#breakdown svg title").textContent()).length > 0, "the chart has no text alternative");

  // Targets and trend: real with office-metrics, else "not available".
  await page.locator("#targets[data-state]").waitFor();
  if (officeMetrics) await page.locator("#targets[data-state=ready]").waitFor();
  if (officeMetrics && env("TARGET_GOAL", "") !== "") {
    const goal = env("TARGET_GOAL");
    await page.locator(`#targets progress[data-goal="${goal}"]`).waitFor();
    const label = await page.locator(`#targets .target:has(progress[data-goal="${goal}"]) label`).textContent();
    check(label.trim().length > 0, "the target's progress bar has no label");
    const { body: progress } = await api("/v1/targets:progress", viewer);
    const tg = progress.targets.find((x) => String(x.goalValue) === goal);
    const current = await page.locator(`#targets progress[data-goal="${goal}"]`).getAttribute("data-current");
    check(tg && current === String(tg.currentValue), `target progress shows ${current}, the API says ${tg && tg.currentValue}`);
    log("target", { goal, label, current });
  }
  if (officeMetrics) {
    await page.locator("#trend-range").selectOption("1h");
    await page.waitForFunction(() => {
      const t = document.getElementById("trend");
      return t && t.dataset.range === "1h" && t.dataset.state === "ready" && Number(t.dataset.points) >= 2 && t.querySelector("polyline.line");
    });
    const pts = await page.locator("#trend polyline.line").getAttribute("points");
    check(pts.trim().split(/\s+/).length >= 2, "the trend line has fewer than 2 points");
    // The last point is now: the figure on the card.
    const last = await page.locator("#trend table tbody tr:last-child td").textContent();
    check(digits(last) === String(summary.entities), `the trend ends at ${last}, the Summary has ${summary.entities} entities`);
    log("trend", { points: pts.trim().split(/\s+/).length, last });
  } else {
    const st = await page.locator("#targets").getAttribute("data-state");
    check(st === "unavailable" || st === "ready", `targets section state ${st}`);
    await page.locator("#trend[data-state]").waitFor();
  }
  await checkContrast(page, "overview");
  await shot(page, "03-overview-en");

  // 中文: every label translated.
  phase.name = "chinese";
  await page.locator("#lang-switch").click();
  await page.waitForFunction(() => document.documentElement.lang === "zh-CN");
  await page.locator("#cards[data-state=ready]").waitFor();
  const zh = {
    title: await page.locator("h1").textContent(),
    nav: await page.locator("#nav-groups").textContent(),
    heading: await page.locator("#view .view-title").textContent(),
    gathered: await page.locator('#cards .card[data-field="talentsGathered"] dt').textContent(),
    universities: await page.locator('#cards .card[data-field="entitiesByKind.ENTITY_KIND_UNIVERSITY"] dt').textContent(),
    switchTo: await page.locator("#lang-switch").textContent(),
  };
  check(zh.title === "人才工作数据看板" && zh.nav === "联合体与联盟" && zh.heading === "总览" && zh.gathered === "集聚人才" && zh.universities === "高校" && zh.switchTo === "English",
    "Chinese labels: " + JSON.stringify(zh));
  // Labels, not data: a target's name is what its creator wrote.
  const untranslated = await page.locator("#cards dt, #view h3, label:not(.target label), #view th, .target .detail").evaluateAll((es) => es.map((e) => e.textContent.trim()).filter((s) => s && !/[\u4e00-\u9fff]/.test(s)));
  check(untranslated.length === 0, "labels left in English: " + JSON.stringify(untranslated));
  const figuresZh = await page.locator('#cards dd[data-field="talentsGathered"]').textContent();
  check(digits(figuresZh) === String(summary.talentsGathered), "figures change with the language: " + figuresZh);
  await shot(page, "04-overview-zh");
  log("chinese", zh);

  // Search.
  phase.name = "search";
  await page.locator("#search-input").fill(env("SEARCH_QUERY"));
  await page.locator("#search-input").press("Enter");
  await page.waitForFunction(() => /#\/search/.test(location.hash));
  if (officeMetrics) {
    const want = env("SEARCH_EXPECT");
    await page.locator(`#search-results[data-state=ready] li[data-name="${want}"]`).waitFor();
    log("search", { found: await page.locator(`#search-results li[data-name="${want}"]`).textContent() });
  } else {
    await page.waitForFunction(() => {
      const l = document.getElementById("search-results");
      return l && (l.dataset.state === "ready" || l.dataset.state === "unavailable");
    });
  }
  await shot(page, "05-search");

  // Keyboard only: from the page's start to the groups list, then to one
  // group's page.
  phase.name = "keyboard";
  const groupId = env("GROUP_ID");
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  const tabTo = async (test, arg, what, max = 80) => {
    for (let i = 0; i < max; i++) {
      await page.keyboard.press("Tab");
      if (await page.evaluate(test, arg)) return i + 1;
    }
    throw new Error(`${what} not reached in ${max} presses of Tab`);
  };
  const n1 = await tabTo(() => document.activeElement.id === "nav-groups", null, "the Groups link");
  await page.keyboard.press("Enter");
  await page.locator("#groups[data-state=ready]").waitFor();
  const n2 = await tabTo((id) => document.activeElement.getAttribute("href") === "#/groups/" + id, groupId, `the link to ${groupId}`);
  await page.keyboard.press("Enter");
  await page.locator("#group-cards[data-state=ready]").waitFor();
  check(await page.evaluate(() => document.activeElement.classList.contains("view-title")), "after navigating, the focus is not on the new page's heading");
  const { body: gstats } = await api(`/v1/groups/${groupId}/stats`, viewer);
  const members = await page.locator('#group-cards dd[data-field="members"]').getAttribute("data-value");
  check(members === String(gstats.members), `group ${groupId}: members card ${members}, the API says ${gstats.members}`);
  check(await page.locator("#nav-groups").getAttribute("aria-current") === "page", "the nav does not mark the current page");
  await checkContrast(page, "group page");
  await shot(page, "06-group-keyboard");
  log("keyboard", { tabsToNav: n1, tabsToGroup: n2, members });

  // Live: a write through the API reaches the card without a reload.
  phase.name = "live";
  await page.keyboard.press("Shift+Tab"); // off the heading, then home by keyboard
  await page.locator("#nav-overview").focus();
  await page.keyboard.press("Enter");
  await page.locator("#cards[data-state=ready]").waitFor();
  const before = await page.locator('#cards dd[data-field="entities"]').getAttribute("data-value");
  // From here on the Summary must come from the stream: no GET /v1/summary.
  const polls = [], watches = [];
  page.on("request", (r) => {
    const u = new URL(r.url());
    if (u.pathname === "/v1/summary") polls.push(r.url());
    if (u.pathname === "/v1/summary:watch") watches.push(r.url());
  });
  await page.locator("#live-state[data-state=live]").waitFor();
  check(await page.locator("#live-state").getAttribute("role") === "status", "the live state is not a status");
  const liveText = await page.locator("#live-state").textContent();
  check(["Live updates on", "实时更新已开启"].includes(liveText), "the live state says " + liveText); // the page may be in Chinese here
  const id = "live-" + Date.now().toString(36);
  const created = await api("/v1/entities?entityId=" + id, writer, {
    method: "POST",
    body: JSON.stringify({ displayName: "Live update test " + id, kind: "ENTITY_KIND_INCUBATOR", region: "Binhai" }),
  });
  const t0 = Date.now();
  await page.waitForFunction(
    ([want, rev]) => {
      const dd = document.querySelector('#cards dd[data-field="entities"]');
      const rev2 = document.body.dataset.revision || "0";
      return dd && dd.dataset.value === want && BigInt(rev2) >= BigInt(rev) && document.getElementById("live").textContent.includes(rev2);
    },
    [String(BigInt(before) + 1n), created.revision],
    { timeout: deadline },
  );
  const live = await page.locator("#live").textContent();
  check(live.includes(await page.evaluate(() => document.body.dataset.revision)), `the live region says ${JSON.stringify(live)}`);
  check(await page.locator("#live").getAttribute("aria-live") === "polite", "the live region is not aria-live");
  log("live", { before, after: String(BigInt(before) + 1n), revision: created.revision, ms: Date.now() - t0, announced: live });
  check(polls.length === 0, "the page polled the Summary instead of following its stream: " + polls.join(", "));
  await shot(page, "07-live-update");

  // The metrics process restarts: the page says it is reconnecting, then
  // follows the new stream, and a write reaches the cards again, still
  // without a poll.
  if (restartMetrics) {
    phase.name = "restart";
    // 400: the trend's first request to the replica, bootstrapped anew,
    // starts before its history (HISTORY_INCOMPLETE); the page asks again.
    phase.allowed.push(400, 502, 503, 504);
    phase.allowedText = /ERR_INCOMPLETE_CHUNKED_ENCODING|ERR_HTTP2_PROTOCOL_ERROR|ERR_CONNECTION/;
    // The stream's first request may precede the listener above, and the
    // page's first retry may come after the new process is up: what must
    // hold is a request after the stop.
    const watchesBeforeStop = watches.length;
    await ask("stop-metrics", "stopped");
    await page.locator("#live-state[data-state=reconnecting]").waitFor();
    const reconnecting = await page.locator("#live-state").textContent();
    await ask("start-metrics", "started");
    await page.locator("#live-state[data-state=live]").waitFor({ timeout: 60_000 });
    const before2 = await page.locator('#cards dd[data-field="entities"]').getAttribute("data-value");
    const id2 = "live2-" + Date.now().toString(36);
    const created2 = await api("/v1/entities?entityId=" + id2, writer, {
      method: "POST",
      body: JSON.stringify({ displayName: "After restart " + id2, kind: "ENTITY_KIND_INCUBATOR", region: "Binhai" }),
    });
    await page.waitForFunction(
      ([want, rev]) => {
        const dd = document.querySelector('#cards dd[data-field="entities"]');
        return dd && dd.dataset.value === want && BigInt(document.body.dataset.revision || "0") >= BigInt(rev);
      },
      [String(BigInt(before2) + 1n), created2.revision],
      { timeout: deadline },
    );
    check(polls.length === 0, "the page polled the Summary after the restart: " + polls.join(", "));
    // The new replica was bootstrapped from a registry snapshot (the test
    // removed its checkpoint): its history starts now, so the trend shows
    // the points it has and says from when, instead of failing.
    if (officeMetrics) {
      await page.waitForFunction(() => {
        const t = document.getElementById("trend");
        const last = t && t.querySelector("table tbody tr:last-child td");
        const card = document.querySelector('#cards dd[data-field="entities"]');
        // The line ends now: at the figure on the card.
        return t && t.dataset.state === "ready" && last && card && last.textContent.replace(/\D/g, "") === card.dataset.value && t.querySelector("p.note");
      }, null, { timeout: deadline }).catch(async () => {
        const t = page.locator("#trend");
        check(false, `after a bootstrap the trend is ${await t.getAttribute("data-state")}: ${(await t.textContent()).trim().slice(0, 300)}`);
      });
      const note = (await page.locator("#trend p.note").textContent()).trim();
      check(/History is complete from|历史数据自/.test(note), "the trend does not say from when the history is complete: " + note);
      log("trend-after-bootstrap", { note });
    }
    check(watches.length > watchesBeforeStop, `${watches.length - watchesBeforeStop} requests of the stream since the stop: the page did not open it again`);
    log("restart", { reconnecting, watches: watches.length, revision: created2.revision });
    await shot(page, "07b-after-restart");
    phase.allowed.splice(-4);
    phase.allowedText = null;
  }

  const csp = await page.evaluate(() => window.__csp);
  seen.csp.push(...csp);
} finally {
  await context.close();
}

// A token without the figures' permission: a 403, said plainly.
{
  const p403 = { name: "forbidden", allowed: [403, 404, 501] };
  const { context: c2, page: pg } = await newPage();
  const seen2 = watch(pg, p403);
  try {
    await pg.goto(base + "/dashboard/");
    await signIn(pg, forbidden);
    await pg.locator("#error").waitFor({ state: "visible" });
    const msg = await pg.locator("#error").textContent();
    check(msg.includes("403"), `a forbidden token shows ${JSON.stringify(msg)}, want an error naming 403`);
    await shot(pg, "08-forbidden");
    log("forbidden", { error: msg });
    seen.errors.push(...seen2.errors);
    seen.csp.push(...seen2.csp, ...(await pg.evaluate(() => window.__csp)));
    seen.foreign.push(...seen2.foreign);
  } finally {
    await c2.close();
  }
}
await browser.close();
if (stdin) stdin.close();

writeFileSync(join(outDir, "browser-findings.json"), JSON.stringify(seen, null, 2));
check(seen.errors.length === 0, "errors in the page:\n" + seen.errors.join("\n"));
check(seen.csp.length === 0, "CSP violations:\n" + seen.csp.join("\n"));
check(seen.foreign.length === 0, "requests to another origin:\n" + seen.foreign.join("\n"));
log("done", {});
