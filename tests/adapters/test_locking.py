"""Two legacy stores, one unified file: a second writer gets a clear "database is locked"."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from adapters_support import Project

from dbfold.adapters import LegacyConnection, connect
from dbfold.adapters.connection import StoreLockedError
from dbfold.errors import AdapterError


@pytest.fixture
def fresh(project: Project, tmp_path: Path) -> Project:
    return project.copy(tmp_path / "p")


def open_(p: Project, store: str, **kwargs: object) -> LegacyConnection:
    return connect(store, p.plan, p.unified, root=p.root, **kwargs)  # type: ignore[arg-type]


def test_same_thread_writer_fails_at_once_naming_both_stores(fresh: Project) -> None:
    # A long timeout: waiting for a transaction of this very thread could only time out.
    clicks = open_(fresh, "trackers/clicks.db", timeout=60)
    views = open_(fresh, "trackers/views.db", timeout=60)
    clicks.execute("INSERT INTO events (kind, ts) VALUES ('a', 1)")
    with pytest.raises(StoreLockedError) as info:
        views.execute("UPDATE users SET score = 0")
    error = info.value
    assert isinstance(error, sqlite3.OperationalError) and isinstance(error, AdapterError)
    message = str(error)
    assert message.startswith("database is locked")
    assert "trackers/views.db" in message and "trackers/clicks.db" in message
    assert "commit" in message and "this thread" in message
    # Reads still work (WAL), and once clicks commits, views writes.
    assert views.execute("SELECT COUNT(*) FROM events").fetchone() == (11,)
    clicks.commit()
    assert views.execute("UPDATE users SET score = 0").rowcount == 4
    views.commit()
    # executemany and a split multi-row insert take the same path.
    views.execute("DELETE FROM events WHERE id = 1")
    with pytest.raises(StoreLockedError):
        clicks.executemany("INSERT INTO users (email) VALUES (?)", [("p",), ("q",)])
    with pytest.raises(StoreLockedError):
        clicks.execute("INSERT INTO users (email) VALUES ('p'), ('q')")
    views.rollback()
    assert clicks.execute("INSERT INTO users (email) VALUES ('p'), ('q')").rowcount == 2
    clicks.commit()
    for conn in (clicks, views):
        conn.close()


def test_autocommit_connections_do_not_block_each_other(fresh: Project) -> None:
    clicks = open_(fresh, "trackers/clicks.db", isolation_level=None)
    views = open_(fresh, "trackers/views.db", isolation_level=None)
    clicks.execute("INSERT INTO events (kind, ts) VALUES ('a', 1)")
    views.execute("INSERT INTO events (kind, ts) VALUES ('b', 2)")
    assert clicks.execute("SELECT MAX(id) FROM events").fetchone() == (18,)
    assert views.execute("SELECT MAX(id) FROM events").fetchone() == (12,)
    clicks.close()
    views.close()


def test_writer_in_another_thread_is_waited_for_then_named(fresh: Project) -> None:
    wrote, release, done = threading.Event(), threading.Event(), threading.Event()

    def hold() -> None:
        conn = open_(fresh, "app/orders.db")
        conn.execute("UPDATE orders SET code = 'held' WHERE id = 1")
        wrote.set()
        release.wait(10)
        conn.commit()
        conn.close()
        done.set()

    worker = threading.Thread(target=hold)
    worker.start()
    try:
        assert wrote.wait(10)
        clicks = open_(fresh, "trackers/clicks.db", timeout=0.05)
        with pytest.raises(StoreLockedError, match=r"app/orders\.db.*waited 0\.05 s"):
            clicks.execute("DELETE FROM events WHERE id = 1")
        clicks.rollback()
    finally:
        release.set()
        worker.join(10)
    assert done.is_set()
    assert clicks.execute("DELETE FROM events WHERE id = 1").rowcount == 1
    clicks.commit()
    clicks.close()


def test_unknown_writer_is_described_as_such(fresh: Project) -> None:
    raw = sqlite3.connect(fresh.unified, isolation_level=None)
    raw.execute("BEGIN IMMEDIATE")
    clicks = open_(fresh, "trackers/clicks.db", timeout=0.05)
    with pytest.raises(StoreLockedError, match="another connection or process"):
        clicks.execute("INSERT INTO events (kind) VALUES ('x')")
    raw.execute("ROLLBACK")
    raw.close()
    clicks.close()
