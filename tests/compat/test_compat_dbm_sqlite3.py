"""``dbm.sqlite3`` files (Python 3.13's default for ``dbm`` and ``shelve``) are dbm stores.

They are SQLite files holding one ``Dict`` table of blobs; dbfold recognises them by that
schema on every Python, and applies the rules of the other dbm flavours: a shelve's pickles
are never loaded (a warning says so), plain values are described as blobs, and neither is
copied into the unified database as a SQLite table of blobs.
"""

from __future__ import annotations

import importlib.util
import pickle
import shelve
import sqlite3
import sys
from collections.abc import Iterator, Mapping
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from compat_support import fingerprint

from dbfold.design import design
from dbfold.migrate import migrate
from dbfold.model import Analysis, Store
from dbfold.scan import analyze

HAS_DBM_SQLITE3 = importlib.util.find_spec("dbm.sqlite3") is not None
needs_dbm_sqlite3 = pytest.mark.skipif(
    not HAS_DBM_SQLITE3,
    reason=f"this Python ({sys.version.split()[0]}) has no dbm.sqlite3 (added in 3.13)",
)

#: What dbm.sqlite3 runs (Lib/dbm/sqlite3.py), to make the same file on any Python.
BUILD_TABLE = """
  CREATE TABLE IF NOT EXISTS Dict (
    key BLOB UNIQUE NOT NULL,
    value BLOB NOT NULL
  )
"""
STORE_KV = "REPLACE INTO Dict (key, value) VALUES (CAST(? AS BLOB), CAST(? AS BLOB))"


def like_dbm_sqlite3(path: Path, items: Mapping[Any, Any]) -> None:
    """A file as ``dbm.sqlite3.open(path, "c")`` leaves it, made with sqlite3 alone."""
    with closing(sqlite3.connect(path, isolation_level=None)) as con:
        con.execute("PRAGMA journal_mode = wal")
        con.execute(BUILD_TABLE)
        for key, value in items.items():
            con.execute(STORE_KV, (key, value))


@pytest.fixture
def no_unpickling(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("unpickled!")

    monkeypatch.setattr(pickle, "loads", boom)
    monkeypatch.setattr(pickle, "load", boom)


def only_store(analysis: Analysis, rel: str) -> Store:
    assert [s.path for s in analysis.stores] == [rel], analysis.stores
    return analysis.stores[0]


def assert_shelve(store: Store, rows: int) -> None:
    assert (store.kind, store.rows) == ("shelve", rows)
    (table,) = store.tables
    assert [(c.name, c.type) for c in table.columns] == [("key", "text"), ("value", "pickle")]
    assert any("never unpickles" in p.message for p in store.problems), store.problems


def assert_plain_dbm(store: Store, rows: int) -> None:
    assert (store.kind, store.rows) == ("dbm", rows)
    (table,) = store.tables
    assert [(c.name, c.type) for c in table.columns] == [("key", "text"), ("value", "blob")]
    assert not store.problems


def assert_not_copied_as_sqlite(root: Path, analysis: Analysis, rel: str) -> None:
    plan = design(analysis)
    assert all(s.table != "Dict" for t in plan.tables for s in t.sources), plan.tables
    before = fingerprint(root)
    migrate(plan, analysis, root, execute=True)
    assert fingerprint(root) == before  # the source is only read, nothing beside it
    with closing(sqlite3.connect(root / plan.target)) as con:
        names = {r[0] for r in con.execute("SELECT name FROM sqlite_master")}
    assert "Dict" not in names


@needs_dbm_sqlite3
def test_a_dbm_sqlite3_shelve_is_a_shelve(tmp_path: Path, no_unpickling: None) -> None:
    import dbm.sqlite3  # type: ignore[import-not-found,unused-ignore]

    root = tmp_path / "p"
    (root / "cache").mkdir(parents=True)
    with shelve.Shelf(dbm.sqlite3.open(str(root / "cache" / "sessions"), "c")) as db:
        db["a"] = {"user": 1}
        db["b"] = [1, 2]
        db["a"] = {"user": 2}  # rewritten: still one key
    before = fingerprint(root)
    analysis = analyze(root)
    assert fingerprint(root) == before
    assert_shelve(only_store(analysis, "cache/sessions"), 2)
    assert_not_copied_as_sqlite(root, analysis, "cache/sessions")


@needs_dbm_sqlite3
def test_a_plain_dbm_sqlite3_is_a_dbm(tmp_path: Path) -> None:
    import dbm.sqlite3  # type: ignore[import-not-found,unused-ignore]

    root = tmp_path / "p"
    root.mkdir()
    with dbm.sqlite3.open(str(root / "kv"), "c") as db:
        db["name"] = "plain text"
        db[b"raw"] = b"\x00\x01 bytes"
    analysis = analyze(root)
    assert_plain_dbm(only_store(analysis, "kv"), 2)
    assert_not_copied_as_sqlite(root, analysis, "kv")


@needs_dbm_sqlite3
def test_a_dbm_sqlite3_open_in_this_process(tmp_path: Path, no_unpickling: None) -> None:
    """Held open here: dbfold asks SQLite (never a plain read of a database in use)."""
    import dbm.sqlite3  # type: ignore[import-not-found,unused-ignore]

    root = tmp_path / "p"
    root.mkdir()
    with shelve.Shelf(dbm.sqlite3.open(str(root / "state"), "c")) as db:
        db["k"] = {"v": 1}
        store = only_store(analyze(root), "state")
    assert_shelve(store, 1)


@pytest.fixture(params=["pickles", "plain"])
def made_like_dbm_sqlite3(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "p"
    root.mkdir()
    if request.param == "pickles":
        items = {b"a": pickle.dumps({"x": 1}), b"b": pickle.dumps([1, 2], protocol=0)}
    else:
        items = {"a": "text", b"b": b"bytes"}
    like_dbm_sqlite3(root / "kv", items)
    yield root


def test_a_dbm_sqlite3_file_is_recognised_on_any_python(
    made_like_dbm_sqlite3: Path, no_unpickling: None
) -> None:
    """A project made on 3.13 analysed on an older Python: same store, same rules."""
    root = made_like_dbm_sqlite3
    before = fingerprint(root)
    analysis = analyze(root)
    assert fingerprint(root) == before
    store = only_store(analysis, "kv")
    if store.kind == "shelve":
        assert_shelve(store, 2)
    else:
        assert_plain_dbm(store, 2)
    assert_not_copied_as_sqlite(root, analysis, "kv")


def test_a_dbm_sqlite3_with_its_schema_still_in_the_wal(tmp_path: Path) -> None:
    """Open elsewhere (here: a connection of this process), the schema only in the -wal."""
    root = tmp_path / "p"
    root.mkdir()
    con = sqlite3.connect(root / "kv", isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode = wal")
        con.execute("PRAGMA wal_autocheckpoint = 0")
        con.execute(BUILD_TABLE)
        con.execute(STORE_KV, ("k", "v"))
        assert (root / "kv-wal").stat().st_size > 0
        store = only_store(analyze(root), "kv")
    finally:
        con.close()
    assert_plain_dbm(store, 1)


@pytest.mark.parametrize(
    "schema",
    [
        BUILD_TABLE + ";\nCREATE TABLE other (x)",  # more than dbm.sqlite3 makes
        "CREATE TABLE Dict (key BLOB UNIQUE NOT NULL, value BLOB NOT NULL, extra TEXT)",
        "CREATE TABLE Dict (key TEXT PRIMARY KEY, value BLOB)",
    ],
    ids=["another-table", "another-column", "other-declarations"],
)
def test_other_sqlite_files_with_a_dict_table_stay_sqlite(tmp_path: Path, schema: str) -> None:
    root = tmp_path / "p"
    root.mkdir()
    with closing(sqlite3.connect(root / "kv")) as con:
        con.executescript(schema)
    store = only_store(analyze(root), "kv")
    assert store.kind == "sqlite"
    assert "Dict" in {t.name for t in store.tables}
