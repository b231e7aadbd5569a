"""PostgreSQL types of plan columns: the timestamp parse shared with the loader, the type
chosen from the values seen, and names cut to PostgreSQL's 63 bytes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dbfold.design.pg_names import pg_object_name, unique_index_names
from dbfold.design.pg_plan import check_pg_type
from dbfold.design.pg_types import (
    ValueFacts,
    choose_pg_type,
    fit_name,
    looks_julian,
    neutral_pg_type,
    numeric_fits,
    pg_parse_boolean,
    pg_parse_timestamp,
    pg_type,
)
from dbfold.plan import Plan, PlanColumn, PlanTable

UTC = timezone.utc


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-03-01", datetime(2024, 3, 1, tzinfo=UTC)),
        ("2024-03-01 12:30", datetime(2024, 3, 1, 12, 30, tzinfo=UTC)),
        ("2024-03-01T12:30:05", datetime(2024, 3, 1, 12, 30, 5, tzinfo=UTC)),
        ("2024-03-01T12:30:05.123456789Z", datetime(2024, 3, 1, 12, 30, 5, 123456, tzinfo=UTC)),
        ("2024-03-01 12:30:05,5", datetime(2024, 3, 1, 12, 30, 5, 500000, tzinfo=UTC)),
        ("2024-03-01T12:30:05+02:00", datetime(2024, 3, 1, 10, 30, 5, tzinfo=UTC)),
        ("2024-03-01T12:30:05-0530", datetime(2024, 3, 1, 18, 0, 5, tzinfo=UTC)),
        ("2024-03-01T12:30:05+01", datetime(2024, 3, 1, 11, 30, 5, tzinfo=UTC)),
        (" 2024-03-01 ", datetime(2024, 3, 1, tzinfo=UTC)),
        # Epoch numbers: seconds below 1e11, milliseconds from it.
        (0, datetime(1970, 1, 1, tzinfo=UTC)),
        (1_700_000_000, datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        (1_700_000_000_000, datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        (1_700_000_000.5, datetime(2023, 11, 14, 22, 13, 20, 500000, tzinfo=UTC)),
        (-86_400, datetime(1969, 12, 31, tzinfo=UTC)),
        (99_999_999_999, datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=99_999_999_999)),
        (100_000_000_000, datetime(1973, 3, 3, 9, 46, 40, tzinfo=UTC)),
    ],
)
def test_timestamps_that_parse(value: object, expected: datetime) -> None:
    got = pg_parse_timestamp(value)
    assert got == expected
    assert got is not None and got.tzinfo is not None and got.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "value",
    [
        "yesterday",
        "now",
        "2024-13-01",
        "2024-02-30",
        "2024-03-01T25:00",
        "2024-03-01T12:30:05+24:00",
        "24-03-01",
        "2024/03/01",
        "1700000000",  # epoch as text is not a timestamp: only numbers are epochs
        "",
        True,
        False,
        None,
        b"2024-03-01",
        float("nan"),
        float("inf"),
        10**20,  # past any epoch magnitude
        2460000.5,  # a Julian day (2023), not 1970-01-29 in epoch seconds
        1_000_000,
        [2024, 3, 1],
    ],
)
def test_values_that_are_not_timestamps(value: object) -> None:
    assert pg_parse_timestamp(value) is None


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)))
def test_iso_text_round_trips(dt: datetime) -> None:
    aware = dt.replace(tzinfo=UTC)
    assert pg_parse_timestamp(aware.isoformat()) == aware
    assert pg_parse_timestamp(dt.isoformat(sep=" ")) == aware


@given(st.integers(min_value=-(10**10), max_value=10**10))
def test_epoch_seconds_and_milliseconds_agree(seconds: int) -> None:
    # Where both readings are plausible the magnitude decides; seconds well inside the
    # seconds range read the same as those seconds in milliseconds in the other range.
    s = pg_parse_timestamp(seconds)
    if looks_julian(seconds):
        assert s is None  # a Julian day, not January 1970
        return
    assert s == datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    if abs(seconds) * 1000 >= 100_000_000_000:
        assert pg_parse_timestamp(seconds * 1000) == s


def test_booleans() -> None:
    assert [pg_parse_boolean(v) for v in (0, 1, 0.0, 1.0, True, "true", " False ", "t", "F")] == [
        False,
        True,
        False,
        True,
        True,
        True,
        False,
        True,
        False,
    ]
    assert [pg_parse_boolean(v) for v in (2, -1, "yes", "1", b"\x01", None, 0.5)] == [None] * 7


def test_neutral_mapping() -> None:
    cases = {
        "integer": "bigint",
        "real": "double precision",
        "text": "text",
        "blob": "bytea",
        "boolean": "boolean",
        "timestamp": "timestamptz",
        "json": "jsonb",
        "numeric": "numeric",
        "weird": "text",
    }
    for neutral, want in cases.items():
        assert pg_type(PlanColumn("c", neutral, declared="X")) == want
    # No declared type (no affinity in SQLite): text holds whatever was stored.
    assert pg_type(PlanColumn("c", "blob")) == "text"
    assert pg_type(PlanColumn("c", "numeric", declared="NUMERIC(10, 2)")) == "numeric(10,2)"
    assert pg_type(PlanColumn("c", "numeric", declared="DECIMAL(5)")) == "numeric(5,0)"
    assert pg_type(PlanColumn("c", "numeric", declared="NUMERIC(0, 2)")) == "numeric"
    # The plan's own choice wins.
    assert pg_type(PlanColumn("c", "integer", pg_type="numeric")) == "numeric"
    assert neutral_pg_type(PlanColumn("c", "integer", pg_type="numeric")) == "bigint"


def _choose(neutral: str, declared: str | None = None, **facts: object) -> tuple[str, str | None]:
    got = choose_pg_type(PlanColumn("c", neutral, declared=declared), ValueFacts(**facts))  # type: ignore[arg-type]
    return got.pg_type, got.why


def test_types_from_values() -> None:
    assert _choose("integer", "INTEGER", counts={"integer": 9}) == ("bigint", None)
    assert _choose("real", "REAL", counts={"real": 9}) == ("double precision", None)
    assert _choose("text", "TEXT", counts={"text": 9}) == ("text", None)
    assert _choose("blob", "BLOB", counts={"blob": 9}) == ("bytea", None)
    # Text in an INTEGER column (SQLite allows it): text, with the counts said.
    typ, why = _choose("integer", "INTEGER", counts={"integer": 5, "text": 2})
    assert typ == "text" and why == "mixed values (5 integer, 2 text): text holds every one"
    # Integers and reals in an INTEGER column: numeric holds both exactly.
    assert _choose("integer", "INTEGER", counts={"integer": 5, "real": 1})[0] == "numeric"
    # No declared type, only integers: bigint.
    assert _choose("blob", None, counts={"integer": 3})[0] == "bigint"
    # Past 64 bits (JSON): numeric, whether analyze counted them integer or real.
    assert _choose("integer", counts={"integer": 3}, big_integers=1)[0] == "numeric"
    assert _choose("real", counts={"real": 3}, big_integers=2)[0] == "numeric"
    # No values at all: the declared type.
    assert _choose("integer", "INTEGER", counts={}) == ("bigint", None)


def test_booleans_timestamps_json_need_every_value() -> None:
    assert _choose("boolean", "BOOLEAN", counts={"integer": 4}, boolean_ok=True) == (
        "boolean",
        None,
    )
    typ, why = _choose("boolean", "BOOLEAN", counts={"integer": 4}, boolean_ok=False)
    assert typ == "bigint" and why is not None and "0/1/true/false" in why
    typ, why = _choose("boolean", "BOOL", counts={"integer": 4, "text": 1}, boolean_ok=False)
    assert typ == "text"
    assert _choose("timestamp", "DATETIME", counts={"text": 4}, timestamp_ok=True) == (
        "timestamptz",
        None,
    )
    typ, why = _choose(
        "timestamp", "DATETIME", counts={"text": 4}, timestamp_ok=False, timestamp_bad="'x'"
    )
    assert typ == "text" and why is not None and "'x'" in why
    typ, why = _choose("timestamp", "DATETIME", counts={"integer": 4}, timestamp_ok=False)
    assert typ == "bigint"
    typ, why = _choose(
        "timestamp", "DATETIME", counts={"integer": 4}, timestamp_ok=True, epoch_ms=True
    )
    assert typ == "timestamptz" and why is not None and "milliseconds" in why
    assert _choose("json", "JSON", counts={"text": 2}, json_ok=True)[0] == "jsonb"
    assert _choose("json", "JSON", counts={"text": 2}, json_ok=False)[0] == "text"
    assert _choose("numeric", "NUMERIC(8,2)", counts={"real": 2}, numeric_ok=True)[0] == (
        "numeric(8,2)"
    )
    typ, why = _choose("numeric", "NUMERIC(8,2)", counts={"real": 2}, numeric_ok=False)
    assert typ == "numeric" and why is not None and "unrounded" in why


def test_without_facts_the_declared_type_stands() -> None:
    for neutral in ("integer", "boolean", "timestamp", "json"):
        col = PlanColumn("c", neutral, declared="X")
        assert choose_pg_type(col, None).pg_type == neutral_pg_type(col)
        assert choose_pg_type(col, None).why is None


def test_facts_merge_across_sources() -> None:
    a = ValueFacts({"integer": 2}, boolean_ok=True)
    b = ValueFacts({"integer": 1, "text": 1}, boolean_ok=False)
    m = a.merged(b)
    assert dict(m.counts) == {"integer": 3, "text": 1} and m.boolean_ok is False
    assert a.merged(ValueFacts({"integer": 1})).boolean_ok is True
    assert ValueFacts().merged(ValueFacts()).boolean_ok is None


@pytest.mark.parametrize(
    ("value", "p", "s", "fits"),
    [
        (12.5, 5, 2, True),
        (123.45, 5, 2, True),
        (1234.5, 5, 2, False),
        (0.125, 5, 2, False),
        (3, 1, 0, True),
        (10, 1, 0, False),
        (-99.99, 4, 2, True),
        (1e-7, 10, 2, False),
        ("1.5", 5, 2, False),
        (True, 5, 2, False),
        (float("nan"), 5, 2, False),
    ],
)
def test_numeric_fits(value: object, p: int, s: int, fits: bool) -> None:
    assert numeric_fits(value, p, s) is fits


@given(st.text(min_size=1, max_size=120))
def test_fit_name_is_at_most_63_bytes_and_stable(name: str) -> None:
    got = fit_name(name)
    assert len(got.encode("utf-8")) <= 63
    assert fit_name(name) == got
    if len(name.encode("utf-8")) <= 63:
        assert got == name
    else:
        assert got != fit_name(name + "x")
    salted = fit_name(name, salt="1")
    assert salted != got and len(salted.encode()) <= 63


def test_object_names_follow_postgres() -> None:
    assert pg_object_name("users", "email", "key") == "users_email_key"
    long = "é" * 40  # 80 bytes
    name = pg_object_name(long, None, "pkey")
    assert len(name.encode()) <= 63 and name.endswith("_pkey")
    assert pg_object_name("t" * 50, "c" * 50, "key") == "t" * 29 + "_" + "c" * 29 + "_key"
    t = PlanTable("t", (PlanColumn("a", "text"),), unique=(("a",), ("a",)))
    first, second = unique_index_names(t)
    assert first == "t_a_key" and second != first


def test_type_names_checked() -> None:
    for ok in ("bigint", "numeric(10,2)", "varchar(20)", "timestamp with time zone", "text[]"):
        assert check_pg_type(ok) is None, ok
    for bad in ("", "x); DROP TABLE t; --", "text'", '"text"'):
        assert check_pg_type(bad) is not None, bad


def test_sqlite_plans_are_unchanged_by_the_new_fields() -> None:
    plan = Plan(tables=(PlanTable("t", (PlanColumn("a", "integer"),)),))
    raw = plan.to_json()
    assert b"pg_type" not in raw and b"schema" not in raw
    old = (
        b'{"format":"dbfold.plan/1","target":"data/unified.db","tables":[{"name":"t",'
        b'"columns":[{"name":"a","type":"integer"}]}]}'
    )
    loaded = Plan.from_json(old)
    assert loaded.schema == "public" and loaded.tables[0].columns[0].pg_type is None
    pg = Plan(
        target="postgresql://h/db",
        schema="app",
        tables=(PlanTable("t", (PlanColumn("a", "integer", pg_type="numeric"),)),),
    )
    assert Plan.from_json(pg.to_json()) == pg
