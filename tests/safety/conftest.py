"""Fixtures of the lock-safety tests: one small migrated project, copied for each case."""

from __future__ import annotations

from pathlib import Path

import pytest
from safety_support import build_project


@pytest.fixture(scope="session")
def base_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A built project (see ``safety_support.build_project``); tests only ever copy it."""
    root = tmp_path_factory.mktemp("safety") / "project"
    build_project(root)
    return root
