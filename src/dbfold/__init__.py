"""dbfold: fold a project's scattered data stores into one unified database.

The public API: :class:`UnifiedDatabase` (the runtime base class), the stages in
:mod:`dbfold.scan` and :mod:`dbfold.design`, and the exception root :class:`DbfoldError`.
The runtime is imported on first use, so that the CLI and scan workers start quickly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dbfold.errors import DbfoldError

if TYPE_CHECKING:
    from dbfold.patterns.events import EventDatabase
    from dbfold.patterns.tenants import TenantDatabase
    from dbfold.patterns.timeseries import TimeSeriesDatabase
    from dbfold.runtime import (
        Operation,
        OperationContext,
        Row,
        UnifiedDatabase,
        UnifiedDatabaseBase,
    )

__version__ = "0.1.0"

_RUNTIME_NAMES = ("Operation", "OperationContext", "Row", "UnifiedDatabase", "UnifiedDatabaseBase")
_PATTERN_NAMES = ("EventDatabase", "TenantDatabase", "TimeSeriesDatabase")

__all__ = [
    "DbfoldError",
    "EventDatabase",
    "Operation",
    "OperationContext",
    "Row",
    "TenantDatabase",
    "TimeSeriesDatabase",
    "UnifiedDatabase",
    "UnifiedDatabaseBase",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name in _RUNTIME_NAMES:
        from dbfold import runtime

        return getattr(runtime, name)
    if name in _PATTERN_NAMES:
        from dbfold import patterns

        return getattr(patterns, name)
    raise AttributeError(f"module 'dbfold' has no attribute {name!r}")
