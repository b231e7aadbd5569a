"""The command line as a user drives it: exit codes, --json, one-line errors, the demo."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from dbfold import __version__
from dbfold.cli import cli
from dbfold.demo import SampleProject, build_sample_project
from dbfold.scan import analyze


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> SampleProject:
    return build_sample_project(tmp_path_factory.mktemp("cli") / "proj", scale=0.01)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dbfold", *args], capture_output=True, text=True, timeout=120
    )


def tree_digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".dbfold" not in p.parts
    }


def test_version_via_python_m() -> None:
    done = run("--version")
    assert done.returncode == 0
    assert __version__ in done.stdout


@pytest.mark.parametrize("command", sorted(cli.commands))
def test_every_command_has_help(command: str) -> None:
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "--json" in result.output and "-v" in result.output


def test_analyze_finds_every_store_and_tracker(sample: SampleProject) -> None:
    analysis = analyze(sample.root)
    found = {s.path: s for s in analysis.stores}
    assert set(found) == set(sample.store_paths)
    for expected in sample.stores:
        store = found[expected.path]
        assert store.kind == expected.kind, expected.path
        rows = {t.name: t.rows for t in store.tables}
        for table in expected.tables:
            assert rows.get(table.name) == table.rows, (expected.path, table.name)
    by_name = {i.name: set(i.stores) for i in analysis.interfaces}
    for name, stores in sample.interfaces.items():
        assert set(stores) <= by_name.get(name, set()), name
    skipped = {s.path for s in analysis.skipped}
    assert set(sample.config_files) <= skipped


def test_analyze_json_matches_saved_file_and_leaves_sources_alone(
    sample: SampleProject, tmp_path: Path
) -> None:
    before = tree_digest(sample.root)
    done = run("analyze", str(sample.root), "--json")
    assert done.returncode == 0, done.stderr
    printed = orjson.loads(done.stdout)
    saved = orjson.loads((sample.root / ".dbfold" / "analysis.json").read_bytes())
    assert printed == saved
    assert printed["format"] == "dbfold.analysis/1"
    assert tree_digest(sample.root) == before


def test_analyze_prints_summary_in_the_seeds_words(sample: SampleProject) -> None:
    result = CliRunner().invoke(cli, ["analyze", str(sample.root)])
    assert result.exit_code == 0, result.output
    n = len(sample.stores)
    assert f"Found {n} databases, " in result.output
    assert "ActionTracker" in result.output


def test_analyze_with_a_broken_store_exits_1_and_goes_on(tmp_path: Path) -> None:
    (tmp_path / "good.jsonl").write_text('{"a": 1}\n{"a": 2}\n')
    (tmp_path / "broken.db").write_bytes(b"SQLite format 3\x00" + b"\x10\x00" + b"\xff" * 90)
    done = run("analyze", str(tmp_path))
    assert done.returncode == 1
    assert "broken.db" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    analysis = orjson.loads((tmp_path / ".dbfold" / "analysis.json").read_bytes())
    good = next(s for s in analysis["stores"] if s["path"] == "good.jsonl")
    assert good["tables"][0]["rows"] == 2


def test_analyze_missing_folder_is_one_line_exit_2(tmp_path: Path) -> None:
    done = run("analyze", str(tmp_path / "nope"))
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "nope" in done.stderr and "Traceback" not in done.stderr


def test_design_without_analysis_says_what_to_do(tmp_path: Path) -> None:
    done = run("design", str(tmp_path))
    assert done.returncode == 2
    assert "dbfold analyze" in done.stderr


def test_demo_builds_analyzes_designs_and_tours(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", str(target), "--scale", "0.01"])
    assert result.exit_code == 0, result.output
    assert "Found 13 databases" in result.output
    assert "Unified schema with" in result.output
    assert "Schema migrated 1.0.0 → 1.1.0" in result.output
    assert (target / ".dbfold" / "plan.json").exists()
    assert (target / "unified.sql").exists()
    # No false alarm, and every difference between the row counts is said on screen.
    flat = " ".join(result.output.split())
    assert "changed since the analysis" not in flat
    found = re.search(r"rows ([\d,]+) ([\d,]+) \(verified\)", flat)
    assert found is not None, flat
    before, after = (int(g.replace(",", "")) for g in found.groups())

    def number(pattern: str) -> int:
        hit = re.search(pattern, flat)
        return int(hit.group(1).replace(",", "")) if hit else 0

    not_moved = number(r"([\d,]+) not migrated")
    copied = number(r"([\d,]+) rows copied")
    children = number(r"\+ ([\d,]+) child")
    changed = number(r"([+-][\d,]+) written to the sources")
    assert before != after and copied
    assert before - not_moved + changed == copied and copied + children == after
    # An earlier demo is rebuilt in place; any other non-empty folder is refused.
    again = CliRunner().invoke(cli, ["demo", str(target), "--scale", "0.01", "-q"])
    assert again.exit_code == 0, again.output
    other = tmp_path / "mine"
    other.mkdir()
    (other / "keep.txt").write_text("precious")
    refused = CliRunner().invoke(cli, ["demo", str(other)])
    assert refused.exit_code == 2
    assert (other / "keep.txt").read_text() == "precious"


def test_make_demo_style_relative_directory(tmp_path: Path) -> None:
    """`make demo` passes a relative folder; every step, the legacy runs included, must agree."""
    done = subprocess.run(
        [sys.executable, "-m", "dbfold", "demo", "rel-demo", "--scale", "0.01", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = orjson.loads(done.stdout)
    assert result["verified"] is True
    assert result["legacy_identical"] is True


def test_reanalysis_after_migrate_skips_the_unified_database(tmp_path: Path) -> None:
    """The migrated target is dbfold's own output: analysing the project again must not
    offer it as a source (design would fold every row into itself a second time)."""
    target = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", str(target), "--scale", "0.01", "-q"])
    assert result.exit_code == 0, result.output
    assert (target / "data" / "unified.db").exists()
    analysis = analyze(target)
    assert "data/unified.db" not in {s.path for s in analysis.stores}
    skipped = {s.path: s.reason for s in analysis.skipped}
    assert "dbfold's own unified database" in skipped["data/unified.db"]
    assert len(analysis.stores) == 13
