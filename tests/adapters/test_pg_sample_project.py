"""Golden: the sample project's legacy program prints byte-identical output on its own files
and, unchanged, through ``dbfold run --target postgresql://…`` (reads and writes)."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

from adapters_support import is_sqlite

from dbfold.demo import build_sample_project
from dbfold.design import design
from dbfold.migrate import migrate
from dbfold.scan import analyze
from dbfold.state import plan_path, save_analysis, write_atomic


def _python(root: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "main.py", *args], cwd=root, capture_output=True, text=True, check=True
    )
    return done.stdout


def test_legacy_program_runs_unchanged_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    sample = tmp_path / "sample"
    build_sample_project(sample, scale=0.01, seed=7)
    original, routed = tmp_path / "original", tmp_path / "routed"
    shutil.copytree(sample, original)
    shutil.copytree(sample, routed)
    analysis = analyze(routed)
    plan = dataclasses.replace(design(analysis), target=pg_url)
    migrate(plan, analysis, routed, execute=True, target=pg_url)
    save_analysis(analysis, routed)
    write_atomic(plan_path(routed), plan.to_json())
    for store in analysis.stores:  # a store left unrouted would fail loudly
        path = routed / store.path
        if store.kind == "sqlite" and is_sqlite(path):
            path.rename(path.with_name(path.name + ".moved"))
    want = [_python(original, c) for c in ("report", "record", "report")]
    got = []
    for command in ("report", "record", "report"):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "dbfold",
                "run",
                "--project",
                str(routed),
                "--target",
                pg_url,
                "--",
                "python",
                "main.py",
                command,
            ],
            cwd=routed,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        got.append(done.stdout)
    assert got == want
    assert want[0] != want[2]
