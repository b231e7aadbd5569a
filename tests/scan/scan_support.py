"""Helpers shared by the scan tests (a module, not conftest, so imports are unambiguous)."""

from __future__ import annotations

import hashlib
import os
import textwrap
from pathlib import Path

from dbfold.scan.code import CodeScan, find_interfaces


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


def scan_code(tmp_path: Path, files: dict[str, str], stores: tuple[str, ...]) -> CodeScan:
    """Write ``files`` (dedented Python sources) under ``tmp_path`` and find the interfaces."""
    for rel, source in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source), encoding="utf-8")
    return find_interfaces(tmp_path, stores)
