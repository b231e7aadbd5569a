"""optimize(): compact and reindex a SQLite target, with sizes before and after.

Runs ``integrity_check`` first (a damaged file is not rewritten), keeps one row per key of
the adapters' write log (:func:`~dbfold.provenance.compact_log`), then runs ``VACUUM``,
``REINDEX``, ``ANALYZE`` and ``PRAGMA optimize``. While another process writes the database,
it refuses: it first takes the write lock with ``BEGIN IMMEDIATE`` and a short timeout, and
says so clearly if that fails. It holds ``<target>.dbfold-lock`` (:mod:`dbfold.targetlock`)
for the whole run, so it never runs under a ``dbfold migrate --execute`` of the same target
(nor a second optimize). The file is only ever opened through sqlite3, never read as a
plain file (closing a plain descriptor would drop SQLite's locks of this process). A full
or read-only disk is named as such; SQLite rolls the interrupted step back, so the
database is left as it was.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from urllib.parse import quote as url_quote

from dbfold.errors import OptimizeError
from dbfold.migrate.report import OptimizeReport
from dbfold.migrate.target import fault
from dbfold.provenance import compact_log
from dbfold.targetlock import hold
from dbfold.units import human_bytes

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
        OptimizeError: the file is missing, not SQLite, damaged, another process is
            writing it, another dbfold run holds the target, or the disk is full or
            read-only (the step that failed was rolled back).
    """
    started = time.perf_counter()
    if not target.is_file():
        raise OptimizeError(f"{target}: no such database; give the path of the target")
    with hold(target, "optimize", OptimizeError):
        before = _size(target)
        steps, integrity = _optimize(target, timeout, before)
    return OptimizeReport(
        str(target),
        before,
        _size(target),
        tuple(steps),
        integrity,
        round(time.perf_counter() - started, 3),
    )


def _fault(target: Path, exc: BaseException, before: int) -> OptimizeError | None:
    kind = fault(exc, target)
    if kind == "full":
        return OptimizeError(
            f"{target}: the disk holding {target.parent} is full ({exc}); the step was rolled "
            f"back and the database is unchanged by it. VACUUM needs free space about the size "
            f"of the database ({human_bytes(before)}) for its journal and temporary copy: "
            "free that much and run optimize again"
        )
    if kind == "readonly":
        return OptimizeError(
            f"{target}: the file system holding {target.parent} is read-only ({exc}); "
            "remount it read-write and run optimize again"
        )
    if kind == "gone":
        return OptimizeError(
            f"{target}: the database or its folder was removed or moved while optimize ran ({exc})"
        )
    return None


def _optimize(target: Path, timeout: float, before: int) -> tuple[list[str], str]:
    """The steps, on a connection opened read-write without creating anything."""
    uri = f"file:{url_quote(str(target.absolute()), safe='/')}?mode=rw"
    try:
        con = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=timeout)
    except sqlite3.Error as exc:
        raise OptimizeError(f"{target}: cannot be opened ({exc})") from exc
    steps: list[str] = []
    try:
        try:
            # Asked of sqlite3 instead of reading the header (this also rolls a hot journal
            # back, as any writer's open would).
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.DatabaseError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise OptimizeError(
                    f"{target}: another process is writing it ({exc}); run optimize when it is idle"
                ) from exc
            if "not a database" in str(exc):
                raise OptimizeError(f"{target}: not a SQLite database") from exc
            raise OptimizeError(f"{target}: damaged ({exc}); restore it from a backup") from exc
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
            try:
                if compact_log(con):
                    steps.append("compact_adapter_log")
                con.execute("COMMIT")
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise
            for step in ("VACUUM", "REINDEX", "ANALYZE", "PRAGMA optimize"):
                con.execute(step)
                steps.append(step.replace("PRAGMA ", "").lower())
            if con.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                steps.append("wal_checkpoint")
        except (sqlite3.Error, OSError) as exc:
            known = _fault(target, exc, before)
            if known is not None:
                raise known from exc
            if "locked" in str(exc) or "busy" in str(exc):
                raise OptimizeError(
                    f"{target}: another process is using it ({exc}); run optimize when idle"
                ) from exc
            if isinstance(exc, sqlite3.OperationalError):
                raise OptimizeError(f"{target}: {exc}") from exc
            raise OptimizeError(f"{target}: damaged ({exc}); restore it from a backup") from exc
    finally:
        con.close()
    return steps, integrity
