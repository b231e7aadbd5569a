"""JSON, JSONL and TinyDB stores: layouts, field inference and malformed input."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scan_support import fingerprint

from dbfold.model import Column, Store
from dbfold.scan import json_reader
from dbfold.scan.stores import scan_stores


def one(root: Path) -> Store:
    (store,) = scan_stores(root).stores
    return store


def cols(store: Store, table: int = 0) -> dict[str, Column]:
    return {c.name: c for c in store.tables[table].columns}


def test_array_of_records_inference(tree) -> None:
    recs = [
        {
            "id": i,
            "user_id": i % 3,
            "score": 1 if i % 2 else 1.5,
            "created_at": f"2024-01-{i % 28 + 1:02d}T10:00:00Z",
            "meta": {"ip": "1.2.3.4", "geo": {"lat": 1.0}},
            "items": [{"sku": "a"}, {"sku": "b", "qty": 2}],
            "flag": True if i % 2 else "no",
            "note": None,
        }
        for i in range(300)
    ]
    recs[250]["extra"] = 1
    root = tree({"data/orders.json": json.dumps(recs, indent=2)})
    store = one(root)
    assert (store.kind, store.encoding, store.problems) == ("json", "utf-8", ())
    (table,) = store.tables
    assert (table.name, table.rows, table.layout) == ("orders", 300, "records")
    c = cols(store)
    assert c["id"].type == "integer" and "id" in c["id"].hints and not c["id"].nullable
    assert "id" in c["user_id"].hints
    assert c["score"].type == "real" and c["score"].observed == {"integer": 150, "real": 150}
    assert "timestamp" in c["created_at"].hints
    assert c["meta"].type == "object"
    assert [f.name for f in c["meta"].fields] == ["ip", "geo"]
    assert [f.name for f in c["meta"].fields[1].fields] == ["lat"]
    assert c["items"].type == "array"
    items = {f.name: f for f in c["items"].fields}
    assert items["sku"].present == 600 and items["qty"].present == 300
    assert c["flag"].type == "mixed" and "mixed_types" in c["flag"].hints
    assert c["note"].nullable and c["note"].observed == {"null": 300}
    assert c["extra"].present == 1 and "late" in c["extra"].hints and c["extra"].nullable


def test_rows_layout_and_map_and_document(tree) -> None:
    root = tree(
        {
            "rows.json": '[[1, "a"], [2, "b", true]]',
            "users.json": json.dumps({"u1": {"id": 5, "name": "x"}, "u2": {"name": "y"}}),
            "settings.json": json.dumps({"version": 3, "name": "x", "opts": {"a": 1}}),
        }
    )
    stores = {s.path: s for s in scan_stores(root).stores}
    rows = stores["rows.json"].tables[0]
    assert rows.layout == "rows" and rows.rows == 2
    assert [c.name for c in rows.columns] == ["col_1", "col_2", "col_3"]
    users = stores["users.json"].tables[0]
    assert (users.layout, users.rows, users.key) == ("map", 2, "key")  # "id" is taken
    assert users.columns[0].name == "key" and users.columns[0].primary_key
    doc = stores["settings.json"].tables[0]
    assert (doc.layout, doc.rows) == ("document", 1)
    assert [c.name for c in doc.columns] == ["version", "name", "opts"]


def test_tinydb(tree) -> None:
    db = {"_default": {"1": {"a": 1}, "2": {"a": 2, "b": "x"}}, "users": {"1": {"n": "z"}}}
    store = one(tree({"db.json": json.dumps(db)}))
    assert store.kind == "tinydb"
    assert [(t.name, t.rows, t.layout, t.key) for t in store.tables] == [
        ("_default", 2, "tinydb", "id"),
        ("users", 1, "tinydb", "id"),
    ]


def test_jsonl_with_a_bad_line(tree) -> None:
    lines = ['{"a": 1}', '{"a": 2}', '{"a": 3', "", '{"a": 4}']
    store = one(tree({"events.jsonl": "\n".join(lines) + "\n"}))
    assert store.rows == 3
    (problem,) = store.problems
    assert problem.line == 3 and problem.path == "events.jsonl"
    assert "line 3" in problem.message


def test_jsonl_many_bad_lines_are_summarised(tree) -> None:
    lines = ['{"a": 1}' if i % 2 else "oops" for i in range(20)]
    store = one(tree({"e.ndjson": "\n".join(lines)}))
    assert store.rows == 10
    assert [p.line for p in store.problems[:5]] == [1, 3, 5, 7, 9]
    assert "10 unreadable lines" in store.problems[5].message


def test_jsonl_sniffed_without_extension(tree) -> None:
    store = one(tree({"log": '{"a": 1}\n{"a": 2}\n{"a": 3}\n'}))
    assert (store.kind, store.rows) == ("jsonl", 3)


def test_trailing_garbage(tree) -> None:
    store = one(tree({"a.json": '[{"a": 1}, {"a": 2}] trailing junk'}))
    assert store.rows == 2
    (problem,) = store.problems
    assert "after the JSON value" in problem.message and problem.line == 1


def test_nan_is_a_warning_and_still_read(tree) -> None:
    store = one(tree({"a.json": '[{"a": NaN}, {"a": 1.5}, {"a": Infinity}]'}))
    assert store.rows == 3
    (problem,) = store.problems
    assert problem.severity == "warning" and "NaN/Infinity" in problem.message
    assert cols(store)["a"].type == "real"


def test_deep_nesting(tree) -> None:
    store = one(tree({"deep.json": "[" * 100_000 + "]" * 100_000}))
    (problem,) = store.problems
    assert "nested too deeply" in problem.message


def test_invalid_utf8(tree) -> None:
    store = one(tree({"bad.json": b'[{"name": "caf\xe9"}, {"name": "ok"}]'}))
    assert store.rows == 2
    (problem,) = store.problems
    assert "not valid UTF-8" in problem.message and "offset 14" in problem.message


def test_bom(tree) -> None:
    root = tree(
        {
            "a.json": b'\xef\xbb\xbf[{"a": 1}]',
            "b.jsonl": b'\xef\xbb\xbf{"a": 1}\n{"a": 2}\n',
            "c.csv": b"\xef\xbb\xbfx,y\n1,2\n",
        }
    )
    stores = scan_stores(root).stores
    assert [(s.path, s.encoding, s.rows, s.problems) for s in stores] == [
        ("a.json", "utf-8-sig", 1, ()),
        ("b.jsonl", "utf-8-sig", 2, ()),
        ("c.csv", "utf-8-sig", 1, ()),
    ]
    assert [c.name for c in stores[2].tables[0].columns] == ["x", "y"]


def test_big_array_uses_cutter_and_matches(tree, monkeypatch) -> None:
    monkeypatch.setattr(json_reader, "CHUNK", 64)
    recs = [{"id": i, "tags": [{"t": "},{"}], "s": '"},{"x": 1}'} for i in range(200)]
    store = one(tree({"a.json": orjson.dumps(recs)}))
    assert store.rows == 200 and not store.problems
    assert {c.name for c in store.tables[0].columns} == {"id", "tags", "s"}


def test_big_map_uses_cutter(tree, monkeypatch) -> None:
    monkeypatch.setattr(json_reader, "CHUNK", 64)
    monkeypatch.setattr(json_reader, "SMALL", 10)
    doc = {f"k{i}": {"n": i, "sub": {"x": '},"y":{'}} for i in range(100)}
    store = one(tree({"m.json": orjson.dumps(doc)}))
    assert store.tables[0].layout == "map" and store.rows == 100 and not store.problems


def test_big_file_error_is_reported_with_partial_rows(tree, monkeypatch) -> None:
    monkeypatch.setattr(json_reader, "CHUNK", 64)
    monkeypatch.setattr(json_reader, "SMALL", 10)
    body = orjson.dumps([{"id": i} for i in range(50)])[:-1] + b', {"id": }]'
    store = one(tree({"a.json": body}))
    assert store.rows == 50
    assert "invalid JSON after 50 records" in store.problems[0].message


def test_config_files_are_skipped(tree) -> None:
    root = tree(
        {
            "package.json": '{"name": "x"}',
            "tsconfig.base.json": "{}",
            ".vscode/settings.json": "{}",
            "nb.ipynb": '{"cells": []}',
            "poetry.lock": "x",
            "data/real.json": "[{}]",
        }
    )
    found = scan_stores(root)
    assert [s.path for s in found.stores] == ["data/real.json"]
    assert {s.path for s in found.skipped} >= {
        "package.json",
        "tsconfig.base.json",
        ".vscode/settings.json",
        "nb.ipynb",
    }


def test_sources_unchanged(tree) -> None:
    root = tree({"a.json": "[{}]", "b.jsonl": "{}\n", "c.csv": "a,b\n1,2\n"})
    before = fingerprint(root)
    scan_stores(root)
    assert fingerprint(root) == before


records = st.lists(
    st.dictionaries(
        st.sampled_from(["id", "name", "n", "x y", "é", "nested", "list"]),
        st.none()
        | st.booleans()
        | st.integers(-(2**63), 2**63 - 1)
        | st.floats(allow_nan=False)
        | st.text()
        | st.dictionaries(st.text(max_size=3), st.integers(0, 9), max_size=2)
        | st.lists(st.integers(0, 9), max_size=2),
        max_size=5,
    ),
    max_size=30,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(recs=records)
def test_property_rows_and_presence(tmp_path_factory, recs) -> None:
    root = tmp_path_factory.mktemp("prop")
    (root / "a.json").write_bytes(orjson.dumps(recs))
    (root / "b.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in recs))
    stores = {s.path: s for s in scan_stores(root).stores}
    expected = {}
    for r in recs:
        for k in r:
            expected[k] = expected.get(k, 0) + 1
    for path in ("a.json", "b.jsonl"):
        store = stores[path]
        assert store.rows == len(recs)
        assert store.problems == ()
        got = {c.name: c.present for c in store.tables[0].columns}
        assert got == expected
