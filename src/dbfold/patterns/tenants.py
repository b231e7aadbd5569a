"""``TenantDatabase``: one database, many tenants, raw SQL enforced by SQLite itself.

Every table of ``get_schema()`` with a ``tenant_id`` column (the name is
``TENANT_COLUMN``) is tenant-scoped. Its rows are reachable only inside
``with db.scope(tenant) as t:`` (that tenant's rows, whatever the SQL) or inside
``with db.admin(reason="…"):`` (everything, recorded in the operations log)::

    class Shop(TenantDatabase):
        SCHEMA_VERSION = "1.0.0"

        def get_schema(self) -> str:
            return (
                "CREATE TABLE items (id INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL, "
                "name TEXT, UNIQUE (tenant_id, name));"
            )

    db = Shop("data/shop.db")
    db.create_tenant("acme")
    with db.scope("acme") as t:
        t.insert("items", name="anvil")
        t.query("SELECT i.name FROM items i JOIN items j ON j.id = i.id")  # acme's only

How it is enforced (SQLite), and why this way
----------------------------------------------
Each connection gets, once per schema generation, a TEMP view per tenant table with the
table's own name (``temp.items`` = ``SELECT * FROM main.items WHERE tenant_id =
dbfold_tenant()``), TEMP copies of the user's views (so their unqualified names reach the
filtering views), TEMP guard triggers on each tenant table, and an authorizer callback.
Unqualified names resolve to ``temp`` before ``main``, so every read construct that SQLite
supports (joins, correlated subqueries, recursive CTEs, compounds, windows, views) reads
the filtered views without any rewriting. The authorizer is the proof rather than the
mechanism: it is told, for each column read, which view caused the read, so inside a scope
it refuses any read of a tenant table that does not come through its filtering view,
every ``sqlite_master``/PRAGMA/ATTACH/DDL/temp object and ``load_extension``. A missed
case therefore fails closed (:class:`TenantScopeError`) instead of leaking.

Writes need the base table (UPDATE/DELETE through a view would need INSTEAD OF triggers,
which lose ``rowcount``, ``lastrowid``, upserts and RETURNING). So an INSERT, UPDATE,
DELETE, REPLACE or upsert on a tenant table is rewritten with sqlglot: its target becomes
``main.<table>``, UPDATE/DELETE get ``AND tenant_id = dbfold_tenant()``, an INSERT gets
the tenant column stamped. Only that target may be touched directly (the authorizer checks
the table against the statement's rewritten target); subqueries inside the write still
resolve to the views. The guard triggers catch what the rewrite cannot see: a row of
another tenant updated or deleted, or a row inserted with another tenant's id. The
authorizer refuses any SET of the tenant column or of the rowid key.

Keys: every UNIQUE key of a tenant table must include the tenant column (checked when the
database opens, :class:`~dbfold.errors.SchemaError` otherwise), and explicit rowid values
are refused in a scope. Then an upsert or REPLACE can only collide with the same tenant's
rows: another tenant's row is neither modified nor revealed, because no collision with it
is possible.

Prepared statements: Python's sqlite3 caches them per connection, and an authorization is
decided when a statement is prepared. Whenever a connection moves between modes (closed,
scope, admin, internal) the authorizer is set again, which makes SQLite expire every
prepared statement of that connection, so nothing authorized in ``admin()`` runs later
without being authorized again. The tenant itself is read at run time by the
``dbfold_tenant()`` function from the calling thread's state, never stored in a
statement, so a cached statement cannot carry one tenant's id into another scope.

sqlglot rewriting of every statement was the alternative; it needs the rewriter to be
complete for every read construct, and a construct it misses leaks. Here reads are
SQLite's own name resolution checked by SQLite's own authorizer, and only write targets
are rewritten.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import sqlglot
from sqlglot import exp

from dbfold.errors import DbfoldError, RuntimeDatabaseError, SchemaError
from dbfold.runtime.backend import quote_ident
from dbfold.runtime.database import UnifiedDatabase
from dbfold.runtime.jsoncols import Result, Row, TableInfo, is_json_type
from dbfold.runtime.timeutil import now_iso

TenantId = str | int


class TenantScopeError(DbfoldError):
    """A statement reached tenant data outside its scope, or used something a scope refuses."""


TENANTS_DDL = (
    "CREATE TABLE IF NOT EXISTS dbfold_tenants ("
    "id PRIMARY KEY NOT NULL, metadata JSON, created_at TEXT NOT NULL, deleted_at TEXT)"
)

_GUARD = "dbfold-tenant:"  # prefix of the guard triggers' messages, recognised on the way out
_READ_START = re.compile(r"\s*(select|values)\b", re.IGNORECASE)
_WRITE_START = re.compile(r"\s*(insert|update|delete|replace|with)\b", re.IGNORECASE)
_REPLACE = re.compile(r"^\s*replace\b", re.IGNORECASE)
_VIEW_WRITE = re.compile(r"cannot modify (.+) because it is a view")
_ROWID_NAMES = frozenset({"rowid", "oid", "_rowid_"})

# Authorizer action codes a scope allows; everything else (DDL, PRAGMA, ATTACH …) is refused.
_SCOPE_ACTIONS = frozenset(
    {
        sqlite3.SQLITE_DELETE,
        sqlite3.SQLITE_INSERT,
        sqlite3.SQLITE_READ,
        sqlite3.SQLITE_SELECT,
        sqlite3.SQLITE_UPDATE,
        sqlite3.SQLITE_FUNCTION,
        sqlite3.SQLITE_RECURSIVE,
        # The runtime's own BEGIN/SAVEPOINT; a scope refuses them as text before SQLite.
        sqlite3.SQLITE_TRANSACTION,
        sqlite3.SQLITE_SAVEPOINT,
    }
)
_TEMP_CREATE = frozenset(
    {
        sqlite3.SQLITE_CREATE_TEMP_INDEX,
        sqlite3.SQLITE_CREATE_TEMP_TABLE,
        sqlite3.SQLITE_CREATE_TEMP_TRIGGER,
        sqlite3.SQLITE_CREATE_TEMP_VIEW,
    }
)
_DATA_ACTIONS = frozenset(
    {sqlite3.SQLITE_READ, sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE}
)
_SCHEMA_TABLES = frozenset({"sqlite_master", "sqlite_schema", "sqlite_temp_master"}) | {
    "sqlite_temp_schema"
}

_CLOSED, _SCOPE, _ADMIN, _SYSTEM = "closed", "scope", "admin", "system"


def _allow_all(*_args: Any) -> int:
    return sqlite3.SQLITE_OK


class _Thread(threading.local):
    """One thread's tenant context (thread-local, so it never crosses threads)."""

    def __init__(self) -> None:
        self.tenant: TenantId | None = None
        self.admin = 0
        self.system = 0
        #: The tenant table the statement being run may write directly (rewritten writes).
        self.target: str | None = None
        #: Why the authorizer refused the last statement (turned into TenantScopeError).
        self.denied: str | None = None


@dataclass
class _Meta:
    """What the enforcement needs to know about the schema, read once per generation."""

    tables: dict[str, str] = field(default_factory=dict)  # lower name -> name
    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    rowid_key: dict[str, str | None] = field(default_factory=dict)
    views: list[tuple[str, str]] = field(default_factory=list)  # (name, select sql)
    triggers: frozenset[str] = frozenset()
    info: dict[str, TableInfo] = field(default_factory=dict)


class TenantDatabase(UnifiedDatabase):
    """A :class:`UnifiedDatabase` whose tenant tables are reachable only through a scope.

    Subclass it, set ``SCHEMA_VERSION`` and ``get_schema()`` as usual; tables with a
    ``TENANT_COLUMN`` column are tenant-scoped. SQLite only for now.

    Raises:
        SchemaError: A UNIQUE key of a tenant table lacks the tenant column.
    """

    #: The column that marks a table tenant-scoped and holds the tenant of each row.
    TENANT_COLUMN: ClassVar[str] = "tenant_id"

    def __init__(self, target: str | Path | None = None, **options: Any) -> None:
        # Set before the base opens the schema: its migration calls back into _invalidate.
        self._ctx = _Thread()
        self._gen = 0
        self._meta: _Meta | None = None
        self._meta_gen = -1
        self._conns: dict[int, list[Any]] = {}  # id(conn) -> [conn, mode, generation, views]
        self._meta_lock = threading.Lock()
        self._active: set[TenantId] = set()
        super().__init__(target, **options)

    def _open_schema(self) -> None:
        if self._pg:
            raise RuntimeDatabaseError(
                f"{self.location}: TenantDatabase runs on SQLite for now; use a SQLite target"
            )
        with self._system():
            super()._open_schema()
            super()._write(TENANTS_DDL, ())
        self._invalidate()
        with self._system():
            self._load_meta(self._pool.read_conn())

    # -- modes and connections ----------------------------------------------------------

    def _mode(self) -> str:
        ctx = self._ctx
        if ctx.system:
            return _SYSTEM
        if ctx.tenant is not None:
            return _SCOPE
        return _ADMIN if ctx.admin else _CLOSED

    @contextmanager
    def _system(self) -> Iterator[None]:
        """The library's own metadata reads and bookkeeping: nothing refused."""
        self._ctx.system += 1
        try:
            yield
        finally:
            self._ctx.system -= 1

    def _invalidate(self) -> None:
        super()._invalidate()
        self._gen += 1

    def _sync(self, conn: Any) -> None:
        """Bring one connection to this thread's mode before a statement runs on it."""
        mode = self._mode()
        views = mode != _ADMIN
        rec = self._conns.get(id(conn))
        if rec is None or rec[0] is not conn or rec[2] != self._gen or rec[3] != views:
            self._setup(conn, views)
            rec = self._conns[id(conn)]
        if rec[1] != mode:
            # Setting the authorizer expires every prepared statement of the connection, so
            # no statement authorized in another mode (admin, say) is reused in this one.
            conn.set_authorizer(self._authorize)
            rec[1] = mode

    def _setup(self, conn: Any, views: bool) -> None:
        """Create (again) this connection's function, filtering views and guard triggers.

        In ``admin()`` the views are left out, so that plain names reach the tables again.
        """
        gen = self._gen
        # Allow everything while dbfold sets the connection up. (Not None: Python 3.10's
        # sqlite3 does not take None as "no authorizer", and then refuses every statement.)
        conn.set_authorizer(_allow_all)
        conn.create_function("dbfold_tenant", 0, self._current_tenant)
        meta = self._load_meta(conn)
        tc = quote_ident(self.TENANT_COLUMN)
        temp = conn.execute(
            "SELECT type, name FROM sqlite_temp_master WHERE type IN ('view', 'trigger')"
        ).fetchall()
        statements = [f"DROP {kind.upper()} IF EXISTS temp.{quote_ident(n)}" for kind, n in temp]
        for low, name in meta.tables.items():
            q = quote_ident(name)
            guard = quote_ident(f"dbfold_guard_{low}")
            if views:
                statements.append(
                    f"CREATE TEMP VIEW {q} AS SELECT * FROM main.{q} WHERE {tc} = dbfold_tenant()"
                )
            statements.append(
                f"CREATE TEMP TRIGGER {guard[:-1]}_i" + '"'
                f" BEFORE INSERT ON main.{q} WHEN dbfold_tenant() IS NOT NULL AND "
                f"NEW.{tc} IS NOT dbfold_tenant() BEGIN SELECT RAISE(ABORT, "
                f"'{_GUARD} a row of another tenant cannot be written from this scope'); END"
            )
            statements.append(
                f"CREATE TEMP TRIGGER {guard[:-1]}_u" + '"'
                f" BEFORE UPDATE ON main.{q} WHEN dbfold_tenant() IS NOT NULL AND "
                f"(OLD.{tc} IS NOT dbfold_tenant() OR NEW.{tc} IS NOT OLD.{tc}) BEGIN "
                f"SELECT RAISE(ABORT, '{_GUARD} the tenant of a row cannot change'); END"
            )
            statements.append(
                f"CREATE TEMP TRIGGER {guard[:-1]}_d" + '"'
                f" BEFORE DELETE ON main.{q} WHEN dbfold_tenant() IS NOT NULL AND "
                f"OLD.{tc} IS NOT dbfold_tenant() BEGIN SELECT RAISE(ABORT, "
                f"'{_GUARD} a row of another tenant cannot be deleted from this scope'); END"
            )
        for name, select in meta.views if views else ():
            statements.append(f"CREATE TEMP VIEW {quote_ident(name)} AS {select}")
        for sql in statements:
            conn.execute(sql)
        self._conns[id(conn)] = [conn, None, gen, views]

    def _load_meta(self, conn: Any) -> _Meta:
        with self._meta_lock:
            if self._meta is not None and self._meta_gen == self._gen:
                return self._meta
            gen = self._gen
            meta = _read_meta(conn, self.TENANT_COLUMN, type(self).__name__)
            self._meta, self._meta_gen = meta, gen
            return meta

    def _current_tenant(self) -> TenantId | None:
        return self._ctx.tenant

    def _authorize(
        self, action: int, arg1: str | None, arg2: str | None, db: str | None, source: str | None
    ) -> int:
        ctx = self._ctx
        if ctx.system:
            return sqlite3.SQLITE_OK
        if action in _TEMP_CREATE:
            # Temporary objects outlive modes on a pooled connection: only ours may exist.
            return self._deny("temporary objects are refused by TenantDatabase")
        meta = self._meta
        tables = meta.tables if meta is not None else {}
        if ctx.tenant is None:
            if ctx.admin:
                return sqlite3.SQLITE_OK
            table = arg1 if action in _DATA_ACTIONS or action == sqlite3.SQLITE_DROP_TABLE else None
            if action == sqlite3.SQLITE_ALTER_TABLE:
                table = arg2
            if table is not None and table.lower() in tables:
                return self._deny(
                    f"table {table!r} is tenant-scoped; use 'with db.scope(tenant)' "
                    "(or 'with db.admin(reason=...)')"
                )
            return sqlite3.SQLITE_OK
        if action not in _SCOPE_ACTIONS:
            return self._deny("schema changes, PRAGMA, ATTACH and DETACH are refused in a scope")
        if action == sqlite3.SQLITE_FUNCTION:
            if (arg2 or "").lower() == "load_extension":
                return self._deny("load_extension is refused in a scope")
            return sqlite3.SQLITE_OK
        if action not in _DATA_ACTIONS or arg1 is None:
            return sqlite3.SQLITE_OK
        low = arg1.lower()
        if low in _SCHEMA_TABLES or low.startswith("dbfold_"):
            return self._deny(f"{arg1} cannot be read in a scope")
        if low not in tables or meta is None:
            return sqlite3.SQLITE_OK
        origin = (source or "").lower()
        if action == sqlite3.SQLITE_READ:
            if db == "temp" or origin == low or origin in meta.triggers:
                return sqlite3.SQLITE_OK  # our filtering view, or trusted schema triggers
            if origin.startswith("dbfold_guard_"):
                return sqlite3.SQLITE_OK
            if source is None and ctx.target is not None:
                # A rewritten write: its target (filtered by the rewrite) or the foreign-key
                # checks of that write; a user's subquery cannot name main, and unqualified
                # names reach the views, whose reads name the view as their source.
                return sqlite3.SQLITE_OK
            return self._deny(f"{arg1} can only be read through the scope's view")
        if db != "main":
            return self._deny(f"write to {arg1} was not rewritten for the scope")
        if action == sqlite3.SQLITE_UPDATE and arg2 is not None:
            column = arg2.lower()
            if column == self.TENANT_COLUMN.lower():
                return self._deny(f"{self.TENANT_COLUMN} cannot be changed in a scope")
            if column == (meta.rowid_key.get(low) or "").lower() or column in _ROWID_NAMES:
                return self._deny(f"the key {arg2!r} cannot be changed in a scope")
        if ctx.target == low or origin in meta.triggers or origin.startswith("dbfold_guard_"):
            return sqlite3.SQLITE_OK
        if source is None and ctx.target is not None:
            # A foreign-key action (ON DELETE CASCADE …) of a rewritten write; the guard
            # triggers still check every row it touches.
            return sqlite3.SQLITE_OK
        return self._deny(f"write to {arg1} was not rewritten for the scope")

    def _deny(self, why: str) -> int:
        self._ctx.denied = why
        return sqlite3.SQLITE_DENY

    def _scope_error(self, exc: BaseException) -> BaseException:
        """The error to raise for a failed statement: TenantScopeError for our refusals."""
        ctx = self._ctx
        why, ctx.denied = ctx.denied, None
        text = str(exc)
        if why is not None and ("prohibited" in text or "not authorized" in text):
            return TenantScopeError(f"{self.location}: {why or 'statement refused'}")
        found = _VIEW_WRITE.search(text)
        meta = self._meta
        if found and meta is not None and found[1].lower() in meta.tables:
            # Outside a scope a plain name reaches the (closed) view, which SQLite refuses
            # to write before asking the authorizer.
            return TenantScopeError(
                f"{self.location}: table {found[1]!r} is tenant-scoped; use "
                "'with db.scope(tenant)' (or 'with db.admin(reason=...)')"
            )
        if _GUARD in text:
            detail = text.split(_GUARD, 1)[1].split(";")[0].strip()
            return TenantScopeError(f"{self.location}: {detail}")
        return exc

    # -- the base class's primitives, with the connection brought to the mode -----------

    def _select(self, sql: str, params: Any) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
        self._sync(self._pool.read_conn())
        self._ctx.denied = None
        try:
            return super()._select(sql, params)
        except DbfoldError as exc:
            error = self._scope_error(exc)
            if error is exc:
                raise
            raise error from exc

    def _write(self, sql: str, params: Any) -> Any:
        pool = self._pool
        lock = pool.write_lock  # re-entrant: the base takes it again
        from dbfold.runtime.connections import acquire

        if not lock.acquire(False):
            acquire(lock, self._timeout, self.location)
        try:
            st = pool.state()
            self._sync(st.tx if st.depth else pool.writer())
            self._ctx.denied = None
            try:
                return super()._write(sql, params)
            except DbfoldError as exc:
                error = self._scope_error(exc)
                if error is exc:
                    raise
                raise error from exc
        finally:
            lock.release()

    @contextmanager
    def transaction(self) -> Iterator[UnifiedDatabase]:
        """As :meth:`UnifiedDatabase.transaction`; a rollback also redoes temp objects."""
        with super().transaction() as db:
            conn = self._pool.state().tx
            self._sync(conn)
            try:
                yield db
            except BaseException:
                # The rollback may undo temp objects created inside the transaction.
                rec = self._conns.get(id(conn))
                if rec is not None:
                    rec[2] = -1
                raise

    def connection(self) -> Any:
        """This thread's raw connection, brought to the current mode (see the base)."""
        conn = super().connection()
        self._sync(conn)
        return conn

    def table_info(self, table: str) -> TableInfo:
        """As :meth:`UnifiedDatabase.table_info`; a tenant table is described from ``main``."""
        meta = self._meta
        if meta is None or meta.info.get(table.lower()) is None or self._meta_gen != self._gen:
            with self._system():
                meta = self._load_meta(self._pool.read_conn())
        found = meta.info.get(table.lower())
        if found is not None:
            return found
        with self._system():
            return super().table_info(table)

    def _json_column_names(self) -> dict[str, bool]:
        with self._system():
            return super()._json_column_names()

    # -- tenants ------------------------------------------------------------------------

    def create_tenant(self, tenant_id: TenantId, metadata: Mapping[str, Any] | None = None) -> None:
        """Register a tenant (a scope can only be opened for a registered tenant).

        Raises:
            TenantScopeError: The id is already registered (a deleted one too).
        """
        _check_id(tenant_id)
        with self._system():
            if self._read("SELECT 1 FROM dbfold_tenants WHERE id = ?", (tenant_id,)):
                raise TenantScopeError(f"{self.location}: tenant {tenant_id!r} already exists")
            with self.operation("tenant.create", tenant=tenant_id):
                super()._write(
                    "INSERT INTO dbfold_tenants (id, metadata, created_at) VALUES (?, ?, ?)",
                    (tenant_id, None if metadata is None else _json(metadata), now_iso()),
                )

    def tenants(self, *, include_deleted: bool = False) -> list[Row]:
        """The registered tenants (``id``, ``metadata``, ``created_at``, ``deleted_at``)."""
        where = "" if include_deleted else " WHERE deleted_at IS NULL"
        with self._system():
            return self.query(f"SELECT * FROM dbfold_tenants{where} ORDER BY created_at, id")

    def delete_tenant(self, tenant_id: TenantId, *, hard: bool = False) -> int:
        """Close a tenant; with ``hard=True`` also remove its rows everywhere.

        A soft delete keeps the rows and refuses new scopes. A hard delete removes the
        tenant's rows from every tenant table, the operations recorded for it and its
        registration, in one transaction.

        Returns:
            How many rows of tenant tables were removed (0 for a soft delete).

        Raises:
            TenantScopeError: Unknown tenant.
        """
        self._active.discard(tenant_id)
        with self._system():
            if not self._read("SELECT 1 FROM dbfold_tenants WHERE id = ?", (tenant_id,)):
                raise TenantScopeError(f"{self.location}: no tenant {tenant_id!r}")
            if not hard:
                super()._write(
                    "UPDATE dbfold_tenants SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL",
                    (now_iso(), tenant_id),
                )
                return 0
            removed = 0
            meta = self._load_meta(self._pool.read_conn())
            tc = quote_ident(self.TENANT_COLUMN)
            with self.transaction():
                # Children and parents are both tenant rows: check foreign keys at commit.
                super()._write("PRAGMA defer_foreign_keys = ON", ())
                for name in meta.tables.values():
                    cursor = super()._write(
                        f"DELETE FROM main.{quote_ident(name)} WHERE {tc} = ?", (tenant_id,)
                    )
                    removed += cursor.rowcount
                super()._write(
                    "DELETE FROM dbfold_operations WHERE json_extract(metadata, '$.tenant') = ?",
                    (tenant_id,),
                )
                super()._write("DELETE FROM dbfold_tenants WHERE id = ?", (tenant_id,))
            return removed

    def scope(self, tenant_id: TenantId) -> TenantScope:
        """Work as one tenant: every statement through the scope sees only its rows.

        Use it as ``with db.scope(tenant) as t:``; the context is this thread's alone and is
        cleared when the block ends, by an exception too.

        Raises:
            TenantScopeError: Unknown or deleted tenant, or a scope or admin block already
                open in this thread.
        """
        return TenantScope(self, tenant_id)

    def _enter(self, tenant_id: TenantId) -> None:
        ctx = self._ctx
        if ctx.tenant is not None or ctx.admin:
            raise TenantScopeError(
                f"{self.location}: a scope or admin block is already open in this thread; "
                "leave it first"
            )
        if tenant_id not in self._active:
            # Registered tenants are remembered by this object (create/delete_tenant keep
            # it current), so opening a scope costs no query; a miss asks the database.
            with self._system():
                found = self._read(
                    "SELECT 1 FROM dbfold_tenants WHERE id = ? AND deleted_at IS NULL",
                    (tenant_id,),
                )
            if not found:
                raise TenantScopeError(
                    f"{self.location}: no tenant {tenant_id!r}; create_tenant() it"
                )
            self._active.add(tenant_id)
        if self._json_names is None:
            with self._system():
                self._json_column_names()  # so a scoped query never reads the schema
        ctx.tenant = tenant_id

    def _leave(self) -> None:
        ctx = self._ctx
        ctx.tenant = None
        ctx.target = None

    @contextmanager
    def admin(self, *, reason: str) -> Iterator[TenantDatabase]:
        """Reach every tenant's rows for a while; recorded in the operations log.

        Raises:
            TenantScopeError: No reason given, or called inside a scope.
        """
        if not reason or not reason.strip():
            raise TenantScopeError(f"{self.location}: admin() needs a reason; say why")
        if self._ctx.tenant is not None:
            raise TenantScopeError(f"{self.location}: admin() inside a scope; leave the scope")
        with self.operation("tenant.admin", reason=reason):
            self._ctx.admin += 1
            try:
                yield self
            finally:
                self._ctx.admin -= 1

    # -- what a scope runs -------------------------------------------------------------

    def _scoped_sql(self, sql: str) -> tuple[str, str | None]:
        """The statement to run in a scope, and the tenant table it may write."""
        if _READ_START.match(sql):
            return sql, None
        if not _WRITE_START.match(sql):
            raise TenantScopeError(
                f"{self.location}: only SELECT, VALUES, WITH, INSERT, UPDATE, DELETE and "
                "REPLACE run in a scope"
            )
        meta = self._meta
        assert meta is not None
        return _rewrite(sql, self.TENANT_COLUMN, self._gen, _Frozen(meta))


class _Frozen:
    """A hashable handle on one generation's metadata, for the rewrite cache."""

    def __init__(self, meta: _Meta) -> None:
        self.meta = meta

    def __hash__(self) -> int:
        return id(self.meta)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Frozen) and other.meta is self.meta


class TenantScope:
    """What ``with db.scope(tenant) as t:`` gives: the data API, confined to one tenant."""

    def __init__(self, db: TenantDatabase, tenant_id: TenantId) -> None:
        self._db = db
        self.tenant_id = tenant_id

    def __enter__(self) -> TenantScope:
        self._db._enter(self.tenant_id)
        return self

    def __exit__(self, *exc: object) -> None:
        self._db._leave()

    def _check(self) -> None:
        if self._db._ctx.tenant != self.tenant_id:
            raise TenantScopeError(
                f"{self._db.location}: this scope is closed (or belongs to another thread)"
            )

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> Result:
        """Run one statement as this tenant; writes are confined to its rows."""
        self._check()
        db = self._db
        text, target = db._scoped_sql(sql)
        if target is None and _READ_START.match(text):
            rows = db.query(text, params, decode_json=False)
            return Result(-1, None, [tuple(r) for r in rows], None)
        db._ctx.target = target
        try:
            return db.execute(text, params)
        finally:
            db._ctx.target = None

    def query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[Row]:
        """Rows of a statement (usually a SELECT) as this tenant."""
        db = self._db
        if db._ctx.tenant != self.tenant_id:
            self._check()
        if _READ_START.match(sql):
            return db.query(sql, params)
        text, target = db._scoped_sql(sql)
        if target is None:
            return db.query(text, params)
        db._ctx.target = target
        try:
            result = db.execute(text, params)
        finally:
            db._ctx.target = None
        names = tuple(d[0] for d in result.description or ())
        from dbfold.runtime.jsoncols import decode_rows

        return decode_rows(names, result.fetchall(), db._json_positions(names))

    def query_one(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> Row | None:
        """The first row, or ``None``."""
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> Any:
        """The first column of the first row, or ``None``."""
        rows = self.query(sql, params)
        return rows[0][0] if rows else None

    def _table(self, table: str) -> str:
        meta = self._db._meta
        if meta is None or table.lower() not in meta.tables:
            raise TenantScopeError(f"{self._db.location}: {table!r} is not a tenant table")
        return meta.tables[table.lower()]

    def insert(self, table: str, /, **values: Any) -> int | None:
        """Insert one row for this tenant (the tenant column is stamped); returns its id."""
        self._check()
        db = self._db
        name = self._table(table)
        tc = db.TENANT_COLUMN
        given = values.pop(tc, self.tenant_id)
        if given != self.tenant_id:
            raise TenantScopeError(f"{db.location}: {tc} of another tenant in insert()")
        info = db.table_info(name)
        cols = ", ".join(quote_ident(c) for c in values)
        marks = ", ".join("?" * len(values))
        sep = ", " if values else ""
        sql = (
            f"INSERT INTO main.{quote_ident(name)} ({cols}{sep}{quote_ident(tc)}) "
            f"VALUES ({marks}{sep}dbfold_tenant())"
        )
        key = db._meta.rowid_key.get(name.lower()) if db._meta else None
        if key is not None and values.get(key) is not None:
            raise TenantScopeError(f"{db.location}: ids are assigned by the database in a scope")
        db._ctx.target = name.lower()
        try:
            rowid = db.execute(sql, info.encode(values)).lastrowid
        finally:
            db._ctx.target = None
        return rowid if info.has_rowid else None

    def update(self, table: str, where: Mapping[str, Any] | int | str, /, **values: Any) -> int:
        """Update this tenant's rows matching ``where``; returns how many changed."""
        self._check()
        name = self._table(table)
        sql, params = self._db.update_sql(name, where, **values)
        return self.execute(sql, params).rowcount

    def delete(self, table: str, where: Mapping[str, Any] | int | str, /) -> int:
        """Delete this tenant's rows matching ``where``; returns how many went."""
        self._check()
        db = self._db
        name = self._table(table)
        clause, params = db._where(db.table_info(name), where)
        if not clause:
            raise TenantScopeError(f"{db.location}: delete() needs a condition")
        return self.execute(f"DELETE FROM {quote_ident(name)}{clause}", params).rowcount

    def get(self, table: str, row_id: Any, /) -> Row | None:
        """This tenant's row with this key, or ``None`` (also for another tenant's row)."""
        self._check()
        db = self._db
        name = self._table(table)
        info = db.table_info(name)
        return self.query_one(
            f"SELECT * FROM {quote_ident(name)} WHERE {quote_ident(info.key_column)} = ?",
            (row_id,),
        )


# -- schema facts ---------------------------------------------------------------------


def _read_meta(conn: Any, tenant_column: str, owner: str) -> _Meta:
    meta = _Meta()
    want = tenant_column.lower()
    master = conn.execute(
        "SELECT type, name, sql FROM main.sqlite_master WHERE type IN ('table', 'view', "
        "'trigger') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid"
    ).fetchall()
    triggers = set()
    for kind, name, sql in master:
        if kind == "trigger":
            triggers.add(str(name).lower())
            continue
        if kind == "view":
            if not str(name).lower().startswith("dbfold_"):
                meta.views.append((str(name), _view_select(str(sql))))
            continue
        if str(name).lower().startswith("dbfold_"):
            continue
        info = conn.execute(f"PRAGMA main.table_xinfo({quote_ident(name)})").fetchall()
        if want not in (str(r[1]).lower() for r in info):
            continue
        low = str(name).lower()
        meta.tables[low] = str(name)
        meta.columns[low] = tuple(str(r[1]) for r in info if r[6] == 0)
        keys = [r for r in info if r[5]]
        without_rowid = bool(sql) and bool(re.search(r"\bwithout\s+rowid\s*$", str(sql), re.I))
        alias = (
            str(keys[0][1])
            if len(keys) == 1 and str(keys[0][2]).upper() == "INTEGER" and not without_rowid
            else None
        )
        meta.rowid_key[low] = alias
        # The base class would describe the TEMP view of the same name; describe the table.
        meta.info[low] = TableInfo(
            name=str(name),
            columns=tuple(str(r[1]) for r in info),
            json_columns=frozenset(str(r[1]).lower() for r in info if is_json_type(r[2] or "")),
            primary_key=str(keys[0][1]) if len(keys) == 1 else None,
            soft_delete="deleted_at" in (str(r[1]).lower() for r in info),
            has_rowid=not without_rowid,
        )
        for index in conn.execute(f"PRAGMA main.index_list({quote_ident(name)})").fetchall():
            if not index[2]:
                continue
            cols = [
                str(r[2]).lower()
                for r in conn.execute(f"PRAGMA main.index_info({quote_ident(index[1])})")
            ]
            if want not in cols:
                raise SchemaError(
                    f"{owner}: table {name!r} is tenant-scoped but its key ({', '.join(cols)}) "
                    f"leaves out {tenant_column}; declare it UNIQUE ({tenant_column}, …) so "
                    "one tenant's key cannot collide with another's"
                )
    meta.triggers = frozenset(triggers)
    return meta


def _view_select(sql: str) -> str:
    """The SELECT of a ``CREATE VIEW`` statement, to recreate it as a TEMP view."""
    tree = sqlglot.parse_one(sql, read="sqlite")
    body = tree.expression if isinstance(tree, exp.Create) else None
    if body is None:
        raise SchemaError(f"cannot read the view {sql[:60]!r}; simplify it")
    return str(body.sql(dialect="sqlite"))


# -- rewriting writes -----------------------------------------------------------------


@lru_cache(maxsize=512)
def _rewrite(sql: str, tenant_column: str, gen: int, frozen: _Frozen) -> tuple[str, str | None]:
    """A write on a tenant table, aimed at ``main`` and confined to the scope's tenant."""
    meta = frozen.meta
    text = _REPLACE.sub("INSERT OR REPLACE", sql, count=1)
    try:
        trees = sqlglot.parse(text, read="sqlite")
    except sqlglot.errors.ParseError as exc:
        raise TenantScopeError(f"a scope cannot read this statement: {exc}") from exc
    if len(trees) != 1 or trees[0] is None:
        raise TenantScopeError("a scope runs one statement at a time")
    tree = trees[0]
    if isinstance(tree, exp.Select | exp.SetOperation):
        return sql, None
    if not isinstance(tree, exp.Insert | exp.Update | exp.Delete):
        raise TenantScopeError("only SELECT, INSERT, UPDATE and DELETE run in a scope")
    for table in tree.find_all(exp.Table):
        if table.args.get("db") or table.args.get("catalog"):
            raise TenantScopeError(
                f"schema-qualified name {table.sql(dialect='sqlite')!r} in a scope; "
                "leave out the schema"
            )
    holder = tree.this
    target = holder.this if isinstance(holder, exp.Schema) else holder
    if not isinstance(target, exp.Table):
        raise TenantScopeError("a scope cannot tell which table this statement writes")
    low = target.name.lower()
    if low not in meta.tables:
        return sql, None
    name = meta.tables[low]
    tc = tenant_column
    ref = target.alias_or_name
    target.set("db", exp.to_identifier("main"))
    if isinstance(tree, exp.Update | exp.Delete):
        cond = exp.EQ(
            this=exp.column(tc, table=ref, quoted=True),
            expression=exp.Anonymous(this="dbfold_tenant", expressions=[]),
        )
        tree.where(cond, copy=False)
    else:
        _stamp_insert(tree, holder, target, meta, low, tc)
    out = tree.sql(dialect="sqlite")
    return out, name.lower()


def _stamp_insert(
    tree: exp.Insert, holder: exp.Expression, target: exp.Table, meta: _Meta, low: str, tc: str
) -> None:
    if isinstance(holder, exp.Schema):
        columns = [c.name for c in holder.expressions]
    else:
        columns = [] if tree.args.get("default") else list(meta.columns[low])
        holder = exp.Schema(this=target.copy(), expressions=[])
        tree.set("this", holder)
    lowered = [c.lower() for c in columns]
    key = (meta.rowid_key.get(low) or "").lower()
    source = tree.expression
    for pos, col in enumerate(lowered):
        if col in _ROWID_NAMES or (key and col == key):
            rows = source.expressions if isinstance(source, exp.Values) else None
            if rows is None or not all(
                isinstance(r, exp.Tuple) and isinstance(r.expressions[pos], exp.Null) for r in rows
            ):
                raise TenantScopeError("ids are assigned by the database in a scope")
    holder.set("expressions", [exp.to_identifier(c, quoted=True) for c in columns])
    if tc.lower() in lowered:
        return  # given explicitly: the guard trigger checks that it is this tenant's
    holder.append("expressions", exp.to_identifier(tc, quoted=True))
    stamp = exp.Anonymous(this="dbfold_tenant", expressions=[])
    if tree.args.get("default") or source is None:
        tree.set("default", False)
        tree.set("expression", exp.Values(expressions=[exp.Tuple(expressions=[stamp])]))
    elif isinstance(source, exp.Values):
        for row in source.expressions:
            row.append("expressions", stamp.copy())
    else:
        inner = exp.Subquery(this=source.copy())
        tree.set("expression", exp.select(exp.Star(), stamp).from_(inner))


def _check_id(tenant_id: Any) -> None:
    if isinstance(tenant_id, bool) or not isinstance(tenant_id, str | int) or tenant_id == "":
        raise TenantScopeError(f"tenant id {tenant_id!r} must be a non-empty str or an int")


def _json(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True)


__all__ = ["TenantDatabase", "TenantScope", "TenantScopeError"]
