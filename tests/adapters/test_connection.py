"""The sqlite3 surface of LegacyConnection, routing with install(), threads, refusals."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from adapters_support import Project

from dbfold.adapters import LegacyConnection, LegacyCursor, connect, install, installed, uninstall
from dbfold.errors import AdapterError


@pytest.fixture
def fresh(project: Project, tmp_path: Path) -> Project:
    return project.copy(tmp_path / "p")


def open_(p: Project, store: str, **kwargs: object) -> LegacyConnection:
    return connect(store, p.plan, p.unified, root=p.root, analysis=p.analysis, **kwargs)  # type: ignore[arg-type]


def test_cursor_surface(fresh: Project) -> None:
    conn = open_(fresh, "app/orders.db")
    assert isinstance(conn, sqlite3.Connection)
    cur = conn.execute('SELECT "my id", [select], `we"ird` FROM events ORDER BY 1')
    assert [d[0] for d in cur.description] == ["my id", "select", 'we"ird']
    assert cur.fetchone() == (1, "s1", 1)
    assert cur.fetchmany(2) == [(2, "s2", 2), (3, "s3", 3)]
    assert list(cur) == [(4, "s4", 4)]
    conn.row_factory = sqlite3.Row
    row = conn.execute("SELECT id, total, code FROM orders WHERE id = ?", (3,)).fetchone()
    assert row["total"] == 4.5 and row.keys() == ["id", "total", "code"]
    star = conn.execute("SELECT * FROM orders ORDER BY id").fetchone()
    assert star.keys() == ["id", "customer_id", "total", "code"]
    conn.close()


def test_transactions_and_lastrowid(fresh: Project) -> None:
    conn = open_(fresh, "app/orders.db")
    with conn:
        cur = conn.execute("INSERT INTO orders (customer_id, total) VALUES (1, 2.0)")
        assert cur.lastrowid == 12 and cur.rowcount == 1
    assert not conn.in_transaction
    conn.execute("UPDATE orders SET total = 0")
    assert conn.in_transaction
    conn.rollback()
    assert conn.execute("SELECT total FROM orders WHERE id = 12").fetchone() == (2.0,)
    with pytest.raises(sqlite3.IntegrityError), conn:
        conn.execute("INSERT INTO orders (id) VALUES (1)")
    auto = open_(fresh, "trackers/clicks.db", isolation_level=None)
    cur = auto.execute("INSERT INTO events (kind) VALUES ('z')")
    assert cur.lastrowid == 18 and not auto.in_transaction
    other = open_(fresh, "trackers/clicks.db")
    assert other.execute("SELECT kind FROM events WHERE id = 18").fetchone() == ("z",)
    for c in (conn, auto, other):
        c.close()


def test_execute_keeps_row_factory_cursor_class_and_overrides(fresh: Project) -> None:
    conn = open_(fresh, "trackers/clicks.db")
    conn.row_factory = lambda cur, row: {d[0]: v for d, v in zip(cur.description, row, strict=True)}
    # A merged table: lastrowid is looked up, whatever rows the legacy code asked for.
    cur = conn.execute("INSERT INTO events (kind) VALUES ('z')")
    assert cur.lastrowid == 18 and cur.rowcount == 1
    conn.commit()
    assert conn.execute("SELECT id, kind FROM events WHERE id = ?", (18,)).fetchone() == {
        "id": 18,
        "kind": "z",
    }
    # The cursor conn.execute returns translates what it runs next.
    cur = conn.execute("SELECT 1 AS one")
    assert isinstance(cur, LegacyCursor)
    assert cur.execute("SELECT COUNT(*) AS n FROM events").fetchone() == {"n": 18}
    conn.close()

    made: list[object] = []

    class Counting(LegacyConnection):
        def cursor(self, factory: Any = None) -> Any:
            made.append(factory)
            return super().cursor(factory)

    counting = open_(fresh, "trackers/clicks.db", factory=Counting)
    assert counting.execute("SELECT COUNT(*) FROM events").fetchone() == (18,)
    assert made == [None]  # execute() went through the overridden cursor()
    counting.close()


def test_schema_questions_in_legacy_names(fresh: Project) -> None:
    conn = open_(fresh, "trackers/clicks.db")
    names = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
    ).fetchall()
    # As in the legacy file: its AUTOINCREMENT table made SQLite add sqlite_sequence.
    assert names == [("events",), ("sqlite_sequence",), ("users",)]
    info = conn.execute("PRAGMA table_info(events)").fetchall()
    assert [(r[1], r[2], r[5]) for r in info] == [
        ("id", "INTEGER", 1),
        ("kind", "TEXT", 0),
        ("ts", "INTEGER", 0),
        ("user_id", "INTEGER", 0),
    ]
    assert ("idx_events_ts",) in [(r[1],) for r in conn.execute("PRAGMA index_list('events')")]
    assert conn.execute("PRAGMA journal_mode=WAL").fetchone() == ("wal",)
    for pragma in (
        "PRAGMA foreign_keys = ON",
        "PRAGMA synchronous=NORMAL",
        "PRAGMA busy_timeout=100",
    ):
        assert conn.execute(pragma).fetchall() in ([], [(100,)])
    conn.execute("PRAGMA user_version = 7")
    assert conn.execute("PRAGMA user_version").fetchone() == (7,)
    conn.execute("CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, kind TEXT)")
    conn.execute("CREATE INDEX IF NOT EXISTS idx_events_ts ON events (ts)")
    conn.executescript(
        "CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY);"
        "INSERT INTO users (email) VALUES ('s@x');"
    )
    assert conn.execute("SELECT id FROM users WHERE email = 's@x'").fetchone() == (7,)
    with pytest.raises(sqlite3.OperationalError, match="already exists"):
        conn.execute("CREATE TABLE events (x)")
    conn.close()


@pytest.mark.parametrize(
    "sql",
    [
        "DROP TABLE events",
        "ALTER TABLE events ADD COLUMN x",
        "ATTACH 'x.db' AS x",
        "CREATE TABLE IF NOT EXISTS brand_new (x)",
        "SELECT * FROM sqlite_sequence",
        "PRAGMA writable_schema = 1",
        "CREATE TRIGGER t AFTER INSERT ON events BEGIN SELECT 1; END",
    ],
)
def test_refused_with_the_statement_named(fresh: Project, sql: str) -> None:
    conn = open_(fresh, "trackers/clicks.db")
    with pytest.raises(AdapterError, match="cannot run"):
        conn.execute(sql)
    conn.close()


def test_legacy_errors_keep_their_class(fresh: Project) -> None:
    conn = open_(fresh, "trackers/clicks.db")
    with pytest.raises(sqlite3.OperationalError, match="no such table: orders"):
        conn.execute("SELECT * FROM orders")  # lives in another store
    with pytest.raises(sqlite3.OperationalError, match="syntax error"):
        conn.execute("SELEC * FROM events")
    with pytest.raises(sqlite3.ProgrammingError):
        conn.execute("SELECT 1; SELECT 2")
    with pytest.raises(sqlite3.OperationalError, match="no such column"):
        conn.execute("SELECT nope FROM events")
    conn.close()


def test_threads_and_two_connections(fresh: Project) -> None:
    errors: list[BaseException] = []

    def work(store: str, n: int) -> None:
        try:
            conn = open_(fresh, store, timeout=30)
            for i in range(n):
                with conn:
                    conn.execute("INSERT INTO events (kind, ts) VALUES (?, ?)", ("t", i))
                conn.execute("SELECT COUNT(*) FROM events").fetchone()
            conn.close()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(store, 25))
        for store in ("trackers/clicks.db", "trackers/views.db") * 2
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    clicks, views = open_(fresh, "trackers/clicks.db"), open_(fresh, "trackers/views.db")
    assert clicks.execute("SELECT COUNT(*), COUNT(DISTINCT id) FROM events").fetchone() == (67, 67)
    assert views.execute("SELECT COUNT(*), COUNT(DISTINCT id) FROM events").fetchone() == (61, 61)
    result: list[BaseException] = []

    def other_thread() -> None:
        try:
            clicks.execute("SELECT 1")
        except BaseException as exc:
            result.append(exc)

    t = threading.Thread(target=other_thread)
    t.start()
    t.join()
    assert isinstance(result[0], sqlite3.ProgrammingError)  # check_same_thread, as in sqlite3
    clicks.close()
    views.close()


def test_install_routes_only_migrated_stores(
    fresh: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(fresh.root)
    original = sqlite3.connect
    install(fresh.plan, fresh.root, fresh.unified, analysis=fresh.analysis)
    try:
        assert installed()
        conn = sqlite3.connect("trackers/clicks.db")
        assert isinstance(conn, LegacyConnection)
        conn.execute("INSERT INTO events (kind) VALUES ('routed')")
        conn.commit()
        ro = sqlite3.connect(f"file:{fresh.root / 'trackers/views.db'}?mode=ro", uri=True)
        assert isinstance(ro, LegacyConnection)
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            ro.execute("DELETE FROM events")
        other = sqlite3.connect(fresh.root / "elsewhere.db")
        assert type(other) is sqlite3.Connection
        memory = sqlite3.connect(":memory:")
        assert type(memory) is sqlite3.Connection
        for c in (conn, ro, other, memory):
            c.close()
    finally:
        uninstall()
    assert sqlite3.connect is original and not installed()
    legacy = sqlite3.connect(fresh.root / "trackers" / "clicks.db")
    assert legacy.execute("SELECT COUNT(*) FROM events WHERE kind = 'routed'").fetchone() == (0,)
    legacy.close()
