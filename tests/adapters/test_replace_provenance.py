"""A row that REPLACE deletes through a UNIQUE constraint (not the key) is recorded as
deleted, so verify leaves it out and an incremental migrate does not bring it back."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from adapters_support import build_stores

from dbfold.adapters import LegacyConnection, connect
from dbfold.design import design
from dbfold.migrate import migrate, verify
from dbfold.model import Analysis
from dbfold.plan import Plan
from dbfold.provenance import LOG_TABLE, read_writes
from dbfold.scan import analyze
from dbfold.state import plan_path, save_analysis, write_atomic

CLICKS = "trackers/clicks.db"


@pytest.fixture
def migrated(tmp_path: Path) -> tuple[Path, Plan, Analysis]:
    """The adapter test stores, migrated (``users`` is merged, UNIQUE (source, email))."""
    root = tmp_path / "p"
    build_stores(root)
    analysis = analyze(root)
    save_analysis(analysis, root)
    plan = design(analysis)
    write_atomic(plan_path(root), plan.to_json() + b"\n")
    report = migrate(plan, analysis, root, execute=True)
    assert report.verify is not None and report.verify.ok
    return root, plan, analysis


def _open(root: Path, plan: Plan, analysis: Analysis) -> LegacyConnection:
    return connect(CLICKS, plan, root=root, analysis=analysis)


def _log(root: Path, plan: Plan) -> list[tuple[str, str, str, str]]:
    with sqlite3.connect(root / plan.target) as db:
        return db.execute(
            f'SELECT target_table, source, key, op FROM "{LOG_TABLE}" ORDER BY rowid'
        ).fetchall()


def _deleted(root: Path, plan: Plan) -> set[int]:
    with sqlite3.connect(root / plan.target) as db:
        written = read_writes(db)
    return {
        key[0]
        for (table, _), keys in written.items()
        if table == "users"
        for key, op in keys.items()
        if op == "delete"
    }


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT OR REPLACE INTO users (id, email, score) VALUES (100, 'clicks1@x', 9)",
        "REPLACE INTO users (id, email, score) VALUES (100, 'clicks1@x', 9)",
    ],
)
def test_replaced_row_is_not_resurrected(migrated: tuple[Path, Plan, Analysis], sql: str) -> None:
    root, plan, analysis = migrated
    con = _open(root, plan, analysis)
    try:
        assert con.execute(sql).rowcount == 1
        con.commit()
        # User 1 held clicks1@x: REPLACE deleted it to insert user 100.
        assert con.execute("SELECT id FROM users WHERE email = 'clicks1@x'").fetchall() == [(100,)]
        assert _deleted(root, plan) == {1}
        assert ("users", "clicks", "[100]", "insert") in _log(root, plan)
        # verify leaves the replaced row out (it is still in the legacy file).
        report = verify(plan, root, root / plan.target, analysis=analysis)
        assert report.ok, report.mismatches
        # The new row moves away, so nothing would stop a copy of user 1 any more...
        con.execute("UPDATE users SET email = 'moved@x' WHERE id = 100")
        con.commit()
    finally:
        con.close()
    # ... and the legacy file changes so that the next migrate copies the table again.
    legacy = sqlite3.connect(root / CLICKS)
    legacy.execute("DELETE FROM users WHERE id = 6")
    legacy.commit()
    legacy.close()
    again = migrate(plan, analysis, root, execute=True)
    statuses = {(s.store, s.table): s.status for s in again.sources}
    assert statuses[(CLICKS, "users")] == "recopied"
    assert again.verify is not None and again.verify.ok, again.verify.mismatches
    con = _open(root, plan, analysis)
    try:
        rows = con.execute("SELECT id, email FROM users ORDER BY id").fetchall()
    finally:
        con.close()
    assert rows == [
        (2, "clicks2@x"),
        (3, "clicks3@x"),
        (4, "clicks4@x"),
        (5, "clicks5@x"),
        (100, "moved@x"),
    ]


def test_only_rows_a_replace_deleted_are_recorded(migrated: tuple[Path, Plan, Analysis]) -> None:
    root, plan, analysis = migrated
    con = _open(root, plan, analysis)
    try:
        # Ignored, failed or same-key writes delete nothing.
        assert con.execute("INSERT OR IGNORE INTO users VALUES (101, 'clicks2@x', 0)").rowcount == 0
        with pytest.raises(sqlite3.IntegrityError):
            con.execute("INSERT INTO users VALUES (102, 'clicks2@x', 0)")
        con.execute("INSERT OR REPLACE INTO users VALUES (3, 'clicks3@x', 7)")  # its own key
        con.execute(
            "INSERT INTO users VALUES (4, 'x@x', 0) ON CONFLICT (id) DO UPDATE SET score = 5"
        )
        con.commit()
        assert _deleted(root, plan) == set()
        # A REPLACE that clashes on the key and on the UNIQUE email deletes both rows; the
        # key's row comes back as the new row, the other one is recorded.
        con.execute("INSERT OR REPLACE INTO users VALUES (2, 'clicks5@x', 1)")
        # An UPDATE OR REPLACE (run untranslated: the rewriter does not take that form), on
        # a plain cursor: sqlite3.Connection.execute(con, ...) would not do, since on Python
        # 3.10 it makes its cursor through con.cursor(), a translating LegacyCursor.
        sqlite3.Cursor(con).execute(
            "UPDATE OR REPLACE users SET email = 'clicks6@x' WHERE source = ? AND id = 4",
            ("clicks",),
        )
        con.commit()
        assert _deleted(root, plan) == {5, 6}
        ids = [r[0] for r in con.execute("SELECT id FROM users ORDER BY id")]
        assert ids == [1, 2, 3, 4]
        # The notes of ignored inserts never turn into records.
        con.execute("INSERT OR IGNORE INTO users VALUES (103, 'clicks1@x', 0)")
        con.execute("INSERT INTO users VALUES (104, 'fresh@x', 0)")
        con.commit()
        assert _deleted(root, plan) == {5, 6}
        # The rows of the other store in the merged table are never touched or recorded.
        assert all(s == "clicks" for _t, s, _k, _op in _log(root, plan))
        keys = {json.loads(k)[0] for t, _s, k, _op in _log(root, plan) if t == "users"}
        assert {5, 6, 2, 3, 4, 104} <= keys
    finally:
        con.close()
    report = verify(plan, root, root / plan.target, analysis=analysis)
    assert report.ok, report.mismatches
