"""Bad input and faults: each is reported, the rest is migrated, sources stay untouched."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import orjson
import pytest

from dbfold.errors import MigrateError, OptimizeError
from dbfold.migrate import migrate, verify
from dbfold.model import Analysis
from dbfold.optimize import optimize
from dbfold.plan import Plan

Sample = tuple[Path, Plan, Analysis]


def _errors(report: object) -> list[str]:
    return [p.message for p in report.problems if p.severity == "error"]  # type: ignore[attr-defined]


def test_corrupt_source_is_skipped(sample: Sample) -> None:
    root, plan, analysis = sample
    (root / "tmp/temp.db").write_bytes(b"SQLite format 3\x00" + b"\x13" * 5000)
    report = migrate(plan, analysis, root, execute=True)
    assert any("tmp/temp.db" in m for m in _errors(report))
    assert not report.ok
    assert report.verify is not None and report.verify.ok  # the rest arrived intact
    assert {s.status for s in report.sources if s.store != "tmp/temp.db"} <= {"copied", "skipped"}
    assert (root / plan.target).exists()


def test_locked_source_is_skipped(sample: Sample) -> None:
    root, plan, analysis = sample
    holder = sqlite3.connect(root / "data/costs.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        report = migrate(plan, analysis, root, execute=True)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert any("data/costs.db" in m and "locked" in m for m in _errors(report))
    assert any(s.status == "copied" for s in report.sources)


def test_bad_jsonl_line_is_kept_out_with_its_number(sample: Sample) -> None:
    root, plan, analysis = sample
    log = root / "logs/events.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    lines.insert(2, b'{"ts": "broken\n')
    log.write_bytes(b"".join(lines))
    report = migrate(plan, analysis, root, execute=True)
    bad = [p for p in report.problems if p.path == "logs/events.jsonl" and p.line == 3]
    assert bad and bad[0].severity == "error"
    assert not report.ok
    assert report.verify is not None and report.verify.ok


def test_verify_sees_a_row_that_the_reader_dropped(
    sample: Sample, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader losing a JSONL record loses it on both sides; verify still must not pass."""
    import dbfold.migrate.copy as copy_mod

    real = copy_mod.jsonl_records

    def lossy(*args: object, **kwargs: object) -> Iterator[list[dict[str, object]]]:
        for batch in real(*args, **kwargs):  # type: ignore[arg-type]
            yield batch[1:]

    monkeypatch.setattr(copy_mod, "jsonl_records", lossy)
    root, plan, analysis = sample
    report = migrate(plan, analysis, root, execute=True)
    assert report.verify is not None and not report.verify.ok
    bad = report.verify.mismatches
    assert bad and all(c.store.endswith(".jsonl") for c in bad)
    assert "non-blank lines" in (bad[0].first_difference or "")
    assert not (root / plan.target).exists()  # the failed build is not put in place


def test_source_changed_after_analysis(sample: Sample) -> None:
    root, plan, analysis = sample
    con = sqlite3.connect(root / "data/metrics.db")
    con.execute("INSERT INTO metrics (name, ts, value) VALUES ('late', 9, 1.0)")
    con.commit()
    con.close()
    dry = migrate(plan, analysis, root)
    assert any("data/metrics.db" in p.message and "changed" in p.message for p in dry.problems)
    report = migrate(plan, analysis, root, execute=True)
    assert any("data/metrics.db" in p.message and "changed" in p.message for p in report.problems)
    got = next(s for s in report.sources if s.store == "data/metrics.db" and s.table == "metrics")
    rows = next(t.rows for t in analysis.store("data/metrics.db").tables if t.name == "metrics")
    assert got.rows == rows + 1
    assert report.verify is not None and report.verify.ok


def test_duplicate_keys_reported(
    tmp_path: Path, prep: Callable[[Path], tuple[Plan, Analysis]]
) -> None:
    root = tmp_path / "dups"
    root.mkdir()
    items = [{"id": i, "name": f"n{i}"} for i in range(1, 30)]
    (root / "items.json").write_bytes(orjson.dumps(items))
    plan, analysis = prep(root)
    table = plan.tables[0]
    cols = tuple(replace(c, primary_key=c.name == "id") for c in table.columns)
    # the user declares the key by hand in plan.json
    plan = replace(plan, tables=(replace(table, primary_key=("id",), columns=cols),))
    (root / "items.json").write_bytes(orjson.dumps([*items, {"id": 3, "name": "again"}]))
    dry = migrate(plan, analysis, root)
    assert any("duplicate keys" in p for t in dry.tables for p in t.problems)
    report = migrate(plan, analysis, root, execute=True)
    assert any("items.json" in m and "UNIQUE" in m for m in _errors(report))


def test_duplicate_keys_in_a_merge(sample: Sample) -> None:
    root, plan, analysis = sample
    merged = next(t for t in plan.tables if len(t.sources) > 1)
    disc = merged.sources[0].discriminator
    pk = tuple(c for c in merged.primary_key if c != disc)
    cols = tuple(replace(c, primary_key=c.name in pk) for c in merged.columns)
    edited = replace(merged, primary_key=pk, columns=cols)
    plan = replace(plan, tables=tuple(edited if t is merged else t for t in plan.tables))
    dry = migrate(plan, analysis, root)
    found = dict((t.name, t.problems) for t in dry.tables)[merged.name]
    assert any("occur in both" in p for p in found)


def test_read_only_target_folder(sample: Sample, tmp_path: Path) -> None:
    root, plan, analysis = sample
    if os.geteuid() == 0:
        target = "/proc/dbfold-nowhere/unified.db"
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        target = str(ro / "unified.db")
    with pytest.raises(MigrateError, match=r"read-only|cannot create"):
        migrate(plan, analysis, root, execute=True, target=target)


def test_foreign_target_refused_unless_force(sample: Sample) -> None:
    root, plan, analysis = sample
    target = root / plan.target
    con = sqlite3.connect(target)
    con.execute("CREATE TABLE mine (x)")
    con.execute("INSERT INTO mine VALUES (42)")
    con.commit()
    con.close()
    with pytest.raises(MigrateError, match="not made by dbfold"):
        migrate(plan, analysis, root, execute=True)
    report = migrate(plan, analysis, root, execute=True, force=True)
    assert report.backup is not None
    backup = sqlite3.connect(report.backup)
    assert backup.execute("SELECT x FROM mine").fetchall() == [(42,)]
    backup.close()
    assert report.verify is not None and report.verify.ok


def test_verify_names_first_differing_key(sample: Sample) -> None:
    root, plan, analysis = sample
    migrate(plan, analysis, root, execute=True)
    target = root / plan.target
    con = sqlite3.connect(target)
    con.execute("DELETE FROM scores WHERE id = (SELECT min(id) FROM scores)")
    con.commit()
    con.close()
    report = verify(plan, root, target, analysis=analysis)
    assert not report.ok
    (bad,) = report.mismatches
    assert bad.target == "scores" and bad.first_difference and "missing" in bad.first_difference


def test_optimize_refuses_while_another_process_writes(sample: Sample) -> None:
    root, plan, analysis = sample
    migrate(plan, analysis, root, execute=True)
    target = root / plan.target
    writer = sqlite3.connect(target, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(OptimizeError, match="another process"):
            optimize(target, timeout=0.1)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    report = optimize(target)
    assert report.ok and report.bytes_after > 0
