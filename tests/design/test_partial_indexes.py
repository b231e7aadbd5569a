"""Partial and expression indexes keep their predicates (issue 13, §2).

A SQLite source's ``CREATE UNIQUE INDEX … WHERE deleted = 0`` and ``CREATE INDEX … ON
t(lower(email))`` travel through the analysis and the plan (``where``/``expressions``, in
target names) into ``unified.sql`` for both dialects; renames flow into them, and a hand
edit that breaks them is refused with its JSON path.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest

from dbfold.design import design
from dbfold.design.check import check_plan
from dbfold.design.edits import check_edited
from dbfold.design.options import DesignOptions
from dbfold.design.render_sql import render_sql
from dbfold.errors import DesignError
from dbfold.model import Analysis
from dbfold.plan import Plan, PlanIndex, rename_column
from dbfold.scan import analyze
from dbfold.state import plan_path, save_analysis, state_dir, write_atomic

APP = """
CREATE TABLE users (
  id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT,
  deleted BOOLEAN NOT NULL DEFAULT 0, secret TEXT
);
CREATE UNIQUE INDEX ux_users_live_email ON users(email) WHERE deleted = 0;
CREATE INDEX ix_users_email_lower ON users(lower(email));
CREATE INDEX ix_users_name ON users(name);
INSERT INTO users (email, name, deleted) VALUES
  ('a@x', 'A', 0), ('a@x', 'A (old)', 1), ('B@x', 'B', 0);
"""

PG = "postgresql://postgres@127.0.0.1:5432/unused"


def make_project(root: Path, script: str = APP, name: str = "app") -> Path:
    (root / "data").mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(root / "data" / f"{name}.db")) as con:
        con.executescript(script)
        con.commit()
    return root


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "proj")


def _index(plan: Plan, table: str, name: str) -> PlanIndex:
    t = plan.table(table)
    assert t is not None
    return next(i for i in t.indexes if i.name == name)


def test_the_analysis_records_predicate_and_expressions(project: Path) -> None:
    (store,) = analyze(project).stores
    (users,) = store.tables
    ixs = {i.name: i for i in users.indexes}
    assert ixs["ux_users_live_email"].where == "deleted = 0"
    assert ixs["ux_users_live_email"].expressions == ()
    assert ixs["ix_users_email_lower"].expressions == ("LOWER(email)",)
    assert ixs["ix_users_email_lower"].where is None
    # An index without either writes no new keys: analyses of other indexes do not change.
    plain = ixs["ix_users_name"].to_dict()
    assert "where" not in plain and "expressions" not in plain


def test_the_plan_holds_them_and_sqlite_sql_shows_them(project: Path) -> None:
    plan = design(analyze(project))
    live = _index(plan, "users", "ux_users_live_email")
    assert (live.columns, live.unique, live.where) == (("email",), True, '"deleted" = 0')
    assert live.note is None
    lower = _index(plan, "users", "ix_users_email_lower")
    assert lower.expressions == ('LOWER("email")',) and lower.columns == ("email",)
    assert not any("dropped" in d.text for d in plan.decisions if "index" in d.text)
    raw = orjson.loads(plan.to_json())
    plain = next(i for i in raw["tables"][0]["indexes"] if i["name"] == "ix_users_name")
    assert "where" not in plain and "expressions" not in plain
    sql = render_sql(plan)
    assert (
        'CREATE UNIQUE INDEX "ux_users_live_email" ON "users" ("email") WHERE "deleted" = 0;' in sql
    )
    assert 'CREATE INDEX "ix_users_email_lower" ON "users" (LOWER("email"));' in sql
    # The SQL builds in SQLite as written.
    with closing(sqlite3.connect(":memory:")) as con:
        con.executescript(sql)


def test_postgres_sql_translates_them_by_type(project: Path) -> None:
    plan = design(analyze(project), options=DesignOptions(target=PG))
    users = plan.table("users")
    assert users is not None and users.column("deleted") is not None
    assert users.column("deleted").pg_type == "boolean"  # type: ignore[union-attr]
    sql = render_sql(plan, "postgres")
    assert (
        'CREATE UNIQUE INDEX "ux_users_live_email" ON "public"."users" ("email")'
        ' WHERE "deleted" = FALSE;'
    ) in sql
    assert 'CREATE INDEX "ix_users_email_lower" ON "public"."users" ((LOWER("email")));' in sql


def test_a_renamed_column_flows_into_predicate_and_expressions(project: Path) -> None:
    plan = design(analyze(project))
    renamed = rename_column(plan, "users", "deleted", "is_deleted")
    assert _index(renamed, "users", "ux_users_live_email").where == '"is_deleted" = 0'
    renamed = rename_column(renamed, "users", "email", "mail")
    lower = _index(renamed, "users", "ix_users_email_lower")
    assert lower.expressions == ('LOWER("mail")',) and lower.columns == ("mail",)
    assert _index(renamed, "users", "ux_users_live_email").columns == ("mail",)
    # A literal that spells the old name is data, not a reference.
    ix = PlanIndex("ix", ("a",), where="\"deleted\" = 'deleted'")
    assert ix.renamed("deleted", "gone").where == "\"gone\" = 'deleted'"


def _checked(root: Path, analysis: Analysis, edit: Any) -> tuple[Plan, tuple[str, ...]]:
    """Design, hand-edit plan.json with ``edit`` (on the raw dict), then ``design --check``."""
    plan = design(analysis)
    state_dir(root).mkdir(parents=True, exist_ok=True)
    save_analysis(analysis, root)
    write_atomic(plan_path(root), plan.to_json() + b"\n")
    raw = orjson.loads(plan.to_json())
    edit(raw)
    return check_edited(root, orjson.dumps(raw), analysis, DesignOptions())


def test_a_hand_rename_in_plan_json_reaches_the_predicate(project: Path) -> None:
    analysis = analyze(project)

    def edit(raw: dict[str, Any]) -> None:
        col = next(c for c in raw["tables"][0]["columns"] if c["name"] == "deleted")
        col["name"] = "is_deleted"

    plan, lines = _checked(project, analysis, edit)
    assert _index(plan, "users", "ux_users_live_email").where == '"is_deleted" = 0'
    assert any(".where" in line for line in lines), lines
    assert 'WHERE "is_deleted" = 0' in render_sql(plan)


def test_an_index_over_a_column_deleted_by_hand_goes(project: Path) -> None:
    analysis = analyze(project)

    def edit(raw: dict[str, Any]) -> None:
        t = raw["tables"][0]
        t["columns"] = [c for c in t["columns"] if c["name"] != "deleted"]
        for s in t["sources"]:
            s["columns"].pop("deleted")

    plan, lines = _checked(project, analysis, edit)
    names = {i.name for i in plan.tables[0].indexes}
    assert "ux_users_live_email" not in names and "ix_users_email_lower" in names
    assert any("dropped" in line and "deleted" in line for line in lines), lines


def test_an_index_over_a_column_the_plan_leaves_out_is_dropped_with_a_note(
    project: Path,
) -> None:
    # Design keeps every column SQLite reports; an index that names one the table has not
    # (in the analysis, a column left out) stands for any column the plan has no home for.
    analysis = analyze(project)
    (store,) = analysis.stores
    (users,) = store.tables
    ixs = tuple(
        replace(i, where='"ghost" = 0') if i.name == "ux_users_live_email" else i
        for i in users.indexes
    )
    cut = replace(analysis, stores=(replace(store, tables=(replace(users, indexes=ixs),)),))
    plan = design(cut)
    names = {i.name for i in plan.tables[0].indexes}
    assert "ux_users_live_email" not in names and "ix_users_email_lower" in names
    (text,) = [d.text for d in plan.decisions if "ux_users_live_email" in d.text]
    assert text == (
        "index 'ux_users_live_email' dropped: its WHERE clause uses 'ghost', which is not in"
        " the plan"
    )


@pytest.mark.parametrize(
    ("where", "expressions", "columns", "path", "words"),
    [
        ("deleted =", (), ("email",), "indexes[0].where", "is not a SQL expression"),
        ('"nope" = 0', (), ("email",), "indexes[0].where", "'nope', which is not a column"),
        (None, ("lower(nope)",), ("email",), "indexes[0].expressions[0]", "'nope'"),
        (None, ('lower("email")',), ("name",), "indexes[0].columns", "'email'"),
        ("deleted IN (SELECT 1)", (), ("email",), "indexes[0].where", "without subqueries"),
        (None, ('"email" COLLATE shouty',), ("email",), "indexes[0].expressions[0]", "shouty"),
    ],
)
def test_check_refuses_a_broken_hand_edit_with_its_path(
    project: Path,
    where: str | None,
    expressions: tuple[str, ...],
    columns: tuple[str, ...],
    path: str,
    words: str,
) -> None:
    analysis = analyze(project)
    raw = orjson.loads(design(analysis).to_json())
    ix: dict[str, Any] = {"name": "ix_edit", "columns": list(columns), "unique": False}
    if where is not None:
        ix["where"] = where
    if expressions:
        ix["expressions"] = list(expressions)
    raw["tables"][0]["indexes"] = [ix]
    with pytest.raises(DesignError) as err:
        check_plan(orjson.dumps(raw), analysis)
    assert f"$.tables[0].{path}" in str(err.value) and words in str(err.value), str(err.value)


def test_check_accepts_a_good_hand_edit(project: Path) -> None:
    analysis = analyze(project)
    raw = orjson.loads(design(analysis).to_json())
    raw["tables"][0]["indexes"] = [
        {"name": "ix_edit", "columns": ["name"], "where": "name IS NOT NULL AND NOT deleted"},
        {"name": "ix_e2", "columns": ["email", "name"], "expressions": ["email || name"]},
    ]
    plan = check_plan(orjson.dumps(raw), analysis)
    assert plan.tables[0].indexes[0].where == "name IS NOT NULL AND NOT deleted"


def test_an_old_plan_without_the_fields_loads_and_writes_unchanged() -> None:
    old = {
        "format": "dbfold.plan/1",
        "target": "data/unified.db",
        "tables": [
            {
                "name": "t",
                "columns": [
                    {
                        "name": "a",
                        "type": "text",
                        "nullable": True,
                        "primary_key": False,
                        "default": None,
                        "declared": None,
                        "note": None,
                    }
                ],
                "primary_key": [],
                "autoincrement": False,
                "unique": [],
                "foreign_keys": [],
                "indexes": [
                    {"name": "ix", "columns": ["a"], "unique": False, "note": None},
                    {
                        "name": "ix2",
                        "columns": ["a"],
                        "unique": True,
                        "note": "partial index: its WHERE clause is not kept",
                        "collations": {"a": "NOCASE"},
                    },
                ],
                "sources": [],
            }
        ],
        "views": [],
        "triggers": [],
        "excluded": [],
        "decisions": [],
        "suggestions": [],
        "notes": [],
    }
    raw = orjson.dumps(old, option=orjson.OPT_INDENT_2)
    plan = Plan.from_json(raw)
    assert plan.tables[0].indexes[0] == PlanIndex("ix", ("a",))
    assert plan.tables[0].indexes[1].where is None and plan.tables[0].indexes[1].expressions == ()
    assert plan.to_json() == raw


MERGE_A = """
CREATE TABLE log (id INTEGER PRIMARY KEY, msg TEXT, deleted INTEGER NOT NULL DEFAULT 0);
CREATE UNIQUE INDEX ux_log_msg ON log(msg) WHERE deleted = 0;
INSERT INTO log (msg, deleted) VALUES ('a', 0), ('a', 1);
"""
MERGE_B = """
CREATE TABLE log (id INTEGER PRIMARY KEY, msg TEXT, deleted INTEGER NOT NULL DEFAULT 0);
INSERT INTO log (msg, deleted) VALUES ('a', 0), ('a', 0);
"""


def test_a_merged_table_limits_a_unique_partial_index_to_its_own_store(tmp_path: Path) -> None:
    root = make_project(tmp_path / "m", MERGE_A, "one")
    make_project(root, MERGE_B, "two")
    plan = design(analyze(root))
    (log,) = [t for t in plan.tables if any(s.table == "log" for s in t.sources)]
    disc = log.sources[0].discriminator
    assert disc is not None and len(log.sources) == 2, log
    value = next(s.value for s in log.sources if s.store == "data/one.db")
    ix = next(i for i in log.indexes if i.name == "ux_log_msg")
    assert ix.columns == (disc, "msg") and ix.unique
    assert ix.where == f'"{disc}" = \'{value}\' AND ("deleted" = 0)'
    # The rows of both stores fit it: store two's duplicate live 'a' is outside its scope.
    with closing(sqlite3.connect(":memory:")) as con:
        con.executescript(render_sql(plan))
        cols = [c.name for c in log.columns]
        other = next(s.value for s in log.sources if s.store == "data/two.db")
        for v, msg, deleted, n in (
            (value, "a", 0, 1),
            (value, "a", 1, 2),
            (other, "a", 0, 1),
            (other, "a", 0, 2),
        ):
            row = {disc: v, "msg": msg, "deleted": deleted, "id": n}
            con.execute(
                f'INSERT INTO "{log.name}" ({", ".join(chr(34) + c + chr(34) for c in cols)})'
                f" VALUES ({', '.join('?' for _ in cols)})",
                [row.get(c) for c in cols],
            )
        with pytest.raises(sqlite3.IntegrityError):
            con.execute(
                f'INSERT INTO "{log.name}" ("{disc}", "msg", "deleted", "id")'
                " VALUES (?, 'a', 0, 9)",
                (value,),
            )
