"""verify(): prove that the target holds exactly what the sources hold.

The comparison runs inside SQLite (:mod:`dbfold.migrate.verify_sql`): the target is attached
read-only beside a scratch database, and each source is compared with the target rows that
came from it by counts and ``EXCEPT`` in both directions, column by column ``COLLATE BINARY``
and by storage class. It does not trust the copy: a SQLite source is read by its own
``SELECT`` over the attached source file (through a scratch table with the target's column
affinities where inserting would convert a value), and a file's records are read again into
scratch tables with the target's column types and compared the same way. On a difference
the first differing key is named.

Sources that only grow (SQLite tables, JSONL) are compared up to the journal's watermark;
rows beyond it are reported as pending (migrate again to fold them in), not as a mismatch.
A JSONL file's non-blank lines are also counted apart from its reader, so a reader that
dropped a line cannot hide it from both sides.

Rows whose keys legacy code wrote through adapters after the cutover (recorded in
``dbfold_adapter_writes``, see :mod:`dbfold.provenance`) are left out of both sides and
counted apart: the legacy file no longer receives them, so they cannot match it. Every other
row must still match exactly.
"""

from __future__ import annotations

import functools
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dbfold.design.render_sql import create_table
from dbfold.errors import MigrateError
from dbfold.migrate import journal
from dbfold.migrate.copy import _Writer, record_batches
from dbfold.migrate.ops import FILE_KINDS, CopyRecords, CopySqlite, Target, build_operations
from dbfold.migrate.progress import NullProgress, Progress
from dbfold.migrate.records import ReadState, SourceError
from dbfold.migrate.report import TableCheck, VerifyReport
from dbfold.migrate.sqlsource import readable
from dbfold.migrate.verify_sql import (
    Comparison,
    Side,
    column_affinities,
    compare,
    is_rowid_column,
    scratch_table,
    unchanged_by_insert,
    unique_key,
)
from dbfold.model import Analysis, Problem
from dbfold.plan import Plan, PlanTable
from dbfold.provenance import key_columns, read_writes, source_value
from dbfold.quoting import quote

#: Keys written through adapters, per (target table, source value).
Written = dict[tuple[str, str], dict[tuple[Any, ...], str]]
#: Page cache of the scratch connection, in KiB (sorts for EXCEPT spill to files beyond it).
CACHE_KIB = 16 * 1024
#: Sources verified at once (each in its own thread, scratch database and connections).
WORKERS = 2


def _loose(table: PlanTable) -> str:
    """DDL of a constraint-free copy of a table: the same column types, nothing else."""
    cols = tuple(replace(c, nullable=True, primary_key=False, default=None) for c in table.columns)
    loose = replace(table, columns=cols, primary_key=(), unique=(), foreign_keys=(), indexes=())
    return create_table(loose)


def _target_side(t: Target, cols: list[str]) -> Side:
    s = t.source
    if s.discriminator and s.value is not None:
        return Side(
            f"tgt.{quote(t.table.name)}",
            list(map(quote, cols)),
            [(quote(s.discriminator), "=")],
            (s.value,),
        )
    return Side(f"tgt.{quote(t.table.name)}", list(map(quote, cols)))


def _comparison(
    con: sqlite3.Connection,
    t: Target,
    cols: list[str],
    source: Side,
    written: Written,
    *,
    source_distinct: Callable[[list[int]], bool] = lambda _key: False,
) -> Comparison:
    tgt_aff = column_affinities(con, "tgt", t.table.name)
    folded = [c.casefold() for c in cols]
    keys = [c.casefold() for c in key_columns(t.table, t.source)]
    key = [folded.index(k) for k in keys] if all(k in folded for k in keys) else []
    s = t.source
    fixed = s.discriminator if s.value is not None else None
    unique = unique_key(con, "tgt", t.table.name, cols, fixed)
    lookup = None if unique is None else [folded.index(k) for k in unique]
    return Comparison(
        cols,
        source,
        _target_side(t, cols),
        # INTEGER, NUMERIC and REAL affinity store an integral number one way only, and TEXT
        # holds no numbers: only a column without affinity can hold both 1 and 1.0.
        typed=[tgt_aff.get(c, "BLOB") == "BLOB" for c in folded],
        key=key,
        lookup=lookup,
        source_distinct=lookup is not None and source_distinct(lookup),
        skip=frozenset(written.get((t.table.name, source_value(s)), {})),
    )


def _check_of(t: Target, cmp: Comparison, con: sqlite3.Connection, pending: int) -> TableCheck:
    out = compare(con, cmp)
    cs_src, cs_tgt = out.checksums
    return TableCheck(
        t.source.store,
        t.source.table,
        t.table.name,
        out.source_rows,
        out.target_rows,
        cs_src,
        cs_tgt,
        out.first_difference,
        pending,
        t.source.array,
        len(cmp.skip),
    )


def _sqlite_check(
    con: sqlite3.Connection,
    root: Path,
    op: CopySqlite,
    entry: journal.Entry | None,
    written: Written,
) -> TableCheck:
    """Compare one SQLite source table with its target rows (up to the watermark)."""
    with readable(root / op.store.path) as (uri, _snap):
        con.execute("ATTACH DATABASE ? AS src", (uri,))
        try:
            return _sqlite_compare(con, op, entry, written)
        finally:
            con.execute("DROP TABLE IF EXISTS main.dbfold_m")
            con.execute("DETACH DATABASE src")


def _sqlite_compare(
    con: sqlite3.Connection, op: CopySqlite, entry: journal.Entry | None, written: Written
) -> TableCheck:
    t, s = op.target, op.target.source
    name = f"src.{quote(s.table)}"
    rowid = op.rowid
    src_aff = column_affinities(con, "src", s.table)
    cols = list(t.columns)
    refs = [quote(p) for p in t.paths]
    paths: list[str | None] = list(t.paths)
    affs: list[str | None] = [src_aff.get(p.casefold(), "?") for p in t.paths]
    if t.fill_surrogate and s.surrogate and rowid is not None:
        # Without a rowid to reach, SQLite numbered the rows itself: nothing to compare.
        cols.append(s.surrogate)
        refs.append(rowid)
        paths.append(None)
        affs.append(None)
    filters: list[tuple[str, str]] = []
    params: tuple[Any, ...] = ()
    pending = 0
    if rowid is not None:
        try:
            (hi,) = con.execute(f"SELECT max({rowid}) FROM {name}").fetchone()
        except sqlite3.OperationalError:
            hi = None  # not a rowid table after all (a view): compared whole
        wm = entry.watermark if entry is not None else None
        if wm is not None and hi is not None and hi > wm:
            filters, params = [(rowid, "<=")], (wm,)
            (pending,) = con.execute(
                f"SELECT count(*) FROM {name} WHERE {rowid} > ?", (wm,)
            ).fetchone()
    tgt_aff = column_affinities(con, "tgt", t.table.name)
    target_affs = [tgt_aff.get(c.casefold(), "BLOB") for c in cols]
    source = Side(name, refs, filters, params)

    def distinct(key: list[int]) -> bool:
        if len(key) != 1:
            return False
        path = paths[key[0]]
        return path is None or is_rowid_column(con, "src", s.table, path)

    if not all(unchanged_by_insert(a, b) for a, b in zip(affs, target_affs, strict=True)):
        # Inserting converts some value (TEXT '1' into an INTEGER column): read the source
        # through a scratch table with the target's affinities, as the copy's INSERT does.
        m = scratch_table(con, "dbfold_m", target_affs)
        exprs = ", ".join(source.exprs("x"))
        con.execute(
            f"INSERT INTO {m} SELECT {exprs} FROM {name} AS x WHERE {source.where('x')}", params
        )
        source = Side(m, [f"c{i}" for i in range(len(cols))])
    cmp = _comparison(con, t, cols, source, written, source_distinct=distinct)
    return _check_of(t, cmp, con, int(pending))


@dataclass(frozen=True)
class Fill:
    """A file's records read again into a scratch database, and what the reader saw."""

    path: Path  # the scratch database
    bytes: int  # bytes of the file the reader consumed
    got: int  # top-level records read
    bad: int  # lines that could not be read (JSONL)
    stamp: tuple[int, int]  # (size, mtime in ns) of the file when the read began


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def fill_records(
    scratch: Path,
    root: Path,
    op: CopyRecords,
    end: int | None,
    stop: threading.Event | None = None,
) -> Fill | None:
    """Read a file record set into loose copies of its target tables in ``scratch``.

    ``end`` stops a JSONL read at that byte offset (the journal's watermark); ``stop``
    abandons the read (then None is returned).
    """
    path = root / op.store.path
    stamp = _stamp(path)
    con = _scratch(scratch)
    try:
        for t in op.targets:
            con.execute(f"DROP TABLE IF EXISTS main.{quote(t.table.name)}")
            con.execute(_loose(t.table))
        writers = [_Writer(con, r, 0) for r in op.roots]
        state = ReadState()
        con.execute("BEGIN")
        for batch in record_batches(op, path, state, end=end):
            if stop is not None and stop.is_set():
                return None
            for w in writers:
                w.feed(batch)
        for w in writers:
            for x in w.all():
                x.flush()
        con.execute("COMMIT")
    finally:
        con.close()
    got = writers[0].count if writers else 0
    return Fill(scratch, state.bytes, got, state.bad_count, stamp)


class Prefetch:
    """Reads the streamed file sources (JSONL, CSV) again in a thread while migrate copies.

    The copy of SQLite sources runs in SQLite with the GIL released, so the second core
    reads the files meanwhile; verify then only compares. A read is used only if the file
    did not change since (JSONL: it ended where the copy's journal ends; CSV: the same size
    and mtime), else verify reads the file again itself.
    """

    KINDS = ("jsonl", "csv")

    def __init__(self, plan: Plan, analysis: Analysis, root: Path) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="dbfold-prefetch-"))
        self.root = root
        self.fills: dict[int, Fill] = {}
        self.stop = threading.Event()
        ops, _notes = build_operations(plan, analysis)
        self.todo = {
            n: op
            for n, op in enumerate(ops)
            if isinstance(op, CopyRecords) and op.store.kind in self.KINDS
        }
        self.thread = threading.Thread(target=self._run, name="dbfold-prefetch", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for n, op in self.todo.items():
            if self.stop.is_set():
                return
            try:
                fill = fill_records(self.dir / f"prefetch-{n}.db", self.root, op, None, self.stop)
            except Exception:
                continue
            if fill is not None:
                self.fills[n] = fill

    def take(self, n: int, op: CopyRecords, end: int | None) -> Fill | None:
        """The read of operation ``n`` if it matches what the copy read, else None."""
        self.thread.join()
        fill = self.fills.get(n)
        if fill is None:
            return None
        path = self.root / op.store.path
        try:
            same = _stamp(path) == fill.stamp
        except OSError:
            return None
        if op.store.kind == "jsonl":
            return fill if end is not None and fill.bytes == end and same else None
        return fill if same else None

    def close(self) -> None:
        """Stop reading and remove the scratch files."""
        self.stop.set()
        self.thread.join()
        shutil.rmtree(self.dir, ignore_errors=True)


def _jsonl_end(op: CopyRecords, entries: dict[journal.JournalKeyT, journal.Entry]) -> int | None:
    if op.store.kind != "jsonl":
        return None
    e = entries.get(op.targets[0].key)
    return e.byte_offset if e is not None else None


def _records_check(
    con: sqlite3.Connection,
    root: Path,
    op: CopyRecords,
    fill: Fill,
    end: int | None,
    written: Written,
) -> list[TableCheck]:
    """Compare each target of a file record set with its records read into ``main``."""
    path = root / op.store.path
    if op.store.kind == "jsonl":
        # Counted apart from the reader: a reader that dropped a line would otherwise drop it
        # from both sides and the comparison would still agree.
        lines = _nonblank_lines(path, fill.bytes)
        if lines != fill.got + fill.bad:
            t = op.targets[0]
            (n,) = con.execute(f"SELECT count(*) FROM tgt.{quote(t.table.name)}").fetchone()
            message = (
                f"{lines:,} non-blank lines, but {fill.got:,} records were read"
                f" and {fill.bad:,} lines were unreadable"
            )
            return [
                TableCheck(
                    t.source.store,
                    t.source.table,
                    t.table.name,
                    lines - fill.bad,
                    int(n),
                    "-",
                    "-",
                    message,
                )
            ]
    pending = 0
    if end is not None and path.stat().st_size > end:
        with open(path, "rb") as f:
            f.seek(end)
            pending = sum(1 for line in f if line.strip())
    out = []
    for t in op.targets:
        cols = [*t.columns, *t.generated]
        source = Side(f"main.{quote(t.table.name)}", list(map(quote, cols)))
        cmp = _comparison(con, t, cols, source, written)
        out.append(_check_of(t, cmp, con, pending if t is op.targets[0] else 0))
    return out


def _nonblank_lines(path: Path, limit: int) -> int:
    n = 0
    with open(path, "rb") as f:
        left = limit
        while left > 0:
            lines = f.readlines(min(left, 1 << 20))
            if not lines:
                break
            for line in lines:
                left -= len(line)
                if left < 0:
                    break
                if line.strip(b" \t\r\n\xef\xbb\xbf"):
                    n += 1
    return n


def _heaviest_first(todo: list[tuple[int, CopySqlite | CopyRecords]]) -> list[int]:
    """File record sets first (read in Python), so SQLite's comparisons fill in beside them."""
    return sorted(
        range(len(todo)), key=lambda i: (isinstance(todo[i][1], CopySqlite), -todo[i][1].rows)
    )


def verify(
    plan: Plan,
    root: Path,
    target: Path,
    *,
    analysis: Analysis | None = None,
    skip_stores: frozenset[str] = frozenset(),
    prefetch: Prefetch | None = None,
    progress: Progress | None = None,
) -> VerifyReport:
    """Compare every source with the target rows that came from it.

    Args:
        plan: the plan the target was built from.
        root: the project root (store paths are relative to it).
        target: the SQLite target file.
        analysis: the analysis (read from ``.dbfold/analysis.json`` when omitted).
        skip_stores: stores not to check (the ones a migration already reported unreadable).
        prefetch: file sources read while the copy ran (:class:`Prefetch`), used where
            the file did not change since.
        progress: told the rows (and about the bytes) of each source as its check ends.

    Returns:
        A report with one check per source and target table; ``ok`` is False on any
        mismatch, and each mismatch names the first differing key.

    Raises:
        MigrateError: the target is missing or not a SQLite database.
    """
    from dbfold.state import load_analysis

    started = time.perf_counter()
    if analysis is None:
        analysis = load_analysis(root)
    if not target.exists():
        raise MigrateError(f"{target}: no target database; run `dbfold migrate --execute` first")
    uri = f"{target.absolute().as_uri()}?mode=ro"
    try:
        first = sqlite3.connect(uri, uri=True)
        try:
            entries = journal.last_done(first)
            written = read_writes(first)
        finally:
            first.close()
    except sqlite3.DatabaseError as exc:
        raise MigrateError(f"{target}: not a readable SQLite database ({exc})") from exc
    ops, _notes = build_operations(plan, analysis)
    todo = [
        (n, op)
        for n, op in enumerate(ops)
        if isinstance(op, (CopySqlite, CopyRecords))
        and op.store.path not in skip_stores
        and op.store.kind in ("sqlite", *FILE_KINDS)
    ]
    scratch = Path(tempfile.mkdtemp(prefix="dbfold-verify-"))
    checks: list[TableCheck] = []
    problems: list[Problem] = []

    def one(n: int, op: CopySqlite | CopyRecords) -> list[TableCheck] | Problem:
        store = op.store.path
        try:
            if isinstance(op, CopySqlite):
                con = _scratch(scratch / f"verify-{n}.db")
                try:
                    con.execute("ATTACH DATABASE ? AS tgt", (uri,))
                    return [_sqlite_check(con, root, op, entries.get(op.target.key), written)]
                finally:
                    con.close()
            end = _jsonl_end(op, entries)
            fill = prefetch.take(n, op, end) if prefetch is not None else None
            if fill is None:
                fill = fill_records(scratch / f"verify-{n}.db", root, op, end)
            assert fill is not None
            con = _scratch(fill.path)
            try:
                con.execute("ATTACH DATABASE ? AS tgt", (uri,))
                return _records_check(con, root, op, fill, end, written)
            finally:
                con.close()
        except (SourceError, sqlite3.DatabaseError, OSError) as exc:
            return Problem(store, f"{store}: cannot be verified ({exc})")

    bar = progress or NullProgress()
    shares = [op.store.bytes * op.rows // max(op.store.rows, 1) for _, op in todo]
    bar.start(f"verify {len(todo)} sources", sum(op.rows for _, op in todo), sum(shares))
    try:
        # SQLite does its comparisons with the GIL released, so while one thread reads a
        # file's records in Python another compares a SQLite source: both cores work.
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            futures = {i: pool.submit(one, *todo[i]) for i in _heaviest_first(todo)}
            for i, future in futures.items():
                rows = todo[i][1].rows
                future.add_done_callback(functools.partial(_tell, bar, rows, shares[i]))
            for i in range(len(todo)):  # reported in the plan's order
                got = futures[i].result()
                if isinstance(got, Problem):
                    problems.append(got)
                else:
                    checks.extend(got)
    finally:
        bar.done()
        shutil.rmtree(scratch, ignore_errors=True)
    return VerifyReport(
        str(target), tuple(checks), tuple(problems), round(time.perf_counter() - started, 3)
    )


def _tell(bar: Progress, rows: int, nbytes: int, _done: object) -> None:
    """A check ended: advance the progress bar by its source's rows and bytes."""
    bar.advance(rows, nbytes)


def _scratch(path: Path) -> sqlite3.Connection:
    """The scratch database: nothing in it outlives the run, so it skips every fsync."""
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode = OFF")
    con.execute("PRAGMA synchronous = OFF")
    con.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    con.execute("PRAGMA temp_store = FILE")
    return con
