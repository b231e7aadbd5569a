"""Shared fixtures for the runtime tests.

``target`` is a fresh database on either engine: a SQLite path, or a PostgreSQL URL from
the project-wide ``pg_url`` fixture (skipped, with the reason, when no server answers).
The ``db`` and ``plain`` fixtures open it, so every test written against them runs on both.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _runtime_workers import ItemsV1

from dbfold.runtime import UnifiedDatabase

ENGINES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "unified.db"


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """The engine a parametrized test runs on."""
    return str(request.param)


@pytest.fixture
def target(
    engine: str, db_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> str:
    """A new database on ``engine``: a SQLite file path or a PostgreSQL URL."""
    if engine == "sqlite":
        return str(db_path)
    # PostgreSQL backups default to ./.dbfold/backups: keep them in the test's folder.
    monkeypatch.chdir(db_path.parent)
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def db(target: str) -> Iterator[ItemsV1]:
    with ItemsV1(target) as database:
        yield database


@pytest.fixture
def plain(target: str) -> Iterator[UnifiedDatabase]:
    with UnifiedDatabase(target) as database:
        yield database
