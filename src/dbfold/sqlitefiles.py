"""SQLite files of this process: what may be read with plain file I/O, and how to read the rest.

The one rule (sqlite.org/howtocorrupt.html §2.2): on POSIX, closing *any* descriptor of a
file releases every fcntl lock this process holds on that file, the locks of SQLite
connections in other threads included. SQLite's own bookkeeping still believes the locks
are held, so no connection of the process takes them again, and other processes then write
over it. So dbfold never opens, reads, copies, renames or deletes a SQLite database or its
``-shm`` with plain file I/O while this process may hold a connection to it:

- :func:`held_files` lists the files this process has a descriptor on (``/proc/self/fd``);
  a held file is only ever asked about through sqlite3, whose unix VFS defers closing a
  descriptor while other connections of the process hold locks on the same inode.
- :func:`read_head` and :func:`header` give the first bytes of any file without plain I/O
  on a held SQLite database.
- :func:`readable` yields a URI that reads a SQLite source consistently, never writes
  anything beside it, and never uses ``immutable=1``.
- :func:`inherited_at_fork` tells a forked child that a file was open in its parent when it
  forked: SQLite's per-inode lock counts are inherited but the fcntl locks are not, so a
  new connection in the child would take no real locks (§2.7).

``-wal`` and ``-journal`` files hold no locks and may be read with plain I/O.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote as url_quote

from dbfold.errors import DbfoldError

MAGIC = b"SQLite format 3\x00"
#: Files SQLite keeps beside a database.
COMPANION_SUFFIXES = ("-journal", "-wal", "-shm")
_FD_DIRS = ("/proc/self/fd", "/dev/fd")

Key = tuple[int, int]


class SourceReadError(DbfoldError):
    """A SQLite source cannot be read safely now; the message says why and what to do."""


def _key(path: str | os.PathLike[str]) -> Key | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def held_files() -> frozenset[Key] | None:
    """(st_dev, st_ino) of every file this process has a descriptor open on.

    Returns:
        The set, or ``None`` where the platform does not list a process's descriptors
        (then every file must be treated as possibly held).
    """
    for folder in _FD_DIRS:
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        out = set()
        for name in names:
            try:
                st = os.stat(f"{folder}/{name}")
            except OSError:
                continue  # the descriptor of the listing itself, or one closed meanwhile
            out.add((st.st_dev, st.st_ino))
        return frozenset(out)
    return None


def is_held(path: str | os.PathLike[str], held: frozenset[Key] | None = None) -> bool:
    """Whether this process has ``path`` (or its ``-shm``) open, so plain file I/O on it is unsafe.

    Args:
        path: A file, usually a SQLite database.
        held: A listing from :func:`held_files` to reuse; taken now when omitted.

    Returns:
        True when the file or its ``-shm`` is open in this process, or when the platform
        cannot tell (the safe answer).
    """
    if held is None:
        held = held_files()
    if held is None:
        return True
    keys = (_key(path), _key(f"{os.fspath(path)}-shm"))
    return any(k is not None and k in held for k in keys)


def _ro_uri(path: Path) -> str:
    """A read-only ``file:`` URI (special characters percent-encoded); never ``immutable=1``,
    which would read around the locks of whoever writes the file."""
    return f"file:{url_quote(str(path.absolute()), safe='/')}?mode=ro"


def _sqlite_page_one(path: Path) -> tuple[int, int, str] | None:
    """(page_size, page_count, journal_mode) asked of sqlite3, or None if not a database.

    Only for a file this process holds open: a WAL database in use then has its ``-shm``,
    so a read-only connection creates nothing beside it.
    """
    try:
        with closing(sqlite3.connect(_ro_uri(path), uri=True, timeout=0.5)) as con:
            page_size = con.execute("PRAGMA page_size").fetchone()[0]
            page_count = con.execute("PRAGMA page_count").fetchone()[0]
            mode = con.execute("PRAGMA journal_mode").fetchone()[0]
    except sqlite3.OperationalError as exc:
        if "not a database" in str(exc):
            return None
        # Locked or busy: it is a database another connection is using.
        return (0, 0, "unknown")
    except sqlite3.DatabaseError:
        return None
    return int(page_size), int(page_count), str(mode).lower()


def read_head(path: Path, size: int, held: frozenset[Key] | None = None) -> bytes:
    """The first ``size`` bytes of a file, without plain I/O on a SQLite database in use here.

    A file this process has open that sqlite3 recognises as a database gives only the
    16-byte SQLite magic (its content is read through sqlite3 later); any other file is
    read normally.

    Raises:
        OSError: the file cannot be read.
    """
    if is_held(path, held):
        if path.name.endswith("-shm"):
            return b""  # SQLite's shared memory, locked by the connections that map it
        if _sqlite_page_one(path) is not None:
            return MAGIC
    with open(path, "rb") as f:
        return f.read(size)


@dataclass(frozen=True)
class Header:
    """What a SQLite file's 100-byte header says.

    Attributes:
        page_size: Bytes per page (0 when the database was locked and could not be asked).
        pages: The page count the header records (0 when it is not valid).
        wal: The database is in WAL mode.
        held: This process has the file open (its facts came from sqlite3).
    """

    page_size: int
    pages: int
    wal: bool
    held: bool


class HeaderError(DbfoldError):
    """The file is not a usable SQLite database; the message says why."""


def header(path: Path, size: int, held: frozenset[Key] | None = None) -> Header:
    """Read a SQLite header, through sqlite3 when this process has the file open.

    Args:
        path: The database.
        size: Its size in bytes (for the truncation checks).
        held: A listing from :func:`held_files` to reuse.

    Raises:
        HeaderError: not a SQLite file, a truncated file or an impossible page size.
        OSError: the file cannot be read.
    """
    if is_held(path, held):
        facts = _sqlite_page_one(path)
        if facts is not None:
            page_size, pages, mode = facts
            return Header(page_size, pages, mode == "wal", True)
        # sqlite3 refused it: it holds no lock of SQLite's, so plain reads are safe.
    with open(path, "rb") as f:
        head = f.read(100)
    if not head.startswith(MAGIC[: len(head)]) or len(head) < 16:
        raise HeaderError("no SQLite header; it is not a SQLite database")
    if len(head) < 100:
        raise HeaderError(
            f"file is truncated ({size} bytes, shorter than the 100-byte SQLite header)"
        )
    page_size = int.from_bytes(head[16:18], "big")
    if page_size == 1:
        page_size = 65536
    if page_size < 512 or page_size & (page_size - 1):
        raise HeaderError("corrupt header (impossible page size)")
    pages_in_header = int.from_bytes(head[28:32], "big")
    valid = head[24:28] == head[92:96] and pages_in_header > 0
    if valid and size < pages_in_header * page_size:
        raise HeaderError(f"file is truncated: {size // page_size} of {pages_in_header} pages")
    if size < page_size:
        raise HeaderError(f"file is truncated: {size} bytes, less than one {page_size}-byte page")
    return Header(page_size, pages_in_header if valid else 0, head[18] == 2 or head[19] == 2, False)


def wal_frames(path: Path) -> int:
    """Bytes of the ``-wal`` beside ``path`` that may hold frames (0: none or absent)."""
    try:
        size = os.stat(f"{path}-wal").st_size
    except OSError:
        return 0
    return size if size > 32 else 0


@dataclass(frozen=True)
class View:
    """How to read one SQLite source.

    Attributes:
        uri: A ``file:`` URI to connect to or ATTACH (read-only).
        snapshot: The URI names a private copy, not the source itself.
        wal_bytes: Size of the source's ``-wal`` when it was looked at.
        wal_pending: The ``-wal`` held frames not yet in the database file.
    """

    uri: str
    snapshot: bool
    wal_bytes: int
    wal_pending: bool


def _stamp(path: Path) -> tuple[tuple[int, int, int] | None, ...]:
    out: list[tuple[int, int, int] | None] = []
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            st = os.stat(p)
        except OSError:
            out.append(None)
            continue
        out.append((st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(out)


def _backup_copy(path: Path, copy: Path, timeout: float) -> None:
    """A consistent copy through SQLite's online backup API (the source's locks respected)."""
    with (
        closing(sqlite3.connect(_ro_uri(path), uri=True, timeout=timeout)) as src,
        closing(sqlite3.connect(copy)) as dst,
    ):
        src.backup(dst)


def _file_copy(path: Path, copy: Path) -> bool:
    """Copy a WAL database nothing has open (no ``-shm``), with its log; False if it changed."""
    before = _stamp(path)
    if before[2] is not None:
        return False
    shutil.copyfile(path, copy)
    wal = Path(f"{path}-wal")
    if before[1] is not None:
        shutil.copyfile(wal, f"{copy}-wal")
    return _stamp(path) == before


_READING: dict[str, threading.RLock] = {}
_READING_GUARD = threading.Lock()


def _reading(path: Path) -> threading.RLock:
    """The lock that lets one thread at a time read one source (see :func:`readable`)."""
    key = os.path.realpath(path)
    with _READING_GUARD:
        return _READING.setdefault(key, threading.RLock())


@contextmanager
def readable(
    path: Path, *, timeout: float = 1.0, held: frozenset[Key] | None = None
) -> Iterator[View]:
    """Yield a read-only view of a SQLite source that changes nothing beside it.

    - A database with a ``-shm`` is in use (or was, by a program that crashed): it is read
      through a read-only URI, whose shared locks give consistent reads; nothing is created.
    - A database in rollback-journal mode is read the same way (a hot journal makes SQLite
      refuse, which the caller reports).
    - A WAL database with no ``-shm`` has no connection anywhere, but a read-only
      connection would create ``-wal`` and ``-shm`` beside it, so it is copied (with its
      log, if one was left by a crash) into a private folder, the copy checked unchanged
      against the source afterwards, and the copy is read.

    One thread at a time per file: another thread's plain copy of an idle WAL database
    holds a descriptor on it, which would make this one read it in place (creating a
    ``-shm`` beside it) and, closing, drop that connection's locks.

    Raises:
        SourceReadError: the file cannot be read, is not SQLite, or keeps changing.
    """
    with _reading(path), _readable(path, timeout=timeout, held=held) as view:
        yield view


@contextmanager
def _readable(
    path: Path, *, timeout: float = 1.0, held: frozenset[Key] | None = None
) -> Iterator[View]:
    """The view itself; :func:`readable` keeps other threads off the file meanwhile."""
    try:
        size = os.stat(path).st_size
        head = header(path, size, held)
    except HeaderError as exc:
        raise SourceReadError(f"not a SQLite database ({exc}); restore it or exclude it") from exc
    except OSError as exc:
        raise SourceReadError(f"cannot be read ({exc.strerror or exc})") from exc
    wal_bytes = wal_frames(path)
    live = os.path.exists(f"{path}-shm") or head.held
    if live or not (head.wal or wal_bytes):
        yield View(_ro_uri(path), False, wal_bytes, bool(wal_bytes))
        return
    tmp = Path(tempfile.mkdtemp(prefix="dbfold-source-"))
    try:
        copy = tmp / "snapshot.db"
        for _ in range(5):
            if _file_copy(path, copy):
                break
            if os.path.exists(f"{path}-shm"):
                # A program opened it meanwhile: now its locks protect a backup.
                Path(f"{copy}-wal").unlink(missing_ok=True)
                copy.unlink(missing_ok=True)
                _backup_copy(path, copy, timeout)
                wal_bytes = 0
                break
        else:
            raise SourceReadError("is being written continuously; retry when it is idle")
        # The copy is ours: a read-only open replays its log without checkpointing it.
        yield View(f"{copy.as_uri()}?mode=ro", True, wal_bytes, bool(wal_bytes))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# -- fork -------------------------------------------------------------------------------------

_FORK: dict[str, frozenset[Key] | None] = {}


def _after_fork_in_child() -> None:
    _FORK["inherited"] = held_files() or frozenset()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def inherited_at_fork(path: str | os.PathLike[str]) -> bool:
    """Whether this process is a forked child that inherited ``path`` (or its ``-shm``) open.

    SQLite keeps one lock record per inode and process; a child inherits the record (it
    says the locks are held) but not the fcntl locks, so its new connections to such a
    file would write without any lock.
    """
    inherited = _FORK.get("inherited")
    if not inherited:
        return False
    keys = (_key(path), _key(f"{os.fspath(path)}-shm"))
    return any(k is not None and k in inherited for k in keys)


def fork_refusal(location: str) -> str:
    """The one-line message for a database that a forked child inherited open."""
    return (
        f"{location}: this process was forked while its parent had the database open, so "
        "SQLite's locks would not protect it here; open the database only after the fork "
        "(in a parent that has none open), or use the multiprocessing 'spawn' start method"
    )


def sqlite_version_warning() -> str | None:
    """A warning when the linked SQLite has a known corruption bug that dbfold can meet.

    Of the bugs howtocorrupt.html §8 lists, the one open in the SQLite releases Python
    still ships is the WAL-reset race (3.7.0 to 3.51.2, fixed in 3.51.3): two connections
    in different threads or processes writing or checkpointing one WAL database at the
    same moment. dbfold's runtime writes through one connection per process, so only
    several writing processes meet it.
    """
    version = tuple(int(p) for p in sqlite3.sqlite_version.split(".")[:3])
    if version < (3, 51, 3):
        return (
            f"SQLite {sqlite3.sqlite_version} has the WAL-reset bug fixed in 3.51.3 "
            "(sqlite.org/wal.html#walresetbug): rarely, several processes writing one "
            "database at once can damage it; prefer one writing process per unified "
            "database, or a Python linked against SQLite 3.51.3 or newer"
        )
    return None


def remove_companions(path: Path, held: frozenset[Key] | None = None) -> None:
    """Delete the ``-journal``/``-wal``/``-shm`` left beside a path whose database is gone.

    Only for a path with no database file (or dbfold's own closed build file): a new file
    put there must not inherit an old journal (§1.3/§1.4).

    Raises:
        SourceReadError: this process has the path or its ``-shm`` open (someone uses it).
    """
    companions = [Path(f"{path}{suffix}") for suffix in COMPANION_SUFFIXES]
    if any(os.path.lexists(c) for c in companions) and is_held(path, held):
        raise SourceReadError(f"{path}: this process has it open; close what uses it")
    for companion in companions:
        companion.unlink(missing_ok=True)


__all__ = [
    "COMPANION_SUFFIXES",
    "MAGIC",
    "Header",
    "HeaderError",
    "SourceReadError",
    "View",
    "fork_refusal",
    "header",
    "held_files",
    "inherited_at_fork",
    "is_held",
    "read_head",
    "readable",
    "remove_companions",
    "sqlite_version_warning",
    "wal_frames",
]
