"""Read a SQLite source without changing it or creating anything beside it.

A thin layer over :func:`dbfold.sqlitefiles.readable`, the one reader that analyze, the design
probe, migrate and verify share: a database in use or in rollback-journal mode is attached
through a read-only URI (SQLite's shared lock makes a writer mid-transaction wait for us, or us
for it); a WAL database that nothing has open is copied, with any log a crash left, into a
private folder, because a read-only connection would create ``-wal`` and ``-shm`` beside it.
No database this process has open is ever read with plain file I/O.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dbfold import sqlitefiles
from dbfold.migrate.records import SourceError

LOCK_TIMEOUT_MS = 1000


@contextmanager
def readable(path: Path) -> Iterator[tuple[str, bool]]:
    """Yield ``(uri, snapshot)``: what to ATTACH to read ``path`` safely.

    Raises:
        SourceError: the file is missing, unreadable, or not a SQLite database.
    """
    try:
        with sqlitefiles.readable(path, timeout=LOCK_TIMEOUT_MS / 1000) as view:
            yield view.uri, view.snapshot
    except sqlitefiles.SourceReadError as exc:
        raise SourceError(str(exc)) from exc


def fingerprint(path: Path) -> tuple[int, int]:
    """(size, mtime in ns) of a store, summing a ``-wal`` beside it."""
    st = path.stat()
    size, mtime = st.st_size, st.st_mtime_ns
    wal = Path(f"{path}-wal")
    if wal.exists():
        ws = wal.stat()
        size += ws.st_size
        mtime = max(mtime, ws.st_mtime_ns)
    return size, mtime


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name the same file (a target must never be a source)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
