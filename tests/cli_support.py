"""Running the command line as a user does (``python -m dbfold``), shared by the tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

#: Wide and colourless, so assertions see whole lines.
ENV = {**os.environ, "COLUMNS": "250", "NO_COLOR": "1"}


def run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m dbfold ARGS`` in ``root``; no traceback may reach the user."""
    done = subprocess.run(
        [sys.executable, "-m", "dbfold", *args],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=root,
        env=ENV,
    )
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    return done
