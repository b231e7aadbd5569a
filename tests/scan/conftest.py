"""Fixtures for the store scanner tests: small trees built in tmp_path."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest


def fingerprint(root: Path) -> dict[str, str]:
    """sha256 of every file and the listing of every folder (to prove nothing changed)."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        out[f"dir:{rel}"] = "\n".join(sorted(dirnames + filenames))
        for name in filenames:
            p = os.path.join(dirpath, name)
            if os.path.islink(p):
                continue
            with open(p, "rb") as f:
                out[os.path.join(rel, name)] = hashlib.sha256(f.read()).hexdigest()
    return out


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
