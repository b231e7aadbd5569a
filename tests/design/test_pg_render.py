"""PostgreSQL DDL of a plan: every statement runs on a real server, identifiers of every
kind included, and keys, identities, indexes and foreign keys behave as planned."""

from __future__ import annotations

from typing import Any

import pytest
import sqlglot

from dbfold.design.pg_render import (
    create_table_sql,
    foreign_key_sqls,
    identity_column,
    identity_sqls,
    index_sqls,
    pg_quote,
    render_postgres,
    unified_sql,
)
from dbfold.design.render_sql import render_sql
from dbfold.plan import Plan, PlanColumn, PlanForeignKey, PlanIndex, PlanTable, PlanView

psycopg = pytest.importorskip("psycopg")

WEIRD = ["order", "User Name", "MixedCase", 'we"ird', "it's", "ünïcödé 名前", "select", "a.b"]


def _run(url: str, *sqls: str) -> Any:
    with psycopg.connect(url, autocommit=True) as con:
        out = None
        for sql in sqls:
            out = con.execute(sql)
            if out.description is not None:
                out = out.fetchall()
        return out


def _key(name: str = "id", declared: str | None = "INTEGER") -> PlanColumn:
    return PlanColumn(name, "integer", nullable=False, primary_key=True, declared=declared)


def test_quoting() -> None:
    assert pg_quote('a"b') == '"a""b"'
    assert pg_quote("") == '""'


def test_identity_only_where_sqlite_numbered_the_key() -> None:
    rowid = PlanTable("t", (_key(),), primary_key=("id",))
    assert identity_column(rowid) is not None
    auto = PlanTable("t", (_key(),), primary_key=("id",), autoincrement=True)
    assert identity_column(auto) is not None
    plain_int = PlanTable("t", (_key(declared="INT"),), primary_key=("id",))
    assert identity_column(plain_int) is None  # "INT PRIMARY KEY" is no rowid alias
    text_key = PlanTable("t", (_key(),), primary_key=("id",))
    edited = PlanTable(
        "t", (PlanColumn("id", "integer", nullable=False, pg_type="text"),), primary_key=("id",)
    )
    assert identity_column(text_key) is not None and identity_column(edited) is None
    composite = PlanTable("t", (_key("a"), _key("b")), primary_key=("a", "b"))
    assert identity_column(composite) is None
    assert identity_sqls(plain_int, "s") == []
    assert "GENERATED" not in create_table_sql(plain_int, "s")


def test_weird_identifiers_run(pg_url: str) -> None:
    schema = 'my "schema" ü'
    cols = tuple(PlanColumn(n, "text") for n in WEIRD)
    parent = PlanTable(
        'Parent "P"',
        (_key('ID"x'), *cols),
        primary_key=('ID"x',),
        unique=((WEIRD[0], WEIRD[1]),),
        indexes=(PlanIndex('ix: ü "q"', (WEIRD[2], WEIRD[3])),),
    )
    child = PlanTable(
        "select",
        (_key("from"), PlanColumn("parent ref", "integer")),
        primary_key=("from",),
        foreign_keys=(PlanForeignKey(("parent ref",), 'Parent "P"', ('ID"x',), "CASCADE"),),
        indexes=(PlanIndex("select_parent", ("parent ref",)),),
    )
    plan = Plan(target="postgresql://h/db", schema=schema, tables=(child, parent))
    sql = render_postgres(plan, schema)
    _run(pg_url, sql)
    rows = _run(
        pg_url,
        f"INSERT INTO {pg_quote(schema)}.{pg_quote(parent.name)} ({pg_quote(WEIRD[0])})"
        " VALUES ('x') RETURNING *",
    )
    assert rows[0][0] == 1  # identity numbered the key
    names = _run(
        pg_url,
        "SELECT attname FROM pg_attribute WHERE attrelid ="
        f" '{pg_quote(schema).replace(chr(39), chr(39) * 2)}.{pg_quote(parent.name)}'::regclass"
        " AND attnum > 0 ORDER BY attnum",
    )
    assert [r[0] for r in names] == ['ID"x', *WEIRD]


def test_keys_indexes_and_foreign_keys_behave(pg_url: str) -> None:
    users = PlanTable(
        "users",
        (
            _key(),
            PlanColumn("email", "text", nullable=False),
            PlanColumn("name", "text", collation="NOCASE"),
        ),
        primary_key=("id",),
        unique=(("email",),),
        indexes=(PlanIndex("users_name", ("name",)),),
    )
    posts = PlanTable(
        "posts",
        (_key(), PlanColumn("user_id", "integer"), PlanColumn("title", "text")),
        primary_key=("id",),
        foreign_keys=(PlanForeignKey(("user_id",), "users", ("id",), on_delete="CASCADE"),),
    )
    plan = Plan(target="postgresql://h/db", tables=(posts, users))
    # What a loader does: tables, the rows, then indexes, keys and identities.
    _run(pg_url, *(create_table_sql(t, "public") for t in (users, posts)))
    _run(
        pg_url,
        "INSERT INTO users (id, email, name) VALUES (5, 'a@x', 'Ann'), (9, 'b@x', 'Bob')",
        "INSERT INTO posts (id, user_id, title) VALUES (3, 5, 'hi')",
    )
    for t in (users, posts):
        _run(pg_url, *index_sqls(t, "public"), *foreign_key_sqls(t, "public", plan))
        _run(pg_url, *identity_sqls(t, "public"))
    # The sequence went past the highest key loaded.
    assert _run(pg_url, "INSERT INTO users (email) VALUES ('c@x') RETURNING id") == [(10,)]
    assert _run(pg_url, "INSERT INTO posts (title) VALUES ('t') RETURNING id") == [(4,)]
    with pytest.raises(psycopg.errors.UniqueViolation):
        _run(pg_url, "INSERT INTO users (email) VALUES ('a@x')")
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        _run(pg_url, "INSERT INTO posts (user_id) VALUES (77)")
    _run(pg_url, "DELETE FROM users WHERE id = 5")
    assert _run(pg_url, "SELECT count(*) FROM posts WHERE user_id = 5") == [(0,)]
    # The NOCASE index serves lower() lookups.
    defs = _run(pg_url, "SELECT indexdef FROM pg_indexes WHERE indexname = 'users_name'")
    assert "lower(name)" in defs[0][0]


def test_identity_on_an_empty_table_and_negative_keys(pg_url: str) -> None:
    t = PlanTable("t", (_key(), PlanColumn("v", "text")), primary_key=("id",))
    _run(pg_url, create_table_sql(t, "public"), *identity_sqls(t, "public"))
    assert _run(pg_url, "INSERT INTO t (v) VALUES ('a') RETURNING id") == [(1,)]
    _run(pg_url, "DELETE FROM t", "INSERT INTO t (id, v) VALUES (-4, 'n')")
    _run(pg_url, *identity_sqls(t, "public"))
    assert _run(pg_url, "INSERT INTO t (v) VALUES ('b') RETURNING id") == [(1,)]


def test_foreign_keys_postgres_would_refuse_are_left_out(pg_url: str) -> None:
    ref = PlanTable("ref", (_key(), PlanColumn("code", "text")), primary_key=("id",))
    bad = PlanTable(
        "bad",
        (_key(), PlanColumn("code", "text"), PlanColumn("r", "text", pg_type="text")),
        primary_key=("id",),
        foreign_keys=(
            PlanForeignKey(("code",), "ref", ("code",)),  # not a key of ref
            PlanForeignKey(("r",), "ref", ("id",)),  # text → bigint
            PlanForeignKey(("id",), "missing", ("id",)),
        ),
    )
    plan = Plan(target="postgresql://h/db", tables=(ref, bad))
    sql = render_postgres(plan)
    assert foreign_key_sqls(bad, "public", plan) == []
    assert sql.count("-- foreign key bad(") == 3
    _run(pg_url, sql)


def test_views_and_triggers(pg_url: str) -> None:
    t = PlanTable("items", (_key(), PlanColumn("price", "real")), primary_key=("id",))
    views = (
        PlanView(
            "cheap", "CREATE VIEW cheap AS SELECT id FROM items WHERE price < 10", "a.db", "v"
        ),
        PlanView("odd", "CREATE VIEW odd AS SELECT my_udf(id) FROM items", "a.db", "o"),
    )
    trig = PlanView(
        "tr", "CREATE TRIGGER tr AFTER INSERT ON items BEGIN SELECT 1; END", "a.db", "tr"
    )
    plan = Plan(
        target="postgresql://h/db", schema="app", tables=(t,), views=views, triggers=(trig,)
    )
    sql = render_postgres(plan, "app")
    assert "-- view odd left out" in sql and "-- trigger tr left out" in sql
    _run(pg_url, sql)
    assert _run(pg_url, "SELECT count(*) FROM app.cheap") == [(0,)]


def test_every_plan_column_type_runs(pg_url: str) -> None:
    neutral = ("integer", "real", "text", "blob", "boolean", "timestamp", "json", "numeric")
    cols = tuple(PlanColumn(f"c_{n}", n, declared=n.upper()) for n in neutral)
    cols += (
        PlanColumn("ps", "numeric", declared="DECIMAL(10,2)"),
        PlanColumn("edited", "text", pg_type="varchar(20)"),
        PlanColumn("untyped", "blob"),
    )
    t = PlanTable("all_types", cols)
    sql = create_table_sql(t, "public")
    _run(pg_url, sql)
    got = _run(
        pg_url,
        "SELECT column_name, data_type FROM information_schema.columns"
        " WHERE table_name = 'all_types' ORDER BY ordinal_position",
    )
    assert [r[1] for r in got] == [
        "bigint",
        "double precision",
        "text",
        "bytea",
        "boolean",
        "timestamp with time zone",
        "jsonb",
        "numeric",
        "numeric",
        "character varying",
        "text",
    ]


def test_dispatch_by_target_and_sqlite_unchanged() -> None:
    t = PlanTable("t", (_key(),), primary_key=("id",), autoincrement=True)
    sqlite_plan = Plan(tables=(t,))
    assert unified_sql(sqlite_plan) == render_sql(sqlite_plan)
    assert "AUTOINCREMENT" in unified_sql(sqlite_plan)
    pg_plan = Plan(target="postgresql://u@h/db", schema="s", tables=(t,))
    out = unified_sql(pg_plan)
    assert 'CREATE TABLE "s"."t"' in out and "IDENTITY" in out
    assert render_sql(pg_plan, dialect="postgres") == out
    for statement in sqlglot.parse(out, read="postgres"):
        assert statement is not None
