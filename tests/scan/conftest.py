"""Fixtures for the store scanner tests: small trees built in tmp_path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def tree(tmp_path: Path) -> Callable[[dict[str, bytes | str]], Path]:
    """Write {relative path: content} under tmp_path/project and return that folder."""

    def make(files: dict[str, bytes | str]) -> Path:
        root = tmp_path / "project"
        for rel, content in files.items():
            p = root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, str):
                p.write_text(content, encoding="utf-8")
            else:
                p.write_bytes(content)
        root.mkdir(exist_ok=True)
        return root

    return make
