"""What a built sample project holds: the expected answers for tests and the demo."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class SampleTable:
    """One table (SQLite) or record set (file store) and its exact row count."""

    name: str
    rows: int


@dataclass(frozen=True)
class SampleStore:
    """One store the generator wrote.

    ``path`` is the name the legacy code opens (relative, POSIX); ``files`` are the files
    on disk that make it up (a shelve on ``dbm.dumb`` is ``x.dat`` + ``x.dir`` + ``x.bak``;
    a SQLite store with pending WAL frames has ``x.db-wal`` too). ``features`` names the
    traps it was built with: ``wal_pending``, ``free_pages``, ``foreign_keys``,
    ``name_clash`` (a table name also used by another store, in another shape),
    ``same_shape`` (a table shaped exactly like one in another store), ``late_keys``,
    ``nested``, ``map``, ``tinydb``.
    """

    path: str
    kind: str
    tables: tuple[SampleTable, ...]
    files: tuple[str, ...] = ()
    features: tuple[str, ...] = ()

    def table(self, name: str) -> SampleTable:
        """The table called ``name``; KeyError if absent."""
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(name)

    @property
    def rows(self) -> int:
        """Rows over all tables."""
        return sum(t.rows for t in self.tables)


@dataclass(frozen=True)
class SampleProject:
    """Everything :func:`~dbfold.demo.build_sample_project` built under ``root``."""

    root: Path
    scale: float
    seed: int
    stores: tuple[SampleStore, ...]
    #: Legacy class name → the store paths it opens (what the code scan should find).
    interfaces: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: Tool configuration files that look like data but must be skipped.
    config_files: tuple[str, ...] = ()
    #: The legacy program's files (relative, POSIX).
    code_files: tuple[str, ...] = ()

    def store(self, path: str) -> SampleStore:
        """The store at ``path``; KeyError if absent."""
        for s in self.stores:
            if s.path == path:
                return s
        raise KeyError(path)

    @property
    def store_paths(self) -> tuple[str, ...]:
        """Every store path, in build order."""
        return tuple(s.path for s in self.stores)

    @property
    def bytes(self) -> int:
        """Bytes on disk of every store file."""
        return sum((self.root / f).stat().st_size for s in self.stores for f in s.files)
