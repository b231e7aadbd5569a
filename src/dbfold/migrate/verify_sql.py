"""The comparison of one source with its target rows, done inside SQLite.

Both sides are tables of attached databases: the source table itself (or a scratch table
that a file's records, or converted source values, were read into), and the target table
restricted to this source's rows. The check is exact:

- the counts of both sides agree;
- every column is compared ``COLLATE BINARY`` (a ``NOCASE`` target column must not make
  'ABC' equal 'abc'), and by ``typeof`` where a column without affinity could hold 1 and
  1.0, which SQLite calls equal;
- when the target has a NOT NULL unique key among the compared columns and the source's
  values of it are distinct, each source row is looked up by its key and compared (one
  pass; with equal counts this is a one-to-one match). Otherwise ``EXCEPT`` runs in both
  directions, over a count per distinct row when the target may hold duplicates.

A source column is read as it is only when inserting it into the target column would not
change it (the same affinity, or a target column without one); otherwise the source rows
are first inserted into a scratch table with the target's affinities, as the copy's
``INSERT`` applies them. Rows written through adapters after the cutover are left out of
both sides by key (:mod:`dbfold.provenance`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dbfold.design.render_sql import affinity
from dbfold.quoting import quote

#: What both checksum fields of a check say when the two sides are identical.
IDENTICAL = "sql-except:identical"


@dataclass
class Side:
    """One side of a comparison: columns of one table, restricted by simple filters.

    ``cols`` are column references inside ``table`` (quoted names, or a rowid name);
    ``filters`` are ``(column, operator)`` pairs whose values are ``params``.
    """

    table: str  # a qualified table, e.g. src."events" or main."dbfold_m"
    cols: list[str]
    filters: list[tuple[str, str]] = field(default_factory=list)
    params: tuple[Any, ...] = ()

    def exprs(self, alias: str) -> list[str]:
        return [f"{alias}.{c}" for c in self.cols]

    def where(self, alias: str) -> str:
        return " AND ".join(f"{alias}.{c} {op} ?" for c, op in self.filters) or "1"


@dataclass
class Comparison:
    """A source side and a target side over the same target columns."""

    columns: list[str]  # target column names, in order
    source: Side
    target: Side
    typed: list[bool]  # compare typeof() too (a target column without affinity)
    key: list[int]  # indexes in ``columns`` of the key the adapters record (messages, skips)
    #: Indexes of a NOT NULL unique (so indexed) target key, or None: the target's rows
    #: are then distinct and each source row can be looked up by it.
    lookup: list[int] | None = None
    #: The source's values of ``lookup`` are known distinct (a rowid or INTEGER PRIMARY KEY).
    source_distinct: bool = False
    skip: frozenset[tuple[Any, ...]] = frozenset()


@dataclass(frozen=True)
class Outcome:
    """What a comparison found."""

    source_rows: int
    target_rows: int
    first_difference: str | None

    @property
    def checksums(self) -> tuple[str, str]:
        """The checksum fields of the check: equal exactly when the sides are identical."""
        if self.first_difference is None and self.source_rows == self.target_rows:
            return IDENTICAL, IDENTICAL
        return "sql-except:source", "sql-except:target"


def column_affinities(con: sqlite3.Connection, schema: str, table: str) -> dict[str, str]:
    """Folded column name → SQLite affinity of its declared type, hidden columns included."""
    rows = con.execute("SELECT name, type FROM pragma_table_xinfo(?, ?)", (table, schema))
    return {str(n).casefold(): affinity(str(t or "")) for n, t in rows}


def unchanged_by_insert(source_affinity: str | None, target_affinity: str) -> bool:
    """Whether inserting a value of a source column into a target column keeps it as it is.

    Affinity conversion is idempotent: a value stored under an affinity is not changed by
    storing it under the same one again, and a column without affinity (BLOB) converts
    nothing. ``None`` stands for a rowid (always an integer).
    """
    if target_affinity == "BLOB":
        return True
    if source_affinity is None:
        return target_affinity in ("INTEGER", "NUMERIC")
    return source_affinity == target_affinity


def _columns(con: sqlite3.Connection, schema: str, table: str) -> dict[str, tuple[str, int, int]]:
    return {
        str(n).casefold(): (str(t or ""), int(nn), int(pk))
        for n, t, nn, pk in con.execute(
            'SELECT name, type, "notnull", pk FROM pragma_table_xinfo(?, ?)', (table, schema)
        )
    }


def _rowid_alias(cols: dict[str, tuple[str, int, int]]) -> str | None:
    """The folded name of an ``INTEGER PRIMARY KEY`` column (the rowid), if there is one."""
    pk = [n for n, (_t, _nn, p) in cols.items() if p]
    if len(pk) == 1 and cols[pk[0]][0].strip().upper() == "INTEGER":
        return pk[0]
    return None


def unique_key(
    con: sqlite3.Connection, schema: str, table: str, compared: Iterable[str], fixed: str | None
) -> list[str] | None:
    """A NOT NULL unique key of a table among the compared columns, folded, or None.

    A primary key or a full unique index counts when its columns lie within ``compared``
    (plus ``fixed``, the discriminator, constant on one source's rows, left out of the
    result) and none can hold NULL (SQLite lets NULLs repeat in a key); the ``INTEGER
    PRIMARY KEY`` of a rowid table is the rowid and never NULL. (A WITHOUT ROWID table's
    INTEGER key is NOT NULL by rule, which ``notnull`` reports.)
    """
    cols = _columns(con, schema, table)
    inside = {c.casefold() for c in compared}
    fixed_f = fixed.casefold() if fixed else None
    pk = [n for n, (_t, _nn, p) in sorted(cols.items(), key=lambda kv: kv[1][2]) if p]
    candidates: list[list[str]] = [pk] if pk else []
    for name, unique, partial in con.execute(
        'SELECT name, "unique", partial FROM pragma_index_list(?, ?)', (table, schema)
    ):
        if unique and not partial:
            names = [
                r[0]
                for r in con.execute("SELECT name FROM pragma_index_info(?, ?)", (name, schema))
            ]
            if all(n is not None for n in names):  # an expression index proves nothing here
                candidates.append([str(n).casefold() for n in names])
    alias = _rowid_alias(cols)
    for cand in candidates:
        rest = [c for c in cand if c != fixed_f]
        if not rest or not set(rest) <= inside:
            continue
        if all(c in cols and (cols[c][1] or c == alias) for c in rest):
            return rest
    return None


def is_rowid_column(con: sqlite3.Connection, schema: str, table: str, column: str) -> bool:
    """Whether ``column`` is the table's ``INTEGER PRIMARY KEY`` (so its values are distinct)."""
    return _rowid_alias(_columns(con, schema, table)) == column.casefold()


def _norm(expr: str) -> str:
    """A key value as :func:`dbfold.provenance.normalize_key` writes it (BLOBs as x'…')."""
    return f"CASE typeof({expr}) WHEN 'blob' THEN 'x''' || hex({expr}) || '''' ELSE {expr} END"


def _load_skip(con: sqlite3.Connection, cmp: Comparison) -> bool:
    """Fill the scratch table of adapter-written keys (False when there are none)."""
    if not cmp.skip or not cmp.key:
        return False
    n = len(cmp.key)
    cols = ", ".join(f"k{i}" for i in range(n))
    con.execute("DROP TABLE IF EXISTS main.dbfold_skip")
    con.execute(f"CREATE TABLE main.dbfold_skip ({cols})")
    con.executemany(
        f"INSERT INTO main.dbfold_skip VALUES ({', '.join('?' * n)})",
        (k for k in cmp.skip if len(k) == n),
    )
    con.execute(f"CREATE INDEX main.dbfold_skip_k ON dbfold_skip ({cols})")
    return True


class _Query:
    """The SQL of one comparison, with the adapter-written keys left out of both sides."""

    def __init__(self, cmp: Comparison, skipping: bool) -> None:
        self.cmp = cmp
        self.skipping = skipping

    def where(self, side: Side, alias: str) -> str:
        text = side.where(alias)
        if not self.skipping:
            return text
        exprs = side.exprs(alias)
        match = " AND ".join(f"k{j} IS {_norm(exprs[i])}" for j, i in enumerate(self.cmp.key))
        return f"{text} AND NOT EXISTS (SELECT 1 FROM main.dbfold_skip WHERE {match})"

    def count(self, side: Side) -> str:
        return f"SELECT count(*) FROM {side.table} AS x WHERE {self.where(side, 'x')}"

    def select(self, side: Side, *, binary: bool = True) -> str:
        cols = []
        for i, (e, t) in enumerate(zip(side.exprs("x"), self.cmp.typed, strict=True)):
            # BINARY on both: a collation the source's app registers is unknown here, and
            # NOCASE must not make 'ABC' equal 'abc'.
            cols.append(f"{e} COLLATE BINARY AS c{i}")
            if t and binary:
                cols.append(f"typeof({e}) AS t{i}")
        return f"SELECT {', '.join(cols)} FROM {side.table} AS x WHERE {self.where(side, 'x')}"

    def grouped(self, side: Side) -> str:
        width = len(self.cmp.columns) + sum(self.cmp.typed)
        group = ", ".join(str(i + 1) for i in range(width))
        return f"SELECT *, count(*) FROM ({self.select(side)}) GROUP BY {group}"

    def distinct_keys(self, side: Side, key: list[int]) -> str:
        exprs = side.exprs("x")
        keys = ", ".join(f"{exprs[i]} COLLATE BINARY" for i in key)
        return (
            f"SELECT count(*) FROM (SELECT DISTINCT {keys} FROM {side.table} AS x"
            f" WHERE {self.where(side, 'x')})"
        )

    def lookup(self, src: Side, tgt: Side, key: list[int]) -> str:
        """The first source row whose target row (found by key) is missing or differs."""
        cmp = self.cmp
        t_exprs = tgt.exprs("t")
        on = [f"{t_exprs[i]} = s.c{i}" for i in key]
        on += [f"t.{c} {op} ?" for c, op in tgt.filters]
        same = []
        for i, typed in enumerate(cmp.typed):
            same.append(f"s.c{i} IS {t_exprs[i]} COLLATE BINARY")
            if typed:
                same.append(f"typeof(s.c{i}) = typeof({t_exprs[i]})")
        return (
            f"SELECT s.* FROM ({self.select(src, binary=False)}) AS s"
            f" LEFT JOIN {tgt.table} AS t ON {' AND '.join(on)}"
            f" WHERE {t_exprs[key[0]]} IS NULL OR NOT ({' AND '.join(same)}) LIMIT 1"
        )


def compare(con: sqlite3.Connection, cmp: Comparison) -> Outcome:
    """Run a comparison on a connection to which both sides' databases are attached.

    Where the target has a NOT NULL unique key and the source's values of it are
    distinct, every source row is looked up by its key and compared in one pass; with equal
    counts the match is then one-to-one, so the sides are equal. Otherwise ``EXCEPT`` runs
    in both directions (over per-row counts when the target may hold duplicates).
    """
    skipping = _load_skip(con, cmp)
    q = _Query(cmp, skipping)
    src, tgt = cmp.source, cmp.target
    try:
        (n_src,) = con.execute(q.count(src), src.params).fetchone()
        (n_tgt,) = con.execute(q.count(tgt), tgt.params).fetchone()
        missing: Sequence[Any] | None = None
        extra: Sequence[Any] | None = None
        key = cmp.lookup
        if key is not None and not cmp.source_distinct:
            (n_keys,) = con.execute(q.distinct_keys(src, key), src.params).fetchone()
            if n_keys != n_src:
                key = None
        if key:
            row = con.execute(q.lookup(src, tgt, key), src.params + tgt.params).fetchone()
            missing = None if row is None else _typed_row(row, cmp)
        if not key or (missing is None and n_src != n_tgt):
            # Both directions: the only way to name a row that is in the target alone.
            # As sets, unless duplicates may count: with a target that may hold them, and a
            # source that does (equal counts and equal sets of distinct rows on both sides
            # then prove nothing), each distinct row is compared with its count.
            a, b = q.select(src), q.select(tgt)
            if cmp.lookup is None:
                distinct = f"SELECT count(*) FROM (SELECT DISTINCT * FROM ({a}))"
                (n_rows,) = con.execute(distinct, src.params).fetchone()
                if n_rows != n_src:
                    a, b = q.grouped(src), q.grouped(tgt)
            if missing is None:
                missing = con.execute(f"{a} EXCEPT {b} LIMIT 1", src.params + tgt.params).fetchone()
            if missing is None:
                extra = con.execute(f"{b} EXCEPT {a} LIMIT 1", tgt.params + src.params).fetchone()
        first = None
        if missing is not None:
            first = _describe(con, q, _values(missing, cmp), in_source=True)
        elif extra is not None:
            first = _describe(con, q, _values(extra, cmp), in_source=False)
        elif n_src != n_tgt:
            first = "counts differ"
    finally:
        if skipping:
            con.execute("DROP TABLE IF EXISTS main.dbfold_skip")
    return Outcome(int(n_src), int(n_tgt), first)


def _typed_row(row: Sequence[Any], cmp: Comparison) -> tuple[Any, ...]:
    """A lookup's row (values only) in the layout of an EXCEPT row (typeof after typed)."""
    out: list[Any] = []
    for v, t in zip(row, cmp.typed, strict=True):
        out.append(v)
        if t:
            out.append(None)
    return tuple(out)


def _values(row: Sequence[Any], cmp: Comparison) -> list[Any]:
    """The column values of a result row (without the typeof and count columns)."""
    out, i = [], 0
    for t in cmp.typed:
        out.append(row[i])
        i += 2 if t else 1
    return out


def _describe(con: sqlite3.Connection, q: _Query, values: list[Any], *, in_source: bool) -> str:
    cmp = q.cmp
    key_idx = cmp.key or list(range(len(values)))
    key = tuple(values[i] for i in key_idx)
    if not in_source:
        return f"key {key!r}: in the target but not in the source"
    tgt = cmp.target
    exprs = tgt.exprs("x")
    cond = " AND ".join(f"{exprs[i]} IS ?" for i in key_idx)
    found = con.execute(
        f"SELECT 1 FROM {tgt.table} AS x WHERE {q.where(tgt, 'x')} AND {cond} LIMIT 1",
        tgt.params + key,
    ).fetchone()
    return f"key {key!r}: " + ("differs in the target" if found else "missing in the target")


def scratch_table(con: sqlite3.Connection, name: str, affinities: Sequence[str]) -> str:
    """Create ``main.<name>`` with one column per affinity (c0, c1, …); return it qualified."""
    kinds = {"BLOB": ""}
    cols = ", ".join(f"c{i} {kinds.get(a, a)}".rstrip() for i, a in enumerate(affinities))
    con.execute(f"DROP TABLE IF EXISTS main.{quote(name)}")
    con.execute(f"CREATE TABLE main.{quote(name)} ({cols})")
    return f"main.{quote(name)}"
