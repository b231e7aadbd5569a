"""Fork: a child either writes with real locks or is refused clearly, never loses writes.

After ``fork`` a child inherits SQLite's per-inode lock records but not the fcntl locks, so a
connection it opens to a file the parent had open takes no real lock (howtocorrupt §2.7).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import pytest
from _runtime_workers import ItemsV1

from dbfold.runtime import ForkedDatabaseError

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (POSIX)")


def _in_child(body: object) -> tuple[int, str]:
    """Run ``body()`` in a forked child; return its exit code and what it wrote to the pipe."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(read_end)
        code, text = 0, "ok"
        try:
            body()  # type: ignore[operator]
        except ForkedDatabaseError as exc:
            code, text = 3, str(exc)
        except BaseException as exc:
            code, text = 4, f"{type(exc).__name__}: {exc}"
        os.write(write_end, text.encode())
        os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        text = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), text


def _names(path: Path) -> list[str]:
    with sqlite3.connect(path) as con:
        return [r[0] for r in con.execute("SELECT name FROM parents ORDER BY id")]


def test_child_of_a_parent_using_only_the_forking_thread_writes_with_locks(
    db_path: Path,
) -> None:
    db = ItemsV1(db_path)
    db.insert("parents", name="parent")
    assert db.scalar("SELECT count(*) FROM parents") == 1
    gate_r, gate_w = os.pipe()

    def child() -> None:
        db.insert("parents", name="child-1")
        os.read(gate_r, 1)  # wait until the parent has closed
        db.insert("parents", name="child-2")

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 0
        try:
            child()
        except BaseException as exc:
            os.write(write_end, f"{type(exc).__name__}: {exc}".encode())
            code = 4
        os._exit(code)
    os.close(write_end)
    db.close()  # the parent's last close must not delete the -wal under the child
    os.write(gate_w, b"x")
    _, status = os.waitpid(pid, 0)
    with os.fdopen(read_end, "rb") as pipe:
        assert os.waitstatus_to_exitcode(status) == 0, pipe.read().decode()
    assert _names(db_path) == ["parent", "child-1", "child-2"]


def test_child_is_refused_when_another_parent_thread_holds_the_database(db_path: Path) -> None:
    db = ItemsV1(db_path)
    db.insert("parents", name="parent")
    opened, done = threading.Event(), threading.Event()

    def reader() -> None:
        db.scalar("SELECT count(*) FROM parents")  # this thread keeps its connection
        opened.set()
        done.wait()

    thread = threading.Thread(target=reader)
    thread.start()
    opened.wait()
    try:
        code, text = _in_child(lambda: db.insert("parents", name="child"))
        assert code == 3, text
        assert "forked" in text and "spawn" in text and str(db_path) in text
        # A new instance in the child is refused the same way.
        code, text = _in_child(lambda: ItemsV1(db_path))
        assert code == 3, text
    finally:
        done.set()
        thread.join()
        db.close()
    assert _names(db_path) == ["parent"]


def test_fork_refusal_reaches_the_cli_style_one_line(db_path: Path) -> None:
    db = ItemsV1(db_path)
    holder = sqlite3.connect(db_path)  # some other connection of the parent (legacy code)
    holder.execute("SELECT count(*) FROM parents").fetchone()
    try:
        db.close()
        code, text = _in_child(lambda: ItemsV1(db_path).insert("parents", name="x"))
        assert code == 3, text
        assert "\n" not in text
    finally:
        holder.close()
