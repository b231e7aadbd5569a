"""Projects to report on, and the structure of a report page (what golden tests compare).

``structure()`` reads a report with the standard library's HTML parser and keeps what a
reader relies on (sections, diagram nodes, groups and edges, figures, lineage, checks,
timeline, review items) and none of what changes from run to run (times, run ids, sizes).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections import Counter
from contextlib import closing
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from dbfold.design import design, probe_sources
from dbfold.migrate import MigrationReport, migrate, save_report
from dbfold.model import Analysis
from dbfold.plan import Plan
from dbfold.scan import analyze
from dbfold.state import plan_path, save_analysis, write_atomic

GOLDEN = Path(__file__).resolve().parent / "golden"


@dataclass(frozen=True)
class Reported:
    """A migrated project and its report."""

    root: Path
    plan: Plan
    analysis: Analysis
    migration: MigrationReport
    html: Path


REGEN = os.environ.get("DBFOLD_REGEN") == "1"


def prepare(root: Path) -> tuple[Plan, Analysis]:
    """Analyze and design ``root`` as the commands do (files saved under ``.dbfold/``)."""
    analysis = analyze(root)
    save_analysis(analysis, root)
    plan = probe_sources(design(analysis), analysis, root)
    write_atomic(plan_path(root), plan.to_json() + b"\n")
    return plan, analysis


def migrate_saved(root: Path, plan: Plan, analysis: Analysis) -> MigrationReport:
    """``migrate --execute`` with its report kept in ``.dbfold/reports/``."""
    return save_report(migrate(plan, analysis, root, execute=True), root)


def build_wide_project(root: Path, stores: int = 6, per_store: int = 10) -> int:
    """SQLite stores of ``per_store`` tables each (a foreign-key chain per store) plus one
    ``audit_log`` of the same shape in every store (merged into one table): with the
    defaults 61 unified tables. Returns the number of unified tables expected."""
    (root / "data").mkdir(parents=True, exist_ok=True)
    for s in range(stores):
        with closing(sqlite3.connect(root / "data" / f"store{s}.db")) as con:
            for t in range(per_store):
                ref = f", parent_id INTEGER REFERENCES s{s}_entity{t - 1} (id)" if t % 2 else ""
                con.execute(
                    f"CREATE TABLE s{s}_entity{t} (id INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                    f" amount REAL, created_at TEXT{ref})"
                )
                rows = [
                    (i, f"n{s}-{t}-{i}", i * 1.5, "2024-01-01")
                    + ((max(1, i - 1),) if t % 2 else ())
                    for i in range(1, 6 + t)
                ]
                marks = ", ".join("?" * len(rows[0]))
                con.executemany(f"INSERT INTO s{s}_entity{t} VALUES ({marks})", rows)
            con.execute(
                "CREATE TABLE audit_log (id INTEGER PRIMARY KEY, action TEXT NOT NULL, at TEXT)"
            )
            con.executemany(
                "INSERT INTO audit_log VALUES (?, ?, ?)",
                [(i, f"act{i}", "2024-01-02") for i in range(1, 4 + s)],
            )
            con.commit()
    return stores * per_store + 1


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, dict[str, str]]] = []
        self.sections: list[list[str]] = []
        self.nodes: list[dict[str, str]] = []
        self.groups: list[dict[str, str]] = []
        self.edges: list[dict[str, str]] = []
        self.figures: dict[str, str] = {}
        self.lineage: list[dict[str, str]] = []
        self.checks: list[dict[str, str]] = []
        self.events: list[str] = []
        self.review: list[dict[str, str]] = []
        self.details: list[str] = []
        self.svgs: list[dict[str, str]] = []
        self.external: list[str] = []
        self.scripts = 0
        self.styles = 0
        self._h2 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        classes = a.get("class", "").split()
        for key in ("src", "href"):
            value = a.get(key, "")
            if value and not value.startswith(("#", "data:")):
                self.external.append(value)
        if tag == "link":
            self.external.append(a.get("href", "link"))
        if tag == "script":
            self.scripts += 1
        if tag == "style":
            self.styles += 1
        if tag == "section":
            self.sections.append([a.get("id", ""), ""])
        if tag == "h2" and self.sections:
            self._h2 = True
        if tag == "svg":
            self.svgs.append(a)
        if tag == "g" and "node" in classes:
            self.nodes.append({**a, "merged": str("merged" in classes)})
        if tag == "g" and "group" in classes:
            self.groups.append(a)
        if tag == "path" and "edge" in classes:
            self.edges.append({**a, "suggested": str("suggested" in classes)})
        if "data-figure" in a:
            self.figures[a["data-figure"]] = a.get("data-value", "")
        if tag == "tr" and "lineage" in classes:
            self.lineage.append({**a, "excluded": str("excluded" in classes)})
        if tag == "tr" and "check" in classes:
            self.checks.append(a)
        if tag == "li" and "event" in classes:
            self.events.append(a.get("data-kind", ""))
        if tag == "li" and "review-item" in classes:
            self.review.append(a)
        if tag == "details" and "table-detail" in classes:
            self.details.append(a.get("data-table", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "h2":
            self._h2 = False

    def handle_data(self, data: str) -> None:
        if self._h2 and self.sections:
            self.sections[-1][1] += data


def parse(html: str) -> _Parser:
    """The report parsed (everything the tests look at)."""
    parser = _Parser()
    parser.feed(html)
    parser.close()
    return parser


def structure(html: str) -> dict[str, Any]:
    """The report's structure, free of times, run ids and sizes."""
    p = parse(html)
    er = next((s for s in p.svgs if s.get("id") == "er"), {})
    groups: Counter[str] = Counter(n["data-group"] for n in p.nodes)
    review: Counter[str] = Counter(
        next(c for c in r["class"].split() if c != "review-item") for r in p.review
    )
    return {
        "sections": [[k, t.strip()] for k, t in p.sections],
        "self_contained": {"external": p.external, "scripts": p.scripts, "styles": p.styles},
        "diagram": {
            "tables": int(er.get("data-tables", "0")),
            "nodes": sorted(n["data-table"] for n in p.nodes),
            "merged": sorted(n["data-table"] for n in p.nodes if n["merged"] == "True"),
            "groups": [[g["data-store"], groups[g["data-store"]]] for g in p.groups],
            "edges": sorted(
                [e["data-from"], e["data-to"], e["suggested"] == "True"] for e in p.edges
            ),
        },
        "figures": sorted(p.figures),
        "lineage": sorted(
            [r["data-store"], r["data-table"], r["data-target"], r["excluded"] == "True"]
            for r in p.lineage
        ),
        "checks": sorted(
            [c["data-store"], c["data-table"], c["data-target"], c["data-status"]] for c in p.checks
        ),
        "timeline": p.events,
        "review": dict(sorted(review.items())),
        "review_paths": sorted(r["data-path"] for r in p.review),
        "tables": p.details,
    }


def _dump(value: Any, indent: str = "") -> str:
    """JSON with one line per list item or key, short values kept on their line."""
    flat = json.dumps(value, ensure_ascii=False)
    if len(flat) <= 96 - len(indent) or not isinstance(value, (list, dict)) or not value:
        return flat
    inner = indent + " "
    if isinstance(value, list):
        items = [inner + _dump(v, inner) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + indent + "]"
    items = [f"{inner}{json.dumps(k)}: {_dump(v, inner)}" for k, v in value.items()]
    return "{\n" + ",\n".join(items) + "\n" + indent + "}"


def compare_golden(name: str, actual: dict[str, Any]) -> None:
    """``actual`` equals ``golden/<name>.json`` (written when missing or DBFOLD_REGEN=1)."""
    path = GOLDEN / f"{name}.json"
    text = _dump(actual) + "\n"
    if REGEN or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    expected = json.loads(path.read_text(encoding="utf-8"))
    assert actual == expected, f"{path} differs; DBFOLD_REGEN=1 pytest tests/report updates it"
