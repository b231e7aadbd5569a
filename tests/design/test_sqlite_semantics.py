"""SQLite's own quirks survive the fold (issue 11, item 6).

Two tables from pgloader's test data and a few more quirks: a double-quoted DEFAULT is a
string literal, a key declared ``integer auto_increment`` is no rowid alias (and may hold
NULL), affinity follows the declared type. Each source table is built with sqlite3, run
through analyze → design → migrate → verify, and compared with ``SELECT *`` of the target
(NULL keys included); defaults must give the same values when a row is inserted without
the column.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from dbfold.design import design
from dbfold.design.render_sql import create_table, default_sql, integer_key
from dbfold.migrate import migrate, verify
from dbfold.model import Analysis
from dbfold.plan import Plan, PlanTable
from dbfold.scan import analyze

STORE = "data/pgloader.db"
SCHEMA = """
CREATE TABLE def(id integer primary key autoincrement, f1 text default "", f2 text);
CREATE TABLE autoinc(id integer auto_increment primary key, ticket text);
CREATE TABLE quirks(
    id INTEGER PRIMARY KEY,
    q text DEFAULT 'it''s',
    n DEFAULT -1,
    b BLOB DEFAULT X'00ff',
    at TEXT DEFAULT (datetime('now')),
    w DEFAULT bare,
    dq DEFAULT "a""b",
    name TEXT COLLATE NOCASE
);
CREATE TABLE wr(k TEXT PRIMARY KEY, v INT) WITHOUT ROWID;
CREATE TABLE intkey(id INT PRIMARY KEY, v);
CREATE TABLE desckey(id INTEGER PRIMARY KEY DESC, v);
CREATE TABLE aff(id INTEGER PRIMARY KEY, j JSON, d DATETIME, c VARCHAR(10), x, r FLOATING POINT);
"""
ROWS = {
    "def": [(1, "a", "x"), (2, "", None), (5, None, "y")],
    "autoinc": [(None, "first"), (None, "second"), (7, "seven"), (None, None), ("x", "text")],
    "quirks": [(1, "q", 2, b"\x01", "2020-01-01", "w", "d", "Ann")],
    "wr": [("a", 1), ("b", None)],
    "intkey": [(None, "null key"), (None, "another"), (3, "three"), ("abc", "text key")],
    "desckey": [(None, "no key"), (10, "ten")],
    "aff": [(1, "5", "2020", 12, "7", "1"), (2, '{"a": 1}', 3.5, "txt", b"\x00", 2)],
}


def build(root: Path, name: str = STORE) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    con.executescript(SCHEMA)
    for table, rows in ROWS.items():
        marks = ", ".join("?" * len(rows[0]))
        con.executemany(f'INSERT INTO "{table}" VALUES ({marks})', rows)
    con.commit()
    con.close()
    return path


def pipeline(root: Path) -> tuple[Plan, Analysis]:
    analysis = analyze(root)
    return design(analysis), analysis


def rows(path: Path, table: str) -> list[tuple[object, ...]]:
    con = sqlite3.connect(path)
    try:
        cols = [r[1] for r in con.execute(f'SELECT * FROM pragma_table_info("{table}")')]
        typed = ", ".join(f'"{c}", typeof("{c}")' for c in cols)
        return sorted(con.execute(f'SELECT {typed} FROM "{table}"').fetchall(), key=repr)
    finally:
        con.close()


def table(plan: Plan, name: str) -> PlanTable:
    t = next((t for t in plan.tables if t.name == name), None)
    assert t is not None, [t.name for t in plan.tables]
    return t


@pytest.mark.parametrize(
    "expr",
    [
        '""',
        '"a""b"',
        "bare",
        "[x y]",
        "`q`",
        "'it''s'",
        "-1",
        "+1",
        "1.5e3",
        "-0x10",
        "X'00ff'",
        "NULL",
        "true",
        "CURRENT_TIMESTAMP",
        "(datetime('now'))",
        "(1 + 2)",
    ],
)
def test_defaults_are_carried_as_sqlite_evaluates_them(expr: str) -> None:
    con = sqlite3.connect(":memory:")
    con.execute(f"CREATE TABLE src(id, x DEFAULT {expr})")
    ((dflt,),) = con.execute("SELECT dflt_value FROM pragma_table_info('src') WHERE name = 'x'")
    con.execute(f"CREATE TABLE dst(id, x DEFAULT {default_sql(dflt)})")
    con.execute("INSERT INTO src(id) VALUES (1)")
    con.execute("INSERT INTO dst(id) VALUES (1)")
    want = con.execute("SELECT typeof(x), x FROM src").fetchone()
    got = con.execute("SELECT typeof(x), x FROM dst").fetchone()
    if "now" in expr or "CURRENT" in expr:
        assert got[0] == want[0]
    else:
        assert got == want


def test_double_quoted_default_becomes_a_string_literal(tmp_path: Path) -> None:
    build(tmp_path)
    plan, _ = pipeline(tmp_path)
    f1 = table(plan, "def").column("f1")
    assert f1 is not None and f1.default == "''"
    dq = table(plan, "quirks").column("dq")
    assert dq is not None and dq.default == "'a\"b'"
    con = sqlite3.connect(":memory:")
    for t in plan.tables:
        con.execute(create_table(t))  # every table of the plan can be created


def test_rowid_alias_only_where_sqlite_makes_one(tmp_path: Path) -> None:
    build(tmp_path)
    plan, _ = pipeline(tmp_path)
    assert integer_key(table(plan, "def")) is not None
    assert table(plan, "def").autoincrement
    for name in ("autoinc", "intkey", "desckey"):
        t = table(plan, name)
        key = t.column("id")
        assert key is not None and key.primary_key
        assert key.nullable, f"{name}.id: SQLite allows NULL in a non-alias rowid-table key"
        assert integer_key(t) is None, name
    k = table(plan, "wr").column("k")
    assert k is not None and not k.nullable  # WITHOUT ROWID enforces NOT NULL on its key


def test_every_row_arrives_exactly(tmp_path: Path) -> None:
    src = build(tmp_path)
    plan, analysis = pipeline(tmp_path)
    report = migrate(plan, analysis, tmp_path, execute=True)
    assert report.verify is not None and report.verify.ok, report.problems
    target = tmp_path / plan.target
    assert target.exists()
    for name in ROWS:
        assert rows(target, name) == rows(src, name), name
    check = verify(plan, tmp_path, target, analysis=analysis)
    assert check.ok


def test_defaults_behave_the_same_in_the_target(tmp_path: Path) -> None:
    src = build(tmp_path)
    plan, analysis = pipeline(tmp_path)
    migrate(plan, analysis, tmp_path, execute=True)
    target = tmp_path / plan.target
    inserts = {
        "def": "INSERT INTO def(id) VALUES (100)",
        "quirks": "INSERT INTO quirks(id) VALUES (100)",
    }
    for path in (src, target):
        con = sqlite3.connect(path)
        for sql in inserts.values():
            con.execute(sql)
        con.commit()
        con.close()
    for name in inserts:
        want = [r for r in rows(src, name) if r[0] == 100]
        got = [r for r in rows(target, name) if r[0] == 100]
        assert len(got) == 1
        if name == "quirks":  # datetime('now') may tick between the two inserts
            want = [tuple(v for i, v in enumerate(want[0]) if i != 8)]
            got = [tuple(v for i, v in enumerate(got[0]) if i != 8)]
        assert got == want, name
