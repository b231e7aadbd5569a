"""Targets: paths, URLs, bad locations, the seed snippet."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dbfold.errors import SchemaError, TargetError
from dbfold.runtime import SqliteBackend, UnifiedDatabase, open_backend


def test_seed_snippet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The documented snippet, with real column lists in place of "(...)".
    monkeypatch.chdir(tmp_path)

    class ProjectDatabase(UnifiedDatabase):
        SCHEMA_VERSION = "1.0.0"

        def get_schema(self):  # type: ignore[no-untyped-def]
            return (
                "CREATE TABLE operations_log (id INTEGER PRIMARY KEY, action TEXT); "
                "CREATE TABLE metrics (id INTEGER PRIMARY KEY, name TEXT, value REAL);"
            )

    db = ProjectDatabase("data/unified.db")
    context = db.start_operation("enhance", page_title="Example")
    db.complete_operation(context.operation_id)
    assert (tmp_path / "data" / "unified.db").is_file()
    record = db.get_operation(context.operation_id)
    assert record.status == "completed"
    assert record.metadata == {"page_title": "Example"}
    assert db.schema_version == "1.0.0"
    db.close()


def test_default_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with UnifiedDatabase() as db:
        assert db.path == Path("data/unified.db")
    assert (tmp_path / "data" / "unified.db").exists()


def test_sqlite_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    relative = open_backend("sqlite:///rel/dir/x.db")
    assert isinstance(relative, SqliteBackend)
    assert relative.path == Path("rel/dir/x.db")
    absolute = open_backend(f"sqlite:///{tmp_path}/abs.db")
    assert isinstance(absolute, SqliteBackend)
    assert absolute.path == tmp_path / "abs.db"
    with UnifiedDatabase(f"sqlite:///{tmp_path}/abs.db") as db:
        db.start_operation("x")
    assert (tmp_path / "abs.db").exists()


@pytest.mark.parametrize(
    ("target", "words"),
    [
        ("mysql://user:secret@host/db", "unknown database scheme"),
        ("postgresql://user:secret@127.0.0.1:1/db", "no PostgreSQL server answers"),
        ("postgres://nobody:secret@127.0.0.1:5432/db", "does not exist"),
        ("sqlite://host/x.db", "no host"),
        (":memory:", "in-memory"),
    ],
)
def test_bad_schemes(target: str, words: str) -> None:
    if target.startswith("postgres"):
        try:
            import psycopg  # noqa: F401
            import psycopg_pool  # noqa: F401
        except ImportError:
            # Without the postgres extra, the one line is the install hint instead.
            words = r"pip install 'dbfold\[postgres\]'"
    with pytest.raises(TargetError, match=words) as info:
        UnifiedDatabase(target)
    assert "secret" not in str(info.value)
    assert "\n" not in str(info.value)


def test_not_a_database(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.db"
    bogus.write_text("hello, this is text\n" * 10)
    with pytest.raises(TargetError, match="is not a SQLite database") as info:
        UnifiedDatabase(bogus)
    assert str(bogus) in str(info.value)
    assert bogus.read_text().startswith("hello")  # untouched


def test_uncreatable_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(TargetError, match="cannot create folder") as info:
        UnifiedDatabase(blocker / "sub" / "db.sqlite")
    assert str(blocker) in str(info.value)


def test_target_is_a_folder(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="is a folder"):
        UnifiedDatabase(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores folder permissions")
def test_read_only_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(TargetError, match="read-only"):
            UnifiedDatabase(folder / "x.db")
    finally:
        folder.chmod(0o700)


def test_empty_existing_file_is_a_new_database(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    with UnifiedDatabase(path) as db:
        db.start_operation("x")


def test_malformed_schema(tmp_path: Path) -> None:
    class Broken(UnifiedDatabase):
        SCHEMA_VERSION = "1.0.0"

        def get_schema(self) -> str:
            return "CREATE TABLE ok (id INTEGER); CREATE TABLE broken (id INTEGER,,);"

    with pytest.raises(SchemaError, match="malformed") as info:
        Broken(tmp_path / "x.db")
    assert "Broken.get_schema()" in str(info.value)


def test_reserved_names_and_missing_version(tmp_path: Path) -> None:
    class Reserved(UnifiedDatabase):
        SCHEMA_VERSION = "1.0.0"

        def get_schema(self) -> str:
            return "CREATE TABLE dbfold_mine (id INTEGER);"

    with pytest.raises(SchemaError, match="reserved"):
        Reserved(tmp_path / "x.db")

    class NoVersion(UnifiedDatabase):
        def get_schema(self) -> str:
            return "CREATE TABLE t (id INTEGER);"

    with pytest.raises(SchemaError, match="SCHEMA_VERSION"):
        NoVersion(tmp_path / "y.db")

    class BadVersion(UnifiedDatabase):
        SCHEMA_VERSION = "one"

    with pytest.raises(SchemaError, match="dotted numbers"):
        BadVersion(tmp_path / "z.db")


def test_closed_database_refuses_use(plain: UnifiedDatabase) -> None:
    plain.close()
    with pytest.raises(Exception, match="closed"):
        plain.start_operation("x")
