"""Terminal output at 80 columns: the demo's dry run in one line per table, no word split.

A name too long for its column is shortened in the middle (``data/set…db.json``) and a
phrase is cut after a whole word; nothing is wrapped inside a word. Checked by comparing the
80-column output's words with the same output at 400 columns.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from cli_support import ENV, run
from dbfold.demo import build_sample_project


def at(root: Path, columns: int, *args: str) -> str:
    """stdout of ``python -m dbfold ARGS`` in a terminal ``columns`` wide (colourless)."""
    done = subprocess.run(
        [sys.executable, "-m", "dbfold", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=root,
        env={**ENV, "COLUMNS": str(columns)},
    )
    assert done.returncode in (0, 1), done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def demo_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-80") / "proj"
    build_sample_project(root, scale=0.01)
    for command in ("analyze", "design"):
        assert run(root, command, "-q").returncode in (0, 1)
    return root


_PUNCT = ",;:()[]'\"`"


def words(text: str) -> set[str]:
    return {w.strip(_PUNCT) for w in text.split()} - {""}


def split_words(narrow: str, wide: str) -> list[str]:
    """Words of the narrow output that the wide output does not have (a word split by a
    wrap shows up as two such fragments); shortened names (with ``…``) and ``+N`` markers
    count when their parts are found in the wide output."""
    known = words(wide)
    bad = []
    for word in sorted(words(narrow) - known):
        if re.fullmatch(r"\+\d+|─+", word):  # a +N marker, a table's rule
            continue
        parts = [p.strip(_PUNCT) for p in word.split("…")]
        if "…" in word and all(any(p in k for k in known) for p in parts if p):
            continue
        bad.append(word)
    return bad


def long_lines(text: str, width: int = 80) -> list[str]:
    return [line for line in text.splitlines() if len(line.rstrip()) > width]


def test_dry_run_of_the_demo_at_80_columns(demo_project: Path) -> None:
    narrow = at(demo_project, 80, "migrate")
    wide = at(demo_project, 400, "migrate")
    lines = narrow.rstrip("\n").splitlines()
    assert len(lines) <= 40, narrow
    assert long_lines(narrow) == [], narrow
    assert split_words(narrow, wide) == [], narrow
    # one line per table: every unified table's name starts exactly one line
    plan_tables = [line.split()[0] for line in wide.splitlines() if line and not line[0].isspace()]
    for name in ("action_log", "articles__sections", "logs_events", "scratch"):
        assert sum(line.split()[:1] == [name] for line in lines) == 1, (name, narrow)
        assert name in plan_tables
    assert "-v lists every operation" in " ".join(narrow.split())


def test_dry_run_details_behind_v_wrap_between_words(demo_project: Path) -> None:
    narrow = at(demo_project, 80, "migrate", "-v")
    wide = at(demo_project, 400, "migrate", "-v")
    assert long_lines(narrow) == []
    assert split_words(narrow, wide) == [], narrow
    flat = " ".join(narrow.split())
    assert re.search(
        r"copy [\d,]+ rows from data/tracking\.db:action_log \(INSERT … SELECT via ATTACH\)", flat
    ), flat
    assert "translations.fr→translations__fr" in narrow  # never split over two lines


def test_demo_dry_run_section_at_80_columns(tmp_path: Path) -> None:
    narrow = at(tmp_path, 80, "demo", "d80", "--scale", "0.01")
    section = narrow.split("4. dbfold migrate (dry run)")[1].split("5. dbfold migrate --execute")[0]
    lines = section.strip("\n─ ").splitlines()
    assert len(lines) <= 40, section
    assert long_lines(narrow) == [], [line for line in long_lines(narrow)]
    # the analysis table shortens a long store path instead of folding it mid-word
    assert "data/settings_db.j\n" not in narrow and "\nson " not in narrow
    # the demo ends by naming the report
    last = narrow.rstrip().splitlines()[-1]
    assert last.startswith("Report: ") and last.endswith("report.html"), last
    assert (tmp_path / "d80" / ".dbfold" / "report.html").is_file()


def test_a_tables_problems_are_said_in_full_below_its_line() -> None:
    import io

    from rich.console import Console

    from dbfold.migrate.report import MigrationReport, TablePlan
    from dbfold.views import migration_view

    problem = (
        "3 rows of data/a_very_long_folder_name/with_a_long_store_name.db:users share a key"
        " (id) with rows of another source; give the sources different discriminator values"
    )
    report = MigrationReport(
        ".",
        "data/unified.db",
        False,
        "run",
        "dry-run",
        tables=(
            TablePlan(
                "users_from_a_store_with_a_long_name",
                ("create table users",),
                12,
                4096,
                0.01,
                (problem,),
            ),
            TablePlan("t", ("create table t",), 1, 10, 0.0),
        ),
    )
    out = io.StringIO()
    Console(file=out, width=80, color_system=None).print(migration_view(report))
    text = out.getvalue()
    assert long_lines(text) == [], text
    assert "! 1 problem" in text
    assert " ".join(problem.split()) in " ".join(text.split())
    assert (
        sum(line.startswith("! users_from_a_store_with_a_long_name:") for line in text.splitlines())
        == 1
    )
