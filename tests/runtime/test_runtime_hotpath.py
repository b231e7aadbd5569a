"""The hot path's shortcuts keep their promises.

Timestamps formatted from a cached second, INSERT text and result columns built once per
shape, an operation table without a status index, the process token computed once: each
must still give what the slow way gave, see schema changes, and be right after ``fork``.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest
from _runtime_workers import ITEMS_V1, ItemsV1, ItemsV2, is_pg

from dbfold.errors import RuntimeDatabaseError
from dbfold.runtime import ConstraintError, UnifiedDatabase, timeutil
from dbfold.runtime.operations import OPERATIONS_DDL, process_token
from dbfold.runtime.versions import HISTORY_DDL


@pytest.mark.parametrize(
    "nanos",
    [
        0,
        1_714_564_800_000_000_000,  # 2024-05-01T12:00:00 exactly
        1_714_564_799_999_999_999,  # the last nanosecond before it
        1_709_208_000_123_456_789,  # 2024-02-29, a leap day
        4_102_444_799_999_999_000,  # 2099-12-31T23:59:59.999999
    ],
)
def test_now_iso_is_the_isoformat_text(monkeypatch: pytest.MonkeyPatch, nanos: int) -> None:
    monkeypatch.setattr(timeutil.time, "time_ns", lambda: nanos)
    expected = datetime.fromtimestamp(nanos // 1000 / 1e6, timezone.utc)
    expected = expected.replace(microsecond=nanos // 1000 % 1_000_000)
    assert timeutil.now_iso() == expected.isoformat(timespec="microseconds")


def test_now_iso_follows_the_second_across_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([5_000_000_000 - 1000, 5_000_000_000, 65_000_000_000, 5_000_000_000])
    monkeypatch.setattr(timeutil.time, "time_ns", lambda: next(clock))
    assert [timeutil.now_iso() for _ in range(4)] == [
        "1970-01-01T00:00:04.999999+00:00",
        "1970-01-01T00:00:05.000000+00:00",
        "1970-01-01T00:01:05.000000+00:00",
        "1970-01-01T00:00:05.000000+00:00",  # a clock set back is followed too
    ]


def test_now_iso_sorts_with_real_time() -> None:
    before = datetime.now(timezone.utc).isoformat(timespec="microseconds")
    ours = timeutil.now_iso()
    after = datetime.now(timezone.utc).isoformat(timespec="microseconds")
    assert before <= ours <= after


def test_inserts_see_columns_added_by_execute_and_by_migration(db_path: Path) -> None:
    with ItemsV1(db_path) as db:
        db.insert("parents", name="p")
        db.insert("items", parent_id=1, name="a", data={"n": 1})
        db.execute("ALTER TABLE items ADD COLUMN extra JSON")
        row_id = db.insert("items", parent_id=1, name="b", data=[1], extra={"k": "v"})
        row = db.get("items", row_id)
        assert row is not None and row["extra"] == {"k": "v"} and row["data"] == [1]
        stored = db.query("SELECT extra FROM items WHERE id = ?", (row_id,), decode_json=False)
        assert stored[0]["extra"] == '{"k":"v"}'
        # The same result shape before and after a column becomes JSON: decoded after.
        db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        db.insert("notes", body='{"a":1}')
        assert db.query("SELECT body FROM notes")[0]["body"] == '{"a":1}'
        db.execute("DROP TABLE notes")
        db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body JSON)")
        db.insert("notes", body={"a": 1})
        assert db.query("SELECT body FROM notes")[0]["body"] == {"a": 1}
    other = db_path.with_name("other.db")
    with ItemsV1(other) as db:
        db.insert("parents", name="p")
        db.insert("items", parent_id=1, name="a")
    with ItemsV2(other) as db:  # migrated at open: adds items.note
        row_id = db.insert("items", parent_id=1, name="c", note="hello")
        assert db.get("items", row_id)["note"] == "hello"  # type: ignore[index]


def test_same_columns_in_another_table_or_case_get_their_own_statement(db_path: Path) -> None:
    schema = "CREATE TABLE a (id INTEGER PRIMARY KEY, v JSON); CREATE TABLE b (id INTEGER, v TEXT);"

    class Two(UnifiedDatabase):
        SCHEMA_VERSION = "1.0.0"

        def get_schema(self) -> str:
            return schema

    with Two(db_path) as db:
        db.insert("a", v={"x": 1})
        db.insert("A", V={"x": 2})  # names as SQLite matches them: case-insensitively
        db.insert("b", v="plain")
        with pytest.raises(RuntimeDatabaseError, match="not supported"):
            db.insert("b", v={"x": 3})  # no JSON column there: the driver refuses the dict
        assert [r["v"] for r in db.all("a")] == [{"x": 1}, {"x": 2}]
        assert db.insert_sql("b", v="x") == ('INSERT INTO "b" ("v") VALUES (?)', ["x"])


def test_operations_table_has_no_status_index_but_checks_status(plain: UnifiedDatabase) -> None:
    catalog = {
        "sqlite": "SELECT name FROM sqlite_master WHERE type = 'index' "
        "AND tbl_name = 'dbfold_operations'",
        "postgresql": "SELECT indexname FROM pg_indexes WHERE tablename = 'dbfold_operations' "
        "AND indexname <> 'dbfold_operations_pkey'",
    }
    indexes = plain.query(catalog["postgresql" if is_pg(plain) else "sqlite"])
    assert indexes == []
    op = plain.start_operation("x")
    with pytest.raises(ConstraintError):
        plain.execute(
            "UPDATE dbfold_operations SET status = 'bogus' WHERE id = ?", (op.operation_id,)
        )
    plain.complete_operation(op.operation_id)
    assert plain.get_operation(op.operation_id).status == "completed"


def test_an_older_operations_table_works_and_loses_its_index_at_migration(
    db_path: Path,
) -> None:
    old = OPERATIONS_DDL.replace(
        "CHECK (\n        status = 'running' OR status = 'completed' OR status = 'failed' OR "
        "status = 'abandoned'\n    )",
        "CHECK (status IN ('running', 'completed', 'failed', 'abandoned'))",
    ).replace(
        "DROP INDEX IF EXISTS dbfold_operations_status",
        "CREATE INDEX dbfold_operations_status ON dbfold_operations (status, kind)",
    )
    assert old != OPERATIONS_DDL and "status IN" in old
    with sqlite3.connect(db_path) as con:
        con.executescript(HISTORY_DDL + ";" + old + ITEMS_V1)
        con.execute(
            "INSERT INTO dbfold_schema_history (version, applied_at, description, checksum) "
            "VALUES ('1.0.0', '2024-01-01T00:00:00.000000+00:00', 'old', 'x')"
        )
        con.execute(
            "INSERT INTO dbfold_operations (kind, status, pid, host, started_at) "
            "VALUES ('old', 'running', 1, 'elsewhere', '2024-01-01T00:00:00.000000+00:00')"
        )
    con.close()
    with ItemsV1(db_path) as db:  # current: nothing migrates, the old table is used as is
        op = db.start_operation("new", n=1)
        db.complete_operation(op.operation_id)
        assert db.get_operation(op.operation_id).status == "completed"
        assert [r.kind for r in db.incomplete_operations()] == ["old"]
        assert db.scalar("SELECT count(*) FROM sqlite_master WHERE type = 'index'") == 2
    with ItemsV2(db_path) as db:
        assert (
            db.scalar("SELECT count(*) FROM sqlite_master WHERE name = 'dbfold_operations_status'")
            == 0
        )
        assert [r.kind for r in db.incomplete_operations()] == ["old"]
        assert db.operation_stats()["new"].completed == 1


def test_operations_from_threads_all_land_with_this_process_token(plain: UnifiedDatabase) -> None:
    def work() -> None:
        for n in range(50):
            with plain.operation("t", n=n):
                pass

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rows = plain.query("SELECT DISTINCT pid, process, status FROM dbfold_operations")
    assert [tuple(r) for r in rows] == [(os.getpid(), process_token(os.getpid()), "completed")]
    assert plain.scalar("SELECT count(*) FROM dbfold_operations") == 400


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (POSIX)")
def test_operations_after_fork_carry_the_childs_pid_and_token(db_path: Path) -> None:
    db = UnifiedDatabase(db_path)
    parent_op = db.start_operation("parent")  # pid and token are now cached
    db.complete_operation(parent_op.operation_id)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(read_end)
        code, text = 0, ""
        try:
            op = db.start_operation("child")
            text = f"{op.operation_id} {process_token(os.getpid())}"
            op.complete()
        except BaseException as exc:
            code, text = 4, f"{type(exc).__name__}: {exc}"
        os.write(write_end, text.encode())
        os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        text = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, text
    op_id, token = text.split(" ")
    try:
        record = db.get_operation(int(op_id))
        assert record.status == "completed" and record.pid == pid
        process = db.scalar("SELECT process FROM dbfold_operations WHERE id = ?", (int(op_id),))
        assert process == token and process != process_token(os.getpid())
        # The parent keeps its own identity.
        again = db.start_operation("parent-again")
        assert db.get_operation(again.operation_id).pid == os.getpid()
    finally:
        db.close()
