"""Read a SQLite source without changing it or creating anything beside it.

A database in WAL mode (a ``-wal`` file beside it, or the WAL flag in its header) is copied
with its log into a private temporary folder outside the project, and the copy is read: that
gives a consistent snapshot even while another process writes, and never makes a ``-shm``
beside the source. Any other database is attached through a read-only URI
(``file:…?mode=ro``), which takes SQLite's shared lock, so a writer mid-transaction makes us
wait (briefly) instead of reading half a change.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote as url_quote

from dbfold.migrate.records import SourceError

LOCK_TIMEOUT_MS = 1000


def _wal_mode(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(20)
    return len(head) == 20 and (head[18] == 2 or head[19] == 2)


def uri(path: Path, *, immutable: bool = False) -> str:
    """A read-only ``file:`` URI for ``path`` (special characters percent-encoded)."""
    text = url_quote(str(path.absolute()), safe="/")
    return f"file:{text}?mode=ro" + ("&immutable=1" if immutable else "")


def _snapshot(path: Path, folder: Path) -> Path:
    copy = folder / "snapshot.db"
    wal = Path(f"{path}-wal")
    for _ in range(5):
        before = [(p.stat().st_size, p.stat().st_mtime_ns) for p in (path, wal) if p.exists()]
        shutil.copyfile(path, copy)
        if wal.exists():
            shutil.copyfile(wal, f"{copy}-wal")
        else:
            Path(f"{copy}-wal").unlink(missing_ok=True)
        after = [(p.stat().st_size, p.stat().st_mtime_ns) for p in (path, wal) if p.exists()]
        if before == after:
            return copy
    raise SourceError("is being written continuously; retry when it is idle")


@contextmanager
def readable(path: Path) -> Iterator[tuple[str, bool]]:
    """Yield ``(uri, snapshot)``: what to ATTACH to read ``path`` safely.

    Raises:
        SourceError: the file is missing, unreadable, or not a SQLite database.
    """
    try:
        with open(path, "rb") as f:
            magic = f.read(16)
    except OSError as exc:
        raise SourceError(f"cannot be read ({exc.strerror or exc})") from exc
    if magic != b"SQLite format 3\x00":
        raise SourceError("not a SQLite database (no SQLite header); restore it or exclude it")
    if Path(f"{path}-wal").exists() or _wal_mode(path):
        tmp = Path(tempfile.mkdtemp(prefix="dbfold-source-"))
        try:
            copy = _snapshot(path, tmp)
            # The copy is ours: a normal (writable) open replays its log.
            yield copy.as_uri(), True
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    yield uri(path), False


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
