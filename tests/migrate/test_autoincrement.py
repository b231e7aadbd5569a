"""AUTOINCREMENT survives the fold: a table that was not merged keeps it in unified.sql, the
migration carries the legacy ``sqlite_sequence`` mark over, and an insert through the adapter
after the cutover gets the key the legacy file would give (a deleted highest key is never
handed out again)."""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from dbfold.adapters import connect
from dbfold.design import check_plan, design, render_sql
from dbfold.errors import DesignError
from dbfold.migrate import migrate
from dbfold.model import Analysis
from dbfold.plan import Plan
from dbfold.scan import analyze
from dbfold.state import plan_path, save_analysis, write_atomic

LEGACY = "data/legacy.db"
SCHEMA = """
CREATE TABLE jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL);
CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT, tag TEXT DEFAULT 'autoincrement');
"""


def _project(root: Path) -> tuple[Plan, Analysis]:
    path = root / LEGACY
    path.parent.mkdir(parents=True)
    con = sqlite3.connect(path)
    con.executescript(SCHEMA)
    con.executemany("INSERT INTO jobs (name) VALUES (?)", [(f"job{i}",) for i in range(1, 6)])
    con.executemany("INSERT INTO notes (body) VALUES (?)", [(f"n{i}",) for i in range(1, 4)])
    con.execute("DELETE FROM jobs WHERE id = 5")  # the highest key: never to be reused
    con.execute("DELETE FROM notes WHERE id = 3")  # no AUTOINCREMENT: 3 comes back
    con.commit()
    con.close()
    analysis = analyze(root)
    save_analysis(analysis, root)
    plan = design(analysis)
    write_atomic(plan_path(root), plan.to_json() + b"\n")
    return plan, analysis


def _legacy_insert(path: Path, table: str, value: str) -> int | None:
    con = sqlite3.connect(path)
    try:
        cur = con.execute(f"INSERT INTO {table} ({_col(table)}) VALUES (?)", (value,))
        con.commit()
        return cur.lastrowid
    finally:
        con.close()


def _col(table: str) -> str:
    return "name" if table == "jobs" else "body"


def _adapter_insert(root: Path, plan: Plan, analysis: Analysis, table: str, value: str) -> int:
    con = connect(LEGACY, plan, target=root / plan.target, root=root, analysis=analysis)
    try:
        cur = con.execute(f"INSERT INTO {table} ({_col(table)}) VALUES (?)", (value,))
        con.commit()
        rowid = cur.lastrowid
        assert rowid is not None
        (key,) = con.execute(f"SELECT id FROM {table} WHERE {_col(table)} = ?", (value,)).fetchone()
        assert key == rowid
        return int(key)
    finally:
        con.close()


def test_design_keeps_autoincrement(tmp_path: Path) -> None:
    plan, analysis = _project(tmp_path)
    jobs, notes = plan.table("jobs"), plan.table("notes")
    assert jobs is not None and notes is not None
    assert jobs.autoincrement and not notes.autoincrement
    sql = render_sql(plan)
    assert sql.count("AUTOINCREMENT") == 1
    assert '"id" INTEGER PRIMARY KEY AUTOINCREMENT' in sql
    db = sqlite3.connect(":memory:")
    db.executescript(sql)
    names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert names == {"jobs", "notes", "sqlite_sequence"}
    assert Plan.from_json(plan.to_json()) == plan
    assert check_plan(plan.to_json(), analysis) == plan
    assert design(analysis, previous=plan) == plan
    # A plan written before the field existed still loads (and means: no AUTOINCREMENT).
    raw = plan.to_dict()
    for t in raw["tables"]:
        del t["autoincrement"]
    old = Plan.from_dict(raw)
    assert old == replace(plan, tables=tuple(replace(t, autoincrement=False) for t in plan.tables))
    # Postgres has no AUTOINCREMENT keyword; the preview leaves it out.
    assert "AUTOINCREMENT" not in render_sql(plan, dialect="postgres")


def test_check_plan_refuses_autoincrement_without_integer_key(tmp_path: Path) -> None:
    plan, analysis = _project(tmp_path)
    tables = tuple(
        replace(t, autoincrement=True, primary_key=("id", "body")) if t.name == "notes" else t
        for t in plan.tables
    )
    with pytest.raises(DesignError, match=r"\$\.tables\[\d\]\.autoincrement"):
        check_plan(replace(plan, tables=tables).to_json(), analysis)


def test_insert_after_migrate_gets_the_legacy_key(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    plan, analysis = _project(root)
    twin = tmp_path / "twin.db"
    shutil.copyfile(root / LEGACY, twin)
    report = migrate(plan, analysis, root, execute=True)
    assert report.verify is None or report.verify.ok
    target = root / plan.target
    con = sqlite3.connect(target)
    assert con.execute("SELECT seq FROM sqlite_sequence WHERE name = 'jobs'").fetchone() == (5,)
    con.close()
    for table, value in (("jobs", "new1"), ("notes", "new1"), ("jobs", "new2")):
        want = _legacy_insert(twin, table, value)
        assert _adapter_insert(root, plan, analysis, table, value) == want
    assert _legacy_insert(twin, "jobs", "x") == 8  # 5 was deleted, 6 and 7 were given


def test_incremental_rerun_carries_a_raised_mark(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    plan, analysis = _project(root)
    migrate(plan, analysis, root, execute=True)
    legacy = root / LEGACY
    # Unchanged rows, raised mark: a row added and deleted again after the first run.
    con = sqlite3.connect(legacy)
    con.execute("INSERT INTO jobs (name) VALUES ('gone')")  # id 6
    con.execute("DELETE FROM jobs WHERE id = 6")
    con.commit()
    con.close()
    migrate(plan, analysis, root, execute=True)
    target = sqlite3.connect(root / plan.target)
    assert target.execute("SELECT seq FROM sqlite_sequence WHERE name = 'jobs'").fetchone() == (6,)
    target.close()
    # Appended rows: the mark follows the source's, not only the highest copied key.
    con = sqlite3.connect(legacy)
    con.execute("INSERT INTO jobs (name) VALUES ('kept')")  # id 7
    con.execute("INSERT INTO jobs (name) VALUES ('dropped')")  # id 8
    con.execute("DELETE FROM jobs WHERE id = 8")
    con.commit()
    con.close()
    twin = tmp_path / "twin.db"
    shutil.copyfile(legacy, twin)
    report = migrate(plan, analysis, root, execute=True)
    jobs = next(r for r in report.sources if r.table == "jobs")
    assert jobs.status == "appended"
    want = _legacy_insert(twin, "jobs", "after")
    assert want == 9
    assert _adapter_insert(root, plan, analysis, "jobs", "after") == want
    # The mark never goes down: a rerun after the adapter's insert leaves it alone.
    migrate(plan, analysis, root, execute=True)
    target = sqlite3.connect(root / plan.target)
    assert target.execute("SELECT seq FROM sqlite_sequence WHERE name = 'jobs'").fetchone() == (9,)
    target.close()
