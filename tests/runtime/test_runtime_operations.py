"""The operation log: lifecycle, nesting, checkpoints, abandoned work, stats."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from datetime import timedelta
from pathlib import Path

import pytest
from _runtime_workers import hang_in_operation

from dbfold.errors import OperationError
from dbfold.runtime import UnifiedDatabase


def test_lifecycle(plain: UnifiedDatabase) -> None:
    op = plain.start_operation("enhance", page_title="Example", size=3)
    record = plain.get_operation(op.operation_id)
    assert record.status == "running" and record.pid == os.getpid()
    assert record.metadata == {"page_title": "Example", "size": 3}
    plain.complete_operation(op.operation_id, pages=2)
    record = plain.get_operation(op.operation_id)
    assert record.status == "completed" and record.result == {"pages": 2}
    assert record.duration is not None and record.duration >= 0
    assert record.finished_at is not None and record.finished_at >= record.started_at
    failed = plain.start_operation("enhance")
    plain.fail_operation(failed.operation_id, ValueError("bad page"))
    assert plain.get_operation(failed.operation_id).error == "ValueError: bad page"
    with pytest.raises(OperationError, match="already completed"):
        plain.complete_operation(op.operation_id)
    with pytest.raises(OperationError, match="no such operation"):
        plain.complete_operation(12345)
    with pytest.raises(OperationError, match="no operation 999"):
        plain.get_operation(999)


def test_context_manager_and_nesting(plain: UnifiedDatabase) -> None:
    with plain.operation("outer", job=1) as outer:
        with plain.operation("inner") as inner:
            assert inner.parent_id == outer.operation_id
            explicit = plain.start_operation("child")
            assert explicit.parent_id == inner.operation_id
            explicit.complete()
        with pytest.raises(KeyError), plain.operation("broken"):
            raise KeyError("missing")
    assert plain.get_operation(outer.operation_id).status == "completed"
    broken = [r for r in plain.query("SELECT * FROM dbfold_operations WHERE kind = 'broken'")]
    assert broken[0]["status"] == "failed" and "KeyError" in broken[0]["error"]
    assert broken[0]["parent_id"] == outer.operation_id
    assert broken[0]["duration"] is not None
    top = plain.start_operation("top")
    assert top.parent_id is None


def test_explicit_finish_inside_with(plain: UnifiedDatabase) -> None:
    with plain.operation("x") as op:
        op.fail("gave up")
    assert plain.get_operation(op.operation_id).status == "failed"


def test_checkpoint_and_resume(plain: UnifiedDatabase) -> None:
    op = plain.start_operation("crawl", site="a")
    op.checkpoint({"page": 1})
    plain.checkpoint_operation(op.operation_id, {"page": 2, "seen": ["x"]})
    (pending,) = plain.incomplete_operations("crawl")
    assert pending.id == op.operation_id and pending.checkpoint == {"page": 2, "seen": ["x"]}
    assert pending.status == "running"  # its process (this one) is alive
    assert plain.incomplete_operations("other") == []
    op.complete()
    assert plain.incomplete_operations("crawl") == []
    with pytest.raises(OperationError, match="already completed"):
        op.checkpoint({"page": 3})


def test_killed_process_is_abandoned_and_resumable(target: str, tmp_path: Path) -> None:
    UnifiedDatabase(target).close()
    ready = tmp_path / "ready"
    ctx = multiprocessing.get_context("spawn")
    proc = ctx.Process(target=hang_in_operation, args=(target, str(ready)))
    proc.start()
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert ready.exists()
    finally:
        assert proc.pid is not None
        os.kill(proc.pid, signal.SIGKILL)
        proc.join()
    op_id = int(ready.read_text())
    with UnifiedDatabase(target) as db:
        (record,) = db.incomplete_operations("crawl")
        assert record.id == op_id and record.status == "abandoned"
        assert record.checkpoint == {"page": 41} and record.metadata == {"site": "example"}
        assert "ended while it ran" in (record.error or "")
        resumed = db.resume_operation(op_id)
        assert resumed.resumed_checkpoint == {"page": 41}
        resumed.complete(pages=42)
        record = db.get_operation(op_id)
        assert record.status == "completed" and record.pid == os.getpid()
        assert record.duration is not None and record.duration > 0
        assert db.incomplete_operations() == []
        with pytest.raises(OperationError, match="not abandoned"):
            db.resume_operation(op_id)


def test_stats(plain: UnifiedDatabase) -> None:
    for n in range(20):
        with plain.operation("fast", n=n):
            pass
    plain.fail_operation(plain.start_operation("fast").operation_id, "no")
    plain.start_operation("slow")
    stats = plain.operation_stats()
    assert set(stats) == {"fast", "slow"}
    fast = stats["fast"]
    assert (fast.count, fast.completed, fast.failures, fast.running) == (21, 20, 1, 0)
    assert fast.p50 is not None and fast.p95 is not None and 0 <= fast.p50 <= fast.p95
    assert stats["slow"].running == 1 and stats["slow"].p50 is None
    assert set(plain.operation_stats(kind="slow")) == {"slow"}
    assert plain.operation_stats(since=timedelta(hours=1))["fast"].count == 21
    assert plain.operation_stats(since=timedelta(seconds=-60)) == {}
