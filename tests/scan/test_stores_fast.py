"""The fast paths of the store readers give exactly what the simple ones give."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import pytest

from dbfold.scan import records
from dbfold.scan.records import RecordStats, infer_text, text_counts
from dbfold.scan.stores import _scan_parallel, scan_stores
from dbfold.scan.walk import FileEntry, WalkLog

_VALUES: list[Any] = [
    None, True, False, 0, 7, -3, 1.5, 1.7e9, 1.7e12, "", "x", "2024-01-02T10:00:00Z",
    "123e4567-e89b-12d3-a456-426614174000", [], [1, 2], [{"a": 1}, {"b": "x"}, 3],
    {"k": 1}, {"k": "v", "deep": {"z": [1, {"q": None}]}},
]  # fmt: skip


def _record(rng: random.Random, keys: list[str]) -> dict[str, Any]:
    return {k: rng.choice(_VALUES) for k in keys if rng.random() < 0.8}


@pytest.mark.parametrize("seed", range(6))
def test_add_many_counts_as_add(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    monkeypatch.setattr(records, "BATCH", rng.choice([1, 3, 64]))
    keys = [f"f{i}" for i in range(6)] + ["id", "created_at"]
    recs = [_record(rng, rng.sample(keys, rng.randint(0, len(keys)))) for _ in range(700)]
    one, many = RecordStats(), RecordStats()
    for rec in recs:
        one.add(rec)
    many.add_many(iter(recs))
    assert many.rows == one.rows == len(recs)
    assert many.columns() == one.columns()


def test_add_many_stops_at_a_non_record() -> None:
    stats = RecordStats()
    with pytest.raises(AttributeError):
        stats.add_many([{"a": 1}, {"a": 2}, [1], {"a": 3}])  # type: ignore[list-item]
    assert stats.rows == 2


_CELLS = [
    "", "0", "00", "007", "-0", "+5", "5", "12", "1.5", ".5", "5.", ".", "-", "-.5", "00.5",
    "true", "FALSE", "x", "nan", "inf", "1e3", "1_000", " 12", "2024-01-01", "é", "٣",
    "9" * 309, "1" * 301 + ".5",
]  # fmt: skip


@pytest.mark.parametrize("seed", range(4))
def test_text_counts_match_infer_text(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(3000):
        pool = rng.sample(_CELLS, rng.randint(1, 4))
        cells = [rng.choice(pool) for _ in range(rng.randint(1, 6))]
        expected = [0] * 7
        for cell in cells:
            expected[records._CODE.get(type(infer_text(cell)), records.TEXT)] += 1
        assert text_counts(cells) == expected, cells


def test_text_columns_count_as_rows() -> None:
    rng = random.Random(3)
    names = ["id", "when", "n", "code"]
    rows = [[rng.choice(_CELLS) for _ in names] for _ in range(500)]
    one, cols = RecordStats(), RecordStats()
    for row in rows:
        one.add(dict(zip(names, map(infer_text, row), strict=True)))
    cols.add_text_columns(names, list(zip(*rows, strict=True)))
    assert cols.columns() == one.columns()


@pytest.fixture
def small_project(tmp_path: Path) -> Path:
    from dbfold.demo import build_sample_project

    root = tmp_path / "demo"
    build_sample_project(root, scale=0.05)
    (root / "broken.db").write_bytes(b"SQLite format 3\x00" + b"\xff" * 200)
    (root / "bad.jsonl").write_text('{"a": 1}\n{oops\n{"a": 2}\n')
    return root


def test_worker_processes_give_the_serial_result(small_project: Path) -> None:
    walked: list[str] = []
    serial = scan_stores(small_project, workers=0, on_progress=walked.append)
    seen: list[str] = []
    pooled = scan_stores(small_project, workers=2, on_progress=seen.append)
    assert pooled == serial
    assert sorted(seen) == sorted(walked)  # every file, reported in this process
    assert any(p.path == "bad.jsonl" for s in pooled.stores for p in s.problems)
    assert any(s.path == "broken.db" and s.problems for s in pooled.stores)


def _die(entry: FileEntry) -> Any:
    os._exit(3)  # a worker killed while reading (out of memory, a crash in a driver)


def test_a_dead_worker_costs_no_file(small_project: Path) -> None:
    serial = scan_stores(small_project, workers=0)
    pooled = _scan_parallel(small_project, WalkLog(), None, 1, job=_die)
    assert pooled == serial


def test_one_shape_in_any_key_order_counts_as_add() -> None:
    recs: list[dict[str, Any]] = [
        {"a": 1, "b": "x"},
        {"b": None, "a": 2.5},  # the same keys, another order
        {"a": {"n": 1}, "b": "y"},
        {"a": 3},  # fewer keys
        {"a": 4, "c": "2024-01-02"},  # same size, another key
        {},
    ]
    for size in (2, 3, 6):
        one, many = RecordStats(), RecordStats()
        for rec in recs:
            one.add(rec)
        for i in range(0, len(recs), size):
            many.add_many(recs[i : i + size])
        assert many.columns() == one.columns(), size
    single = RecordStats()
    single.add_many([{"only": 1}, {"only": "x"}])
    assert [(c.name, c.observed) for c in single.columns()] == [("only", {"integer": 1, "text": 1})]
