"""Fixtures of the compatibility tests: a migrated legacy project, one copy per test."""

from __future__ import annotations

from pathlib import Path

import pytest
from compat_support import Legacy, build_legacy


@pytest.fixture(scope="session")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Legacy:
    return build_legacy(tmp_path_factory.mktemp("compat") / "project")


@pytest.fixture
def legacy(migrated: Legacy, tmp_path: Path) -> Legacy:
    return migrated.copy(tmp_path / "project")
