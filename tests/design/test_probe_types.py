"""probe_types: SQLite values that break their declared type are noted; sources only read."""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path

from click.testing import CliRunner
from test_probe import _db, _digest

from dbfold.cli import cli
from dbfold.design import design, probe_types
from dbfold.design.probe_types import exact_counts, type_counts
from dbfold.plan import Plan
from dbfold.quoting import quote
from dbfold.scan import analyze

TRACKER = """
CREATE TABLE action_log (id INTEGER PRIMARY KEY, action TEXT, cost REAL, n INTEGER);
INSERT INTO action_log VALUES (1, 'a', 1.5, 1), (2, 'b', 2.0, 2);
"""


def _column(plan: Plan, table: str, column: str) -> str | None:
    t = plan.table(table)
    assert t is not None
    (col,) = [c for c in t.columns if c.name == column]
    return col.note


def test_values_that_break_the_declared_type_are_noted(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    _db(
        root / "app.db",
        "CREATE TABLE users (id INTEGER PRIMARY KEY, age INTEGER, name TEXT, score REAL);"
        "INSERT INTO users VALUES (1, 30, 'a', 1.5), (2, 'unknown', 'b', 2),"
        " (3, 'n/a', x'00', NULL);"
        "CREATE TABLE strict_t (id INTEGER PRIMARY KEY, v ANY) STRICT;"
        "INSERT INTO strict_t VALUES (1, 'x'), (2, 3);",
        wal=True,
    )
    analysis = analyze(root)
    before = _digest(root)
    probed = probe_types(design(analysis), analysis, root)
    assert _digest(root) == before  # not a byte written, no -shm beside the source
    assert _column(probed, "users", "age") == (
        "values disagree with declared INTEGER: 2 text, 1 integer"
    )
    assert _column(probed, "users", "name") == (
        "values disagree with declared TEXT: 2 text, 1 blob"
    )
    assert _column(probed, "users", "score") is None  # 2 stored as 2.0 by REAL affinity
    strict = probed.table("strict_t")
    assert strict is not None and all(c.note is None for c in strict.columns)  # SQLite enforces
    assert [d.text for d in probed.decisions if d.subject == "users.age"] == [
        "kept as declared; values disagree with declared INTEGER: 2 text, 1 integer"
    ]
    assert probe_types(probed, analysis, root) == probed  # idempotent


def test_a_merged_column_names_the_source_whose_values_disagree(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    _db(root / "tracking.db", TRACKER)
    _db(root / "quality.db", TRACKER + "INSERT INTO action_log VALUES (3, 'c', 'free', 3);")
    analysis = analyze(root)
    plan = design(analysis)
    (merged,) = [t for t in plan.tables if len(t.sources) == 2]
    probed = probe_types(plan, analysis, root)
    assert _column(probed, merged.name, "cost") == (
        "values of quality.db:action_log.cost disagree with declared REAL: 2 real, 1 text"
    )
    assert _column(probed, merged.name, "n") is None


def test_an_unreadable_store_is_left_unprobed(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    _db(root / "app.db", "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER);"
        "INSERT INTO t VALUES (1, 'x');")  # fmt: skip
    analysis = analyze(root)
    plan = design(analysis)
    (root / "app.db").unlink()
    assert probe_types(plan, analysis, root) == plan


def test_design_cli_writes_the_note_and_no_probe_skips_it(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    _db(root / "app.db", "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER);"
        "INSERT INTO t VALUES (1, 'x'), (2, 2);")  # fmt: skip
    runner = CliRunner()
    assert runner.invoke(cli, ["analyze", str(root)]).exit_code == 0
    assert runner.invoke(cli, ["design", str(root)]).exit_code == 0
    plan = json.loads((root / ".dbfold" / "plan.json").read_text())
    (col,) = [c for c in plan["tables"][0]["columns"] if c["name"] == "n"]
    assert col["note"] == "values disagree with declared INTEGER: 1 integer, 1 text"
    assert "1 integer, 1 text" in (root / ".dbfold" / "REPORT.md").read_text()
    (root / ".dbfold" / "plan.json").unlink()
    assert runner.invoke(cli, ["design", str(root), "--no-probe"]).exit_code == 0
    plan = json.loads((root / ".dbfold" / "plan.json").read_text())
    (col,) = [c for c in plan["tables"][0]["columns"] if c["name"] == "n"]
    assert col.get("note") is None


def test_cheap_counts_match_typeof(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    con = sqlite3.connect(path)
    decl = ["INTEGER", "TEXT COLLATE NOCASE", "REAL", "NUMERIC", "", "INT NOT NULL", "VARCHAR(5)"]
    con.execute(f"CREATE TABLE t({', '.join(f'c{i} {d}' for i, d in enumerate(decl))})")
    rng = random.Random(1)
    clean = [[1, 2, None], ["a", None], [1.5, None, 2], [1, 2.5, None], [1, "x", b"\0", None],
             [3], ["s", None]]  # fmt: skip
    messy = [[1, 2.5, "x", b"\1", None], [b"\0", "a", 5], [2.5, "q", None], [1, "z"], [None, 1],
             [4, "t"], ["s", b"\2", 9]]  # fmt: skip
    for name, pools in (("clean", clean), ("messy", messy)):
        con.execute("DELETE FROM t")
        con.executemany(
            f"INSERT INTO t VALUES ({', '.join('?' * len(decl))})",
            [[rng.choice(p) for p in pools] for _ in range(300)],
        )
        cols = [(f"c{i}", d, "NOT NULL" in d) for i, d in enumerate(decl)]
        names = [c[0] for c in cols]
        assert type_counts(con, quote("t"), cols, 300) == exact_counts(
            con, quote("t"), names, 300
        ), name
    con.close()
