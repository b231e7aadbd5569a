"""verify(): prove that the target holds exactly what the sources hold.

For every source, the rows are read again the way migrate reads them (the same extraction,
the same generated keys) and passed through an in-memory table with the target's column
types, so SQLite's own type affinity is applied to both sides. Each side's checksum is the
sum modulo 2**64 of a 64-bit blake2b hash of each row's canonical text (``repr`` of the
tuple of mapped columns in a fixed order): independent of row order, and a duplicated or
missing row changes it. On a mismatch a second pass compares row hashes per key and names
the first key that differs.

Sources that only grow (SQLite tables, JSONL) are compared up to the journal's watermark;
rows beyond it are reported as pending (migrate again to fold them in), not as a mismatch.

Rows whose keys legacy code wrote through adapters after the cutover (recorded in
``dbfold_adapter_writes``, see :mod:`dbfold.provenance`) are left out of both sides and
counted apart: the legacy file no longer receives them, so they cannot match it. Every other
row must still match exactly.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from dbfold.design.render_sql import create_table
from dbfold.errors import MigrateError
from dbfold.migrate import journal
from dbfold.migrate.copy import _Writer, record_batches
from dbfold.migrate.ops import FILE_KINDS, CopyRecords, CopySqlite, Target, build_operations
from dbfold.migrate.records import ReadState, SourceError
from dbfold.migrate.report import TableCheck, VerifyReport
from dbfold.migrate.sqlsource import readable
from dbfold.model import Analysis, Problem
from dbfold.plan import Plan, PlanTable
from dbfold.provenance import key_columns, normalize_key, read_writes, source_value
from dbfold.quoting import quote

MASK = (1 << 64) - 1
#: Source rows passed through the in-memory mirror at a time (its size is bounded by it).
MIRROR_ROWS = 20_000
Row = tuple[Any, ...]


def row_hash(row: Row) -> int:
    """64-bit hash of a row's canonical text (``repr`` keeps 1, 1.0 and '1' apart).

    >>> row_hash((1, "a")) == row_hash((1, "a")), row_hash((1,)) == row_hash((1.0,))
    (True, False)
    """
    text = repr(row).encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


class _Sum:
    """Order-independent checksum and count; optionally per-key row hashes."""

    def __init__(
        self,
        key: Callable[[Row], Any] | None = None,
        skip: Skip | None = None,
    ) -> None:
        self.total = 0
        self.rows = 0
        self.key = key
        self.by_key: Counter[tuple[Any, int]] = Counter()
        self.order: dict[Any, None] = {}
        self.skip = skip
        self.skipped = 0

    def _unskipped(self, rows: Iterable[Row]) -> Iterator[Row]:
        assert self.skip is not None
        key_of, keys = self.skip
        for row in rows:
            if normalize_key(key_of(row)) in keys:
                self.skipped += 1
            else:
                yield row

    def add(self, rows: Iterable[Row]) -> None:
        if self.skip is not None:
            rows = self._unskipped(rows)
        total, n = self.total, 0
        for row in rows:
            h = row_hash(row)
            total += h
            n += 1
            if self.key is not None:
                k = self.key(row)
                self.by_key[(k, h)] += 1
                self.order.setdefault(k)
        self.total = total & MASK
        self.rows += n

    @property
    def hex(self) -> str:
        return f"{self.total:016x}"


def _hash_columns(t: Target) -> list[str]:
    return [*t.columns, *t.generated]


def _key_of(t: Target) -> Callable[[Row], Any]:
    """The key of a hashed row (the same columns the adapters record; see provenance)."""
    cols = [c.casefold() for c in _hash_columns(t)]
    keys = [c.casefold() for c in key_columns(t.table, t.source)]
    if keys == cols:
        return lambda row: row
    idx = [cols.index(c) for c in keys]
    return lambda row: tuple(row[i] for i in idx)


#: A key function and the keys written through adapters that it must leave out.
Skip = tuple[Callable[[Row], Any], frozenset[tuple[Any, ...]]]
Written = dict[tuple[str, str], dict[tuple[Any, ...], str]]


def _skip_of(t: Target, written: Written) -> Skip | None:
    keys = written.get((t.table.name, source_value(t.source)))
    return (_key_of(t), frozenset(keys)) if keys else None


def _loose(table: PlanTable) -> str:
    """DDL of a constraint-free copy of a table: the same column types, nothing else."""
    cols = tuple(replace(c, nullable=True, primary_key=False, default=None) for c in table.columns)
    loose = replace(table, columns=cols, primary_key=(), unique=(), foreign_keys=(), indexes=())
    return create_table(loose)


class _Mirror:
    """An in-memory database with loose copies of the target tables: the source side."""

    def __init__(self, plan: Plan) -> None:
        self.con = sqlite3.connect(":memory:", isolation_level=None)
        for t in plan.tables:
            self.con.execute(_loose(t))

    def drain(self, t: Target, sink: _Sum) -> None:
        cols = ", ".join(map(quote, _hash_columns(t)))
        name = quote(t.table.name)
        sink.add(self.con.execute(f"SELECT {cols} FROM {name}"))
        self.con.execute(f"DELETE FROM {name}")


def _target_rows(con: sqlite3.Connection, t: Target) -> sqlite3.Cursor:
    cols = ", ".join(map(quote, _hash_columns(t)))
    where, params = t.where_mine()
    return con.execute(f"SELECT {cols} FROM main.{quote(t.table.name)} WHERE {where}", params)


def _target_side(con: sqlite3.Connection, t: Target, sink: _Sum) -> None:
    sink.add(_target_rows(con, t))


def _sqlite_side(
    root: Path, mirror: _Mirror, op: CopySqlite, entry: journal.Entry | None, sink: _Sum
) -> int:
    """Hash the source rows (up to the watermark); return the rows beyond it."""
    t = op.target
    con = mirror.con
    with readable(root / op.store.path) as (uri, _snap):
        con.execute("ATTACH DATABASE ? AS src", (uri,))
        try:
            name = f"src.{quote(t.source.table)}"
            rowid = op.rowid
            try:
                if rowid is None:
                    raise sqlite3.OperationalError("no rowid to reach")
                first, hi, count = con.execute(
                    f"SELECT min({rowid}), max({rowid}), count(*) FROM {name}"
                ).fetchone()
            except sqlite3.OperationalError:
                con.execute(op.select_sql(lo=False))
                mirror.drain(t, sink)
                return 0
            if hi is None:
                return 0
            top = hi
            pending = 0
            if entry is not None and entry.watermark is not None and hi > entry.watermark:
                top = entry.watermark
                (pending,) = con.execute(
                    f"SELECT count(*) FROM {name} WHERE {rowid} > ?", (top,)
                ).fetchone()
            a = first - 1
            step = max(1, (top - a) * MIRROR_ROWS // max(1, count))
            sql = op.select_sql()
            while a < top:
                b_ = min(top, a + step)
                con.execute(sql, (a + 1, b_))
                mirror.drain(t, sink)
                a = b_
            return int(pending)
        finally:
            con.execute("DETACH DATABASE src")


def _records_side(
    root: Path,
    mirror: _Mirror,
    op: CopyRecords,
    entries: dict[journal.JournalKeyT, journal.Entry],
    sinks: dict[str, _Sum],
) -> int:
    """Hash every target of a record set in one pass; return the records beyond the journal."""
    path = root / op.store.path
    writers = [_Writer(mirror.con, r, 0) for r in op.roots]
    every = [w for r in writers for w in r.all()]
    state = ReadState()
    end = None
    if op.store.kind == "jsonl":
        e = entries.get(op.targets[0].key)
        if e is not None and e.byte_offset is not None:
            end = e.byte_offset
    for batch in record_batches(op, path, state, end=end):
        for w in writers:
            w.feed(batch)
        for w in every:
            w.flush()
            mirror.drain(w.t, sinks[_sink_key(w.t)])
    if op.store.kind == "jsonl":
        # Counted apart from the reader: a reader that dropped a line would otherwise drop it
        # from both sides and the checksums would still agree.
        lines = _nonblank_lines(path, state.bytes)
        got = writers[0].count if writers else 0
        if lines != got + state.bad_count:
            raise _Lost(
                lines - state.bad_count,
                f"{lines:,} non-blank lines, but {got:,} records were read"
                f" and {state.bad_count:,} lines were unreadable",
            )
    pending = 0
    if end is not None and path.stat().st_size > end:
        with open(path, "rb") as f:
            f.seek(end)
            pending = sum(1 for line in f if line.strip())
    return pending


class _Lost(Exception):
    """The source holds rows that the reader did not deliver."""

    def __init__(self, rows: int, message: str) -> None:
        super().__init__(message)
        self.rows = rows


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


def _sink_key(t: Target) -> str:
    return t.label + "\0" + t.table.name


def verify(
    plan: Plan,
    root: Path,
    target: Path,
    *,
    analysis: Analysis | None = None,
    skip_stores: frozenset[str] = frozenset(),
) -> VerifyReport:
    """Compare every source with the target rows that came from it.

    Args:
        plan: the plan the target was built from.
        root: the project root (store paths are relative to it).
        target: the SQLite target file.
        analysis: the analysis (read from ``.dbfold/analysis.json`` when omitted).
        skip_stores: stores not to check (the ones a migration already reported unreadable).

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
    try:
        con = sqlite3.connect(f"{target.absolute().as_uri()}?mode=ro", uri=True)
        entries = journal.last_done(con)
        written = read_writes(con)
    except sqlite3.DatabaseError as exc:
        raise MigrateError(f"{target}: not a readable SQLite database ({exc})") from exc
    ops, _notes = build_operations(plan, analysis)
    checks: list[TableCheck] = []
    problems: list[Problem] = []
    try:
        for op in ops:
            if not isinstance(op, (CopySqlite, CopyRecords)):
                continue
            store = op.store.path
            if store in skip_stores or op.store.kind not in ("sqlite", *FILE_KINDS):
                continue
            targets = [op.target] if isinstance(op, CopySqlite) else op.targets
            try:
                checks.extend(_check(root, plan, con, op, targets, entries, written, collect=False))
            except (SourceError, sqlite3.DatabaseError, OSError) as exc:
                problems.append(Problem(store, f"{store}: cannot be verified ({exc})"))
    finally:
        con.close()
    return VerifyReport(
        str(target), tuple(checks), tuple(problems), round(time.perf_counter() - started, 3)
    )


def _check(
    root: Path,
    plan: Plan,
    con: sqlite3.Connection,
    op: CopySqlite | CopyRecords,
    targets: list[Target],
    entries: dict[journal.JournalKeyT, journal.Entry],
    written: Written,
    *,
    collect: bool,
) -> list[TableCheck]:
    mirror = _Mirror(plan)
    src = {
        _sink_key(t): _Sum(_key_of(t) if collect else None, _skip_of(t, written)) for t in targets
    }
    if isinstance(op, CopySqlite):
        entry = entries.get(op.target.key)
        pending = _sqlite_side(root, mirror, op, entry, src[_sink_key(op.target)])
    else:
        try:
            pending = _records_side(root, mirror, op, entries, src)
        except _Lost as exc:
            mirror.con.close()
            t = targets[0]
            n = sum(1 for _ in _target_rows(con, t))
            return [
                TableCheck(
                    t.source.store, t.source.table, t.table.name, exc.rows, n, "-", "-", str(exc)
                )
            ]
    mirror.con.close()
    out = []
    for t in targets:
        s = src[_sink_key(t)]
        skip = _skip_of(t, written)
        d = _Sum(_key_of(t) if collect else None, skip)
        _target_side(con, t, d)
        first = _first_difference(s, d) if collect else None
        check = TableCheck(
            t.source.store,
            t.source.table,
            t.table.name,
            s.rows,
            d.rows,
            s.hex,
            d.hex,
            first,
            pending if t in (targets[0],) else 0,
            t.source.array,
            len(skip[1]) if skip else 0,
        )
        if not check.ok and not collect:
            # A second pass, keyed, to say which row differs.
            return _check(root, plan, con, op, targets, entries, written, collect=True)
        out.append(check)
    return out


def _first_difference(s: _Sum, d: _Sum) -> str | None:
    if s.total == d.total and s.rows == d.rows:
        return None
    diff = s.by_key.copy()
    diff.subtract(d.by_key)
    bad = {k for (k, _h), n in diff.items() if n != 0}
    for k in s.order:
        if k in bad:
            in_target = k in d.order
            return f"key {k!r}: " + (
                "differs in the target" if in_target else "missing in the target"
            )
    for k in d.order:
        if k in bad:
            return f"key {k!r}: in the target but not in the source"
    return "counts differ"
