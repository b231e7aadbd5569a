"""``design --check`` applies an accepted merge suggestion (issue 11 leftovers, item 2).

Before, ``--check`` accepted ``"accepted": true`` on a merge suggestion but left the tables
apart until the next ``dbfold design``, so a migration in between copied them unmerged. Now
the check merges them, as it carries other hand edits: plan.json is written back, each change
is printed, and the user's other edits of the same session stay.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import orjson

from cli_support import run

USERS = """
CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, created_at TEXT, score REAL);
CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id), total REAL);
CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);
CREATE VIEW rich AS SELECT name FROM users WHERE score > 1;
INSERT INTO users VALUES (1, 'ann', '2024', 2.5), (2, 'bob', '2024', 0.5);
INSERT INTO orders VALUES (1, 1, 9.5);
INSERT INTO notes VALUES (1, 'n');
"""
MEMBERS = """
CREATE TABLE members (id INTEGER PRIMARY KEY, name TEXT NOT NULL, created_at TEXT, score REAL);
INSERT INTO members VALUES (1, 'cy', '2023', 1.0);
"""


def _ok(done: Any) -> None:
    assert done.returncode == 0, done.stdout + done.stderr


def _plan(root: Path) -> dict[str, Any]:
    return dict(orjson.loads((root / ".dbfold" / "plan.json").read_bytes()))


def _save(root: Path, raw: dict[str, Any]) -> None:
    (root / ".dbfold" / "plan.json").write_bytes(orjson.dumps(raw, option=orjson.OPT_INDENT_2))


def _project(root: Path) -> Path:
    (root / "data").mkdir(parents=True)
    for name, script in (("a", USERS), ("b", MEMBERS)):
        with closing(sqlite3.connect(root / "data" / f"{name}.db")) as con:
            con.executescript(script)
            con.commit()
    _ok(run(root, "analyze"))
    _ok(run(root, "design"))
    return root


def _tables(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["name"]: t for t in raw["tables"]}


def test_check_applies_an_accepted_merge(tmp_path: Path) -> None:
    root = _project(tmp_path / "p")
    raw = _plan(root)
    (k, merge) = next((k, s) for k, s in enumerate(raw["suggestions"]) if s["kind"] == "merge")
    assert (merge["table"], merge["ref_table"]) == ("users", "members")
    merge["accepted"] = True
    # Other edits of the same session: a type, and a rename of the table merged into.
    notes = _tables(raw)["notes"]
    notes["columns"][1]["type"] = "json"
    _tables(raw)["users"]["name"] = "people"
    _save(root, raw)

    done = run(root, "design", "--check")
    _ok(done)
    out = done.stdout
    assert f"$.suggestions[{k}]: merge applied" in out, out
    assert "'people'" in out and "'members'" in out, out
    assert "foreign_keys[0]: dropped" in out, out  # orders.user_id cannot point at one store
    assert "$.views[0]: moved to excluded" in out, out  # it would show every store's rows
    fixed = _plan(root)
    tables = _tables(fixed)
    assert "members" not in tables
    people = tables["people"]
    assert {(s["store"], s["table"]) for s in people["sources"]} == {
        ("data/a.db", "users"),
        ("data/b.db", "members"),
    }
    assert people["primary_key"] == ["source", "id"]
    assert tables["notes"]["columns"][1]["type"] == "json"  # the other edit stays
    assert tables["orders"]["foreign_keys"] == []
    (s,) = [s for s in fixed["suggestions"] if s["kind"] == "merge"]
    assert s["accepted"] and (s["table"], s["ref_table"]) == ("people", "people")
    sql = (root / "unified.sql").read_text(encoding="utf-8")
    assert 'CREATE TABLE "members"' not in sql and 'CREATE TABLE "people"' in sql

    again = run(root, "design", "--check")
    assert again.returncode == 0 and "fixed" not in again.stdout, again.stdout
    # The next `dbfold design` agrees with what --check made.
    _ok(run(root, "design", "--no-probe"))
    redesigned = _tables(_plan(root))
    assert redesigned["people"]["sources"] == people["sources"]
    assert sorted(redesigned) == sorted(tables)

    _ok(run(root, "migrate", "--execute"))
    _ok(run(root, "verify"))
    with closing(sqlite3.connect(root / "data" / "unified.db")) as con:
        counts = dict(con.execute('SELECT source, count(*) FROM "people" GROUP BY source'))
    assert counts == {"a": 2, "b": 1}


def test_check_without_accepted_merges_changes_nothing(tmp_path: Path) -> None:
    root = _project(tmp_path / "p")
    before = (root / ".dbfold" / "plan.json").read_bytes()
    done = run(root, "design", "--check")
    _ok(done)
    assert "fixed" not in done.stdout
    assert (root / ".dbfold" / "plan.json").read_bytes() == before
