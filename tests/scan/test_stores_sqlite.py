"""SQLite stores: schema, counts, observed types, WAL snapshots, damaged and locked files."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from scan_support import fingerprint

from dbfold.scan.stores import scan_stores

SCHEMA = """
CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT NOT NULL, age INT DEFAULT 0,
                   email TEXT UNIQUE);
CREATE TABLE posts(id INTEGER PRIMARY KEY, user_id INT REFERENCES users ON DELETE CASCADE,
                   body TEXT, "odd name" REAL);
CREATE INDEX ix_posts_user ON posts(user_id) WHERE user_id IS NOT NULL;
CREATE TABLE kv(k TEXT PRIMARY KEY, v) WITHOUT ROWID;
CREATE VIEW adults AS SELECT * FROM users WHERE age >= 18;
CREATE TRIGGER t_users AFTER INSERT ON users BEGIN SELECT 1; END;
INSERT INTO users(name, age, email) VALUES ('a', 30, 'a@x'), ('b', 'unknown', NULL);
INSERT INTO posts(user_id, body, "odd name") VALUES (1, 'x', 1.5), (2, 'y', NULL), (1, 'z', 2);
INSERT INTO kv VALUES ('a', 1), ('b', x'00');
DELETE FROM users WHERE 0;
PRAGMA user_version = 7;
"""


def make_db(path: Path, script: str = SCHEMA, wal: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path)
    if wal:
        con.execute("PRAGMA journal_mode=WAL")
    con.executescript(script)
    con.commit()
    con.close()


def test_schema_counts_and_types(tmp_path: Path) -> None:
    root = tmp_path / "p"
    make_db(root / "data" / "app.sqlite")
    before = fingerprint(root)
    found = scan_stores(root)
    assert fingerprint(root) == before
    (store,) = found.stores
    assert (store.path, store.kind, store.problems) == ("data/app.sqlite", "sqlite", ())
    assert store.sqlite is not None
    assert store.sqlite.user_version == 7
    assert store.sqlite.journal_mode == "delete"
    assert store.sqlite.page_count * store.sqlite.page_size == store.bytes
    tables = {t.name: t for t in store.tables}
    assert set(tables) == {"users", "posts", "kv"}
    users = tables["users"]
    assert users.rows == 2
    assert users.primary_key == ("id",)
    cols = {c.name: c for c in users.columns}
    assert cols["id"].primary_key and not cols["id"].nullable
    assert not cols["name"].nullable
    assert cols["age"].default == "0"
    # Values are not read (design's probe does that): declarations only.
    assert cols["age"].type == "INT" and cols["age"].observed == {}
    assert any(i.unique and i.origin == "u" for i in users.indexes)
    posts = tables["posts"]
    (fk,) = posts.foreign_keys
    assert (fk.columns, fk.ref_table, fk.ref_columns, fk.on_delete) == (
        ("user_id",),
        "users",
        ("id",),
        "CASCADE",
    )
    (ix,) = posts.indexes
    assert ix.partial and ix.columns == ("user_id",) and "WHERE" in (ix.sql or "")
    odd = {c.name: c for c in posts.columns}["odd name"]
    assert odd.type == "REAL" and odd.nullable
    assert tables["kv"].without_rowid
    assert [v.name for v in store.views] == ["adults"]
    assert [(t.name, t.table) for t in store.triggers] == [("t_users", "users")]


def test_free_pages_are_reclaimable(tmp_path: Path) -> None:
    root = tmp_path / "p"
    make_db(
        root / "big.db",
        "CREATE TABLE t(x); INSERT INTO t SELECT randomblob(1000) FROM "
        "(WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<200) "
        "SELECT i FROM c); DELETE FROM t;",
    )
    (store,) = scan_stores(root).stores
    assert store.sqlite is not None and store.sqlite.freelist_count > 0
    assert store.reclaimable_bytes == store.sqlite.freelist_count * store.sqlite.page_size


def test_wal_pending_is_read_through_sqlite_locks(tmp_path: Path) -> None:
    root = tmp_path / "p"
    db = root / "w.db"
    make_db(db, "CREATE TABLE t(x INTEGER);", wal=True)
    # Keep a connection open so the WAL is not checkpointed away on close.
    holder = sqlite3.connect(db)
    holder.execute("PRAGMA wal_autocheckpoint=0")
    holder.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(50)])
    holder.commit()
    try:
        # The -shm is SQLite's shared memory: every reader records its read mark there, so
        # only the database and its log are compared (and the -shm is never read here with
        # plain I/O while `holder` has it open: that would drop holder's locks).
        before = {k: v for k, v in fingerprint(root).items() if not k.endswith("-shm")}
        (store,) = scan_stores(root).stores
        after = {k: v for k, v in fingerprint(root).items() if not k.endswith("-shm")}
        assert after == before
        assert db.with_name("w.db-shm").exists()
        assert store.sqlite is not None
        assert store.sqlite.wal_pending and store.sqlite.wal_bytes > 0
        assert store.sqlite.journal_mode == "wal"
        assert store.tables[0].rows == 50
    finally:
        holder.close()


def test_wal_mode_without_wal_file_creates_nothing(tmp_path: Path) -> None:
    root = tmp_path / "p"
    make_db(root / "w.db", "CREATE TABLE t(x); INSERT INTO t VALUES (1);", wal=True)
    before = fingerprint(root)
    (store,) = scan_stores(root).stores
    assert fingerprint(root) == before
    assert store.tables[0].rows == 1 and not store.problems


def test_truncated_file(tmp_path: Path) -> None:
    root = tmp_path / "p"
    make_db(root / "t.db", "CREATE TABLE a(x); CREATE TABLE b(y); CREATE TABLE c(z);")
    data = (root / "t.db").read_bytes()
    (root / "t.db").write_bytes(data[: len(data) // 2])
    (store,) = scan_stores(root).stores
    (problem,) = store.problems
    assert problem.path == "t.db"
    assert "truncated: 2 of 4 pages" in problem.message
    assert "restore it from a backup or exclude it" in problem.message


def test_garbage_after_valid_header(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    header = bytearray(100)
    header[:16] = b"SQLite format 3\x00"
    header[16:18] = (4096).to_bytes(2, "big")
    header[18] = header[19] = 1
    (root / "g.db").write_bytes(bytes(header) + b"\xde\xad\xbe\xef" * 2024)
    (store,) = scan_stores(root).stores
    (problem,) = store.problems
    assert "not a readable SQLite database" in problem.message


def test_zero_byte_db(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "empty.db").write_bytes(b"")
    (store,) = scan_stores(root).stores
    assert store.kind == "sqlite" and store.tables == ()
    assert "empty file (0 bytes)" in store.problems[0].message
    assert not (root / "empty.db-journal").exists()


def test_db_extension_without_sqlite_content(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "notes.db").write_bytes(b"hello, this is not a database\n" * 10)
    (store,) = scan_stores(root).stores
    assert "not a readable SQLite database" in store.problems[0].message


WRITER = """
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("PRAGMA cache_size=1")
con.execute("BEGIN EXCLUSIVE")
con.executemany("INSERT INTO t VALUES (?)", [(str(i) * 200,) for i in range(2000)])
print("locked", flush=True)
time.sleep(30)
"""


def test_locked_by_writer_in_another_process(tmp_path: Path) -> None:
    root = tmp_path / "p"
    make_db(root / "busy.db", "CREATE TABLE t(x); INSERT INTO t VALUES ('a');")
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(root / "busy.db")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        before = fingerprint(root)
        start = time.monotonic()
        (store,) = scan_stores(root).stores
        assert time.monotonic() - start < 10  # never hangs
        assert fingerprint(root) == before
        # The writer has spilled pages (hot journal): no consistent snapshot exists on disk.
        (problem,) = store.problems
        assert problem.path == "busy.db"
        assert "locked by another process; retry when it is idle" in problem.message
    finally:
        proc.kill()
        proc.wait()


def test_exclusive_lock_is_reported_never_read_immutably(tmp_path: Path) -> None:
    # The holder may write at any moment: reading around its lock (immutable=1) could see
    # half a transaction, so the store is reported locked instead.
    root = tmp_path / "p"
    make_db(root / "x.db", "CREATE TABLE t(x); INSERT INTO t VALUES (1);")
    holder = sqlite3.connect(root / "x.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        (store,) = scan_stores(root).stores
        (problem,) = store.problems
        assert "locked by another process; retry when it is idle" in problem.message
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_companion_files_are_skipped(tmp_path: Path) -> None:
    root = tmp_path / "p"
    make_db(root / "a.db", "CREATE TABLE t(x);")
    (root / "a.db-journal").write_bytes(b"")
    found = scan_stores(root)
    assert [s.path for s in found.stores] == ["a.db"]
    assert any(s.path == "a.db-journal" for s in found.skipped)


def test_sqlite_detected_by_content_with_any_name(tmp_path: Path) -> None:
    root = tmp_path / "p"
    make_db(root / "state", "CREATE TABLE t(x);")
    make_db(root / "cache.bin", "CREATE TABLE u(x);")
    assert [(s.path, s.kind) for s in scan_stores(root).stores] == [
        ("cache.bin", "sqlite"),
        ("state", "sqlite"),
    ]
