"""Runtime-specific subclasses of the :mod:`dbfold.errors` tree.

They exist so callers can tell a constraint violation or a lock timeout apart from other
runtime failures without catching driver exceptions; both are still
:class:`~dbfold.errors.RuntimeDatabaseError`, so ``except DbfoldError`` keeps working.
"""

from __future__ import annotations

from dbfold.errors import RuntimeDatabaseError


class ConstraintError(RuntimeDatabaseError):
    """A write broke a constraint (UNIQUE, NOT NULL, CHECK, FOREIGN KEY)."""


class DatabaseBusyError(RuntimeDatabaseError):
    """The database stayed locked by other writers, or no connection came free, in time."""


class ForkedDatabaseError(RuntimeDatabaseError):
    """The database was open in the parent when this process forked; open it after the fork."""


__all__ = ["ConstraintError", "DatabaseBusyError", "ForkedDatabaseError"]
