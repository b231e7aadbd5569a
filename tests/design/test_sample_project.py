"""Golden case of the sample project: build → analyze → design, compared with tests/cases.

The analysis itself is not kept: it holds the absolute root and byte sizes that depend on
SQLite's page layout and WAL frames. The plan and ``unified.sql`` depend on neither (the test
checks that the root does not leak into them), so they are compared byte for byte.
Regenerate with ``DBFOLD_REGEN=1 pytest tests/design``.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from design_sample import Sample

from dbfold.design import check_plan, design, render_report, render_sql
from dbfold.plan import Plan, PlanTable

CASE = Path(__file__).resolve().parents[1] / "cases" / "sample_project"
REGEN = os.environ.get("DBFOLD_REGEN") == "1"


def _compare(path: Path, actual: str) -> None:
    if REGEN or not path.exists():
        path.write_text(actual, encoding="utf-8")
    assert actual == path.read_text(encoding="utf-8"), f"{path} differs; DBFOLD_REGEN=1 updates it"


def _plan_text(plan: Plan, root: Path) -> str:
    text = plan.to_json().decode() + "\n"
    # Nothing of the plan may depend on where the project was built.
    return text.replace(str(root), "<root>").replace(root.as_posix(), "<root>")


def _table(plan: Plan, name: str) -> PlanTable:
    table = plan.table(name)
    assert table is not None, f"no table {name!r} in {[t.name for t in plan.tables]}"
    return table


def _home(plan: Plan, store: str, table: str) -> PlanTable:
    return next(
        t
        for t in plan.tables
        for s in t.sources
        if (s.store, s.table, s.array) == (store, table, None)
    )


def test_sample_project_golden(sample: Sample) -> None:
    plan = design(sample.analysis)
    text = _plan_text(plan, sample.root)
    assert "<root>" not in text
    _compare(CASE / "plan.json", text)
    sql = render_sql(plan)
    _compare(CASE / "unified.sql", sql)
    # The plan is stable: checking it, round-tripping it and re-designing over it change nothing.
    assert check_plan(plan.to_json(), sample.analysis) == plan
    assert Plan.from_json(plan.to_json()) == plan
    assert design(sample.analysis, previous=plan) == plan
    assert "```mermaid" in render_report(plan, sample.analysis)


def test_sample_project_key_facts(sample: Sample) -> None:
    plan = design(sample.analysis)
    # The two action_log tables are one, marked by a `source` column.
    action_log = _table(plan, "action_log")
    assert {(s.store, s.discriminator, s.value) for s in action_log.sources} == {
        ("data/quality.db", "source", "quality"),
        ("data/tracking.db", "source", "tracking"),
    }
    assert action_log.primary_key == ("source", "id")
    # events of tracking.db and metrics.db (different shapes) get distinct names, as do the
    # other record sets named after their files.
    named = {
        store: _home(plan, store, table).name
        for store, table in [
            ("data/tracking.db", "events"),
            ("data/metrics.db", "events"),
            ("logs/events.jsonl", "events"),
            ("data/costs.db", "costs"),
            ("exports/costs.csv", "costs"),
        ]
    }
    assert named == {
        "data/tracking.db": "tracking_events",
        "data/metrics.db": "metrics_events",
        "logs/events.jsonl": "logs_events",
        "data/costs.db": "data_costs",
        "exports/costs.csv": "exports_costs",
    }
    names = [t.name.casefold() for t in plan.tables]
    assert len(names) == len(set(names))
    # JSON is typed: nested objects flatten into `__` columns, the array of sections becomes
    # a child table keyed to its article, the id → record map keeps its id as the key.
    articles = _table(plan, "articles")
    assert {"author__id", "stats__views", "seo__score"} <= {c.name for c in articles.columns}
    assert _table(plan, "articles").column("created_at").type == "timestamp"  # type: ignore[union-attr]
    sections = _table(plan, "articles__sections")
    (src,) = sections.sources
    assert (src.store, src.array, src.parent_column) == (
        "data/articles.json",
        "sections",
        "parent_id",
    )
    assert [(fk.columns, fk.ref_table) for fk in sections.foreign_keys] == [
        (("parent_id",), "articles")
    ]
    users = _table(plan, "users")
    assert users.primary_key == ("id",)
    assert users.sources[0].columns["id"] == "id"
    assert users.column("settings__digest").type == "boolean"  # type: ignore[union-attr]
    # Every source table has a home (the sample has nothing to exclude).
    homes = {(s.store, s.table) for t in plan.tables for s in t.sources}
    for store in sample.analysis.stores:
        for table in store.tables:
            assert (store.path, table.name) in homes
    # The SQL builds the schema on an empty database.
    db = sqlite3.connect(":memory:")
    db.executescript(render_sql(plan))
    made = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert made == {t.name for t in plan.tables}
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []


def test_sample_analysis_is_deterministic(sample: Sample, tmp_path: Path) -> None:
    """A second build gives the same plan, so the golden files are not flaky."""
    from dbfold.demo import build_sample_project
    from dbfold.scan import analyze

    build_sample_project(tmp_path, scale=0.01, seed=7)
    again = design(analyze(tmp_path))
    assert _plan_text(again, tmp_path) == _plan_text(design(sample.analysis), sample.root)
