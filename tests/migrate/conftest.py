"""Fixtures: a sample project analysed and designed, and helpers to fingerprint sources."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from dbfold.demo import build_sample_project
from dbfold.design import design
from dbfold.model import Analysis
from dbfold.plan import Plan
from dbfold.scan import analyze
from dbfold.state import plan_path, save_analysis, write_atomic


def fingerprint(root: Path) -> dict[str, str]:
    """sha256 of every file under root except dbfold's own state and the target folder."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if rel.startswith(".dbfold") or "unified.db" in rel or not p.is_file():
            continue
        out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def prepare(root: Path) -> tuple[Plan, Analysis]:
    """Analyze and design ``root``, saving both as the CLI does."""
    analysis = analyze(root)
    save_analysis(analysis, root)
    plan = design(analysis)
    write_atomic(plan_path(root), plan.to_json() + b"\n")
    return plan, analysis


@pytest.fixture
def sample(tmp_path: Path) -> tuple[Path, Plan, Analysis]:
    root = tmp_path / "proj"
    build_sample_project(root, scale=0.01, seed=3)
    plan, analysis = prepare(root)
    return root, plan, analysis


@pytest.fixture
def fp() -> Callable[[Path], dict[str, str]]:
    """The source fingerprint function, as a fixture."""
    return fingerprint


@pytest.fixture
def prep() -> Callable[[Path], tuple[Plan, Analysis]]:
    """The analyze + design helper, as a fixture."""
    return prepare
