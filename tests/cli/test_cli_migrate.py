"""`dbfold migrate`, `verify` and `optimize` as a user runs them (`python -m dbfold`)."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import orjson
import pytest

from cli_support import run
from dbfold.demo import build_sample_project
from dbfold.plan import Plan


def sources(root: Path) -> dict[str, str]:
    """sha256 of every file but dbfold's state and the target folder's unified.db*."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".dbfold" not in p.parts and not p.name.startswith("unified.db")
    }


@pytest.fixture(scope="module")
def designed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-migrate") / "proj"
    build_sample_project(root, scale=0.01)
    for command in ("analyze", "design"):
        done = run(root, command, "-q")
        assert done.returncode in (0, 1), done.stderr
    assert (root / ".dbfold/plan.json").exists()
    return root


@pytest.fixture
def project(designed: Path, tmp_path: Path) -> Path:
    """A private copy of the analysed and designed sample project."""
    root = tmp_path / "proj"
    shutil.copytree(designed, root)
    return root


@pytest.fixture(scope="module")
def migrated(designed: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-migrated") / "proj"
    shutil.copytree(designed, root)
    done = run(root, "migrate", "--execute", "-q")
    assert done.returncode in (0, 1), done.stderr
    return root


def test_dry_run_writes_nothing(project: Path) -> None:
    before = sources(project)
    state = sorted(p.name for p in (project / ".dbfold").rglob("*"))
    done = run(project, "migrate")
    assert done.returncode in (0, 1), done.stderr
    assert "copy" in done.stdout
    assert not (project / "data/unified.db").exists()
    assert not list(project.rglob("*.dbfold-tmp"))
    assert sources(project) == before
    assert sorted(p.name for p in (project / ".dbfold").rglob("*")) == state


def test_dry_run_json(project: Path) -> None:
    done = run(project, "migrate", "--json")
    assert done.returncode in (0, 1), done.stderr
    data = orjson.loads(done.stdout)
    assert data["executed"] is False and data["tables"]
    assert not (project / "data/unified.db").exists()


def test_execute_json_then_verify(project: Path) -> None:
    before = sources(project)
    done = run(project, "migrate", "--execute", "--json")
    assert done.returncode in (0, 1), done.stderr
    data = orjson.loads(done.stdout)  # stdout is nothing but the JSON result
    assert data["executed"] is True
    assert data["verify"]["checks"]
    target = project / "data/unified.db"
    assert target.exists()
    assert sources(project) == before
    reports = list((project / ".dbfold/reports").glob("*-migrate.json"))
    assert len(reports) == 1
    assert orjson.loads(reports[0].read_bytes())["run_id"] == data["run_id"]

    done = run(project, "verify")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "every count and checksum matches" in done.stdout
    done = run(project, "verify", "--json")
    assert done.returncode == 0
    checks = orjson.loads(done.stdout)["checks"]
    assert checks and all(c["source_rows"] == c["target_rows"] for c in checks)


def test_verify_names_table_and_key_of_a_tampered_row(migrated: Path, tmp_path: Path) -> None:
    root = tmp_path / "proj"
    shutil.copytree(migrated, root)
    plan = Plan.from_json((root / ".dbfold/plan.json").read_bytes())
    target = root / "data/unified.db"
    con = sqlite3.connect(target)
    table = key = None
    for t in plan.tables:
        if len(t.primary_key) != 1 or len(t.sources) != 1:
            continue
        (pk,) = t.primary_key
        text = [c.name for c in t.columns if c.type == "text" and c.name != pk]
        row = con.execute(f'SELECT "{pk}" FROM "{t.name}" ORDER BY "{pk}" LIMIT 1').fetchone()
        if text and row is not None:
            con.execute(f'UPDATE "{t.name}" SET "{text[0]}" = \'tampered\' WHERE "{pk}" = ?', row)
            table, key = t.name, row[0]
            break
    con.commit()
    con.close()
    assert table is not None, "no single-source keyed table in the sample plan"

    done = run(root, "verify", "--json")
    assert done.returncode == 1
    bad = [
        c
        for c in orjson.loads(done.stdout)["checks"]
        if c["source_checksum"] != c["target_checksum"]
    ]
    assert [c["target"] for c in bad] == [table]
    assert repr(key) in bad[0]["first_difference"]

    done = run(root, "verify")
    assert done.returncode == 1
    assert table in done.stdout and repr(key) in done.stdout


def test_optimize_prints_sizes(migrated: Path, tmp_path: Path) -> None:
    root = tmp_path / "proj"
    shutil.copytree(migrated, root)
    done = run(root, "optimize", "data/unified.db")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "→" in done.stdout and "integrity ok" in done.stdout
    done = run(root, "optimize", str(root / "data/unified.db"), "--json")
    assert done.returncode == 0
    data = orjson.loads(done.stdout)
    assert data["bytes_before"] > 0 and data["bytes_after"] > 0


def test_foreign_target_refused_without_force(project: Path) -> None:
    target = project / "data/unified.db"
    con = sqlite3.connect(target)
    con.execute("CREATE TABLE mine (x)")
    con.execute("INSERT INTO mine VALUES (1)")
    con.commit()
    con.close()
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    done = run(project, "migrate", "--execute")
    assert done.returncode == 2
    assert "--force" in done.stderr and done.stderr.count("\n") == 1
    assert hashlib.sha256(target.read_bytes()).hexdigest() == digest

    done = run(project, "migrate", "--execute", "--force", "-q")
    assert done.returncode in (0, 1), done.stderr
    backups = list((project / ".dbfold/backups").iterdir())
    assert len(backups) == 1
    # Made by SQLite's backup API (so rows still in a -wal are kept): the same content,
    # though the header's change counter is the copy's own.
    with closing(sqlite3.connect(backups[0])) as copy:
        assert copy.execute("SELECT x FROM mine").fetchall() == [(1,)]
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert run(project, "verify", "-q").returncode == 0


def test_verify_without_target_is_a_clear_error(project: Path) -> None:
    done = run(project, "verify")
    assert done.returncode == 2
    assert "migrate --execute" in done.stderr
