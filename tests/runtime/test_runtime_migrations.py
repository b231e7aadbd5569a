"""Schema versions and automatic migrations."""

from __future__ import annotations

import multiprocessing
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from _runtime_workers import ITEMS_V1, ItemsV1, ItemsV2, open_v2
from hypothesis import given, settings
from hypothesis import strategies as st

from dbfold.errors import DataLossError, SchemaError, SchemaVersionError
from dbfold.runtime import UnifiedDatabase, version_key
from dbfold.runtime.versions import Migration


def _dump(path: Path) -> tuple[list[Any], list[Any]]:
    """Schema text and every row of every table, read with plain sqlite3."""
    conn = sqlite3.connect(path)
    try:
        schema = conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
        rows = [
            (name, conn.execute(f'SELECT * FROM "{name}" ORDER BY rowid').fetchall())
            for (kind, name, _) in schema
            if kind == "table"
        ]
        return schema, rows
    finally:
        conn.close()


def _seed(path: Path) -> None:
    with ItemsV1(path) as db:
        p1 = db.insert("parents", name="p1")
        p2 = db.insert("parents", name="p2")
        for n in range(5):
            db.insert(
                "items", parent_id=p1 if n % 2 else p2, name=f"i{n}", price=str(n), data={"n": n}
            )


def make(version: str, schema: str, **attrs: Any) -> type[UnifiedDatabase]:
    migrations: Mapping[str, Migration] = attrs.pop("migrations", {})

    class Db(UnifiedDatabase):
        SCHEMA_VERSION = version
        ALLOW_DESTRUCTIVE = attrs.get("allow", False)

        def get_schema(self) -> str:
            return schema

        def get_migrations(self) -> Mapping[str, Migration]:
            return migrations

    return Db


def test_versions_compare_numerically() -> None:
    assert version_key("1.10.0") > version_key("1.9.0")
    assert version_key("2") == version_key("2.0")


def test_fresh_database_records_version(db_path: Path) -> None:
    with ItemsV1(db_path) as db:
        assert db.last_migration is not None and db.last_migration.created
        assert [r["version"] for r in db.schema_history()] == ["1.0.0"]
    with ItemsV1(db_path) as db:
        assert db.last_migration is None  # already current: nothing done


def test_add_column_keeps_data_and_backs_up(db_path: Path) -> None:
    _seed(db_path)
    _, before = _dump(db_path)
    with ItemsV2(db_path) as db:
        result = db.last_migration
        assert result is not None
        assert result.from_version == "1.0.0" and result.to_version == "1.1.0"
        assert "add column items.note" in result.steps
        assert "create table tags" in result.steps
        assert result.backup_path is not None and result.backup_path.exists()
        assert result.backup_path.parent == db_path.parent / ".dbfold" / "backups"
        assert db.count("items") == 5
        assert db.get("items", 1)["data"] == {"n": 0}  # type: ignore[index]
        assert [r["version"] for r in db.schema_history()] == ["1.0.0", "1.1.0"]
    # The backup is the old database, intact.
    _, backup_rows = _dump(result.backup_path)
    assert dict(backup_rows)["items"] == dict(before)["items"]


def test_rebuild_keeps_rows_foreign_keys_and_no_cascade(db_path: Path) -> None:
    _seed(db_path)
    # parents.name gets a UNIQUE constraint and a default: not addable, the table is rebuilt.
    v2 = ITEMS_V1.replace(
        "name TEXT NOT NULL\n", "name TEXT NOT NULL UNIQUE DEFAULT 'x',\n    born TEXT\n"
    ).replace("price TEXT,", "price REAL NOT NULL DEFAULT 0,")
    Db = make("2.0.0", v2)
    with Db(db_path) as db:
        steps = db.last_migration.steps  # type: ignore[union-attr]
        assert "rebuild table parents (definition changed)" in steps
        assert "rebuild table items (definition changed)" in steps
        # Children of the rebuilt parent table survived: no ON DELETE CASCADE fired.
        assert db.count("items") == 5
        assert db.count("parents") == 2
        assert db.get("items", 2)["price"] == 1.0  # type: ignore[index]  # now REAL
        assert db.scalar("SELECT count(*) FROM item_names") == 5  # view recreated
        fks = db.query("PRAGMA foreign_key_list(items)")
        assert fks[0]["table"] == "parents" and fks[0]["on_delete"] == "CASCADE"
        assert db.query("PRAGMA foreign_key_check") == []
        assert db.scalar("PRAGMA foreign_keys") == 1
        assert db.scalar("SELECT count(*) FROM sqlite_master WHERE name = 'items_name'") == 1
        assert db.scalar("SELECT count(*) FROM sqlite_master WHERE name = 'items_touch'") == 1
        # Foreign keys still enforced and still cascading after the rebuild.
        db.delete("parents", 1)
        assert db.count("items") == 3


def test_refused_drop_leaves_database_unchanged(db_path: Path) -> None:
    _seed(db_path)
    before = _dump(db_path)
    # The new schema drops table parents (2 rows) and column items.price (5 values).
    v2 = (
        ITEMS_V1.split("CREATE TABLE items")[1]
        .replace("REFERENCES parents (id) ON DELETE CASCADE", "")
        .replace("    price TEXT,\n", "")
    )
    v2 = "CREATE TABLE items" + v2.replace("UPDATE parents SET name = name", "SELECT 1")
    Db = make("2.0.0", v2)
    with pytest.raises(DataLossError) as info:
        Db(db_path)
    message = str(info.value)
    assert "table parents with 2 rows" in message
    assert "column items.price with 5 non-null values" in message
    assert "ALLOW_DESTRUCTIVE" in message and "\n" not in message
    assert _dump(db_path) == before
    # Allowed explicitly: the drop happens.
    Allowed = make("2.0.0", v2, allow=True)
    with Allowed(db_path) as db:
        assert db.scalar("SELECT count(*) FROM sqlite_master WHERE name = 'parents'") == 0
        assert "price" not in db.table_info("items").columns
        assert db.count("items") == 5


def test_empty_table_and_column_may_be_dropped(db_path: Path) -> None:
    with ItemsV1(db_path) as db:
        db.insert("items", name="x")  # price stays NULL, parents stays empty
    v2 = ITEMS_V1.replace("    price TEXT,\n", "")
    with make("1.1.0", v2)(db_path) as db:
        assert "price" not in db.table_info("items").columns
        assert db.count("items") == 1


def test_downgrade_refused(db_path: Path) -> None:
    ItemsV2(db_path).close()
    with pytest.raises(SchemaVersionError, match=r"newer than .*1\.0\.0"):
        ItemsV1(db_path)


def test_failing_explicit_migration_rolls_back(db_path: Path) -> None:
    _seed(db_path)
    before = _dump(db_path)

    def bad(db: UnifiedDatabase) -> None:
        db.execute("UPDATE items SET price = 'changed'")
        db.insert("parents", name="added")
        raise RuntimeError("boom")

    Db = make(
        "1.2.0",
        ITEMS_V1 + "CREATE TABLE extra (id INTEGER);",
        migrations={"1.1.0": "UPDATE items SET name = 'renamed'", "1.2.0": bad},
    )
    with pytest.raises(SchemaError, match=r"migration to 1\.2\.0 failed.*boom") as info:
        Db(db_path)
    assert "backup kept" in str(info.value)
    assert _dump(db_path) == before
    assert list((db_path.parent / ".dbfold" / "backups").iterdir())


def test_explicit_migrations_run_in_version_order(db_path: Path) -> None:
    _seed(db_path)
    order: list[str] = []

    def step(version: str) -> Migration:
        def run(db: UnifiedDatabase) -> None:
            order.append(version)
            with db.transaction():  # nested inside the migration: a savepoint
                db.execute("UPDATE parents SET name = name || ?", (version,))

        return run

    v2 = ITEMS_V1.replace("    deleted_at TEXT\n", "    deleted_at TEXT,\n    cost REAL\n")
    Db = make(
        "1.10.0",
        v2,
        migrations={
            "1.10.0": step("1.10.0"),
            "1.9.0": step("1.9.0"),
            "1.2.0": "ALTER TABLE items RENAME COLUMN price TO cost_text",
            "0.9.0": step("0.9.0"),  # older than the recorded version: skipped
            "2.0.0": step("2.0.0"),  # newer than SCHEMA_VERSION: skipped
        },
        allow=True,
    )
    with Db(db_path) as db:
        assert order == ["1.9.0", "1.10.0"]
        assert db.get("parents", 1)["name"] == "p11.9.01.10.0"  # type: ignore[index]
        assert db.last_migration is not None
        assert db.last_migration.steps[:3] == (
            "run migration 1.2.0",
            "run migration 1.9.0",
            "run migration 1.10.0",
        )


def test_views_triggers_indexes_follow_schema(db_path: Path) -> None:
    _seed(db_path)
    v2 = (
        ITEMS_V1.replace("SELECT id, name FROM items", "SELECT id, name, price FROM items")
        .replace(
            "CREATE INDEX items_name ON items (name);", "CREATE INDEX items_price ON items (price);"
        )
        .replace("AFTER UPDATE OF name", "AFTER UPDATE OF price")
    )
    with make("1.1.0", v2)(db_path) as db:
        steps = set(db.last_migration.steps)  # type: ignore[union-attr]
        assert {"drop view item_names", "create view item_names", "drop index items_name"} <= steps
        assert {"create index items_price", "drop trigger items_touch"} <= steps
        assert db.query("SELECT price FROM item_names WHERE id = 1") == [("0",)]
        assert db.plan_schema_changes() == []


def test_unversioned_existing_database(db_path: Path) -> None:
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE legacy (x)")
    conn.execute("INSERT INTO legacy VALUES (1)")
    conn.commit()
    conn.close()
    with pytest.raises(DataLossError, match="table legacy with 1 rows"):
        ItemsV1(db_path)
    keep = make("1.0.0", ITEMS_V1 + "CREATE TABLE legacy (x);")
    with keep(db_path) as db:
        assert db.last_migration is not None and db.last_migration.from_version is None
        assert db.last_migration.backup_path is not None
        assert db.count("legacy") == 1


def test_two_processes_migrate_once(db_path: Path) -> None:
    _seed(db_path)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=open_v2, args=(str(db_path),)) for _ in range(3)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    with ItemsV2(db_path) as db:
        versions = [r["version"] for r in db.schema_history()]
        assert versions == ["1.0.0", "1.1.0"]
        assert db.count("items") == 5


rows_strategy = st.lists(
    st.tuples(
        st.none() | st.text(max_size=10),
        st.none()
        | st.integers(-(2**63), 2**63 - 1)
        | st.floats(allow_nan=False)
        | st.text(max_size=5),
        st.none() | st.dictionaries(st.text(max_size=3), st.integers(), max_size=3),
    ),
    max_size=12,
)


@settings(max_examples=15, deadline=None)
@given(rows=rows_strategy)
def test_rebuild_preserves_every_row(
    tmp_path_factory: pytest.TempPathFactory, rows: list[Any]
) -> None:
    path = tmp_path_factory.mktemp("prop") / "p.db"
    with ItemsV1(path) as db:
        for name, price, data in rows:
            db.insert("items", name=name, price=price, data=data)
        before = db.query("SELECT id, name, price, data FROM items ORDER BY id")
    # A constraint change (CHECK) forces a rebuild of items.
    v2 = ITEMS_V1.replace("    price TEXT,", "    price TEXT CHECK (1 = 1),")
    with make("1.1.0", v2)(path) as db:
        assert any("rebuild" in step for step in db.last_migration.steps)  # type: ignore[union-attr]
        assert db.query("SELECT id, name, price, data FROM items ORDER BY id") == before
