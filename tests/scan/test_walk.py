"""The tree walk: pruned folders, symbolic links, unreadable and vanishing entries."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest

from dbfold.scan import walk as walk_mod
from dbfold.scan.stores import scan_stores
from dbfold.scan.walk import WalkLog, display, walk


def _rels(root: Path) -> list[str]:
    return [e.rel for e in walk(root, WalkLog())]


def test_prunes_tool_folders(tree) -> None:
    root = tree(
        {
            "data/a.json": "[]",
            ".git/objects/x.json": "[]",
            "node_modules/m/package.json": "{}",
            "__pycache__/x.json": "[]",
            "build/b.json": "[]",
            "dist/d.json": "[]",
            "pkg.egg-info/x.json": "[]",
            ".dbfold/analysis.json": "{}",
            "myenv/pyvenv.cfg": "home = /usr",
            "myenv/lib/x.json": "[]",
            ".tox/x.json": "[]",
        }
    )
    assert _rels(root) == ["data/a.json"]


def test_symlink_outside_root_is_skipped(tree, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.json").write_text('[{"a": 1}]')
    root = tree({"a.json": '[{"a": 1}]'})
    os.symlink(outside, root / "ext")
    os.symlink(outside / "secret.json", root / "ext.json")
    found = scan_stores(root)
    assert [s.path for s in found.stores] == ["a.json"]
    skipped = {s.path: s.reason for s in found.skipped}
    assert "outside the project" in skipped["ext"]
    assert "outside the project" in skipped["ext.json"]


def test_symlink_loop_reported_and_survived(tree) -> None:
    root = tree({"data/a.jsonl": '{"a": 1}\n'})
    os.symlink("..", root / "data" / "up")
    os.symlink("self", root / "self")  # a link to itself
    found = scan_stores(root)
    assert [s.path for s in found.stores] == ["data/a.jsonl"]
    by_path = {p.path: p.message for p in found.problems}
    assert "loop" in by_path["data/up"]
    assert "loop" in by_path["self"]


def test_internal_symlink_not_scanned_twice(tree) -> None:
    root = tree({"data/a.jsonl": '{"a": 1}\n'})
    os.symlink("data", root / "alias")
    found = scan_stores(root)
    assert [s.path for s in found.stores] == ["data/a.jsonl"]
    assert any(s.path == "alias" and "data" in s.reason for s in found.skipped)


def test_unreadable_folder_is_a_problem(tree, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tree({"ok/a.jsonl": '{"a": 1}\n', "locked/b.jsonl": '{"b": 1}\n'})
    real = os.scandir

    def scandir(path: str):  # type: ignore[no-untyped-def]
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", path)
        return real(path)

    monkeypatch.setattr(walk_mod.os, "scandir", scandir)
    found = scan_stores(root)
    assert [s.path for s in found.stores] == ["ok/a.jsonl"]
    (problem,) = found.problems
    assert problem.path == "locked"
    assert "permission denied" in problem.message


def test_unreadable_file_is_a_problem(tree, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tree({"a.jsonl": '{"a": 1}\n', "b.jsonl": '{"b": 1}\n'})
    import builtins

    real_open = builtins.open

    def fake_open(file, *args, **kwargs):  # type: ignore[no-untyped-def]
        if str(file).endswith("b.jsonl"):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", fake_open)
    found = scan_stores(root)
    assert [s.path for s in found.stores] == ["a.jsonl"]
    assert found.problems[0].path == "b.jsonl"
    assert "permission denied" in found.problems[0].message


def test_file_removed_during_scan(tree) -> None:
    root = tree({"a.jsonl": '{"a": 1}\n', "b.jsonl": '{"b": 1}\n', "c.db": b""})

    def on_progress(rel: str) -> None:
        if rel == "b.jsonl":
            (root / rel).unlink()

    found = scan_stores(root, on_progress=on_progress)
    assert [s.path for s in found.stores] == ["a.jsonl", "c.db"]
    (problem,) = found.problems
    assert problem.path == "b.jsonl"
    assert "vanished during the scan" in problem.message


def test_folder_removed_during_scan(tree) -> None:
    root = tree({"a/x.jsonl": '{"a": 1}\n', "b/y.jsonl": '{"b": 1}\n'})

    def on_progress(rel: str) -> None:
        if rel == "a/x.jsonl":
            (root / "b" / "y.jsonl").unlink()
            (root / "b").rmdir()

    # A serial scan examines each file as the walk finds it: the walk meets the folder gone.
    found = scan_stores(root, on_progress=on_progress, workers=0)
    assert [s.path for s in found.stores] == ["a/x.jsonl"]
    assert found.problems[0].path == "b"
    assert "vanished" in found.problems[0].message


def test_file_removed_after_the_walk(tree) -> None:
    root = tree({"a/x.jsonl": '{"a": 1}\n', "b/y.jsonl": '{"b": 1}\n'})

    def on_progress(rel: str) -> None:
        if rel == "a/x.jsonl":
            (root / "b" / "y.jsonl").unlink()

    # By default the walk lists every file before any is examined.
    found = scan_stores(root, on_progress=on_progress)
    assert [s.path for s in found.stores] == ["a/x.jsonl"]
    (problem,) = found.problems
    assert problem.path == "b/y.jsonl" and "vanished" in problem.message


def test_non_utf8_names(tree) -> None:
    root = tree({})
    bad = os.fsdecode(b"caf\xe9.jsonl")
    (root / bad).write_text('{"a": 1}\n')
    found = scan_stores(root)
    (store,) = found.stores
    assert store.path == "caf\\xe9.jsonl"
    assert store.rows == 1
    orjson.dumps(store.to_dict())  # valid JSON strings


def test_display_keeps_valid_names() -> None:
    assert display("données/ü.json") == "données/ü.json"
