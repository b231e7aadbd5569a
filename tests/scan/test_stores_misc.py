"""CSV, dbm/shelve and pickle stores, and content sniffing."""

from __future__ import annotations

import dbm.dumb
import pickle
import shelve
from pathlib import Path

from scan_support import fingerprint

from dbfold.scan.stores import scan_stores


def test_csv_types_and_dialect(tree) -> None:
    root = tree(
        {
            "people.tsv": "id\tname\tscore\tactive\tborn_at\tzip\n"
            "1\tAda\t1.5\ttrue\t2024-01-02\t01234\n"
            "2\tBob\t\tfalse\t2024-02-03\t98765\n",
        }
    )
    (store,) = scan_stores(root).stores
    assert store.kind == "csv" and store.dialect["delimiter"] == "\t"
    cols = {c.name: c for c in store.tables[0].columns}
    assert store.rows == 2
    assert (cols["id"].type, cols["score"].type, cols["active"].type) == (
        "integer",
        "real",
        "boolean",
    )
    assert cols["score"].nullable and cols["score"].observed == {"null": 1, "real": 1}
    assert "timestamp" in cols["born_at"].hints
    assert cols["zip"].type == "text"  # leading zeros are codes


def test_csv_ragged_rows(tree) -> None:
    body = "a,b,c\n" + "".join("1,2\n" if i % 4 == 0 else "1,2,3\n" for i in range(40))
    (store,) = scan_stores(tree({"r.csv": body})).stores
    assert store.rows == 40
    (problem,) = store.problems
    assert problem.line == 2 and problem.severity == "warning"
    assert "10 rows have a different number of fields" in problem.message
    assert "lines 2, 6, 10, 14, 18 and 5 more" in problem.message


def test_text_files_are_not_csv(tree) -> None:
    root = tree(
        {
            "notes.txt": "Hello, world.\nThis is prose, with commas, here and there.\nBye.\n",
            "README.md": "a,b\n1,2\n3,4\n",
            "script.py": "x = 1, 2\ny = 3, 4\nz = 5, 6\n",
            "table.txt": "id,name,qty\n1,a,3\n2,b,4\n3,c,5\n4,d,6\n",
        }
    )
    assert [(s.path, s.kind) for s in scan_stores(root).stores] == [("table.txt", "csv")]


def test_shelve_is_never_unpickled(tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "p"
    root.mkdir()
    with shelve.Shelf(dbm.dumb.open(str(root / "cache"), "c")) as s:
        s["a"] = {"x": 1}
        s["b"] = [1, 2]
        s["a"] = {"x": 2}  # rewritten key: still one key
    before = fingerprint(root)

    def boom(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("unpickled!")

    monkeypatch.setattr(pickle, "loads", boom)
    monkeypatch.setattr(pickle, "load", boom)
    found = scan_stores(root)
    assert fingerprint(root) == before
    (store,) = found.stores
    assert (store.path, store.kind, store.rows) == ("cache", "shelve", 2)
    (table,) = store.tables
    assert [(c.name, c.type) for c in table.columns] == [("key", "text"), ("value", "pickle")]
    assert {s.path for s in found.skipped} >= {"cache.dat"}


def test_plain_dbm(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    db = dbm.dumb.open(str(root / "kv"), "c")  # noqa: SIM115
    db[b"k"] = b"plain value"
    db.close()
    (store,) = scan_stores(root).stores
    assert (store.kind, store.rows, store.tables[0].columns[1].type) == ("dbm", 1, "blob")


def test_pickle_recognised_never_loaded(tree) -> None:
    root = tree(
        {
            "model.bin": pickle.dumps({"a": 1}, protocol=4),
            "old.pkl": pickle.dumps([1], protocol=0),
        }
    )
    stores = scan_stores(root).stores
    assert [(s.path, s.kind, s.tables) for s in stores] == [
        ("model.bin", "pickle", ()),
        ("old.pkl", "pickle", ()),
    ]
    assert all(s.problems[0].severity == "warning" for s in stores)
    assert "never loads pickles" in stores[0].problems[0].message


def test_utf16_json_is_a_problem(tree) -> None:
    (store,) = scan_stores(tree({"u.json": '[{"a": 1}]'.encode("utf-16")})).stores
    assert "UTF-16" in store.problems[0].message


def test_dumb_dbm_keys_with_quotes_and_backslashes(tmp_path: Path) -> None:
    import dbm.dumb

    root = tmp_path / "p"
    root.mkdir()
    with dbm.dumb.open(str(root / "kv"), "c") as db:
        for key in (b"plain", b"it's", b"a\\b", b'say "x"', b"caf\xe9"):
            db[key] = b"v"
    (store,) = scan_stores(root).stores
    assert (store.path, store.rows, store.problems) == ("kv", 5, ())
