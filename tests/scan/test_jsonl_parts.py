"""A JSONL file read in parts, by several processes, gives what one whole read gives."""

from __future__ import annotations

import os
from itertools import pairwise
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dbfold.scan import records, stores
from dbfold.scan.jsonl_reader import finish, read_jsonl, read_part, split_lines
from dbfold.scan.records import RecordStats
from dbfold.scan.stores import _scan_parallel, scan_stores
from dbfold.scan.walk import FileEntry, WalkLog

KEYS = st.sampled_from(["id", "ts", "user", "props", "tags", "created_at", "n"])
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["x", "2024-01-02T10:00:00Z", "123e4567-e89b-12d3-a456-426614174000"]),
    st.just(1.7e9),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=6,
)
RECORDS = st.lists(st.dictionaries(KEYS, VALUES, max_size=5), max_size=60)
BAD_LINES = st.sampled_from([b"", b"   ", b"{oops", b"[1, 2]", b"7", b'{"n": NaN}', b"\xff\xfe"])


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(recs=RECORDS, cuts=st.lists(st.integers(0, 60), max_size=4), batch=st.sampled_from([1, 4]))
def test_merged_parts_count_as_one_stream(
    recs: list[dict[str, Any]], cuts: list[int], batch: int
) -> None:
    records.BATCH, saved = batch, records.BATCH
    try:
        whole = RecordStats()
        whole.add_many(recs)
        bounds = [0, *sorted(min(c, len(recs)) for c in cuts), len(recs)]
        merged = RecordStats()
        for a, b in pairwise(bounds):
            part = RecordStats()
            part.add_many(recs[a:b])
            merged.merge(part)
    finally:
        records.BATCH = saved
    assert merged.rows == whole.rows == len(recs)
    assert merged.columns() == whole.columns()


def _write(path: Path, lines: list[bytes], bom: bool, last_newline: bool = True) -> None:
    body = b"".join(line + b"\n" for line in lines)
    if not last_newline and body.endswith(b"}\n"):
        body = body[:-1]
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + body)


@settings(max_examples=80, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    recs=RECORDS,
    bad=st.lists(st.tuples(st.integers(0, 60), BAD_LINES), max_size=4),
    parts=st.integers(1, 7),
    bom=st.booleans(),
    last_newline=st.booleans(),
)
def test_a_file_read_in_parts_is_described_as_a_whole(
    tmp_path: Path,
    recs: list[dict[str, Any]],
    bad: list[tuple[int, bytes]],
    parts: int,
    bom: bool,
    last_newline: bool,
) -> None:
    lines = [orjson.dumps(r) for r in recs]
    for at, line in sorted(bad, reverse=True):
        lines.insert(min(at, len(lines)), line)
    path = tmp_path / "log.jsonl"
    _write(path, lines, bom, last_newline)
    size = path.stat().st_size
    stretches = split_lines(path, size, parts)
    assert stretches[0][0] == 0 and stretches[-1][1] is None
    assert [s for s, _e in stretches[1:]] == [e for _s, e in stretches[:-1]]
    pieces = [read_part(path, start, end) for start, end in stretches]
    assert sum(p.lines for p in pieces) == len(lines)  # a last line without \n counts too
    assert finish(path, "log.jsonl", size, pieces) == read_jsonl(path, "log.jsonl", size)


@pytest.fixture
def big_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project whose JSONL log is cut into parts (parts are made small for the test)."""
    monkeypatch.setattr(stores, "PART_BYTES", 4096)
    root = tmp_path / "proj"
    (root / "logs").mkdir(parents=True)
    lines = [
        orjson.dumps({"id": i, "ts": "2024-01-02T10:00:00Z", "props": {"ms": i % 7}})
        if i % 97
        else b"{broken"
        for i in range(3000)
    ]
    lines[2500] = orjson.dumps({"id": 2500, "late_field": True})
    _write(root / "logs" / "events.jsonl", lines, bom=False)
    (root / "small.jsonl").write_text('{"a": 1}\n')
    return root


def test_worker_processes_read_a_big_log_in_parts(big_log: Path) -> None:
    entry = FileEntry(big_log / "logs/events.jsonl", "logs/events.jsonl", 1, frozenset())
    size = (big_log / "logs/events.jsonl").stat().st_size
    assert len(stores._stretches(FileEntry(entry.path, entry.rel, size, frozenset())) or []) > 5
    serial = scan_stores(big_log, workers=0)
    seen: list[str] = []
    calls: list[int] = []
    pooled = scan_stores(
        big_log, workers=1, on_progress=seen.append, alongside=lambda: calls.append(1)
    )
    assert pooled == serial
    assert calls == [1]  # other work done here while the worker read
    assert sorted(seen) == ["logs/events.jsonl", "small.jsonl"]  # each file once
    (log,) = [s for s in pooled.stores if s.path == "logs/events.jsonl"]
    assert log.rows == 3000 - 31
    assert [p.line for p in log.problems][:3] == [1, 98, 195]
    (late,) = [c for c in log.tables[0].columns if c.name == "late_field"]
    assert "late" in late.hints


def _die_in_part(entry: FileEntry, start: int, end: int | None) -> Any:
    os._exit(3)  # a worker killed while reading one part


def test_a_worker_dying_on_a_part_costs_nothing(big_log: Path) -> None:
    serial = scan_stores(big_log, workers=0)
    pooled = _scan_parallel(big_log, WalkLog(), None, 1, part_job=_die_in_part)
    assert pooled == serial
