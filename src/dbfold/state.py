"""Where dbfold keeps its state (``.dbfold/`` at the project root) and how it writes it.

Every file is written atomically: to a temporary file beside it, flushed, then renamed,
so a crash leaves either the old file or the new one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from dbfold.errors import DbfoldError, UsageError
from dbfold.model import Analysis

if TYPE_CHECKING:
    from dbfold.plan import Plan

STATE_DIR = ".dbfold"
ANALYSIS_FILE = "analysis.json"


def state_dir(root: Path) -> Path:
    """Return the ``.dbfold`` folder of a project root (not created)."""
    return root / STATE_DIR


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new content, never a mix.

    Raises:
        DbfoldError: the folder cannot be created or written.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise DbfoldError(
            f"{path}: cannot write ({exc.strerror or exc}); check that the folder is writable"
        ) from exc


def save_analysis(analysis: Analysis, root: Path) -> Path:
    """Write ``.dbfold/analysis.json`` under ``root`` and return its path."""
    path = state_dir(root) / ANALYSIS_FILE
    write_atomic(path, analysis.to_json() + b"\n")
    return path


def load_plan(root: Path) -> Plan:
    """Read ``.dbfold/plan.json`` under ``root``.

    Raises:
        UsageError: there is no plan yet, or it is not one dbfold can read.
    """
    from dbfold.plan import Plan

    where = plan_path(root)
    try:
        return Plan.from_json(where.read_bytes())
    except FileNotFoundError as exc:
        raise UsageError(f"{where}: no plan yet; run `dbfold design` first") from exc
    except (ValueError, TypeError, KeyError) as exc:
        raise UsageError(
            f"{where}: cannot read the plan ({exc}); run `dbfold design --check`"
        ) from exc


def load_analysis(root: Path) -> Analysis:
    """Read ``.dbfold/analysis.json`` under ``root``.

    Raises:
        UsageError: there is no analysis yet, or it is not one dbfold can read.
    """
    path = state_dir(root) / ANALYSIS_FILE
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise UsageError(f"{path}: no analysis yet; run `dbfold analyze` first") from exc
    try:
        analysis = Analysis.from_json(raw)
    except (ValueError, TypeError, KeyError) as exc:
        raise UsageError(
            f"{path}: not a readable analysis ({exc}); run `dbfold analyze` again"
        ) from exc
    if analysis.format != Analysis.FORMAT:
        raise UsageError(
            f"{path}: format {analysis.format!r} is not {Analysis.FORMAT!r}; "
            "run `dbfold analyze` again"
        )
    return analysis


PLAN_FILE = "plan.json"
REPORT_FILE = "REPORT.md"
SQL_FILE = "unified.sql"


def plan_path(root: Path) -> Path:
    """``.dbfold/plan.json`` under ``root``: the one file a user edits."""
    return state_dir(root) / PLAN_FILE
