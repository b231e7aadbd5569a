"""The migration journal: ``dbfold_migrations`` inside the target, one row per source and run.

A source's rows and its journal row are committed in one transaction, so a journal row with
``status = 'done'`` always describes rows that are really there; a ``started`` row without a
later ``done`` row is an attempt that was interrupted (and rolled back by SQLite).

Watermarks, per kind of source:

* SQLite: ``watermark`` is the largest rowid copied; a rerun copies ``rowid > watermark``.
* JSONL: ``watermark`` is the number of lines consumed and ``offset`` the byte offset after
  them; ``checksum`` is a hash of those bytes. A rerun continues at ``offset`` when the prefix
  hashes the same, and re-copies the source otherwise.
* JSON, CSV, TinyDB: ``checksum`` is a hash of the whole file; a rerun skips an unchanged
  file and re-copies a changed one (its rows deleted and inserted again in one transaction).
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path

TABLE = "dbfold_migrations"
META = "dbfold_migrate_meta"

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
  id INTEGER PRIMARY KEY,
  run_id TEXT NOT NULL,
  store TEXT NOT NULL,
  source_table TEXT NOT NULL,
  target_table TEXT NOT NULL,
  array_path TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL,
  watermark INTEGER,
  byte_offset INTEGER,
  rows_copied INTEGER NOT NULL DEFAULT 0,
  rows_total INTEGER NOT NULL DEFAULT 0,
  checksum TEXT,
  file_size INTEGER,
  file_mtime_ns INTEGER,
  started_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  finished_at TEXT
);
CREATE INDEX IF NOT EXISTS {TABLE}_source ON {TABLE} (store, source_table, target_table);
CREATE TABLE IF NOT EXISTS {META} (key TEXT PRIMARY KEY, value TEXT);
"""


@dataclass(frozen=True)
class Entry:
    """The last completed copy of one source into one target table."""

    store: str
    source_table: str
    target_table: str
    array_path: str
    watermark: int | None
    byte_offset: int | None
    rows_total: int
    checksum: str | None
    file_size: int | None
    file_mtime_ns: int | None
    run_id: str


def is_dbfold_target(con: sqlite3.Connection) -> bool:
    """Whether the database was made by dbfold migrate (it has the journal table)."""
    row = con.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (TABLE,)
    ).fetchone()
    return row is not None


def ensure(con: sqlite3.Connection) -> None:
    """Create the journal tables if missing (inside the caller's transaction)."""
    for stmt in SCHEMA.split(";"):
        if stmt.strip():
            con.execute(stmt)


def last_done(con: sqlite3.Connection) -> dict[tuple[str, str, str, str], Entry]:
    """The latest ``done`` row per (store, source table, target table, array path)."""
    out: dict[tuple[str, str, str, str], Entry] = {}
    if not is_dbfold_target(con):
        return out
    rows = con.execute(
        f"SELECT store, source_table, target_table, array_path, watermark, byte_offset,"
        f" rows_total, checksum, file_size, file_mtime_ns, run_id FROM {TABLE}"
        " WHERE status = 'done' ORDER BY id"
    ).fetchall()
    for r in rows:
        e = Entry(*r)
        out[(e.store, e.source_table, e.target_table, e.array_path)] = e
    return out


def started(con: sqlite3.Connection, run_id: str, key: tuple[str, str, str, str]) -> None:
    """Record that a copy begins (its own small transaction, before the copy's)."""
    con.execute(
        f"INSERT INTO {TABLE} (run_id, store, source_table, target_table, array_path, status)"
        " VALUES (?, ?, ?, ?, ?, 'started')",
        (run_id, *key),
    )


def done(
    con: sqlite3.Connection,
    run_id: str,
    key: tuple[str, str, str, str],
    *,
    watermark: int | None,
    offset: int | None,
    rows_copied: int,
    rows_total: int,
    checksum: str | None,
    size: int | None,
    mtime_ns: int | None,
) -> None:
    """Record a finished copy (inside the copy's transaction)."""
    con.execute(
        f"INSERT INTO {TABLE} (run_id, store, source_table, target_table, array_path, status,"
        " watermark, byte_offset, rows_copied, rows_total, checksum, file_size, file_mtime_ns,"
        " finished_at) VALUES (?, ?, ?, ?, ?, 'done', ?, ?, ?, ?, ?, ?, ?,"
        " strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
        (run_id, *key, watermark, offset, rows_copied, rows_total, checksum, size, mtime_ns),
    )


def get_meta(con: sqlite3.Connection, key: str) -> str | None:
    """A value of the migrate meta table (plan hash, creation run), or None."""
    try:
        row = con.execute(f"SELECT value FROM {META} WHERE key = ?", (key,)).fetchone()
    except sqlite3.OperationalError:
        return None
    return None if row is None else str(row[0])


def set_meta(con: sqlite3.Connection, key: str, value: str) -> None:
    """Set a value of the migrate meta table."""
    con.execute(f"INSERT OR REPLACE INTO {META} (key, value) VALUES (?, ?)", (key, value))


def file_hash(path: Path, limit: int | None = None) -> str:
    """blake2b of a file's first ``limit`` bytes (all of it by default), streamed."""
    h = hashlib.blake2b(digest_size=16)
    left = limit
    with open(path, "rb") as f:
        while left is None or left > 0:
            n = 1 << 20 if left is None else min(1 << 20, left)
            chunk = f.read(n)
            if not chunk:
                break
            h.update(chunk)
            if left is not None:
                left -= len(chunk)
    return h.hexdigest()


JournalKeyT = tuple[str, str, str, str]
