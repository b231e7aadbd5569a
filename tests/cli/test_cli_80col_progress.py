"""Progress at 80 columns: bars that move during the copy and during verify.

The library reports rows and bytes (for SQLite tables an estimate from the file's size) per
chunk of a copy and per source checked by verify; the terminal bars show rows and MB/s and
fit in 80 columns.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest
from rich.console import Console

from dbfold.demo import build_sample_project
from dbfold.design import design
from dbfold.migrate import migrate, resolve_target, verify
from dbfold.migrate.progress import Throughput
from dbfold.scan import analyze
from dbfold.views import RichProgress


class Recorder:
    """A Progress that keeps every call (from any thread)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, int, int]] = []
        self.label = ""
        self.lock = threading.Lock()

    def start(self, label: str, rows: int, nbytes: int) -> None:
        with self.lock:
            self.label = label
            self.calls.append(("start", label, rows, nbytes))

    def advance(self, rows: int, nbytes: int) -> None:
        with self.lock:
            self.calls.append(("advance", self.label, rows, nbytes))

    def done(self) -> None:
        with self.lock:
            self.calls.append(("done", self.label, 0, 0))


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Recorder, object]:
    root = tmp_path_factory.mktemp("progress") / "proj"
    build_sample_project(root, scale=0.02)
    analysis = analyze(root)
    plan = design(analysis)
    rec = Recorder()
    migrate(plan, analysis, root, execute=True, progress=rec)
    return root, rec, (plan, analysis)


def test_copies_report_rows_and_bytes(migrated: tuple[Path, Recorder, object]) -> None:
    _root, rec, _ = migrated
    starts = [c for c in rec.calls if c[0] == "start"]
    assert starts, rec.calls
    for _, label, rows, nbytes in starts:
        moved = [c for c in rec.calls if c[0] == "advance" and c[1] == label]
        assert sum(c[2] for c in moved) == rows, label
        if rows:
            assert nbytes > 0 and sum(c[3] for c in moved) > 0, label  # MB/s can be drawn
    sqlite = [s for s in starts if ".db:" in s[1]]
    assert sqlite and all(s[3] > 0 for s in sqlite if s[2])


def test_verify_reports_each_source(migrated: tuple[Path, Recorder, object]) -> None:
    root, _rec, (plan, analysis) = migrated  # type: ignore[misc]
    rec = Recorder()
    report = verify(plan, root, resolve_target(plan, root), analysis=analysis, progress=rec)
    assert report.ok
    (start,) = [c for c in rec.calls if c[0] == "start"]
    advances = [c for c in rec.calls if c[0] == "advance"]
    assert len(advances) == len(report.checks) - sum(1 for c in report.checks if c.array)
    assert sum(c[2] for c in advances) == start[2]
    assert rec.calls[-1][0] == "done"


def test_rich_bars_fit_80_columns_and_show_the_rate() -> None:
    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=True, color_system=None)
    bars = RichProgress(console)
    bars.start("data/a_store_with_a_rather_long_name.db:and_a_long_table_name", 1_000_000, 0)
    bars.advance(250_000, 25_000_000)
    console.print(bars.bar.make_tasks_table(bars.bar.tasks))
    bars.done()  # between copies: a spinner, so the display never stands still
    console.print(bars.bar.make_tasks_table(bars.bar.tasks))
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    assert all(len(line) <= 80 for line in lines), lines
    assert "…" in lines[0] and "250.0k/1.00M" in lines[0] and "MB/s" in lines[0], lines
    assert "working…" in lines[1], lines


def test_throughput_rate() -> None:
    ticks = iter([0.0, 4.0, 4.0])
    meter = Throughput(lambda: next(ticks))
    meter.add(2_000, 0)
    assert meter.rate_text() == "500 rows/s"
    meter.add(0, 8_000_000)
    assert meter.rate_text() == "2.0 MB/s"
