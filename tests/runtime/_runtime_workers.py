"""Schemas and process entry points shared by the runtime tests (importable by children)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from dbfold.runtime import UnifiedDatabase

ITEMS_NEUTRAL = """
CREATE TABLE parents (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE items (
    id INTEGER PRIMARY KEY,
    parent_id INTEGER REFERENCES parents (id) ON DELETE CASCADE,
    name TEXT,
    price TEXT,
    data JSON,
    deleted_at TEXT
);
CREATE INDEX items_name ON items (name);
CREATE VIEW item_names AS SELECT id, name FROM items;
"""
# Triggers are outside the subset that runs on both engines (SQLite's trigger bodies have
# no PostgreSQL equivalent), so the SQLite runs alone declare one.
ITEMS_V1 = (
    ITEMS_NEUTRAL
    + """
CREATE TRIGGER items_touch AFTER UPDATE OF name ON items BEGIN
    UPDATE parents SET name = name WHERE id = new.parent_id;
END;
"""
)


def is_pg(db: UnifiedDatabase) -> bool:
    """Whether ``db`` runs on PostgreSQL."""
    return db.location.startswith("postgresql://")


class ItemsV1(UnifiedDatabase):
    SCHEMA_VERSION = "1.0.0"

    def get_schema(self) -> str:
        return ITEMS_NEUTRAL if is_pg(self) else ITEMS_V1


class ItemsV2(UnifiedDatabase):
    """Adds a column to items (ALTER TABLE ADD COLUMN) and a table."""

    SCHEMA_VERSION = "1.1.0"

    def get_schema(self) -> str:
        return ItemsV1.get_schema(self).replace(
            "    deleted_at TEXT\n", "    deleted_at TEXT,\n    note TEXT\n"
        ) + ("CREATE TABLE tags (id INTEGER PRIMARY KEY, tag TEXT);")


def record_operations(path: str, count: int, kind: str) -> None:
    """Child process: record ``count`` operations in the database at ``path``."""
    with UnifiedDatabase(path) as db:
        for n in range(count):
            op = db.start_operation(kind, n=n)
            db.complete_operation(op.operation_id, n=n)


def bump_counter(target: str, count: int) -> None:
    """Process: read-modify-write the counter row ``count`` times, each in a transaction."""
    with UnifiedDatabase(target) as db:
        for _ in range(count):
            with db.transaction():
                n = db.scalar("SELECT n FROM counter WHERE id = 1")
                db.update("counter", 1, n=n + 1)


def use_inherited(db: UnifiedDatabase, count: int, kind: str) -> None:
    """Forked child: keep using the parent's database object (must reconnect itself)."""
    for n in range(count):
        with db.operation(kind, n=n):
            pass


def open_v2(path: str) -> None:
    """Child process: open the database with the newer schema (migrating it if needed)."""
    ItemsV2(path).close()


def hang_in_operation(path: str, ready: str) -> None:
    """Child process: start an operation, checkpoint it, signal, then wait to be killed."""
    db = UnifiedDatabase(path)
    op = db.start_operation("crawl", site="example")
    op.checkpoint({"page": 41})
    Path(ready).write_text(str(op.operation_id))
    while True:  # killed by the test
        time.sleep(0.05)


if __name__ == "__main__":  # pragma: no cover - manual debugging aid
    record_operations(sys.argv[1], int(sys.argv[2]), f"manual-{os.getpid()}")
