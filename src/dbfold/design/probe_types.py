"""Check the values stored in SQLite source columns against their declared types.

SQLite lets a column declared ``INTEGER`` hold text (unless the table is ``STRICT``). Such
values are worth knowing before folding, but finding them means reading every value of every
table, which costs several times what ``dbfold analyze`` spends on a whole project. So analyze
reports the declarations only, and :func:`probe_types` (run by ``dbfold design`` beside the
key probe, skipped with ``--no-probe``) reads the values of the columns the plan keeps,
read-only, and notes on each target column whose source values disagree with their
declaration. The column is kept as declared either way: SQLite keeps each value as it is.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dbfold import sqlitefiles
from dbfold.design.probe import LOCK_TIMEOUT, probe_suggestions, readable
from dbfold.design.render_sql import affinity
from dbfold.model import Analysis, Table
from dbfold.plan import Decision, Plan, PlanColumn, PlanTable
from dbfold.quoting import quote

RULE = "probe"
TYPES = ("integer", "real", "text", "blob")
#: The value types each affinity keeps; NUMERIC takes both kinds of number.
_ALLOWED = {
    "INTEGER": {"integer"},
    "TEXT": {"text"},
    "REAL": {"real"},
    "NUMERIC": {"integer", "real"},
}
_STRICT = re.compile(r"\)\s*(?:WITHOUT\s+ROWID\s*,\s*)?STRICT\b[^)]*$", re.IGNORECASE)
_NOTE = re.compile(r"^values (?:of \S+ )?disagree with declared ")


def _mismatch(c: str, aff: str) -> str | None:
    """An SQL condition true for every non-null value of ``c`` whose type its affinity rules out.

    Comparisons only (no function call per value), using SQLite's sort order (numbers <
    text < blob) and its affinity rules: a column with INTEGER affinity stores a real only
    when it is not integral, so ``c <> CAST(c AS INTEGER)`` catches reals, text and blobs; a
    REAL column turns every number into a real; TEXT affinity turns numbers into text.
    Null gives NULL, which a FILTER treats as false.
    """
    c = f"{c} COLLATE BINARY"
    if aff == "INTEGER":
        return f"{c} <> CAST({c} AS INTEGER)"
    if aff == "TEXT":
        return f"({c} < '' OR {c} >= x'')"
    if aff == "REAL":
        return f"{c} >= ''"
    return None  # NUMERIC and BLOB: integers and reals both belong; counted exactly


_EXPECTED = {"INTEGER": 0, "REAL": 1, "TEXT": 2}


def type_counts(
    con: sqlite3.Connection, q: str, cols: Sequence[tuple[str, str, bool]], rows: int
) -> list[tuple[int, ...]]:
    """Counts of integer, real, text and blob values per column (name, declared type, notnull).

    A scan that calls ``typeof()`` for every value of every column costs several times a plain
    scan, so one cheap pass does the usual case: ``count(c)`` per nullable column (a NOT NULL
    column holds ``rows`` values) and one filtered count of the rows where any column with
    INTEGER, REAL or TEXT affinity holds a value of another type (:func:`_mismatch`). When that
    count is 0 every value of such a column has its affinity's type, so the counts follow.
    Columns with NUMERIC or no affinity, and every column of a table where the filter finds
    something, are counted exactly with ``typeof()`` (:func:`exact_counts`).
    """
    if not cols or not rows:
        return [(0, 0, 0, 0)] * len(cols)
    affs = [affinity(t) for _n, t, _nn in cols]
    exprs: list[str] = []
    slots: list[int | None] = []  # where each column's non-null count is; None: NOT NULL
    for (name, _t, notnull), aff in zip(cols, affs, strict=True):
        if notnull or aff not in _EXPECTED:
            slots.append(None)
        else:
            slots.append(len(exprs))
            exprs.append(f"count({quote(name)})")
    conds = [m for (n, _t, _nn), a in zip(cols, affs, strict=True) if (m := _mismatch(quote(n), a))]
    if conds:
        exprs.append(f"count(*) FILTER (WHERE {' OR '.join(conds)})")
    exact_idx = [i for i, a in enumerate(affs) if a not in _EXPECTED]
    sums: tuple[Any, ...] = (
        tuple(con.execute(f"SELECT {', '.join(exprs)} FROM {q}").fetchone()) if exprs else ()
    )
    if conds and sums[-1]:
        return exact_counts(con, q, [n for n, _t, _nn in cols], rows)
    exact = exact_counts(con, q, [cols[i][0] for i in exact_idx], rows) if exact_idx else []
    out: list[tuple[int, ...]] = []
    for i, aff in enumerate(affs):
        if aff not in _EXPECTED:
            out.append(exact[exact_idx.index(i)])
            continue
        slot = slots[i]
        nonnull = rows if slot is None else sums[slot]
        counts = [0, 0, 0, 0]
        counts[_EXPECTED[aff]] = nonnull
        out.append(tuple(counts))
    return out


def exact_counts(
    con: sqlite3.Connection, q: str, names: Sequence[str], rows: int
) -> list[tuple[int, ...]]:
    """Counts of integer, real, text and blob values per column, in one pass over the table.

    Two counts share one 64-bit sum (the second shifted by 32 bits) when the table has fewer
    than 2**31 rows: half the aggregates, a third less time on big tables.
    """
    if rows < 2**31:
        exprs = []
        for name in names:
            c = quote(name)
            exprs.append(
                f"sum(CASE typeof({c}) WHEN 'integer' THEN 1 WHEN 'real' THEN {1 << 32} ELSE 0 END)"
            )
            exprs.append(
                f"sum(CASE typeof({c}) WHEN 'text' THEN 1 WHEN 'blob' THEN {1 << 32} ELSE 0 END)"
            )
        sums = con.execute(f"SELECT {', '.join(exprs)} FROM {q}").fetchone()
        mask = (1 << 32) - 1
        return [
            (a & mask, a >> 32, b & mask, b >> 32)
            for a, b in zip(sums[0::2], sums[1::2], strict=True)
        ]
    exprs = [f"sum(typeof({quote(n)})='{t}')" for n in names for t in TYPES]
    sums = con.execute(f"SELECT {', '.join(exprs)} FROM {q}").fetchone()
    return [tuple(sums[4 * i : 4 * i + 4]) for i in range(len(names))]


@dataclass(frozen=True)
class Disagreement:
    """Values of one source column that its declared type rules out."""

    store: str
    table: str
    column: str
    declared: str
    counts: tuple[tuple[str, int], ...]  # value type → count, most first

    def describe(self, *, named: bool) -> str:
        """The finding as a column note; ``named`` says which source it is about.

        >>> Disagreement("a.db", "t", "age", "INTEGER", (("integer", 5), ("text", 2))).describe(
        ...     named=False)
        'values disagree with declared INTEGER: 5 integer, 2 text'
        """
        counts = ", ".join(f"{n} {k}" for k, n in self.counts)
        where = f"of {self.store}:{self.table}.{self.column} " if named else ""
        return f"values {where}disagree with declared {self.declared}: {counts}"


def disagreements(con: sqlite3.Connection, store: str, table: Table) -> list[Disagreement]:
    """Columns of ``table`` (in the database ``con`` reads) whose values break their type.

    ``STRICT`` and virtual tables are skipped (SQLite enforces the former's types and the
    latter have none of their own), as are columns without a declared type.
    """
    sql = table.sql or ""
    if _STRICT.search(sql) or sql.upper().lstrip().startswith("CREATE VIRTUAL"):
        return []
    cols = [
        (c.name, c.type, not c.nullable and not c.primary_key)
        for c in table.columns
        if affinity(c.type) in _ALLOWED and "generated" not in c.hints
    ]
    if not cols or not table.rows:
        return []
    per_column = type_counts(con, quote(table.name), cols, table.rows)
    found: list[Disagreement] = []
    for (name, declared, _nn), per in zip(cols, per_column, strict=True):
        observed = {t: n for t, n in zip(TYPES, per, strict=True) if n}
        if set(observed) - _ALLOWED[affinity(declared)]:
            ranked = tuple(sorted(observed.items(), key=lambda kv: -kv[1]))
            found.append(Disagreement(store, table.name, name, declared, ranked))
    return found


def _scan_store(root: Path, store: str, tables: list[Table]) -> list[Disagreement]:
    with readable(root / store) as uri:
        con = sqlite3.connect(uri, uri=True, timeout=LOCK_TIMEOUT)
        try:
            return [d for t in tables for d in disagreements(con, store, t)]
        finally:
            con.close()


def probe_types(plan: Plan, analysis: Analysis, root: Path | str) -> Plan:
    """Note, on each plan column, SQLite source values that disagree with their declared type.

    Reads the values of every SQLite source table the plan keeps (read-only, one pass per
    table). A target column fed by such values gets a note ("values disagree with declared
    INTEGER: 5 integer, 2 text", naming the source when several feed the column) and a
    decision saying it is kept as declared. Probing a probed plan again replaces the notes.
    A store that cannot be read (locked, corrupt, gone) is left unprobed.
    """
    wanted: dict[str, dict[str, Table]] = {}
    for t in plan.tables:
        for src in t.sources:
            try:
                source = analysis.store(src.store)
            except KeyError:
                continue
            if source.kind != "sqlite" or src.array is not None:
                continue
            table = next((x for x in source.tables if x.name == src.table), None)
            if table is not None:
                wanted.setdefault(src.store, {})[src.table] = table
    found: dict[tuple[str, str, str], Disagreement] = {}
    for store, by_name in wanted.items():
        try:
            for d in _scan_store(Path(root), store, list(by_name.values())):
                found[(d.store, d.table, d.column)] = d
        except (sqlite3.Error, OSError, sqlitefiles.SourceReadError):
            continue
    decisions = list(plan.decisions)
    annotated = tuple(_annotate(t, found, decisions) for t in plan.tables)
    return replace(plan, tables=annotated, decisions=tuple(decisions))


def _annotate(
    t: PlanTable, found: dict[tuple[str, str, str], Disagreement], decisions: list[Decision]
) -> PlanTable:
    feeds: dict[str, list[Disagreement]] = {}
    for src in t.sources:
        for path, target in src.columns.items():
            d = found.get((src.store, src.table, path))
            if d is not None:
                feeds.setdefault(target.casefold(), []).append(d)
    columns: list[PlanColumn] = []
    for c in t.columns:
        # Idempotent: an earlier probe's finding is replaced; any other note is kept.
        kept = [part for part in (c.note or "").split("; ") if part and not _NOTE.match(part)]
        note = "; ".join(kept) or None
        ds = feeds.get(c.name.casefold(), [])
        if ds:
            named = len(t.sources) > 1
            text = "; ".join(d.describe(named=named) for d in ds)
            note = text if note is None else f"{note}; {text}"
            decision = Decision(RULE, f"{t.name}.{c.name}", f"kept as declared; {text}")
            if decision not in decisions:
                decisions.append(decision)
        columns.append(c if note == c.note else replace(c, note=note))
    return replace(t, columns=tuple(columns))


def probe_sources(plan: Plan, analysis: Analysis, root: Path | str) -> Plan:
    """The read-only looks at the source values that ``dbfold design`` takes: the values
    behind each suggested key (:func:`~dbfold.design.probe.probe_suggestions`), the
    values of each SQLite column against its declared type (:func:`probe_types`) and, for
    a PostgreSQL target, the values that decide each column's PostgreSQL type
    (:func:`~dbfold.design.probe_pg.probe_pg_types`)."""
    plan = probe_types(probe_suggestions(plan, analysis, root), analysis, root)
    from dbfold.pgurl import is_postgres

    if is_postgres(plan.target):
        # Imported here: probe_pg builds on this module's type_counts.
        from dbfold.design.probe_pg import probe_pg_types

        plan = probe_pg_types(plan, analysis, root)
    return plan
