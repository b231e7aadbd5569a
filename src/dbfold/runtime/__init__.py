"""The runtime: ``UnifiedDatabase`` and what it returns.

Stands alone: nothing here imports from dbfold except :mod:`dbfold.errors` and the leaf
:mod:`dbfold.sqlitefiles` (which files may be touched with plain I/O, fork detection).
"""

from __future__ import annotations

from dbfold.runtime.backend import Backend, SqliteBackend, open_backend, quote_ident
from dbfold.runtime.database import UnifiedDatabase, UnifiedDatabaseBase
from dbfold.runtime.exceptions import ConstraintError, DatabaseBusyError, ForkedDatabaseError
from dbfold.runtime.jsoncols import Result, Row, TableInfo
from dbfold.runtime.operations import Operation, OperationRecord, OperationStats
from dbfold.runtime.versions import MigrationResult, version_key

#: Alias: the context object ``start_operation`` and ``operation`` return.
OperationContext = Operation

__all__ = [
    "Backend",
    "ConstraintError",
    "DatabaseBusyError",
    "ForkedDatabaseError",
    "MigrationResult",
    "Operation",
    "OperationContext",
    "OperationRecord",
    "OperationStats",
    "Result",
    "Row",
    "SqliteBackend",
    "TableInfo",
    "UnifiedDatabase",
    "UnifiedDatabaseBase",
    "open_backend",
    "quote_ident",
    "version_key",
]
