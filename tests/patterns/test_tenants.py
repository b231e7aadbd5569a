"""TenantDatabase on SQLite: each invariant of issue 15, and a differential fuzzer.

The fuzzer runs statements built from the constructs the issue lists through a scope and
the same statements on a reference database that holds only that tenant's rows; results
and the tenant's rows afterwards must agree, and the other tenant's rows must not move.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dbfold.errors import DbfoldError, SchemaError
from dbfold.patterns.tenants import TenantDatabase, TenantScopeError

SCHEMA = """
CREATE TABLE items (
    id INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL, name TEXT NOT NULL, qty INTEGER,
    parent TEXT, UNIQUE (tenant_id, name)
);
CREATE TABLE notes (
    id INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL,
    item_id INTEGER REFERENCES items (id) ON DELETE CASCADE, body TEXT
);
CREATE TABLE counters (tenant_id TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (tenant_id));
CREATE TABLE plans (id INTEGER PRIMARY KEY, name TEXT);
CREATE VIEW big_items AS SELECT name, qty FROM items WHERE qty >= 3;
CREATE TRIGGER count_notes AFTER INSERT ON notes BEGIN
    UPDATE counters SET n = n + 1 WHERE tenant_id = NEW.tenant_id;
END;
"""


class Shop(TenantDatabase):
    SCHEMA_VERSION = "1.0.0"

    def get_schema(self) -> str:
        return SCHEMA


ROWS = {
    "a": [("a1", 1, None), ("a2", 2, "a1"), ("a3", 3, "a2"), ("x", 5, None)],
    "b": [("b1", 10, None), ("b2", 20, "b1"), ("x", 50, None), ("y", 60, "x")],
}


def seed(db: Shop) -> None:
    with db.admin(reason="seed"), db.transaction():
        for table in ("notes", "items", "counters"):
            db.execute(f"DELETE FROM {table}")
        for tenant, rows in ROWS.items():
            db.execute("INSERT INTO counters VALUES (?, 0)", (tenant,))
            for name, qty, parent in rows:
                db.execute(
                    "INSERT INTO items (tenant_id, name, qty, parent) VALUES (?, ?, ?, ?)",
                    (tenant, name, qty, parent),
                )


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Shop]:
    shop = Shop(tmp_path / "shop.db")
    shop.create_tenant("a")
    shop.create_tenant("b", {"plan": "pro"})
    seed(shop)
    yield shop
    shop.close()


def snapshot(db: Shop, tenant: str) -> list[tuple[Any, ...]]:
    with db.admin(reason="test snapshot"):
        return [
            tuple(r)
            for r in db.query(
                "SELECT id, name, qty, parent FROM items WHERE tenant_id = ? ORDER BY id",
                (tenant,),
            )
        ]


# -- reads: every construct sees one tenant -------------------------------------------

READS = [
    "SELECT name FROM items",
    "SELECT i.name FROM items i JOIN items j ON j.name = i.parent",
    "SELECT name FROM items i WHERE qty > (SELECT avg(qty) FROM items j WHERE j.id <> i.id)",
    "WITH RECURSIVE up(n) AS (SELECT 'a3' UNION SELECT parent FROM items, up "
    "WHERE items.name = up.n AND parent IS NOT NULL) SELECT n FROM up",
    "SELECT name FROM items UNION SELECT 'x' FROM items",
    "SELECT name FROM items INTERSECT SELECT name FROM items WHERE qty > 1",
    "SELECT name FROM items EXCEPT SELECT name FROM items WHERE qty > 2",
    "SELECT name, sum(qty) OVER (ORDER BY name) FROM items",
    "SELECT name FROM big_items",
    "SELECT count(*) FROM items",
    "SELECT name FROM items WHERE name IN (SELECT parent FROM items)",
    "SELECT max(qty) FROM (SELECT qty FROM items ORDER BY qty DESC LIMIT 2)",
]


@pytest.mark.parametrize("sql", READS)
def test_reads_see_only_the_tenant(db: Shop, sql: str) -> None:
    ref = reference("a")
    with db.scope("a") as t:
        got = sorted(map(repr, (tuple(r) for r in t.query(sql))))
    want = sorted(map(repr, ref.execute(sql).fetchall()))
    assert got == want


def test_helpers_stamp_and_confine(db: Shop) -> None:
    with db.scope("a") as t:
        new = t.insert("items", name="n", qty=7)
        assert new is not None
        assert t.get("items", new)["tenant_id"] == "a"  # type: ignore[index]
    b_id = snapshot(db, "b")[0][0]
    with db.scope("a") as t:
        assert t.get("items", b_id) is None
        assert t.update("items", b_id, qty=0) == 0
        assert t.delete("items", b_id) == 0
        assert t.update("items", new, qty=8) == 1
        assert t.scalar("SELECT qty FROM items WHERE id = ?", (new,)) == 8
        assert t.delete("items", {"name": "n"}) == 1
    assert snapshot(db, "b")[0][0] == b_id


def test_writes_stay_in_the_tenant(db: Shop) -> None:
    before_b = snapshot(db, "b")
    with db.scope("a") as t:
        assert t.execute("UPDATE items SET qty = qty + 1").rowcount == 4
        assert t.execute("UPDATE items SET qty = 0 WHERE name = 'x'").rowcount == 1
        rows = t.query("DELETE FROM items WHERE qty > 3 RETURNING name")
        assert [r["name"] for r in rows] == ["a3"]
        t.execute("INSERT INTO items (name, qty) SELECT name || '!', qty FROM items")
        assert t.scalar("SELECT count(*) FROM items") == 6
    assert snapshot(db, "b") == before_b


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE items SET tenant_id = 'b'",
        "INSERT INTO items (tenant_id, name) VALUES ('b', 'stolen')",
        "INSERT INTO items (tenant_id, name) SELECT 'b', name || '?' FROM items",
        "INSERT INTO items (name) VALUES ('z') ON CONFLICT DO UPDATE SET tenant_id = 'b'",
        "INSERT INTO items (id, name) VALUES (1, 'z')",
        "UPDATE items SET id = id + 1000",
    ],
)
def test_a_write_cannot_set_another_tenant(db: Shop, sql: str) -> None:
    before = snapshot(db, "a"), snapshot(db, "b")
    with db.scope("a") as t, pytest.raises(TenantScopeError):
        t.execute(sql)
    assert (snapshot(db, "a"), snapshot(db, "b")) == before


def test_upsert_on_another_tenants_key(db: Shop) -> None:
    before_b = snapshot(db, "b")
    with db.scope("a") as t:
        rows = t.query(
            "INSERT INTO items (name, qty) VALUES ('y', 1) ON CONFLICT (tenant_id, name) "
            "DO UPDATE SET qty = 99 RETURNING name, qty"
        )
        assert [tuple(r) for r in rows] == [("y", 1)]  # b's 'y' is neither changed nor seen
        t.execute("REPLACE INTO items (name, qty) VALUES ('b1', 2)")
        t.execute("INSERT OR IGNORE INTO items (name, qty) VALUES ('b2', 3)")
        assert t.scalar("SELECT count(*) FROM items") == 7
    assert snapshot(db, "b") == before_b


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM sqlite_master",
        "SELECT * FROM sqlite_schema",
        "SELECT * FROM main.items",
        "SELECT * FROM main.big_items",
        "PRAGMA table_info(items)",
        "SELECT * FROM pragma_table_info('items')",
        "ATTACH ':memory:' AS other",
        "SELECT load_extension('x')",
        "CREATE TEMP TABLE t (a)",
        "CREATE TEMP VIEW v AS SELECT * FROM main.items",
        "CREATE TABLE t2 (a)",
        "DROP VIEW big_items",
        "SELECT * FROM dbfold_tenants",
        "SELECT * FROM dbfold_operations",
        "BEGIN",
        "DELETE FROM main.items",
    ],
)
def test_refused_in_a_scope(db: Shop, sql: str) -> None:
    with db.scope("a") as t, pytest.raises(TenantScopeError):
        t.execute(sql)


def test_fail_closed_outside_a_scope(db: Shop) -> None:
    for call in (
        lambda: db.query("SELECT * FROM items"),
        lambda: db.query("SELECT * FROM main.items"),
        lambda: db.query("SELECT * FROM big_items"),
        lambda: db.execute("DELETE FROM main.items"),
        lambda: db.insert("items", tenant_id="a", name="q"),
        lambda: db.update("items", 1, qty=1),
        lambda: db.get("items", 1),
    ):
        with pytest.raises(TenantScopeError):
            call()
    assert issubclass(TenantScopeError, DbfoldError)
    assert db.query("SELECT count(*) AS n FROM plans")[0]["n"] == 0  # shared tables work


def test_admin_is_logged_and_not_reused(db: Shop) -> None:
    sql = "SELECT count(*) FROM main.items"
    with db.admin(reason="audit 42"):
        assert db.scalar(sql) == 8
        assert db.scalar(sql) == 8  # now cached on the connection
    with pytest.raises(TenantScopeError):
        db.scalar(sql)
    with db.scope("a") as t, pytest.raises(TenantScopeError):
        t.scalar(sql)
    ops = db.query("SELECT kind, metadata FROM dbfold_operations WHERE kind = 'tenant.admin'")
    assert {"reason": "audit 42"} in [op["metadata"] for op in ops]
    with pytest.raises(TenantScopeError), db.admin(reason=" "):
        pass


def test_exception_inside_a_scope_leaves_nothing_behind(db: Shop) -> None:
    with pytest.raises(ZeroDivisionError), db.scope("a") as t:
        t.query("SELECT * FROM items")
        raise ZeroDivisionError
    with pytest.raises(TenantScopeError):
        db.query("SELECT * FROM items")
    with db.scope("b") as t:
        assert {r["name"] for r in t.query("SELECT name FROM items")} == {"b1", "b2", "x", "y"}


def test_threads_never_share_a_tenant(db: Shop) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(3)

    def work(tenant: str) -> None:
        try:
            barrier.wait()
            want = {name for name, _, _ in ROWS[tenant]}
            for _i in range(60):
                with db.scope(tenant) as t:
                    assert {r["name"] for r in t.query("SELECT name FROM items")} == want
                    t.execute("UPDATE items SET qty = qty WHERE name = ?", (f"{tenant}1",))
            db.release()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def outsider() -> None:
        try:
            barrier.wait()
            for _ in range(60):
                with pytest.raises(TenantScopeError):
                    db.query("SELECT name FROM items")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(x,)) for x in "ab"]
    threads.append(threading.Thread(target=outsider))
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors


def test_views_triggers_and_foreign_keys(db: Shop) -> None:
    with db.scope("a") as t:
        assert sorted(r["name"] for r in t.query("SELECT name FROM big_items")) == ["a3", "x"]
        item = t.scalar("SELECT id FROM items WHERE name = 'a1'")
        t.insert("notes", item_id=item, body="hi")
        assert t.scalar("SELECT n FROM counters") == 1  # the schema's trigger ran
        t.execute("DELETE FROM items WHERE name = 'a1'")
        assert t.scalar("SELECT count(*) FROM notes") == 0  # ON DELETE CASCADE
    with db.scope("b") as t:
        assert t.scalar("SELECT n FROM counters") == 0


def test_scope_checks(db: Shop) -> None:
    with pytest.raises(TenantScopeError), db.scope("nobody"):
        pass
    with db.scope("a"), pytest.raises(TenantScopeError), db.scope("b"):
        pass
    with db.scope("a") as t:
        pass
    with pytest.raises(TenantScopeError):
        t.query("SELECT 1")


def test_tenants_and_deletes(db: Shop) -> None:
    assert [r["id"] for r in db.tenants()] == ["a", "b"]
    assert db.tenants()[1]["metadata"] == {"plan": "pro"}
    with pytest.raises(TenantScopeError):
        db.create_tenant("a")
    db.delete_tenant("a")
    assert [r["id"] for r in db.tenants()] == ["b"]
    with pytest.raises(TenantScopeError), db.scope("a"):
        pass
    assert len(snapshot(db, "a")) == 4  # a soft delete keeps the rows
    assert db.delete_tenant("b", hard=True) == 5  # 4 items and 1 counter
    assert snapshot(db, "b") == []
    leftover = db.query(
        "SELECT count(*) AS n FROM dbfold_operations WHERE json_extract(metadata, '$.tenant') = 'b'"
    )
    assert leftover[0]["n"] == 0


def test_a_global_unique_key_is_refused(tmp_path: Path) -> None:
    class Leaky(TenantDatabase):
        SCHEMA_VERSION = "1.0.0"

        def get_schema(self) -> str:
            return "CREATE TABLE t (id INTEGER PRIMARY KEY, tenant_id TEXT, slug TEXT UNIQUE);"

    with pytest.raises(SchemaError, match="UNIQUE"):
        Leaky(tmp_path / "leaky.db")


# -- the differential fuzzer ----------------------------------------------------------


def reference(tenant: str) -> sqlite3.Connection:
    """A database holding only ``tenant``'s rows, with the same ids."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    # Rows written without a tenant get this one, as a scope stamps them.
    conn.executescript(
        SCHEMA.replace("tenant_id TEXT NOT NULL", f"tenant_id TEXT NOT NULL DEFAULT '{tenant}'")
    )
    conn.execute("INSERT INTO counters VALUES (?, 0)", (tenant,))
    tenants = list(ROWS)
    ident = 0
    for who in tenants:
        for name, qty, parent in ROWS[who]:
            ident += 1
            if who == tenant:
                conn.execute(
                    "INSERT INTO items (id, tenant_id, name, qty, parent) VALUES (?, ?, ?, ?, ?)",
                    (ident, who, name, qty, parent),
                )
    return conn


names = st.sampled_from(["a1", "a2", "a3", "x", "y", "b1", "new"])
qtys = st.integers(-1, 60)
preds = st.one_of(
    st.builds(lambda q: f"qty > {q}", qtys),
    st.builds(lambda n: f"name = '{n}'", names),
    st.just("parent IS NOT NULL"),
    st.just("name IN (SELECT parent FROM items)"),
    st.just("qty > (SELECT avg(qty) FROM items)"),
    st.just("EXISTS (SELECT 1 FROM items j WHERE j.parent = items.name)"),
    st.builds(lambda q: f"id IN (SELECT id FROM items WHERE qty < {q})", qtys),
)
selects = st.one_of(
    st.builds(lambda p: f"SELECT name, qty FROM items WHERE {p}", preds),
    st.builds(
        lambda p: (
            "SELECT i.name, j.name FROM items i LEFT JOIN items j ON j.name = i.parent "
            f"WHERE i.id IN (SELECT id FROM items WHERE {p})"
        ),
        preds,
    ),
    st.builds(lambda p: f"SELECT count(*), sum(qty), max(name) FROM items WHERE {p}", preds),
    st.builds(
        lambda p, op: f"SELECT name FROM items WHERE {p} {op} SELECT parent FROM items",
        preds,
        st.sampled_from(["UNION", "UNION ALL", "INTERSECT", "EXCEPT"]),
    ),
    st.builds(lambda p: f"SELECT name, rank() OVER (ORDER BY qty) FROM items WHERE {p}", preds),
    st.builds(
        lambda n: (
            "WITH RECURSIVE up(n, d) AS (SELECT '"
            + n
            + "', 0 UNION ALL SELECT parent, d + 1 FROM items, up WHERE items.name = up.n "
            "AND parent IS NOT NULL AND d < 5) SELECT n, d FROM up"
        ),
        names,
    ),
    st.builds(lambda q: f"SELECT name, qty FROM big_items WHERE qty < {q}", qtys),
)
writes = st.one_of(
    st.builds(lambda q, p: f"UPDATE items SET qty = qty + {q} WHERE {p}", qtys, preds),
    st.builds(lambda p: f"DELETE FROM items WHERE {p}", preds),
    st.builds(
        lambda n, q: f"INSERT OR IGNORE INTO items (name, qty) VALUES ('{n}', {q})", names, qtys
    ),
    st.builds(lambda n, q: f"REPLACE INTO items (name, qty) VALUES ('{n}', {q})", names, qtys),
    st.builds(
        lambda n, q: (
            f"INSERT INTO items (name, qty) VALUES ('{n}', {q}) "
            "ON CONFLICT (tenant_id, name) DO UPDATE SET qty = qty + excluded.qty"
        ),
        names,
        qtys,
    ),
    st.builds(
        lambda p: (
            f"INSERT OR IGNORE INTO items (name, qty) SELECT name || '+', qty FROM items WHERE {p}"
        ),
        preds,
    ),
    st.builds(
        lambda p: (
            f"UPDATE items SET qty = (SELECT count(*) FROM items j WHERE j.qty < items.qty) "
            f"WHERE {p}"
        ),
        preds,
    ),
    st.builds(lambda p: f"DELETE FROM items WHERE {p} RETURNING name, qty", preds),
)
programs = st.lists(st.one_of(selects, writes), min_size=1, max_size=6)


def _canon(rows: Any) -> list[str]:
    return sorted(repr(tuple(r)) for r in rows)


@pytest.fixture(scope="module")
def fuzz_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    shop = Shop(tmp_path_factory.mktemp("fuzz") / "fuzz.db")
    shop.create_tenant("a")
    shop.create_tenant("b")
    yield shop
    shop.close()


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(program=programs, tenant=st.sampled_from(["a", "b"]))
def test_differential_fuzz(fuzz_db: Shop, program: list[str], tenant: str) -> None:
    db = fuzz_db
    seed(db)
    other = "b" if tenant == "a" else "a"
    before_other = snapshot(db, other)
    ref = reference(tenant)
    state = "SELECT name, qty, parent FROM items"
    for sql in program:
        want = _canon(ref.execute(sql).fetchall())
        with db.scope(tenant) as t:
            got = _canon(t.query(sql))
            assert got == want, sql
            assert _canon(t.query(state)) == _canon(ref.execute(state).fetchall()), sql
    assert snapshot(db, other) == before_other
