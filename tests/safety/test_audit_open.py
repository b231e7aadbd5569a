"""No entry point opens, with plain file I/O, a SQLite database (or its ``-shm``) that this
process has open through sqlite3.

On POSIX, closing any descriptor of a file releases every fcntl lock the process holds on
it, the locks of SQLite connections in other threads included (sqlite.org/howtocorrupt.html
§2.2). So while the host program holds connections to the stores and to the unified
database, every public entry point runs under an audit hook that fails the test on any
Python-level ``open`` event (builtins ``open``, ``io.open``, ``os.open``, ``Path.open`` /
``read_bytes``, ``shutil`` copies) of one of those files, naming the innermost dbfold frame.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from safety_support import (
    ENTRY_POINTS,
    POSIX,
    SKIP_REASON,
    SQLITE_STORES,
    copy_project,
    describe_error,
    hold_sqlite,
    prepare_case,
    run_entry,
    unique,
    watching,
)

from dbfold import UnifiedDatabase
from dbfold.errors import DbfoldError

pytestmark = pytest.mark.skipif(not POSIX, reason=SKIP_REASON)


@pytest.mark.parametrize("case", ENTRY_POINTS)
def test_entry_point_never_opens_a_held_database(
    case: str, base_project: Path, tmp_path: Path
) -> None:
    project = copy_project(base_project, tmp_path / "project")
    prepare_case(case, project)
    # The host program: its own UnifiedDatabase (backup is a method of it), then a plain
    # sqlite3 connection to every SQLite store and to the unified database, each with a
    # read done, so their locks (and in WAL mode the -shm) exist.
    host = UnifiedDatabase(project.target) if case == "backup" else None
    held = [project.root / s for s in SQLITE_STORES]
    if project.target.exists():
        held.append(project.target)
    conns = [hold_sqlite(p) for p in held]
    outcome = ""
    try:
        with watching(held, project.root) as hits:
            try:
                outcome = run_entry(case, project, host=host, write=True, scratch=tmp_path)
            except DbfoldError as exc:
                # Refusing to replace a foreign target the process has open is fine;
                # anything else must work while the host holds its connections.
                if case != "migrate_force":
                    raise
                outcome = describe_error(exc)
    finally:
        for con in conns:
            con.close()
        if host is not None:
            host.close()
    assert not hits, (
        f"{case} ({outcome}): plain file I/O on a database this process has open through "
        "sqlite3; closing that descriptor drops every fcntl lock the process holds on the "
        "file:\n" + "\n".join(unique(hits))
    )
