"""Gradual migration: rows written through adapters after the cutover (issue 6, point 4).

verify leaves adapter-written keys out of both sides and reports them apart; anything else
that differs is still a mismatch; an incremental migrate folds new rows of unrouted stores
in without touching what the adapters wrote.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from dbfold.adapters import connect, run_legacy
from dbfold.migrate import migrate, verify
from dbfold.model import Analysis
from dbfold.plan import Plan
from dbfold.provenance import WRITES_TABLE

Sample = tuple[Path, Plan, Analysis]


def _migrated(sample: Sample) -> tuple[Path, Plan, Analysis, Path]:
    root, plan, analysis = sample
    report = migrate(plan, analysis, root, execute=True)
    assert report.verify is not None and report.verify.ok
    return root, plan, analysis, root / plan.target


def _routed_writes(root: Path, plan: Plan, analysis: Analysis) -> None:
    con = connect("data/tracking.db", plan, root=root, analysis=analysis)
    try:
        con.execute(
            "INSERT INTO actions (action, actor, target, created_at) "
            "VALUES ('publish', 'u1', 'a:1', '2024-07-01')"
        )
        con.execute("UPDATE actions SET action = 'edited' WHERE id = 1")
        con.execute("DELETE FROM actions WHERE id = 2")
        # A merged table (action_log of tracking.db and quality.db): its own rows only.
        con.execute("INSERT INTO action_log (tracker, action, created_at) VALUES ('t', 'a', 'now')")
        con.execute("DELETE FROM action_log WHERE id = 1")
        con.commit()
    finally:
        con.close()


def test_routed_writes_are_recorded_and_verify_passes(sample: Sample) -> None:
    root, plan, analysis, target = _migrated(sample)
    _routed_writes(root, plan, analysis)
    with sqlite3.connect(target) as db:
        ops = {
            (t, s, json.loads(k)[0], op)
            for t, s, k, op in db.execute(
                f'SELECT target_table, source, key, op FROM "{WRITES_TABLE}"'
            )
        }
    assert ("actions", "", 1, "update") in ops
    assert ("actions", "", 2, "delete") in ops
    assert any(t == "actions" and op == "insert" for t, _s, _k, op in ops)
    assert any(t == "action_log" and op == "delete" and k == 1 for t, _s, k, op in ops)
    report = verify(plan, root, target, analysis=analysis)
    assert report.ok, report.mismatches
    by = {(c.store, c.table): c for c in report.checks}
    assert by[("data/tracking.db", "actions")].adapter_rows == 3
    assert by[("data/tracking.db", "action_log")].adapter_rows == 2
    assert by[("data/quality.db", "action_log")].adapter_rows == 0
    assert report.adapter_rows == 5


def test_rolled_back_write_is_not_recorded(sample: Sample) -> None:
    root, plan, analysis, target = _migrated(sample)
    con = connect("data/tracking.db", plan, root=root, analysis=analysis)
    con.execute("UPDATE actions SET action = 'x' WHERE id = 3")
    con.rollback()
    con.close()
    with sqlite3.connect(target) as db:
        assert db.execute(f'SELECT count(*) FROM "{WRITES_TABLE}"').fetchone() == (0,)


def test_tampering_outside_the_adapters_still_fails(sample: Sample) -> None:
    root, plan, analysis, target = _migrated(sample)
    _routed_writes(root, plan, analysis)
    with sqlite3.connect(target) as db:
        db.execute("UPDATE actions SET action = 'tampered' WHERE id = 5")
    report = verify(plan, root, target, analysis=analysis)
    assert not report.ok
    (bad,) = report.mismatches
    assert bad.target == "actions"
    assert bad.first_difference is not None and "(5,)" in bad.first_difference
    # A deleted row (not through an adapter) is missing, and named.
    with sqlite3.connect(target) as db:
        db.execute("UPDATE actions SET action = (SELECT action FROM actions WHERE id = 6)")
        db.execute("DELETE FROM actions WHERE id = 7")
    report = verify(plan, root, target, analysis=analysis)
    assert not report.ok


def test_incremental_migrate_keeps_adapter_writes(sample: Sample) -> None:
    root, plan, analysis, target = _migrated(sample)
    code = run_legacy(
        [sys.executable, "main.py", "record"], root, plan, analysis=analysis, cwd=root
    )
    assert code == 0
    with sqlite3.connect(target) as db:
        written = db.execute(f'SELECT count(*) FROM "{WRITES_TABLE}"').fetchone()[0]
        new_action = db.execute("SELECT max(id) FROM actions").fetchone()[0]
    assert written > 0
    # The JSONL append went to the legacy file (file stores are not routed).
    again = migrate(plan, analysis, root, execute=True)
    assert again.verify is not None and again.verify.ok, again.verify.mismatches
    statuses = {(s.store, s.target): s.status for s in again.sources}
    assert statuses[("logs/events.jsonl", "logs_events")] == "appended"
    with sqlite3.connect(target) as db:
        assert db.execute("SELECT max(id) FROM actions").fetchone()[0] == new_action
        logs = db.execute("SELECT count(*) FROM logs_events WHERE type = 'publish'").fetchone()
    assert logs[0] >= 1
    assert again.verify.adapter_rows == written
    # And from the command line: verify exits 0.
    done = subprocess.run(
        [sys.executable, "-m", "dbfold", "verify"], cwd=root, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "changed through adapters since the cutover" in done.stdout


def test_recopy_does_not_remove_adapter_writes(sample: Sample) -> None:
    """A changed JSON file is re-copied: its other rows are replaced, adapter rows stay."""
    root, plan, analysis, target = _migrated(sample)
    from dbfold.adapters import JsonStore

    users = root / "data/users.json"
    store = JsonStore("data/users.json", plan, target, analysis=analysis)
    try:
        data = json.loads(users.read_text())
        records = data if isinstance(data, list) else data.get("users", data)
        assert records
    finally:
        store.close()
    with sqlite3.connect(target) as db:
        before = db.execute("SELECT count(*) FROM users").fetchone()[0]
        key_col = next(c for c in plan.table("users").primary_key)  # type: ignore[union-attr]
        first_key = db.execute(f'SELECT "{key_col}" FROM users LIMIT 1').fetchone()[0]
    # An adapter-style write recorded through a legacy-connection trigger: simulate the
    # JsonStore deleting one record (its triggers record it).
    store = JsonStore("data/users.json", plan, target, analysis=analysis)
    try:
        store.conn.execute(f'DELETE FROM users WHERE "{key_col}" = ?', (first_key,))
    finally:
        store.close()
    # Now the legacy file changes too (appended whitespace changes its hash): a re-copy.
    users.write_text(users.read_text() + "\n")
    again = migrate(plan, analysis, root, execute=True)
    statuses = {(s.store, s.target): s.status for s in again.sources}
    assert statuses[("data/users.json", "users")] == "recopied"
    assert again.verify is not None and again.verify.ok, again.verify.mismatches
    with sqlite3.connect(target) as db:
        after = db.execute("SELECT count(*) FROM users").fetchone()[0]
        gone = db.execute(f'SELECT 1 FROM users WHERE "{key_col}" = ?', (first_key,)).fetchone()
    assert after == before - 1
    assert gone is None  # the adapter's delete was not undone by the re-copy


def test_last_op_per_key_wins(sample: Sample) -> None:
    """The log is append-only; ``dbfold_adapter_writes`` and readers see each key's last op."""
    from dbfold.provenance import LOG_TABLE, read_writes

    root, plan, analysis, target = _migrated(sample)
    con = connect("data/tracking.db", plan, root=root, analysis=analysis)
    try:
        con.execute("DELETE FROM actions WHERE id = 4")
        con.commit()
        con.execute("UPDATE actions SET action = 'y' WHERE id = 5")
        con.execute("DELETE FROM actions WHERE id = 5")
        con.commit()
        con.execute(
            "INSERT INTO actions (id, action, actor, target, created_at) "
            "VALUES (4, 'again', 'u1', 'a:4', '2024-07-01')"
        )
        con.commit()
    finally:
        con.close()
    with sqlite3.connect(target) as db:
        logged = db.execute(f'SELECT count(*) FROM "{LOG_TABLE}"').fetchone()[0]
        ops = {
            json.loads(k)[0]: op for k, op in db.execute(f'SELECT key, op FROM "{WRITES_TABLE}"')
        }
        assert read_writes(db)[("actions", "")] == {(4,): "insert", (5,): "delete"}
    assert logged == 4
    assert ops == {4: "insert", 5: "delete"}
    # An incremental migrate neither drops the re-inserted row nor brings row 5 back.
    again = migrate(plan, analysis, root, execute=True)
    assert again.verify is not None and again.verify.ok, again.verify.mismatches
    with sqlite3.connect(target) as db:
        assert db.execute("SELECT action FROM actions WHERE id IN (4, 5)").fetchall() == [
            ("again",)
        ]


def test_older_writes_table_is_carried_into_the_log(sample: Sample) -> None:
    """A target whose adapters upserted into a ``dbfold_adapter_writes`` table (older dbfold)."""
    from dbfold.provenance import LOG_TABLE

    root, plan, analysis, target = _migrated(sample)
    with sqlite3.connect(target) as db:
        db.execute(f'DROP VIEW IF EXISTS "{WRITES_TABLE}"')
        db.execute(f'DROP TABLE IF EXISTS "{LOG_TABLE}"')
        db.execute(
            f'CREATE TABLE "{WRITES_TABLE}" (target_table TEXT NOT NULL, source TEXT NOT NULL, '
            "key TEXT NOT NULL, op TEXT NOT NULL, store TEXT NOT NULL, at TEXT NOT NULL, "
            "PRIMARY KEY (target_table, source, key)) WITHOUT ROWID"
        )
        db.execute(
            f"INSERT INTO \"{WRITES_TABLE}\" VALUES ('actions', '', '[2]', 'delete', "
            "'data/tracking.db', '2024-07-01T00:00:00Z')"
        )
        db.execute("DELETE FROM actions WHERE id = 2")
    con = connect("data/tracking.db", plan, root=root, analysis=analysis)
    try:
        con.execute("UPDATE actions SET action = 'edited' WHERE id = 1")
        con.commit()
    finally:
        con.close()
    with sqlite3.connect(target) as db:
        kind = db.execute(
            "SELECT type FROM sqlite_master WHERE name = ?", (WRITES_TABLE,)
        ).fetchone()
        ops = set(db.execute(f'SELECT key, op FROM "{WRITES_TABLE}"'))
    assert kind == ("view",)
    assert ops == {("[2]", "delete"), ("[1]", "update")}
    report = verify(plan, root, target, analysis=analysis)
    assert report.ok, report.mismatches


def test_optimize_compacts_the_log_to_one_row_per_key(sample: Sample) -> None:
    from dbfold.optimize import optimize
    from dbfold.provenance import LOG_TABLE

    root, plan, analysis, target = _migrated(sample)
    con = connect("data/tracking.db", plan, root=root, analysis=analysis)
    for n in range(5):  # the same key written again and again
        con.execute("UPDATE actions SET action = ? WHERE id = 3", (f"v{n}",))
        con.commit()
    con.execute("DELETE FROM actions WHERE id = 3")
    con.commit()
    con.close()
    query = f'SELECT target_table, source, key, op FROM "{WRITES_TABLE}" ORDER BY 1, 2, 3'
    with sqlite3.connect(target) as db:
        before = db.execute(query).fetchall()
        logged = db.execute(f'SELECT count(*) FROM "{LOG_TABLE}"').fetchone()[0]
    assert logged == 6 and [op for *_k, op in before] == ["delete"]
    report = optimize(target)
    assert "compact_adapter_log" in report.steps
    with sqlite3.connect(target) as db:
        assert db.execute(query).fetchall() == before  # the same answers
        assert db.execute(f'SELECT count(*) FROM "{LOG_TABLE}"').fetchone()[0] == 1
    assert verify(plan, root, target, analysis=analysis).ok
    assert "compact_adapter_log" not in optimize(target).steps  # nothing left to drop
