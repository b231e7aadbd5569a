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
import struct
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dbfold.indexsql import index_parts
from dbfold.model import Column, ForeignKey, Index, Problem, SqliteInfo, Store, Table, View
from dbfold.quoting import literal, quote
from dbfold.sqlitefiles import Header, HeaderError, SourceReadError, header, readable

#: Seconds to wait for another process's lock before giving up.
LOCK_TIMEOUT = 0.5
_WITHOUT_ROWID = re.compile(r"\bWITHOUT\s+ROWID\b", re.IGNORECASE)

LOCKED = "locked by another process; retry when it is idle"
#: A ``-wal`` bigger than this is not checked frame by frame (the checksums are summed in
#: Python, about 35 MB/s); SQLite's default checkpoints keep a log near 4 MB.
WAL_CHECK_BYTES = 64 * 1024 * 1024
_WAL_MAGIC = (0x377F0682, 0x377F0683)  # checksums of little- / big-endian words
_WAL_VERSION = 3007000
_MASK = 0xFFFFFFFF


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
                store = _describe(con, path, rel, size, facts, view.wal_bytes, view.wal_pending)
            finally:
                con.close()
        lost = _wal_problem(path, rel) if view.wal_bytes else None
        return store if lost is None else replace(store, problems=(*store.problems, lost))
    except SourceReadError as exc:
        return Store(rel, "sqlite", size, problems=(Problem(rel, f"{rel}: {exc}"),))
    except _Unreadable as exc:
        msg = str(exc)
        if msg == LOCKED:
            text = f"{rel}: {msg}"
        else:
            text = f"{rel}: not a readable SQLite database ({msg}); {_what_to_do(rel, msg)}"
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
                    f"{rel}: not a readable SQLite database ({exc}); {_what_to_do(rel, str(exc))}",
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
        return f"{rel}: not a readable SQLite database ({msg}); {_what_to_do(rel, msg)}"
    return f"{rel}: cannot be read ({msg}); check the file and re-run"


def _recover(rel: str) -> str:
    """The shell command that saves what a damaged database still holds."""
    return f"`sqlite3 {shlex.quote(rel)} .recover | sqlite3 recovered.db`"


def _what_to_do(rel: str, msg: str) -> str:
    """What to do with a file SQLite cannot open: a damaged or truncated database has pages
    that ``.recover`` may still read; anything else can only be restored or left out."""
    if "malformed" in msg or "truncated" in msg:
        return (
            f"save what it still holds with {_recover(rel)} and analyze that; otherwise "
            "restore it from a backup or exclude it"
        )
    return "restore it from a backup or exclude it"


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
        f"{rel}: damaged ({said}); save what it still holds with {_recover(rel)} and "
        "analyze that, or restore it from a backup, or exclude it",
    )


@dataclass(frozen=True)
class WalLoss:
    """Committed frames of a ``-wal`` that SQLite will not replay.

    Attributes:
        bad: The first frame SQLite rejects (0: the log's header).
        why: What is wrong with it.
        frames: Frames from the last one replayed to the last committed one after ``bad``.
        commits: Committed transactions among them.
    """

    bad: int
    why: str
    frames: int
    commits: int


def _wal_sum(data: bytes, big: bool, s1: int, s2: int) -> tuple[int, int]:
    """SQLite's WAL checksum of ``data`` (32-bit words in the log's byte order), from (s1, s2)."""
    it = iter(struct.unpack(f"{'>' if big else '<'}{len(data) // 4}I", data))
    for x0, x1 in zip(it, it, strict=False):
        s1 = (s1 + x0 + s2) & _MASK
        s2 = (s2 + x1 + s1) & _MASK
    return s1, s2


def wal_loss(wal: bytes) -> WalLoss | None:
    """Whether a ``-wal`` holds committed frames that SQLite will not replay (sqlite.org/
    fileformat2.html#walformat), from its header and frame checksums alone.

    SQLite replays frames in order while each has the header's salts, a page number and a
    checksum that continues the running one, up to the last commit frame, and silently stops
    at the first that does not. After that frame, frames of the same log (the header's
    salts) whose own checksum is right (continuing from the stored checksum of the frame
    before) and that end in a commit were committed, and are lost. A bad frame with no such
    commit after it is what a crash in the middle of a write leaves (that transaction was
    never committed), and frames with other salts are left from before the log was
    restarted: neither is a loss.

    >>> wal_loss(b"") is None
    True
    """
    if len(wal) < 32 + 24 + 512:
        return None
    magic, version, page = struct.unpack(">III", wal[:12])
    if magic not in _WAL_MAGIC or version != _WAL_VERSION:
        return None  # not a log SQLite reads (it refuses or ignores it, and says so)
    if page < 512 or page > 65536 or page & (page - 1):
        return None
    big = bool(magic & 1)
    salts = wal[16:24]
    size = 24 + page
    count = (len(wal) - 32) // size

    def stored(off: int) -> tuple[int, int]:
        a, b = struct.unpack(">II", wal[off : off + 8])
        return a, b

    running = stored(24)
    bad, why = (
        (0, "the log's header has a bad checksum")
        if _wal_sum(wal[:24], big, 0, 0) != running
        else (None, "")
    )
    replayed = 0
    if bad is None:
        for i in range(1, count + 1):
            off = 32 + (i - 1) * size
            pgno, commit = struct.unpack(">II", wal[off : off + 8])
            if wal[off + 8 : off + 16] != salts:
                bad, why = i, f"frame {i} has another log's salts"
            elif pgno == 0:
                bad, why = i, f"frame {i} names page 0"
            else:
                got = _wal_sum(
                    wal[off + 24 : off + size], big, *_wal_sum(wal[off : off + 8], big, *running)
                )
                if got != stored(off + 16):
                    bad, why = i, f"frame {i} has a bad checksum"
            if bad is not None:
                break
            running = stored(off + 16)
            if commit:
                replayed = i
    if bad is None:
        return None
    prev = stored(24 if bad == 0 else 32 + (bad - 1) * size + 16)
    last = commits = 0
    for j in range(bad + 1, count + 1):
        off = 32 + (j - 1) * size
        if wal[off + 8 : off + 16] != salts:
            break  # an older log's frames from here on
        pgno, commit = struct.unpack(">II", wal[off : off + 8])
        got = _wal_sum(wal[off + 24 : off + size], big, *_wal_sum(wal[off : off + 8], big, *prev))
        prev = stored(off + 16)
        if got == prev and pgno and commit:
            last, commits = j, commits + 1
    if not last:
        return None
    return WalLoss(bad, why, last - replayed, commits)


def _wal_problem(path: Path, rel: str) -> Problem | None:
    """One problem when the ``-wal`` beside ``path`` holds committed frames SQLite skips.

    A ``-wal`` holds no locks of SQLite's, so it may be read with plain file I/O even while
    this process has the database open (ARCHITECTURE.md, rule 1).
    """
    wal = Path(f"{path}-wal")
    try:
        if wal.stat().st_size > WAL_CHECK_BYTES:
            return None
        loss = wal_loss(wal.read_bytes())
    except OSError:
        return None
    if loss is None:
        return None
    n, c = loss.frames, loss.commits
    return Problem(
        rel,
        f"{rel}: its -wal holds {n} frame{'s' if n != 1 else ''} of {c} committed "
        f"transaction{'s' if c != 1 else ''} that SQLite will not replay ({loss.why}; SQLite "
        "stops there without a word), so analyze and migrate see the database without them; "
        f"copy {rel} and {rel}-wal aside before any program opens it (closing it deletes the "
        "-wal), and restore it from a backup if those changes matter",
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
    collations, indexes = _collations(con, sql, indexes)
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
                collation=collations.get(cname),
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
        columns = tuple(c[0] if c[0] is not None else "<expression>" for c in cols)
        sql = index_sql.get(iname)
        where: str | None = None
        terms: tuple[str, ...] = ()
        expression = any(c[0] is None for c in cols)
        # Parsed only where there is something to carry, so other indexes read as before.
        parts = index_parts(sql) if partial or expression else None
        if parts is not None:
            where = parts[0] if partial else None
            if expression and len(parts[1]) == len(columns):
                terms = parts[1]
        out.append(
            Index(
                name=iname,
                columns=columns,
                unique=bool(unique),
                origin=origin,
                partial=bool(partial),
                sql=sql,
                where=where,
                expressions=terms,
            )
        )
    out.sort(key=lambda i: i.name)
    return tuple(out)


#: How many stand-in collations and functions a replayed CREATE TABLE may need.
_STAND_INS = 64
_MISSING = re.compile(r"no such (collation sequence|function): (.+)$")


def _collations(
    con: sqlite3.Connection, sql: str, indexes: tuple[Index, ...]
) -> tuple[dict[str, str], tuple[Index, ...]]:
    """The collations of a table: column → collation (where not BINARY), and its indexes
    with the collation of each key column (where one is not BINARY).

    An index's are read from the source (``pragma_index_xinfo``). SQLite reports no column's
    collation, so the table's CREATE statement is replayed in a private in-memory database,
    an index is made on each column there and asked the same. A collation or function that
    the owning program registers gets a stand-in, so the statement parses; a statement that
    cannot be replayed (a virtual table) gives no column collations.
    """
    out = []
    for ix in indexes:
        rows = con.execute(
            f"SELECT coll FROM pragma_index_xinfo({literal(ix.name)}) WHERE key ORDER BY seqno"
        ).fetchall()
        colls = tuple(str(c) for (c,) in rows)
        out.append(
            ix if all(c.upper() == "BINARY" for c in colls) else replace(ix, collations=colls)
        )
    columns: dict[str, str] = {}
    if "COLLATE" not in sql.upper() or not re.match(r"\s*CREATE\s+TABLE\b", sql, re.IGNORECASE):
        return columns, tuple(out)
    mem = sqlite3.connect(":memory:")
    try:
        for _ in range(_STAND_INS):
            try:
                mem.execute(sql)
                break
            except sqlite3.OperationalError as exc:
                found = _MISSING.match(str(exc))
                if found is None:
                    return columns, tuple(out)
                if found[1] == "function":
                    mem.create_function(found[2], -1, lambda *_: None)
                else:
                    mem.create_collation(found[2], lambda _a, _b: 0)
        else:
            return columns, tuple(out)
        ((table,),) = mem.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name <> 'sqlite_sequence'"
        )
        info = mem.execute(f"SELECT name, hidden FROM pragma_table_xinfo({literal(table)})")
        for cname, hidden in info.fetchall():
            if hidden == 1:
                continue
            mem.execute(f"CREATE INDEX dbfold_collation ON {quote(table)} ({quote(cname)})")
            ((coll,),) = mem.execute(
                "SELECT coll FROM pragma_index_xinfo('dbfold_collation') WHERE key"
            )
            mem.execute("DROP INDEX dbfold_collation")
            if str(coll).upper() != "BINARY":
                columns[cname] = str(coll)
    except (sqlite3.Error, ValueError):
        return {}, tuple(out)  # not replayable as written: no column collations known
    finally:
        mem.close()
    return columns, tuple(out)
