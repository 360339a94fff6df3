// Two small charts drawn as inline SVG with DOM calls (no markup strings,
// no inline styles: the page's CSP allows neither). Each chart is an
// image with a text alternative, followed by its data as a table for
// screen readers and keyboard users.

const SVG = "http://www.w3.org/2000/svg";
let seq = 0;

function el(name, attrs, text) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

function h(name, attrs, text) {
  const e = document.createElement(name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

// dataTable is the chart's data as a collapsible table.
function dataTable(summary, headers, rows) {
  const d = h("details", { class: "data" });
  d.append(h("summary", {}, summary));
  const t = h("table");
  const tr = h("tr");
  headers.forEach((x, i) => tr.append(h("th", { scope: "col", class: i > 0 ? "num" : "" }, x)));
  const thead = h("thead");
  thead.append(tr);
  t.append(thead);
  const tb = h("tbody");
  for (const r of rows) {
    const row = h("tr");
    r.forEach((x, i) => row.append(h(i === 0 ? "th" : "td", i === 0 ? { scope: "row" } : { class: "num" }, x)));
    tb.append(row);
  }
  t.append(tb);
  d.append(t);
  return d;
}

// barChart draws rows [{label, value (Number), text}] as horizontal bars
// into container, replacing what it held.
export function barChart(container, rows, o) {
  const id = "chart-" + ++seq;
  const barH = 22, gap = 8, labelW = 220, valueW = 90, width = 760;
  const height = Math.max(1, rows.length) * (barH + gap) + gap;
  const max = Math.max(1, ...rows.map((r) => r.value));
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": id });
  svg.append(el("title", { id }, o.title));
  const plotW = width - labelW - valueW;
  rows.forEach((r, i) => {
    const y = gap + i * (barH + gap);
    const g = el("g", { class: "row", "data-key": r.key });
    g.append(el("text", { x: labelW - 8, y: y + barH * 0.7, "text-anchor": "end" }, clip(r.label, 28)));
    g.append(el("rect", { class: "bar", x: labelW, y, width: Math.max(1, (r.value / max) * plotW), height: barH, rx: 2 }));
    g.append(el("text", { class: "value", x: labelW + (r.value / max) * plotW + 6, y: y + barH * 0.7 }, r.text));
    svg.append(g);
  });
  container.replaceChildren(svg, dataTable(o.tableSummary, [o.keyHeader, o.valueHeader], rows.map((r) => [r.label, r.text])));
}

// lineChart draws points [{time (Date), value (Number), text}] as a line
// over time into container, replacing what it held.
export function lineChart(container, points, o) {
  const id = "chart-" + ++seq;
  const width = 760, height = 260, left = 70, right = 20, top = 16, bottom = 36;
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-labelledby": id });
  svg.append(el("title", { id }, o.title));
  const t0 = points.length ? points[0].time.getTime() : 0;
  const t1 = points.length ? points[points.length - 1].time.getTime() : 1;
  const vmax = Math.max(1, ...points.map((p) => p.value));
  const x = (t) => left + (t1 === t0 ? (width - left - right) / 2 : ((t - t0) / (t1 - t0)) * (width - left - right));
  const y = (v) => top + (1 - v / vmax) * (height - top - bottom);
  for (const f of [0, 0.5, 1]) {
    const v = vmax * f;
    svg.append(el("line", { class: "grid", x1: left, x2: width - right, y1: y(v), y2: y(v) }));
    svg.append(el("text", { x: left - 6, y: y(v) + 4, "text-anchor": "end" }, o.fmtAxis(v)));
  }
  svg.append(el("line", { class: "axis", x1: left, x2: width - right, y1: height - bottom, y2: height - bottom }));
  if (points.length) {
    svg.append(el("text", { x: left, y: height - 12 }, o.fmtTime(points[0].time)));
    svg.append(el("text", { x: width - right, y: height - 12, "text-anchor": "end" }, o.fmtTime(points[points.length - 1].time)));
    const d = points.map((p) => `${x(p.time.getTime()).toFixed(1)},${y(p.value).toFixed(1)}`).join(" ");
    svg.append(el("polyline", { class: "line", points: d }));
    for (const p of points) svg.append(el("circle", { class: "dot", cx: x(p.time.getTime()).toFixed(1), cy: y(p.value).toFixed(1), r: 3 }));
  }
  container.replaceChildren(svg, dataTable(o.tableSummary, [o.keyHeader, o.valueHeader], points.map((p) => [o.fmtTime(p.time), p.text])));
}

function clip(s, n) {
  return s.length > n ? s.slice(0, n - 1) + "…" : s;
}
