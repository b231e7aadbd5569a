"""Each SQLite construct the PostgreSQL adapter translates, against the legacy file."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from adapters_support import Project
from pg_support import migrate_to, pair

from dbfold.adapters.pg_connection import ValueRefusedError
from dbfold.errors import AdapterError


@pytest.fixture
def orders(project: Project, pg_url: str, tmp_path: Path) -> Any:
    copy = migrate_to(project, pg_url, tmp_path / "p")
    legacy, adapted = pair(copy, "app/orders.db", pg_url)
    yield legacy, adapted
    legacy.close()
    adapted.close()


SAME = [
    ("SELECT id, name FROM customers WHERE name = ? ORDER BY id", ("c2",)),
    ("SELECT id FROM customers WHERE name = :n ORDER BY id", {"n": "c3"}),
    ("SELECT name || '%' FROM customers WHERE name LIKE 'C%' ORDER BY id", ()),
    ("SELECT COUNT(*) FROM customers WHERE name GLOB 'c[1-3]'", ()),
    ("SELECT name FROM customers ORDER BY name COLLATE NOCASE DESC", ()),
    ("SELECT id FROM customers WHERE name = 'C1' COLLATE NOCASE", ()),
    ("SELECT code FROM orders ORDER BY code, id", ()),
    ("SELECT code FROM orders ORDER BY code DESC, id", ()),
    ("SELECT rowid, name FROM customers ORDER BY rowid LIMIT -1 OFFSET 2", ()),
    ("SELECT id FROM customers ORDER BY id LIMIT ?", (-1,)),
    ("SELECT 7 / 2, 7 / 0, 7 % 0, 7.0 / 2, 1.5 + 0.25", ()),
    ("SELECT LENGTH(GROUP_CONCAT(name)), GROUP_CONCAT(NULL) FROM customers", ()),
    ('SELECT json_extract(\'{"a": {"b": [1, 2.5, "x"]}}\', \'$.a.b[1]\')', ()),
    ('SELECT json_extract(\'{"a": {"b": [1, 2.5, "x"]}}\', \'$.a.b[2]\')', ()),
    ("SELECT json_extract('{\"a\": {\"b\": [1, 2]}}', '$.a')", ()),
    ("SELECT datetime('2024-01-02 03:04:05', '+1 day'), date('2024-03-31', 'start of month')", ()),
    ("SELECT strftime('%Y-%m-%d %H:%M:%S %j %%', '2024-02-29 23:59:58')", ()),
    ("SELECT julianday('2024-01-01 12:00:00'), unixepoch('2024-01-01 00:00:00')", ()),
    ("SELECT datetime(1700000000, 'unixepoch'), datetime('garbage')", ()),
    ("SELECT SUM(total), AVG(total), COUNT(*), MIN(code), ROUND(AVG(id), 2) FROM orders", ()),
    ("SELECT 1 IS 1, NULL IS NULL, 2 IS NOT 3", ()),
]


@pytest.mark.parametrize(("sql", "params"), SAME)
def test_reads_answer_as_sqlite(orders: Any, sql: str, params: Any) -> None:
    legacy, adapted = orders
    want = legacy.execute(sql, params)
    got = adapted.execute(sql, params)
    assert [d[0] for d in got.description] == [d[0] for d in want.description]
    rows = got.fetchall()
    assert rows == want.fetchall()
    for row in rows:
        assert all(type(v) in (int, float, str, bytes, type(None)) for v in row)


def test_datetime_now_is_text(orders: Any) -> None:
    legacy, adapted = orders
    got = adapted.execute("SELECT datetime('now'), date('now')").fetchone()
    want = legacy.execute("SELECT datetime('now'), date('now')").fetchone()
    assert [len(v) for v in got] == [len(v) for v in want]
    assert got[1] == want[1] or got[1][:7] == want[1][:7]


WRITES = [
    ("INSERT INTO customers (name) VALUES (?)", ("new",)),
    ("INSERT INTO customers (id, name) VALUES (NULL, 'n2')", ()),
    ("INSERT OR REPLACE INTO customers (id, name) VALUES (2, 'r')", ()),
    ("REPLACE INTO customers (id, name) VALUES (3, 'r3')", ()),
    ("INSERT OR IGNORE INTO customers (id, name) VALUES (1, 'i')", ()),
    (
        "INSERT INTO customers (id, name) VALUES (4, 'u') "
        "ON CONFLICT(id) DO UPDATE SET name = excluded.name",
        (),
    ),
    (
        "INSERT INTO costs (day, model, calls) VALUES ('d0', 'm2', 5) "
        "ON CONFLICT (day, model) DO UPDATE SET calls = excluded.calls",
        (),
    ),
    ("UPDATE orders SET total = total * 2 WHERE code IS NULL", ()),
    ("DELETE FROM orders WHERE id > ?", (8,)),
    ("INSERT INTO orders (customer_id, total, code) VALUES (?, ?, '50%')", (1, 2.5)),
]


@pytest.mark.parametrize(("sql", "params"), WRITES)
def test_writes_as_sqlite(orders: Any, sql: str, params: Any) -> None:
    legacy, adapted = orders
    want = legacy.execute(sql, params)
    got = adapted.execute(sql, params)
    assert (got.rowcount, got.lastrowid) == (want.rowcount, want.lastrowid)
    for table in ("customers", "orders", "costs"):
        q = f"SELECT * FROM {table} ORDER BY 1, 2"
        assert adapted.execute(q).fetchall() == legacy.execute(q).fetchall()


def test_lastrowid_follows_sqlite(orders: Any) -> None:
    legacy, adapted = orders
    for conn in (legacy, adapted):
        cur = conn.cursor()
        assert cur.lastrowid is None
        seen = []
        cur.execute("INSERT INTO customers (name) VALUES ('a')")
        seen.append(cur.lastrowid)
        cur.execute("SELECT 1")
        seen.append(cur.lastrowid)
        cur.execute("INSERT OR IGNORE INTO customers (id, name) VALUES (1, 'x')")
        seen.append(cur.lastrowid)
        cur.execute("UPDATE customers SET name = 'b' WHERE id = 1")
        seen.append((cur.lastrowid, cur.rowcount))
        conn.rollback()
        if conn is legacy:
            want = seen
        else:
            assert seen == want


def test_failed_statement_leaves_transaction_usable(orders: Any) -> None:
    legacy, adapted = orders
    for conn in (legacy, adapted):
        conn.execute("INSERT INTO customers (name) VALUES ('kept')")
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("INSERT INTO customers (id, name) VALUES (1, 'dup')")
        assert conn.in_transaction
        conn.execute("INSERT INTO customers (name) VALUES ('kept too')")
        conn.commit()
    q = "SELECT name FROM customers ORDER BY id"
    assert adapted.execute(q).fetchall() == legacy.execute(q).fetchall()


def test_errors_are_sqlite3_classes(orders: Any) -> None:
    legacy, adapted = orders
    for sql in ("SELECT nope FROM customers", "SELECT * FROM nowhere", "SELEC 1"):
        with pytest.raises(sqlite3.OperationalError):
            legacy.execute(sql)
        with pytest.raises(sqlite3.OperationalError):
            adapted.execute(sql)
    with pytest.raises(sqlite3.ProgrammingError):
        adapted.execute("SELECT ?", (1, 2))


def test_values_that_do_not_fit_are_refused_or_converted(orders: Any) -> None:
    legacy, adapted = orders
    # '12' into an INTEGER column is 12 in SQLite (affinity) and on PostgreSQL.
    for conn in (legacy, adapted):
        conn.execute("UPDATE orders SET customer_id = '3' WHERE id = 1")
    q = "SELECT customer_id FROM orders WHERE id = 1"
    assert adapted.execute(q).fetchone() == legacy.execute(q).fetchone() == (3,)
    # 'abc' SQLite keeps as text; the bigint column cannot: refused, as a STRICT table would.
    with pytest.raises(ValueRefusedError) as caught:
        adapted.execute("UPDATE orders SET customer_id = 'abc' WHERE id = 1")
    assert isinstance(caught.value, sqlite3.IntegrityError)
    assert "UPDATE orders" in str(caught.value)


def test_catalog_answers_in_legacy_names(orders: Any) -> None:
    legacy, adapted = orders
    for sql in (
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name",
        "PRAGMA table_info(orders)",
    ):
        assert adapted.execute(sql).fetchall() == legacy.execute(sql).fetchall()


def test_row_factory_and_context_manager(orders: Any) -> None:
    _, adapted = orders
    adapted.row_factory = sqlite3.Row
    row = adapted.execute("SELECT id, name FROM customers WHERE id = 1").fetchone()
    assert isinstance(row, sqlite3.Row) and row["name"] == "c1" and row.keys() == ["id", "name"]
    with adapted:
        adapted.execute("INSERT INTO customers (name) VALUES ('ctx')")
    assert not adapted.in_transaction


def test_untranslatable_is_refused_by_name(orders: Any) -> None:
    _, adapted = orders
    with pytest.raises(AdapterError, match="typeof"):
        adapted.execute("SELECT typeof(name) FROM customers")
