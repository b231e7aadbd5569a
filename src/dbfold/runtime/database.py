"""``UnifiedDatabase``: the base class a project's database subclasses.

A subclass declares its schema and version; opening it creates or migrates the database
(with a backup first), and then offers a small data API, nestable transactions, JSON
columns, soft deletes and an operation log::

    class ProjectDatabase(UnifiedDatabase):
        SCHEMA_VERSION = "1.0.0"

        def get_schema(self) -> str:
            return "CREATE TABLE metrics (id INTEGER PRIMARY KEY, name TEXT, data JSON);"

    with ProjectDatabase("data/unified.db") as db:
        with db.operation("import", source="metrics.csv") as op:
            db.insert("metrics", name="speed", data={"value": 3})
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar

from dbfold.errors import RuntimeDatabaseError, SchemaError
from dbfold.runtime.backend import Backend, SqliteBackend, open_backend, quote_ident
from dbfold.runtime.connections import ConnectionPool, acquire, retry_busy
from dbfold.runtime.data import DataMixin, Params
from dbfold.runtime.dialect import pg_create_table, to_pg
from dbfold.runtime.jsoncols import Result, Row, TableInfo, decode_rows, encode_params, is_json_type
from dbfold.runtime.operations import (
    OPERATIONS_DDL,
    Operation,
    OperationLog,
    OperationRecord,
    OperationStats,
)
from dbfold.runtime.schema import desired_snapshot, plan_changes, read_snapshot
from dbfold.runtime.sqltext import parse_create_table, split_statements
from dbfold.runtime.timeutil import stamp
from dbfold.runtime.versions import (
    HISTORY_DDL,
    Migration,
    MigrationResult,
    Migrator,
    SchemaSpec,
    recorded_version,
)

_DDL = re.compile(r"^\s*(create|alter|drop)\b", re.IGNORECASE)
_CREATE_TABLE = re.compile(r"^\s*create\s+table\b", re.IGNORECASE)


class UnifiedDatabase(DataMixin):
    """One unified database: connections, schema versions, data API, operation log.

    Args:
        target: A path, ``sqlite:///relative.db``, ``sqlite:////absolute.db`` or
            ``postgresql://user@host/database``; default ``data/unified.db``. Parent
            folders of a SQLite file are created.
        backup_dir: Where migration backups go; default ``.dbfold/backups`` beside the
            target (SQLite) or in the current directory (PostgreSQL, ``pg_dump -Fc`` files).
        backup: Take a backup before migrating an existing database (default True).
        max_connections: At most this many connections (one per thread) at once; further
            threads wait for one to be released.
        busy_timeout: Seconds to wait for other writers (or a free connection) before
            failing with :class:`~dbfold.runtime.exceptions.DatabaseBusyError`.

    Raises:
        TargetError: Unknown scheme, unusable folder, a file that is not a SQLite database,
            or a PostgreSQL server that does not answer or refuses the credentials.
        SchemaError: ``get_schema()`` is malformed or cannot be applied.
        SchemaVersionError: The database is newer than ``SCHEMA_VERSION``.
        DataLossError: The new schema would drop data and ``ALLOW_DESTRUCTIVE`` is False.
    """

    #: The schema version this code expects; ``None`` leaves user tables alone.
    SCHEMA_VERSION: ClassVar[str | None] = None
    #: Allow migrations that drop tables or columns holding data.
    ALLOW_DESTRUCTIVE: ClassVar[bool] = False

    def __init__(
        self,
        target: str | Path | None = None,
        *,
        backup_dir: str | Path | None = None,
        backup: bool = True,
        max_connections: int = 16,
        busy_timeout: float = 30.0,
    ) -> None:
        self._backend: Backend = open_backend(target, busy_timeout)
        self._backend.prepare()
        self._timeout = busy_timeout
        self._pg = self._backend.name == "postgresql"
        # A ConnectionPool (SQLite: per-thread readers, one writer) or a PgPool (PostgreSQL:
        # a connection per unit of work); both give state(), pinned(), release(), close().
        self._pool: Any
        if self._pg:
            from dbfold.runtime.pg_backend import PgPool, PostgresBackend

            assert isinstance(self._backend, PostgresBackend)
            self._pool = PgPool(self._backend, max_connections, busy_timeout)
        else:
            self._pool = ConnectionPool(self._backend, max_connections, busy_timeout)
        self._errors = self._backend.errors
        self._take_backup = backup
        self._tables: dict[str, TableInfo] = {}
        self._json_names: dict[str, bool] | None = None
        self._positions: dict[tuple[str, ...], tuple[int, ...]] = {}
        self._ops = OperationLog(
            self._pool, self._write, self._read, self.location, self._backend.name
        )
        if backup_dir is not None:
            self.backup_dir = Path(backup_dir)
        elif self._pg:
            self.backup_dir = Path(".dbfold") / "backups"
        else:
            self.backup_dir = self.path.parent / ".dbfold" / "backups"
        #: What opening did to the schema (``None``: it was already current).
        self.last_migration: MigrationResult | None = None
        try:
            self._open_schema()
        except BaseException:
            self._pool.close()
            raise

    # -- lifecycle ----------------------------------------------------------------------

    @property
    def location(self) -> str:
        """Where the database is (a path, or a URL without its password), as in messages."""
        return self._backend.location

    @property
    def path(self) -> Path:
        """The database file."""
        if isinstance(self._backend, SqliteBackend):
            return self._backend.path
        raise RuntimeDatabaseError(f"{self.location} is not a file database")

    def _open_schema(self) -> None:
        owner = type(self).__name__
        if self.SCHEMA_VERSION is None and type(self).get_schema is not UnifiedDatabase.get_schema:
            raise SchemaError(
                f"{owner} defines get_schema() but no SCHEMA_VERSION; set SCHEMA_VERSION = '1.0.0'"
            )
        spec = SchemaSpec(
            owner=owner,
            version=self.SCHEMA_VERSION,
            schema=self.get_schema,
            migrations=self.get_migrations,
            allow_destructive=self.allow_destructive(),
            builtin_ddl=(HISTORY_DDL, OPERATIONS_DDL),
        )
        migrator: Any
        if self._pg:
            from dbfold.runtime.pg_schema import PgMigrator

            backups = self.backup_dir if self._take_backup else None
            migrator = PgMigrator(self._backend, self._pool, spec, backups)  # type: ignore[arg-type]
        else:
            migrator = Migrator(
                self._backend, self._pool, spec, self.backup_dir, self._timeout, self._take_backup
            )
        if migrator.needed():
            self.last_migration = migrator.run(self)
            self._invalidate()

    def close(self) -> None:
        """Close every connection. Using the object afterwards raises RuntimeDatabaseError."""
        self._pool.close()

    def release(self) -> None:
        """Return this thread's connection to the pool (for threads that are done)."""
        self._pool.release()

    def connection(self) -> Any:
        """This thread's raw driver connection (autocommit; prefer :meth:`transaction`).

        On PostgreSQL connections are lent per unit of work, so this is only available
        inside a :meth:`transaction` block (the block's connection).
        """
        if self._pg:
            st = self._pool.state()
            if st.tx is None:
                raise RuntimeDatabaseError(
                    f"{self.location}: on PostgreSQL connection() is only available inside "
                    "'with db.transaction()'; use it there"
                )
            return st.tx
        return self._pool.read_conn()

    def __enter__(self) -> UnifiedDatabase:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.location!r})"

    # -- what subclasses declare --------------------------------------------------------

    def get_schema(self) -> str:
        """The full desired schema as SQL (CREATE TABLE/INDEX/VIEW/TRIGGER statements)."""
        return ""

    def get_migrations(self) -> Mapping[str, Migration]:
        """Explicit steps per version: ``{"1.1.0": "UPDATE …"}`` or ``{"1.1.0": callable}``.

        Every migration newer than the recorded version and not newer than
        ``SCHEMA_VERSION`` runs in version order before the automatic reconcile, in the same
        transaction. A callable receives this database object; use ``db.execute`` etc.
        """
        return {}

    def get_adapters(self) -> dict[str, type[Any]]:
        """Legacy adapters by name (see ``dbfold.adapters``); none by default."""
        return {}

    def allow_destructive(self) -> bool:
        """Whether migrations may drop data; returns ``ALLOW_DESTRUCTIVE`` by default."""
        return self.ALLOW_DESTRUCTIVE

    # -- core statements ----------------------------------------------------------------

    def _write(self, sql: str, params: Params) -> Any:
        # The hot path: one thread-local lookup, one lock, one statement on the writer.
        # Callers compute the values before the lock, so that their Python work overlaps
        # the other threads' statements (SQLite runs without the GIL) instead of
        # lengthening the queue on the lock.
        if self._pg:
            return self._pg_write(sql, params)
        pool = self._pool
        st = pool.state()
        if st.depth:
            try:
                return st.tx.execute(sql, params)
            except self._errors as exc:
                raise self._backend.wrap(exc, _action(sql)) from exc
        lock = pool.write_lock  # read each time: a forked child gets a new one
        if not lock.acquire(False):  # the uncontended case without the timed wait's cost
            acquire(lock, self._timeout, self.location)
        try:
            conn = pool.writer()
            try:
                return conn.execute(sql, params)
            except self._errors as exc:
                if not self._backend.is_busy(exc):
                    raise self._backend.wrap(exc, _action(sql)) from exc
                return retry_busy(
                    self._backend, _action(sql), lambda: conn.execute(sql, params), self._timeout
                )
        finally:
            lock.release()

    def _write_rows(self, sql: str, params: Params) -> Result:
        """Like :meth:`_write`, but fetch any rows while still holding the lock.

        The writer connection is shared: a cursor left half-read would keep a statement
        open on it after the lock is released.
        """
        if self._pg:
            return self._pg_write(sql, params)
        lock = self._pool.write_lock  # re-entrant: _write takes it again
        if not lock.acquire(False):
            acquire(lock, self._timeout, self.location)
        try:
            cursor = self._write(sql, params)
            try:
                rows = cursor.fetchall() if cursor.description else []
            except self._errors as exc:
                raise self._backend.wrap(exc, _action(sql)) from exc
            return Result(cursor.rowcount, cursor.lastrowid, rows, cursor.description)
        finally:
            lock.release()

    def _pg_write(self, sql: str, params: Params) -> Result:
        """One statement on PostgreSQL: on the transaction's connection, or on one borrowed
        for it alone; rows are read before the connection goes back."""
        text = to_pg(sql)
        st = self._pool.state()
        try:
            if st.depth:
                cursor = st.tx.execute(text, params)
                rows = cursor.fetchall() if cursor.description else []
                return Result(cursor.rowcount, None, rows, cursor.description)

            def once() -> Result:
                with self._pool.connection() as conn:
                    cursor = conn.execute(text, params)
                    rows = cursor.fetchall() if cursor.description else []
                    return Result(cursor.rowcount, None, rows, cursor.description)

            try:
                return once()
            except self._errors as exc:
                if not self._backend.is_busy(exc):
                    raise
                # A deadlock or serialization failure of a lone statement: safe to retry.
                return retry_busy(self._backend, _action(sql), once, self._timeout)
        except self._errors as exc:
            raise self._backend.wrap(exc, _action(sql)) from exc

    def _pg_select(self, sql: str, params: Params) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
        text = to_pg(sql)
        st = self._pool.state()
        try:
            if st.depth:
                cursor = st.tx.execute(text, params)
                rows = cursor.fetchall()
            else:
                with self._pool.connection() as conn:
                    cursor = conn.execute(text, params)
                    rows = cursor.fetchall()
        except self._errors as exc:
            raise self._backend.wrap(exc, _action(sql)) from exc
        return tuple([d[0] for d in cursor.description or ()]), rows

    def _select(self, sql: str, params: Params) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
        if self._pg:
            return self._pg_select(sql, params)
        conn = self._pool.read_conn()
        try:
            cursor = conn.execute(sql, params)
            rows = cursor.fetchall()
        except self._errors as exc:
            if not self._backend.is_busy(exc):
                raise self._backend.wrap(exc, _action(sql)) from exc

            def again() -> Any:
                return conn.execute(sql, params)

            cursor = retry_busy(self._backend, _action(sql), again, self._timeout)
            rows = cursor.fetchall()
        return tuple([d[0] for d in cursor.description or ()]), rows

    def _read(self, sql: str, params: Params) -> list[tuple[Any, ...]]:
        return self._select(sql, params)[1]

    def execute(self, sql: str, params: Params | Mapping[str, Any] = ()) -> Result:
        """Run one statement (any kind) under the write lock.

        Dicts and lists among the parameters are bound as JSON text.

        Args:
            sql: One SQL statement with ``?`` (or ``:name``) placeholders.
            params: A sequence (or mapping) of values.

        Returns:
            A cursor-like result: ``rowcount``, ``lastrowid``, ``fetchone()``, ``fetchall()``
            (rows are read at once, while the write lock is held).
        """
        if self._pg and _CREATE_TABLE.match(sql):
            # The neutral subset works here too: SQLite types become PostgreSQL's.
            sql = pg_create_table(sql)
        result = self._write_rows(sql, encode_params(params))
        if _is_ddl(sql):
            self._invalidate()
        return result

    def executemany(self, sql: str, seq_of_params: Iterable[Params]) -> int:
        """Run one statement for many parameter sets in one transaction; returns rowcount."""
        with self.transaction():
            st = self._pool.state()
            try:
                if self._pg:
                    cursor = st.tx.cursor()
                    cursor.executemany(to_pg(sql), [encode_params(p) for p in seq_of_params])
                    return int(cursor.rowcount)
                count: int = st.tx.executemany(
                    sql, (encode_params(p) for p in seq_of_params)
                ).rowcount
            except self._errors as exc:
                raise self._backend.wrap(exc, _action(sql)) from exc
        return count

    def executescript(self, script: str) -> None:
        """Run several statements in one transaction (all or nothing)."""
        with self.transaction():
            for statement in split_statements(script):
                self._write(statement, ())
        self._invalidate()

    def query(
        self, sql: str, params: Params | Mapping[str, Any] = (), *, decode_json: bool = True
    ) -> list[Row]:
        """Run a query and return every row as a :class:`Row` (by index and by name).

        Columns declared ``JSON`` come back decoded. For an arbitrary query the column is
        recognized by its result name: a name that is a JSON column in every table having
        it is decoded (pass ``decode_json=False`` to get raw text). Filter on JSON fields
        with SQLite's JSON functions::

            db.query("SELECT * FROM events WHERE json_extract(data, '$.user') = ?", ("ann",))

        On PostgreSQL JSON columns are ``jsonb``: filter with ``->>`` (text of a field) or
        containment ``@>`` (``?`` is always a placeholder, so use ``jsonb_exists``)::

            db.query("SELECT * FROM events WHERE data ->> 'user' = ?", ("ann",))
            db.query("SELECT * FROM events WHERE data @> ?::jsonb", ('{"tags": ["x"]}',))

        Args:
            sql: A SELECT (or any statement returning rows).
            params: Placeholder values.
            decode_json: Decode JSON columns (default True).
        """
        names, rows = self._select(sql, encode_params(params))
        if not (decode_json and rows):
            return decode_rows(names, rows, ())
        return decode_rows(names, rows, self._json_positions(names))

    def query_one(self, sql: str, params: Params | Mapping[str, Any] = ()) -> Row | None:
        """The first row of a query, or ``None``."""
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Params | Mapping[str, Any] = ()) -> Any:
        """The first column of the first row, or ``None`` when there is no row."""
        rows = self._read(sql, encode_params(params))
        return rows[0][0] if rows else None

    @contextmanager
    def transaction(self) -> Iterator[UnifiedDatabase]:
        """Group writes atomically; nested blocks become savepoints.

        The outermost block takes the write lock at once (``BEGIN IMMEDIATE``), so it never
        fails half-way with "database is locked". An exception rolls back the innermost block
        and propagates.
        """
        st = self._pool.state()
        if st.depth:
            conn = st.tx
            name = quote_ident(f"dbfold_sp_{st.depth}")
            self._run(conn, f"SAVEPOINT {name}")
            st.depth += 1
            try:
                yield self
            except BaseException:
                self._run(conn, f"ROLLBACK TO {name}")
                self._run(conn, f"RELEASE {name}")
                raise
            else:
                self._run(conn, f"RELEASE {name}")
            finally:
                st.depth -= 1
            return
        if self._pg:
            yield from self._pg_transaction(st)
            return
        lock = self._pool.write_lock
        acquire(lock, self._timeout, self.location)
        try:
            conn = self._pool.writer()
            retry_busy(
                self._backend,
                "begin a transaction",
                lambda: conn.execute(self._backend.begin_write),
                self._timeout,
            )
            st.depth, st.tx = 1, conn
            try:
                yield self
            except BaseException:
                if conn.in_transaction:
                    self._run(conn, "ROLLBACK")
                raise
            try:
                conn.execute("COMMIT")
            except self._errors as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise self._backend.wrap(exc, "commit") from exc
        finally:
            st.depth, st.tx = 0, None
            lock.release()

    def _pg_transaction(self, st: Any) -> Iterator[UnifiedDatabase]:
        """The outermost block on PostgreSQL: one borrowed connection, pinned to this thread.

        The advisory lock serializes blocks among themselves, in every process, as SQLite's
        write lock does, so a read-modify-write in a block never loses an update.
        """
        try:
            with self._pool.connection() as conn:
                conn.execute(f"BEGIN; SELECT pg_advisory_xact_lock({self._pool.tx_key})")
                st.depth, st.tx = 1, conn
                try:
                    yield self
                except BaseException:
                    if conn.info.transaction_status.name in ("INTRANS", "INERROR"):
                        conn.execute("ROLLBACK")
                    raise
                finally:
                    st.depth, st.tx = 0, None
                conn.execute("COMMIT")
        except self._errors as exc:
            raise self._backend.wrap(exc, "transaction") from exc

    def _run(self, conn: Any, sql: str) -> None:
        try:
            conn.execute(sql)
        except self._errors as exc:
            raise self._backend.wrap(exc, sql) from exc

    # -- table metadata -----------------------------------------------------------------

    def _invalidate(self) -> None:
        self._tables = {}
        self._json_names = None
        self._positions = {}

    def _json_positions(self, names: tuple[str, ...]) -> tuple[int, ...]:
        """Which result columns :meth:`query` decodes, worked out once per column shape."""
        positions = self._positions.get(names)
        if positions is None:
            known = self._json_column_names()
            positions = tuple(pos for pos, name in enumerate(names) if known.get(name.lower()))
            if len(self._positions) >= 1024:  # arbitrary SQL has no bound on shapes
                self._positions = {}
            self._positions[names] = positions
        return positions

    def table_info(self, table: str) -> TableInfo:
        """Describe a table or view: columns, JSON columns, key column, soft deletes.

        Raises:
            RuntimeDatabaseError: If there is no such table.
        """
        info = self._tables.get(table.lower())
        if info is not None:
            return info
        if self._pg:
            return self._pg_table_info(table)
        rows = self._read(f"PRAGMA table_xinfo({quote_ident(table)})", ())
        if not rows:
            raise RuntimeDatabaseError(
                f"{self.location}: no table {table!r}; check the name or add it to get_schema()"
            )
        master = self._read(
            "SELECT name, type, sql FROM sqlite_master WHERE name = ? COLLATE NOCASE", (table,)
        )
        name, kind, sql = master[0] if master else (table, "table", None)
        parsed = parse_create_table(sql) if kind == "table" and sql else None
        keys = sorted((r[5], r[1]) for r in rows if r[5])
        columns = tuple(str(r[1]) for r in rows)
        info = TableInfo(
            name=str(name),
            columns=columns,
            json_columns=frozenset(str(r[1]).lower() for r in rows if is_json_type(r[2] or "")),
            primary_key=keys[0][1] if len(keys) == 1 else None,
            soft_delete="deleted_at" in (c.lower() for c in columns),
            has_rowid=kind == "table" and not (parsed is not None and parsed.without_rowid),
        )
        self._tables[table.lower()] = info
        return info

    def _pg_table_info(self, table: str) -> TableInfo:
        rows = self._read(
            "SELECT c.relname, c.relkind, a.attname, format_type(a.atttypid, a.atttypmod), "
            "(SELECT count(*) FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary "
            "AND a.attnum = ANY(i.indkey)), "
            "(SELECT i.indnatts FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary) "
            "FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid "
            "WHERE c.relnamespace = current_schema()::regnamespace "
            "AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND lower(c.relname) = lower(?) "
            "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY c.relname <> ?, c.oid, a.attnum",
            (table, table),
        )
        if not rows:
            raise RuntimeDatabaseError(
                f"{self.location}: no table {table!r}; check the name or add it to get_schema()"
            )
        name = rows[0][0]
        rows = [r for r in rows if r[0] == name]  # one table even if names differ by case
        keys = [str(r[2]) for r in rows if r[4] and r[5] == 1]
        columns = tuple(str(r[2]) for r in rows)
        info = TableInfo(
            name=str(name),
            columns=columns,
            json_columns=frozenset(str(r[2]).lower() for r in rows if is_json_type(r[3])),
            primary_key=keys[0] if keys else None,
            soft_delete="deleted_at" in (c.lower() for c in columns),
            # insert() returns the key through RETURNING, which needs a one-column key.
            has_rowid=bool(keys),
        )
        self._tables[table.lower()] = info
        return info

    def _json_column_names(self) -> dict[str, bool]:
        known = self._json_names
        if known is None and self._pg:
            known = {}
            for name, is_json in self._read(
                "SELECT lower(a.attname), format_type(a.atttypid, a.atttypmod) IN "
                "('json', 'jsonb') FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                "WHERE c.relnamespace = current_schema()::regnamespace "
                "AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND a.attnum > 0 "
                "AND NOT a.attisdropped",
                (),
            ):
                known[name] = known.get(name, is_json) and is_json
            self._json_names = known
        if known is None:
            known = {}
            for (name,) in self._read(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')", ()
            ):
                info = self.table_info(name)
                for col in info.columns:
                    key = col.lower()
                    is_json = key in info.json_columns
                    known[key] = known.get(key, is_json) and is_json
            self._json_names = known
        return known

    # -- schema -------------------------------------------------------------------------

    @property
    def schema_version(self) -> str | None:
        """The version recorded in the database (``None`` if unversioned)."""
        if self._pg:
            from dbfold.runtime.pg_schema import pg_recorded_version

            try:
                with self._pool.connection() as conn:
                    return pg_recorded_version(conn)
            except self._errors as exc:
                raise self._backend.wrap(exc, "read the schema version") from exc
        try:
            return recorded_version(self._pool.read_conn())
        except self._errors as exc:
            raise self._backend.wrap(exc, "read the schema version") from exc

    def schema_history(self) -> list[Row]:
        """Every recorded schema version, oldest first."""
        return self.query("SELECT * FROM dbfold_schema_history ORDER BY id")

    def plan_schema_changes(self) -> list[str]:
        """Dry run: what reconciling the live schema with ``get_schema()`` would do now."""
        if self._pg:
            return self._pg_plan()
        want = desired_snapshot(self.get_schema(), f"{type(self).__name__}.get_schema()")
        conn = self._pool.read_conn()
        return plan_changes(conn, read_snapshot(conn), want).describe()

    def _pg_plan(self) -> list[str]:
        from dbfold.runtime.pg_schema import PgMigrator

        spec = SchemaSpec(
            type(self).__name__,
            self.SCHEMA_VERSION,
            self.get_schema,
            self.get_migrations,
            self.allow_destructive(),
            (),
        )
        migrator = PgMigrator(self._backend, self._pool, spec, None)  # type: ignore[arg-type]
        try:
            with self._pool.connection() as conn:
                conn.execute("BEGIN")
                try:
                    return migrator.plan(conn).describe()
                finally:
                    conn.execute("ROLLBACK")
        except self._errors as exc:
            raise self._backend.wrap(exc, "plan schema changes") from exc

    def backup(self, destination: str | Path | None = None) -> Path:
        """Write a consistent copy of the database (online; writers keep going).

        On PostgreSQL this is ``pg_dump -Fc`` of the database's schema (restore it with
        ``pg_restore``); ``pg_dump`` must be on the PATH.

        Args:
            destination: The file to write; default a timestamped file in ``backup_dir``.

        Returns:
            The backup's path.
        """
        if destination is not None:
            path = Path(destination)
        elif self._pg:
            path = self.backup_dir / f"{getattr(self._backend, 'dbname', 'db')}-{stamp()}.dump"
        else:
            path = self.backup_dir / f"{self.path.stem}-{stamp()}{self.path.suffix or '.db'}"
        try:
            self._backend.backup(path)
        except (OSError, *self._errors) as exc:  # type: ignore[misc]
            raise RuntimeDatabaseError(
                f"{self.location}: backup to {path} failed ({exc}); choose another destination"
            ) from exc
        return path

    # -- operations ---------------------------------------------------------------------

    def start_operation(
        self, kind: str, /, *, parent_id: int | None = None, **metadata: Any
    ) -> Operation:
        """Record the start of a piece of work and return its context.

        Args:
            kind: What kind of work (``"migrate"``, ``"enhance"`` …).
            parent_id: The enclosing operation; default the innermost open
                ``with db.operation(…)`` block of this thread.
            **metadata: Stored as JSON with the operation.

        Returns:
            The running operation; ``.operation_id`` identifies it.
        """
        return self._ops.start(kind, parent_id, metadata)

    def complete_operation(self, operation_id: int, /, **result: Any) -> None:
        """Mark an operation completed, storing ``result``.

        Raises:
            OperationError: Unknown id, or the operation already finished.
        """
        self._ops.finish(operation_id, "completed", result, None)

    def fail_operation(self, operation_id: int, error: BaseException | str, /) -> None:
        """Mark an operation failed with an error message or exception.

        Raises:
            OperationError: Unknown id, or the operation already finished.
        """
        self._ops.finish(operation_id, "failed", None, error)

    def operation(self, kind: str, /, **metadata: Any) -> Operation:
        """Start an operation for a ``with`` block: completed on exit, failed on exception.

        The exception is recorded (with the duration) and re-raised. Operations started in
        the block record this one as their parent.
        """
        return self._ops.start(kind, None, metadata)

    def checkpoint_operation(self, operation_id: int, data: Any, /) -> None:
        """Store progress (any JSON value) for a running operation."""
        self._ops.checkpoint(operation_id, data)

    def get_operation(self, operation_id: int, /) -> OperationRecord:
        """Read one operation. Raises OperationError for an unknown id."""
        return self._ops.get(operation_id)

    def incomplete_operations(self, kind: str | None = None) -> list[OperationRecord]:
        """Running and abandoned operations with their last checkpoint, oldest first.

        Operations left running by a process that is gone (same host) are marked abandoned
        first, so after a crash the returned records say where to resume.
        """
        return self._ops.incomplete(kind)

    def resume_operation(self, operation_id: int, /) -> Operation:
        """Take over an abandoned (or failed) operation; ``.resumed_checkpoint`` holds its
        last checkpoint."""
        return self._ops.resume(operation_id)

    def mark_abandoned_operations(self) -> int:
        """Mark running operations of dead processes on this host abandoned; returns count."""
        return self._ops.mark_abandoned()

    def operation_stats(
        self, kind: str | None = None, since: datetime | timedelta | None = None
    ) -> dict[str, OperationStats]:
        """Per kind: count, completed, failures, running, abandoned, p50/p95 seconds.

        Args:
            kind: Only this kind.
            since: Only operations started after this moment (or within this span).
        """
        return self._ops.stats(kind, since)


#: The name the design documents use for the base class.
UnifiedDatabaseBase = UnifiedDatabase


def _is_ddl(sql: str) -> bool:
    """Whether a statement changes the schema (then cached table metadata is dropped)."""
    return _DDL.match(sql) is not None


def _action(sql: str) -> str:
    text = " ".join(sql.split())
    return f"statement {text[:70]!r}" if len(text) <= 70 else f"statement {text[:67] + '...'!r}"


__all__ = ["UnifiedDatabase", "UnifiedDatabaseBase"]
