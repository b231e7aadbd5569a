"""verify() for a PostgreSQL target: every source row, compared exactly, order-free.

Per source, both sides are reduced to the same multiset fingerprint: the count, and the sum
(mod 2**128) of a 128-bit hash of each row's canonical form, kept in 64 buckets. The source
side reads the source again (a SQLite table through its read-only view; a file's records
read again into scratch) and converts each value as the loader does
(:mod:`dbfold.migrate.pg_values`); the target side streams the rows that came from that
source with ``COPY (SELECT …) TO STDOUT (FORMAT BINARY)``, typed by psycopg. Rows the loader
kept in ``dbfold_rejects`` count on both sides. When the fingerprints differ, one differing
bucket is read again on both sides to name the first differing row.

Rows a SQLite source gained after the journal's watermark are pending (migrate again), not
a mismatch.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from dbfold.errors import MigrateError
from dbfold.migrate import pg_schema
from dbfold.migrate.ops import FILE_KINDS, CopyRecords, CopySqlite, Target, build_operations
from dbfold.migrate.pg_copy import Column, columns_of, fits_sql
from dbfold.migrate.pg_migrate import scratch_text, source_text
from dbfold.migrate.pg_values import (
    BUCKETS,
    CANON,
    CONVERT,
    LOAD_TYPE,
    NUMBER,
    SOURCE_CANON,
    Print,
    Reject,
    agg_sql,
    convert_row,
    flag_sql,
    flags,
)
from dbfold.migrate.progress import NullProgress, Progress
from dbfold.migrate.records import SourceError
from dbfold.migrate.report import TableCheck, VerifyReport
from dbfold.migrate.sqlsource import readable
from dbfold.model import Problem
from dbfold.pgurl import PgTarget
from dbfold.plan import Plan
from dbfold.quoting import quote

FETCH = 8192
#: Sources verified at once.
WORKERS = 2


def source_select(cols: Sequence[Column], source_from: str, where: str = "") -> str:
    """The SQLite query of one source: values, ``= -1`` flags, and whether all fit."""
    exprs = [c.expr for c in cols]
    exprs += [f for c in cols for f in flag_sql(c.family, c.expr)]
    exprs.append(" AND ".join(fits_sql(c, strict=True) for c in cols) or "1")
    return f"SELECT {', '.join(exprs)} FROM {source_from}" + (f" WHERE {where}" if where else "")


def source_rows(
    con: sqlite3.Connection, sql: str, params: Sequence[Any], cols: Sequence[Column]
) -> Iterator[tuple[Any, ...] | None]:
    """The source rows in canonical form (values, then flags); None for a rejected row."""
    n = len(cols)
    convs = [CONVERT[c.family] for c in cols]
    names = [c.name for c in cols]
    required = [c.required for c in cols]
    canon = [SOURCE_CANON[c.family] for c in cols]
    fams = [c.family for c in cols]
    k = n + sum(len(flag_sql(f, "")) for f in fams)
    always = [
        (i, CONVERT[c.family], SOURCE_CANON[c.family])
        for i, c in enumerate(cols)
        if c.family in ("ts", "json")
    ]
    # Text read with a decoding function may hold bytes that were not UTF-8: every row of
    # such a read is converted (and checked) value by value.
    fast = con.text_factory is str
    cur = con.execute(sql, tuple(params))
    while True:
        batch = cur.fetchmany(FETCH)
        if not batch:
            return
        for row in batch:
            if fast and row[k]:
                if not always:
                    yield row[:k]
                    continue
                vals = list(row[:k])
                try:
                    for i, conv, fn in always:
                        v = vals[i]
                        if v is not None:
                            v = conv(v)
                            vals[i] = v if fn is None else fn(v)
                except Reject:
                    yield None
                    continue
                yield tuple(vals)
                continue
            try:
                got = convert_row(row[:n], convs, names, required)
            except Reject:
                yield None
                continue
            out = [v if f is None or v is None else f(v) for v, f in zip(got, canon, strict=True)]
            for fam, v in zip(fams, got, strict=True):
                if fam in NUMBER:
                    out += flags(fam, v)
            yield tuple(out)


def target_batches(
    pg: Any,
    schema: str,
    table: str,
    cols: Sequence[Column],
    where: str,
    params: Sequence[Any],
    *,
    with_flags: bool = True,
) -> Iterator[list[tuple[Any, ...]]]:
    """The target rows that came from one source, in canonical form (values, then flags),
    a batch at a time, through a server-side binary cursor."""
    exprs = [f"{quote(c.name)}::{LOAD_TYPE[c.family]}" for c in cols]
    if with_flags:
        exprs += [f for c in cols for f in flag_sql(c.family, quote(c.name))]
    query = f"SELECT {', '.join(exprs)} FROM {quote(schema)}.{quote(table)} WHERE {where}"
    fix = [(i, CANON[c.family]) for i, c in enumerate(cols) if CANON[c.family] is not None]
    with pg.transaction(), pg.cursor(name="dbfold_verify", binary=True) as cur:
        cur.itersize = FETCH
        cur.execute(query, tuple(params))
        while True:
            batch = cur.fetchmany(FETCH)
            if not batch:
                return
            if fix:
                out = []
                for row in batch:
                    vals = list(row)
                    for i, fn in fix:
                        if vals[i] is not None:
                            vals[i] = fn(vals[i])  # type: ignore[misc]
                    out.append(tuple(vals))
                batch = out
            yield batch


def target_rows(
    pg: Any, schema: str, table: str, cols: Sequence[Column], where: str, params: Sequence[Any]
) -> Iterator[tuple[Any, ...]]:
    """The same rows one by one."""
    for batch in target_batches(pg, schema, table, cols, where, params):
        yield from batch


def _fingerprint(rows: Iterable[tuple[Any, ...] | None], *, buckets: bool = False) -> Print:
    p = Print()
    p.add_all(rows, buckets=buckets)
    return p


def _bucket_rows(
    rows: Iterable[tuple[Any, ...] | None], buckets: set[int], n: int
) -> Counter[tuple[Any, ...]]:
    out: Counter[tuple[Any, ...]] = Counter()
    for r in rows:
        if r is None:
            continue
        if hash(r) & (BUCKETS - 1) in buckets:
            out[r] += 1
    return out


def _first_difference(
    src: Callable[[], Iterable[tuple[Any, ...] | None]],
    tgt: Callable[[], Iterable[tuple[Any, ...] | None]],
    a: Print,
    b: Print,
    names: Sequence[str],
) -> str | None:
    """Name a differing row: both sides read again, keeping only a few differing buckets."""
    if a.buckets is None:
        a = _fingerprint(src(), buckets=True)
    if b.buckets is None:
        b = _fingerprint(tgt(), buckets=True)
    differ = {i for i in range(BUCKETS) if a.bucket(i) != b.bucket(i)}
    if not differ:
        return None
    some = set(sorted(differ)[:8])
    left = _bucket_rows(src(), some, len(names))
    right = _bucket_rows(tgt(), some, len(names))
    only_src = left - right
    only_tgt = right - left
    n = len(names)
    cols = ", ".join(names)

    def shown(rows: Counter[tuple[Any, ...]]) -> str:
        return min(repr(r[:n]) for r in rows)[:300]

    if only_src:
        return f"source row ({cols}) = {shown(only_src)} is not in the target" + (
            f"; the target has {shown(only_tgt)} instead" if only_tgt else ""
        )
    if only_tgt:
        return f"target row ({cols}) = {shown(only_tgt)} is in no source row"
    return None


def _mine(t: Target) -> tuple[str, tuple[Any, ...]]:
    s = t.source
    if s.discriminator and s.value is not None:
        return f"{quote(s.discriminator)} = %s", (s.value,)
    return "true", ()


def _rejects(pg: Any, schema: str) -> dict[tuple[str, str, str, str], int]:
    if pg_schema.REJECTS not in pg_schema.tables_in(pg, schema):
        return {}
    return {
        (r[0], r[1], r[2], r[3]): int(r[4])
        for r in pg.execute(
            f"SELECT store, source_table, target_table, array_path, count(*)"
            f" FROM {quote(schema)}.{pg_schema.REJECTS} GROUP BY 1, 2, 3, 4"
        ).fetchall()
    }


def _surrogate_text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _check(
    con: sqlite3.Connection | None,
    pg: Any,
    schema: str,
    t: Target,
    cols: list[Column],
    src: Callable[[], Iterable[tuple[Any, ...] | None]],
    rejected: int,
    pending: int,
    given: Print | None = None,
) -> TableCheck:
    where, params = _mine(t)

    def tgt() -> Iterator[tuple[Any, ...]]:
        return target_rows(pg, schema, t.table.name, cols, where, params)

    try:
        a = given if given is not None else _fingerprint(src())
    except sqlite3.OperationalError as exc:
        if con is None or "decode" not in str(exc):
            raise
        # Text that is not UTF-8 (the loader kept such rows in dbfold_rejects): read again,
        # with every text value decoded in Python so those rows can be told apart.
        con.text_factory = _surrogate_text
        a = _fingerprint(src())
    b = Print()
    # A fingerprint taken during the copy hashed the rows bare and summed their flags.
    summed = a.aggs is not None
    for batch in target_batches(
        pg, schema, t.table.name, cols, where, params, with_flags=not summed
    ):
        b.add_batch(batch)
    if summed:
        aggs = agg_sql([(c.family, quote(c.name)) for c in cols], postgres=True)
        if aggs:
            rel = f"{quote(schema)}.{quote(t.table.name)}"
            row = pg.execute(f"SELECT {', '.join(aggs)} FROM {rel} WHERE {where}", params)
            b.aggs = [int(v) for v in row.fetchone()]
        else:
            b.aggs = []
    b.rejected = rejected
    first = None
    same = a.same(b)
    if not same:
        first = _first_difference(src, tgt, a, b, [c.name for c in cols])
        if first is None and a.rejected != b.rejected:
            first = (
                f"{a.rejected:,} source rows cannot be held by PostgreSQL, but"
                f" {pg_schema.REJECTS} keeps {b.rejected:,} of them"
            )
    s = t.source
    return TableCheck(
        s.store,
        s.table,
        t.table.name,
        a.count + a.rejected,
        b.count + b.rejected,
        a.digest,
        b.digest,
        first,
        pending,
        s.array,
    )


def verify_postgres(
    plan: Plan,
    analysis: Any,
    root: Path,
    target: PgTarget,
    *,
    schema: str | None = None,
    skip_stores: frozenset[str] = frozenset(),
    progress: Progress | None = None,
    prints: Mapping[pg_schema.JournalKey, Print] | None = None,
) -> VerifyReport:
    """Compare every source with the rows of the PostgreSQL target that came from it.

    Args:
        schema: the schema to read (a build still in staging); the target's by default.
        prints: fingerprints of sources taken as migrate read them for the copy (whole
            copies whose row count matched the source's own count); those sources are not
            read again unless their target differs, to name the differing row.

    Raises:
        MigrateError: the server cannot be reached, or the schema holds no dbfold target.
    """
    started = time.perf_counter()
    schema = schema or target.schema
    pg = target.connect(autocommit=True)
    checks: list[TableCheck] = []
    problems: list[Problem] = []
    scratch = Path(tempfile.mkdtemp(prefix="dbfold-pgverify-"))
    bar = progress or NullProgress()
    try:
        if pg_schema.JOURNAL not in pg_schema.tables_in(pg, schema):
            raise MigrateError(
                f"{target.shown}: schema {schema} holds no dbfold target; run"
                " `dbfold migrate --execute` first"
            )
        entries = pg_schema.last_done(pg, schema)
        rejects = _rejects(pg, schema)
        ops, _notes = build_operations(plan, analysis)
        todo = [
            (n, op)
            for n, op in enumerate(ops)
            if isinstance(op, (CopySqlite, CopyRecords))
            and op.store.path not in skip_stores
            and op.store.kind in ("sqlite", *FILE_KINDS)
        ]
        bar.start(f"verify {len(todo)} sources", sum(op.rows for _, op in todo), 0)

        def one(n: int, op: CopySqlite | CopyRecords) -> list[TableCheck] | Problem:
            store = op.store.path
            # One connection per thread: a psycopg connection is not shared between threads.
            con = target.connect(autocommit=True)
            try:
                if isinstance(op, CopySqlite):
                    return [_sqlite_check(con, schema, root, op, entries, rejects, prints or {})]
                return _records_checks(
                    con, schema, root, op, scratch / f"v-{n}.db", rejects, prints or {}
                )
            except (SourceError, sqlite3.DatabaseError, OSError) as exc:
                return Problem(store, f"{store}: cannot be verified ({exc})")
            finally:
                con.close()

        # The server produces and sends the rows of two sources at once (its own
        # processes), while this process hashes them.
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            futures = [pool.submit(one, n, op) for n, op in todo]
            for (_n, op), future in zip(todo, futures, strict=True):
                got = future.result()
                if isinstance(got, Problem):
                    problems.append(got)
                else:
                    checks.extend(got)
                bar.advance(op.rows, 0)
    finally:
        bar.done()
        pg.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return VerifyReport(
        target.shown, tuple(checks), tuple(problems), round(time.perf_counter() - started, 3)
    )


def _records_checks(
    pg: Any,
    schema: str,
    root: Path,
    op: CopyRecords,
    scratch: Path,
    rejects: dict[tuple[str, str, str, str], int],
    prints: Mapping[pg_schema.JournalKey, Print],
) -> list[TableCheck]:
    """Each target of a file record set against the records read again into scratch
    (read only when a target has no fingerprint from the copy, or differs)."""
    from dbfold.migrate.verify import fill_records

    opened: list[sqlite3.Connection] = []

    def records() -> sqlite3.Connection:
        if not opened:
            fill = fill_records(scratch, root, op, None)
            assert fill is not None
            opened.append(sqlite3.connect(fill.path))
        return opened[0]

    out = []
    try:
        for t in op.targets:
            exprs = [(quote(c), c) for c in [*t.columns, *t.generated]]
            cols = columns_of(t.table, exprs, scratch_text(t.table, exprs))
            sql = source_select(cols, f"main.{quote(t.table.name)}")

            def src(sql: str = sql, cols: list[Column] = cols) -> Iterator[Any]:
                return source_rows(records(), sql, (), cols)

            s = t.source
            key = (s.store, s.table, t.table.name, s.array or "")
            given = prints.get(t.key)
            con = records() if given is None else None
            out.append(_check(con, pg, schema, t, cols, src, rejects.get(key, 0), 0, given))
    finally:
        for con in opened:
            con.close()
    return out


def _sqlite_check(
    pg: Any,
    schema: str,
    root: Path,
    op: CopySqlite,
    entries: dict[pg_schema.JournalKey, pg_schema.Entry],
    rejects: dict[tuple[str, str, str, str], int],
    prints: Mapping[pg_schema.JournalKey, Print],
) -> TableCheck:
    t, s = op.target, op.target.source
    name = quote(s.table)
    exprs = [(f"{name}.{quote(p)}", c) for p, c in zip(t.paths, t.columns, strict=True)]
    rowid = op.rowid
    if t.fill_surrogate and s.surrogate:
        exprs.append((rowid or "NULL", s.surrogate))
    cols = columns_of(t.table, exprs, source_text(op))
    entry = entries.get(t.key)
    wm = entry.watermark if entry is not None else None
    where = f" WHERE {rowid} <= ?" if rowid and wm is not None else ""
    params: tuple[Any, ...] = (wm,) if where else ()
    sql = source_select(cols, name, where.removeprefix(" WHERE "))
    with readable(root / op.store.path) as (uri, _snap):
        con = sqlite3.connect(uri, uri=True)
        try:
            pending = 0
            if where:
                (pending,) = con.execute(
                    f"SELECT count(*) FROM {name} WHERE {rowid} > ?", params
                ).fetchone()
            src = lambda: source_rows(con, sql, params, cols)  # noqa: E731
            key = (s.store, s.table, t.table.name, s.array or "")
            given = prints.get(t.key)
            return _check(con, pg, schema, t, cols, src, rejects.get(key, 0), int(pending), given)
        finally:
            con.close()
