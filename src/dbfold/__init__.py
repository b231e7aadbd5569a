"""dbfold: fold a project's scattered data stores into one unified database.

The public API: :class:`UnifiedDatabase` (the runtime base class), the stage functions
(:func:`analyze`, :func:`design`) and the exception root :class:`DbfoldError`.
"""

from __future__ import annotations

from dbfold.errors import DbfoldError
from dbfold.runtime import Operation, OperationContext, Row, UnifiedDatabase, UnifiedDatabaseBase

__version__ = "0.1.0"

__all__ = [
    "DbfoldError",
    "Operation",
    "OperationContext",
    "Row",
    "UnifiedDatabase",
    "UnifiedDatabaseBase",
    "__version__",
]
