"""The target's lifecycle: stale companions, one run at a time, backups, a target in use,
full and read-only disks, a removed folder, a damaged build.

Each test drives the public API (`dbfold.migrate.migrate`, `verify`, `optimize`) or the CLI
(`python -m dbfold`), as a user would.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import dbfold.migrate.target as target_mod
from cli_support import ENV
from cli_support import run as _cli
from dbfold.demo import build_sample_project
from dbfold.errors import MigrateError, OptimizeError
from dbfold.migrate import MigrationReport, migrate, verify
from dbfold.migrate.target import integrity
from dbfold.model import Analysis
from dbfold.optimize import optimize
from dbfold.plan import Plan
from dbfold.units import human_bytes

Sample = tuple[Path, Plan, Analysis]
Prep = Callable[[Path], tuple[Plan, Analysis]]


# -- helpers ------------------------------------------------------------------------------


def _child(code: str, returncode: int = 0) -> None:
    """Run Python code in a child process (it may die on purpose, leaving files behind)."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == returncode, done.stderr


def _hot_journal_of_another_database(folder: Path) -> Path:
    """A valid hot ``-journal`` left by a process that died inside a transaction."""
    other = folder / "other.db"
    _child(
        f"""
        import os, sqlite3
        con = sqlite3.connect({str(other)!r}, isolation_level=None)
        con.execute("PRAGMA cache_size = 2")  # spill: the journal fills while changing
        con.execute("CREATE TABLE t (x)")
        con.executemany("INSERT INTO t VALUES (randomblob(800))", [()] * 500)
        con.execute("BEGIN")
        con.execute("UPDATE t SET x = randomblob(900)")
        os._exit(0)
        """
    )
    return Path(f"{other}-journal")


def _wal_of_another_database(folder: Path, rows: int = 500) -> Path:
    """A ``-wal`` full of committed frames that were never checkpointed."""
    other = folder / "other-wal.db"
    _child(
        f"""
        import os, sqlite3
        con = sqlite3.connect({str(other)!r}, isolation_level=None)
        con.execute("PRAGMA journal_mode = WAL")
        con.execute("PRAGMA wal_autocheckpoint = 0")
        con.execute("CREATE TABLE t (x)")
        con.executemany("INSERT INTO t VALUES (randomblob(800))", [()] * {rows})
        os._exit(0)
        """
    )
    return Path(f"{other}-wal")


def _counts(path: Path) -> dict[str, int]:
    with sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True) as con:
        names = [
            n
            for (n,) in con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        out = {n: con.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}
    con.close()
    return out


def _assert_exactly_migrated(report: MigrationReport, plan: Plan, root: Path) -> None:
    """The target holds the plan's tables, each with the rows verify counted from the sources."""
    target = root / plan.target
    check = verify(plan, root, target)
    assert check.ok, (check.mismatches, check.problems)
    counts = _counts(target)
    assert {t.name for t in plan.tables} <= set(counts)
    per_table: dict[str, int] = {}
    for c in check.checks:
        per_table[c.target] = per_table.get(c.target, 0) + c.target_rows
    for table, rows in per_table.items():
        assert counts[table] == rows, table
    assert report.verify is not None and report.verify.ok


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _foreign(path: Path, rows: int = 20, *, wal: bool = False) -> None:
    con = sqlite3.connect(path, isolation_level=None)
    if wal:
        con.execute("PRAGMA journal_mode = WAL")
    con.execute("CREATE TABLE mine (x)")
    con.executemany("INSERT INTO mine VALUES (?)", [(i,) for i in range(rows)])
    con.close()


# -- stale companions ---------------------------------------------------------------------


def test_stale_journal_and_wal_are_not_applied_to_the_new_target(sample: Sample) -> None:
    """A new target put where another database left a hot -journal and a -wal keeps its rows.

    Renamed over such a path, the new file would be "rolled back" with the other
    database's pages and read through the other database's log.
    """
    root, plan, analysis = sample
    target = root / plan.target
    target.parent.mkdir(parents=True, exist_ok=True)
    junk = root.parent / "junk"
    junk.mkdir()
    os.replace(_hot_journal_of_another_database(junk), f"{target}-journal")
    os.replace(_wal_of_another_database(junk), f"{target}-wal")
    report = migrate(plan, analysis, root, execute=True)
    _assert_exactly_migrated(report, plan, root)
    assert "t" not in _counts(target)  # nothing of the other database came through
    assert not Path(f"{target}-journal").exists()
    assert not Path(f"{target}-wal").exists()


def test_build_killed_inside_a_copy_resumes(sample: Sample) -> None:
    """kill -9 inside a source's transaction leaves a hot journal on the build and a lock
    file: the next run takes the lock, lets SQLite roll the copy back, keeps the sources
    committed before it (not copied again) and finishes."""
    root, plan, analysis = sample
    target = root / plan.target
    _child(
        f"""
        import os
        from pathlib import Path
        from dbfold.migrate import migrate
        from dbfold.plan import Plan
        from dbfold.state import load_analysis, plan_path

        root = Path({str(root)!r})

        class DieInThirdCopy:
            finished = 0
            def start(self, label, rows, nbytes): pass
            def advance(self, rows, nbytes):
                if self.finished >= 2:
                    os._exit(9)  # inside the third source's transaction
            def done(self): self.finished += 1

        plan = Plan.from_json(plan_path(root).read_bytes())
        migrate(plan, load_analysis(root), root, execute=True, progress=DieInThirdCopy())
        """,
        returncode=9,
    )
    build = Path(f"{target}{target_mod.TMP_SUFFIX}")
    assert Path(f"{build}-journal").exists()
    report = migrate(plan, analysis, root, execute=True)
    statuses = [s.status for s in report.sources if s.status != "skipped"]
    assert statuses[:2] == ["unchanged", "unchanged"], statuses
    _assert_exactly_migrated(report, plan, root)
    assert not list(target.parent.glob(target.name + ".dbfold-*"))


def test_hot_journal_on_a_dbfold_target(sample: Sample) -> None:
    """A dry run says so and leaves it; --execute lets SQLite roll it back, then goes on."""
    root, plan, analysis = sample
    migrate(plan, analysis, root, execute=True)
    target = root / plan.target
    before = _counts(target)
    table = plan.tables[0].name
    _child(
        f"""
        import os, sqlite3
        con = sqlite3.connect({str(target)!r}, isolation_level=None)
        con.execute("PRAGMA cache_size = 1")
        con.execute("BEGIN")
        con.execute('DELETE FROM "{table}"')
        con.execute("CREATE TABLE half_done (x)")
        os._exit(0)
        """
    )
    journal = Path(f"{target}-journal")
    assert journal.exists()
    digest = _sha(journal)
    dry = migrate(plan, analysis, root)
    assert any("hot journal" in p.message for p in dry.problems)
    assert not any("not made by dbfold" in p.message for p in dry.problems)
    assert _sha(journal) == digest  # the dry run changed nothing
    report = migrate(plan, analysis, root, execute=True)
    assert report.mode == "incremental"
    assert not journal.exists()
    assert _counts(target) == before  # the interrupted delete was rolled back
    _assert_exactly_migrated(report, plan, root)


# -- one run at a time --------------------------------------------------------------------


def _slow_migrate(root: Path, ready: Path, go: Path) -> subprocess.Popen[str]:
    """`dbfold migrate --execute` in a child, held just before verification until ``go``."""
    code = f"""
        import sys, time
        from pathlib import Path
        import dbfold.migrate.runner as runner
        from dbfold.cli import main

        real = runner.verify

        def slow(*args, **kwargs):  # hold the run here until the test says go
            Path({str(ready)!r}).touch()
            while not Path({str(go)!r}).exists():
                time.sleep(0.05)
            return real(*args, **kwargs)

        runner.verify = slow
        sys.argv = ["dbfold", "migrate", "--execute", "-q"]
        main()
        """
    for p in (ready, go):
        p.unlink(missing_ok=True)
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=root,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not ready.exists():
        if child.poll() is not None or time.monotonic() > deadline:
            child.kill()
            raise AssertionError(f"the first migrate never got going: {child.communicate()}")
        time.sleep(0.05)
    return child


def _finish(child: subprocess.Popen[str], go: Path) -> None:
    go.touch()
    out, err = child.communicate(timeout=180)
    assert child.returncode in (0, 1), out + err


def test_two_migrates_at_once(sample: Sample) -> None:
    """While one migrate --execute runs, a second one (and optimize) fail clearly, exit 2."""
    root, plan, _analysis = sample
    target = root / plan.target
    build = Path(f"{target}{target_mod.TMP_SUFFIX}")
    ready, go = root.parent / "ready", root.parent / "go"
    child = _slow_migrate(root, ready, go)  # a new build, held before its verification
    try:
        built = _sha(build)
        second = _cli(root, "migrate", "--execute")
        assert second.returncode == 2, second.stdout + second.stderr
        assert "another dbfold run" in second.stderr
        assert f"pid {child.pid}" in second.stderr and "migrate --execute" in second.stderr
        assert second.stderr.count("\n") == 1
        assert _sha(build) == built and not target.exists()  # the second changed nothing
    finally:
        _finish(child, go)
    assert _cli(root, "verify", "-q").returncode == 0

    child = _slow_migrate(root, ready, go)  # an incremental run of the existing target
    try:
        digest = _sha(target)
        third = _cli(root, "optimize", str(target))
        assert third.returncode == 2, third.stdout + third.stderr
        assert f"pid {child.pid}" in third.stderr and "another dbfold run" in third.stderr
        assert _sha(target) == digest
    finally:
        _finish(child, go)
    assert _cli(root, "verify", "-q").returncode == 0
    assert not Path(f"{target}.dbfold-lock").exists()


# -- the old target: backup, in use -------------------------------------------------------


def test_force_backup_includes_rows_still_in_the_wal(sample: Sample) -> None:
    root, plan, analysis = sample
    target = root / plan.target
    target.parent.mkdir(parents=True, exist_ok=True)
    _child(
        f"""
        import os, sqlite3
        con = sqlite3.connect({str(target)!r}, isolation_level=None)
        con.execute("PRAGMA journal_mode = WAL")
        con.execute("PRAGMA wal_autocheckpoint = 0")
        con.execute("CREATE TABLE mine (x)")
        con.executemany("INSERT INTO mine VALUES (?)", [(i,) for i in range(300)])
        os._exit(0)  # the rows are committed, but only in the -wal
        """
    )
    assert Path(f"{target}-wal").stat().st_size > 0
    report = migrate(plan, analysis, root, execute=True, force=True)
    assert report.backup is not None
    backup = Path(report.backup)
    assert _counts(backup) == {"mine": 300}
    assert not list(backup.parent.glob("*.partial*"))
    assert not Path(f"{backup}-wal").exists()  # one self-contained file
    _assert_exactly_migrated(report, plan, root)
    assert not Path(f"{target}-wal").exists() and not Path(f"{target}-shm").exists()


@pytest.mark.parametrize("how", ["wal-idle", "rollback-reading"])
def test_target_open_in_another_process_is_refused(sample: Sample, how: str) -> None:
    root, plan, analysis = sample
    target = root / plan.target
    target.parent.mkdir(parents=True, exist_ok=True)
    _foreign(target, wal=how == "wal-idle")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sqlite3, sys
                con = sqlite3.connect({str(target)!r}, isolation_level=None)
                if {how == "rollback-reading"}:
                    con.execute("BEGIN")  # a read transaction: a SHARED lock
                con.execute("SELECT count(*) FROM mine").fetchone()
                print("ready", flush=True)
                sys.stdin.readline()
                """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(MigrateError, match="another program has it open") as err:
            migrate(plan, analysis, root, execute=True, force=True)
        assert str(target) in str(err.value) and "Stop the program" in str(err.value)
        assert _counts(target) == {"mine": 20}
        assert not (root / ".dbfold" / "backups").exists() or not list(
            (root / ".dbfold" / "backups").iterdir()
        )
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(timeout=30)
    report = migrate(plan, analysis, root, execute=True, force=True)
    assert report.backup is not None and _counts(Path(report.backup)) == {"mine": 20}
    _assert_exactly_migrated(report, plan, root)


# -- a damaged build ----------------------------------------------------------------------


def _damage_an_index(path: Path) -> None:
    """What an OS crash under synchronous=OFF can do: one page of an index written wrong."""
    with sqlite3.connect(path) as con:
        page_size = con.execute("PRAGMA page_size").fetchone()[0]
        (root_page,) = con.execute(
            "SELECT rootpage FROM sqlite_master WHERE type = 'index' ORDER BY rootpage LIMIT 1"
        ).fetchone()
    con.close()
    with open(path, "r+b") as f:  # no connection of this process is open on it now
        f.seek((root_page - 1) * page_size)
        f.write(b"\x0d")  # an index page that claims to be a table leaf


def test_integrity_failure_before_the_rename(
    sample: Sample, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, plan, analysis = sample
    target = root / plan.target
    target.parent.mkdir(parents=True, exist_ok=True)
    _foreign(target)
    digest = _sha(target)
    real = integrity

    def damage_then_check(work: Path) -> str | None:
        # Damage left by the copy (or by a crash of an earlier run that this one resumed):
        # integrity_check, which runs beside verify, names it whatever verify made of it.
        _damage_an_index(work)
        return real(work)

    monkeypatch.setattr("dbfold.migrate.runner.integrity", damage_then_check)
    report = migrate(plan, analysis, root, execute=True, force=True)
    assert not report.ok
    assert any("integrity_check" in p.message for p in report.problems)
    assert all("\n" not in p.message for p in report.problems)
    assert _sha(target) == digest  # the old target was not replaced
    assert not list(target.parent.glob(target.name + ".dbfold-tmp*"))
    monkeypatch.undo()
    again = migrate(plan, analysis, root, execute=True, force=True)
    _assert_exactly_migrated(again, plan, root)


# -- faults of the target -----------------------------------------------------------------


def _fill(disk: Path, leave: int) -> None:
    """Take all but ``leave`` bytes of the disk."""
    st = os.statvfs(disk)
    free = st.f_bavail * st.f_frsize
    with open(disk / "filler", "wb") as f:
        f.write(b"\0" * max(0, free - leave))


@pytest.fixture
def bigger(tmp_path: Path, prep: Prep) -> Sample:
    """A project whose sources (~1.4 MB) do not fit on the small disk."""
    root = tmp_path / "bigger"
    build_sample_project(root, scale=0.2, seed=3)
    plan, analysis = prep(root)
    return root, plan, analysis


def test_disk_full_new_target(bigger: Sample, small_disk: Path) -> None:
    root, plan, analysis = bigger
    target = small_disk / "unified.db"
    with pytest.raises(MigrateError) as err:
        migrate(plan, analysis, root, execute=True, target=str(target))
    message = str(err.value)
    assert "is full" in message and "partial build was removed" in message
    need = sum(s.bytes for s in analysis.stores if s.path in set(plan.stores))
    assert human_bytes(need) in message and "Free space" in message
    assert "\n" not in message
    assert os.listdir(small_disk) == []  # no build, no companions, no lock file


def test_disk_full_keeps_the_previous_target(bigger: Sample, small_disk: Path) -> None:
    root, plan, analysis = bigger
    target = small_disk / "unified.db"
    _foreign(target)
    digest = _sha(target)
    with pytest.raises(MigrateError, match="is full") as err:
        migrate(plan, analysis, root, execute=True, target=str(target), force=True)
    assert "unified.db was not changed" in str(err.value)
    assert sorted(os.listdir(small_disk)) == ["unified.db"]
    assert _sha(target) == digest
    backups = root / ".dbfold" / "backups"
    assert not backups.exists() or not list(backups.iterdir())


def test_disk_full_incremental_run(sample: Sample, small_disk: Path) -> None:
    root, plan, analysis = sample
    target = small_disk / "unified.db"
    first = migrate(plan, analysis, root, execute=True, target=str(target))
    assert first.verify is not None and first.verify.ok
    before = _counts(target)
    _fill(small_disk, 4096)
    with sqlite3.connect(root / "data/metrics.db") as con:
        con.executemany(
            "INSERT INTO metrics (name, ts, value) VALUES (?, ?, ?)",
            [(f"late-{i}" * 20, 10_000 + i, 1.0) for i in range(5000)],
        )
    con.close()
    with pytest.raises(MigrateError, match="is full") as err:
        migrate(plan, analysis, root, execute=True, target=str(target))
    assert "rolled back" in str(err.value)
    assert sorted(os.listdir(small_disk)) == ["filler", "unified.db"]
    assert _counts(target) == before
    with sqlite3.connect(target) as con:
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    con.close()


def test_optimize_on_a_full_disk(sample: Sample, small_disk: Path) -> None:
    root, plan, analysis = sample
    target = small_disk / "unified.db"
    migrate(plan, analysis, root, execute=True, target=str(target))
    with sqlite3.connect(target) as con:  # leave free pages for VACUUM to move
        con.execute(f'DELETE FROM "{plan.tables[0].name}" WHERE rowid % 2 = 0')
    con.close()
    before = _counts(target)
    _fill(small_disk, 8192)
    with pytest.raises(OptimizeError, match="is full") as err:
        optimize(target)
    assert "run optimize again" in str(err.value)
    assert sorted(os.listdir(small_disk)) == ["filler", "unified.db"]
    assert _counts(target) == before
    (small_disk / "filler").unlink()
    assert optimize(target).ok


def test_optimize_on_a_read_only_disk(sample: Sample, small_disk: Path) -> None:
    root, plan, analysis = sample
    target = small_disk / "unified.db"
    migrate(plan, analysis, root, execute=True, target=str(target))
    done = subprocess.run(
        ["mount", "-o", "remount,ro", str(small_disk)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot remount read-only: {done.stderr.strip()}")
    with pytest.raises(OptimizeError, match="read-only"):
        optimize(target)
    with pytest.raises(MigrateError, match="read-only"):
        migrate(plan, analysis, root, execute=True, target=str(target))


def test_read_only_at_the_rename(sample: Sample, monkeypatch: pytest.MonkeyPatch) -> None:
    """EROFS where it can still happen once the build's file is closed: the rename."""
    root, plan, analysis = sample
    target = root / plan.target
    real = os.replace

    def read_only(src: object, dst: object) -> None:
        if Path(str(dst)) == target:
            raise OSError(errno.EROFS, "Read-only file system", str(dst))
        real(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "replace", read_only)
    with pytest.raises(MigrateError, match="read-only") as err:
        migrate(plan, analysis, root, execute=True)
    assert "Remount it read-write" in str(err.value)
    assert not target.exists()
    assert not list(target.parent.glob(target.name + "*"))


class _RemoveFolderAfter:
    """Progress that removes the target folder once ``n`` copies are done."""

    def __init__(self, folder: Path, n: int) -> None:
        self.folder, self.n = folder, n

    def start(self, label: str, rows: int, nbytes: int) -> None:
        pass

    def advance(self, rows: int, nbytes: int) -> None:
        pass

    def done(self) -> None:
        self.n -= 1
        if self.n == 0:
            shutil.rmtree(self.folder)


def test_target_folder_removed_mid_run(sample: Sample, tmp_path: Path) -> None:
    root, plan, analysis = sample
    folder = tmp_path / "out"
    with pytest.raises(MigrateError, match="removed or moved") as err:
        migrate(
            plan,
            analysis,
            root,
            execute=True,
            target=str(folder / "unified.db"),
            progress=_RemoveFolderAfter(folder, 3),
        )
    assert "Run migrate --execute again" in str(err.value)
    assert not folder.exists()
    report = migrate(plan, analysis, root, execute=True, target=str(folder / "unified.db"))
    assert report.verify is not None and report.verify.ok
