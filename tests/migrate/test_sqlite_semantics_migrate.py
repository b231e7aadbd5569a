"""One table that cannot be copied faithfully does not sink the rest (issue 11, item 6).

The dry run names the table and the fix; the executed run leaves it out, says which table,
why and what to do, and migrates every other table and store.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

from dbfold.design import design
from dbfold.migrate import migrate
from dbfold.model import Analysis
from dbfold.plan import Plan, PlanTable
from dbfold.scan import analyze

LEGACY = "data/pgloader.db"
OTHER = "data/other.db"


def _project(root: Path) -> tuple[Plan, Analysis]:
    (root / "data").mkdir(parents=True)
    con = sqlite3.connect(root / LEGACY)
    con.executescript(
        """
        CREATE TABLE def(id integer primary key autoincrement, f1 text default "", f2 text);
        CREATE TABLE autoinc(id integer auto_increment primary key, ticket text);
        INSERT INTO def(f2) VALUES ('a'), ('b');
        INSERT INTO autoinc VALUES (NULL, 'first'), (NULL, 'second'), (7, 'seven');
        """
    )
    con.commit()
    con.close()
    con = sqlite3.connect(root / OTHER)
    con.executescript(
        "CREATE TABLE good(id INTEGER PRIMARY KEY, v TEXT);"
        "INSERT INTO good(v) VALUES ('x'), ('y'), (NULL);"
    )
    con.commit()
    con.close()
    analysis = analyze(root)
    return design(analysis), analysis


def _edit(plan: Plan, name: str, column: str, **changes: object) -> Plan:
    tables: list[PlanTable] = []
    for t in plan.tables:
        if t.name == name:
            cols = tuple(replace(c, **changes) if c.name == column else c for c in t.columns)  # type: ignore[arg-type]
            t = replace(t, columns=cols)
        tables.append(t)
    return replace(plan, tables=tuple(tables))


def _rows(path: Path, table: str) -> list[tuple[object, ...]]:
    con = sqlite3.connect(path)
    try:
        return sorted(con.execute(f'SELECT * FROM "{table}"').fetchall(), key=repr)
    finally:
        con.close()


def _texts(report: object) -> str:
    problems = getattr(report, "problems", ())
    return "\n".join(p.message for p in problems)


def test_fresh_design_migrates_both_pgloader_tables(tmp_path: Path) -> None:
    plan, analysis = _project(tmp_path)
    report = migrate(plan, analysis, tmp_path, execute=True)
    assert report.verify is not None and report.verify.ok, _texts(report)
    target = tmp_path / plan.target
    for table in ("def", "autoinc"):
        assert _rows(target, table) == _rows(tmp_path / LEGACY, table)
    assert _rows(target, "good") == _rows(tmp_path / OTHER, "good")


def test_a_rowid_key_that_would_renumber_nulls_is_refused_alone(tmp_path: Path) -> None:
    plan, analysis = _project(tmp_path)
    # A plan made before the key was read right (or a hand edit): the key as the rowid.
    plan = _edit(plan, "autoinc", "id", declared="INTEGER", nullable=False)
    dry = migrate(plan, analysis, tmp_path)
    (autoinc,) = [t for t in dry.tables if t.name == "autoinc"]
    said = " ".join(autoinc.problems)
    assert "autoinc" in said and "renumber" in said and "plan.json" in said, said
    report = migrate(plan, analysis, tmp_path, execute=True)
    target = tmp_path / plan.target
    assert target.exists(), _texts(report)  # the build was put in place
    assert _rows(target, "good") == _rows(tmp_path / OTHER, "good")
    assert _rows(target, "def") == _rows(tmp_path / LEGACY, "def")
    assert _rows(target, "autoinc") == []  # nothing half-copied
    text = _texts(report)
    assert "autoinc" in text and "not migrated" in text and "plan.json" in text, text
    assert "NULL" in text


def test_a_table_sqlite_cannot_create_is_refused_alone(tmp_path: Path) -> None:
    plan, analysis = _project(tmp_path)
    plan = _edit(plan, "def", "f1", default="(f2)")  # a default that names a column
    dry = migrate(plan, analysis, tmp_path)
    (def_,) = [t for t in dry.tables if t.name == "def"]
    said = " ".join(def_.problems)
    assert "cannot be created" in said and "not constant" in said, said
    report = migrate(plan, analysis, tmp_path, execute=True)
    target = tmp_path / plan.target
    assert target.exists(), _texts(report)
    assert _rows(target, "good") == _rows(tmp_path / OTHER, "good")
    assert _rows(target, "autoinc") == _rows(tmp_path / LEGACY, "autoinc")
    text = _texts(report)
    assert "def" in text and "cannot be created" in text and "plan.json" in text, text
