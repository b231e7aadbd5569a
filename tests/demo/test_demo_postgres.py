"""`dbfold demo` with a PostgreSQL server: the same plan migrated there and verified."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from dbfold.cli import cli


def test_demo_migrates_into_postgres_too(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DBFOLD_DEMO_PG", pg_url)
    result = CliRunner().invoke(cli, ["demo", str(tmp_path / "d"), "--scale", "0.01", "--json"])
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout)["postgres"] is True
    psycopg = pytest.importorskip("psycopg")
    with psycopg.connect(pg_url) as con:
        row = con.execute("SELECT count(*) FROM public.dbfold_migrations").fetchone()
    assert row is not None and row[0] > 0


def test_demo_says_when_the_step_is_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBFOLD_DEMO_PG", "off")
    result = CliRunner().invoke(cli, ["demo", str(tmp_path / "d"), "--scale", "0.01", "--json"])
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout)["postgres"] == "skipped: DBFOLD_DEMO_PG is off"
