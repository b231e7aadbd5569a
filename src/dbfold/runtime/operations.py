"""The operation log: what ran, for how long, whether it finished, and where it stopped.

Every long task records itself in ``dbfold_operations``: ``start`` inserts a ``running``
row, ``complete``/``fail`` close it with a duration, ``checkpoint`` stores progress. An
operation whose process died (same host, process gone) is marked ``abandoned`` so the work
can resume from its last checkpoint. The hot path (start and complete) is one statement
each, with values computed in Python so no read is needed.

What one operation costs is mostly SQLite's: each statement commits, and every page it
changes is one more WAL frame. So the table carries no index (an index on ``status`` is
rewritten by every start and every complete, which made each operation a third slower);
the few queries for running operations (abandoned detection, ``incomplete()``) scan the
table instead, about 0.1 s per million operations. The status check is spelled with
``=``/``OR`` because SQLite evaluates a CHECK's ``IN (…)`` list by building a temporary
index for every row written.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from dbfold.errors import OperationError
from dbfold.runtime.connections import ConnectionPool, current_pid
from dbfold.runtime.jsoncols import dump_json, load_json
from dbfold.runtime.timeutil import cutoff_iso, now_iso

# Databases created by earlier versions carry an index on (status, kind) and the IN check;
# the index is dropped at their next migration, the check stays (it would take a rebuild).
OPERATIONS_DDL = """
CREATE TABLE IF NOT EXISTS dbfold_operations (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'running' CHECK (
        status = 'running' OR status = 'completed' OR status = 'failed' OR status = 'abandoned'
    ),
    metadata JSON,
    result JSON,
    parent_id INTEGER REFERENCES dbfold_operations (id) ON DELETE SET NULL,
    pid INTEGER,
    host TEXT,
    process TEXT,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    duration REAL,
    error TEXT,
    checkpoint JSON,
    checkpoint_at TEXT
);
DROP INDEX IF EXISTS dbfold_operations_status;
"""

#: The two hot-path statements; the benchmark runs exactly these through raw sqlite3.
START_SQL = (
    "INSERT INTO dbfold_operations (kind, metadata, parent_id, pid, host, process, started_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
FINISH_SQL = (
    "UPDATE dbfold_operations SET status = ?, finished_at = ?, "
    "duration = coalesce(?, (julianday(?) - julianday(started_at)) * 86400.0), "
    "result = ?, error = ? WHERE id = ? AND status IN ('running', 'abandoned')"
)
#: The same two on PostgreSQL (``?`` placeholders are translated as everywhere): the new id
#: comes back through RETURNING, the fallback duration from the timestamps' difference.
PG_START_SQL = START_SQL + " RETURNING id"
PG_FINISH_SQL = FINISH_SQL.replace(
    "(julianday(?) - julianday(started_at)) * 86400.0",
    "extract(epoch FROM (?::timestamptz - started_at::timestamptz))::double precision",
)
#: Per-kind counts and percentiles in one pass on PostgreSQL (``percentile_cont``
#: interpolates linearly, as :func:`percentile` does on SQLite's rows).
PG_STATS_SQL = (
    "SELECT kind, count(*), count(*) FILTER (WHERE status = 'completed'), "
    "count(*) FILTER (WHERE status = 'failed'), count(*) FILTER (WHERE status = 'running'), "
    "count(*) FILTER (WHERE status = 'abandoned'), "
    "percentile_cont(0.5) WITHIN GROUP (ORDER BY duration) "
    "FILTER (WHERE status = 'completed' AND duration IS NOT NULL), "
    "percentile_cont(0.95) WITHIN GROUP (ORDER BY duration) "
    "FILTER (WHERE status = 'completed' AND duration IS NOT NULL) "
    "FROM dbfold_operations{where} GROUP BY kind ORDER BY kind"
)
_COLUMNS = (
    "id, kind, status, metadata, result, parent_id, pid, host, started_at, finished_at, "
    "duration, error, checkpoint, checkpoint_at"
)

Writer = Callable[[str, Sequence[Any]], Any]
Reader = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]


def _start_ticks(pid: int) -> str | None:
    """The kernel's start time of a process (Linux), to tell a reused pid from the original."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None


def process_token(pid: int) -> str:
    """``pid@start-time``: unique per process even when pids are reused after restarts."""
    return f"{pid}@{_start_ticks(pid) or ''}"


def process_alive(pid: int, token: str | None) -> bool:
    """Whether the process that wrote ``token`` still runs (zombies count as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc: trust kill(0)
    fields = stat.rpartition(")")[2].split()
    if fields and fields[0] in ("Z", "X"):
        return False
    if token and "@" in token and len(fields) > 19:
        recorded = token.partition("@")[2]
        return not recorded or recorded == fields[19]
    return True


@dataclass(frozen=True)
class OperationRecord:
    """One row of the operation log, JSON fields decoded.

    Attributes:
        id: The operation id.
        kind: What kind of work (``"migrate"``, ``"enhance"`` …).
        status: ``running``, ``completed``, ``failed`` or ``abandoned``.
        metadata: What it was started with.
        result: What it completed with.
        parent_id: The enclosing operation, if any.
        pid: The process that ran it.
        host: The machine that ran it.
        started_at: ISO UTC start time.
        finished_at: ISO UTC end time, if finished.
        duration: Seconds, if finished.
        error: Why it failed or was abandoned.
        checkpoint: The last progress stored with ``checkpoint()``.
        checkpoint_at: When that was stored.
    """

    id: int
    kind: str
    status: str
    metadata: dict[str, Any]
    result: dict[str, Any]
    parent_id: int | None
    pid: int | None
    host: str | None
    started_at: str
    finished_at: str | None
    duration: float | None
    error: str | None
    checkpoint: Any
    checkpoint_at: str | None

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> OperationRecord:
        """Build a record from a row selected with the log's column list."""
        values = list(row)
        for pos in (3, 4, 12):
            if isinstance(values[pos], str):
                values[pos] = load_json(values[pos])
        values[3] = values[3] or {}
        values[4] = values[4] or {}
        return cls(*values)


@dataclass(frozen=True)
class OperationStats:
    """Counts and duration percentiles for one kind of operation.

    Attributes:
        kind: The operation kind.
        count: All operations of this kind.
        completed: Finished successfully.
        failures: Finished with an error.
        running: Still running.
        abandoned: Left running by a process that died.
        p50: Median duration of completed operations, in seconds.
        p95: 95th percentile duration of completed operations, in seconds.
    """

    kind: str
    count: int
    completed: int
    failures: int
    running: int
    abandoned: int
    p50: float | None
    p95: float | None


def percentile(sorted_values: Sequence[float], fraction: float) -> float | None:
    """Linear-interpolated percentile of an ascending sequence.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 0.5)
    2.5
    """
    if not sorted_values:
        return None
    pos = (len(sorted_values) - 1) * fraction
    low = int(pos)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (pos - low)


class Operation:
    """A running operation; also a context manager (``with db.operation(…) as op``).

    Attributes:
        operation_id: The row id in ``dbfold_operations``.
        kind: The operation kind.
        metadata: What it was started with.
        parent_id: The enclosing operation, if any.
        resumed_checkpoint: The checkpoint it resumed from (``None`` for a fresh start).
        status: ``running`` until completed or failed through this object.
    """

    __slots__ = (
        "_log",
        "kind",
        "metadata",
        "operation_id",
        "parent_id",
        "resumed_checkpoint",
        "status",
    )

    def __init__(
        self,
        log: OperationLog,
        operation_id: int,
        kind: str,
        metadata: dict[str, Any],
        parent_id: int | None,
        resumed_checkpoint: Any = None,
    ) -> None:
        self._log = log
        self.operation_id = operation_id
        self.kind = kind
        self.metadata = metadata
        self.parent_id = parent_id
        self.resumed_checkpoint = resumed_checkpoint
        self.status = "running"

    def checkpoint(self, data: Any) -> None:
        """Store progress (any JSON value) so a resumed run can continue from it."""
        self._log.checkpoint(self.operation_id, data)

    def complete(self, **result: Any) -> None:
        """Mark the operation completed, storing ``result`` as JSON."""
        self._log.finish(self.operation_id, "completed", result, None)
        self.status = "completed"

    def fail(self, error: BaseException | str) -> None:
        """Mark the operation failed with an error message or exception."""
        self._log.finish(self.operation_id, "failed", None, error)
        self.status = "failed"

    def __enter__(self) -> Operation:
        self._log.stack().append(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack = self._log.stack()
        if stack and stack[-1] is self:
            stack.pop()
        if self.status != "running":
            return  # finished explicitly inside the block
        if exc is None:
            self.complete()
        else:
            self.fail(exc)

    def __repr__(self) -> str:
        return f"Operation(id={self.operation_id}, kind={self.kind!r}, status={self.status!r})"


class OperationLog:
    """Reads and writes ``dbfold_operations`` for one database.

    Args:
        pool: Gives the per-thread operation stack.
        write: Runs one write statement under the write lock; returns the cursor.
        read: Runs one query; returns raw tuples.
        location: The database location, for messages.
        dialect: ``"sqlite"`` or ``"postgresql"``: which statements to run.
    """

    def __init__(
        self, pool: Any, write: Writer, read: Reader, location: str, dialect: str = "sqlite"
    ) -> None:
        self._pool: ConnectionPool = pool
        self._pg = dialect == "postgresql"
        self._start_sql = PG_START_SQL if self._pg else START_SQL
        self._finish_sql = PG_FINISH_SQL if self._pg else FINISH_SQL
        # SQLite's IS compares NULLs as equal; PostgreSQL spells that out.
        self._same = "IS NOT DISTINCT FROM" if self._pg else "IS"
        self._write = write
        self._read = read
        self._location = location
        self._host = socket.gethostname()
        self._pid = -1
        self._token = ""
        # Monotonic start times of operations started here: no read needed at completion.
        self._started: dict[int, float] = {}

    def stack(self) -> list[Any]:
        """This thread's stack of open ``with`` operations."""
        return self._pool.state().operations

    def start(self, kind: str, parent_id: int | None, metadata: dict[str, Any]) -> Operation:
        """Insert a running operation; the innermost open ``with`` block is its parent."""
        if parent_id is None:
            stack = self._pool.state().operations
            if stack:
                parent_id = stack[-1].operation_id
        pid = current_pid()
        if pid != self._pid:  # first use, or a forked child: its own pid and token
            self._token = process_token(pid)
            self._pid = pid
        # Values are computed before taking the write lock, so that this thread's Python
        # work overlaps other threads' statements instead of lengthening the queue.
        cursor = self._write(
            self._start_sql,
            (
                kind,
                dump_json(metadata) if metadata else None,
                parent_id,
                pid,
                self._host,
                self._token,
                now_iso(),
            ),
        )
        op_id: int = cursor.fetchone()[0] if self._pg else cursor.lastrowid
        self._started[op_id] = time.monotonic()
        return Operation(self, op_id, kind, metadata, parent_id)

    def finish(
        self,
        op_id: int,
        status: str,
        result: dict[str, Any] | None,
        error: BaseException | str | None,
    ) -> None:
        """Close an operation as ``completed`` or ``failed``.

        Raises:
            OperationError: If the id is unknown or the operation already finished.
        """
        began = self._started.pop(op_id, None)
        if isinstance(error, BaseException):
            error = f"{type(error).__name__}: {error}"
        now = now_iso()
        cursor = self._write(
            self._finish_sql,
            (
                status,
                now,
                None if began is None else time.monotonic() - began,
                now,
                dump_json(result) if result else None,
                error,
                op_id,
            ),
        )
        if cursor.rowcount == 0:
            self._explain(op_id, "finish")

    def checkpoint(self, op_id: int, data: Any) -> None:
        """Store ``data`` as the operation's latest checkpoint.

        Raises:
            OperationError: If the id is unknown or the operation already finished.
        """
        cursor = self._write(
            "UPDATE dbfold_operations SET checkpoint = ?, checkpoint_at = ? "
            "WHERE id = ? AND status = 'running'",
            (dump_json(data), now_iso(), op_id),
        )
        if cursor.rowcount == 0:
            self._explain(op_id, "checkpoint")

    def _explain(self, op_id: int, action: str) -> None:
        rows = self._read("SELECT status FROM dbfold_operations WHERE id = ?", (op_id,))
        if not rows:
            raise OperationError(
                f"{self._location}: cannot {action} operation {op_id}: no such operation; "
                "use the id returned by start_operation()"
            )
        raise OperationError(
            f"{self._location}: cannot {action} operation {op_id}: it is already {rows[0][0]}; "
            "start a new operation or resume_operation() an abandoned one"
        )

    def get(self, op_id: int) -> OperationRecord:
        """Read one operation. Raises OperationError if there is no such id."""
        rows = self._read(f"SELECT {_COLUMNS} FROM dbfold_operations WHERE id = ?", (op_id,))
        if not rows:
            raise OperationError(
                f"{self._location}: no operation {op_id}; use an id from start_operation()"
            )
        return OperationRecord.from_row(rows[0])

    def mark_abandoned(self) -> int:
        """Mark running operations of dead processes on this host as abandoned.

        Returns:
            How many operations were marked.
        """
        rows = self._read(
            "SELECT DISTINCT pid, process FROM dbfold_operations "
            "WHERE status = 'running' AND host = ?",
            (self._host,),
        )
        marked = 0
        for pid, token in rows:
            if pid is None or process_alive(int(pid), token):
                continue
            cursor = self._write(
                "UPDATE dbfold_operations SET status = 'abandoned', error = ? "
                f"WHERE status = 'running' AND host = ? AND pid = ? AND process {self._same} ?",
                (f"process {pid} on {self._host} ended while it ran", self._host, pid, token),
            )
            marked += cursor.rowcount
        return marked

    def incomplete(self, kind: str | None) -> list[OperationRecord]:
        """Running and abandoned operations, oldest first, with their last checkpoint."""
        self.mark_abandoned()
        sql = f"SELECT {_COLUMNS} FROM dbfold_operations WHERE status IN ('running', 'abandoned')"
        params: tuple[Any, ...] = ()
        if kind is not None:
            sql += " AND kind = ?"
            params = (kind,)
        return [OperationRecord.from_row(row) for row in self._read(sql + " ORDER BY id", params)]

    def resume(self, op_id: int) -> Operation:
        """Take over an abandoned or failed operation in this process.

        Raises:
            OperationError: If the id is unknown or the operation is running or completed.
        """
        record = self.get(op_id)
        if record.status not in ("abandoned", "failed"):
            raise OperationError(
                f"{self._location}: operation {op_id} is {record.status}, not abandoned; "
                "only abandoned or failed operations can be resumed"
            )
        pid = current_pid()
        cursor = self._write(
            "UPDATE dbfold_operations SET status = 'running', pid = ?, host = ?, process = ?, "
            "error = NULL, finished_at = NULL, duration = NULL "
            "WHERE id = ? AND status IN ('abandoned', 'failed')",
            (pid, self._host, process_token(pid), op_id),
        )
        if cursor.rowcount == 0:
            self._explain(op_id, "resume")
        return Operation(
            self, op_id, record.kind, record.metadata, record.parent_id, record.checkpoint
        )

    def stats(
        self, kind: str | None, since: datetime | timedelta | None
    ) -> dict[str, OperationStats]:
        """Per-kind counts and p50/p95 of completed durations (seconds)."""
        self.mark_abandoned()
        clauses: list[str] = []
        params: list[Any] = []
        if kind is not None:
            clauses.append("kind = ?")
            params.append(kind)
        if since is not None:
            clauses.append("started_at >= ?")
            params.append(cutoff_iso(since))
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        if self._pg:
            return {
                str(row[0]): OperationStats(
                    str(row[0]),
                    int(row[1]),
                    int(row[2]),
                    int(row[3]),
                    int(row[4]),
                    int(row[5]),
                    row[6],
                    row[7],
                )
                for row in self._read(PG_STATS_SQL.format(where=where), params)
            }
        rows = self._read(f"SELECT kind, status, duration FROM dbfold_operations{where}", params)
        grouped: dict[str, list[tuple[str, float | None]]] = {}
        for row_kind, status, duration in rows:
            grouped.setdefault(row_kind, []).append((status, duration))
        out: dict[str, OperationStats] = {}
        for name in sorted(grouped):
            items = grouped[name]
            durations = sorted(d for s, d in items if s == "completed" and d is not None)
            count = {s: 0 for s in ("completed", "failed", "running", "abandoned")}
            for status, _ in items:
                count[status] = count.get(status, 0) + 1
            out[name] = OperationStats(
                name,
                len(items),
                count["completed"],
                count["failed"],
                count["running"],
                count["abandoned"],
                percentile(durations, 0.5),
                percentile(durations, 0.95),
            )
        return out


__all__ = [
    "FINISH_SQL",
    "OPERATIONS_DDL",
    "PG_FINISH_SQL",
    "PG_START_SQL",
    "PG_STATS_SQL",
    "START_SQL",
    "Operation",
    "OperationLog",
    "OperationRecord",
    "OperationStats",
    "percentile",
    "process_alive",
]
