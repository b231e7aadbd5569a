"""Worker of the fork tests: a parent that uses a ``UnifiedDatabase`` forks a child.

    python fork_worker.py same_instance|new_instance DATABASE

POSIX locks are not inherited by a forked child, but SQLite's per-inode lock bookkeeping
(process memory) is: a connection the child opens to a file its parent had open believes
the locks are already held and takes none (sqlite.org/howtocorrupt.html §2.7). When the
parent then closes its last connection, it gets the EXCLUSIVE lock, checkpoints and deletes
``-wal`` and ``-shm`` under the child, whose later writes go to deleted files.

same_instance: the child writes through the parent's object, the parent closes it, the child
writes again. new_instance: the child opens a new ``UnifiedDatabase`` on the file while the
parent's is still open and writes; the parent closes its own; a third process probes the
locks (only the child can hold them now); the child writes again.

Runs in a fresh interpreter (the test process itself is never forked). Prints one JSON line.
"""

from __future__ import annotations

import json
import os
import select
import sys
import traceback
from pathlib import Path
from typing import Any

from safety_support import CANARY, CANARY_DDL, look, probe_locks

from dbfold import UnifiedDatabase
from dbfold.errors import DbfoldError

WAIT = 30.0


def _send(fd: int) -> None:
    os.write(fd, b"x")


def _wait(fd: int) -> bool:
    ready, _, _ = select.select([fd], [], [], WAIT)
    return bool(ready) and os.read(fd, 1) == b"x"


def _attempt(action: Any) -> str:
    try:
        action()
    except DbfoldError as exc:
        return f"refused: {type(exc).__name__}: {exc}"
    except BaseException as exc:
        return f"error: {type(exc).__name__}: {exc}\n{traceback.format_exc()}"
    return "ok"


def run(scenario: str, path: Path) -> dict[str, Any]:
    db = UnifiedDatabase(path)
    db.execute(CANARY_DDL)
    db.insert(CANARY, token="parent", who="parent")
    db.scalar(f"SELECT count(*) FROM {CANARY}")
    to_parent_r, to_parent_w = os.pipe()
    to_child_r, to_child_w = os.pipe()
    report = Path(f"{path}.child.json")
    pid = os.fork()
    if pid == 0:  # the child
        status = 1
        try:
            steps: dict[str, str] = {}
            own: list[UnifiedDatabase] = []
            if scenario == "same_instance":
                steps["first write"] = _attempt(lambda: db.insert(CANARY, token="child-1", who="c"))
                target = db
            else:

                def open_and_write() -> None:
                    own.append(UnifiedDatabase(path))
                    own[0].insert(CANARY, token="child-1", who="child")
                    own[0].scalar(f"SELECT count(*) FROM {CANARY}")

                steps["open a new instance and write"] = _attempt(open_and_write)
                target = own[0] if own else db
            _send(to_parent_w)
            if not _wait(to_child_r):
                steps["second write"] = "error: the parent never closed its instance"
            elif all(s == "ok" for s in steps.values()):
                steps["second write"] = _attempt(
                    lambda: target.insert(CANARY, token="child-2", who="child")
                )
            for other in own:
                _attempt(other.close)
            report.write_text(json.dumps(steps))
            status = 0
        finally:
            os._exit(status)
    # the parent
    result: dict[str, Any] = {}
    if not _wait(to_parent_r):
        result["parent"] = "the child never wrote"
    db.close()
    # The parent holds nothing now: whatever locks a third process finds are the child's.
    result["probe after the parent closed"] = probe_locks([path])[str(path)]
    result["companions after the parent closed"] = {
        s: Path(f"{path}{s}").exists() for s in ("-wal", "-shm")
    }
    _send(to_child_w)
    _, code = os.waitpid(pid, 0)
    result["child exit"] = code
    result["child"] = json.loads(report.read_text()) if report.exists() else {}
    result["seen"] = look([path])[str(path)]
    return result


def main() -> None:
    scenario, path = sys.argv[1], Path(sys.argv[2])
    print(json.dumps(run(scenario, path)))


if __name__ == "__main__":
    main()
