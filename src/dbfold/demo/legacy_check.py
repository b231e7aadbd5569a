"""Run the sample project's legacy program twice — on its own files and, unchanged, through
``dbfold run`` on the unified database — and compare what it prints.

This is the demo's proof of "zero code changes": same commands, same answers. The original
side runs in a copy of the project (without ``.dbfold/`` and the unified database), so the
program's own writes land in the copy, as they would in the project before the move.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

#: What the demo runs: a read, a few writes, and the read again (which must see the writes).
DEFAULT_COMMANDS: tuple[tuple[str, ...], ...] = (("report",), ("record",), ("report",))


@dataclass(frozen=True)
class LegacyRun:
    """One legacy command, run both ways."""

    command: tuple[str, ...]
    original: str
    routed: str
    original_status: int
    routed_status: int

    @property
    def same(self) -> bool:
        """Both runs succeeded and printed exactly the same thing."""
        return self.original_status == self.routed_status == 0 and self.original == self.routed


def _output(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout if done.returncode == 0 else done.stdout + done.stderr


def compare_legacy_runs(
    project: Path,
    target: Path,
    commands: Sequence[tuple[str, ...]] = DEFAULT_COMMANDS,
    *,
    program: str = "main.py",
) -> tuple[LegacyRun, ...]:
    """Run ``python PROGRAM *command`` for each command on a copy of the original stores and
    through ``dbfold run`` in ``project``; return both outputs per command.

    Args:
        project: the project root (holding ``.dbfold/plan.json`` and the legacy code).
        target: the unified database, left out of the copy.
        commands: argument lists for the program, run in order on both sides.
        program: the legacy entry point, relative to ``project``.
    """
    # The routed side runs with the project as its working directory: absolute paths only.
    project = project.resolve()
    runs: list[LegacyRun] = []
    with tempfile.TemporaryDirectory(prefix="dbfold-legacy-") as tmp:
        copy = Path(tmp) / "original"
        skip = {".dbfold", target.name, "project_db.py"}
        shutil.copytree(project, copy, ignore=lambda _d, names: [n for n in names if n in skip])
        for command in commands:
            original = subprocess.run(
                [sys.executable, program, *command],
                cwd=copy,
                capture_output=True,
                text=True,
                timeout=300,
            )
            dbfold_run = [sys.executable, "-m", "dbfold", "run", "--project", str(project), "--"]
            routed = subprocess.run(
                [*dbfold_run, "python", program, *command],
                cwd=project,
                capture_output=True,
                text=True,
                timeout=300,
            )
            runs.append(
                LegacyRun(
                    command=tuple(command),
                    original=_output(original),
                    routed=_output(routed),
                    original_status=original.returncode,
                    routed_status=routed.returncode,
                )
            )
    return tuple(runs)
