"""``project_db.py`` for every name SQLite accepts (issue 11 leftovers, item 4).

SQLite takes any identifier but one holding NUL. Whatever the plan's table, column, store and
interface names are — quotes, backslashes, triple quotes, newlines, ``{}``, ``%s``, unicode,
Python keywords, leading digits, the empty string, very long names — the generated module must
compile, import, carry the plan unchanged, and its methods must reach the right table: a row
inserted through ``ProjectDatabase`` is read back from that table, and the legacy adapter reads
it under the source's names.
"""

from __future__ import annotations

import importlib.util
import itertools
import sqlite3
import tempfile
from contextlib import closing
from pathlib import Path
from types import ModuleType

import pytest
from adapters_support import HYPOTHESIS, create_unified
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from dbfold.codegen import render_project_db
from dbfold.design import check_plan, render_sql
from dbfold.model import Analysis, Column, Interface, Store, Table
from dbfold.plan import Plan, PlanColumn, PlanTable, Source

NAUGHTY = [
    '"',
    "'",
    "\\",
    '"""',
    "'''",
    "\\'''\"\"\"",
    "\n",
    "\r\n",
    "\r",
    "{}",
    "{0}",
    "{x!r}",
    "%s",
    "%(x)s",
    "é",
    "日本",
    "\U0001f600",
    "\u2028",
    "\u2029",
    "\x85",
    "\ufeff",
    "\x7f",
    "\x1b[31m",
    "class",
    "def",
    "None",
    "import",
    "__import__('os').system('x')",
    '");\nimport os\n#',
    "1abc",
    "9",
    "",
    " ",
    "\t",
    "x" * 400,
    "\\N{BULLET}",
    "\\x41",
    "\\u0041",
    "$x",
    "`x`",
    "[x]",
    "-- x",
    "/* x */",
    ";",
    ".",
    "a.b",
    "#",
    "\x01\x1f",
]

_chars = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
NAMES = st.one_of(
    st.sampled_from(NAUGHTY),
    st.lists(st.sampled_from(NAUGHTY), min_size=2, max_size=4).map("".join),
    st.text(_chars, max_size=30),
)
_counter = itertools.count()


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"project_db_fuzz_{next(_counter)}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _project(
    table: str, column: str, store: str, iface: str, src_table: str
) -> tuple[Plan, Analysis]:
    path = f"data/{store}.db"
    plan = Plan(
        tables=(
            PlanTable(
                name=table,
                columns=(
                    PlanColumn("id", "integer", nullable=False, primary_key=True),
                    PlanColumn(column, "text"),
                ),
                primary_key=("id",),
                sources=(Source(path, src_table, {"id": "id", column: column}),),
            ),
        )
    )
    columns = (Column("id", "INTEGER", nullable=False, primary_key=True), Column(column, "TEXT"))
    analysis = Analysis(
        root=".",
        stores=(
            Store(
                path,
                "sqlite",
                8192,
                tables=(Table(src_table, 1, columns=columns, primary_key=("id",)),),
            ),
        ),
        interfaces=(
            Interface(iface, "class", f"app/{store}.py", 1, stores=(path,), tables=(src_table,)),
        ),
    )
    return plan, analysis


def _round_trip(table: str, column: str, store: str, iface: str, src_table: str) -> None:
    plan, analysis = _project(table, column, store, iface, src_table)
    plan = check_plan(plan.to_json(), analysis)
    source = render_project_db(plan, analysis)
    compile(source, "project_db.py", "exec")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        file = root / "project_db.py"
        file.write_text(source, encoding="utf-8")
        module = _load(file)
        assert render_sql(plan) == module.SCHEMA_SQL
        assert plan == module.PLAN
        target = root / "unified.db"
        create_unified(plan, target)
        value = f"v:{column}:{table}"
        with module.ProjectDatabase(target) as db:
            rowid = db.insert(table, **{column: value})
            got = db.query(f"SELECT {_q(column)} FROM {_q(table)} WHERE id = ?", (rowid,))
            assert [tuple(r) for r in got] == [(value,)]
            (key,) = db.get_adapters()
            assert key == iface
            conn = db.adapter(iface).connect()
            try:
                sql = f"SELECT id, {_q(column)} FROM {_q(src_table)}"
                assert conn.execute(sql).fetchall() == [(rowid, value)]
            finally:
                conn.close()
        with closing(sqlite3.connect(target)) as con:
            tables = con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            assert [n for (n,) in tables if not n.startswith("dbfold_")] == [table]


@settings(HYPOTHESIS, max_examples=60)
@given(table=NAMES, column=NAMES, store=NAMES, iface=NAMES, src_table=NAMES)
@example(table='"""', column="'''", store="\\", iface="class", src_table="\n")
@example(table="x" * 400, column="", store="{}", iface="1abc", src_table="%s")
@example(table='");\nimport os\n#', column="\\", store="\u2028", iface="\ufeff", src_table="é")
def test_generated_module_works_for_any_name(
    table: str, column: str, store: str, iface: str, src_table: str
) -> None:
    # Names the plan itself refuses: a blank table name, sqlite_*/dbfold_*, a clash with "id".
    assume(table.strip() and not table.lower().startswith(("sqlite_", "dbfold_")))
    assume(column.casefold() != "id")
    _round_trip(table, column, store, iface, src_table)


@pytest.mark.parametrize("column", ["a.b", "a\\b"])
def test_legacy_sql_on_a_column_named_with_a_dot_or_backslash(column: str) -> None:
    _round_trip("t", column, "s", "I", "t")
