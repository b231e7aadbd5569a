"""The report in a real browser: Debian's chromium, headless, over the DevTools pipe.

Skipped, with the reason, where chromium is not installed or cannot start (``.ci/run``
installs it). Checks what a person sees: no console errors, the diagram drawn with one node
per table, the before/after figures equal to the migration report's, the diagram's paging.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from report_browser import BrowserError, Page, find_chromium, open_page
from report_support import Reported

PROBE = """(() => {
  const svg = document.getElementById("er");
  const figures = {};
  document.querySelectorAll("[data-figure]").forEach(el => {
    figures[el.getAttribute("data-figure")] = el.getAttribute("data-value");
  });
  const box = svg ? svg.getBoundingClientRect() : null;
  const before = svg ? svg.getAttribute("viewBox") : null;
  const next = document.getElementById("er-next");
  if (next) { next.click(); }
  return {
    svg: !!svg,
    drawn: box ? [box.width, box.height] : null,
    nodes: svg ? svg.querySelectorAll("g.node").length : 0,
    names: svg ? Array.from(svg.querySelectorAll("g.node"))
      .map(n => n.getAttribute("data-table")) : [],
    edges: svg ? svg.querySelectorAll("path.edge").length : 0,
    figures: figures,
    sections: Array.from(document.querySelectorAll("section h2")).map(h => h.textContent),
    paged: svg ? [before, svg.getAttribute("viewBox")] : null,
    resources: performance.getEntriesByType("resource").map(r => r.name),
  };
})()"""


def _open(path: Path) -> Page:
    exe = find_chromium()
    if exe is None:
        pytest.skip("chromium is not installed (Debian: apt-get install -y chromium)")
    try:
        return open_page(exe, path, PROBE, width=1400, height=1000)
    except BrowserError as exc:
        pytest.skip(f"chromium cannot run here: {exc}")


def _checked(page: Page, reported: Reported, shot: Path) -> dict[str, Any]:
    shot.write_bytes(page.png)
    assert page.png.startswith(b"\x89PNG") and len(page.png) > 20_000, shot
    assert page.errors == [], page.errors
    value: dict[str, Any] = page.value
    assert value["svg"] and value["drawn"][0] > 800 and value["drawn"][1] > 300
    assert value["nodes"] == len(reported.plan.tables)
    assert sorted(value["names"]) == sorted(t.name for t in reported.plan.tables)
    assert value["resources"] == []  # nothing fetched: no network, no CDN
    assert value["paged"][0] != value["paged"][1]  # "group ▶" zoomed to the first group
    return value


def test_sample_report_in_chromium(sample_reported: Reported, tmp_path: Path) -> None:
    page = _open(sample_reported.html)
    value = _checked(page, sample_reported, tmp_path / "sample-report.png")
    m = sample_reported.migration
    assert m.verify is not None
    figures = {k: int(v) for k, v in value["figures"].items() if v != ""}
    assert figures["bytes-before"] == m.sources_bytes
    assert figures["bytes-after"] == m.target_bytes
    assert figures["rows-copied"] == m.rows
    assert figures["rows-verified"] == sum(c.target_rows for c in m.verify.checks)
    assert figures["stores-before"] == len(sample_reported.analysis.stores)
    assert figures["verify-status"] == 1
    assert value["sections"][0] == "Unified schema"


def test_sixty_table_report_in_chromium(wide_reported: Reported, tmp_path: Path) -> None:
    page = _open(wide_reported.html)
    value = _checked(page, wide_reported, tmp_path / "wide-report.png")
    assert value["nodes"] >= 60
    assert value["edges"] >= 30
