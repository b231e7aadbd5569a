"""Schema versions: history table, version order, and the automatic migration run.

A migration runs on a dedicated connection with ``PRAGMA foreign_keys=OFF`` (set outside
the transaction, as SQLite's table-rebuild procedure requires) inside one
``BEGIN IMMEDIATE`` transaction. Taking the write lock *before* reading the recorded version
means that when two processes open an outdated database at once, exactly one migrates and
the other, once it gets the lock, finds the new version and does nothing. Any failure rolls
the whole transaction back, so the database is left exactly as it was; the backup taken
beforehand is kept.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dbfold.errors import DataLossError, DbfoldError, SchemaError, SchemaVersionError
from dbfold.runtime.backend import Backend
from dbfold.runtime.connections import ConnectionPool, acquire, retry_busy
from dbfold.runtime.schema import (
    apply_plan,
    desired_snapshot,
    foreign_key_problems,
    plan_changes,
    read_snapshot,
)
from dbfold.runtime.sqltext import split_statements
from dbfold.runtime.timeutil import now_iso, stamp

HISTORY_DDL = """
CREATE TABLE IF NOT EXISTS dbfold_schema_history (
    id INTEGER PRIMARY KEY,
    version TEXT NOT NULL,
    from_version TEXT,
    applied_at TEXT NOT NULL,
    description TEXT NOT NULL,
    checksum TEXT NOT NULL,
    backup_path TEXT
)
"""

_VERSION = re.compile(r"^\d+(\.\d+)*$")

#: A migration: SQL text, or a callable that receives the database object.
Migration = str | Callable[[Any], object]


def pending_migrations(
    spec: SchemaSpec, current: str | None, target: tuple[int, ...]
) -> list[tuple[str, Any]]:
    """The explicit migrations past ``current`` up to ``target``, in version order, as
    (version, migration) pairs (both engines run them; each its own way)."""
    raw = spec.migrations() or {}
    start = version_key(current, "recorded version") if current else ()
    pending = sorted(
        ((version_key(v, f"{spec.owner}.get_migrations() key"), v, m) for v, m in raw.items()),
        key=lambda item: item[0],
    )
    return [(v, m) for key, v, m in pending if start < key <= target]


def version_key(version: str, where: str = "SCHEMA_VERSION") -> tuple[int, ...]:
    """Turn ``"1.10.0"`` into a tuple that sorts numerically (trailing zeros ignored).

    Raises:
        SchemaError: If the version is not dot-separated numbers.

    >>> version_key("1.10.0") > version_key("1.9.0"), version_key("2") == version_key("2.0.0")
    (True, True)
    """
    if not isinstance(version, str) or not _VERSION.match(version):
        raise SchemaError(f"{where} {version!r} is not a version like '1.2.0'; use dotted numbers")
    parts = [int(part) for part in version.split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


@dataclass(frozen=True)
class MigrationResult:
    """What opening the database did to its schema.

    Attributes:
        from_version: The version found (``None``: new or unversioned database).
        to_version: The version now recorded.
        backup_path: The backup taken before changing an existing database.
        steps: One line per change applied (explicit migrations and reconcile steps).
        created: True when the schema was created from scratch.
    """

    from_version: str | None
    to_version: str
    backup_path: Path | None
    steps: tuple[str, ...]
    created: bool


def recorded_version(conn: sqlite3.Connection) -> str | None:
    """The latest version in ``dbfold_schema_history``, or ``None`` if there is none."""
    try:
        row = conn.execute(
            "SELECT version FROM dbfold_schema_history ORDER BY id DESC LIMIT 1"
        ).fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None
        raise
    return None if row is None else str(row[0])


@dataclass
class SchemaSpec:
    """What a ``UnifiedDatabase`` subclass declares about its schema."""

    owner: str  # e.g. "ProjectDatabase"
    version: str | None
    schema: Callable[[], str]
    migrations: Callable[[], Mapping[str, Migration]]
    allow_destructive: bool
    builtin_ddl: Sequence[str]


class MigrationSteps:
    """What both engines' migrators do alike: refuse a newer database, run the explicit
    migrations in order, record the result. A subclass sets ``backend``, ``pool``,
    ``spec`` and ``target`` and says how its connection runs a statement (``_execute``)."""

    backend: Backend
    pool: Any
    spec: SchemaSpec
    target: tuple[int, ...]

    def _execute(self, conn: Any, sql: str, params: tuple[Any, ...] = ()) -> None:
        """Run one statement written for SQLite (``?`` placeholders) on ``conn``."""
        conn.execute(sql, params)

    def _outdated(self, current: str | None) -> bool:
        """Whether a database at ``current`` needs migrating (refusing a newer one)."""
        if current is None:
            return True
        self._refuse_newer(current)
        return version_key(current, "recorded version") != self.target

    def _refuse_newer(self, current: str) -> None:
        if self.spec.version is not None and version_key(current, "recorded version") > self.target:
            raise SchemaVersionError(
                f"{self.backend.location} is at schema version {current}, newer than "
                f"{self.spec.owner}.SCHEMA_VERSION {self.spec.version}; upgrade the code "
                "or restore a backup"
            )

    def _explicit(self, conn: Any, db: Any, current: str | None, backup: Path | None) -> list[str]:
        done: list[str] = []
        for version, migration in pending_migrations(self.spec, current, self.target):
            try:
                if callable(migration):
                    with self.pool.pinned(conn):
                        migration(db)
                else:
                    for statement in split_statements(migration):
                        self._execute(conn, statement)
            except Exception as exc:
                reason = (
                    str(exc) if isinstance(exc, DbfoldError) else f"{type(exc).__name__}: {exc}"
                )
                kept = f", backup kept at {backup}" if backup else ""
                raise SchemaError(
                    f"{self.backend.location}: migration to {version} failed ({reason}); "
                    f"the database is unchanged{kept}"
                ) from exc
            done.append(f"run migration {version}")
        return done

    def _record(
        self, conn: Any, current: str | None, note: str, checksum: str, backup: Path | None
    ) -> None:
        self._execute(
            conn,
            "INSERT INTO dbfold_schema_history "
            "(version, from_version, applied_at, description, checksum, backup_path) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                self.spec.version,
                current,
                now_iso(),
                note,
                checksum,
                str(backup) if backup else None,
            ),
        )


class Migrator(MigrationSteps):
    """Brings one database to the declared schema version.

    Args:
        backend: The database (connections, backup).
        pool: The pool, so callable migrations reach the migration connection.
        spec: The declared schema.
        backup_dir: Where backups go.
        timeout: Seconds to wait for the write lock.
        backup: Take a backup before changing an existing database (default True).
    """

    def __init__(
        self,
        backend: Backend,
        pool: ConnectionPool,
        spec: SchemaSpec,
        backup_dir: Path,
        timeout: float,
        backup: bool = True,
    ) -> None:
        self.backend = backend
        self.take_backup = backup
        self.pool = pool
        self.spec = spec
        self.backup_dir = backup_dir
        self.timeout = timeout
        if spec.version is not None:
            self.target = version_key(spec.version, f"{spec.owner}.SCHEMA_VERSION")

    def needed(self) -> bool:
        """Cheap check without the write lock: is there anything to do?

        Raises:
            SchemaVersionError: If the database is newer than the code.
        """
        conn = self.pool.read_conn()
        try:
            if self.spec.version is None:
                row = conn.execute(
                    "SELECT count(*) FROM sqlite_master WHERE name IN "
                    "('dbfold_schema_history', 'dbfold_operations')"
                ).fetchone()
                return bool(row[0] != 2)
            current = recorded_version(conn)
        except self.backend.errors as exc:
            raise self.backend.wrap(exc, "read the schema version") from exc
        return self._outdated(current)

    def run(self, db: Any) -> MigrationResult | None:
        """Take the write lock, re-check the version and migrate if still needed.

        Args:
            db: The database object handed to callable migrations.

        Returns:
            What was done, or ``None`` when another process had already done it.
        """
        conn = self.backend.connect()
        try:
            # Must be set outside a transaction; inside one SQLite ignores it.
            conn.execute("PRAGMA foreign_keys=OFF")
            acquire(self.pool.write_lock, self.timeout, self.backend.location)
            try:
                retry_busy(
                    self.backend,
                    "lock the database for migration",
                    lambda: conn.execute(self.backend.begin_write),
                    self.timeout,
                )
                try:
                    result = self._locked(conn, db)
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            finally:
                self.pool.write_lock.release()
        except self.backend.errors as exc:
            raise self.backend.wrap(exc, "migrate the schema") from exc
        finally:
            conn.close()
        return result

    def _locked(self, conn: sqlite3.Connection, db: Any) -> MigrationResult | None:
        for ddl in self.spec.builtin_ddl:
            for statement in split_statements(ddl):
                conn.execute(statement)
        spec = self.spec
        if spec.version is None:
            return None
        current = recorded_version(conn)
        if current is not None:
            self._refuse_newer(current)
            if version_key(current, "recorded version") == self.target:
                return None  # another process migrated while we waited for the lock
        script = spec.schema()
        owner = f"{spec.owner}.get_schema()"
        want = desired_snapshot(script, owner)
        checksum = hashlib.sha256(script.encode()).hexdigest()
        if current is None and read_snapshot(conn).empty:
            for statement in split_statements(script):
                conn.execute(statement)
            self._record(conn, None, "created", checksum, None)
            return MigrationResult(
                None, spec.version, None, (f"create schema {spec.version}",), True
            )
        if current is None and not spec.migrations():
            # An unversioned database that already holds exactly the declared schema (a
            # target filled by `dbfold migrate`, or by hand from unified.sql) is adopted:
            # the version is recorded, nothing is changed, so no backup is needed.
            adopt = plan_changes(conn, read_snapshot(conn), want)
            if not adopt.steps and not adopt.losses:
                self._record(conn, None, "adopted an existing matching schema", checksum, None)
                return None
        backup = self._backup(current) if self.take_backup else None
        steps = self._explicit(conn, db, current, backup)
        plan = plan_changes(conn, read_snapshot(conn), want)
        if plan.losses and not spec.allow_destructive:
            lost = "; ".join(str(loss) for loss in plan.losses)
            raise DataLossError(
                f"{self.backend.location}: migrating to {spec.version} would lose {lost}; "
                f"move the data in get_migrations() or set {spec.owner}.ALLOW_DESTRUCTIVE = True"
            )
        steps += apply_plan(conn, plan)
        problems = foreign_key_problems(conn)
        if problems:
            raise SchemaError(
                f"{self.backend.location}: migrating to {spec.version} breaks foreign keys "
                f"({'; '.join(problems)}); fix the rows in get_migrations()"
            )
        note = f"migrated from {current or 'an unversioned schema'}: {len(steps)} changes"
        self._record(conn, current, note, checksum, backup)
        return MigrationResult(current, spec.version, backup, tuple(steps), False)

    def _backup(self, current: str | None) -> Path:
        path = Path(self.backend.location)
        name = f"{path.stem}-{current or 'unversioned'}-{stamp()}{path.suffix or '.db'}"
        destination = self.backup_dir / name
        try:
            self.backend.backup(destination)
        except (OSError, *self.backend.errors) as exc:  # type: ignore[misc]
            raise SchemaError(
                f"{self.backend.location}: backup to {destination} failed ({exc}); "
                "nothing was changed; free space or pass backup_dir"
            ) from exc
        return destination


__all__ = [
    "HISTORY_DDL",
    "Migration",
    "MigrationResult",
    "MigrationSteps",
    "Migrator",
    "SchemaSpec",
    "recorded_version",
    "version_key",
]
