"""The report page's inline style sheet and script (no network, no CDN: it opens offline).

The script only zooms and pages the diagram and links its cards to the tables' details;
without it the page still shows everything (the diagram at full size, scrollable).
"""

from __future__ import annotations

CSS = """
:root { --ink: #1d2433; --muted: #5b6578; --line: #d5dae3; --bg: #f6f7f9; --card: #fff;
  --accent: #2b6cb0; --merged: #8a4baf; --ok: #23804a; --bad: #b42318; --warn: #a15c00;
  --before: #9aa5b8; --after: #2b6cb0; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
  color: var(--ink); background: var(--bg); }
header.top { background: #1d2433; color: #fff; padding: 18px 28px 12px; }
header.top h1 { margin: 0 0 4px; font-size: 22px; }
header.top p { margin: 2px 0; color: #c9d1e0; }
nav.toc { position: sticky; top: 0; z-index: 5; background: #fff; border-bottom: 1px solid
  var(--line); padding: 8px 28px; display: flex; gap: 18px; flex-wrap: wrap; }
nav.toc a { color: var(--accent); text-decoration: none; font-weight: 600; }
main { padding: 0 28px 40px; max-width: 1500px; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
  margin: 20px 0; padding: 4px 20px 16px; scroll-margin-top: 48px; }
h2 { font-size: 18px; margin: 14px 0 8px; }
h3 { font-size: 15px; margin: 14px 0 6px; }
p.lead { color: var(--muted); margin: 4px 0 10px; }
table.data { border-collapse: collapse; width: 100%; font-size: 13px; }
table.data th, table.data td { text-align: left; padding: 4px 8px; border-bottom: 1px solid
  var(--line); vertical-align: top; }
table.data th { background: #eef1f6; position: sticky; top: 38px; }
table.data td.num, table.data th.num { text-align: right; font-variant-numeric: tabular-nums;
  white-space: nowrap; }
code, .mono { font: 12px/1.4 ui-monospace, "DejaVu Sans Mono", Menlo, monospace; }
code.path { background: #eef3fb; color: #1e4e8c; padding: 1px 4px; border-radius: 3px; }
.status-ok { color: var(--ok); font-weight: 600; }
.status-bad { color: var(--bad); font-weight: 700; }
.status-skip { color: var(--warn); font-weight: 600; }
tr.excluded td { color: var(--warn); }
.badge { display: inline-block; padding: 0 6px; border-radius: 9px; font-size: 11px;
  background: #eef1f6; color: var(--muted); margin-right: 4px; white-space: nowrap; }
.badge.merged { background: #f2e8f8; color: var(--merged); }
.figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(220px, 1fr));
  gap: 12px; margin: 8px 0 14px; }
.figure { border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px; }
.figure .k { color: var(--muted); font-size: 12px; text-transform: uppercase; }
.figure .v { font-size: 20px; font-weight: 700; }
.figure .s { color: var(--muted); font-size: 12px; }
.er-tools { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; margin: 6px 0; }
.er-tools button, .er-tools select, .er-tools input { font: inherit; padding: 3px 9px;
  border: 1px solid var(--line); border-radius: 5px; background: #fff; }
.er-wrap { border: 1px solid var(--line); border-radius: 6px; background: #fbfcfe; }
.er-wrap svg { width: 100%; height: auto; max-height: 82vh; min-height: 360px; display: block;
  cursor: grab; touch-action: none; }
.legend { color: var(--muted); font-size: 12px; }
svg text { font: 11px ui-monospace, "DejaVu Sans Mono", Menlo, monospace; fill: var(--ink); }
.group-box { fill: #f0f3f8; stroke: #c3cad6; }
.group.merged .group-box { fill: #f7f0fb; stroke: #c9a6dd; }
.group-title { font: 600 13px system-ui, sans-serif !important; fill: var(--muted) !important; }
.node-box { fill: #fff; stroke: #8b96a8; }
.node-head { fill: #dfe8f5; stroke: #8b96a8; }
.node.merged .node-head { fill: #ecdff5; }
.node.focus .node-box, .node.hit .node-box { stroke: #d97706; stroke-width: 3; }
.node-name { font-weight: 700; font-size: 12px !important; }
.node-rows { fill: var(--muted) !important; }
.src { fill: var(--merged) !important; }
.col.pk { font-weight: 700; }
.col.fk { fill: var(--accent) !important; }
.col.more { fill: var(--muted) !important; font-style: italic; }
.node-sep { stroke: #d5dae3; }
.edge { fill: none; stroke: var(--accent); stroke-width: 1.6; opacity: .8; }
.edge.suggested { stroke: #a0a8b8; stroke-dasharray: 6 4; }
.edge.focus { stroke: #d97706; stroke-width: 3; opacity: 1; }
.arrowhead { fill: var(--accent); }
.chart { width: 100%; max-width: 820px; display: block; margin: 6px 0 14px; }
.chart-label, .chart-num { font: 12px system-ui, sans-serif !important; }
.chart-num { fill: var(--muted) !important; }
.bar-before { fill: var(--before); }
.bar-after { fill: var(--after); }
.pair.differs .chart-label { font-weight: 700 !important; }
.seg0 { fill: #2b6cb0; } .seg1 { fill: #8a4baf; } .seg2 { fill: #23804a; }
.seg3 { fill: #c05621; } .seg4 { fill: #2c7a7b; } .seg5 { fill: #b83280; }
.seg6 { fill: #718096; } .seg7 { fill: #975a16; }
ol.timeline { list-style: none; margin: 8px 0; padding: 0 0 0 22px;
  border-left: 3px solid var(--line); }
ol.timeline > li { position: relative; margin: 0 0 14px; padding-left: 12px; }
ol.timeline > li::before { content: ""; position: absolute; left: -31px; top: 3px; width: 14px;
  height: 14px; border-radius: 50%; background: var(--accent); border: 3px solid #fff; }
ol.timeline > li.cutover::before { background: var(--merged); }
ol.timeline > li.verify::before { background: var(--ok); }
ol.timeline > li.adapter::before { background: #c05621; }
ol.timeline > li.interrupted::before { background: var(--bad); }
ol.timeline > li.pending::before { background: #fff; border-color: var(--warn); }
.when { display: block; color: var(--muted); font-size: 12px; }
.what { font-weight: 600; }
details summary { cursor: pointer; color: var(--accent); font-size: 12px; }
ul.review { padding-left: 18px; }
ul.review li { margin: 4px 0; }
.empty { color: var(--muted); font-style: italic; }
footer { color: var(--muted); font-size: 12px; padding: 0 28px 30px; }
@media print { nav.toc { position: static; } .er-wrap { height: auto; overflow: visible; }
  .er-tools { display: none; } }
"""

JS = r"""
(function () {
  "use strict";
  var svg = document.getElementById("er");
  if (!svg) { return; }
  var full = svg.getAttribute("data-full").split(" ").map(Number);
  var view = full.slice();
  function show(v) {
    view = v;
    svg.setAttribute("viewBox", v.map(function (n) { return n.toFixed(1); }).join(" "));
  }
  function boxOf(el, pad) {
    var b = el.getAttribute("data-box").split(" ").map(Number);
    return [b[0] - pad, b[1] - pad, b[2] + 2 * pad, b[3] + 2 * pad];
  }
  function scale() {
    var m = svg.getScreenCTM();
    return m && m.a ? m.a : 1;
  }
  function zoom(factor, cx, cy) {
    var x = cx === undefined ? view[0] + view[2] / 2 : cx;
    var y = cy === undefined ? view[1] + view[3] / 2 : cy;
    show([x - (x - view[0]) * factor, y - (y - view[1]) * factor,
          view[2] * factor, view[3] * factor]);
  }
  svg.addEventListener("wheel", function (e) {
    e.preventDefault();
    var m = svg.getScreenCTM();
    if (!m) { return; }
    var p = svg.createSVGPoint();
    p.x = e.clientX; p.y = e.clientY;
    var q = p.matrixTransform(m.inverse());
    zoom(e.deltaY < 0 ? 0.8 : 1.25, q.x, q.y);
  }, { passive: false });
  var drag = null;
  svg.addEventListener("pointerdown", function (e) {
    drag = { x: e.clientX, y: e.clientY, v: view.slice(), s: scale() };
  });
  window.addEventListener("pointermove", function (e) {
    if (!drag) { return; }
    show([drag.v[0] - (e.clientX - drag.x) / drag.s, drag.v[1] - (e.clientY - drag.y) / drag.s,
          drag.v[2], drag.v[3]]);
  });
  window.addEventListener("pointerup", function () { drag = null; });
  var groups = Array.prototype.slice.call(svg.querySelectorAll("g.group"));
  var nodes = Array.prototype.slice.call(svg.querySelectorAll("g.node"));
  var edges = Array.prototype.slice.call(svg.querySelectorAll("path.edge"));
  var pick = document.getElementById("er-group");
  var page = -1;
  function goPage(i) {
    page = i;
    if (pick) { pick.value = i < 0 ? "" : String(i); }
    show(i < 0 ? full.slice() : boxOf(groups[i], 12));
  }
  if (pick) {
    pick.addEventListener("change", function () {
      goPage(pick.value === "" ? -1 : Number(pick.value));
    });
  }
  function on(id, fn) {
    var el = document.getElementById(id);
    if (el) { el.addEventListener("click", fn); }
  }
  on("er-in", function () { zoom(0.8); });
  on("er-out", function () { zoom(1.25); });
  on("er-fit", function () { goPage(-1); });
  on("er-prev", function () { goPage(page <= 0 ? groups.length - 1 : page - 1); });
  on("er-next", function () { goPage(page >= groups.length - 1 ? 0 : page + 1); });
  function focus(name) {
    nodes.forEach(function (n) {
      n.classList.toggle("focus", n.getAttribute("data-table") === name);
    });
    edges.forEach(function (p) {
      var hit = p.getAttribute("data-from") === name || p.getAttribute("data-to") === name;
      p.classList.toggle("focus", hit);
    });
  }
  var find = document.getElementById("er-find");
  if (find) {
    find.addEventListener("input", function () {
      var want = find.value.trim().toLowerCase();
      var first = null;
      nodes.forEach(function (n) {
        var hit = want !== "" && n.getAttribute("data-table").toLowerCase().indexOf(want) >= 0;
        n.classList.toggle("hit", hit);
        if (hit && !first) { first = n; }
      });
      if (first) { show(boxOf(first, 160)); }
    });
  }
  nodes.forEach(function (n) {
    n.addEventListener("dblclick", function () {
      var name = n.getAttribute("data-table");
      focus(name);
      var detail = document.getElementById("table-" + n.id.slice(5));
      if (detail) { detail.open = true; detail.scrollIntoView({ block: "start" }); }
    });
    n.addEventListener("click", function () { focus(n.getAttribute("data-table")); });
  });
})();
"""
