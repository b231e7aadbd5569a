"""Describe a SQLite database without changing it or creating anything beside it.

The file is read through :func:`dbfold.sqlitefiles.readable`: a read-only URI with SQLite's
own locks (a database in use, or in rollback-journal mode), or a private copy for a WAL
database that nothing has open (a read-only connection would create its ``-wal``/``-shm``).
Everything is read inside one read transaction, so the counts are of one moment even while
another process writes. A database this process itself has open is never read with plain
file I/O (sqlite.org/howtocorrupt.html §2.2).
"""

from __future__ import annotations

import re
import shlex
import sqlite3
from pathlib import Path
from typing import Any

from dbfold.model import Column, ForeignKey, Index, Problem, SqliteInfo, Store, Table, View
from dbfold.quoting import literal, quote
from dbfold.sqlitefiles import Header, HeaderError, SourceReadError, header, readable

#: Seconds to wait for another process's lock before giving up.
LOCK_TIMEOUT = 0.5
_WITHOUT_ROWID = re.compile(r"\bWITHOUT\s+ROWID\b", re.IGNORECASE)

LOCKED = "locked by another process; retry when it is idle"


class _Unreadable(Exception):
    """The database cannot be read; the message says why and what to do."""


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
        try:
            facts = header(path, size)
        except HeaderError as exc:
            raise _Unreadable(str(exc)) from exc
        with readable(path, timeout=LOCK_TIMEOUT) as view:
            con = sqlite3.connect(view.uri, uri=True, timeout=LOCK_TIMEOUT)
            try:
                con.execute("BEGIN")  # one read transaction: every count of one moment
                return _describe(con, path, rel, size, facts, view.wal_bytes, view.wal_pending)
            finally:
                con.close()
    except SourceReadError as exc:
        return Store(rel, "sqlite", size, problems=(Problem(rel, f"{rel}: {exc}"),))
    except _Unreadable as exc:
        msg = str(exc)
        if msg == LOCKED:
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
    except OSError as exc:
        return Store(
            rel,
            "sqlite",
            size,
            problems=(Problem(rel, f"{rel}: cannot be read ({exc.strerror or exc})"),),
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
    facts: Header,
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
    declared_pages = facts.pages
    if declared_pages and page_count < declared_pages:
        raise _Unreadable(f"file is truncated: {page_count} of {declared_pages} pages")
    info = SqliteInfo(
        page_size=page_size,
        page_count=page_count,
        freelist_count=freelist,
        journal_mode="wal" if facts.wal else "delete",
        user_version=one("PRAGMA user_version"),
        wal_bytes=wal_bytes,
        wal_pending=wal_pending,
        encoding=one("PRAGMA encoding"),
    )
    problems: list[Problem] = []
    damaged: list[str] = []  # tables that cannot be read: one problem with quick_check's word
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
            damaged.append(f"table {name!r} cannot be read: {exc}")
            tables.append(Table(name=name, rows=0, sql=sql))
    damage = _quick_check(con, rel, damaged)
    if damage is not None:
        problems.append(damage)
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


#: How many of quick_check's findings the problem quotes.
_QUICK_CHECK_LINES = 3


def _quick_check(con: sqlite3.Connection, rel: str, damaged: list[str]) -> Problem | None:
    """SQLite's own verdict on the file's structure (every b-tree page, the freelist).

    ``quick_check`` reads every page once, like the row counts do, but skips the index
    content comparison of ``integrity_check``, which is what makes that one slow.
    """
    try:
        rows = con.execute(f"PRAGMA quick_check({_QUICK_CHECK_LINES + 1})").fetchall()
        # One row may hold several findings on lines, under a "*** in database main ***".
        found = [
            line.strip()
            for (text,) in rows
            for line in str(text).splitlines()
            if line.strip() and not line.startswith("***")
        ]
    except sqlite3.DatabaseError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise
        found = [f"quick_check failed: {exc}"]
    if found == ["ok"] and not damaged:
        return None
    more = " …" if len(found) > _QUICK_CHECK_LINES else ""
    said = "; ".join(found[:_QUICK_CHECK_LINES]) + more
    said = f"SQLite's quick_check: {said}"
    if damaged:
        said = "; ".join(damaged) + ("" if found == ["ok"] else f"; {said}")
    return Problem(
        rel,
        f"{rel}: damaged ({said}); save what it still holds with `sqlite3 "
        f"{shlex.quote(rel)} .recover | sqlite3 recovered.db` and analyze that, or restore "
        "it from a backup, or exclude it",
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
    without_rowid = bool(_WITHOUT_ROWID.search(sql))
    indexes = _indexes(con, name, index_sql)
    # SQLite enforces NOT NULL on a key only where the key is the rowid (an alias: one
    # column declared exactly INTEGER, which gets no "pk" index) or the table has no rowid;
    # any other key of a rowid table may hold NULL (sqlite.org/lang_createtable.html#rowid).
    alias = sum(1 for r in cols if r[5]) == 1 and not any(i.origin == "pk" for i in indexes)
    key_not_null = without_rowid or alias
    columns: list[Column] = []
    for row in cols:
        _cid, cname, ctype, notnull, dflt, pk, hidden = row
        hints = ("generated",) if hidden in (2, 3) else ()
        columns.append(
            Column(
                name=cname,
                type=ctype or "",
                nullable=not notnull and not (pk and key_not_null),
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
        indexes=indexes,
        layout="table",
        sql=sql or None,
        without_rowid=without_rowid,
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
