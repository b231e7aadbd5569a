"""Shared fixtures for the runtime tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _runtime_workers import ItemsV1

from dbfold.runtime import UnifiedDatabase


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "unified.db"


@pytest.fixture
def db(db_path: Path) -> Iterator[ItemsV1]:
    with ItemsV1(db_path) as database:
        yield database


@pytest.fixture
def plain(db_path: Path) -> Iterator[UnifiedDatabase]:
    with UnifiedDatabase(db_path) as database:
        yield database
