"""A short guided run of the runtime for ``dbfold demo``: threads, operations, migration.

:func:`tour` prints nothing; it returns a :class:`TourResult` for the CLI to show.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from dbfold.runtime.database import UnifiedDatabase
from dbfold.runtime.operations import OperationStats

_V1_SCHEMA = """
CREATE TABLE pages (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL UNIQUE,
    data JSON,
    deleted_at TEXT
);
CREATE TABLE metrics (
    id INTEGER PRIMARY KEY,
    page_id INTEGER NOT NULL REFERENCES pages (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    value REAL
);
CREATE INDEX metrics_page ON metrics (page_id);
"""

# Version 1.1.0 adds a column and a table: the runtime migrates automatically, after a backup.
_V2_SCHEMA = _V1_SCHEMA.replace(
    "    value REAL\n", "    value REAL,\n    unit TEXT NOT NULL DEFAULT ''\n"
) + (
    "CREATE TABLE tags (id INTEGER PRIMARY KEY, page_id INTEGER REFERENCES pages (id), "
    "tag TEXT NOT NULL);\n"
)


class TourDatabaseV1(UnifiedDatabase):
    """The tour's first schema."""

    SCHEMA_VERSION = "1.0.0"

    def get_schema(self) -> str:
        return _V1_SCHEMA


class TourDatabaseV2(UnifiedDatabase):
    """The tour's second schema: one more column, one more table."""

    SCHEMA_VERSION = "1.1.0"

    def get_schema(self) -> str:
        return _V2_SCHEMA


@dataclass(frozen=True)
class TourResult:
    """What the tour did.

    Attributes:
        database: The database file.
        operations: Operations recorded (all threads).
        threads: How many threads recorded them.
        stats: Per kind: counts and p50/p95 durations.
        from_version: Schema version before the migration.
        to_version: Schema version after it.
        migration_steps: The changes the migration applied.
        backup_path: The backup taken before migrating.
        elapsed: Seconds for the whole tour.
    """

    database: Path
    operations: int
    threads: int
    stats: dict[str, OperationStats]
    from_version: str | None
    to_version: str | None
    migration_steps: tuple[str, ...]
    backup_path: Path | None
    elapsed: float


def tour(directory: Path, threads: int = 4, per_thread: int = 250) -> TourResult:
    """Create a database in ``directory``, record operations from threads, then migrate.

    Args:
        directory: Where to put ``unified.db`` (created if missing).
        threads: How many writer threads.
        per_thread: Operations each thread records.

    Returns:
        The tour's figures.
    """
    began = time.perf_counter()
    path = Path(directory) / "unified.db"
    errors: list[BaseException] = []
    with TourDatabaseV1(path) as db:

        def work(worker: int) -> None:
            try:
                for n in range(per_thread):
                    kind = "enhance" if n % 3 else "import"
                    with db.operation(kind, worker=worker, item=n):
                        if kind == "import":
                            db.upsert("pages", "title", title=f"page {worker}-{n}", data={"n": n})
            except BaseException as exc:  # reported after join; a thread cannot raise
                errors.append(exc)
            finally:
                db.release()

        workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join()
        if errors:
            raise errors[0]
    with TourDatabaseV2(path) as db:
        migration = db.last_migration
        stats = db.operation_stats()
    return TourResult(
        database=path,
        operations=threads * per_thread,
        threads=threads,
        stats=stats,
        from_version=migration.from_version if migration else None,
        to_version=migration.to_version if migration else None,
        migration_steps=migration.steps if migration else (),
        backup_path=migration.backup_path if migration else None,
        elapsed=time.perf_counter() - began,
    )


__all__ = ["TourResult", "tour"]
