"""Lock canary: no entry point releases the locks a transaction of another thread holds.

In a fresh process per case (a lost lock stays lost), thread A holds ``db.transaction()`` on
the unified database (WAL mode, ``UnifiedDatabase``) and a write transaction on the WAL-mode
store (plain sqlite3, as legacy code holds it), a row written in each. A separate process,
which never has the databases open through SQLite while it probes, tries non-blocking
fcntl write locks on the database's SHARED range (0x40000002, 510 bytes), on ``-shm`` byte
120 (the WAL write lock) and 128 (DMS), then ``BEGIN IMMEDIATE`` with a 0.1 s timeout. It
probes before and after thread B runs the entry point: the two must agree. (``BEGIN
IMMEDIATE`` alone would not do: in WAL mode it still says "locked" once the SHARED lock is
gone.) Then A commits, and a new process must see A's rows.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from safety_support import (
    ENTRY_POINTS,
    LOCKED,
    POSIX,
    SKIP_REASON,
    copy_project,
    describe,
    prepare_case,
    run_worker,
)

pytestmark = pytest.mark.skipif(not POSIX, reason=SKIP_REASON)


@pytest.mark.parametrize("case", ENTRY_POINTS)
def test_entry_point_keeps_the_locks_of_a_running_transaction(
    case: str, base_project: Path, tmp_path: Path
) -> None:
    project = copy_project(base_project, tmp_path / "project")
    prepare_case(case, project)
    result = run_worker("lock_worker.py", "canary", case, str(project.root), str(tmp_path))
    story = describe(result)
    assert not result["a_error"], f"thread A failed: {result['a_error']}\n{story}"
    found: list[str] = []
    for db in result["held"]:
        name = Path(db).relative_to(project.root).as_posix()
        before, after = result["before"][db], result["after"][db]
        assert before == LOCKED, f"{name}: the canary's transaction did not hold {before}"
        lost = {k: f"{before[k]} -> {after[k]}" for k in before if after[k] != before[k]}
        if lost:
            found.append(f"the locks of thread A's transaction on {name} changed: {lost}")
    for db in result["held"]:
        name = Path(db).relative_to(project.root).as_posix()
        seen = result["seen"][db]
        if result["token"] not in seen["tokens"]:
            found.append(
                f"thread A's committed row is not visible in {name} to a new process "
                f"(tokens there: {seen['tokens']})"
            )
        if seen["integrity"] != ["ok"]:
            found.append(f"{name}: integrity_check says {seen['integrity']}")
    assert not found, f"{case}:\n" + "\n".join(f"- {f}" for f in found) + f"\n{story}"
