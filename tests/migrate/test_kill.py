"""kill -9 at random points of `dbfold migrate --execute`: a rerun completes, verify passes,
and no source changes by a byte."""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dbfold.demo import build_sample_project
from dbfold.migrate import verify
from dbfold.model import Analysis
from dbfold.plan import Plan

CLI = [sys.executable, "-c", "from dbfold.cli import main; main()"]


def _run(root: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*CLI, "migrate", str(root), "--execute", "-q"], capture_output=True, timeout=120
    )


@pytest.mark.slow
def test_kill_9_anywhere(
    tmp_path: Path,
    prep: Callable[[Path], tuple[Plan, Analysis]],
    fp: Callable[[Path], dict[str, str]],
) -> None:
    root = tmp_path / "big"
    build_sample_project(root, scale=2, seed=5)
    plan, analysis = prep(root)
    prints = fp(root)
    target = root / plan.target
    started = time.perf_counter()
    first = _run(root)
    normal = time.perf_counter() - started
    assert first.returncode in (0, 1), first.stderr
    rng = random.Random(42)
    for i in range(10):
        for p in target.parent.glob(target.name + "*"):
            p.unlink()
        if i % 3 == 2:
            # an existing target: kill during an incremental rerun that re-copies a file
            assert _run(root).returncode in (0, 1)
        proc = subprocess.Popen(
            [*CLI, "migrate", str(root), "--execute", "-q"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0, normal))
        proc.kill()
        proc.wait()
        again = _run(root)
        assert again.returncode in (0, 1), again.stderr
        assert target.exists()
        report = verify(plan, root, target, analysis=analysis)
        assert report.ok, (i, report.mismatches, report.problems)
        assert fp(root) == prints
    shutil.rmtree(root / ".dbfold" / "reports", ignore_errors=True)
