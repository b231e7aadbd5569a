"""Lock safety of legacy connections: pragmas of the unified database, and ``os.fork()``.

A legacy program may read every pragma and set what only its own connection sees, but not
what the whole unified database, its shared WAL or other connections depend on (set to the
value it has, such a pragma is a no-op answered as SQLite answers it). A connection opened
before a fork, or a new one to a file the parent had open, is refused in the child
(sqlite.org/howtocorrupt.html §2.7: the child has none of SQLite's POSIX locks).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from adapters_support import Project

from dbfold.adapters import LegacyConnection, connect
from dbfold.adapters.connection import ForkedConnectionError
from dbfold.errors import AdapterError, DbfoldError

CLICKS = "trackers/clicks.db"


@pytest.fixture
def fresh(project: Project, tmp_path: Path) -> Project:
    return project.copy(tmp_path / "p")


@pytest.fixture
def clicks(fresh: Project) -> Iterator[LegacyConnection]:
    conn = open_(fresh, CLICKS)
    yield conn
    conn.close()


def open_(p: Project, store: str, **kwargs: object) -> LegacyConnection:
    return connect(store, p.plan, p.unified, root=p.root, analysis=p.analysis, **kwargs)  # type: ignore[arg-type]


def plain_value(p: Project, name: str) -> object:
    """``PRAGMA name`` asked of the unified database by a plain sqlite3 connection."""
    conn = sqlite3.connect(p.unified)
    try:
        row = conn.execute(f"PRAGMA {name}").fetchone()
    finally:
        conn.close()
    return None if row is None else row[0]


# -- pragmas -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "name"),
    [
        ("PRAGMA journal_mode=DELETE", "journal_mode"),
        ("PRAGMA main.journal_mode = 'memory'", "journal_mode"),
        ("PRAGMA page_size = 1024", "page_size"),
        ("PRAGMA auto_vacuum = FULL", "auto_vacuum"),
        ("PRAGMA encoding = 'UTF-16le'", "encoding"),
        ("PRAGMA schema_version = 4242", "schema_version"),
        ("PRAGMA writable_schema = ON", "writable_schema"),
        ("PRAGMA locking_mode = EXCLUSIVE", "locking_mode"),
        ("PRAGMA wal_autocheckpoint = 0", "wal_autocheckpoint"),
        ("PRAGMA journal_size_limit = 0x10", "journal_size_limit"),
        ("PRAGMA mmap_size = 268435456", "mmap_size"),
        ("PRAGMA secure_delete = FAST", "secure_delete"),
        ("PRAGMA max_page_count = 10", "max_page_count"),
        ("PRAGMA ignore_check_constraints = 1", "ignore_check_constraints"),
        ("PRAGMA recursive_triggers = yes", "recursive_triggers"),
        ("PRAGMA synchronous = OFF", "synchronous"),
        ("PRAGMA main.synchronous=0", "synchronous"),
    ],
)
def test_changing_a_pragma_of_the_unified_database_is_refused(
    fresh: Project, clicks: LegacyConnection, sql: str, name: str
) -> None:
    before = clicks.execute(f"PRAGMA {name}").fetchall()  # the query form still answers
    file_before = plain_value(fresh, name)
    with pytest.raises(AdapterError, match="keeps its own setting") as info:
        clicks.execute(sql)
    message = str(info.value)
    assert sql in message and CLICKS in message and "cannot run" in message
    # Nothing changed, neither for this connection nor in the file.
    assert clicks.execute(f"PRAGMA {name}").fetchall() == before
    assert plain_value(fresh, name) == file_before
    # executemany takes the same path.
    with pytest.raises(AdapterError, match="keeps its own setting"):
        clicks.executemany(sql, [()])


def test_setting_the_value_it_already_has_is_answered_like_sqlite(
    fresh: Project, clicks: LegacyConnection
) -> None:
    # The statement real trackers start with: answered with the one row SQLite gives.
    cur = clicks.execute("PRAGMA journal_mode=WAL")
    assert cur.fetchall() == [("wal",)] and cur.description[0][0] == "journal_mode"
    assert clicks.execute("PRAGMA main.journal_mode('wal')").fetchall() == [("wal",)]
    assert clicks.execute("PRAGMA locking_mode = normal").fetchall() == [("normal",)]
    version = plain_value(fresh, "schema_version")
    page_size = plain_value(fresh, "page_size")
    mmap = plain_value(fresh, "mmap_size")
    for sql, rows in [
        ("PRAGMA writable_schema = OFF", []),
        ("PRAGMA recursive_triggers = false", []),
        ("PRAGMA ignore_check_constraints = 0", []),
        (f"PRAGMA schema_version = {version}", []),
        (f"PRAGMA page_size = {page_size}", []),
        ("PRAGMA encoding = 'UTF-8'", []),
        (f"PRAGMA mmap_size = {mmap}", [(mmap,)]),
    ]:
        assert clicks.execute(sql).fetchall() == rows, sql
    assert plain_value(fresh, "schema_version") == version  # never rewritten, not even equal
    # Through executescript too, in the middle of ordinary statements.
    clicks.executescript("PRAGMA journal_mode=WAL; INSERT INTO events (kind) VALUES ('s');")
    assert clicks.execute("SELECT COUNT(*) FROM events WHERE kind = 's'").fetchone() == (1,)


def test_executescript_refuses_a_change_before_running_anything(
    clicks: LegacyConnection,
) -> None:
    with pytest.raises(AdapterError, match="keeps its own setting"):
        clicks.executescript(
            "INSERT INTO events (kind) VALUES ('early'); PRAGMA journal_mode=DELETE;"
        )
    assert clicks.execute("SELECT COUNT(*) FROM events WHERE kind = 'early'").fetchone() == (0,)
    assert clicks.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_connection_local_pragmas_pass_and_checkpoints_never_block(
    fresh: Project,
) -> None:
    conn = open_(fresh, CLICKS, timeout=0.5)
    assert conn.execute("PRAGMA busy_timeout = 250").fetchall() == [(250,)]
    for sql, query, value in [
        ("PRAGMA cache_size = -4000", "PRAGMA cache_size", -4000),
        ("PRAGMA temp_store = MEMORY", "PRAGMA temp_store", 2),
        ("PRAGMA foreign_keys = ON", "PRAGMA foreign_keys", 1),
        ("PRAGMA foreign_keys = OFF", "PRAGMA foreign_keys", 0),
        ("PRAGMA synchronous = FULL", "PRAGMA synchronous", 2),
        ("PRAGMA main.synchronous = NORMAL", "PRAGMA synchronous", 1),
        ("PRAGMA synchronous = 3", "PRAGMA main.synchronous", 3),
        ("PRAGMA cell_size_check = ON", "PRAGMA cell_size_check", 1),
    ]:
        conn.execute(sql)
        assert conn.execute(query).fetchone() == (value,), sql
    for sql in ("PRAGMA optimize", "PRAGMA incremental_vacuum(10)", "PRAGMA shrink_memory"):
        assert conn.execute(sql).fetchall() == [], sql
    # A checkpoint in any mode is a PASSIVE one: with another connection reading, a
    # TRUNCATE checkpoint would wait out the timeout and report busy.
    writer = open_(fresh, "trackers/views.db", isolation_level=None)
    reader = sqlite3.connect(fresh.unified, isolation_level=None)
    try:
        writer.execute("INSERT INTO events (kind) VALUES ('w')")
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        writer.execute("INSERT INTO events (kind) VALUES ('w')")
        started = time.monotonic()
        rows = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        assert time.monotonic() - started < 0.4
        assert len(rows) == 1 and rows[0][0] == 0  # not busy
        reader.execute("COMMIT")
    finally:
        writer.close()
        reader.close()
    conn.close()


# -- fork ----------------------------------------------------------------------------------

needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")


class Forked:
    """A forked child running ``body`` (it never returns into pytest), with two pipes: the
    child ``send``s lines to the parent and ``wait``s for the parent's ``go``. As a context
    manager it always reaps the child (a child still waiting gets end-of-file and goes on).
    """

    def __init__(self, body: Callable[[Forked], None]) -> None:
        up_r, up_w = os.pipe()
        down_r, down_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child
            code = 0
            try:
                os.close(up_r)
                os.close(down_w)
                self._out, self._in = up_w, down_r
                body(self)
            except BaseException as exc:
                code = 1
                self.send(f"unexpected {type(exc).__name__}: {exc}")
            finally:
                os._exit(code)
        os.close(up_w)
        os.close(down_r)
        self.pid = pid
        self._in, self._out = up_r, down_w
        self._buffer = b""
        self._code: int | None = None

    def __enter__(self) -> Forked:
        return self

    def __exit__(self, *exc: object) -> None:
        self.join()

    # the child's side
    def send(self, line: str) -> None:
        os.write(self._out, line.replace("\n", " ").encode() + b"\n")

    def wait(self) -> None:
        os.read(self._in, 1)

    # the parent's side
    def recv(self) -> str:
        while b"\n" not in self._buffer:
            chunk = os.read(self._in, 65536)
            if not chunk:
                raise AssertionError(f"the child ended early: {self._buffer.decode()!r}")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode()

    def go(self) -> None:
        os.write(self._out, b"g")

    def join(self) -> int:
        """Wait for the child to end; its exit code (0: ``body`` returned)."""
        if self._code is None:
            os.close(self._out)
            _, status = os.waitpid(self.pid, 0)
            os.close(self._in)
            self._code = os.waitstatus_to_exitcode(status)
        return self._code


def outcome(action: Callable[[], object]) -> str:
    """What ``action`` did, as one line: ``ok`` or the error's class and message."""
    try:
        action()
    except DbfoldError as exc:
        return f"{type(exc).__name__}: {exc}"
    except sqlite3.Error as exc:
        return f"sqlite3 {type(exc).__name__}: {exc}"
    return "ok"


@needs_fork
def test_connection_opened_before_fork_is_refused_in_the_child(fresh: Project) -> None:
    conn = open_(fresh, CLICKS)
    assert conn.execute("SELECT COUNT(*) FROM events").fetchone() == (17,)
    parent = os.getpid()

    def child(me: Forked) -> None:
        me.send(outcome(lambda: conn.execute("INSERT INTO events (kind) VALUES ('child')")))
        me.send(outcome(lambda: conn.executemany("DELETE FROM events WHERE id = ?", [(1,)])))
        me.send(outcome(lambda: conn.executescript("DELETE FROM events;")))
        me.send(outcome(lambda: conn.execute("SELECT COUNT(*) FROM events")))
        me.send(outcome(conn.commit))

        def in_with() -> None:
            with conn:
                conn.execute("UPDATE events SET kind = 'x'")

        me.send(outcome(in_with))
        me.send(outcome(conn.close))  # forgotten, never closed: no error, nothing touched

    with Forked(child) as forked:
        answers = [forked.recv() for _ in range(7)]
        assert forked.join() == 0
    for answer in answers[:6]:
        assert answer.startswith("ForkedConnectionError: "), answer
        assert f"opened before fork in process {parent}" in answer
        assert "open the connection after the fork" in answer
        assert "multiprocessing 'spawn' start method" in answer
        assert CLICKS in answer
    assert answers[6] == "ok"
    assert issubclass(ForkedConnectionError, AdapterError)  # what legacy code may catch
    # The parent's connection is untouched and still works; the child wrote nothing.
    assert conn.execute("SELECT COUNT(*) FROM events").fetchone() == (17,)
    conn.execute("INSERT INTO events (kind) VALUES ('parent')")
    conn.commit()
    conn.close()
    check = open_(fresh, CLICKS)
    assert check.execute("SELECT kind FROM events WHERE id > 17").fetchall() == [("parent",)]
    check.close()


@needs_fork
def test_child_may_connect_only_when_the_parent_had_the_file_closed(fresh: Project) -> None:
    parent = os.getpid()
    held = open_(fresh, "trackers/views.db")  # another store, the same unified file
    held.execute("SELECT COUNT(*) FROM events").fetchone()

    def refused(me: Forked) -> None:
        me.send(outcome(lambda: open_(fresh, CLICKS)))

    with Forked(refused) as forked:
        answer = forked.recv()
        assert forked.join() == 0
    assert answer.startswith("ForkedConnectionError: cannot connect to trackers/clicks.db"), answer
    assert f"opened before fork in process {parent}" in answer
    assert "multiprocessing 'spawn' start method" in answer
    held.close()

    # With nothing open at the fork, the child's own connection takes real locks: its write
    # survives the parent opening, reading and closing the file while the child is still on it.
    def writer(me: Forked) -> None:
        conn = open_(fresh, CLICKS)
        cur = conn.execute("INSERT INTO events (kind, ts) VALUES ('from child', 7)")
        conn.commit()
        me.send(f"wrote {cur.lastrowid}")
        me.wait()
        conn.close()
        me.send("closed")

    with Forked(writer) as forked:
        assert forked.recv() == "wrote 18"
        mine = open_(fresh, CLICKS)
        row = mine.execute("SELECT kind, ts FROM events WHERE id = 18").fetchone()
        assert row == ("from child", 7)
        mine.close()
        forked.go()
        assert forked.recv() == "closed"
        assert forked.join() == 0
    again = open_(fresh, CLICKS)
    assert again.execute("SELECT kind FROM events WHERE id = 18").fetchone() == ("from child",)
    again.close()


def test_executescript_runs_every_statement_in_order(clicks: LegacyConnection) -> None:
    before = clicks.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    clicks.executescript(
        "INSERT INTO events (kind) VALUES ('s1'), ('s2');"
        "UPDATE events SET kind = 's2-seen' WHERE kind = 's2';"
        "INSERT INTO events (kind) VALUES ('s3');"
        "SELECT COUNT(*) FROM events;"
    )
    rows = clicks.execute(f"SELECT kind FROM events WHERE id > {before} ORDER BY id").fetchall()
    assert rows == [("s1",), ("s2-seen",), ("s3",)]
