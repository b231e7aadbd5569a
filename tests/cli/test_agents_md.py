"""`dbfold agents-md`: the trigger phrases, each mapped to commands that really exist."""

from __future__ import annotations

import re
from pathlib import Path

from cli_support import run

PHRASES = ("analyze databases", "unify tracking", "migrate data", "optimize database")


def test_every_phrase_maps_to_commands_that_run(tmp_path: Path) -> None:
    done = run(tmp_path, "agents-md")
    assert done.returncode == 0, done.stderr
    text = done.stdout
    for phrase in PHRASES:
        assert f'### "{phrase}"' in text
    commands = re.findall(r"^- `dbfold ([a-z-]+)[^`]*`$", text, re.M)
    assert {"analyze", "design", "implement", "migrate", "verify", "optimize"} <= set(commands)
    for name in set(commands):
        helped = run(tmp_path, name, "--help")
        assert helped.returncode == 0, f"dbfold {name}: {helped.stderr}"
    assert text.count("Exit codes:") == len(PHRASES)
