"""Rows from SQLite into PostgreSQL with COPY: a fast path, a checked path, and rejects.

Every source reaches PostgreSQL as a SQLite query: a SQLite source directly (through
:func:`dbfold.migrate.sqlsource.readable`), a file's records after they were read into a
scratch SQLite database exactly as the SQLite target would hold them
(:func:`dbfold.migrate.verify.fill_records`). So one function moves all of them.

The fast path lets SQLite pick, in C, the rows whose every value already has its column's
type (``typeof``, no NUL, valid JSON) and streams them to ``COPY … FROM STDIN`` untouched
(timestamps are parsed in Python: epoch numbers need it). The other rows, usually none, go
through :func:`dbfold.migrate.pg_values.convert_row` one by one; a row PostgreSQL cannot
hold is written to ``dbfold_rejects`` with its row number, column and reason. If the server
still refuses the fast rows (a value SQLite's checks let through), the whole source is sent
again the checked way in the same transaction's place.
"""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from dbfold.design.pg_types import pg_type
from dbfold.migrate.pg_schema import REJECTS
from dbfold.migrate.pg_values import (
    CONVERT,
    SOURCE_CANON,
    Print,
    Reject,
    agg_sql,
    convert_row,
    family,
)
from dbfold.plan import PlanTable
from dbfold.quoting import quote

#: Rows fetched from SQLite per call.
FETCH = 4096


@dataclass(frozen=True)
class Column:
    """One column of a copy: the SQLite expression that reads it and its target column."""

    expr: str
    name: str
    family: str
    #: NOT NULL or part of the primary key in the target (a NULL there is rejected).
    required: bool = False


@dataclass
class Copied:
    """What one copy wrote: rows into the table, rows into ``dbfold_rejects``, examples,
    and the fingerprint of the source rows as they were read (verify's source side)."""

    rows: int = 0
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)
    print: Print = field(default_factory=Print)


def columns_of(
    table: PlanTable, exprs: Sequence[tuple[str, str]], text_affinity: frozenset[str] = frozenset()
) -> list[Column]:
    """The copy's columns: (SQLite expression, target column) pairs with their families.

    An integer bound for a text column (a column of mixed values that design made text)
    is turned into its decimal text by SQLite itself, exactly as :func:`to_text` would;
    expressions in ``text_affinity`` (columns with TEXT affinity, which hold no numbers)
    are read as they are.
    """
    types = {c.name.casefold(): pg_type(c) for c in table.columns}
    keys = {k.casefold() for k in table.primary_key}
    required = {
        c.name.casefold() for c in table.columns if not c.nullable or c.name.casefold() in keys
    }
    out = []
    for e, n in exprs:
        fam = family(types.get(n.casefold(), "text"))
        if fam == "text" and e not in text_affinity:
            e = f"(CASE WHEN typeof({e}) = 'integer' THEN CAST({e} AS TEXT) ELSE {e} END)"
        out.append(Column(e, n, fam, n.casefold() in required))
    return out


#: PostgreSQL types whose binary COPY format psycopg writes from the values the fast path
#: sends (SQLite's int, float, str, bytes; datetimes parsed in Python), by the name psycopg
#: is told; a value of another Python type makes psycopg raise TypeError, not guess.
BINARY = {
    "bigint": "int8",
    "int8": "int8",
    "double precision": "float8",
    "float8": "float8",
    "text": "text",
    "bytea": "bytea",
    "boolean": "bool",
    "bool": "bool",
    "timestamptz": "timestamptz",
    "timestamp with time zone": "timestamptz",
}


def text_columns(columns: Sequence[tuple[str, str]]) -> frozenset[str]:
    """The expressions, of (expression, declared type) pairs, whose affinity is TEXT."""
    from dbfold.design.render_sql import affinity

    return frozenset(e for e, declared in columns if affinity(declared) == "TEXT")


def fits_sql(col: Column, *, strict: bool = False) -> str:
    """A SQLite condition true when the value can go to PostgreSQL (or be compared) as it is.

    For the copy only storage classes are checked, in C; what the server still refuses
    (text with NUL, JSON it cannot parse) fails the fast COPY, and the source is then sent
    again the checked way. ``strict`` (verify's source side, where nothing would refuse)
    also rules out text with NUL, and leaves timestamps and JSON to Python. A real in a
    numeric column is never taken as it is: its exact decimal is the shortest repr, which
    the checked path writes. A NULL in a required column never fits.
    """
    e = col.expr
    tests = {
        "int": f"typeof({e}) = 'integer'",
        "float": f"typeof({e}) IN ('integer', 'real')",
        "numeric": f"typeof({e}) = 'integer'",
        "text": f"typeof({e}) = 'text'"
        + (f" AND instr(CAST({e} AS BLOB), x'00') = 0" if strict else ""),
        "bytes": f"typeof({e}) = 'blob'",
        "bool": f"typeof({e}) = 'integer' AND {e} IN (0, 1)",
        "ts": "1",
        "json": "1" if strict else f"typeof({e}) = 'text'",
    }
    if col.required:
        return f"({e} IS NOT NULL AND ({tests[col.family]}))"
    return f"({e} IS NULL OR ({tests[col.family]}))"


def _row_data(row: Sequence[Any], names: Sequence[str]) -> str:
    """A row as JSON text for ``dbfold_rejects`` (blobs and bad text as base64, tagged)."""

    def plain(v: Any) -> Any:
        if isinstance(v, bytes):
            return {"base64": base64.b64encode(v).decode()}
        if isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                raw = v.encode("utf-8", "surrogateescape")
                return {"base64": base64.b64encode(raw).decode()}
            return v
        if isinstance(v, int) and not -(2**63) <= v < 2**63:
            return str(v)
        return v

    doc = {n: plain(v) for n, v in zip(names, row, strict=True)}
    return orjson.dumps(doc).decode()


def _surrogate_text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


class Copy:
    """Copies the rows of one SQLite query into one PostgreSQL table."""

    def __init__(
        self,
        pg: Any,
        schema: str,
        table: PlanTable,
        columns: list[Column],
        *,
        source_from: str,
        where: str = "",
        params: Sequence[Any] = (),
        constants: Sequence[tuple[str, Any]] = (),
        rowid: str | None = "rowid",
        label: tuple[str, str, str, str],
        run_id: str,
        advance: Callable[[int], None] = lambda n: None,
    ) -> None:
        self.pg = pg
        self.schema = schema
        self.table = table
        self.columns = columns
        self.source_from = source_from
        self.where = where
        self.params = tuple(params)
        self.constants = list(constants)
        self.rowid = rowid
        self.label = label
        self.run_id = run_id
        self.advance = advance
        names = [c.name for c in columns] + [n for n, _v in self.constants]
        self.copy_sql = (
            f"COPY {quote(schema)}.{quote(table.name)} ({', '.join(map(quote, names))}) FROM STDIN"
        )
        # Binary COPY costs the server far less parsing than text; it needs the exact types.
        types = {c.name.casefold(): pg_type(c).strip().lower() for c in table.columns}
        binary = [BINARY.get(types.get(n.casefold(), "")) for n in names]
        self.binary: list[str] | None = (
            [b for b in binary if b is not None]
            if all(binary) and all(type(v) is str for _n, v in self.constants)
            else None
        )

    def _select(self, cond: str, *, rowid: bool = True, exprs: list[str] | None = None) -> str:
        if exprs is None:
            exprs = [c.expr for c in self.columns]
            if rowid:
                exprs.append(self.rowid or "NULL")
        where = " AND ".join(w for w in (self.where, cond) if w)
        return f"SELECT {', '.join(exprs)} FROM {self.source_from}" + (
            f" WHERE {where}" if where else ""
        )

    def _rows(self, con: sqlite3.Connection, sql: str) -> Iterator[list[tuple[Any, ...]]]:
        cur = con.execute(sql, self.params)
        while True:
            batch = cur.fetchmany(FETCH)
            if not batch:
                return
            yield batch

    def run(self, con: sqlite3.Connection) -> Copied:
        """Copy every row; the caller's PostgreSQL transaction holds it all.

        Raises:
            psycopg.Error: the server refused a row of the checked path (a key conflict,
                a constraint): the caller rolls the source back and reports it.
        """
        psycopg = __import__("psycopg")
        # In binary, psycopg refuses a value of the wrong Python type itself (TypeError),
        # so SQLite need only pick out the booleans' 0/1 (a 2 would pass as true).
        checked = (
            self.columns if self.binary is None else [c for c in self.columns if c.family == "bool"]
        )
        fits = " AND ".join(fits_sql(c) for c in checked)
        self.pg.execute("SAVEPOINT dbfold_fast")
        try:
            done = self._fast(con, fits)
            if fits:
                done = self._checked(con, f"NOT ({fits})", done)
            self.pg.execute("RELEASE SAVEPOINT dbfold_fast")
            return done
        except (
            psycopg.errors.DataError,
            psycopg.errors.NotNullViolation,
            _Again,
            sqlite3.OperationalError,
            TypeError,
        ):
            # A value SQLite's checks let through (or text that is not UTF-8): every row
            # again, each checked in Python.
            self.pg.execute("ROLLBACK TO SAVEPOINT dbfold_fast")
            self.pg.execute("RELEASE SAVEPOINT dbfold_fast")
        old = con.text_factory
        con.text_factory = _surrogate_text
        try:
            return self._checked(con, "", Copied())
        finally:
            con.text_factory = old

    def _fast(self, con: sqlite3.Connection, fits: str) -> Copied:
        done = Copied()
        fp = done.print
        add = fp.add
        ts = [i for i, c in enumerate(self.columns) if c.family == "ts"]
        js = [i for i, c in enumerate(self.columns) if c.family == "json"]
        consts = tuple(v for _n, v in self.constants)
        n = len(self.columns)
        to_ts, canon_json = CONVERT["ts"], SOURCE_CANON["json"]
        assert canon_json is not None
        sql = self.copy_sql + (" (FORMAT BINARY)" if self.binary is not None else "")
        with self.pg.cursor().copy(sql) as cp:
            if self.binary is not None:
                cp.set_types(self.binary)
            write = cp.write_row
            for batch in self._rows(con, self._select(fits, rowid=False)):
                if ts or js:
                    for row in batch:
                        vals = list(row)
                        try:
                            for i in ts:
                                if vals[i] is not None:
                                    vals[i] = to_ts(vals[i])
                            sent = tuple(vals[:n])
                            for i in js:
                                if vals[i] is not None:
                                    vals[i] = canon_json(vals[i])
                        except (Reject, ValueError) as exc:
                            raise _Again from exc
                        write((*sent, *consts))
                        add(tuple(vals))
                elif consts:
                    for row in batch:
                        write((*row[:n], *consts))
                    fp.add_batch(batch)
                else:
                    for row in batch:
                        write(row)
                    fp.add_batch(batch)
                done.rows += len(batch)
                self.advance(len(batch))
        aggs = agg_sql([(c.family, c.expr) for c in self.columns], postgres=False)
        if aggs:
            row = con.execute(self._select(fits, exprs=aggs), self.params).fetchone()
            fp.aggs = [int(v) for v in row]
        else:
            fp.aggs = []
        return done

    def _checked(self, con: sqlite3.Connection, cond: str, done: Copied) -> Copied:
        convs = [CONVERT[c.family] for c in self.columns]
        names = [c.name for c in self.columns]
        fns = [SOURCE_CANON[c.family] for c in self.columns]
        fams = [c.family for c in self.columns]
        required = [c.required for c in self.columns]
        consts = tuple(v for _n, v in self.constants)
        rejects: list[tuple[Any, ...]] = []
        if done.print.aggs is None:
            done.print.aggs = [0] * len(agg_sql([(f, "x") for f in fams], postgres=False))
        n = len(self.columns)
        store, source_table, target_table, array = self.label
        with self.pg.cursor().copy(self.copy_sql) as cp:
            for batch in self._rows(con, self._select(cond)):
                for row in batch:
                    try:
                        vals = convert_row(row[:n], convs, names, required)
                    except Reject as exc:
                        number = row[n] if type(row[n]) is int else done.rows + len(rejects) + 1
                        rejects.append(
                            (
                                self.run_id,
                                store,
                                source_table,
                                target_table,
                                array,
                                number,
                                str(exc),
                                _row_data(row[:n], names),
                            )
                        )
                        continue
                    cp.write_row((*vals, *consts))
                    done.rows += 1
                    canon = [
                        v if f is None or v is None else f(v)
                        for v, f in zip(vals, fns, strict=True)
                    ]
                    done.print.add(tuple(canon))
                    done.print.add_flags(fams, vals)
                self.advance(len(batch))
        if rejects:
            with self.pg.cursor().copy(
                f"COPY {quote(self.schema)}.{REJECTS} (run_id, store, source_table,"
                " target_table, array_path, row_number, reason, row_data) FROM STDIN"
            ) as cp:
                for r in rejects:
                    cp.write_row(r)
            done.rejected += len(rejects)
            done.print.rejected += len(rejects)
            done.reasons += [f"row {r[5]}: {r[6]}" for r in rejects[:3]]
        return done


class _Again(Exception):
    """The fast path met a value it cannot send as it is: redo the source, checked."""
