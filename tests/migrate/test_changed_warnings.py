"""'Changed since the analysis' is said when rows changed, never because a -wal came or went."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

from conftest import prepare
from dbfold.migrate import migrate

_HOLD = """
import sqlite3, sys
con = sqlite3.connect(sys.argv[1])
con.execute("PRAGMA wal_autocheckpoint=0")
con.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(500)])
con.commit()
sys.stdout.write("ready\\n"); sys.stdout.flush()
sys.stdin.readline()
"""


def _project(root: Path) -> Path:
    root.mkdir(parents=True)
    db = root / "data.db"
    with closing(sqlite3.connect(db)) as con:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("CREATE TABLE t (x INTEGER)")
        con.commit()
    return db


def _changed(messages: list[str]) -> list[str]:
    return [m for m in messages if "changed since the analysis" in m]


def test_a_checkpoint_after_the_analysis_is_not_a_change(tmp_path: Path) -> None:
    root = tmp_path / "p"
    db = _project(root)
    # Another program holds the database with its rows still in the -wal when it is analysed.
    writer = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert writer.stdout is not None and writer.stdin is not None
    assert writer.stdout.readline() == b"ready\n"
    plan, analysis = prepare(root)
    (store,) = analysis.stores
    assert store.sqlite is not None and store.sqlite.wal_bytes > 0
    # It checkpoints and exits: the file's bytes move, no row changed.
    writer.stdin.write(b"\n")
    writer.stdin.close()
    writer.wait()
    assert not Path(f"{db}-wal").exists()
    dry = migrate(plan, analysis, root)
    assert _changed([p.message for p in dry.problems]) == []
    done = migrate(plan, analysis, root, execute=True)
    assert _changed([p.message for p in done.problems]) == []
    assert done.verify is not None and done.verify.ok


def test_new_rows_after_the_analysis_are_a_change(tmp_path: Path) -> None:
    root = tmp_path / "p"
    db = _project(root)
    plan, analysis = prepare(root)
    with closing(sqlite3.connect(db)) as con:
        con.execute("INSERT INTO t VALUES (1)")
        con.commit()
    dry = migrate(plan, analysis, root)
    (message,) = _changed([p.message for p in dry.problems])
    assert "0 → 1 rows" in message
