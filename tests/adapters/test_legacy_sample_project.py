"""Golden: the sample project's legacy code gives the same output on its own files and,
unchanged, through ``run_legacy`` on a unified database (reads and writes).

The unified database is filled by ``helpers.fill_unified`` (SQLite stores only: the legacy
code reads its JSON, JSONL, CSV, TinyDB and shelve files with ``open()``, which routing
leaves alone, so those come from the same files on both sides). The routed copy has its
SQLite files moved away, so a store that was not routed would fail loudly.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from adapters_support import fill_unified, is_sqlite

from dbfold.adapters import run_legacy
from dbfold.demo import build_sample_project
from dbfold.design import design
from dbfold.scan import analyze


def _python(root: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "main.py", *args], cwd=root, capture_output=True, text=True, check=True
    )
    return done.stdout


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sample") / "project"
    build_sample_project(root, scale=0.01, seed=7)
    return root


def test_legacy_code_runs_unchanged_on_the_unified_database(
    sample: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    original = tmp_path / "original"
    routed = tmp_path / "routed"
    shutil.copytree(sample, original)
    shutil.copytree(sample, routed)
    analysis = analyze(routed)
    plan = design(analysis)
    target = routed / "data" / "unified.db"
    fill_unified(plan, routed, target, analysis=analysis)
    for store in analysis.stores:
        path = routed / store.path
        if store.kind == "sqlite" and is_sqlite(path):
            path.rename(path.with_name(path.name + ".moved"))
            for suffix in ("-wal", "-shm"):
                path.with_name(path.name + suffix).unlink(missing_ok=True)

    want = [_python(original, "report"), _python(original, "record"), _python(original, "report")]
    got = []
    for command in ("report", "record", "report"):
        capfd.readouterr()
        code = run_legacy(
            ["python", "main.py", command], routed, plan, target, analysis=analysis, cwd=routed
        )
        out, err = capfd.readouterr()
        assert code == 0, err
        got.append(out)
    assert got == want
    assert "recorded action" in want[1]
    assert want[0] != want[2]  # the writes show in the second report
    for store in analysis.stores:  # nothing was created beside the moved legacy files
        if store.kind == "sqlite":
            assert not (routed / store.path).exists()
