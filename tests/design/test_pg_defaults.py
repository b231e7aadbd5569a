"""SQLite column defaults become PostgreSQL defaults of the column's PostgreSQL type, or are
dropped with a note; each translation is run on a real server."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from dbfold.design.pg_defaults import translate_default
from dbfold.design.pg_render import create_table_sql
from dbfold.design.pg_types import pg_default
from dbfold.design.render_sql import carried_default
from dbfold.plan import PlanColumn, PlanTable

_TS_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")

#: (SQLite default as written in the source, PostgreSQL type, check of the value it gives).
CASES: list[tuple[str, str, Any]] = [
    ("CURRENT_TIMESTAMP", "timestamptz", lambda v: isinstance(v, datetime) and v.tzinfo),
    ("(datetime('now'))", "timestamptz", lambda v: isinstance(v, datetime)),
    ("datetime('now', 'utc')", "timestamptz", lambda v: isinstance(v, datetime)),
    ("(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))", "timestamptz", lambda v: isinstance(v, datetime)),
    ("(strftime('%s', 'now'))", "timestamptz", lambda v: isinstance(v, datetime)),
    ("(date('now'))", "timestamptz", lambda v: v.hour == 0 and v.minute == 0),
    ("'now'", "timestamptz", lambda v: isinstance(v, datetime)),
    ("'2024-01-02 03:04:05'", "timestamptz", lambda v: (v.year, v.hour) == (2024, 3)),
    ("1700000000", "timestamptz", lambda v: v.year == 2023),
    ("CURRENT_TIMESTAMP", "text", lambda v: bool(_TS_TEXT.match(v))),
    ("(datetime('now'))", "text", lambda v: bool(_TS_TEXT.match(v))),
    ("(date('now'))", "text", lambda v: bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", v))),
    ("CURRENT_DATE", "text", lambda v: bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", v))),
    ("CURRENT_TIME", "text", lambda v: bool(re.fullmatch(r"\d{2}:\d{2}:\d{2}", v))),
    ("(time('now'))", "text", lambda v: bool(re.fullmatch(r"\d{2}:\d{2}:\d{2}", v))),
    (
        "(strftime('%Y-%m-%dT%H:%M:%fZ','now'))",
        "text",
        lambda v: bool(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", v)),
    ),
    ("(strftime('%j/%Y', 'now'))", "text", lambda v: bool(re.fullmatch(r"\d{3}/\d{4}", v))),
    ("(strftime('%s', 'now'))", "bigint", lambda v: v > 1_600_000_000),
    ("(unixepoch())", "bigint", lambda v: v > 1_600_000_000),
    ("(strftime('%s', 'now'))", "text", lambda v: int(v) > 1_600_000_000),
    ("(julianday('now'))", "double precision", lambda v: 2_400_000 < v < 2_600_000),
    ("(julianday('now'))", "text", lambda v: 2_400_000 < float(v) < 2_600_000),
    ("0", "boolean", lambda v: v is False),
    ("1", "boolean", lambda v: v is True),
    ("'true'", "boolean", lambda v: v is True),
    ("FALSE", "boolean", lambda v: v is False),
    ("0", "bigint", lambda v: v == 0),
    ("-5", "bigint", lambda v: v == -5),
    ("'42'", "bigint", lambda v: v == 42),
    ("1.0", "bigint", lambda v: v == 1),
    ("0x10", "bigint", lambda v: v == 16),
    ("(1 + 2)", "bigint", lambda v: v == 3),
    ("1.5", "double precision", lambda v: v == 1.5),
    ("-1.5", "numeric(10,2)", lambda v: v == Decimal("-1.50")),
    ("0", "text", lambda v: v == "0"),
    ("1.5", "text", lambda v: v == "1.5"),
    ("'it''s'", "text", lambda v: v == "it's"),
    ("abc", "text", lambda v: v == "abc"),  # SQLite reads a bare word as a string
    ('""', "text", lambda v: v == ""),
    ("X'00ff'", "bytea", lambda v: bytes(v) == b"\x00\xff"),
    ("'ab'", "bytea", lambda v: bytes(v) == b"ab"),
    ("'{}'", "jsonb", lambda v: v == {}),
    ("'[1, 2]'", "jsonb", lambda v: v == [1, 2]),
    ("3", "jsonb", lambda v: v == 3),
]

DROPPED = [
    ("(datetime('now', 'localtime'))", "timestamptz"),
    ("(datetime('now', '+1 day'))", "text"),
    ("(strftime('%Y-%m-%d %H:%M', 'now'))", "timestamptz"),
    ("(strftime('%W', 'now'))", "text"),
    ("(julianday('now'))", "bigint"),
    ("(date('now'))", "bigint"),
    ("'abc'", "bigint"),
    ("1.5", "bigint"),
    ("99999999999999999999", "bigint"),
    ("'maybe'", "boolean"),
    ("2", "boolean"),
    ("'yesterday'", "timestamptz"),
    ("'not json'", "jsonb"),
    ("X'00'", "text"),
    ("(random())", "bigint"),
    ("(lower('X'))", "text"),
]


@pytest.mark.parametrize(("expr", "pg_type", "check"), CASES)
def test_translated(expr: str, pg_type: str, check: Any) -> None:
    got = translate_default(carried_default(expr) or expr, pg_type)
    assert got.sql is not None, got.note
    assert "'now'" not in got.sql  # PostgreSQL would freeze 'now' at CREATE time


@pytest.mark.parametrize(("expr", "pg_type"), DROPPED)
def test_dropped_with_a_note(expr: str, pg_type: str) -> None:
    got = translate_default(carried_default(expr) or expr, pg_type)
    assert got.sql is None
    assert got.note is not None and got.note.startswith("default ") and "dropped" in got.note


def test_null_default_needs_nothing() -> None:
    assert translate_default("NULL", "bigint").sql is None
    assert translate_default("NULL", "bigint").note is None
    assert pg_default(PlanColumn("c", "integer")).sql is None


def test_every_translation_runs_on_the_server(pg_url: str) -> None:
    import psycopg

    columns = tuple(
        PlanColumn(f"c{i}", "text", default=carried_default(expr), pg_type=typ)
        for i, (expr, typ, _check) in enumerate(CASES)
    )
    dropped = tuple(
        PlanColumn(f"d{i}", "text", default=carried_default(expr), pg_type=typ)
        for i, (expr, typ) in enumerate(DROPPED)
    )
    table = PlanTable("defaults", (PlanColumn("id", "integer"), *columns, *dropped))
    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute(create_table_sql(table, "public"))
        con.execute('INSERT INTO "public"."defaults" ("id") VALUES (1)')
        cur = con.execute('SELECT * FROM "public"."defaults"')
        row = cur.fetchone()
        assert row is not None
    values = dict(zip([d.name for d in cur.description or ()], row, strict=True))
    for i, (expr, typ, check) in enumerate(CASES):
        assert check(values[f"c{i}"]), (expr, typ, values[f"c{i}"])
    for i in range(len(DROPPED)):
        assert values[f"d{i}"] is None
