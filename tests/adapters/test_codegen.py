"""``render_project_db``: importable, ruff- and mypy-clean, injection-proof, no migration."""

from __future__ import annotations

import dataclasses
import importlib.util
import sqlite3
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from adapters_support import create_unified

from dbfold.codegen import class_name, py_literal, render_project_db
from dbfold.demo import build_sample_project
from dbfold.design import design
from dbfold.model import Analysis, Interface
from dbfold.plan import Plan
from dbfold.scan import analyze

REPO = Path(__file__).resolve().parents[2]
HOSTILE = '"); import os; #'


def _tool(*args: str) -> subprocess.CompletedProcess[str]:
    bindir = Path(sys.executable).parent
    return subprocess.run(
        [str(bindir / args[0]), *args[1:]], capture_output=True, text=True, cwd=REPO, check=False
    )


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _hostile_project(root: Path) -> tuple[Analysis, Plan]:
    (root / "weird dir").mkdir(parents=True)
    conn = sqlite3.connect(root / "weird dir" / 'my "db".sqlite')
    table = '"' + HOSTILE.replace('"', '""') + '"'
    conn.execute(
        f'CREATE TABLE {table} (id INTEGER PRIMARY KEY, "quo""te" TEXT, [br[x] TEXT, '
        '"select" INTEGER, "Größe\u2028" REAL)'
    )
    conn.execute('CREATE TABLE "order" ("group" TEXT, x_id INTEGER)')
    conn.execute(f"INSERT INTO {table} VALUES (1, 'a', 'b', 2, 3.5)")
    conn.commit()
    conn.close()
    analysis = analyze(root)
    weird = Interface(
        name=HOSTILE + "\\ \u2028 x",
        kind="class",
        path='app/"x".py',
        line=3,
        stores=('weird dir/my "db".sqlite',),
        tables=(HOSTILE,),
    )
    clash = dataclasses.replace(weird, name="ProjectDatabase", path="b.py")
    analysis = dataclasses.replace(analysis, interfaces=(weird, clash, clash, weird))
    return analysis, design(analysis)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Analysis, Plan]]:
    base = tmp_path_factory.mktemp("codegen")
    sample = base / "sample"
    build_sample_project(sample, scale=0.01, seed=7)
    sample_analysis = analyze(sample)
    sample_plan = design(sample_analysis)
    hostile_analysis, hostile_plan = _hostile_project(base / "hostile")
    out = {}
    for name, analysis, plan in (
        ("sample", sample_analysis, sample_plan),
        ("hostile", hostile_analysis, hostile_plan),
    ):
        path = base / "gen" / f"project_db_{name}.py"
        path.parent.mkdir(exist_ok=True)
        path.write_text(render_project_db(plan, analysis), encoding="utf-8")
        out[name] = (path, analysis, plan)
    return out


def test_generated_files_pass_ruff_and_mypy(
    generated: dict[str, tuple[Path, Analysis, Plan]],
) -> None:
    paths = [str(p) for p, _, _ in generated.values()]
    config = str(REPO / "pyproject.toml")
    check = _tool("ruff", "check", "--config", config, "--no-cache", *paths)
    assert check.returncode == 0, check.stdout + check.stderr
    fmt = _tool("ruff", "format", "--config", config, "--no-cache", "--check", *paths)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    typed = _tool("mypy", "--strict", "--no-incremental", *paths)
    assert typed.returncode == 0, typed.stdout + typed.stderr


@pytest.mark.parametrize("name", ["sample", "hostile"])
def test_generated_module_imports_and_opens_without_migrating(
    generated: dict[str, tuple[Path, Analysis, Plan]], name: str, tmp_path: Path
) -> None:
    path, analysis, plan = generated[name]
    module = _load(path, f"project_db_{name}")
    assert module.PLAN.tables == plan.tables
    target = tmp_path / "unified.db"
    create_unified(plan, target)
    with module.ProjectDatabase(target) as db:
        assert db.last_migration is None  # the schema was adopted, not migrated
        assert db.schema_version == "1.0.0"
        assert not (tmp_path / ".dbfold").exists()  # no backup taken
        adapters = db.get_adapters()
        assert len(adapters) == len({(i.name, i.path, i.line) for i in analysis.interfaces})
        for key, cls in adapters.items():
            assert key == cls.INTERFACE
    with module.ProjectDatabase(target) as db:
        assert db.last_migration is None


def test_hostile_names_stay_strings(generated: dict[str, tuple[Path, Analysis, Plan]]) -> None:
    path, _, _ = generated["hostile"]
    source = path.read_text(encoding="utf-8")
    assert "\nimport os" not in source and "; import os" not in source.replace(
        py_literal(HOSTILE)[1:-1], ""
    )
    module = _load(path, "project_db_hostile_check")
    keys = list(module.ProjectDatabase.get_adapters(None))
    assert HOSTILE + "\\ \u2028 x" in [k.split("@")[0] for k in keys]
    assert module.PLAN.tables[0].name == HOSTILE


def test_sample_adapter_connects(
    generated: dict[str, tuple[Path, Analysis, Plan]], tmp_path: Path
) -> None:
    path, _, plan = generated["sample"]
    module = _load(path, "project_db_sample_connect")
    target = tmp_path / "unified.db"
    create_unified(plan, target)
    with module.ProjectDatabase(target) as db:
        conn = db.adapter("ActionTracker").connect()
        conn.execute(
            "INSERT INTO action_log (tracker, action, detail, created_at) "
            "VALUES ('a', 'b', 'c', 'd')"
        )
        conn.commit()
        assert conn.execute("SELECT id, tracker FROM action_log").fetchall() == [(1, "a")]
        assert db.query("SELECT source, id FROM action_log") == [("tracking", 1)]
        conn.close()
        log = db.adapter("EventLog").connect()
        log.append({"props": {"ms": 1, "path": "/"}, "ts": "t", "type": "x", "user": "u"})
        assert list(log) == [{"props": {"ms": 1, "path": "/"}, "ts": "t", "type": "x", "user": "u"}]
        log.close()


def test_names_and_literals() -> None:
    taken: set[str] = set()
    assert class_name("ProjectDatabase", taken) == "ProjectDatabaseAdapter"
    assert class_name("ProjectDatabase", taken) == "ProjectDatabase2Adapter"
    assert class_name("9lives", taken) == "Interface9livesAdapter"
    assert class_name("日本", taken) == "InterfaceAdapter"
    for text in [HOSTILE, "'''", '"""', "\\", "\x00\x1f\u2028\U0001f600", "é"]:
        assert eval(py_literal(text)) == text
