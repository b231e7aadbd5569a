"""``analyze()``: find every store under a project root and the code that touches it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from dbfold.errors import ScanError
from dbfold.model import Analysis
from dbfold.scan.stores import scan_stores

if TYPE_CHECKING:
    from dbfold.scan.code import ParsedCode

__all__ = ["analyze"]


def analyze(
    root: Path | str = ".", *, on_progress: Callable[[str], None] | None = None
) -> Analysis:
    """Scan ``root`` for data stores and the Python code that uses them.

    Sources are only read: no byte changes and no file (``-wal``, ``-shm``) appears beside
    them. Unreadable or malformed stores are reported in ``problems``; the scan goes on.

    Args:
        root: the project folder.
        on_progress: called with each file's relative path as it is examined.

    Raises:
        ScanError: ``root`` is not a folder.
    """
    base = Path(root)
    if not base.is_dir():
        raise ScanError(f"{base}: not a folder; give the project's root folder")
    base = base.resolve()
    parsed: list[ParsedCode] = []

    def parse() -> None:
        # Imported here: sqlglot is heavy, and scan workers (spawned) import this package.
        from dbfold.scan.code import parse_code

        parsed.append(parse_code(base))

    # The code is parsed while worker processes start and read the biggest stores.
    found = scan_stores(base, on_progress=on_progress, alongside=parse)
    from dbfold.scan.code import find_interfaces

    code = find_interfaces(base, [s.path for s in found.stores], parsed=parsed[0])
    return Analysis(
        root=str(base),
        stores=found.stores,
        interfaces=code.interfaces,
        problems=found.problems + code.problems,
        skipped=found.skipped,
    )
