"""``PgLegacyConnection``: a sqlite3-compatible connection over a PostgreSQL unified database.

Legacy code that calls ``sqlite3.connect("data/tracking.db")`` gets an object that behaves
like ``sqlite3.Connection`` (``cursor``, ``execute*``, ``fetch*``, ``description``,
``rowcount``, ``lastrowid``, ``row_factory`` including ``sqlite3.Row``, ``commit`` and
``rollback``, ``isolation_level``, ``in_transaction``, the context manager) and raises
sqlite3's own exception classes, while every statement is translated to PostgreSQL
(:mod:`dbfold.adapters.pg_sql`) and runs there through psycopg.

What differs between the engines, and how it is kept as SQLite had it:

* **Transactions.** sqlite3's legacy control: an INSERT, UPDATE or DELETE outside a
  transaction first opens one (unless ``isolation_level`` is None); reads outside one
  autocommit. Inside a transaction each statement runs in a savepoint, sent in the same
  round trip (psycopg's pipeline), so a failed statement is undone alone and the
  transaction stays usable, as in SQLite (PostgreSQL would otherwise abort all of it).
* **lastrowid** comes from ``RETURNING`` the integer key, and follows SQLite's
  ``last_insert_rowid()``: per connection, changed only by rows an INSERT (or REPLACE)
  really inserted (not by an upsert's update nor an ignored row), reported by every
  ``execute`` and not by ``executemany``, as sqlite3 does.
* **Values** come back as the Python types sqlite3 returns: ``numeric`` as int when it is
  integral text (``SUM`` of integers) else float, ``boolean`` as 0/1, ``jsonb`` and date or
  time types as their text, ``json_extract`` results as SQLite types them. Parameters go
  to the server apart from the text: ints as ``bigint``, strings untyped (so ``'12'`` into
  an integer column is 12, as SQLite's affinity makes it), other types through sqlite3's
  adapters as sqlite3 would bind them.
* **Errors** are sqlite3's classes with SQLite's wording where there is one (``UNIQUE
  constraint failed: t.id``); a value PostgreSQL's column type cannot hold (``'abc'``
  into an integer column, which SQLite would store as text) is refused with
  :class:`ValueRefusedError`, an ``AdapterError`` and a ``sqlite3.IntegrityError`` (what
  a STRICT SQLite table raises), naming the statement.

Not recorded on PostgreSQL: the adapters' write log (``dbfold_adapter_log``): see the
README.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from dbfold.adapters.mapping import SEQUENCE_DDL, SEQUENCE_TABLE, StoreMap
from dbfold.adapters.pg_sql import SESSION_FUNCTIONS, PgStatement, pg_translator_for
from dbfold.errors import AdapterError, DbfoldError
from dbfold.model import Analysis
from dbfold.pgurl import redact
from dbfold.plan import Plan
from dbfold.runtime.backend import quote_ident
from dbfold.runtime.sqltext import split_statements

__all__ = ["PgLegacyConnection", "PgLegacyCursor", "ValueRefusedError", "connect_postgres"]

Params = Any


class ValueRefusedError(AdapterError, sqlite3.IntegrityError):
    """A value the unified PostgreSQL column cannot hold as SQLite would have stored it."""


class PgReadError(AdapterError, sqlite3.OperationalError):
    """A value a read could not convert on PostgreSQL (SQLite would have gone on)."""


class _QuietAbort(logging.Filter):
    """Drop psycopg's warning that a pipeline ended aborted: that is how a failed statement
    inside a transaction ends here, and the error itself is raised as sqlite3's."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("error ignored terminating")


logging.getLogger("psycopg").addFilter(_QuietAbort())

_SAVEPOINT = 'SAVEPOINT "dbfold_stmt"'
_RELEASE = 'RELEASE SAVEPOINT "dbfold_stmt"'
_UNDO = 'ROLLBACK TO SAVEPOINT "dbfold_stmt"'
_KEY = re.compile(r"Key \((?P<cols>.*?)\)=")
_LOCKED = {"55P03", "40P01", "40001", "57014"}
_VALUE_STATES = {"22P02", "22003", "22007", "22008", "22001", "22021", "2202E", "22023"}


def _loaders(pg: Any) -> None:
    """Make results the Python types sqlite3 returns."""
    from psycopg.adapt import Loader
    from psycopg.types.string import TextLoader

    class NumericLoader(Loader):
        def load(self, data: Any) -> Any:
            text = bytes(data).decode()
            if "." in text or "e" in text or "E" in text or "N" in text or "I" in text:
                return float(text)
            return int(text)

    class BoolLoader(Loader):
        def load(self, data: Any) -> Any:
            return 1 if bytes(data) == b"t" else 0

    class JsonValueLoader(Loader):
        # Only json_extract() results are typed json (unified columns are jsonb): give the
        # SQL value SQLite's json_extract gives.
        def load(self, data: Any) -> Any:
            import json

            value = json.loads(bytes(data))
            if isinstance(value, bool):
                return int(value)
            if isinstance(value, (dict, list)):
                return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
            return value

    adapters = pg.adapters
    adapters.register_loader("numeric", NumericLoader)
    adapters.register_loader("bool", BoolLoader)
    adapters.register_loader("json", JsonValueLoader)
    for name in (
        "jsonb",
        "timestamptz",
        "timestamp",
        "date",
        "time",
        "timetz",
        "interval",
        "uuid",
        "inet",
        "cidr",
        "money",
    ):
        adapters.register_loader(name, TextLoader)
    from psycopg.types.numeric import Int8Dumper

    adapters.register_dumper(int, Int8Dumper)  # never int2: `? * 100000` must not overflow


def _bind(value: Any, index: int | str) -> Any:
    """One parameter as sqlite3 would bind it (its adapters, ``__conform__``), or its error."""
    kind = type(value)
    if value is None or kind in (int, float, str, bytes):
        if kind is int and not -(2**63) <= value < 2**63:
            raise OverflowError("Python int too large to convert to SQLite INTEGER")
        return value
    if kind is bool:
        return int(value)
    if kind in (bytearray, memoryview):
        return bytes(value)
    adapter = sqlite3.adapters.get((kind, sqlite3.PrepareProtocol))
    if adapter is not None:
        return _bind(adapter(value), index)
    conform = getattr(value, "__conform__", None)
    if conform is not None:
        return _bind(conform(sqlite3.PrepareProtocol), index)
    where = index if isinstance(index, int) else f":{index}"
    raise sqlite3.ProgrammingError(
        f"Error binding parameter {where}: type '{kind.__name__}' is not supported"
    )


def _params(st: PgStatement, params: Params) -> list[Any]:
    """The ``$n`` values of ``st`` from sqlite3-style parameters."""
    if isinstance(params, Mapping) and not isinstance(params, (str, bytes)):
        out = []
        for want in st.names:
            if isinstance(want, int):
                raise sqlite3.ProgrammingError(
                    "Binding 1 has no name, but you supplied a dictionary (which has only names)."
                )
            try:
                value = params[want]
            except KeyError:
                raise sqlite3.ProgrammingError(
                    f"You did not supply a value for binding parameter :{want}."
                ) from None
            out.append(_bind(value, want))
        return out
    if isinstance(params, (str, bytes)) or not isinstance(params, Sequence):
        raise sqlite3.ProgrammingError("parameters are of unsupported type")
    seq = list(params)
    need = st.positional + (len(st.names) if st.named else 0)
    if len(seq) != need:
        raise sqlite3.ProgrammingError(
            f"Incorrect number of bindings supplied. The current statement uses {need}, and "
            f"there are {len(seq)} supplied."
        )
    out = []
    named_seen: dict[str, int] = {}
    for want in st.names:
        if isinstance(want, int):
            out.append(_bind(seq[want - 1], want))
        else:  # names given by position, in order of first use (sqlite3 allows it)
            pos = named_seen.setdefault(want, st.positional + len(named_seen))
            out.append(_bind(seq[pos], pos + 1))
    return out


_ROW_SHAPES: dict[tuple[str, ...], sqlite3.Cursor] = {}
_ROW_LOCK = threading.Lock()
_ROW_DB: list[sqlite3.Connection] = []


def _row_cursor(names: tuple[str, ...]) -> sqlite3.Cursor:
    """A real sqlite3 cursor with these column names, to build genuine ``sqlite3.Row``s
    (``sqlite3.Row`` takes its keys from a sqlite3 cursor's description)."""
    with _ROW_LOCK:
        found = _ROW_SHAPES.get(names)
        if found is None:
            if not _ROW_DB:
                _ROW_DB.append(sqlite3.Connection(":memory:", check_same_thread=False))
            cols = ", ".join(f"NULL AS {quote_ident(n)}" for n in names) or "NULL"
            found = _ROW_DB[0].execute(f"SELECT {cols} WHERE 0")
            if len(_ROW_SHAPES) > 512:
                _ROW_SHAPES.clear()
            _ROW_SHAPES[names] = found
        return found


class PgLegacyCursor:
    """A sqlite3-style cursor whose statements run, translated, on PostgreSQL."""

    def __init__(self, connection: PgLegacyConnection) -> None:
        self.connection = connection
        self.arraysize = 1
        self.row_factory: Any = connection.row_factory
        self._rows: list[tuple[Any, ...]] = []
        self._pos = 0
        self._description: tuple[tuple[Any, ...], ...] | None = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self._closed = False
        self._pg = connection._pg.cursor()

    # -- the DB-API surface -----------------------------------------------------------------

    @property
    def description(self) -> tuple[tuple[Any, ...], ...] | None:
        """Column names as sqlite3 gives them: 7-tuples with only the name set."""
        return self._description

    @property
    def rowcount(self) -> int:
        """Rows changed by the last INSERT, UPDATE or DELETE; -1 for anything else."""
        return self._rowcount

    @property
    def lastrowid(self) -> int | None:
        """The connection's last inserted key as of the last ``execute`` (see module doc)."""
        return self._lastrowid

    def execute(self, sql: str, parameters: Params = (), /) -> PgLegacyCursor:
        """Translate ``sql`` and run it on PostgreSQL with ``parameters``."""
        conn = self._check()
        if not isinstance(sql, str):
            raise TypeError(f"execute() argument 1 must be str, not {type(sql).__name__}")
        st = conn._translate(sql)
        self._reset()
        self._run(st, parameters, sql)
        self._lastrowid = conn._last_rowid
        return self

    def executemany(self, sql: str, seq_of_parameters: Iterable[Params], /) -> PgLegacyCursor:
        """Translate ``sql`` once and run it for every parameter set."""
        conn = self._check()
        st = conn._translate(sql)
        self._reset()
        if st.kind == "error":
            assert st.base is not None
            st.base.raise_error()
        if st.kind == "sql" and not st.dml:
            raise sqlite3.ProgrammingError("executemany() can only execute DML statements.")
        total = 0
        for params in seq_of_parameters:
            self._run(st, params, sql)
            total += max(self._rowcount, 0)
        self._rowcount = total if st.dml or st.kind == "split" else -1
        self._description = None
        self._rows = []
        return self

    def executescript(self, sql_script: str, /) -> PgLegacyCursor:
        """Commit what is pending (as sqlite3 does), then run each statement in turn."""
        conn = self._check()
        statements = [conn._translate(s) for s in split_statements(sql_script)]
        for st in statements:
            if st.kind == "error":
                assert st.base is not None
                st.base.raise_error()
        if conn.in_transaction:
            conn.commit()
        for st, text in zip(statements, split_statements(sql_script), strict=True):
            self._reset()
            self._run(st, (), text)
        self._reset()
        return self

    def fetchone(self) -> Any:
        """The next row, or None."""
        self._check()
        if self._pos >= len(self._rows):
            return None
        row = self._rows[self._pos]
        self._pos += 1
        return self._make(row)

    def fetchmany(self, size: int | None = None) -> list[Any]:
        """Up to ``size`` (default ``arraysize``) more rows."""
        self._check()
        n = self.arraysize if size is None else size
        chunk = self._rows[self._pos : self._pos + max(n, 0)]
        self._pos += len(chunk)
        return [self._make(r) for r in chunk]

    def fetchall(self) -> list[Any]:
        """Every remaining row."""
        self._check()
        chunk = self._rows[self._pos :]
        self._pos = len(self._rows)
        if self.row_factory is None:
            return chunk
        return [self._make(r) for r in chunk]

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        row = self.fetchone()
        if row is None:
            raise StopIteration
        return row

    def close(self) -> None:
        """Close the cursor (further use raises sqlite3.ProgrammingError)."""
        self._closed = True
        self._rows = []

    def setinputsizes(self, sizes: Any, /) -> None:
        """A no-op, as in sqlite3."""

    def setoutputsize(self, size: Any, column: Any = None, /) -> None:
        """A no-op, as in sqlite3."""

    # -- internals --------------------------------------------------------------------------

    def _check(self) -> PgLegacyConnection:
        conn = self.connection
        conn._check()
        if self._closed:
            raise sqlite3.ProgrammingError("Cannot operate on a closed cursor.")
        return conn

    def _reset(self) -> None:
        self._rows = []
        self._pos = 0
        self._description = None
        self._rowcount = -1

    def _make(self, row: tuple[Any, ...]) -> Any:
        factory = self.row_factory
        if factory is None:
            return row
        if factory is sqlite3.Row:
            names = tuple(d[0] for d in self._description or ())
            return sqlite3.Row(_row_cursor(names), row)
        return factory(self, row)

    def _answer(self, names: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> None:
        self._description = tuple((n, None, None, None, None, None, None) for n in names) or None
        self._rows = [tuple(r) for r in rows]

    def _run(self, st: PgStatement, params: Params, text: str) -> None:
        conn = self.connection
        kind = st.kind
        if kind == "sql":
            self._sql(st, params, text)
        elif kind == "split":
            self._split(st, params, text)
        elif kind == "empty":
            pass
        elif kind == "answer":
            self._answer(st.columns, st.rows)
        elif kind == "begin":
            if conn.in_transaction:
                raise sqlite3.OperationalError("cannot start a transaction within a transaction")
            conn._raw("BEGIN")
        elif kind == "commit":
            if not conn.in_transaction:
                raise sqlite3.OperationalError("cannot commit - no transaction is active")
            conn.commit()
        elif kind == "rollback":
            if not conn.in_transaction:
                raise sqlite3.OperationalError("cannot rollback - no transaction is active")
            conn.rollback()
        elif kind == "savepoint":
            if not conn.in_transaction:
                if st.sql.startswith("SAVEPOINT"):
                    conn._raw("BEGIN")  # a SAVEPOINT outside a transaction begins one in SQLite
                else:
                    raise sqlite3.OperationalError(f"no such savepoint: {st.sql.split()[-1]}")
            conn._raw(st.sql, text=text)
        elif kind == "shadow":
            assert st.base is not None
            names, rows = conn._map.shadow_query(st.base.sql, params)
            self._answer(names, rows)
        elif kind == "pragma":
            assert st.base is not None
            name = st.base.sql
            if st.base.value is None:
                self._answer([name], [(getattr(conn._map, name),)])
            else:
                # SQLite ignores a value that is no number.
                with contextlib.suppress(ValueError):
                    setattr(conn._map, name, int(st.base.value, 0))
        elif kind == "error":
            assert st.base is not None
            st.base.raise_error()
        else:  # pragma: no cover - every kind is handled above
            raise AdapterError(f"unknown translation {kind!r}")

    def _sql(self, st: PgStatement, params: Params, text: str) -> None:
        conn = self.connection
        values = _params(st, params)
        if st.dml and conn._read_only:
            raise sqlite3.OperationalError("attempt to write a readonly database")
        cur = self._pg
        conn._execute(cur, st, values, text)
        if st.key:
            rows = cur.fetchall()
            for key, new in rows:
                if (new or st.replace) and key is not None:
                    conn._last_rowid = key
            self._rowcount = len(rows)
            conn.total_changes += len(rows)
            return
        if cur.description is not None:
            self._description = tuple(
                (c.name, None, None, None, None, None, None) for c in cur.description
            )
            self._rows = cur.fetchall()
            if st.dml:
                self._rowcount = len(self._rows)
        elif st.dml:
            self._rowcount = max(cur.rowcount, 0)
            conn.total_changes += self._rowcount

    def _split(self, st: PgStatement, params: Params, text: str) -> None:
        """A multi-row INSERT into a merged table, one row at a time, all or nothing."""
        conn = self.connection
        named = isinstance(params, Mapping)
        seq = [] if named else list(params)
        need = sum(n for _, n in st.parts)
        if not named and need != len(seq):
            raise sqlite3.ProgrammingError(
                f"Incorrect number of bindings supplied. The current statement uses {need}, "
                f"and there are {len(seq)} supplied."
            )
        conn._begin_implicit(True)
        began = not conn.in_transaction
        if began:
            conn._raw("BEGIN")
        conn._raw('SAVEPOINT "dbfold_rows"')
        total, offset = 0, 0
        try:
            for part, n in st.parts:
                self._sql(part, params if named else seq[offset : offset + n], text)
                offset += n
                total += max(self._rowcount, 0)
        except BaseException:
            conn._raw('ROLLBACK TO SAVEPOINT "dbfold_rows"')
            conn._raw('RELEASE SAVEPOINT "dbfold_rows"')
            if began:
                conn._raw("COMMIT")
            raise
        conn._raw('RELEASE SAVEPOINT "dbfold_rows"')
        if began:
            conn._raw("COMMIT")
        self._rowcount = total


class PgLegacyConnection:
    """A sqlite3-compatible connection onto a PostgreSQL unified database (see module doc).

    Make one with :func:`dbfold.adapters.connect` and a ``postgresql://`` target.
    """

    def __init__(
        self,
        pg: Any,
        mapping: StoreMap,
        *,
        isolation_level: str | None = "",
        check_same_thread: bool = True,
        read_only: bool = False,
        shown: str = "",
    ) -> None:
        self._pg = pg
        self._map = mapping
        self._translate = pg_translator_for(mapping).translate
        self._isolation: str | None = isolation_level
        self._thread = threading.get_ident() if check_same_thread else None
        self._read_only = read_only
        self._closed = False
        self._shown = shown
        self._last_rowid = 0
        self.row_factory: Any = None
        self.text_factory: Any = str
        self.total_changes = 0

    # -- sqlite3.Connection's surface -------------------------------------------------------

    @property
    def legacy_store(self) -> str:
        """The legacy store this connection speaks for."""
        return self._map.store

    @property
    def isolation_level(self) -> str | None:
        """As sqlite3's: None is autocommit; otherwise DML opens a transaction first."""
        return self._isolation

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        if value is not None and str(value).upper() not in (
            "",
            "DEFERRED",
            "IMMEDIATE",
            "EXCLUSIVE",
        ):
            raise ValueError(
                "isolation_level string must be '', 'DEFERRED', 'IMMEDIATE', or 'EXCLUSIVE'"
            )
        if value is None and self.in_transaction:
            self.commit()
        self._isolation = value

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open (PostgreSQL's own account of it)."""
        from psycopg.pq import TransactionStatus

        return bool(self._pg.info.transaction_status != TransactionStatus.IDLE)

    def cursor(self, factory: Any = None) -> PgLegacyCursor:
        """A new cursor (``factory`` must make a :class:`PgLegacyCursor`)."""
        self._check()
        if factory is None:
            return PgLegacyCursor(self)
        if isinstance(factory, type) and issubclass(factory, PgLegacyCursor):
            return factory(self)
        raise AdapterError(
            f"cursor factory {factory!r} cannot be routed to PostgreSQL: only the adapter's "
            "own cursor runs translated statements"
        )

    def execute(self, sql: str, parameters: Params = (), /) -> PgLegacyCursor:
        """A new cursor's ``execute``."""
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Params], /) -> PgLegacyCursor:
        """A new cursor's ``executemany``."""
        return self.cursor().executemany(sql, parameters)

    def executescript(self, sql_script: str, /) -> PgLegacyCursor:
        """A new cursor's ``executescript``."""
        return self.cursor().executescript(sql_script)

    def commit(self) -> None:
        """Commit the open transaction, if any."""
        self._check()
        if self.in_transaction:
            self._raw("COMMIT")

    def rollback(self) -> None:
        """Roll the open transaction back, if any."""
        self._check()
        if self.in_transaction:
            self._raw("ROLLBACK")

    def close(self) -> None:
        """Close the connection; what was not committed is rolled back (as sqlite3 does)."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):  # closing a broken connection must not raise
            self._pg.close()

    def __enter__(self) -> PgLegacyConnection:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Literal[False]:
        if exc_type is None:
            self.commit()
        else:
            self.rollback()
        return False

    def interrupt(self) -> None:
        """Cancel the statement running on this connection, if any."""
        self._pg.cancel_safe()

    def _unsupported(self, what: str) -> AdapterError:
        return AdapterError(
            f"{what} cannot run on the PostgreSQL unified database (for {self._map.store}): "
            "SQL functions and hooks of the Python process do not reach the server"
        )

    def create_function(self, *args: Any, **kwargs: Any) -> None:
        """Refused: a Python function cannot run inside PostgreSQL."""
        raise self._unsupported("create_function()")

    def create_aggregate(self, *args: Any, **kwargs: Any) -> None:
        """Refused: a Python aggregate cannot run inside PostgreSQL."""
        raise self._unsupported("create_aggregate()")

    def create_collation(self, *args: Any, **kwargs: Any) -> None:
        """Refused: a Python collation cannot run inside PostgreSQL."""
        raise self._unsupported("create_collation()")

    def set_authorizer(self, *args: Any, **kwargs: Any) -> None:
        """Refused: no authorizer hook on PostgreSQL."""
        raise self._unsupported("set_authorizer()")

    def iterdump(self) -> Iterator[str]:
        """Refused: dump the unified database with pg_dump instead."""
        raise self._unsupported("iterdump()")

    def backup(self, *args: Any, **kwargs: Any) -> None:
        """Refused: back the unified database up with pg_dump instead."""
        raise self._unsupported("backup()")

    # -- internals --------------------------------------------------------------------------

    def _check(self) -> None:
        if self._closed:
            raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
        if self._thread is not None and self._thread != threading.get_ident():
            raise sqlite3.ProgrammingError(
                "SQLite objects created in a thread can only be used in that same thread. "
                f"The object was created in thread id {self._thread} and this is thread id "
                f"{threading.get_ident()}."
            )

    def _raw(self, sql: str, params: Sequence[Any] | None = None, text: str = "") -> Any:
        import psycopg

        try:
            return self._pg.execute(sql, params)
        except psycopg.Error as exc:
            raise self._error(exc, text or sql, False) from exc

    def _begin_implicit(self, dml: bool) -> None:
        if dml and self._isolation is not None and not self.in_transaction:
            self._raw("BEGIN")

    def _execute(self, cur: Any, st: PgStatement, values: list[Any], text: str) -> None:
        """Run one statement; inside a transaction, in a savepoint of its own (one round
        trip), so that a failure undoes it alone and leaves the transaction usable."""
        import psycopg

        self._begin_implicit(st.dml)
        if not self.in_transaction:
            try:
                cur.execute(st.sql, values)
            except psycopg.Error as exc:
                raise self._error(exc, text, st.dml) from exc
            return
        pg = self._pg
        try:
            with pg.pipeline():
                pg.execute(_SAVEPOINT)
                cur.execute(st.sql, values)
                pg.execute(_RELEASE)
        except psycopg.Error as exc:
            try:
                pg.execute(_UNDO)
                pg.execute(_RELEASE)
            except psycopg.Error:
                pass  # the connection is gone: the error below says what failed
            raise self._error(exc, text, st.dml) from exc

    def _legacy_table(self, target: str | None) -> tuple[str, dict[str, str]]:
        for mapped in self._map.tables.values():
            if target is not None and mapped.target == target:
                return mapped.legacy, {t: lg for lg, t in mapped.columns}
        return target or "?", {}

    def _error(self, exc: BaseException, text: str, write: bool) -> Exception:
        """The sqlite3 exception SQLite would raise for what PostgreSQL reported."""
        import psycopg

        diag = getattr(exc, "diag", None)
        state = getattr(exc, "sqlstate", None) or ""
        message = redact(" ".join(str(exc).split()))
        table, cols = self._legacy_table(getattr(diag, "table_name", None))
        if state == "23505":
            detail = getattr(diag, "message_detail", None) or ""
            found = _KEY.search(detail)
            names = [c.strip().strip('"') for c in found["cols"].split(",")] if found else []
            names = [cols.get(n, n) for n in names if cols.get(n, n) in cols.values() or not cols]
            listed = ", ".join(f"{table}.{n}" for n in names) or table
            return sqlite3.IntegrityError(f"UNIQUE constraint failed: {listed}")
        if state == "23502":
            col = getattr(diag, "column_name", None) or "?"
            return sqlite3.IntegrityError(
                f"NOT NULL constraint failed: {table}.{cols.get(col, col)}"
            )
        if state == "23503":
            return sqlite3.IntegrityError("FOREIGN KEY constraint failed")
        if state == "23514":
            name = getattr(diag, "constraint_name", None) or ""
            return sqlite3.IntegrityError(f"CHECK constraint failed: {name}")
        if state.startswith("23"):
            return sqlite3.IntegrityError(message)
        if state in _VALUE_STATES or state.startswith("22"):
            cls = ValueRefusedError if write else PgReadError
            return cls(
                f"cannot run {_short(text)!r} on the PostgreSQL unified database for "
                f"{self._map.store}: {message} (SQLite would have kept the value as it was "
                "given; PostgreSQL's column type cannot hold it; convert the value, or change "
                "the column's pg_type in the plan)"
            )
        if state in _LOCKED:
            return sqlite3.OperationalError(f"database is locked ({message})")
        if state.startswith("42") or state.startswith("0A"):
            return sqlite3.OperationalError(message)
        if isinstance(exc, psycopg.OperationalError):
            return sqlite3.OperationalError(message)
        if isinstance(exc, psycopg.InterfaceError):
            return sqlite3.InterfaceError(message)
        return sqlite3.DatabaseError(f"{message} [{state}]")


def _short(sql: str) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= 120 else text[:117] + "..."


def _sequences(pg: Any, mapping: StoreMap, legacy: Path) -> None:
    """The AUTOINCREMENT marks of merged tables (``dbfold_adapter_sequence``), seeded from
    the legacy file's ``sqlite_sequence`` the first time (see the SQLite adapter)."""
    auto = [t for t in mapping.tables.values() if t.autoincrement]
    if not auto:
        return
    pg.execute(SEQUENCE_DDL)
    known = {(n, s) for n, s in pg.execute(f'SELECT "name", "source" FROM "{SEQUENCE_TABLE}"')}
    missing = [t for t in auto if (t.target, t.value or "") not in known]
    if not missing or not legacy.is_file():
        return
    from dbfold.adapters.connection import _legacy_sequence

    marks = _legacy_sequence(legacy)
    for t in missing:
        if t.legacy in marks:
            pg.execute(
                f'INSERT INTO "{SEQUENCE_TABLE}" ("name", "source", "seq") VALUES ($1, $2, $3) '
                'ON CONFLICT ("name", "source") DO NOTHING',
                (t.target, t.value or "", marks[t.legacy]),
            )


def connect_postgres(
    store: str,
    plan: Plan,
    url: str,
    *,
    root: Path | None = None,
    analysis: Analysis | None = None,
    read_only: bool = False,
    timeout: float = 5.0,
    detect_types: int = 0,
    isolation_level: str | None = "",
    check_same_thread: bool = True,
    factory: Any = None,
) -> PgLegacyConnection:
    """Open a :class:`PgLegacyConnection` speaking ``store``'s schema on PostgreSQL ``url``.

    Args:
        store: The store as the plan names it.
        plan: The plan (its ``schema`` holds the unified tables).
        url: The ``postgresql://`` URL of the unified database.
        root: The project root (to find the legacy file's ``sqlite_sequence``).
        analysis: Optional; gives the legacy ``CREATE TABLE`` text for sqlite_master.
        read_only: Open the session read-only.
        timeout: Seconds a statement waits for a row lock (SQLite's busy timeout).
        detect_types, isolation_level, check_same_thread, factory: As for
            ``sqlite3.connect``; ``detect_types`` and a ``factory`` are refused.

    Raises:
        AdapterError: An argument cannot be honoured on PostgreSQL, or the server cannot
            be reached (the message names the target without its password).
    """
    from dbfold.adapters.connection import store_map
    from dbfold.pgurl import connect as pg_connect

    if detect_types:
        raise AdapterError(
            f"detect_types cannot be honoured for {store} on PostgreSQL: converters run on "
            "SQLite's declared types; convert the values in the program instead"
        )
    if factory is not None and factory is not sqlite3.Connection:
        raise AdapterError(
            f"connection factory {factory!r} cannot be routed to PostgreSQL: it is a "
            "sqlite3.Connection subclass, and the unified database is not a SQLite file"
        )
    mapping = store_map(plan, store, analysis)
    try:
        import psycopg

        pg = pg_connect(url, autocommit=True)
    except (DbfoldError, ImportError) as exc:
        raise AdapterError(f"cannot connect {store} to the unified database: {exc}") from exc
    try:
        pg.cursor_factory = psycopg.RawCursor  # $n parameters: a literal % stays as written
        _loaders(pg)
        schema = getattr(plan, "schema", "public") or "public"
        setup = [
            f"SET search_path TO {quote_ident(schema)}",
            f"SET lock_timeout = {max(int(timeout * 1000), 1)}",
            *SESSION_FUNCTIONS,
        ]
        if read_only:
            setup.append("SET default_transaction_read_only = on")
        pg.execute(";\n".join(setup))
        if not read_only:
            _sequences(pg, mapping, (root or Path.cwd()) / store)
    except BaseException:
        pg.close()
        raise
    return PgLegacyConnection(
        pg,
        mapping,
        isolation_level=isolation_level,
        check_same_thread=check_same_thread,
        read_only=read_only,
        shown=redact(url),
    )


def is_pg_target(target: str | os.PathLike[str] | None) -> bool:
    """Whether ``target`` names a PostgreSQL unified database."""
    from dbfold.pgurl import is_postgres

    return target is not None and is_postgres(os.fspath(target))
