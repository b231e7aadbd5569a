"""The exception tree: one root, one subclass per stage.

Every error that reaches a user is a :class:`DbfoldError` whose message is one line naming
the file concerned and what to do about it. Driver errors are wrapped with ``raise … from``
so the original stays available under ``-v``.
"""

from __future__ import annotations


class DbfoldError(Exception):
    """Root of every error dbfold raises on purpose."""

    #: Exit code the CLI uses for this error (2: the command could not run).
    exit_code: int = 2


class UsageError(DbfoldError):
    """The command was called wrongly (bad option, missing input)."""


class ScanError(DbfoldError):
    """`analyze` could not read a project tree or a store."""


class DesignError(DbfoldError):
    """`design` could not build or validate a plan."""


class MigrateError(DbfoldError):
    """`migrate` or `verify` could not move or check data."""


class VerificationError(MigrateError):
    """The target does not hold exactly what the sources hold."""

    exit_code = 1


class RuntimeDatabaseError(DbfoldError):
    """The unified database could not be opened, used or migrated."""


class TargetError(RuntimeDatabaseError):
    """The target location is unusable: unknown scheme, read-only folder, not a database."""


class SchemaError(RuntimeDatabaseError):
    """The declared schema is malformed or cannot be applied."""


class SchemaVersionError(RuntimeDatabaseError):
    """The database's schema version is newer than the code, or is otherwise unusable."""


class DataLossError(SchemaError):
    """A schema change would drop a table or column that holds data."""


class OperationError(RuntimeDatabaseError):
    """An operation id is unknown or an operation is used out of order."""


class AdapterError(DbfoldError):
    """A legacy statement cannot be translated onto the unified database."""


class OptimizeError(DbfoldError):
    """`optimize` could not run (for example, another process is writing)."""


class ConcurrencyError(RuntimeDatabaseError):
    """An append's expected version did not match the stream; nothing was written.

    Attributes:
        stream: The stream appended to.
        expected: The expected version the caller passed.
        actual: The stream's version when the append was refused (0: no stream).
    """

    def __init__(
        self, message: str, *, stream: str = "", expected: object = None, actual: int = 0
    ) -> None:
        super().__init__(message)
        self.stream = stream
        self.expected = expected
        self.actual = actual
