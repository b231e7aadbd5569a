"""``LegacyConnection``: a real ``sqlite3.Connection`` onto the unified database that speaks
one legacy store's schema.

The connection *is* a ``sqlite3.Connection`` (a subclass), opened on the unified database
file, so transactions, ``isolation_level``, ``in_transaction``, ``row_factory`` (including
``sqlite3.Row``), ``text_factory``, ``create_function``, the context manager, thread checks
and every error class behave exactly as sqlite3's own. Only the statements change: each is
translated once (see :mod:`dbfold.adapters.rewrite`, cached per text) and the translation
runs on the real connection, so cursors, ``description``, ``rowcount`` and iteration are the
driver's.

``lastrowid`` is the unified table's rowid, which for every table that kept its
``INTEGER PRIMARY KEY`` is the legacy id. For a merged table (primary key
``(discriminator, id)``) it is the legacy ``id`` of the inserted row — the value the legacy
store would have returned, and the one that finds the row again through the adapter.

Stores that were separate files now share one file and so one write lock: while one legacy
connection holds an uncommitted write, a write through another waits ``timeout`` seconds
and then fails with :class:`StoreLockedError` (a ``sqlite3.OperationalError``, "database is
locked", as before) naming both stores and what to do. When the holder is a connection that
only this thread may use, waiting cannot help (this thread would have to commit it), so the
error comes at once. Sharing one writer connection between the legacy connections (one
savepoint each) was considered and rejected: savepoints nest, so committing the first
store's work would also commit, or release the savepoint of, every store that began after
it, and a rollback could no longer undo one store's writes alone.

A connection belongs to the process that opened it. After ``os.fork()`` the child inherits
SQLite's per-file lock bookkeeping but not the POSIX locks themselves, so what it wrote
through an inherited connection, or through a new one to a file the parent had open, could
be lost or corrupt the file (sqlite.org/howtocorrupt.html §2.7). Both raise
:class:`ForkedConnectionError` in the child; an inherited connection is never closed there
either (closing could checkpoint or delete the parent's WAL), not even at exit.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, cast
from urllib.parse import parse_qsl, quote, unquote

from dbfold.adapters.mapping import SEQUENCE_DDL, SEQUENCE_TABLE, StoreMap, TableMap
from dbfold.adapters.rewrite import Translation, translator_for
from dbfold.errors import AdapterError
from dbfold.model import Analysis
from dbfold.plan import Plan
from dbfold.provenance import install
from dbfold.runtime.backend import quote_ident
from dbfold.runtime.sqltext import split_statements
from dbfold.sqlitefiles import inherited_at_fork

__all__ = [
    "ForkedConnectionError",
    "LegacyConnection",
    "LegacyCursor",
    "StoreLockedError",
    "connect",
    "store_map",
]

Params = Any  # what sqlite3 accepts: a sequence or a mapping

_new_cursor = sqlite3.Connection.cursor
_cursor_execute = sqlite3.Cursor.execute

#: ``sqlite3.LEGACY_TRANSACTION_CONTROL`` where the running Python has ``autocommit`` (3.12+).
_LEGACY_CONTROL: Any = getattr(sqlite3, "LEGACY_TRANSACTION_CONTROL", None)
_UNSET: Any = object()  # connect(autocommit=...) not given


def _raw(conn: sqlite3.Connection, sql: str, params: Params = ()) -> sqlite3.Cursor:
    """Run unified SQL on ``conn`` untranslated, on a plain cursor (the adapters' own
    statements: ``sqlite3.Connection.execute`` would not do, since on Python 3.10 it makes
    its cursor through the connection's own ``cursor()``, a :class:`LegacyCursor`)."""
    return _cursor_execute(_new_cursor(conn), sql, params)


@contextlib.contextmanager
def _own_statements(conn: LegacyConnection) -> Iterator[None]:
    """While the adapters set a connection up, ``sqlite3.Connection.execute(conn, …)`` runs
    untranslated on every Python (see :func:`_raw`; code outside this module uses that
    call). An instance attribute comes before the class's ``cursor()``, so neither the
    translation nor a legacy factory's own ``cursor()`` sees the set-up."""
    conn.__dict__["cursor"] = functools.partial(_new_cursor, conn)
    try:
        yield
    finally:
        conn.__dict__.pop("cursor", None)


def _legacy_control(conn: sqlite3.Connection) -> bool:
    """Whether ``conn`` uses sqlite3's legacy transaction control (``isolation_level``):
    always before Python 3.12, else unless it was opened with ``autocommit`` True/False."""
    return _LEGACY_CONTROL is None or getattr(conn, "autocommit", _LEGACY_CONTROL) == (
        _LEGACY_CONTROL
    )


_MAPS: dict[tuple[int, str, int], tuple[Plan, Analysis | None, StoreMap]] = {}
_MAPS_LOCK = threading.Lock()


def store_map(plan: Plan, store: str, analysis: Analysis | None = None) -> StoreMap:
    """The shared :class:`StoreMap` of ``store`` under ``plan`` (one per plan and store)."""
    key = (id(plan), store, id(analysis))
    with _MAPS_LOCK:
        entry = _MAPS.get(key)
        if entry is not None and entry[0] is plan and entry[1] is analysis:
            return entry[2]
        mapping = StoreMap(plan, store, analysis)
        _MAPS[key] = (plan, analysis, mapping)
        return mapping


class ForkedConnectionError(AdapterError):
    """A legacy connection, or the unified database file, was open before this process forked.

    The child inherits SQLite's record that the file's locks are held but not the locks, so
    it would write without any (sqlite.org/howtocorrupt.html §2.7).
    """


class _Process:
    """This process and the one it was forked from (refreshed in a forked child), so the
    check before every statement is two attribute reads, not a ``getpid()`` call."""

    pid = os.getpid()
    parent: int | None = None


#: Legacy connections a forked child inherited. Kept alive for good: the child must neither
#: use nor close them, and finalizing one (at exit too) would close it, which may checkpoint
#: or delete the WAL the parent is still using.
_INHERITED: list[LegacyConnection] = []


def _keep_forever(conn: LegacyConnection) -> None:
    """Make sure ``conn`` is never finalized in this process (so never closed)."""
    _INHERITED.append(conn)
    # Interpreter shutdown clears module globals, which would finalize the list's members;
    # one reference nobody owns keeps them alive past it (a deliberate, bounded leak).
    try:
        import ctypes

        ctypes.pythonapi.Py_IncRef(ctypes.py_object(conn))
    except (ImportError, AttributeError, OSError):  # pragma: no cover - no ctypes here
        pass


def _after_fork_in_child() -> None:
    global _OPEN_LOCK, _MAPS_LOCK
    _Process.parent, _Process.pid = _Process.pid, os.getpid()
    # Locks may have been held at the fork by parent threads that do not exist here.
    _OPEN_LOCK = threading.Lock()
    _MAPS_LOCK = threading.Lock()
    inherited = [conn for peers in _OPEN.values() for conn in peers]
    _OPEN.clear()
    _WRITING.refs = []  # the forking thread's list: the parent's connections
    for conn in inherited:
        _keep_forever(conn)


def _forked(what: str, opener: int) -> str:
    return (
        f"{what} was opened before fork in process {opener}; open the connection after the "
        "fork, or use the multiprocessing 'spawn' start method (a forked child has none of "
        f"SQLite's locks on it, so its writes could be lost; this is process {_Process.pid})"
    )


class StoreLockedError(AdapterError, sqlite3.OperationalError):
    """Another connection holds the unified database's write lock ("database is locked").

    A ``sqlite3.OperationalError``, so legacy code that handles a locked database still does.
    """


#: Open legacy connections by unified database file, to name the holder of a write lock.
_OPEN: dict[str, weakref.WeakSet[LegacyConnection]] = {}
_OPEN_LOCK = threading.Lock()


class _Writing(threading.local):
    """Per thread: the legacy connections bound to this thread (``check_same_thread``) that
    have written (weak references; dead ones are dropped as they are met).

    Only those can make a write of this thread wait in vain (no other thread may commit
    them), so this short list of the thread's own, read without a lock, is all that the
    check before a transaction's first write looks at.
    """

    def __init__(self) -> None:
        self.refs: list[weakref.ref[LegacyConnection]] = []


_WRITING = _Writing()

if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _is_locked(exc: sqlite3.OperationalError) -> bool:
    return str(exc).startswith("database is locked") or str(exc) == "database table is locked"


def _before_write(conn: LegacyConnection, tr: Translation) -> None:
    """Reset the connection's "wrote in this transaction" mark when no transaction is open,
    and check other legacy connections' locks before its first write of a transaction."""
    if conn._dbfold_wrote and not conn.in_transaction:
        conn._dbfold_wrote = False
    if tr.write and not conn._dbfold_wrote:
        conn._dbfold_check_peers()


class LegacyCursor(sqlite3.Cursor):
    """A sqlite3 cursor whose statements are translated from the legacy schema."""

    _dbfold_lastrowid: int | None = None
    _dbfold_rowcount: int | None = None
    #: What ``super().execute``, ``super().lastrowid`` and ``super().rowcount`` find from
    #: this class, looked up once per class (see ``__init_subclass__``) rather than through a
    #: ``super()`` object on every statement: sqlite3's own here, the next class's in the MRO
    #: of a cursor combined with a legacy cursor factory.
    _dbfold_base_execute: Any = sqlite3.Cursor.execute
    _dbfold_base_lastrowid: Any = sqlite3.Cursor.lastrowid  # descriptors: read on an
    _dbfold_base_rowcount: Any = sqlite3.Cursor.rowcount  # instance, they give its value

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        mro = cls.__mro__
        after = mro[mro.index(LegacyCursor) + 1 :]
        for name in ("execute", "lastrowid", "rowcount"):
            found = next(vars(k)[name] for k in after if name in vars(k))
            setattr(cls, f"_dbfold_base_{name}", found)

    @property
    def lastrowid(self) -> int | None:
        """The inserted row's id as the legacy store would report it (see module doc)."""
        override = self._dbfold_lastrowid
        return self._dbfold_base_lastrowid if override is None else override

    @property
    def rowcount(self) -> int:
        """Rows changed by the last statement (summed over a split multi-row INSERT)."""
        override = self._dbfold_rowcount
        return self._dbfold_base_rowcount if override is None else override

    def execute(self, sql: str, parameters: Params = (), /) -> LegacyCursor:
        """Translate ``sql`` and run it with ``parameters``.

        The path of every legacy statement, so it is kept short: the translation is a cache
        hit after the first time (see :mod:`dbfold.adapters.rewrite`), and the provenance
        of what it writes is recorded by the connection's TEMP triggers inside the statement
        itself (nothing to do here, nothing to flush at commit).
        """
        conn: LegacyConnection = self.connection  # type: ignore[assignment]
        if conn._dbfold_pid != _Process.pid:
            raise conn._dbfold_forked()
        tr = conn._dbfold_translate(sql)
        if self._dbfold_lastrowid is not None or self._dbfold_rowcount is not None:
            self._dbfold_lastrowid = self._dbfold_rowcount = None
        # _before_write(), inline.
        if conn._dbfold_wrote and not conn.in_transaction:
            conn._dbfold_wrote = False
        write = tr.write
        if write and not conn._dbfold_wrote:
            conn._dbfold_check_peers()
        try:
            if tr.kind == "sql":
                self._dbfold_base_execute(tr.sql, parameters)
                if tr.key_sql is not None:
                    self._fix_key(conn, tr.key_sql)
            else:
                self._special(conn, tr, parameters)
        except sqlite3.OperationalError as exc:
            if _is_locked(exc):
                raise conn._dbfold_locked(exc) from exc
            raise
        if write:
            conn._dbfold_wrote = conn.in_transaction
        return self

    def executemany(self, sql: str, seq_of_parameters: Iterable[Params], /) -> LegacyCursor:
        """Translate ``sql`` once and run it for every parameter set."""
        conn: LegacyConnection = self.connection  # type: ignore[assignment]
        if conn._dbfold_pid != _Process.pid:
            raise conn._dbfold_forked()
        tr = conn._dbfold_translate(sql)
        self._dbfold_lastrowid = self._dbfold_rowcount = None
        if tr.kind == "error":
            tr.raise_error()
        _before_write(conn, tr)
        try:
            if tr.kind == "sql":
                super().executemany(tr.sql, seq_of_parameters)
                if tr.key_sql is not None:
                    self._fix_key(conn, tr.key_sql)
            else:
                total = 0
                for params in seq_of_parameters:
                    self._special(conn, tr, params)
                    total += max(self.rowcount, 0)
                self._dbfold_rowcount = total
        except sqlite3.OperationalError as exc:
            if _is_locked(exc):
                raise conn._dbfold_locked(exc) from exc
            raise
        if tr.write:
            conn._dbfold_wrote = conn.in_transaction
        return self

    def executescript(self, sql_script: str, /) -> LegacyCursor:
        """Translate every statement first (refusing before anything runs), then run them."""
        conn: LegacyConnection = self.connection  # type: ignore[assignment]
        if conn._dbfold_pid != _Process.pid:
            raise conn._dbfold_forked()
        translated: list[Translation] = []
        for statement in split_statements(sql_script):
            tr = conn._dbfold_translate(statement)
            if tr.kind == "error":
                tr.raise_error()
            if tr.kind == "setting":
                tr.settle(conn._dbfold_setting(tr.sql))  # refuses a change before anything runs
            translated.append(tr)
        # In the script's order: plain statements in batches, the others (a multi-row INSERT
        # into a merged table, a store pragma) one by one where they stand, never dropped.
        batch: list[str] = []

        def flush() -> None:
            if not batch:
                return
            try:
                super(LegacyCursor, self).executescript(";\n".join(batch) + ";")
            except sqlite3.OperationalError as exc:
                if _is_locked(exc):
                    raise conn._dbfold_locked(exc) from exc
                raise
            batch.clear()

        for tr in translated:
            if tr.kind == "sql":
                batch.append(tr.sql)
            elif tr.kind in ("split", "pragma"):
                flush()
                self._special(conn, tr, ())
            # "shadow" (a read whose rows a script discards), "setting" and "empty" change
            # nothing.
        flush()
        return self

    # -- helpers ----------------------------------------------------------------------------

    def _fix_key(self, conn: LegacyConnection, key_sql: str) -> None:
        rowid = self._dbfold_base_lastrowid
        if rowid is None or self._dbfold_base_rowcount != 1:
            return
        cursor = _new_cursor(conn)  # a plain cursor: key_sql is unified SQL already
        cursor.row_factory = None  # a tuple, whatever row_factory the legacy code set
        row = _cursor_execute(cursor, key_sql, (rowid,)).fetchone()
        if row is not None and row[0] is not None:
            self._dbfold_lastrowid = row[0]

    def _special(self, conn: LegacyConnection, tr: Translation, params: Params) -> LegacyCursor:
        if tr.kind == "error":
            tr.raise_error()
        mapping = conn._dbfold_map
        if tr.kind == "empty":
            super().execute("")
            return self
        if tr.kind == "split":
            return self._split(conn, tr, params)
        if tr.kind == "shadow":
            names, rows = mapping.shadow_query(tr.sql, params)
            return self._rows(names, rows)
        if tr.kind == "setting":
            rows = tr.settle(conn._dbfold_setting(tr.sql))
            return self._rows([tr.sql] if rows else [], rows)
        if tr.kind == "pragma":
            name = tr.sql
            if tr.value is None:
                return self._rows([name], [(getattr(mapping, name),)])
            with contextlib.suppress(ValueError):  # SQLite ignores a value that is no number
                setattr(mapping, name, int(tr.value, 0))
            super().execute("")
            return self
        raise AdapterError(f"unknown translation {tr.kind!r}")  # pragma: no cover

    def _split(self, conn: LegacyConnection, tr: Translation, params: Params) -> LegacyCursor:
        """Run a multi-row INSERT row by row, atomically (one savepoint)."""
        named = isinstance(params, Mapping)
        seq = [] if named else list(params)
        need = sum(n for _, n in tr.parts)
        if not named and need != len(seq):
            raise sqlite3.ProgrammingError(
                f"Incorrect number of bindings supplied. The current statement uses {need}, "
                f"and there are {len(seq)} supplied."
            )
        raw = _raw
        level = conn.isolation_level
        # As sqlite3 would have begun a transaction before the one INSERT; with autocommit
        # True the savepoint alone is the statement's transaction (autocommit=False always
        # has one open).
        if not conn.in_transaction and level is not None and _legacy_control(conn):
            raw(conn, f"BEGIN {level}")
        raw(conn, 'SAVEPOINT "dbfold_rows"')
        total, offset, last = 0, 0, None
        try:
            for part, n in tr.parts:
                super().execute(part.sql, params if named else seq[offset : offset + n])
                offset += n
                total += super().rowcount
                if part.key_sql is not None:
                    self._fix_key(conn, part.key_sql)
                    last = self._dbfold_lastrowid
        except BaseException:
            raw(conn, 'ROLLBACK TO "dbfold_rows"')
            raw(conn, 'RELEASE "dbfold_rows"')
            raise
        raw(conn, 'RELEASE "dbfold_rows"')
        self._dbfold_rowcount = total
        self._dbfold_lastrowid = last
        return self

    def _rows(self, names: list[str], rows: list[tuple[Any, ...]]) -> LegacyCursor:
        """Make this cursor return ``rows`` under ``names`` (through the real driver, so
        ``row_factory`` and ``description`` behave as for any query)."""
        if not names:
            super().execute("")
            return self
        cols = ", ".join(f"column{i + 1} AS {quote_ident(n)}" for i, n in enumerate(names))
        if not rows:
            nulls = ", ".join(f"NULL AS {quote_ident(n)}" for n in names)
            super().execute(f"SELECT {nulls} WHERE 0")
            return self
        marks = "(" + ", ".join("?" for _ in names) + ")"
        values = ", ".join(marks for _ in rows)
        flat = [v for row in rows for v in row]
        super().execute(f"SELECT {cols} FROM (VALUES {values})", flat)
        return self


class LegacyConnection(sqlite3.Connection):
    """A sqlite3 connection onto the unified database, speaking a legacy store's schema.

    Make one with :func:`connect` (or let :func:`dbfold.adapters.install` make them).
    """

    _dbfold_map: StoreMap
    _dbfold_file = ""
    _dbfold_timeout = 5.0
    _dbfold_thread: int | None = None  # the only thread allowed to use it (check_same_thread)
    _dbfold_wrote = False  # this transaction has written (so it holds the write lock)
    _dbfold_ref: weakref.ref[LegacyConnection]
    _dbfold_listed = False  # in its thread's list of connections that wrote (_WRITING)
    _dbfold_pid = 0  # the process that opened it (set by _dbfold_attach; 0: not attached)
    #: No subclass changes ``cursor()``, so ``execute`` may make its LegacyCursor directly.
    _dbfold_own_cursor = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._dbfold_own_cursor = all(
            "cursor" not in vars(k)
            for k in cls.__mro__
            if k not in (LegacyConnection, sqlite3.Connection)
        )

    def _dbfold_attach(
        self, mapping: StoreMap, file: str = "", timeout: float = 5.0, bound: bool = True
    ) -> None:
        self._dbfold_map = mapping
        self._dbfold_translate = translator_for(mapping).translate
        self._dbfold_file = file
        self._dbfold_timeout = timeout
        self._dbfold_thread = threading.get_ident() if bound else None
        self._dbfold_ref = weakref.ref(self)
        self._dbfold_pid = _Process.pid
        if file:
            with _OPEN_LOCK:
                _OPEN.setdefault(file, weakref.WeakSet()).add(self)

    def _dbfold_detach(self) -> None:
        """Take this connection off the list of open ones (closed, or failed to open)."""
        with _OPEN_LOCK:
            peers = _OPEN.get(self._dbfold_file)
            if peers is not None:
                peers.discard(self)
                if not peers:
                    del _OPEN[self._dbfold_file]

    def _dbfold_forked(self) -> AdapterError:
        """The error for using this connection in a process forked after it was opened."""
        if not self._dbfold_pid:
            return AdapterError(
                f"{type(self).__name__} was not opened by dbfold.adapters.connect(); open it "
                "with connect() (or route sqlite3.connect with install())"
            )
        return ForkedConnectionError(
            _forked(f"this connection to {self.legacy_store}", self._dbfold_pid)
        )

    def _dbfold_inherited(self) -> bool:
        """Whether this connection was opened by a process this one was forked from."""
        return bool(self._dbfold_pid) and self._dbfold_pid != _Process.pid

    def _dbfold_setting(self, name: str) -> Any:
        """The value ``PRAGMA name`` has now on the unified database (None: no row)."""
        cursor = _new_cursor(self)  # a plain cursor: this is unified SQL already
        cursor.row_factory = None
        row = _cursor_execute(cursor, f"PRAGMA {name}").fetchone()
        return None if row is None else row[0]

    def _dbfold_writers(self) -> list[LegacyConnection]:
        """The other legacy connections of this process that hold an uncommitted write."""
        with _OPEN_LOCK:
            peers = list(_OPEN.get(self._dbfold_file, ()))
        out = []
        for peer in peers:
            if peer is self:
                continue
            try:
                if peer.in_transaction and peer._dbfold_wrote:
                    out.append(peer)
            except sqlite3.ProgrammingError:
                continue  # closed
        return out

    def _dbfold_check_peers(self) -> None:
        """Fail at once when the write lock belongs to a connection only this thread may use:
        waiting for it would only wait out the timeout."""
        if not self._dbfold_file:
            return
        refs = _WRITING.refs
        stuck: list[LegacyConnection] = []
        dead = False
        for ref in refs:
            peer = ref()
            if peer is None:
                dead = True
            elif peer is not self and peer._dbfold_wrote:  # the mark may be stale: ask
                try:
                    busy = peer.in_transaction
                except sqlite3.ProgrammingError:  # closed
                    busy = False
                if busy and peer._dbfold_file == self._dbfold_file:
                    stuck.append(peer)
        if dead:
            refs[:] = [ref for ref in refs if ref() is not None]
        if stuck:
            raise self._dbfold_locked(None, stuck)
        if not self._dbfold_listed and self._dbfold_thread == threading.get_ident():
            self._dbfold_listed = True
            refs.append(self._dbfold_ref)

    def _dbfold_locked(
        self, exc: sqlite3.OperationalError | None, holders: list[LegacyConnection] | None = None
    ) -> StoreLockedError:
        holders = self._dbfold_writers() if holders is None else holders
        me = self.legacy_store
        waited = f"waited {self._dbfold_timeout:g} s"
        if holders:
            names = sorted({h.legacy_store for h in holders})
            who = ", ".join(f"another connection to {n}" if n == me else n for n in names)
            if exc is None:
                waited = "it belongs to this thread, so waiting cannot help"
            message = (
                f"database is locked: {me} cannot write to the unified database "
                f"{self._dbfold_file}: {who} (in this process) holds an uncommitted write "
                f"transaction there ({waited}). The stores now share one file and one write "
                f"lock: commit or roll back {', '.join(names)} before writing through {me}, "
                "or open the connections with isolation_level=None (autocommit)"
            )
        else:
            message = (
                f"database is locked: {me} cannot write to the unified database "
                f"{self._dbfold_file}: another connection or process holds its write lock "
                f"({waited}); commit that writer's transactions sooner, or raise timeout"
            )
        error = StoreLockedError(message)
        if exc is not None:
            for attr in ("sqlite_errorcode", "sqlite_errorname"):
                if hasattr(exc, attr):
                    setattr(error, attr, getattr(exc, attr))
        return error

    def commit(self) -> None:
        """Commit, as sqlite3 does (refused in a forked child: the transaction is the parent's)."""
        if self._dbfold_pid != _Process.pid and self._dbfold_pid:  # _dbfold_inherited()
            raise self._dbfold_forked()
        super().commit()

    def rollback(self) -> None:
        """Roll back, as sqlite3 does (refused in a forked child: the transaction is the
        parent's)."""
        if self._dbfold_inherited():
            raise self._dbfold_forked()
        super().rollback()

    def __exit__(self, *exc: Any) -> Literal[False]:
        """Commit or roll back, as sqlite3 does; in a forked child neither (its statements
        were all refused, and the transaction still open is the parent's)."""
        if self._dbfold_inherited():
            return False
        super().__exit__(*exc)
        return False

    def close(self) -> None:
        """Close the connection (uncommitted changes are lost, as with sqlite3).

        In a forked child the inherited connection is only forgotten, never closed: closing
        it could checkpoint or delete the WAL the parent still uses.
        """
        if self._dbfold_inherited():
            if self not in _INHERITED:
                _keep_forever(self)
            return
        self._dbfold_detach()
        if self._dbfold_listed and self._dbfold_thread == threading.get_ident():
            with contextlib.suppress(ValueError):
                _WRITING.refs.remove(self._dbfold_ref)
            self._dbfold_listed = False
        super().close()

    @property
    def legacy_store(self) -> str:
        """The store (as the plan names it) that this connection stands in for."""
        return self._dbfold_map.store

    def cursor(self, factory: Any = None) -> Any:
        """A :class:`LegacyCursor` (or the given cursor class, combined with it)."""
        if factory is None or factory is sqlite3.Cursor:
            factory = LegacyCursor
        elif not issubclass(factory, LegacyCursor):
            factory = _combined(factory)
        return super().cursor(factory)

    def execute(self, sql: str, parameters: Params = (), /) -> LegacyCursor:
        """Like ``sqlite3.Connection.execute``, translated."""
        # The path of every statement: a LegacyCursor made directly (not through a Python
        # ``cursor()``) unless a subclass changes ``cursor()``.
        cursor: LegacyCursor = (
            _new_cursor(self, LegacyCursor) if self._dbfold_own_cursor else self.cursor()
        )
        return cursor.execute(sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Params], /) -> LegacyCursor:
        """Like ``sqlite3.Connection.executemany``, translated."""
        cursor: LegacyCursor = self.cursor()
        return cursor.executemany(sql, parameters)

    def executescript(self, sql_script: str, /) -> LegacyCursor:
        """Like ``sqlite3.Connection.executescript``, translated."""
        cursor: LegacyCursor = self.cursor()
        return cursor.executescript(sql_script)

    def iterdump(self) -> Iterator[str]:  # type: ignore[override]
        """Refused: a dump of the unified database is not a dump of the legacy store."""
        raise AdapterError(
            f"iterdump() on a routed connection to {self.legacy_store} is not supported; "
            "dump the unified database with sqlite3 directly"
        )

    def backup(self, *args: Any, **kwargs: Any) -> None:
        """Refused: back up the unified database itself."""
        raise AdapterError(
            f"backup() on a routed connection to {self.legacy_store} is not supported; "
            "back up the unified database instead"
        )


_COMBINED: dict[type, type] = {}


def _combined(factory: type) -> type:
    if not issubclass(factory, sqlite3.Cursor):
        raise AdapterError(f"cursor factory {factory.__name__} is not a sqlite3.Cursor subclass")
    found = _COMBINED.get(factory)
    if found is None:
        found = _COMBINED[factory] = type(f"Legacy{factory.__name__}", (LegacyCursor, factory), {})
    return found


def resolve_store(plan: Plan, legacy_path: str | os.PathLike[str], root: Path | None) -> str:
    """The plan's name of the store at ``legacy_path`` (a plan path, or a file under root)."""
    text = os.fspath(legacy_path)
    if text in plan.stores:
        return text
    if root is not None:
        path = Path(text)
        full = path if path.is_absolute() else root / path
        try:
            rel = Path(os.path.realpath(full)).relative_to(os.path.realpath(root)).as_posix()
        except ValueError:
            rel = None
        if rel in plan.stores:
            return rel
    raise AdapterError(
        f"{text} is not a store of the plan; check the path (stores: "
        f"{', '.join(plan.stores) or 'none'})"
    )


#: ``file:`` URI parameters (``uri=True``) and what a routed connection does with them. The
#: unified database is shared by every store and every dbfold process, so whatever would
#: take SQLite's locks or its view of the file away from the others is refused.
_URI_REFUSED = {
    "immutable": "immutable=1 would read the shared unified database without locks while "
    "others write it (sqlite.org/howtocorrupt.html)",
    "nolock": "nolock=1 would write the shared unified database without SQLite's locks",
    "vfs": "the unified database is opened with SQLite's default VFS, which every other "
    "connection to it uses (locks of different VFSes do not see each other)",
}


def _parse_uri(text: str) -> tuple[str, dict[str, str]]:
    """The file name and the query parameters of a ``file:`` URI, as SQLite reads them."""
    body, _, query = text[5:].partition("?")
    query = query.partition("#")[0]
    body = body.partition("#")[0]
    if body.startswith("//"):
        authority, _, rest = body[2:].partition("/")
        if authority not in ("", "localhost"):
            raise AdapterError(f"{text}: a file URI with authority {authority!r} is not a file")
        body = "/" + rest
    return unquote(body), dict(parse_qsl(query, keep_blank_values=True))


def uri_read_only(text: str) -> bool:
    """Whether the ``file:`` URI ``text`` (``sqlite3.connect(text, uri=True)``) asks for a
    read-only connection to its store.

    Raises:
        AdapterError: A parameter the unified database cannot honour (see ``connect``).
    """
    params = _parse_uri(text)[1]
    for name, why in _URI_REFUSED.items():
        value = params.get(name)
        off = name != "vfs" and value is not None and value.lower() in ("0", "no", "off", "false")
        if value is not None and not off:
            raise AdapterError(f"cannot route {text}: {name}={value} is refused ({why})")
    if params.get("cache", "private") != "private":
        raise AdapterError(
            f"cannot route {text}: cache={params['cache']} is refused (the stores now share one "
            "unified database, so a shared cache would make their connections lock each "
            "other's tables); drop the cache parameter"
        )
    mode = params.get("mode", "rwc")
    if mode not in ("ro", "rw", "rwc"):
        raise AdapterError(f"cannot route {text}: mode={mode} is not a file of the plan")
    return mode == "ro"


_COMBINED_CONNECTIONS: dict[type, type[LegacyConnection]] = {}


def _connection_class(factory: Any) -> type[LegacyConnection]:
    """The class to open: ``factory`` itself if it is a legacy connection class, else one
    combining :class:`LegacyConnection` with it (its ``__init__`` and methods run as they
    would on the legacy file; the statements are translated)."""
    if factory is None or factory is sqlite3.Connection:
        return LegacyConnection
    if not (isinstance(factory, type) and issubclass(factory, sqlite3.Connection)):
        raise AdapterError(
            f"connection factory {factory!r} cannot be routed: only sqlite3.Connection "
            "subclasses can speak a legacy store's schema on the unified database"
        )
    if issubclass(factory, LegacyConnection):
        return factory
    with _MAPS_LOCK:
        found = _COMBINED_CONNECTIONS.get(factory)
        if found is None:
            found = type(f"Legacy{factory.__name__}", (LegacyConnection, factory), {})
            _COMBINED_CONNECTIONS[factory] = found
        return found


def _converter_key(declared: str | None) -> str:
    """The key sqlite3's ``PARSE_DECLTYPES`` looks a converter up by: the declared type up to
    its first blank or ``(``, upper-cased."""
    text = declared or ""
    for i, ch in enumerate(text):
        if ch in " (":
            text = text[:i]
            break
    return text.upper()


def _ascii_fold(name: str) -> str:
    return "".join(ch.lower() if ch.isascii() else ch for ch in name)


def _decltype_changes(conn: LegacyConnection, mapping: StoreMap) -> list[str]:
    """Legacy columns whose declared type picks another ``PARSE_DECLTYPES`` converter on
    the unified database than on the legacy store (where either has one registered now)."""
    changes = []
    for table in mapping.tables.values():
        _, rows = mapping.shadow_query(f"PRAGMA table_info({quote_ident(table.legacy)})")
        legacy = {_ascii_fold(str(r[1])): str(r[2] or "") for r in rows}
        cursor = _new_cursor(conn)
        cursor.row_factory = None
        unified = {
            _ascii_fold(str(r[1])): str(r[2] or "")
            for r in _cursor_execute(cursor, f"PRAGMA table_info({quote_ident(table.target)})")
        }
        for old, new in table.columns:
            before = legacy.get(_ascii_fold(old), "")
            after = unified.get(_ascii_fold(new), "")
            a, b = _converter_key(before), _converter_key(after)
            if a != b and (a in sqlite3.converters or b in sqlite3.converters):
                changes.append(f"{table.legacy}.{old} ({before or 'no type'} → {after or 'none'})")
    return changes


def _postgres_target(plan: Plan, target: str | os.PathLike[str] | None) -> str | None:
    """The PostgreSQL URL of the unified database, when it is one."""
    from dbfold.pgurl import is_postgres

    text = os.fspath(target) if target is not None else plan.target
    return text if is_postgres(text) else None


def connect(
    legacy_path: str | os.PathLike[str],
    plan: Plan,
    target: str | os.PathLike[str] | None = None,
    *,
    root: str | os.PathLike[str] | None = None,
    analysis: Analysis | None = None,
    read_only: bool = False,
    timeout: float = 5.0,
    detect_types: int = 0,
    isolation_level: str | None = "",
    check_same_thread: bool = True,
    factory: type[sqlite3.Connection] | None = None,
    cached_statements: int = 128,
    uri: bool = False,
    autocommit: Any = _UNSET,
) -> LegacyConnection:
    """Open a sqlite3-compatible connection that speaks ``legacy_path``'s schema.

    Every argument of the running Python's ``sqlite3.connect`` is honoured as sqlite3 honours
    it (``autocommit`` where the Python has it, 3.12+); what cannot be is refused with an
    :class:`AdapterError` rather than dropped.

    Args:
        legacy_path: The store as the plan names it (``data/tracking.db``), or its file; with
            ``uri`` a ``file:`` URI of it (``mode=ro`` opens the unified database read-only;
            ``immutable``, ``nolock``, ``vfs`` and ``cache=shared`` are refused).
        plan: The plan that folded the store.
        target: The unified database file; default the plan's target under ``root``.
        root: The project root (for relative store files and the default target).
        analysis: Optional; gives the legacy ``CREATE TABLE`` text for sqlite_master and
            PRAGMA answers, and the store's user_version.
        read_only: Open the unified database read-only (as ``file:…?mode=ro`` asks).
        timeout, detect_types, isolation_level, check_same_thread, cached_statements, uri,
            autocommit: As for ``sqlite3.connect``. ``PARSE_DECLTYPES`` is refused when a
            column's declared type picks another converter in the unified database than in
            the legacy store (``PARSE_COLNAMES`` works whatever the types).
        factory: A ``sqlite3.Connection`` subclass, as for ``sqlite3.connect`` (combined
            with :class:`LegacyConnection` unless it is one).

    A ``postgresql://`` ``target`` (or a plan whose target is one) gives a
    :class:`~dbfold.adapters.pg_connection.PgLegacyConnection` instead: the same sqlite3
    surface over PostgreSQL (``factory``, ``detect_types`` and ``autocommit`` are refused).

    Returns:
        A :class:`LegacyConnection` (an instance of ``factory`` when given).

    Raises:
        AdapterError: If the path is not a store of the plan, or an argument cannot be
            honoured on the unified database.
        ForkedConnectionError: In a forked child whose parent had the unified database open.
        TypeError: ``autocommit`` on a Python older than 3.12, as sqlite3 raises.
    """
    pg_url = _postgres_target(plan, target)
    if pg_url is not None:
        from dbfold.adapters.pg_connection import connect_postgres

        if autocommit is not _UNSET:
            raise AdapterError("autocommit= is not supported on a PostgreSQL unified database")
        if uri and isinstance(legacy_path, str) and legacy_path.startswith("file:"):
            read_only = uri_read_only(legacy_path) or read_only
            legacy_path = _parse_uri(legacy_path)[0]
        base_pg = Path(root) if root is not None else None
        # A connection that speaks sqlite3 over PostgreSQL (not a sqlite3.Connection).
        pg_conn: Any = connect_postgres(
            resolve_store(plan, legacy_path, base_pg),
            plan,
            pg_url,
            root=base_pg,
            analysis=analysis,
            read_only=read_only,
            timeout=timeout,
            detect_types=detect_types,
            isolation_level=isolation_level,
            check_same_thread=check_same_thread,
            factory=factory,
        )
        return cast(LegacyConnection, pg_conn)
    options: dict[str, Any] = {}
    if autocommit is not _UNSET:
        if _LEGACY_CONTROL is None:
            raise TypeError("'autocommit' is an invalid keyword argument for this function")
        options["autocommit"] = autocommit
    if uri and isinstance(legacy_path, str) and legacy_path.startswith("file:"):
        read_only = uri_read_only(legacy_path) or read_only
        legacy_path = _parse_uri(legacy_path)[0]
    base = Path(root) if root is not None else None
    store = resolve_store(plan, legacy_path, base)
    if target is None:
        target = (base or Path.cwd()) / plan.target
    path = Path(target)
    if base is not None and not path.is_absolute():
        path = base / path
    if not path.exists():
        raise AdapterError(
            f"unified database {path} does not exist; run dbfold migrate --execute first"
        )
    if inherited_at_fork(path):
        # A new connection here would share the inherited lock bookkeeping and take no lock.
        parent = _Process.parent or os.getppid()
        raise ForkedConnectionError(
            f"cannot connect to {store}: " + _forked(f"the unified database {path}", parent)
        )
    database = f"file:{quote(str(path.resolve()))}?mode=ro" if read_only else str(path)
    cls = _connection_class(factory)
    mapping = store_map(plan, store, analysis)
    # Attached before its __init__ runs, so a legacy factory's __init__ that runs
    # statements gets them translated too.
    conn = cls.__new__(cls)
    real = os.path.realpath(path)
    conn._dbfold_attach(mapping, real, timeout, bound=check_same_thread)
    try:
        conn.__init__(  # type: ignore[misc]
            database,
            timeout=timeout,
            detect_types=detect_types,
            isolation_level=isolation_level,
            check_same_thread=check_same_thread,
            cached_statements=cached_statements,
            uri=read_only,
            **options,
        )
    except BaseException:
        conn._dbfold_detach()
        raise
    try:
        if detect_types & sqlite3.PARSE_DECLTYPES:
            changed = _decltype_changes(conn, mapping)
            if changed:
                raise AdapterError(
                    f"detect_types=PARSE_DECLTYPES cannot be honoured for {store}: these "
                    "columns are declared with another type in the unified database, so "
                    f"sqlite3 would convert their values otherwise: {', '.join(changed)}; "
                    "name the converter in the query instead (PARSE_COLNAMES, "
                    '``SELECT col AS "col [TYPE]"``), or keep the declared type in the plan'
                )
        if not read_only:
            with _own_statements(conn), _legacy_transactions(conn):
                auto = [t for t in mapping.tables.values() if t.autoincrement]
                if auto:
                    _sequence_triggers(conn, auto, (base or Path.cwd()) / store)
                _provenance_triggers(conn, list(mapping.tables.values()))
    except BaseException:
        conn.close()
        raise
    return conn


@contextlib.contextmanager
def _legacy_transactions(conn: LegacyConnection) -> Iterator[None]:
    """Run the set-up under sqlite3's legacy transaction control whatever ``autocommit``
    the program asked for, and leave the connection in the state sqlite3 would have given
    it (``autocommit=False``: a transaction open, nothing in it)."""
    mode = getattr(conn, "autocommit", _LEGACY_CONTROL)
    if mode == _LEGACY_CONTROL:
        yield
        return
    setattr(conn, "autocommit", _LEGACY_CONTROL)  # noqa: B010 (3.12+; mypy checks 3.11)
    if conn.in_transaction:
        conn.commit()  # what a factory's __init__ did in it, if anything
    yield  # on an error the connection is closed: nothing to restore
    if conn.in_transaction:
        conn.commit()
    setattr(conn, "autocommit", mode)  # noqa: B010


def _provenance_triggers(conn: LegacyConnection, tables: list[TableMap]) -> None:
    """Record every row this connection writes in ``dbfold_adapter_writes`` (TEMP triggers:
    the record is part of the writing statement, so it commits and rolls back with it)."""
    if not tables:
        return
    install(conn, (statement for table in tables for statement in table.provenance))
    if conn.in_transaction:
        conn.commit()


def _sequence_triggers(conn: LegacyConnection, tables: list[TableMap], legacy: Path) -> None:
    """Make the AUTOINCREMENT emulation of these tables (see TableMap.trigger_sql).

    The first time, each source's high-water mark starts from the legacy file's
    ``sqlite_sequence`` when the file is still there (read through a read-only URI), so a
    key deleted before the migration is not handed out again either.
    """
    raw = _raw
    found = raw(
        conn, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (SEQUENCE_TABLE,)
    ).fetchone()
    if found is None:
        raw(conn, SEQUENCE_DDL)  # DDL: autocommits under sqlite3's default isolation
    known = {
        (name, source)
        for name, source in raw(conn, f'SELECT "name", "source" FROM "{SEQUENCE_TABLE}"')
    }
    missing = [t for t in tables if (t.target, t.value or "") not in known]
    if missing:
        marks = _legacy_sequence(legacy)
        seeds = [(t.target, t.value or "", marks[t.legacy]) for t in missing if t.legacy in marks]
        if seeds:
            sqlite3.Cursor.executemany(
                _new_cursor(conn),
                f'INSERT OR IGNORE INTO "{SEQUENCE_TABLE}" ("name", "source", "seq") '
                "VALUES (?, ?, ?)",
                seeds,
            )
    if conn.in_transaction:
        conn.commit()
    for table in tables:
        raw(conn, table.trigger_sql())


def _legacy_sequence(path: Path) -> dict[str, int]:
    """``sqlite_sequence`` of a legacy file (empty when it is gone or unreadable)."""
    if not path.is_file():
        return {}
    try:
        # The class, not sqlite3.connect: install() may have routed that to this store.
        src = sqlite3.Connection(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return {}
    try:
        rows = src.execute("SELECT name, seq FROM sqlite_sequence").fetchall()
    except sqlite3.Error:
        return {}
    finally:
        src.close()
    return {str(name): int(seq) for name, seq in rows if isinstance(seq, int)}
