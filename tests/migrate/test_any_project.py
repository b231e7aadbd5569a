"""Property (issue 11): any project folds, or says which store it could not fold and why.

A generated project holds one to three stores (SQLite files with one or two tables, JSON
arrays of objects, JSONL logs, CSV files) whose table and column names come from a list of
naughty strings, and whose values are the edges of each type. ``analyze`` → ``design`` →
``migrate(execute=True)`` must either move every row of every store analyze read without an
error, or raise nothing but a :class:`~dbfold.errors.DbfoldError` with a one-line message.
"""

from __future__ import annotations

import csv
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dbfold.design import design
from dbfold.errors import DbfoldError
from dbfold.migrate import migrate, verify
from dbfold.model import Analysis
from dbfold.plan import Plan
from dbfold.quoting import quote
from dbfold.scan import analyze

#: Names in the style of the Big List of Naughty Strings.
NAUGHTY = [
    "",
    " ",
    "  padded  ",
    "'",
    '"',
    "`",
    "it's",
    'say "hi"',
    "`tick`",
    "[bracket]",
    "--",
    "a--b",
    "/*",
    "*/",
    ";DROP TABLE x;--",
    "'); DROP TABLE users;--",
    "%s%s",
    "%d",
    "{0}",
    "${x}",
    "\\",
    "a.b",
    "a,b",
    "\u202eRTL",
    "\u200f",
    "😀",
    "👨\u200d👩\u200d👧",
    "e\u0301",
    "Z\u0351\u036b\u0343",
    "zero\u200bwidth",
    "null",
    "NULL",
    "None",
    "undefined",
    "true",
    "0",
    "-1",
    "select",
    "order",
    "group by",
    "rowid",
    "oid",
    "_rowid_",
    "ROWID",
    "Name",
    "name",
    "NAME",
    "tab\there",
    "new\nline",
    "cr\rlf",
    "x" * 200,
    "sqlite_master",
    "sqlite_x",
    "dbfold_migrations",
    "dbfold_x",
    "id",
    "ID",
]
#: Safe as a file stem (the record set's name), still awkward as a table name.
STEMS = [
    "data",
    "select",
    "order",
    "NULL",
    "rowid",
    "sqlite_x",
    "dbfold_x",
    "it's",
    "a b",
    "😀",
    "e\u0301",
    "%s",
    "{0}",
    "Data",
]

names = st.sampled_from(NAUGHTY)
ints = st.one_of(st.sampled_from([0, 1, -1, 2**63 - 1, -(2**63), 2**53 + 1]), st.integers())
ints = ints.filter(lambda n: -(2**63) <= n < 2**63)
floats = st.one_of(
    st.sampled_from([-0.0, 0.0, 1e308, -1e308, 5e-324, 0.1, 1.5]),
    st.floats(allow_nan=False, allow_infinity=False),
)
texts = st.one_of(names, st.text(max_size=8))
json_values = st.one_of(st.none(), st.booleans(), ints, floats, texts)
sql_values = st.one_of(st.none(), ints, floats, texts, st.binary(max_size=8))


#: SQLite refuses to create tables named ``sqlite_…``.
sqlite_tables = names.filter(lambda n: not n.casefold().startswith("sqlite_"))
#: SQLite columns may be named ``rowid``/``oid``/``_rowid_`` (they hide SQLite's rowid;
#: the copy then reaches it by another of the three names).
sqlite_columns = names

#: CSV headers may have blank cells (read as ``col_N``); analyze records whether the
#: first row is a header, and migrate follows it.
csv_columns = names


@st.composite
def record_sets(
    draw: Any, values: st.SearchStrategy[Any], columns: st.SearchStrategy[str] = names
) -> tuple[list[str], list[list[Any]]]:
    """Column names (distinct, possibly differing only by case) and rows of values."""
    fold = columns is sqlite_columns  # SQLite column names ignore case
    unique = {"unique_by": str.casefold} if fold else {"unique": True}
    cols = draw(st.lists(columns, min_size=1, max_size=4, **unique))
    rows = draw(st.lists(st.lists(values, min_size=len(cols), max_size=len(cols)), max_size=6))
    return cols, rows


@st.composite
def stores(draw: Any) -> dict[str, Any]:
    kind = draw(st.sampled_from(["sqlite", "json", "jsonl", "csv"]))
    if kind == "sqlite":
        tables = draw(st.lists(sqlite_tables, min_size=1, max_size=2, unique_by=str.casefold))
        return {
            "kind": kind,
            "tables": {t: draw(record_sets(sql_values, sqlite_columns)) for t in tables},
        }
    columns = csv_columns if kind == "csv" else names
    return {
        "kind": kind,
        "stem": draw(st.sampled_from(STEMS)),
        "data": draw(record_sets(json_values, columns)),
    }


def _write(root: Path, i: int, store: dict[str, Any]) -> str:
    """Write one store under ``root``; return its relative path."""
    kind = store["kind"]
    if kind == "sqlite":
        rel = f"s{i}.db"
        con = sqlite3.connect(root / rel)
        for table, (cols, rows) in store["tables"].items():
            con.execute(f"CREATE TABLE {quote(table)} ({', '.join(quote(c) for c in cols)})")
            marks = ", ".join("?" * len(cols))
            con.executemany(f"INSERT INTO {quote(table)} VALUES ({marks})", rows)
        con.commit()
        con.close()
        return rel
    rel = f"{i}_{store['stem']}.{kind}"
    cols, rows = store["data"]
    records = [dict(zip(cols, r, strict=True)) for r in rows]
    if kind == "json":
        (root / rel).write_bytes(orjson.dumps(records))
    elif kind == "jsonl":
        (root / rel).write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    else:
        with open(root / rel, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(cols)
            w.writerows([["" if v is None else v for v in r] for r in rows])
    return rel


def _target_rows(target: Path, plan: Plan) -> dict[tuple[str, str], int]:
    """Rows in the target per (store, source table), counted in the target itself."""
    out: dict[tuple[str, str], int] = {}
    con = sqlite3.connect(target)
    try:
        for t in plan.tables:
            for s in t.sources:
                if s.array:
                    continue
                sql = f"SELECT count(*) FROM {quote(t.name)}"
                params: tuple[object, ...] = ()
                if s.discriminator:
                    sql += f" WHERE {quote(s.discriminator)} = ?"
                    params = (s.value,)
                (n,) = con.execute(sql, params).fetchone()
                key = (s.store, s.table)
                out[key] = out.get(key, 0) + n
    finally:
        con.close()
    return out


def _one_line(exc: DbfoldError) -> None:
    msg = str(exc)
    assert msg and "\n" not in msg and "\r" not in msg, repr(msg)


def _check(root: Path) -> None:
    try:
        analysis: Analysis = analyze(root)
        plan = design(analysis)
        report = migrate(plan, analysis, root, execute=True)
    except DbfoldError as exc:
        _one_line(exc)
        return
    assert report.verify is not None
    failed = {p.path for p in analysis.all_problems if p.severity == "error"}
    excluded = {(e.store, e.table) for e in plan.excluded if e.kind == "table"}
    counted = _target_rows(root / plan.target, plan)
    for store in analysis.stores:
        if store.path in failed or (store.path, "") in excluded:
            continue
        for table in store.tables:
            if (store.path, table.name) in excluded:
                continue
            checks = [
                c
                for c in report.verify.checks
                if c.store == store.path and c.table == table.name and not c.array
            ]
            assert checks, (store.path, table.name, report.problems, plan.excluded)
            assert all(c.ok for c in checks), (store.path, checks)
            got = counted.get((store.path, table.name))
            assert got == table.rows, (store.path, table.name, got, table.rows, report.problems)
    again = verify(plan, root, root / plan.target, analysis=analysis)
    assert all(c.ok for c in again.checks), again.mismatches


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(project=st.lists(stores(), min_size=1, max_size=3))
def test_any_project_folds_or_says_why(project: list[dict[str, Any]]) -> None:
    """Every row of every readable, non-excluded store arrives, verified per store."""
    with tempfile.TemporaryDirectory(prefix="dbfold-any-") as d:
        root = Path(d)
        for i, store in enumerate(project):
            _write(root, i, store)
        _check(root)
