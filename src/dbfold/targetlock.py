"""One writer of a target at a time: an advisory lock on ``<target>.dbfold-lock``.

``dbfold migrate --execute`` and ``dbfold optimize`` both rebuild or rewrite a target, so a
second run on the same target while one is going would race it (two builds of one
``.dbfold-tmp``, a VACUUM under a rename). Each takes :func:`hold` first; the second one
gets a :class:`~dbfold.errors.DbfoldError` naming the running one (pid, host, start time and
command line) and changes nothing.

Why a separate file and ``flock``: the lock file is never a SQLite file, so opening and
closing it cannot drop SQLite's fcntl locks (sqlite.org/howtocorrupt.html §2.2), and
``flock`` locks belong to one open file description, not to the process, so they do not
interact with SQLite's fcntl locks either. The kernel releases the lock when the holder
exits, even after ``kill -9``. The holder deletes the file while still holding the lock
when it finishes; a file left by a killed holder is simply locked again by the next run.

This is a leaf module (it imports only :mod:`dbfold.errors`), so that migrate, optimize
and later the runtime can share it without optimize depending on migrate's internals.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from dbfold.errors import DbfoldError

SUFFIX = ".dbfold-lock"


def lock_path(target: Path) -> Path:
    """The lock file of a target: ``<target>.dbfold-lock`` beside it (folder resolved).

    The folder is resolved so that two spellings of one target (``./data/x.db`` and an
    absolute path, a symlinked folder) share one lock.
    """
    parent = target.parent.resolve() if target.parent.exists() else target.parent.absolute()
    return parent / (target.name + SUFFIX)


@dataclass
class TargetLock:
    """A held lock; :meth:`release` (or leaving :func:`hold`) gives it back."""

    path: Path
    fd: int

    def release(self) -> None:
        """Delete the lock file and release the lock (in that order, see the module doc)."""
        if self.fd < 0:
            return
        # Unlink while still locked: a run that opened this inode meanwhile finds, once it
        # gets the lock, that the path no longer names it, and starts over. A removed
        # folder or a read-only disk makes the unlink fail; the lock is released the same.
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        os.close(self.fd)
        self.fd = -1


def _holder(fd: int) -> str:
    try:
        raw = os.pread(fd, 4096, 0)
        info = json.loads(raw) if raw else {}
    except (OSError, ValueError):
        info = {}
    if not isinstance(info, dict) or "pid" not in info:
        return "its details are not written yet"
    argv = info.get("argv") or []
    command = " ".join(str(a) for a in argv) if isinstance(argv, list) else str(argv)
    return (
        f"pid {info.get('pid')} on {info.get('host')}, started {info.get('started')}: "
        f"{command or info.get('command')}"
    )


def _describe(command: str) -> bytes:
    info = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "command": command,
        "argv": [os.path.basename(sys.argv[0]) if sys.argv else "python", *sys.argv[1:]],
    }
    return json.dumps(info).encode() + b"\n"


def acquire(target: Path, command: str, error: type[DbfoldError] = DbfoldError) -> TargetLock:
    """Take the target's lock without waiting.

    Args:
        target: the target database path (the lock file goes beside it).
        command: what this run is (``"migrate"``, ``"optimize"``), written into the file.
        error: the exception class to raise (the caller's stage error).

    Returns:
        The held lock; keep it for the whole run.

    Raises:
        error: another run holds the lock (the message names it), or the lock file cannot
            be created (a read-only or missing folder).
    """
    path = lock_path(target)
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            why = "read-only" if exc.errno in (errno.EROFS, errno.EACCES) else exc.strerror
            raise error(
                f"{target}: cannot create the lock file {path.name} beside it ({why}); "
                "make the folder writable or choose another target"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _holder(fd)
            os.close(fd)
            if exc.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                raise error(f"{path}: cannot be locked ({exc.strerror})") from exc
            raise error(
                f"{target}: another dbfold run is using it ({holder}); wait for it to "
                f"finish or stop it, then run {command} again"
            ) from None
        try:
            same = os.stat(path)
            mine = os.fstat(fd)
            if (same.st_dev, same.st_ino) == (mine.st_dev, mine.st_ino):
                break
        except FileNotFoundError:
            pass
        os.close(fd)  # the previous holder removed the file we opened: take the new one
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, _describe(command), 0)
    except OSError:
        pass  # a full disk: the lock holds without the details
    return TargetLock(path, fd)


@contextmanager
def hold(
    target: Path, command: str, error: type[DbfoldError] = DbfoldError
) -> Iterator[TargetLock]:
    """:func:`acquire` for the duration of a ``with`` block.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> with hold(folder / "x.db", "optimize") as lock:
    ...     lock.path.name
    'x.db.dbfold-lock'
    >>> (folder / "x.db.dbfold-lock").exists()
    False
    """
    lock = acquire(target, command, error)
    try:
        yield lock
    finally:
        lock.release()
