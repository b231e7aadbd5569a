"""The sample project as the design tests see it (here, since conftest is not importable)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dbfold.model import Analysis


@dataclass(frozen=True)
class Sample:
    """A built sample project and its analysis. Tests must not write under ``root``."""

    root: Path
    analysis: Analysis
