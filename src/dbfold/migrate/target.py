"""The SQLite target's lifecycle: what is at the path, the build file, sealing, the swap.

The one rule this module keeps (sqlite.org/howtocorrupt.html §2.2): on POSIX, closing any
descriptor of a file drops every fcntl lock the process holds on it, the SQLite locks of
other threads included. So nothing here opens, reads, copies, renames or deletes a database
or its ``-shm`` with plain file I/O while this process may hold a connection to it:

- what a path holds (:func:`classify`) is asked of sqlite3, never read from the header;
- the old target is retired by SQLite itself before it is replaced (:func:`put_in_place`):
  its WAL checkpointed and switched off, a hot journal rolled back, and a target that
  another program has open is refused;
- a backup of the old target goes through SQLite's online backup API, so it includes rows
  that are still only in its ``-wal``;
- plain unlinks are used only on ``-journal``/``-wal`` files (they hold no locks), on the
  ``-shm`` of a path whose database this process does not hold open, and on dbfold's own
  build file ``<target>.dbfold-tmp`` once our connection to it is closed.

A file that replaces a database must not inherit its old ``-journal``/``-wal``/``-shm``:
SQLite would roll the stale journal "back" into the new file, or read the stale WAL's pages
as if they were the new file's. :func:`put_in_place` removes them first.

The build runs with ``PRAGMA synchronous = OFF`` (fast; a crash of the process loses
nothing the OS already has). After an OS crash or power loss such a build may be damaged
in ways that verification, which hashes rows, cannot see; so :func:`seal` runs
``PRAGMA integrity_check`` on the finished build and flushes it to disk with one
``synchronous = FULL`` commit before it may be renamed into place.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal
from urllib.parse import quote as url_quote

from dbfold.errors import MigrateError
from dbfold.migrate import journal
from dbfold.sqlitefiles import SourceReadError, is_held, remove_companions
from dbfold.units import human_bytes

TMP_SUFFIX = ".dbfold-tmp"

# SQLite result codes (primary codes are the low byte of extended ones).
_BUSY, _LOCKED, _READONLY, _IOERR, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = 5, 6, 8, 10, 11, 13, 14, 26
_READONLY_ROLLBACK = _READONLY | (3 << 8)  # a hot journal that a read-only open cannot undo
_READONLY_DBMOVED = _READONLY | (4 << 8)  # the file was unlinked or renamed while open

Kind = Literal["missing", "dbfold", "foreign", "not-sqlite", "hot", "busy"]
Fault = Literal["full", "readonly", "gone"]


def _code(exc: BaseException) -> int | None:
    """The extended SQLite result code of a sqlite3 error (Python ≥ 3.11), else None."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code if isinstance(code, int) else None


def _primary(exc: BaseException) -> int | None:
    code = _code(exc)
    return None if code is None else code & 0xFF


def _is_busy(exc: BaseException) -> bool:
    return _primary(exc) in (_BUSY, _LOCKED) or "locked" in str(exc) or "busy" in str(exc)


def _uri(path: Path, mode: str) -> str:
    # mode=rw opens an existing file read-write and never creates one.
    return f"file:{url_quote(str(path.absolute()), safe='/')}?mode={mode}"


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


# -- what is at a path --------------------------------------------------------------------


def classify(path: Path, *, may_write: bool, timeout: float = 2.0) -> Kind:
    """What ``path`` holds, asked of sqlite3 (never read as a plain file).

    Args:
        path: a target or build file.
        may_write: open it read-write, so that SQLite rolls a hot journal back (a real
            run). Without it (a dry run) a hot journal is reported as ``"hot"`` and left.
        timeout: seconds to wait for another process's lock.

    Returns:
        ``"missing"``; ``"dbfold"`` (it has migrate's journal table); ``"foreign"`` (a
        SQLite database dbfold did not make); ``"not-sqlite"`` (not a database, or one
        too damaged to read); ``"hot"`` (dry run only: an interrupted write left a hot
        journal that only a read-write open may roll back); ``"busy"`` (another process
        kept it locked for ``timeout`` seconds).

    Raises:
        MigrateError: the path is a folder, or cannot be opened at all (permissions).
    """
    if not os.path.lexists(path):
        return "missing"
    if path.is_dir():
        raise MigrateError(f"{path}: is a folder; point --target at a database file")
    # A dry run opens read-only only where a journal exists: there a read-write open would
    # roll it back. Elsewhere it opens read-write too, because a read-only connection to a
    # WAL database creates a -wal and -shm beside it and leaves them behind, while the last
    # read-write connection removes the ones it created when it closes (after folding in a
    # log that a crashed writer left, as any writer's open would).
    journal_file = os.path.lexists(f"{path}-journal")
    mode = "ro" if not may_write and journal_file else "rw"
    try:
        with closing(
            sqlite3.connect(_uri(path, mode), uri=True, timeout=timeout, isolation_level=None)
        ) as con:
            return "dbfold" if journal.is_dbfold_target(con) else "foreign"
    except sqlite3.Error as exc:
        code, text = _code(exc), str(exc)
        if code == _READONLY_ROLLBACK or (code is None and mode == "ro" and "readonly" in text):
            return "hot"
        if _is_busy(exc):
            return "busy"
        if _primary(exc) == _CANTOPEN or "unable to open" in text:
            raise MigrateError(f"{path}: cannot be opened ({exc}); check its permissions") from exc
        return "not-sqlite"


def dry_run_notes(dest: Path, kind: Kind) -> list[tuple[str, str]]:
    """What a dry run can say about the target path without changing it: (message, severity)."""
    if kind == "hot":
        return [
            (
                f"{dest}: has a hot journal ({dest.name}-journal) left by a write that was "
                "interrupted; the dry run leaves it alone, --execute lets SQLite roll it back "
                "first and then sees whether dbfold made the file",
                "warning",
            )
        ]
    if kind == "busy":
        return [
            (
                f"{dest}: another program keeps it locked; --execute fails if it still does",
                "warning",
            )
        ]
    if kind in ("foreign", "not-sqlite"):
        return [
            (
                f"{dest}: exists and was not made by dbfold; --execute refuses it unless "
                "--force (which backs it up to .dbfold/backups/ first)",
                "error",
            )
        ]
    return []


def usable(dest: Path, *, force: bool) -> Kind:
    """:func:`classify` for a real run (read-write: SQLite rolls a hot journal back).

    Returns:
        ``"missing"``, ``"dbfold"``, or (with ``force``) ``"foreign"``/``"not-sqlite"``.

    Raises:
        MigrateError: locked by another program, a hot journal on a read-only file, or
            not made by dbfold without ``force``.
    """
    kind = classify(dest, may_write=True)
    if kind == "busy":
        raise MigrateError(
            f"{dest}: another program kept it locked; stop it or retry when it is idle"
        )
    if kind == "hot":
        raise MigrateError(
            f"{dest}: has a hot journal that SQLite cannot roll back (the file is read-only); "
            "make it writable and run migrate --execute again"
        )
    if kind in ("foreign", "not-sqlite") and not force:
        raise MigrateError(
            f"{dest}: exists and was not made by dbfold; refusing to touch it "
            "(use --force to back it up to .dbfold/backups/ and replace it)"
        )
    return kind


# -- faults of the target -----------------------------------------------------------------


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    e: BaseException | None = exc
    while e is not None and e not in out and len(out) < 8:
        out.append(e)
        e = e.__cause__ or e.__context__
    return out


def _space(folder: Path) -> tuple[int, int] | None:
    """(bytes free, total bytes) of the file system holding ``folder``."""
    try:
        st = os.statvfs(folder)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize


def fault(exc: BaseException, path: Path | None) -> Fault | None:
    """Whether an error is the target's fault, not a source's, and which one.

    Args:
        exc: a sqlite3 error or an OSError met while building or changing the target.
        path: the file being written (``None``: judge by the error alone).

    Returns:
        ``"full"`` (SQLITE_FULL, ENOSPC, EDQUOT), ``"readonly"`` (EROFS, or the file
        system holding ``path`` is read-only now), ``"gone"`` (the file or its folder was
        removed or moved while open), or ``None`` (the target looks healthy: it is the
        source's or something else's error).
    """
    # The error that surfaced may be a consequence (a ROLLBACK or DETACH that failed after
    # the real failure), so look along the chain of what it happened during.
    for e in _chain(exc):
        if isinstance(e, OSError):
            if e.errno in (errno.ENOSPC, errno.EDQUOT):
                return "full"
            if e.errno == errno.EROFS:
                return "readonly"
        elif isinstance(e, sqlite3.Error):
            code = _code(e)
            if (code is not None and code & 0xFF == _FULL) or "disk is full" in str(e):
                return "full"
            if code == _READONLY_DBMOVED:
                return "gone"
    if path is None:
        return None
    # An I/O error does not say which file failed: look at the target itself.
    if not path.parent.is_dir() or not os.path.lexists(path):
        return "gone"
    try:
        if os.statvfs(path.parent).f_flag & os.ST_RDONLY:
            return "readonly"
    except OSError:
        return "gone"
    space = _space(path.parent)
    if space is not None and space[0] == 0:
        return "full"
    return None


def target_fault(con: sqlite3.Connection, exc: BaseException) -> bool:
    """Whether an error met on a target connection is the target's fault (see :func:`fault`).

    The copier calls this where it would otherwise report a source as unreadable and go on:
    a full disk, a read-only remount or a removed target folder must stop the run instead.
    """
    path: Path | None = None
    try:
        for _seq, name, file in con.execute("PRAGMA database_list"):
            if name == "main" and file:
                path = Path(file)
    except sqlite3.Error:
        pass
    return fault(exc, path) is not None


def cause(exc: BaseException) -> BaseException:
    """The error to quote: the first one raised along the chain (a failed ROLLBACK or DETACH
    that surfaced afterwards says less than what made it fail)."""
    chain = [e for e in _chain(exc) if isinstance(e, (sqlite3.Error, OSError))]
    return chain[-1] if chain else exc


def full_where(folder: Path) -> str:
    """Which disk is full: the target's, or the temporary folder's (SQLite's sorts, snapshots).

    Call it before anything is removed: afterwards both have room again.
    """
    space = _space(folder)
    tmp = Path(tempfile.gettempdir())
    tmp_space = _space(tmp)
    if space is not None and space[0] > 0 and tmp_space is not None and tmp_space[0] == 0:
        return f"the temporary folder {tmp}"
    return f"the disk holding {folder}"


def fault_message(
    kind: Fault,
    exc: BaseException,
    *,
    dest: Path,
    work: Path,
    new_build: bool,
    removed: str | None,
    need: int,
    where: str | None = None,
    command: str = "migrate --execute",
) -> str:
    """One line: what happened to the target, what state it is left in, what to do.

    Args:
        kind: what :func:`fault` found.
        exc: the driver error (its :func:`cause` is quoted in the message).
        dest: the target path.
        work: the file that was being written (``dest`` itself for an in-place run).
        new_build: the run was building ``<target>.dbfold-tmp`` (not changing ``dest``).
        removed: ``None`` if the partial build was removed, else why it could not be.
        need: bytes the run needs (about the size of the sources), 0 if unknown.
        where: for a full disk, :func:`full_where` taken when the error happened.
        command: the command to run again.
    """
    folder = dest.parent
    why = cause(exc)
    if new_build:
        state = f"nothing was put in place and {dest.name} was not changed"
        if removed is None:
            state = f"the partial build was removed; {state}"
        else:
            state = f"the partial build {work} could not be removed ({removed}); {state}"
    else:
        state = (
            f"the copy in progress was rolled back, so {dest.name} holds what it held before "
            "it (sources finished earlier in this run stay)"
        )
    if kind == "full":
        where = where or f"the disk holding {folder}"
        space = _space(folder)
        want = (
            f"It needs at least {human_bytes(need)} (about the size of the sources); "
            if need
            else ""
        )
        free = (
            f"{human_bytes(space[0])} of {human_bytes(space[1])} is free in {folder} now. "
            if space is not None
            else ""
        )
        return (
            f"{dest}: {where} is full ({why}); {state}. {want}{free}Free space, or choose "
            f"another --target, and run {command} again"
        )
    if kind == "readonly":
        return (
            f"{dest}: the file system holding {folder} is read-only ({why}); {state}. Remount "
            f"it read-write (or check the disk for errors) and run {command} again"
        )
    return (
        f"{dest}: the target folder or the file being written was removed or moved while "
        f"{command.split()[0]} ran ({why}); {state}. Run {command} again"
    )


# -- dbfold's own build file --------------------------------------------------------------


def _unlink_companions(path: Path) -> None:
    """Delete the ``-journal``/``-wal``/``-shm`` beside a path this process does not hold.

    Raises:
        MigrateError: this process has ``path`` (or its ``-shm``) open.
    """
    try:
        remove_companions(path)
    except SourceReadError as exc:
        raise MigrateError(f"{exc} before migrate replaces it") from exc


def remove_build(work: Path) -> str | None:
    """Delete dbfold's build file and its companions (our connection to it must be closed).

    Plain unlinks are safe here: ``<target>.dbfold-tmp`` is dbfold's own file and
    :func:`~dbfold.sqlitefiles.is_held` confirms that nothing in this process has it open.

    Returns:
        ``None`` when it is gone, else why it could not be removed (a read-only disk).

    Raises:
        MigrateError: this process still has the build open (a bug: close it first).
    """
    if os.path.lexists(work) and is_held(work):
        raise MigrateError(f"{work}: still open in this process; it was not removed")
    try:
        work.unlink(missing_ok=True)
        _unlink_companions(work)
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def integrity(work: Path) -> str | None:
    """``None`` when ``PRAGMA integrity_check`` finds the build sound; else what it said.

    Read-only, so it may run while the build is verified (each on its own connection).

    Raises:
        sqlite3.Error: a fault of the target (full or read-only disk, removed folder).
    """
    with closing(sqlite3.connect(_uri(work, "ro"), uri=True, isolation_level=None)) as con:
        try:
            rows = [str(r[0]) for r in con.execute("PRAGMA integrity_check(10)")]
        except sqlite3.DatabaseError as exc:
            if fault(exc, None) is not None:
                raise
            return str(exc)
    if rows != ["ok"]:
        # One line for the message: SQLite may put several findings in one row.
        text = "; ".join(r.strip() for row in rows for r in row.splitlines() if r.strip())
        return text if len(text) <= 200 else text[:197] + "..."
    return None


def seal(work: Path, run_id: str, checked: Callable[[], str | None] | None = None) -> str | None:
    """Check the finished build with ``integrity_check`` and flush it to disk.

    ``checked`` gives the result of an :func:`integrity` run already under way (migrate runs
    it beside verify); without it the check runs here. The flush is one commit (the build's
    completion mark in ``dbfold_migrate_meta``) made with ``synchronous = FULL``: its fsync
    flushes every page of the file that the fast (``synchronous = OFF``) build left in the
    OS cache, not only this commit's, so the file that is renamed into place is on disk
    first, without plain I/O on it.

    Returns:
        ``None`` when the file is sound; else what ``integrity_check`` said.

    Raises:
        sqlite3.Error: the check or the flush failed (a full or read-only disk; the caller
            explains).
    """
    damage = checked() if checked is not None else integrity(work)
    if damage is not None:
        return damage
    with closing(sqlite3.connect(_uri(work, "rw"), uri=True, isolation_level=None)) as con:
        con.execute("PRAGMA synchronous = FULL")
        con.execute("BEGIN IMMEDIATE")
        try:
            journal.set_meta(con, "built", run_id)
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
    return None


# -- the old target, its backup and the swap ----------------------------------------------


def _in_use(dest: Path, work: Path, exc: BaseException | str) -> MigrateError:
    return MigrateError(
        f"{dest}: another program has it open ({exc}); migrate does not replace a database "
        f"in use. Stop the program using {dest.name}, then run migrate --execute again (the "
        f"finished build {work.name} is kept and put in place then)"
    )


def _backup_name(dest: Path, folder: Path) -> Path:
    return folder / f"{dest.stem}-{_now()}{dest.suffix or '.db'}"


def _backup_failed(dest: Path, final: Path, work: Path, exc: BaseException) -> MigrateError:
    why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return MigrateError(
        f"{final}: the backup of {dest} failed ({why}); {dest.name} was not replaced and the "
        f"finished build {work.name} is kept. Free space in {final.parent} and run "
        "migrate --execute --force again"
    )


def _backup_db(con: sqlite3.Connection, dest: Path, folder: Path, work: Path) -> Path:
    """Copy a database through SQLite's online backup API (rows in its -wal included)."""
    final = _backup_name(dest, folder)
    partial = final.with_name(final.name + ".partial")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        remove_build(partial)
        with closing(sqlite3.connect(partial)) as out:
            con.backup(out)
            # One self-contained file: no -wal or -shm to lose beside the backup.
            out.execute("PRAGMA journal_mode = DELETE")
        os.replace(partial, final)  # ours and closed
    except (sqlite3.Error, OSError) as exc:
        remove_build(partial)
        raise _backup_failed(dest, final, work, exc) from exc
    return final


def _backup_file(dest: Path, folder: Path, work: Path) -> Path:
    """Copy a file that is not a readable database (nothing holds SQLite locks on it)."""
    final = _backup_name(dest, folder)
    partial = final.with_name(final.name + ".partial")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy2(dest, partial)
        for suffix in ("-journal", "-wal"):  # a damaged database may need them to recover
            if os.path.lexists(f"{dest}{suffix}"):
                shutil.copy2(f"{dest}{suffix}", f"{final}{suffix}")
        os.replace(partial, final)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise _backup_failed(dest, final, work, exc) from exc
    return final


def _retire(dest: Path, work: Path, backup_dir: Path | None) -> Path | None:
    """Make sure nobody uses the old target, let SQLite clear its logs, back it up.

    Returns:
        The backup's path (``None`` without ``backup_dir``).
    """
    if is_held(dest):
        raise MigrateError(f"{dest}: this process has it open; close it before migrate replaces it")
    try:
        con = sqlite3.connect(_uri(dest, "rw"), uri=True, isolation_level=None, timeout=0.5)
    except sqlite3.Error as exc:
        raise MigrateError(f"{dest}: cannot be opened to replace it ({exc})") from exc
    try:
        # Reading the schema makes SQLite roll a hot journal back (into the old file).
        con.execute("SELECT count(*) FROM sqlite_master").fetchone()
        if str(con.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
            busy = con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            if busy:
                raise _in_use(dest, work, "its write-ahead log is in use")
        # Leaving WAL mode needs exclusive access: it fails while anybody else has the
        # database open in WAL mode, and it removes the -wal and -shm when it succeeds.
        mode = con.execute("PRAGMA journal_mode = DELETE").fetchone()[0]
        if str(mode).lower() != "delete":
            raise _in_use(dest, work, f"it stays in {mode} mode")
        # In rollback mode, an exclusive lock is refused while anybody reads or writes.
        con.execute("BEGIN EXCLUSIVE")
        con.execute("COMMIT")
        if backup_dir is not None:
            return _backup_db(con, dest, backup_dir, work)
        return None
    except sqlite3.Error as exc:
        if _is_busy(exc):
            raise _in_use(dest, work, exc) from exc
        if _primary(exc) in (_NOTADB, _CORRUPT) or "not a database" in str(exc):
            con.close()
            return None if backup_dir is None else _backup_file(dest, backup_dir, work)
        raise MigrateError(
            f"{dest}: cannot be retired safely before it is replaced ({exc})"
        ) from exc
    finally:
        con.close()


def put_in_place(work: Path, dest: Path, backup_dir: Path | None = None) -> Path | None:
    """Rename the sealed build over ``dest`` atomically, after clearing what was there.

    An existing database at ``dest`` is first asked of SQLite: its WAL checkpointed and
    switched off, a hot journal rolled back, and it is refused while another program has
    it open. A ``-journal``/``-wal``/``-shm`` beside a path whose file is missing or not a
    database is stale and deleted, so the new file cannot inherit it. With ``backup_dir``
    the old target is copied there first (SQLite's backup API, then renamed from
    ``.partial`` when complete).

    Returns:
        The backup's path, if one was made.

    Raises:
        MigrateError: ``dest`` is in use, cannot be retired, or its backup failed;
            nothing was replaced.
    """
    backup = None
    if os.path.lexists(dest):
        if dest.is_dir():
            raise MigrateError(f"{dest}: is a folder; point --target at a database file")
        backup = _retire(dest, work, backup_dir)
    _unlink_companions(dest)
    os.replace(work, dest)
    try:
        fd = os.open(dest.parent, os.O_RDONLY)  # a folder, not a database: the rename lasts
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass
    return backup


# -- the run's two exits ------------------------------------------------------------------


def failure(
    exc: BaseException, dest: Path, work: Path, *, new_build: bool, need: int
) -> MigrateError:
    """The error for a run that failed while writing (our connection to ``work`` closed).

    A fault of the target (:func:`fault`) removes a partial build: it is ours, a full disk
    gets its space back, and no half-built file is left behind (a ``kill -9`` still
    leaves one for the next run to resume). Any other error keeps the build to resume.
    """
    kind = fault(exc, work)
    if kind is None:
        if _is_busy(exc):
            return MigrateError(
                f"{work}: another program is writing it ({exc}); stop it or retry when it is "
                "idle (what this run committed stays and is not copied again)"
            )
        return MigrateError(f"{work}: {exc}")
    where = full_where(dest.parent) if kind == "full" else None
    removed = remove_build(work) if new_build else None
    return MigrateError(
        fault_message(
            kind,
            exc,
            dest=dest,
            work=work,
            new_build=new_build,
            removed=removed,
            need=need,
            where=where,
        )
    )


def finish(
    work: Path,
    dest: Path,
    run_id: str,
    *,
    backup_dir: Path | None,
    need: int,
    checked: Callable[[], str | None] | None = None,
) -> tuple[str | None, str | None]:
    """Seal a verified build and rename it into place.

    Args:
        work: the verified build (closed).
        dest: the target path.
        run_id: the run (recorded as the build's completion mark).
        backup_dir: back the old target up here first (``--force``), else ``None``.
        need: bytes the run needs, for a full-disk message.
        checked: the result of an :func:`integrity` check already run (see :func:`seal`).

    Returns:
        (the backup's path or ``None``, ``None`` or the problem when the build failed
        ``integrity_check``: then it was not put in place and was removed, because a
        resumed damaged build would fail again).

    Raises:
        MigrateError: a fault of the target, the old target in use, a failed backup;
            nothing was replaced.
    """
    try:
        damage = seal(work, run_id, checked)
    except (sqlite3.Error, OSError) as exc:
        raise failure(exc, dest, work, new_build=True, need=need) from exc
    if damage is not None:
        why = remove_build(work)
        left = "it was removed" if why is None else f"it could not be removed ({why})"
        return None, (
            f"{dest}: the new database failed integrity_check ({damage}), so it was not put "
            f"in place and {left}; run migrate --execute again to build it anew"
        )
    if is_held(work):
        raise MigrateError(f"{work}: still open in this process; it was not put in place")
    try:
        backup = put_in_place(work, dest, backup_dir)
    except (sqlite3.Error, OSError) as exc:
        raise failure(exc, dest, work, new_build=True, need=need) from exc
    return (None if backup is None else str(backup)), None
