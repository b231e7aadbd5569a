"""The sample project migrates, verifies, reruns incrementally, and its sources stay intact."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import orjson

from dbfold.migrate import migrate, verify
from dbfold.model import Analysis
from dbfold.optimize import optimize
from dbfold.plan import Plan


def test_dry_run_writes_nothing(sample: tuple[Path, Plan, Analysis]) -> None:
    root, plan, analysis = sample
    before = sorted(p.as_posix() for p in root.rglob("*"))
    report = migrate(plan, analysis, root)
    assert not report.executed
    assert {t.name for t in report.tables} == {t.name for t in plan.tables}
    assert any("copy" in op for t in report.tables for op in t.operations)
    assert sorted(p.as_posix() for p in root.rglob("*")) == before


def test_execute_verify_and_sources_unchanged(
    sample: tuple[Path, Plan, Analysis], fp: Callable[[Path], dict[str, str]]
) -> None:
    root, plan, analysis = sample
    prints = fp(root)
    report = migrate(plan, analysis, root, execute=True)
    assert report.verify is not None and report.verify.ok, report.verify
    assert not [p for p in report.problems if p.severity == "error"]
    target = root / plan.target
    assert target.exists() and not Path(f"{target}.dbfold-tmp").exists()
    assert fp(root) == prints
    again = migrate(plan, analysis, root, execute=True)
    assert again.mode == "incremental"
    assert {s.status for s in again.sources} <= {"unchanged", "skipped"}
    assert verify(plan, root, target, analysis=analysis).ok
    assert optimize(target).ok
    assert fp(root) == prints


def test_incremental_appends_only_new_rows(sample: tuple[Path, Plan, Analysis]) -> None:
    root, plan, analysis = sample
    migrate(plan, analysis, root, execute=True)
    target = root / plan.target
    # a SQLite source without WAL and the JSONL log grow
    sqlite_src = next(
        t.sources[0]
        for t in plan.tables
        if t.sources and t.sources[0].store.endswith("metrics.db") and t.name == "metrics"
    )
    con = sqlite3.connect(root / sqlite_src.store)
    n0 = con.execute("SELECT count(*) FROM metrics").fetchone()[0]
    con.executemany(
        "INSERT INTO metrics (name, ts, value) VALUES (?, ?, ?)",
        [("new", 1, 1.5), ("new", 2, 2.5), ("new", 3, 3.5)],
    )
    con.commit()
    con.close()
    jsonl = next((s for s in analysis.stores if s.kind == "jsonl"), None)
    if jsonl is not None:
        with open(root / jsonl.path, "ab") as f:
            for i in range(4):
                f.write(
                    orjson.dumps(
                        {
                            "ts": "2024-01-01T00:00:00Z",
                            "type": "x",
                            "user": f"u{i}",
                            "props": {"ms": i, "path": "/"},
                        }
                    )
                    + b"\n"
                )
    report = migrate(plan, analysis, root, execute=True)
    by = {(s.store, s.table): s for s in report.sources}
    m = by[(sqlite_src.store, "metrics")]
    assert (m.status, m.rows, m.rows_total) == ("appended", 3, n0 + 3)
    if jsonl is not None:
        j = by[(jsonl.path, jsonl.tables[0].name)]
        assert j.status == "appended" and j.rows == 4
    others = [
        s
        for k, s in by.items()
        if k != (sqlite_src.store, "metrics") and (jsonl is None or k[0] != jsonl.path)
    ]
    assert all(s.status in ("unchanged", "skipped") for s in others)
    assert report.verify is not None and report.verify.ok
    assert verify(plan, root, target, analysis=analysis).ok
