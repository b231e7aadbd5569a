"""optimize(): compact and reindex a SQLite target, with sizes before and after.

Runs ``integrity_check`` first (a damaged file is not rewritten), keeps one row per key of
the adapters' write log (:func:`~dbfold.provenance.compact_log`), then runs ``VACUUM``,
``REINDEX``, ``ANALYZE`` and ``PRAGMA optimize``. While another process writes the database,
it refuses: it first takes the write lock with ``BEGIN IMMEDIATE`` and a short timeout, and
says so clearly if that fails.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from dbfold.errors import OptimizeError
from dbfold.migrate.report import OptimizeReport
from dbfold.provenance import compact_log

LOCK_TIMEOUT = 0.5


def _size(path: Path) -> int:
    total = path.stat().st_size
    wal = Path(f"{path}-wal")
    return total + (wal.stat().st_size if wal.exists() else 0)


def optimize(target: Path, *, timeout: float = LOCK_TIMEOUT) -> OptimizeReport:
    """Compact and reindex ``target``.

    Args:
        target: a SQLite database file.
        timeout: seconds to wait for another process's write lock.

    Returns:
        Sizes before and after, the steps run and the integrity check's answer.

    Raises:
        OptimizeError: the file is missing, not SQLite, damaged, or another process is
            writing it.
    """
    started = time.perf_counter()
    if not target.is_file():
        raise OptimizeError(f"{target}: no such database; give the path of the target")
    with open(target, "rb") as f:
        if f.read(16) != b"SQLite format 3\x00":
            raise OptimizeError(f"{target}: not a SQLite database")
    before = _size(target)
    try:
        con = sqlite3.connect(target, isolation_level=None, timeout=timeout)
    except sqlite3.Error as exc:
        raise OptimizeError(f"{target}: cannot be opened ({exc})") from exc
    steps: list[str] = []
    try:
        try:
            con.execute("BEGIN IMMEDIATE")
            con.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            raise OptimizeError(
                f"{target}: another process is writing it ({exc}); run optimize when it is idle"
            ) from exc
        try:
            rows = [r[0] for r in con.execute("PRAGMA integrity_check")]
            integrity = "ok" if rows == ["ok"] else "; ".join(map(str, rows[:5]))
            if integrity != "ok":
                raise OptimizeError(
                    f"{target}: integrity_check failed ({integrity}); restore it from a backup"
                )
            steps.append("integrity_check")
            con.execute("BEGIN IMMEDIATE")
            if compact_log(con):
                steps.append("compact_adapter_log")
            con.execute("COMMIT")
            for step in ("VACUUM", "REINDEX", "ANALYZE", "PRAGMA optimize"):
                con.execute(step)
                steps.append(step.replace("PRAGMA ", "").lower())
            if con.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                steps.append("wal_checkpoint")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise OptimizeError(
                    f"{target}: another process is using it ({exc}); run optimize when idle"
                ) from exc
            raise OptimizeError(f"{target}: {exc}") from exc
        except sqlite3.DatabaseError as exc:
            raise OptimizeError(f"{target}: damaged ({exc}); restore it from a backup") from exc
    finally:
        con.close()
    return OptimizeReport(
        str(target),
        before,
        _size(target),
        tuple(steps),
        integrity,
        round(time.perf_counter() - started, 3),
    )
