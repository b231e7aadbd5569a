"""After ``fork``, a child either writes with real locks and loses nothing, or is refused
clearly (a DbfoldError that says fork). Silent loss fails.

A forked child inherits SQLite's per-inode lock bookkeeping but none of the fcntl locks,
so its connections to a file the parent had open take no POSIX locks (sqlite.org/
howtocorrupt.html §2.7); when the parent closes its last connection it deletes ``-wal`` and
``-shm`` under the child. Each scenario runs in a fresh interpreter (``fork_worker.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from safety_support import POSIX, SKIP_REASON, run_worker

pytestmark = pytest.mark.skipif(not POSIX, reason=SKIP_REASON)


def _judge(result: dict[str, Any], *, locks_checked: bool) -> list[str]:
    found: list[str] = []
    steps: dict[str, str] = result["child"]
    if result.get("parent"):
        found.append(result["parent"])
    if result["child exit"] != 0 or not steps:
        found.append(f"the child failed (wait status {result['child exit']})")
    for step, outcome in steps.items():
        if outcome.startswith("refused:"):
            if "fork" not in outcome.lower():
                found.append(f"{step}: refused without saying why (fork): {outcome}")
        elif outcome != "ok":
            found.append(f"{step}: not a clear refusal: {outcome}")
    # The child's steps in order: the first writes child-1, the second child-2.
    tokens = ("child-1", "child-2")
    written = [t for t, outcome in zip(tokens, steps.values(), strict=False) if outcome == "ok"]
    seen = result["seen"]
    lost = [t for t in ["parent", *written] if t not in seen["tokens"]]
    if lost:
        found.append(
            f"rows {lost} were written without error but a new process does not see them "
            f"(tokens there: {seen['tokens']})"
        )
    if seen["integrity"] != ["ok"]:
        found.append(f"integrity_check says {seen['integrity']}")
    if locks_checked and "child-1" in written:
        probe = result["probe after the parent closed"]
        for lock in ("db SHARED range", "-shm DMS (byte 128)"):
            if probe[lock] != "locked":
                found.append(
                    f"the child has the database open and wrote, yet once the parent closed "
                    f"its instance a third process found the {lock} {probe[lock]}: the "
                    "child's connection holds no real lock"
                )
        gone = [s for s, there in result["companions after the parent closed"].items() if not there]
        if gone:
            found.append(f"{gone} were deleted when the parent closed, under the child")
    return found


def test_child_writing_through_the_parents_instance(tmp_path: Path) -> None:
    result = run_worker("fork_worker.py", "same_instance", str(tmp_path / "unified.db"))
    found = _judge(result, locks_checked=False)
    assert not found, "\n".join(f"- {f}" for f in found) + f"\nchild: {result['child']}"


def test_child_opening_a_new_instance_while_the_parent_has_one(tmp_path: Path) -> None:
    result = run_worker("fork_worker.py", "new_instance", str(tmp_path / "unified.db"))
    found = _judge(result, locks_checked=True)
    assert not found, "\n".join(f"- {f}" for f in found) + f"\nchild: {result['child']}"
