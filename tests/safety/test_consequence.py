"""After each entry point the host program's databases still work with other processes.

In a fresh process per case, the host holds the unified database (``UnifiedDatabase``) and
the WAL-mode store (sqlite3) with rows committed and several connections open; the entry
point runs (writing where it can). Then another process connects to each, writes and
closes. If the host's locks were gone, that last close would checkpoint and delete ``-wal``
and ``-shm`` under the host's open connections. So: both files must still exist, the
host's next commit must be visible to a new process, and no row may be missing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from safety_support import (
    CANARY,
    ENTRY_POINTS,
    POSIX,
    SKIP_REASON,
    copy_project,
    describe,
    prepare_case,
    run_worker,
)

pytestmark = pytest.mark.skipif(not POSIX, reason=SKIP_REASON)


@pytest.mark.parametrize("case", ENTRY_POINTS)
def test_other_processes_cannot_pull_the_wal_away(
    case: str, base_project: Path, tmp_path: Path
) -> None:
    project = copy_project(base_project, tmp_path / "project")
    prepare_case(case, project)
    result = run_worker("lock_worker.py", "consequence", case, str(project.root), str(tmp_path))
    story = describe(result)
    outcome = result["b"].get("outcome", "")
    assert not outcome.startswith(("error:", "still running")), story
    found: list[str] = []
    for db in result["held"]:
        name = Path(db).relative_to(project.root).as_posix()
        gone = [s for s, there in result["companions"][db].items() if not there]
        if gone:
            found.append(
                f"after another process wrote to {name} and closed, {gone} were gone "
                "although this process still has connections to it"
            )
    if result["a_error"]:
        found.append(f"the host's next commit failed: {result['a_error']}")
    for db in result["held"]:
        name = Path(db).relative_to(project.root).as_posix()
        seen = result["seen"][db]
        want = dict(result["believed"][db])
        want[CANARY] = want.get(CANARY, 0) + 2  # the other process's row, the host's next
        missing = [t for t in ("first", "other", "next") if t not in seen["tokens"]]
        if missing:
            found.append(
                f"rows {missing} are not visible in {name} to a new process "
                f"(tokens there: {seen['tokens']})"
            )
        if seen["counts"] != want:
            found.append(
                f"a new process sees other rows in {name} than the host committed: "
                f"new process {seen['counts']}, host {want}"
            )
        if seen["integrity"] != ["ok"]:
            found.append(f"{name}: integrity_check says {seen['integrity']}")
    assert not found, f"{case}:\n" + "\n".join(f"- {f}" for f in found) + f"\n{story}"
