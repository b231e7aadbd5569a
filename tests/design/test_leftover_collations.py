"""Collations are carried (issue 11 leftovers, item 1).

A SQLite column declared ``COLLATE NOCASE`` (or ``RTRIM``) compares differently from a plain
one: legacy ``WHERE name = 'ABC'`` matches ``'abc'``. The unified table must compare the same,
so the collation travels analyze → plan.json → unified.sql → target, and an index declared with
its own collation keeps it. A collation that only the legacy program registers
(``create_collation``) cannot be created by dbfold: design says so, with what to do, and the
migration runs.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import orjson
import pytest

from cli_support import run
from dbfold.design import check_plan, design, render_sql
from dbfold.errors import DesignError
from dbfold.plan import Plan, PlanColumn, PlanTable
from dbfold.scan import analyze

PEOPLE = """
CREATE TABLE people (
  id INTEGER PRIMARY KEY,
  name TEXT COLLATE NOCASE NOT NULL,
  code TEXT COLLATE RTRIM,
  tag TEXT COLLATE BINARY,
  nick TEXT
);
CREATE INDEX ix_people_nick ON people(nick COLLATE NOCASE);
CREATE UNIQUE INDEX ux_people_code ON people(code, tag COLLATE NOCASE);
INSERT INTO people VALUES (1, 'abc', 'x  ', 'T', 'Bo'), (2, 'ABD', 'y', 't', 'bo'),
                          (3, 'Abc', 'x', 'q', NULL);
"""

#: Queries whose answer depends on the collations; each must answer the same on both sides.
QUERIES = [
    "SELECT id FROM people WHERE name = 'ABC' ORDER BY id",
    "SELECT id FROM people WHERE code = 'x' ORDER BY id",
    "SELECT id FROM people WHERE tag = 't' ORDER BY id",
    "SELECT id FROM people WHERE nick = 'BO' ORDER BY id",
    "SELECT id FROM people ORDER BY name, id",
    "SELECT DISTINCT name FROM people ORDER BY 1",
    "SELECT count(*) FROM people GROUP BY name ORDER BY 1",
    "SELECT name FROM people WHERE name IN ('abd') ORDER BY 1",
]


def _reverse(a: str, b: str) -> int:
    return (a[::-1] > b[::-1]) - (a[::-1] < b[::-1])


def _build(root: Path, *, custom: bool = False) -> Path:
    (root / "data").mkdir(parents=True, exist_ok=True)
    path = root / "data" / "people.db"
    with closing(sqlite3.connect(path)) as con:
        con.executescript(PEOPLE)
        if custom:
            # A collation the legacy program registers on its own connection.
            con.create_collation("reverse", _reverse)
            con.execute("CREATE TABLE words (id INTEGER PRIMARY KEY, w TEXT COLLATE reverse)")
            con.execute("INSERT INTO words VALUES (1, 'ab'), (2, 'ba')")
        con.commit()
    return path


def _answers(path: Path) -> list[list[tuple[Any, ...]]]:
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as con:
        return [con.execute(q).fetchall() for q in QUERIES]


def _ok(done: Any) -> None:
    assert done.returncode == 0, done.stdout + done.stderr


def test_collations_survive_analyze_design_migrate(tmp_path: Path) -> None:
    src = _build(tmp_path)
    _ok(run(tmp_path, "analyze"))
    _ok(run(tmp_path, "design"))
    raw = orjson.loads((tmp_path / ".dbfold" / "plan.json").read_bytes())
    (people,) = raw["tables"]
    colls = {c["name"]: c.get("collation") for c in people["columns"]}
    assert colls == {"id": None, "name": "NOCASE", "code": "RTRIM", "tag": None, "nick": None}
    sql = (tmp_path / "unified.sql").read_text(encoding="utf-8")
    assert '"name" TEXT COLLATE NOCASE NOT NULL' in sql
    assert '("nick" COLLATE NOCASE)' in sql
    _ok(run(tmp_path, "design", "--check"))
    _ok(run(tmp_path, "migrate", "--execute"))
    target = tmp_path / "data" / "unified.db"
    assert _answers(target) == _answers(src)
    _ok(run(tmp_path, "verify"))
    # unified.sql (and project_db.py) build the unique index as the source's: tags compare
    # case-insensitively there.
    with closing(sqlite3.connect(":memory:")) as con:
        con.executescript(sql)
        con.execute("INSERT INTO people (id, name, code, tag) VALUES (1, 'a', 'y', 't')")
        with pytest.raises(sqlite3.IntegrityError):
            con.execute("INSERT INTO people (id, name, code, tag) VALUES (9, 'z', 'y', 'T')")


def test_migrated_unique_index_compares_as_the_source(tmp_path: Path) -> None:
    src = _build(tmp_path)
    _ok(run(tmp_path, "analyze"))
    _ok(run(tmp_path, "design"))
    _ok(run(tmp_path, "migrate", "--execute"))
    insert = "INSERT INTO people (id, name, code, tag) VALUES (9, 'z', 'y', 'T')"
    with closing(sqlite3.connect(src)) as legacy, pytest.raises(sqlite3.IntegrityError):
        legacy.execute(insert)
    target = tmp_path / "data" / "unified.db"
    with closing(sqlite3.connect(target)) as con, pytest.raises(sqlite3.IntegrityError):
        con.execute(insert)


def test_old_plan_without_collations_still_loads(tmp_path: Path) -> None:
    _build(tmp_path)
    analysis = analyze(tmp_path)
    plan = design(analysis)
    raw = orjson.loads(plan.to_json())
    for t in raw["tables"]:
        for c in t["columns"]:
            c.pop("collation", None)
        for ix in t["indexes"]:
            ix.pop("collations", None)
    old = check_plan(orjson.dumps(raw), analysis)
    assert all(c.collation is None for t in old.tables for c in t.columns)
    # A plan with no collation anywhere is written exactly as before (no new keys).
    assert b"collation" not in Plan(tables=(PlanTable("t", (PlanColumn("a", "text"),)),)).to_json()


def test_custom_collation_is_a_warning_not_a_crash(tmp_path: Path) -> None:
    _build(tmp_path, custom=True)
    _ok(run(tmp_path, "analyze"))
    done = run(tmp_path, "design")
    _ok(done)
    out = " ".join(done.stdout.split())
    assert "reverse" in out and "create_collation" in out, done.stdout
    raw = orjson.loads((tmp_path / ".dbfold" / "plan.json").read_bytes())
    words = next(t for t in raw["tables"] if t["name"] == "words")
    w = next(c for c in words["columns"] if c["name"] == "w")
    assert w.get("collation") is None and "reverse" in w["note"]
    report = (tmp_path / ".dbfold" / "REPORT.md").read_text(encoding="utf-8")
    assert "reverse" in report
    _ok(run(tmp_path, "migrate"))  # the dry run: the plan's DDL is valid, nothing refused
    _ok(run(tmp_path, "design", "--check"))


def test_custom_collation_store_migrates(tmp_path: Path) -> None:
    src = _build(tmp_path, custom=True)
    _ok(run(tmp_path, "analyze"))
    _ok(run(tmp_path, "design"))
    _ok(run(tmp_path, "migrate", "--execute"))
    target = tmp_path / "data" / "unified.db"
    assert _answers(target) == _answers(src)
    with closing(sqlite3.connect(target)) as con:
        assert con.execute("SELECT w FROM words ORDER BY id").fetchall() == [("ab",), ("ba",)]


def test_check_refuses_a_collation_sqlite_does_not_know(tmp_path: Path) -> None:
    _build(tmp_path)
    analysis = analyze(tmp_path)
    plan = design(analysis)
    raw = orjson.loads(plan.to_json())
    raw["tables"][0]["columns"][4]["collation"] = "reverse"
    with pytest.raises(DesignError, match=r"\$\.tables\[0\]\.columns\[4\]\.collation: .*reverse"):
        check_plan(orjson.dumps(raw), analysis)
    raw["tables"][0]["columns"][4]["collation"] = "nocase"
    checked = check_plan(orjson.dumps(raw), analysis)
    with closing(sqlite3.connect(":memory:")) as con:
        con.executescript(render_sql(checked))
        con.execute("INSERT INTO people (id, name, nick) VALUES (1, 'a', 'Q')")
        assert con.execute("SELECT id FROM people WHERE nick = 'q'").fetchall() == [(1,)]
