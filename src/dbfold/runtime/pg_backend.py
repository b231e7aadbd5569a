"""PostgreSQL behind the backend seam: psycopg 3 with a bounded ``psycopg_pool`` pool.

SQLite wants one connection per thread and one writer per process; PostgreSQL wants the
opposite: many writers at once (row locks, MVCC), and a connection per *unit of work*. So
here a single statement outside a transaction borrows a connection from the pool for that
statement alone (autocommit), and a ``transaction()`` block borrows one for the whole block
and pins it to its thread; no connection is ever used by two threads at once.

``transaction()`` blocks also take a transaction-scoped advisory lock, so that they are
serialized among themselves as they are on SQLite (where ``BEGIN IMMEDIATE`` takes the
write lock at once): a read-modify-write inside a block can never lose an update to another
block, in any process. Single statements outside blocks run concurrently.

After ``fork`` the child must not touch the parent's sockets (a close would terminate the
parent's sessions): the pool notices the pid change, keeps the inherited pool referenced
so it is never finalized, and opens a new pool of its own.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dbfold.errors import OperationError, RuntimeDatabaseError, TargetError
from dbfold.pgurl import explain_connect, redact
from dbfold.runtime.backend import Backend
from dbfold.runtime.connections import ThreadState, current_pid, pin
from dbfold.runtime.exceptions import ConstraintError, DatabaseBusyError

try:  # the ``postgres`` extra; SQLite users do not need it
    import psycopg
    import psycopg.errors
    import psycopg_pool
    from psycopg.types.string import TextLoader
except ImportError:  # pragma: no cover - reported when a PostgreSQL URL is opened
    psycopg = None  # type: ignore[assignment]

# SQLSTATE classes and codes the runtime reacts to.
_BUSY_STATES = frozenset({"55P03", "40001", "40P01"})  # lock timeout, serialization, deadlock
_CONSTRAINT_KINDS = {
    "23502": "NOT NULL",
    "23503": "FOREIGN KEY",
    "23505": "UNIQUE",
    "23514": "CHECK",
    "23P01": "EXCLUSION",
}
#: Seconds a pooled connection may sit idle before it is checked on the way out.
CHECK_AFTER_IDLE = 30.0
# Inherited pools of a forked child: referenced forever, so they are never finalized.
_INHERITED: list[Any] = []


def _missing_driver() -> TargetError:
    return TargetError(
        "PostgreSQL targets need psycopg and psycopg_pool: pip install 'dbfold[postgres]'"
    )


def advisory_key(*parts: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_xact_lock`` from some names.

    >>> advisory_key("dbfold", "x") == advisory_key("dbfold", "x") != advisory_key("y")
    True
    """
    digest = hashlib.sha256("\x00".join(parts).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PostgresBackend(Backend):
    """A PostgreSQL database (one schema of it: the URL's ``search_path``, else public).

    Args:
        url: ``postgresql://user[:password]@host[:port]/database[?options]``.
        busy_timeout: Seconds to wait for a lock (``lock_timeout``) or a free connection.
    """

    name = "postgresql"
    begin_write = "BEGIN"

    def __init__(self, url: str, busy_timeout: float = 30.0) -> None:
        if psycopg is None:
            raise _missing_driver()
        self.url = url
        self.busy_timeout = busy_timeout
        self.errors: tuple[type[Exception], ...] = (psycopg.Error, psycopg_pool.PoolTimeout)
        self.schema = "public"
        self.dbname = ""

    @property
    def location(self) -> str:
        return redact(self.url)

    def prepare(self) -> None:
        conn = self.connect()
        try:
            schema, dbname = conn.execute("SELECT current_schema(), current_database()").fetchone()
            self.schema, self.dbname = str(schema or "public"), str(dbname)
        finally:
            conn.close()

    def configure(self, conn: Any) -> None:
        """Session settings every connection gets (pool connections and dedicated ones)."""
        # jsonb comes back as text: the runtime decodes JSON columns itself, exactly as on
        # SQLite (so a JSON string "123" stays a string, and decode_json=False is raw text).
        for name in ("json", "jsonb"):
            conn.adapters.register_loader(name, TextLoader)
        # UTC: stored timestamps compare as text, a session zone must not shift them.
        # lock_timeout: a lock held by another writer becomes DatabaseBusyError, not a hang.
        ms = max(1, int(self.busy_timeout * 1000))
        conn.execute(f"SET TIME ZONE 'UTC'; SET lock_timeout = {ms}")

    def connect(self) -> Any:
        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
        except psycopg.OperationalError as exc:
            raise TargetError(explain_connect(self.url, exc)) from exc
        except psycopg.ProgrammingError as exc:  # a malformed URL or option
            raise TargetError(f"{self.location}: not a usable PostgreSQL URL ({exc})") from exc
        try:
            self.configure(conn)
        except psycopg.Error as exc:
            conn.close()
            raise self.wrap(exc, "open") from exc
        return conn

    def is_busy(self, exc: BaseException) -> bool:
        return getattr(exc, "sqlstate", None) in _BUSY_STATES

    def backup(self, destination: Path) -> None:
        """``pg_dump -Fc`` of this backend's schema into ``destination``.

        Raises:
            TargetError: When ``pg_dump`` is not on the PATH or fails.
        """
        tool = shutil.which("pg_dump")
        if tool is None:
            raise TargetError(
                f"{self.location}: pg_dump is not on the PATH, so no backup can be taken; "
                "install the PostgreSQL client tools (apt install postgresql-client, "
                "brew install libpq) or pass backup=False"
            )
        destination.parent.mkdir(parents=True, exist_ok=True)
        partial = destination.with_name(destination.name + ".partial")
        # The password goes through the environment, never onto a command line that
        # every user of the machine can read.
        params = psycopg.conninfo.conninfo_to_dict(self.url)
        env = dict(os.environ)
        password = params.pop("password", None)
        if password is not None:
            env["PGPASSWORD"] = str(password)
        conninfo = psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in params.items()})
        done = subprocess.run(
            [tool, "-Fc", "--schema", self.schema, "-f", str(partial), "-d", conninfo],
            env=env,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            with contextlib.suppress(OSError):
                partial.unlink()
            message = redact(" ".join(done.stderr.split()))[:300]
            raise TargetError(f"{self.location}: pg_dump failed ({message})")
        os.replace(partial, destination)

    def wrap(self, exc: BaseException, action: str) -> RuntimeDatabaseError:
        where = self.location
        if psycopg is not None and isinstance(exc, psycopg_pool.PoolTimeout):
            return DatabaseBusyError(
                f"{where}: {action} failed: all connections stayed in use for "
                f"{self.busy_timeout:g} s; raise max_connections or keep transactions short"
            )
        text = redact(" ".join(str(exc).split()))
        state = getattr(exc, "sqlstate", None)
        if state in _BUSY_STATES:
            return DatabaseBusyError(
                f"{where}: {action} failed: the rows stayed locked by another writer ({text}); "
                "retry, or keep transactions short"
            )
        if state in _CONSTRAINT_KINDS:
            return ConstraintError(
                f"{where}: {action} failed: {_CONSTRAINT_KINDS[state]} constraint failed "
                f"({text}); fix the values written"
            )
        if state == "22003":
            text = f"a number is too large for its column ({text})"
        if psycopg is not None and isinstance(exc, psycopg.OperationalError) and state is None:
            return TargetError(explain_connect(self.url, exc))
        return RuntimeDatabaseError(f"{where}: {action} failed: {text}")


class PgPool:
    """Per-thread state plus a bounded psycopg pool; one connection per unit of work.

    Offers what the rest of the runtime uses of
    :class:`~dbfold.runtime.connections.ConnectionPool`: ``state()``, ``pinned()``,
    ``release()``, ``close()`` and ``open_connections``.

    Args:
        backend: Configures connections and classifies errors.
        max_connections: Upper bound on open connections of this process.
        timeout: Seconds a unit of work waits for a free connection.
    """

    def __init__(self, backend: PostgresBackend, max_connections: int, timeout: float) -> None:
        if max_connections < 1:
            raise RuntimeDatabaseError(
                f"{backend.location}: max_connections must be at least 1, not {max_connections}"
            )
        self.backend = backend
        self.max_connections = max_connections
        self.timeout = timeout
        self.closed = False
        self._local = threading.local()
        self._lock = threading.Lock()
        self._pid = -1
        self._pool: Any = None
        # When each connection last came back (by id): long-idle ones are checked first.
        self._returned: dict[int, float] = {}
        self.tx_key = advisory_key("dbfold.tx", backend.url.split("?")[0], backend.schema)

    def _make_pool(self) -> Any:
        pool = psycopg_pool.ConnectionPool(
            self.backend.url,
            min_size=1,
            max_size=self.max_connections,
            timeout=self.timeout,
            kwargs={"autocommit": True, "connect_timeout": 5},
            configure=self.backend.configure,
            check=self._check,
            name=f"dbfold-{os.getpid()}",
            open=False,
        )
        try:
            pool.open(wait=True, timeout=min(self.timeout, 10.0))
        except psycopg_pool.PoolTimeout as exc:
            with contextlib.suppress(Exception):
                pool.close(timeout=0)
            # Say why: a direct connection gives the server's own reason.
            self.backend.connect().close()
            raise TargetError(f"{self.backend.location}: no connection could be opened") from exc
        return pool

    def _check(self, conn: Any) -> None:
        # Checked only when idle for a while: a check is one more round trip, and a
        # connection that just finished a statement is known to work.
        if time.monotonic() - self._returned.get(id(conn), 0.0) > CHECK_AFTER_IDLE:
            conn.execute("")

    def pool(self) -> Any:
        """The psycopg pool of this process (a forked child opens its own)."""
        pool = self._pool
        if pool is None or self._pid != current_pid():
            with self._lock if self._pid == current_pid() else contextlib.nullcontext():
                if self.closed:
                    raise RuntimeDatabaseError(
                        f"{self.backend.location}: the database was closed; "
                        "open a new UnifiedDatabase"
                    )
                if self._pool is None or self._pid != current_pid():
                    if self._pool is not None:
                        _INHERITED.append(self._pool)  # the parent's: never close it here
                        self._lock = threading.Lock()
                        self._local = threading.local()
                        self._returned = {}
                    self._pool = self._make_pool()
                    self._pid = current_pid()
                pool = self._pool
        return pool

    def state(self) -> ThreadState:
        """This thread's state (transaction connection, depth, operation stack)."""
        st: ThreadState | None = getattr(self._local, "st", None)
        if st is None or st.pid != current_pid():
            if self.closed:
                raise RuntimeDatabaseError(
                    f"{self.backend.location}: the database was closed; open a new UnifiedDatabase"
                )
            st = ThreadState(current_pid())
            self._local.st = st
        return st

    @contextmanager
    def connection(self) -> Iterator[Any]:
        """Borrow a connection for one unit of work (autocommit)."""
        with self.pool().connection() as conn:
            yield conn
            # Stamped here rather than in a pool ``reset`` callback: with one, psycopg_pool
            # hands every returned connection to a worker thread, a third of the throughput.
            self._returned[id(conn)] = time.monotonic()

    @contextmanager
    def pinned(self, conn: Any, depth: int = 1) -> Iterator[ThreadState]:
        """Make this thread use ``conn`` (inside a transaction) for a while (migrations)."""
        with pin(self._local, ThreadState(current_pid(), conn, depth)) as st:
            yield st

    def release(self) -> None:
        """Nothing to give back between units of work; refused inside a transaction."""
        st: ThreadState | None = getattr(self._local, "st", None)
        if st is not None and st.depth:
            raise OperationError(
                f"{self.backend.location}: release() called inside a transaction; "
                "leave the transaction first"
            )

    @property
    def open_connections(self) -> int:
        """How many connections the pool holds now."""
        if self._pool is None or self._pid != current_pid():
            return 0
        return int(self._pool.get_stats().get("pool_size", 0))

    def close(self) -> None:
        """Close the pool; later use raises RuntimeDatabaseError."""
        self.closed = True
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if self._pid != current_pid():
            _INHERITED.append(pool)
            return
        with contextlib.suppress(Exception):
            pool.close(timeout=5)


__all__ = ["CHECK_AFTER_IDLE", "PgPool", "PostgresBackend", "advisory_key"]
