"""Issue 11: SQLite damage that test_sqlite_damage.py does not make, generated here.

- a ``-wal`` with a bad checksum: SQLite replays frames up to the first bad one and silently
  ignores the rest, committed transactions included. analyze reads the log's header and
  frame checksums (a ``-wal`` may be read with plain file I/O, ARCHITECTURE.md rule 1) and
  says, in one line, how many committed frames SQLite will not replay. A bad frame with no
  commit after it (what a crash mid-write leaves) and frames left from before the log was
  restarted are not losses and say nothing;
- a folder named like a database (``data/x.db/``);
- garbage after a valid 100-byte header.

Each is one problem naming the file and what to do, and the other store of the project
still migrates.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from dbfold.design import design
from dbfold.migrate import migrate
from dbfold.model import Analysis
from dbfold.scan import analyze

PAGE = 4096
FRAME = 24 + PAGE


def _good(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(root / "good.db")) as con:
        con.executescript("CREATE TABLE g(x); INSERT INTO g VALUES (1), (2), (3);")
        con.commit()


def _fingerprint(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".dbfold" not in p.parts
    }


def _good_still_migrates(root: Path, analysis: Analysis) -> None:
    plan = design(analysis)
    report = migrate(plan, analysis, root, execute=True)
    assert report.verify is not None and report.verify.ok, report.verify
    with closing(sqlite3.connect(root / plan.target)) as con:
        assert con.execute('SELECT count(*) FROM "g"').fetchone() == (3,)


def _wal_db(
    tmp: Path, dest: Path, batches: list[int], *, restart_after: int | None = None
) -> list[int]:
    """Copy a WAL database whose rows are still in its ``-wal`` (no ``-shm``: nothing has it
    open) to ``dest``; one transaction per batch. Returns the frames in the ``-wal`` after
    each transaction (its commit frame, while the log only grows).

    With ``restart_after``, the log is checkpointed after that many transactions and the
    next one restarts it from frame 1 (the older frames stay in the file after it).
    """
    src = tmp / "src.db"
    con = sqlite3.connect(src, isolation_level=None)
    try:
        con.execute(f"PRAGMA page_size={PAGE}")
        con.execute("PRAGMA journal_mode=wal")
        con.execute("PRAGMA wal_autocheckpoint=0")
        con.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)")
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        commits = []
        for k, n in enumerate(batches):
            if restart_after is not None and k == restart_after:
                con.execute("PRAGMA wal_checkpoint(PASSIVE)")
            con.execute("BEGIN")
            con.executemany("INSERT INTO t(v) VALUES (?)", [("v" * 300,)] * n)
            con.execute("COMMIT")
            commits.append((Path(f"{src}-wal").stat().st_size - 32) // FRAME)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        shutil.copyfile(f"{src}-wal", f"{dest}-wal")
    finally:
        con.close()
    return commits


def _flip(path: Path, offset: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0xFF
    path.write_bytes(bytes(raw))


def _frame_data(frame: int) -> int:
    """Offset of a byte inside the page of ``frame`` (1-based)."""
    return 32 + (frame - 1) * FRAME + 24 + 1000


def test_wal_frames_after_a_bad_checksum_are_reported(tmp_path: Path) -> None:
    root = tmp_path / "p"
    _good(root)
    db = root / "data" / "x.db"
    commits = _wal_db(tmp_path, db, [40, 40, 40, 40])
    bad = commits[1] + 1  # the first frame of the third transaction
    _flip(db.with_name("x.db-wal"), _frame_data(bad))
    before = _fingerprint(root)
    analysis = analyze(root)
    assert _fingerprint(root) == before  # nothing read it through SQLite in place
    (problem,) = analysis.all_problems
    assert problem.path == "data/x.db" and problem.severity == "error"
    message = problem.message
    assert message.startswith("data/x.db: its -wal holds ") and "\n" not in message
    lost = commits[-1] - commits[1]
    assert f"{lost} frames of 2 committed transactions that SQLite will not replay" in message
    assert f"frame {bad} has a bad checksum" in message
    assert "copy data/x.db and data/x.db-wal aside" in message
    # What SQLite replays is what is analysed (and migrated): the first two transactions.
    (table,) = analysis.store("data/x.db").tables
    assert table.rows == 80
    _good_still_migrates(root, analysis)


def test_a_wal_whose_header_checksum_is_bad_is_reported(tmp_path: Path) -> None:
    root = tmp_path / "p"
    _good(root)
    db = root / "x.db"
    commits = _wal_db(tmp_path, db, [30, 30])
    _flip(db.with_name("x.db-wal"), 12)  # the checkpoint sequence: the header's checksum fails
    analysis = analyze(root)
    (problem,) = analysis.all_problems
    assert problem.message.startswith("x.db: its -wal holds ")
    assert "the log's header has a bad checksum" in problem.message
    assert f"holds {commits[-1]} frames of 2 committed transactions" in problem.message
    assert analysis.store("x.db").tables[0].rows == 0
    _good_still_migrates(root, analysis)


@pytest.mark.parametrize("case", ["sound", "torn_last_frame", "restarted_log"])
def test_a_wal_that_loses_nothing_committed_says_nothing(tmp_path: Path, case: str) -> None:
    root = tmp_path / "p"
    _good(root)
    db = root / "x.db"
    if case == "restarted_log":
        # 400 rows, checkpointed; 10 more restart the log: the old frames stay behind them.
        commits = _wal_db(tmp_path, db, [400, 10], restart_after=1)
        assert commits[0] == commits[1] > 10  # the file did not grow: written over from frame 1
        rows = 410
    else:
        commits = _wal_db(tmp_path, db, [30, 30])
        rows = 60
    if case == "torn_last_frame":
        # The last commit frame damaged, nothing after it: what a crash mid-write leaves.
        # SQLite drops that transaction; that is not a loss analyze can tell from a crash.
        _flip(db.with_name("x.db-wal"), _frame_data(commits[-1]))
        rows = 30
    analysis = analyze(root)
    assert not analysis.all_problems, analysis.all_problems
    assert analysis.store("x.db").tables[0].rows == rows


def test_a_folder_named_like_a_database(tree: Callable[[dict[str, bytes | str]], Path]) -> None:
    root = tree({"data/x.db/notes.csv": "id,note\n1,a\n", "data/y.sqlite/.keep": ""})
    _good(root)
    analysis = analyze(root)
    problems = {p.path: p for p in analysis.all_problems}
    assert set(problems) == {"data/x.db", "data/y.sqlite"}
    for rel, p in problems.items():
        assert p.severity == "warning" and "\n" not in p.message
        assert p.message.startswith(f"{rel}: a folder, not a SQLite database file")
        assert "rename or remove the folder" in p.message
    assert analysis.store("data/x.db/notes.csv").rows == 1  # what the folder holds is read
    _good_still_migrates(root, analysis)


def _header_then_garbage(path: Path, keep: int, size: int | None = None) -> None:
    """A real database's first ``keep`` bytes (≥ its 100-byte header), then garbage."""
    src = path.with_suffix(".src")
    with closing(sqlite3.connect(src)) as con:
        con.execute(f"PRAGMA page_size={PAGE}")
        con.executescript(
            "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);"
            "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 500)"
            " INSERT INTO t SELECT i, printf('%0100d', i) FROM c;"
        )
        con.commit()
    raw = src.read_bytes()
    src.unlink()
    total = len(raw) if size is None else size
    junk = bytes((i * 7919 + 13) % 251 for i in range(total - keep))
    path.write_bytes(raw[:keep] + junk)


@pytest.mark.parametrize(
    ("keep", "size"),
    [(100, None), (100, 3 * PAGE), (100, 5000)],
    ids=["every-page-garbage", "fewer-pages", "not-whole-pages"],
)
def test_garbage_after_a_valid_header(tmp_path: Path, keep: int, size: int | None) -> None:
    root = tmp_path / "p"
    _good(root)
    _header_then_garbage(root / "bad.db", keep, size)
    analysis = analyze(root)
    (problem,) = analysis.all_problems
    assert problem.path == "bad.db" and problem.severity == "error"
    message = problem.message
    assert message.startswith("bad.db: not a readable SQLite database (") and "\n" not in message
    assert "`sqlite3 bad.db .recover | sqlite3 recovered.db`" in message
    assert "restore it from a backup or exclude it" in message
    plan = design(analysis)
    assert [e.store for e in plan.excluded] == ["bad.db"]
    _good_still_migrates(root, analysis)
