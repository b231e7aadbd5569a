"""The Citus layout: distribution columns, reference tables, blockers, and the SQL calls.

No Citus server runs here: the calls are checked for syntax (sqlglot, postgres dialect),
and the rest of the script runs on a plain PostgreSQL server.
"""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from dbfold.design.citus import CitusTable, citus_layout, citus_sqls, snake
from dbfold.design.pg_render import render_postgres
from dbfold.plan import Plan, PlanColumn, PlanForeignKey, PlanIndex, PlanTable, Source


def _key(name: str = "id") -> PlanColumn:
    return PlanColumn(name, "integer", nullable=False, primary_key=True, declared="INTEGER")


def saas() -> Plan:
    accounts = PlanTable("accounts", (_key(), PlanColumn("name", "text")), primary_key=("id",))
    users = PlanTable(
        "users",
        (PlanColumn("account_id", "integer", nullable=False), _key(), PlanColumn("email", "text")),
        primary_key=("account_id", "id"),
        unique=(("email",),),
        foreign_keys=(PlanForeignKey(("account_id",), "accounts", ("id",)),),
    )
    orders = PlanTable(
        "orders",
        (_key(), PlanColumn("AccountId", "integer"), PlanColumn("country", "text")),
        primary_key=("id",),
        foreign_keys=(PlanForeignKey(("country",), "countries", ("code",)),),
        indexes=(PlanIndex("orders_x", ("country",), unique=True),),
    )
    countries = PlanTable(
        "countries", (PlanColumn("code", "text", nullable=False),), primary_key=("code",)
    )
    merged = PlanTable(
        "events",
        (_key(), PlanColumn("source", "text"), PlanColumn("what", "text")),
        primary_key=("source", "id"),
        sources=(
            Source("a.db", "events", discriminator="source", value="a"),
            Source("b.db", "events", discriminator="source", value="b"),
        ),
    )
    lonely = PlanTable("settings", (PlanColumn("k", "text"), PlanColumn("v", "text")))
    return Plan(
        target="postgresql://h/db",
        tables=(accounts, users, orders, countries, merged, lonely),
    )


def _by_name(layout: list[CitusTable]) -> dict[str, CitusTable]:
    return {c.table: c for c in layout}


def test_layout_choices() -> None:
    got = _by_name(citus_layout(saas()))
    # The tenant table is distributed by its key, beside its tenants' rows.
    assert got["accounts"].distribution_column == "id" and not got["accounts"].blockers
    # A tenant-like key wins; a unique key without it blocks.
    assert got["users"].distribution_column == "account_id"
    assert got["users"].blockers == ("unique (email) does not include account_id",)
    # camelCase tenant keys count too; the primary key and the unique index block.
    assert got["orders"].distribution_column == "AccountId"
    assert got["orders"].blockers == (
        "primary key (id) does not include AccountId",
        "unique index orders_x (country) does not include AccountId",
    )
    # Referenced and without a tenant key: a reference table.
    assert got["countries"].reference and got["countries"].distribution_column is None
    # A merged table falls back to its discriminator.
    assert got["events"].distribution_column == "source" and not got["events"].blockers
    # Neither: a plain table.
    assert not got["settings"].reference and not got["settings"].distributed


def test_small_tables_are_reference_tables_when_counts_are_known() -> None:
    got = _by_name(citus_layout(saas(), rows={"settings": 12}))
    assert got["settings"].reference
    assert not _by_name(citus_layout(saas(), rows={"settings": 10**7}))["settings"].reference


def test_reference_table_pointing_at_a_distributed_one_is_blocked() -> None:
    plan = saas()
    lines = PlanTable(
        "order_lines",
        (_key(), PlanColumn("order_id", "integer")),
        primary_key=("id",),
        foreign_keys=(PlanForeignKey(("order_id",), "orders", ("id",)),),
    )
    plan = Plan(target=plan.target, tables=(*plan.tables, lines))
    got = _by_name(citus_layout(plan, rows={"order_lines": 5}))
    assert got["order_lines"].reference
    assert got["order_lines"].blockers == ("foreign key (order_id) to distributed table orders",)


def test_snake() -> None:
    assert [snake(n) for n in ("TenantId", "tenant_id", "ORG_ID", "userID")] == [
        "tenant_id",
        "tenant_id",
        "org_id",
        "user_id",
    ]


def _calls(sql: str) -> list[tuple[str, list[str]]]:
    out = []
    for statement in sqlglot.parse(sql, read="postgres"):
        assert statement is not None
        for f in statement.find_all(exp.Anonymous):
            if f.name.lower().startswith("create_"):
                out.append((f.name.lower(), [a.name for a in f.expressions]))
    return out


def test_citus_sql_parses_and_orders_reference_tables_first() -> None:
    sql = render_postgres(saas(), "app", citus=True)
    calls = _calls(sql)
    assert calls == [
        ("create_reference_table", ['"app"."countries"']),
        ("create_distributed_table", ['"app"."accounts"', "id"]),
        ("create_distributed_table", ['"app"."events"', "source"]),
    ]
    # Blocked tables: their calls are written as comments, with the reasons.
    assert "-- SELECT create_distributed_table('\"app\".\"users\"', 'account_id');" in sql
    assert "--   unique (email) does not include account_id" in sql
    # The calls come after the tables and before the indexes and foreign keys.
    assert sql.index("create_reference_table") < sql.index("CREATE UNIQUE INDEX")
    assert sql.index("CREATE TABLE") < sql.index("create_reference_table")
    assert citus_sqls(saas(), "app")[0].startswith("-- Citus")
    assert "create_" not in render_postgres(saas(), "app")


def test_the_rest_runs_on_plain_postgres(pg_url: str) -> None:
    psycopg = pytest.importorskip("psycopg")
    sql = render_postgres(saas(), "app", citus=True)
    plain = "\n".join(
        line
        for line in sql.splitlines()
        if not line.startswith(("SELECT create_reference_table", "SELECT create_distributed"))
    )
    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute(plain)
        # And the calls are well-formed SQL PostgreSQL itself accepts up to the missing
        # function: it names create_reference_table, not a syntax error.
        with pytest.raises(psycopg.errors.UndefinedFunction):
            con.execute('SELECT create_reference_table(\'"app"."countries"\')')
