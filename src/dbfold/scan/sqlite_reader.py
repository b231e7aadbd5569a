"""Describe a SQLite database without changing it or creating anything beside it.

Without a ``-wal`` beside it the file is opened ``mode=ro&immutable=1`` (no locks, no
``-shm``). With a ``-wal`` holding frames, the database and its log are copied into a private
temporary folder and the copy is opened: that replays the log without touching the source and
gives a consistent snapshot while another process writes. A hot ``-journal`` (a writer in the
middle of a transaction) is read through SQLite's own locks with a short timeout.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dbfold.model import Column, ForeignKey, Index, Problem, SqliteInfo, Store, Table, View
from dbfold.quoting import literal, quote

#: Seconds to wait for another process's lock before giving up.
LOCK_TIMEOUT = 0.5
_JOURNAL_MAGIC = b"\xd9\xd5\x05\xf9\x20\xa1\x63\xd7"
_WITHOUT_ROWID = re.compile(r"\bWITHOUT\s+ROWID\b", re.IGNORECASE)

LOCKED = "locked by another process; retry when it is idle"


class _Unreadable(Exception):
    """The database cannot be read; the message says why and what to do."""


def _header_facts(path: Path, size: int) -> dict[str, Any]:
    with open(path, "rb") as f:
        head = f.read(100)
    if len(head) < 100:
        raise _Unreadable(
            f"file is truncated ({size} bytes, shorter than the 100-byte SQLite header)"
        )
    page_size = int.from_bytes(head[16:18], "big")
    if page_size == 1:
        page_size = 65536
    if page_size < 512 or page_size & (page_size - 1):
        raise _Unreadable("corrupt header (impossible page size)")
    change = head[24:28]
    pages_in_header = int.from_bytes(head[28:32], "big")
    valid = change == head[92:96] and pages_in_header > 0
    facts = {
        "page_size": page_size,
        "wal": head[18] == 2 or head[19] == 2,
        "pages": pages_in_header if valid else 0,
    }
    if valid and size < pages_in_header * page_size:
        raise _Unreadable(f"file is truncated: {size // page_size} of {pages_in_header} pages")
    if size < page_size:
        raise _Unreadable(f"file is truncated: {size} bytes, less than one {page_size}-byte page")
    return facts


def _hot_journal(path: Path) -> bool:
    try:
        with open(f"{path}-journal", "rb") as f:
            return f.read(8) == _JOURNAL_MAGIC
    except OSError:
        return False


@contextmanager
def _open(path: Path) -> Iterator[tuple[sqlite3.Connection, int, bool]]:
    """Yield (connection, wal_bytes, wal_pending) on a read-only view of ``path``."""
    wal = Path(f"{path}-wal")
    try:
        wal_bytes = wal.stat().st_size
    except FileNotFoundError:
        wal_bytes = 0
    if wal_bytes > 32:
        tmp = tempfile.mkdtemp(prefix="dbfold-snapshot-")
        try:
            copy = Path(tmp) / "snapshot.db"
            _snapshot(path, wal, copy)
            # Read-only: closing a read-write connection would checkpoint the copy first.
            con = sqlite3.connect(f"{copy.as_uri()}?mode=ro", uri=True, timeout=LOCK_TIMEOUT)
            try:
                yield con, wal_bytes, True
            finally:
                con.close()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    uri = path.absolute().as_uri()
    if _hot_journal(path):
        # A writer is mid-transaction: only SQLite's locks give a consistent read.
        con = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=LOCK_TIMEOUT)
    else:
        con = sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, timeout=LOCK_TIMEOUT)
    try:
        yield con, wal_bytes, False
    finally:
        con.close()


def _snapshot(path: Path, wal: Path, copy: Path) -> None:
    """Copy db + wal, retrying while a writer keeps changing them."""
    for _ in range(5):
        before = [(os.stat(p).st_size, os.stat(p).st_mtime_ns) for p in (path, wal)]
        shutil.copyfile(path, copy)
        shutil.copyfile(wal, f"{copy}-wal")
        after = [(os.stat(p).st_size, os.stat(p).st_mtime_ns) for p in (path, wal)]
        if before == after:
            return
    raise _Unreadable("is being written continuously; retry when it is idle")


def read_sqlite(path: Path, rel: str, size: int) -> Store:
    """Describe the SQLite database at ``path`` (``rel`` is its project-relative name)."""
    if size == 0:
        return Store(
            rel,
            "sqlite",
            0,
            problems=(
                Problem(
                    rel,
                    f"{rel}: empty file (0 bytes), not a SQLite database yet; delete it if "
                    "nothing uses it, or exclude it",
                    severity="warning",
                ),
            ),
        )
    try:
        with open(path, "rb") as f:
            magic = f.read(16)
        if magic != b"SQLite format 3\x00"[: len(magic)] or len(magic) < 16:
            raise _Unreadable("no SQLite header; it is not a SQLite database")
        facts = _header_facts(path, size)
        with _open(path) as (con, wal_bytes, wal_pending):
            return _describe(con, path, rel, size, facts, wal_bytes, wal_pending)
    except _Unreadable as exc:
        msg = str(exc)
        if msg == LOCKED or msg.startswith("is being written"):
            text = f"{rel}: {msg}"
        else:
            text = (
                f"{rel}: not a readable SQLite database ({msg}); restore it from a backup "
                "or exclude it"
            )
        return Store(rel, "sqlite", size, problems=(Problem(rel, text),))
    except sqlite3.OperationalError as exc:
        return Store(rel, "sqlite", size, problems=(Problem(rel, _explain(rel, exc)),))
    except sqlite3.DatabaseError as exc:
        return Store(
            rel,
            "sqlite",
            size,
            problems=(
                Problem(
                    rel,
                    f"{rel}: not a readable SQLite database ({exc}); restore it from a "
                    "backup or exclude it",
                ),
            ),
        )


def _explain(rel: str, exc: sqlite3.Error) -> str:
    msg = str(exc)
    if "locked" in msg or "busy" in msg:
        return f"{rel}: {LOCKED}"
    if "readonly" in msg or "read-only" in msg:
        return (
            f"{rel}: has an unfinished transaction (hot {rel}-journal); open it once with "
            "the program that owns it (or the sqlite3 shell) to roll it back, then re-run"
        )
    if "malformed" in msg or "not a database" in msg:
        return (
            f"{rel}: not a readable SQLite database ({msg}); restore it from a backup or exclude it"
        )
    return f"{rel}: cannot be read ({msg}); check the file and re-run"


def _describe(
    con: sqlite3.Connection,
    path: Path,
    rel: str,
    size: int,
    facts: dict[str, Any],
    wal_bytes: int,
    wal_pending: bool,
) -> Store:
    def one(sql: str) -> Any:
        return con.execute(sql).fetchone()[0]

    master = con.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY rowid"
    ).fetchall()
    page_size = one("PRAGMA page_size")
    page_count = one("PRAGMA page_count")
    freelist = one("PRAGMA freelist_count")
    declared_pages = facts["pages"]
    if declared_pages and page_count < declared_pages:
        raise _Unreadable(f"file is truncated: {page_count} of {declared_pages} pages")
    info = SqliteInfo(
        page_size=page_size,
        page_count=page_count,
        freelist_count=freelist,
        journal_mode="wal" if facts["wal"] else "delete",
        user_version=one("PRAGMA user_version"),
        wal_bytes=wal_bytes,
        wal_pending=wal_pending,
        encoding=one("PRAGMA encoding"),
    )
    problems: list[Problem] = []
    tables: list[Table] = []
    pks: dict[str, tuple[str, ...]] = {}
    index_sql = {name: sql for typ, name, _t, sql in master if typ == "index"}
    for typ, name, _tbl, sql in master:
        if typ != "table" or name.startswith("sqlite_"):
            continue
        try:
            tables.append(_table(con, name, sql or "", index_sql))
            pks[name] = tables[-1].primary_key
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc):
                raise
            problems.append(
                Problem(rel, f"{rel}: table {name!r} cannot be read ({exc})", severity="warning")
            )
        except sqlite3.DatabaseError as exc:
            problems.append(
                Problem(
                    rel,
                    f"{rel}: table {name!r} is damaged ({exc}); restore the database from a "
                    "backup, or run `sqlite3 {rel} .recover`",
                )
            )
            tables.append(Table(name=name, rows=0, sql=sql))
    # Foreign keys naming no columns point at the referenced table's primary key.
    tables = [_resolve_fks(t, pks) for t in tables]
    views = tuple(View(name, sql or "") for typ, name, _t, sql in master if typ == "view")
    triggers = tuple(
        View(name, sql or "", table=tbl) for typ, name, tbl, sql in master if typ == "trigger"
    )
    return Store(
        path=rel,
        kind="sqlite",
        bytes=size,
        tables=tuple(tables),
        problems=tuple(problems),
        reclaimable_bytes=freelist * page_size,
        sqlite=info,
        views=views,
        triggers=triggers,
        encoding=info.encoding,
    )


def _resolve_fks(t: Table, pks: dict[str, tuple[str, ...]]) -> Table:
    if not any(not fk.ref_columns for fk in t.foreign_keys):
        return t
    fks = tuple(
        fk
        if fk.ref_columns
        else ForeignKey(
            fk.columns, fk.ref_table, pks.get(fk.ref_table, ()), fk.on_delete, fk.on_update
        )
        for fk in t.foreign_keys
    )
    return Table(
        name=t.name,
        rows=t.rows,
        columns=t.columns,
        primary_key=t.primary_key,
        foreign_keys=fks,
        indexes=t.indexes,
        layout=t.layout,
        sql=t.sql,
        without_rowid=t.without_rowid,
    )


def _table(con: sqlite3.Connection, name: str, sql: str, index_sql: dict[str, str | None]) -> Table:
    q = quote(name)
    info = con.execute(f"SELECT * FROM pragma_table_xinfo({literal(name)})").fetchall()
    # cid, name, type, notnull, dflt_value, pk, hidden
    cols = [row for row in info if row[6] in (0, 2, 3)]
    rows = con.execute(f"SELECT count(*) FROM {q}").fetchone()[0] or 0
    columns: list[Column] = []
    for row in cols:
        _cid, cname, ctype, notnull, dflt, pk, hidden = row
        hints = ("generated",) if hidden in (2, 3) else ()
        columns.append(
            Column(
                name=cname,
                type=ctype or "",
                nullable=not notnull and not pk,
                primary_key=bool(pk),
                default=dflt,
                hints=hints,
            )
        )
    pk_cols = tuple(r[1] for r in sorted((r for r in cols if r[5]), key=lambda r: r[5]))
    return Table(
        name=name,
        rows=rows,
        columns=tuple(columns),
        primary_key=pk_cols,
        foreign_keys=_foreign_keys(con, name),
        indexes=_indexes(con, name, index_sql),
        layout="table",
        sql=sql or None,
        without_rowid=bool(_WITHOUT_ROWID.search(sql)),
    )


def _foreign_keys(con: sqlite3.Connection, name: str) -> tuple[ForeignKey, ...]:
    rows = con.execute(f"SELECT * FROM pragma_foreign_key_list({literal(name)})").fetchall()
    # id, seq, table, from, to, on_update, on_delete, match
    groups: dict[int, list[Any]] = {}
    for r in rows:
        groups.setdefault(r[0], []).append(r)
    out = []
    for _id, rs in sorted(groups.items()):
        rs.sort(key=lambda r: r[1])
        refs = tuple(r[4] for r in rs if r[4] is not None)
        out.append(
            ForeignKey(
                columns=tuple(r[3] for r in rs),
                ref_table=rs[0][2],
                ref_columns=refs if len(refs) == len(rs) else (),
                on_delete=rs[0][6],
                on_update=rs[0][5],
            )
        )
    return tuple(out)


def _indexes(
    con: sqlite3.Connection, name: str, index_sql: dict[str, str | None]
) -> tuple[Index, ...]:
    out = []
    for _seq, iname, unique, origin, partial in con.execute(
        f'SELECT seq, name, "unique", origin, partial FROM pragma_index_list({literal(name)})'
    ).fetchall():
        cols = con.execute(
            f"SELECT name FROM pragma_index_info({literal(iname)}) ORDER BY seqno"
        ).fetchall()
        out.append(
            Index(
                name=iname,
                columns=tuple(c[0] if c[0] is not None else "<expression>" for c in cols),
                unique=bool(unique),
                origin=origin,
                partial=bool(partial),
                sql=index_sql.get(iname),
            )
        )
    out.sort(key=lambda i: i.name)
    return tuple(out)
