"""What migrate, verify and optimize return: plain frozen values, JSON-able."""

from __future__ import annotations

from dataclasses import dataclass

from dbfold.model import Problem, Serializable


@dataclass(frozen=True)
class TablePlan(Serializable):
    """The dry run of one target table: what will run, how much, how long, what is wrong."""

    name: str
    operations: tuple[str, ...]
    rows: int
    bytes: int
    seconds: float
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class SourceResult(Serializable):
    """What happened to one source (one record set into one target table).

    ``status``: ``copied`` (first copy), ``appended`` (new rows only), ``recopied`` (changed
    file, its rows replaced), ``unchanged``, ``skipped`` (unreadable; see problems).
    """

    store: str
    table: str
    target: str
    status: str
    rows: int = 0
    rows_total: int = 0
    watermark: int | None = None
    seconds: float = 0.0
    array: str | None = None


@dataclass(frozen=True)
class Orphan(Serializable):
    """A row whose foreign key points at no parent (found by ``foreign_key_check``)."""

    table: str
    rowid: int | None
    parent: str
    count: int = 1


@dataclass(frozen=True)
class TableCheck(Serializable):
    """Verification of one source against the target rows that came from it."""

    store: str
    table: str
    target: str
    source_rows: int
    target_rows: int
    source_checksum: str
    target_checksum: str
    first_difference: str | None = None
    pending_rows: int = 0
    array: str | None = None
    #: Keys written through adapters since the cutover, left out of both sides.
    adapter_rows: int = 0

    @property
    def ok(self) -> bool:
        """Counts and checksums agree."""
        return self.source_rows == self.target_rows and self.source_checksum == self.target_checksum


@dataclass(frozen=True)
class VerifyReport(Serializable):
    """Per source: counts and order-independent checksums on both sides."""

    target: str
    checks: tuple[TableCheck, ...] = ()
    problems: tuple[Problem, ...] = ()
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Every check agrees and nothing could not be checked."""
        return all(c.ok for c in self.checks) and not any(
            p.severity == "error" for p in self.problems
        )

    @property
    def adapter_rows(self) -> int:
        """Rows changed through adapters since the cutover (expected; not compared)."""
        return sum(c.adapter_rows for c in self.checks)

    @property
    def mismatches(self) -> tuple[TableCheck, ...]:
        """The checks that failed."""
        return tuple(c for c in self.checks if not c.ok)


@dataclass(frozen=True)
class MigrationReport(Serializable):
    """The result of :func:`dbfold.migrate.migrate`: a dry run or an executed migration."""

    root: str
    target: str
    executed: bool
    run_id: str
    mode: str  # "new" (built beside, renamed into place), "incremental", "dry-run"
    tables: tuple[TablePlan, ...] = ()
    sources: tuple[SourceResult, ...] = ()
    problems: tuple[Problem, ...] = ()
    orphans: tuple[Orphan, ...] = ()
    verify: VerifyReport | None = None
    seconds: float = 0.0
    rows: int = 0
    bytes_read: int = 0
    sources_bytes: int = 0
    target_bytes: int = 0
    backup: str | None = None
    report_path: str | None = None

    @property
    def ok(self) -> bool:
        """Nothing needs the user: no problems, no orphans, verification green (if run)."""
        return (
            not any(p.severity == "error" for p in self.problems)
            and not self.orphans
            and (self.verify is None or self.verify.ok)
        )


@dataclass(frozen=True)
class OptimizeReport(Serializable):
    """Sizes before and after ``optimize`` and what ran."""

    target: str
    bytes_before: int
    bytes_after: int
    steps: tuple[str, ...]
    integrity: str
    seconds: float

    @property
    def ok(self) -> bool:
        """``integrity_check`` said ok."""
        return self.integrity == "ok"
