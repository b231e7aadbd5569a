"""Per-thread connections, bounded, fork-safe, with one in-process write lock per database.

Like peewee, each thread gets its own connection for reading (SQLite connections must not be
used by two threads at once) and keeps it for its lifetime, so the hot path is one
thread-local lookup. The pool is bounded: a thread beyond ``max_connections`` waits until
another thread calls ``release()`` or exits.

Writes go through one writer connection per pool, guarded by a process-wide
:class:`threading.RLock`. Writers of one process queue on that lock instead of spinning in
SQLite's busy handler (which sleeps in coarse steps), and because every write uses the same
connection its page cache stays warm: alternating writers on separate connections would
each find the database changed and discard their cache on every statement, which halves
multi-threaded throughput. Other processes are kept out by SQLite's own lock
(``BEGIN IMMEDIATE`` plus ``busy_timeout``).
"""

from __future__ import annotations

import contextlib
import os
import random
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from dbfold.errors import OperationError, RuntimeDatabaseError
from dbfold.runtime.backend import Backend
from dbfold.runtime.exceptions import DatabaseBusyError

T = TypeVar("T")


class _Process:
    """The current pid, refreshed in a forked child so the hot path never calls getpid."""

    pid = os.getpid()


# One write lock per database file, shared by every UnifiedDatabase of the process.
_WRITE_LOCKS: dict[str, threading.RLock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()
# A forked child must neither use nor close the connections it inherited (closing one could
# checkpoint or unlink the parent's WAL); keeping them referenced here means they are never
# finalized in the child.
_INHERITED: list[Any] = []
_POOLS: weakref.WeakSet[ConnectionPool] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    global _WRITE_LOCKS_GUARD
    _Process.pid = os.getpid()
    # Locks may have been held by parent threads that do not exist in the child.
    _WRITE_LOCKS_GUARD = threading.Lock()
    _WRITE_LOCKS.clear()
    for pool in list(_POOLS):
        pool._forget_parent()


def _before_fork() -> None:
    # A child inherits SQLite's per-inode lock records but not the fcntl locks, so a
    # database it inherited open cannot be used safely there. Closing what no thread is
    # using right now lets a child of a process that was only using the database from the
    # forking thread start clean; a database still open elsewhere is refused in the child.
    for pool in list(_POOLS):
        pool._shed_for_fork()


os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


def current_pid() -> int:
    """The pid of this process, kept current across ``fork``."""
    return _Process.pid


def write_lock_for(key: str) -> threading.RLock:
    """Return the process-wide writer lock for one database location (re-entrant)."""
    with _WRITE_LOCKS_GUARD:
        lock = _WRITE_LOCKS.get(key)
        if lock is None:
            lock = _WRITE_LOCKS[key] = threading.RLock()
        return lock


def retry_busy(backend: Backend, action: str, func: Callable[[], T], timeout: float) -> T:
    """Run ``func``, retrying with jittered backoff while the database reports busy.

    SQLite's busy handler already waits ``busy_timeout`` inside most calls; this loop covers
    the cases that return SQLITE_BUSY at once (a stale WAL snapshot, a concurrent recovery)
    and turns a final failure into a :class:`DatabaseBusyError` naming the file.
    """
    deadline = time.monotonic() + timeout
    delay = 0.002
    while True:
        try:
            return func()
        except backend.errors as exc:
            if not backend.is_busy(exc) or time.monotonic() >= deadline:
                raise backend.wrap(exc, action) from exc
        time.sleep(delay * (0.5 + random.random()))
        delay = min(delay * 2, 0.1)


def acquire(lock: threading.RLock, timeout: float, location: str) -> None:
    """Take the process-wide write lock, or fail with :class:`DatabaseBusyError`."""
    if not lock.acquire(timeout=timeout):
        raise DatabaseBusyError(
            f"{location}: another thread of this process held the write lock for "
            f"{timeout:g} s; keep transactions short"
        )


class ThreadState:
    """What one thread holds for one database.

    Attributes:
        conn: The thread's reading connection, opened on first read (``None`` before).
        tx: The connection of the open transaction (the writer), ``None`` outside one.
        depth: 0 outside a transaction; 1 in a transaction; more inside savepoints.
        pid: The process this state belongs to (a fork makes it stale).
        operations: The stack of ``with db.operation(…)`` blocks open in this thread.
    """

    __slots__ = ("conn", "depth", "operations", "pid", "tx")

    def __init__(self, pid: int, tx: Any = None, depth: int = 0) -> None:
        self.conn: Any = None
        self.tx = tx
        self.depth = depth
        self.pid = pid
        self.operations: list[Any] = []


@contextmanager
def pin(local: threading.local, st: ThreadState) -> Iterator[ThreadState]:
    """Make ``st`` this thread's connection state for a while, then restore the one before
    (both pools pin a migration's connection this way)."""
    saved: ThreadState | None = getattr(local, "st", None)
    local.st = st
    try:
        yield st
    finally:
        if saved is None:
            del local.st
        else:
            local.st = saved


class ConnectionPool:
    """Hands each thread its own connection, at most ``max_connections`` at once.

    Args:
        backend: Opens new connections.
        max_connections: Upper bound on open connections for this pool.
        timeout: Seconds a thread waits for a free connection before
            :class:`DatabaseBusyError`.
    """

    def __init__(self, backend: Backend, max_connections: int = 16, timeout: float = 30.0) -> None:
        if max_connections < 1:
            raise RuntimeDatabaseError(
                f"{backend.location}: max_connections must be at least 1, not {max_connections}"
            )
        self.backend = backend
        self.max_connections = max_connections
        self.timeout = timeout
        self.closed = False
        self._pid = _Process.pid
        self._key = os.path.realpath(backend.location)
        self.write_lock = write_lock_for(self._key)
        self._local = threading.local()
        self._cond = threading.Condition()
        self._in_use: dict[threading.Thread, Any] = {}
        self._idle: list[Any] = []
        self._writer: Any = None
        _POOLS.add(self)

    def state(self) -> ThreadState:
        """Return this thread's state (the hot path: one thread-local lookup)."""
        st: ThreadState | None = getattr(self._local, "st", None)
        if st is None or st.pid != _Process.pid:
            st = self._attach()
        return st

    def read_conn(self) -> Any:
        """The connection this thread reads with: its transaction's, else its own."""
        st = self.state()
        if st.tx is not None:
            return st.tx
        if st.conn is None:
            st.conn = self._checkout()
        return st.conn

    def writer(self) -> Any:
        """The shared writer connection; call only while holding :attr:`write_lock`."""
        if self._writer is None:
            if self.closed:
                raise RuntimeDatabaseError(
                    f"{self.backend.location}: the database was closed; open a new one"
                )
            self._writer = self.backend.connect()
        return self._writer

    @property
    def open_connections(self) -> int:
        """How many connections this pool holds (in use plus idle)."""
        with self._cond:
            return len(self._in_use) + len(self._idle)

    def _attach(self) -> ThreadState:
        if self.closed:
            raise RuntimeDatabaseError(
                f"{self.backend.location}: the database was closed; open a new UnifiedDatabase"
            )
        st = ThreadState(_Process.pid)
        self._local.st = st
        return st

    def _checkout(self) -> Any:
        me = threading.current_thread()
        deadline = time.monotonic() + self.timeout
        with self._cond:
            while True:
                self._reap()
                if self._idle:
                    conn = self._idle.pop()
                    self._in_use[me] = conn
                    return conn
                if len(self._in_use) < self.max_connections:
                    self._in_use[me] = None  # reserve the slot; connect outside the lock
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise DatabaseBusyError(
                        f"{self.backend.location}: all {self.max_connections} connections "
                        f"stayed in use for {self.timeout:g} s; raise max_connections or call "
                        "release() in threads that are done"
                    )
                # Dead threads do not notify, so poll: reaping finds them.
                self._cond.wait(min(remaining, 0.05))
        try:
            conn = self.backend.connect()
        except BaseException:
            with self._cond:
                self._in_use.pop(me, None)
                self._cond.notify()
            raise
        with self._cond:
            self._in_use[me] = conn
        return conn

    def _reap(self) -> None:
        """Take back connections of threads that ended without calling release()."""
        for thread in [t for t in self._in_use if not t.is_alive()]:
            conn = self._in_use.pop(thread)
            if conn is not None:
                self._recycle(conn)

    def _recycle(self, conn: Any) -> None:
        try:
            if conn.in_transaction:
                conn.rollback()
            self._idle.append(conn)
        except Exception:
            # A broken connection is simply dropped; the slot frees either way.
            pass

    def release(self) -> None:
        """Give this thread's connection back so another thread may use it.

        Raises:
            OperationError: If the thread is inside a transaction.
        """
        st: ThreadState | None = getattr(self._local, "st", None)
        if st is None or st.pid != _Process.pid:
            return
        if st.depth:
            raise OperationError(
                f"{self.backend.location}: release() called inside a transaction; "
                "leave the transaction first"
            )
        del self._local.st
        if st.conn is None:
            return
        with self._cond:
            self._in_use.pop(threading.current_thread(), None)
            if not self.closed:
                self._recycle(st.conn)
            self._cond.notify()

    @contextmanager
    def pinned(self, conn: Any, depth: int = 1) -> Iterator[ThreadState]:
        """Make this thread use ``conn`` (already inside a transaction) for a while.

        Schema migrations run on their own connection; callables in ``get_migrations()``
        call the ordinary data API, which must reach that connection, not the pool's.
        """
        with pin(self._local, ThreadState(_Process.pid, conn, depth)) as st:
            yield st

    def _shed_for_fork(self) -> None:
        """Before a fork: close the idle connections, this thread's, and the free writer."""
        if self.closed or self._pid != _Process.pid:
            return
        conns = []
        with self._cond:
            conns += self._idle
            self._idle = []
            st: ThreadState | None = getattr(self._local, "st", None)
            if st is not None and st.conn is not None and st.tx is None and not st.depth:
                self._in_use.pop(threading.current_thread(), None)
                conns.append(st.conn)
                st.conn = None
        if self.write_lock.acquire(blocking=False):
            try:
                writer = self._writer
                if writer is not None and not writer.in_transaction:
                    conns.append(writer)
                    self._writer = None
            finally:
                self.write_lock.release()
        for conn in conns:
            with contextlib.suppress(Exception):
                conn.close()

    def _forget_parent(self) -> None:
        """In a forked child: drop (never close) the parent's connections and locks."""
        _INHERITED.extend(conn for conn in self._in_use.values() if conn is not None)
        _INHERITED.extend(self._idle)
        if self._writer is not None:
            _INHERITED.append(self._writer)
            self._writer = None
        st = getattr(self._local, "st", None)
        if st is not None and st.conn is not None:
            _INHERITED.append(st.conn)
        self._in_use = {}
        self._idle = []
        self._local = threading.local()
        self._cond = threading.Condition()
        self._pid = _Process.pid
        self.write_lock = write_lock_for(self._key)

    def close(self) -> None:
        """Close every connection of this pool; later use raises RuntimeDatabaseError."""
        with self._cond:
            self.closed = True
            conns = [c for c in self._in_use.values() if c is not None] + self._idle
            if self._writer is not None:
                conns.append(self._writer)
                self._writer = None
            self._in_use = {}
            self._idle = []
            self._cond.notify_all()
        if self._pid != _Process.pid:
            _INHERITED.extend(conns)
            return
        for conn in conns:
            # Closing is best effort: a connection busy in another thread closes with it.
            with contextlib.suppress(Exception):
                conn.close()
        self._local = threading.local()


__all__ = [
    "ConnectionPool",
    "ThreadState",
    "acquire",
    "current_pid",
    "retry_busy",
    "write_lock_for",
]
