"""Where the database lives and how to talk to it: the backend seam.

Everything that depends on the database engine itself (parsing the target, opening and
configuring a connection, classifying driver errors, the online backup) sits behind
:class:`Backend`: :class:`SqliteBackend` here, ``PostgresBackend`` in
:mod:`dbfold.runtime.pg_backend`; the public API of
:class:`~dbfold.runtime.database.UnifiedDatabase` is the same on both.
"""

from __future__ import annotations

import os
import re
import sqlite3
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from dbfold.errors import RuntimeDatabaseError, TargetError
from dbfold.pgurl import redact
from dbfold.runtime.exceptions import ConstraintError, DatabaseBusyError, ForkedDatabaseError
from dbfold.sqlitefiles import fork_refusal, inherited_at_fork, is_held, remove_companions

#: Default target, relative to the current directory (the project root).
DEFAULT_TARGET = "data/unified.db"

# Primary result codes (the low byte of extended codes) we react to.
_BUSY, _LOCKED, _READONLY, _CANTOPEN, _NOTADB = 5, 6, 8, 14, 26


def quote_ident(name: str) -> str:
    """Quote an identifier so any name (spaces, quotes, unicode, keywords) is safe.

    Args:
        name: A table, column, index or savepoint name.

    Returns:
        The name in double quotes, embedded double quotes doubled.

    Raises:
        RuntimeDatabaseError: If the name contains a NUL character (SQLite accepts any other).

    >>> quote_ident('my "odd" table')
    '"my ""odd"" table"'
    """
    if "\x00" in name:  # the one name SQLite refuses; "" is a valid (if odd) name
        raise RuntimeDatabaseError(f"invalid identifier {name!r}; use a name without NUL")
    return '"' + name.replace('"', '""') + '"'


#: Python 3.10's sqlite3 on a value it cannot bind (an InterfaceError, the parameter 0-based
#: or by ``:name``); 3.11+ says ``Error binding parameter 1: type 'dict' is not supported``.
_BIND_310 = re.compile(r"Error binding parameter (\S+?) - probably unsupported type\.")


def _driver_message(exc: BaseException) -> str:
    """The text of a driver error, worded alike on every Python this runs on.

    >>> error = sqlite3.InterfaceError("Error binding parameter 0 - probably unsupported type.")
    >>> _driver_message(error)
    'Error binding parameter 1: its type is not supported'
    """
    text = str(exc)
    found = _BIND_310.fullmatch(text)
    if found is None:
        return text
    where = found[1]  # counted from 1, as 3.11+ does; a named parameter by its name
    number = str(int(where) + 1) if where.isdigit() else where
    return f"Error binding parameter {number}: its type is not supported"


def sqlite_error_code(exc: BaseException) -> int:
    """Return the primary SQLite result code of a driver error, or -1 if it has none."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else -1


class Backend(ABC):
    """One database engine: connection factory, error classification, backup."""

    #: Short engine name used in messages ("sqlite", "postgresql").
    name: str = ""
    #: Statement that opens a write transaction holding the write lock from the start.
    begin_write: str = "BEGIN"
    #: The driver's exception classes (what :meth:`wrap` translates).
    errors: tuple[type[Exception], ...] = ()

    @property
    @abstractmethod
    def location(self) -> str:
        """Human-readable location of the database, used in every error message."""

    @abstractmethod
    def prepare(self) -> None:
        """Check the target is usable (folders exist, file is a database); create folders."""

    @abstractmethod
    def connect(self) -> Any:
        """Open and configure one new connection (autocommit; transactions are explicit)."""

    @abstractmethod
    def is_busy(self, exc: BaseException) -> bool:
        """Tell whether a driver error means "locked by another writer, try again"."""

    @abstractmethod
    def backup(self, destination: Path) -> None:
        """Write a consistent copy of the database to ``destination``."""

    def wrap(self, exc: BaseException, action: str) -> RuntimeDatabaseError:
        """Turn a driver error into the matching :class:`RuntimeDatabaseError` subclass.

        Args:
            exc: The driver exception.
            action: What was being done, e.g. ``"insert into 'items'"``.

        Returns:
            An exception to raise with ``raise … from exc``.
        """
        return RuntimeDatabaseError(f"{self.location}: {action} failed: {exc}")


class SqliteBackend(Backend):
    """A SQLite file in WAL mode, one connection per thread.

    Args:
        path: The database file.
        busy_timeout: Seconds a connection waits for another writer before SQLite reports
            it busy (the runtime then retries on top of this).
    """

    name = "sqlite"
    begin_write = "BEGIN IMMEDIATE"
    # OverflowError: the driver's complaint about integers beyond 64 bits.
    errors = (sqlite3.Error, OverflowError)

    def __init__(self, path: Path, busy_timeout: float = 30.0) -> None:
        self.path = path
        self.busy_timeout = busy_timeout

    @property
    def location(self) -> str:
        return str(self.path)

    def prepare(self) -> None:
        folder = self.path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TargetError(
                f"{self.path}: cannot create folder {folder} ({exc.strerror or exc}); "
                "point target at a writable location"
            ) from exc
        if not folder.is_dir():
            raise TargetError(f"{self.path}: {folder} is not a folder; point target elsewhere")
        # WAL needs to create -wal/-shm files beside the database, so the folder itself
        # must be writable, not only the file.
        if not os.access(folder, os.W_OK | os.X_OK):
            raise TargetError(
                f"{self.path}: folder {folder} is read-only; point target at a writable location"
            )
        if self.path.is_dir():
            raise TargetError(f"{self.path} is a folder; point target at a database file")
        if self.path.exists():
            self._check_header()

    def _check_header(self) -> None:
        # Never read with open(): closing a plain descriptor of a database that other
        # threads of this process have open would drop all their locks (howtocorrupt §2.2).
        # The header is checked by the first connection instead (SQLITE_NOTADB -> wrap()).
        if inherited_at_fork(self.path):
            raise ForkedDatabaseError(fork_refusal(str(self.path)))

    def _not_a_database(self) -> str:
        return (
            f"{self.path} is not a SQLite database; point target at a new or existing database file"
        )

    def connect(self) -> sqlite3.Connection:
        if inherited_at_fork(self.path):
            raise ForkedDatabaseError(fork_refusal(str(self.path)))
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout,
                isolation_level=None,  # autocommit: the runtime issues BEGIN itself
                check_same_thread=False,  # the pool hands connections between threads
                cached_statements=256,
            )
        except sqlite3.Error as exc:
            raise self.wrap(exc, "open") from exc
        try:
            # journal_mode is persistent; switching needs a brief lock, so it can be busy
            # while another process is setting it too. busy_timeout covers that wait.
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            conn.close()
            raise self.wrap(exc, "open") from exc
        return conn

    def is_busy(self, exc: BaseException) -> bool:
        return sqlite_error_code(exc) in (_BUSY, _LOCKED) or (
            isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)
        )

    def backup(self, destination: Path) -> None:
        destination.parent.mkdir(parents=True, exist_ok=True)
        if destination.exists() and is_held(destination):
            raise TargetError(
                f"{destination}: a database this process has open; back up to a new file"
            )
        partial = destination.with_name(destination.name + ".partial")
        remove_companions(partial)
        # A separate reader connection: in WAL mode it sees the last committed state even
        # while the caller holds the write lock, which is exactly the state to keep.
        source = sqlite3.connect(self.path, timeout=self.busy_timeout)
        try:
            target = sqlite3.connect(partial)
            try:
                source.backup(target)
                # The copy leaves WAL mode (it inherits it from the source), so that it is
                # one self-contained file with no -wal or -shm to lose beside it.
                target.execute("PRAGMA journal_mode=DELETE")
            finally:
                target.close()
        finally:
            source.close()
        # The copy must not meet an old journal left beside the destination (§1.3/§1.4).
        remove_companions(destination)
        os.replace(partial, destination)

    def wrap(self, exc: BaseException, action: str) -> RuntimeDatabaseError:
        code = sqlite_error_code(exc)
        if code == _NOTADB or "file is not a database" in str(exc):
            return TargetError(self._not_a_database())
        if code == _READONLY:
            return TargetError(
                f"{self.path} is read-only ({exc}); point target at a writable database file"
            )
        if code == _CANTOPEN:
            return TargetError(f"{self.path}: cannot open the database ({exc}); check the path")
        if self.is_busy(exc):
            return DatabaseBusyError(
                f"{self.path}: {action} failed: the database stayed locked by another writer "
                f"for {self.busy_timeout:g} s; retry, or stop the other writer"
            )
        if isinstance(exc, sqlite3.IntegrityError):
            return ConstraintError(f"{self.path}: {action} failed: {exc}; fix the values written")
        return RuntimeDatabaseError(f"{self.path}: {action} failed: {_driver_message(exc)}")


def open_backend(target: str | os.PathLike[str] | None, busy_timeout: float = 30.0) -> Backend:
    """Pick the backend for a target path or URL.

    Args:
        target: ``None`` (``data/unified.db``), a path, ``sqlite:///relative/path.db``,
            ``sqlite:////absolute/path.db`` or ``postgresql://user@host/database``.
        busy_timeout: Seconds to wait for another writer before retrying.

    Returns:
        A backend, not yet connected.

    Raises:
        TargetError: For an unknown scheme, or an in-memory database.
    """
    raw = os.fspath(target) if target is not None else DEFAULT_TARGET
    if not raw:
        raise TargetError("empty target; give a database path or a sqlite:/// URL")
    scheme, sep, rest = raw.partition("://")
    if sep and "/" not in scheme and "\\" not in scheme:
        scheme = scheme.lower()
        if scheme == "sqlite":
            if not rest.startswith("/"):
                raise TargetError(
                    f"{raw}: a SQLite URL has no host; write sqlite:///relative/path.db "
                    "or sqlite:////absolute/path.db"
                )
            raw = rest[1:]
            if "?" in raw:
                raise TargetError(f"{raw}: query parameters are not supported in SQLite URLs")
        elif scheme in ("postgresql", "postgres") or scheme.startswith("postgresql+"):
            # Imported here: the module needs psycopg, which SQLite users may not have.
            from dbfold.runtime.pg_backend import PostgresBackend

            return PostgresBackend(f"postgresql://{rest}", busy_timeout)
        else:
            raise TargetError(
                f"{redact(raw)}: unknown database scheme {scheme!r}; "
                "use a file path, sqlite:///path.db or postgresql://…"
            )
    if raw in ("", ":memory:") or raw.startswith("file:"):
        raise TargetError(
            f"{raw or target!s}: in-memory and URI targets are not supported (each thread "
            "would see its own database); point target at a database file"
        )
    return SqliteBackend(Path(raw).expanduser(), busy_timeout)


__all__ = [
    "DEFAULT_TARGET",
    "Backend",
    "SqliteBackend",
    "open_backend",
    "quote_ident",
    "sqlite_error_code",
]
