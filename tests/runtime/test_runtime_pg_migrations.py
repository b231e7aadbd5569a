"""Declarative migrations on PostgreSQL: catalog against get_schema(), in one transaction."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
from _runtime_workers import ITEMS_NEUTRAL, ItemsV1, ItemsV2, open_v2

from dbfold.errors import DataLossError, SchemaError, SchemaVersionError
from dbfold.runtime import UnifiedDatabase

pytestmark = pytest.mark.postgres


def make(version: str, schema: str, destructive: bool = False) -> type[UnifiedDatabase]:
    class Versioned(UnifiedDatabase):
        SCHEMA_VERSION = version
        ALLOW_DESTRUCTIVE = destructive

        def get_schema(self) -> str:
            return schema

    return Versioned


@pytest.fixture
def backups(tmp_path: Path) -> Path:
    return tmp_path / "backups"


def test_fresh_then_add_column_and_table_with_backup(pg_url: str, backups: Path) -> None:
    with ItemsV1(pg_url, backup_dir=backups) as db:
        assert db.schema_version == "1.0.0"
        assert db.last_migration is not None and db.last_migration.created
        db.insert("items", name="kept", data={"a": 1})
    with ItemsV2(pg_url, backup_dir=backups) as db:
        result = db.last_migration
        assert result is not None and result.from_version == "1.0.0"
        assert "add column items.note" in result.steps and "create table tags" in result.steps
        assert result.backup_path is not None and result.backup_path.stat().st_size > 0
        assert result.backup_path.read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format
        assert db.find("items", name="kept")[0]["data"] == {"a": 1}
        db.update("items", {"name": "kept"}, note="n")
        assert [r["version"] for r in db.schema_history()] == ["1.0.0", "1.1.0"]
        assert db.plan_schema_changes() == []


def test_type_change_is_altered_in_place(pg_url: str, backups: Path) -> None:
    with ItemsV1(pg_url, backup_dir=backups) as db:
        db.insert("items", name="a", price="1.5")
    v2 = make("2.0.0", ITEMS_NEUTRAL.replace("price TEXT", "price REAL NOT NULL DEFAULT 0"))
    with v2(pg_url, backup_dir=backups) as db:
        assert db.last_migration is not None
        assert "alter column items.price" in db.last_migration.steps
        assert db.find("items", name="a")[0]["price"] == 1.5
        assert db.plan_schema_changes() == []


def test_refused_drop_and_downgrade_leave_database_unchanged(pg_url: str, backups: Path) -> None:
    with ItemsV1(pg_url, backup_dir=backups) as db:
        db.insert("items", name="x", price="9")
    v2 = make("2.0.0", ITEMS_NEUTRAL.replace("    price TEXT,\n", ""))
    with pytest.raises(DataLossError, match=r"items\.price"):
        v2(pg_url, backup_dir=backups)
    with ItemsV1(pg_url, backup_dir=backups) as db:
        assert db.schema_version == "1.0.0" and db.find("items")[0]["price"] == "9"
    with make("2.0.0", ITEMS_NEUTRAL.replace("    price TEXT,\n", ""), True)(
        pg_url, backup_dir=backups
    ) as db:
        assert "price" not in db.table_info("items").columns
    with pytest.raises(SchemaVersionError, match="newer"):
        ItemsV1(pg_url, backup_dir=backups)


def test_failing_explicit_migration_rolls_back(pg_url: str, backups: Path) -> None:
    with ItemsV1(pg_url, backup_dir=backups) as db:
        db.insert("parents", name="p")

    class Broken(UnifiedDatabase):
        SCHEMA_VERSION = "1.1.0"

        def get_schema(self) -> str:
            return ITEMS_NEUTRAL + "CREATE TABLE extra (id INTEGER PRIMARY KEY);"

        def get_migrations(self) -> dict[str, str]:
            return {"1.1.0": "UPDATE parents SET name = 'changed'; SELECT * FROM nope"}

    with pytest.raises(SchemaError, match=r"migration to 1\.1\.0 failed"):
        Broken(pg_url, backup_dir=backups)
    with ItemsV1(pg_url, backup_dir=backups) as db:
        assert db.schema_version == "1.0.0"
        assert db.find("parents")[0]["name"] == "p"
        with pytest.raises(Exception, match="no table"):
            db.table_info("extra")


def test_no_pg_dump_refuses_unless_backup_false(
    pg_url: str, backups: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ItemsV1(pg_url, backup_dir=backups).close()
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SchemaError, match=r"pg_dump is not on the PATH.*backup=False"):
        ItemsV2(pg_url, backup_dir=backups)
    with ItemsV1(pg_url) as db:
        assert db.schema_version == "1.0.0"
    with ItemsV2(pg_url, backup=False) as db:
        assert db.last_migration is not None and db.last_migration.backup_path is None


def test_triggers_are_outside_the_neutral_subset(pg_url: str) -> None:
    schema = ITEMS_NEUTRAL + (
        "CREATE TRIGGER t AFTER UPDATE ON items BEGIN UPDATE parents SET name = name; END;"
    )
    with pytest.raises(SchemaError, match="outside the subset"):
        make("1.0.0", schema)(pg_url)


def test_processes_opening_a_new_version_migrate_once(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the children back up into ./.dbfold/backups
    ItemsV1(pg_url).close()
    ctx = multiprocessing.get_context("spawn")
    children = [ctx.Process(target=open_v2, args=(pg_url,)) for _ in range(4)]
    for child in children:
        child.start()
    for child in children:
        child.join(120)
        assert child.exitcode == 0
    with ItemsV2(pg_url, backup=False) as db:
        history = db.schema_history()
        assert [r["version"] for r in history] == ["1.0.0", "1.1.0"]
    assert len(list((tmp_path / ".dbfold" / "backups").iterdir())) == 1
