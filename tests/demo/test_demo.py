"""build_sample_project: deterministic, every promised trap present, legacy code runs."""

from __future__ import annotations

import ast
import hashlib
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import orjson
import pytest

from dbfold.demo import SampleProject, build_sample_project
from dbfold.scan.code import find_interfaces

TEXT_STORES = (
    "data/articles.json",
    "data/users.json",
    "logs/events.jsonl",
    "exports/costs.csv",
    "data/settings_db.json",
)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> SampleProject:
    return build_sample_project(tmp_path_factory.mktemp("demo") / "proj", scale=0.01)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(project: SampleProject, rel: str, target: Path) -> sqlite3.Connection:
    """Open a copy (database + WAL) so that reading never checkpoints the built files."""
    target.mkdir(parents=True, exist_ok=True)
    for f in project.store(rel).files:
        shutil.copyfile(project.root / f, target / Path(f).name)
    return sqlite3.connect(target / Path(rel).name)


def test_same_seed_same_bytes(project: SampleProject, tmp_path: Path) -> None:
    again = build_sample_project(tmp_path / "again", scale=0.01)
    for rel in TEXT_STORES:
        assert sha(project.root / rel) == sha(again.root / rel), rel
    assert again.stores == tuple(
        type(s)(s.path, s.kind, s.tables, s.files, s.features) for s in project.stores
    )
    other = build_sample_project(tmp_path / "other", scale=0.01, seed=8)
    assert sha(other.root / "logs/events.jsonl") != sha(project.root / "logs/events.jsonl")


def test_rebuild_in_place_replaces_stores(tmp_path: Path) -> None:
    first = build_sample_project(tmp_path / "p", scale=0.01)
    second = build_sample_project(tmp_path / "p", scale=0.01)
    assert first.stores == second.stores
    assert not list((tmp_path / "p").rglob("*.building*"))


def test_inventory(project: SampleProject) -> None:
    kinds = {s.path: s.kind for s in project.stores}
    assert sum(k == "sqlite" for k in kinds.values()) >= 7
    assert {kinds[p] for p in TEXT_STORES} == {"json", "jsonl", "csv", "tinydb"}
    assert kinds["cache/sessions"] == "shelve"
    for store in project.stores:
        for f in store.files:
            assert (project.root / f).is_file(), f
        assert all(t.rows > 0 for t in store.tables), store.path
    assert project.config_files == ("package.json", ".vscode/settings.json")
    assert project.bytes > 0


def test_sqlite_row_counts_are_exact(project: SampleProject, tmp_path: Path) -> None:
    for store in project.stores:
        if store.kind != "sqlite":
            continue
        with closing(snapshot(project, store.path, tmp_path / store.path)) as conn:
            for table in store.tables:
                count = conn.execute(f'SELECT COUNT(*) FROM "{table.name}"').fetchone()[0]
                assert count == table.rows, (store.path, table.name)


def test_file_row_counts_are_exact(project: SampleProject) -> None:
    root = project.root
    articles = orjson.loads((root / "data/articles.json").read_bytes())
    assert len(articles) == project.store("data/articles.json").table("articles").rows
    users = orjson.loads((root / "data/users.json").read_bytes())
    assert list(users)[:2] == ["u1", "u2"]
    assert len(users) == project.store("data/users.json").rows
    lines = (root / "logs/events.jsonl").read_bytes().splitlines()
    assert len(lines) == project.store("logs/events.jsonl").rows
    csv_rows = (root / "exports/costs.csv").read_text(encoding="utf-8").splitlines()
    assert len(csv_rows) - 1 == project.store("exports/costs.csv").rows
    settings = orjson.loads((root / "data/settings_db.json").read_bytes())
    store = project.store("data/settings_db.json")
    assert {name: len(docs) for name, docs in settings.items()} == {
        t.name: t.rows for t in store.tables
    }


def test_wal_frames_are_pending(project: SampleProject, tmp_path: Path) -> None:
    for rel in ("data/tracking.db", "data/queue.db"):
        store = project.store(rel)
        assert "wal_pending" in store.features
        wal = project.root / f"{rel}-wal"
        assert wal.stat().st_size > 32  # more than the WAL header: frames
        alone = tmp_path / Path(rel).name
        shutil.copyfile(project.root / rel, alone)  # the database without its WAL
        with closing(sqlite3.connect(alone)) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            first = store.tables[0]
            assert conn.execute(f"SELECT COUNT(*) FROM {first.name}").fetchone()[0] < first.rows


def test_free_pages(project: SampleProject) -> None:
    path = project.root / "data/costs.db"
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        assert conn.execute("PRAGMA freelist_count").fetchone()[0] > 0


def test_foreign_keys(project: SampleProject, tmp_path: Path) -> None:
    with closing(snapshot(project, "data/queue.db", tmp_path)) as conn:
        fks = conn.execute("PRAGMA foreign_key_list(job_runs)").fetchall()
        assert [(r[2], r[3], r[4]) for r in fks] == [("jobs", "job_id", "id")]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []


def columns(project: SampleProject, rel: str, table: str, tmp_path: Path) -> list[tuple[str, str]]:
    with closing(snapshot(project, rel, tmp_path / rel)) as conn:
        return [(r[1], r[2]) for r in conn.execute(f"PRAGMA table_info({table})")]


def test_clashing_and_same_shaped_tables(project: SampleProject, tmp_path: Path) -> None:
    tracking = columns(project, "data/tracking.db", "events", tmp_path)
    metrics = columns(project, "data/metrics.db", "events", tmp_path)
    assert tracking and metrics and tracking != metrics
    log_a = columns(project, "data/tracking.db", "action_log", tmp_path / "a")
    log_b = columns(project, "data/quality.db", "action_log", tmp_path / "b")
    assert log_a and log_a == log_b


def test_json_shapes(project: SampleProject) -> None:
    articles = orjson.loads((project.root / "data/articles.json").read_bytes())
    assert isinstance(articles[0]["author"], dict) and isinstance(articles[0]["tags"], list)
    first_seo = next(i for i, a in enumerate(articles) if "seo" in a)
    assert first_seo >= len(articles) // 2  # a late key
    assert all("seo" not in a for a in articles[:first_seo])
    lines = [
        orjson.loads(line)
        for line in (project.root / "logs/events.jsonl").read_bytes().splitlines()
    ]
    first_session = next(i for i, e in enumerate(lines) if "session" in e)
    assert first_session >= len(lines) // 2


def test_legacy_code_is_valid_python_310(project: SampleProject) -> None:
    assert {"main.py", "app/trackers.py", "app/queue.py", "app/config.py"} <= set(
        project.code_files
    )
    for rel in project.code_files:
        ast.parse((project.root / rel).read_text(encoding="utf-8"), rel, feature_version=(3, 10))


def run(project_root: Path, command: str) -> str:
    done = subprocess.run(
        [sys.executable, "main.py", command],
        cwd=project_root,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_report_and_record_are_deterministic(project: SampleProject, tmp_path: Path) -> None:
    copies = []
    for name in ("one", "two"):
        shutil.copytree(project.root, tmp_path / name)
        copies.append(tmp_path / name)
    before = run(copies[0], "report")
    assert before == run(copies[1], "report")
    actions = project.store("data/tracking.db").table("actions").rows
    assert f"actions: {actions}\n" in before
    assert f"events.jsonl: {project.store('logs/events.jsonl').rows}\n" in before
    recorded = run(copies[0], "record")
    assert recorded == run(copies[1], "record")
    after = run(copies[0], "report")
    assert f"actions: {actions + 1}\n" in after
    assert after == run(copies[1], "report")


def test_code_scan_finds_every_tracker(project: SampleProject) -> None:
    result = find_interfaces(project.root, project.store_paths)
    by_name = {i.name: i for i in result.interfaces}
    for name, stores in project.interfaces.items():
        assert name in by_name, name
        assert by_name[name].stores == stores, name
    assert by_name["JobQueue"].tables == ("job_runs", "jobs")
    # The one path that only the environment knows is reported, not guessed.
    assert [p.path for p in result.problems] == ["scripts/cleanup.py"]
