"""Options of ``design``: the knobs a user turns from the command line."""

from __future__ import annotations

from dataclasses import dataclass

from dbfold.errors import DesignError


@dataclass(frozen=True)
class DesignOptions:
    """How ``design`` resolves names, merges tables and flattens JSON.

    Attributes:
        naming: ``keep`` keeps unique table names and prefixes clashing ones with the store's
            stem; ``prefix`` prefixes every table name.
        normalize_names: rewrite names to lower-case ``snake_case`` (otherwise odd names are
            kept as they are and quoted).
        merge: merge tables of different stores at all.
        merge_by_shape: merge same-shaped tables whatever their names (the old rule);
            otherwise names must agree too (see ``rules.merges``) and same-shaped tables
            under other names are only suggested.
        merge_threshold: the Jaccard similarity of two tables' column-name sets at or above
            which they merge (1.0: identical names only).
        no_merge: ``store:table`` or bare table names that never merge.
        discriminator: the column that says which store a merged row came from.
        max_depth: how many levels of nested objects flatten into ``a__b`` columns.
        target: the unified database's path or ``postgresql://`` URL (without its password:
            see :func:`dbfold.pgurl.without_password`); None keeps the previous plan's, or
            the default ``data/unified.db``.
        schema: the PostgreSQL schema of the unified tables; None keeps the previous
            plan's, or ``public``.
    """

    naming: str = "keep"
    normalize_names: bool = False
    merge: bool = True
    merge_by_shape: bool = False
    merge_threshold: float = 1.0
    no_merge: tuple[str, ...] = ()
    discriminator: str = "source"
    max_depth: int = 2
    target: str | None = None
    schema: str | None = None

    def __post_init__(self) -> None:
        if self.naming not in ("keep", "prefix"):
            raise DesignError(f"naming must be 'keep' or 'prefix', not {self.naming!r}")
        if not 0.0 < self.merge_threshold <= 1.0:
            raise DesignError(f"merge threshold must be in (0, 1], not {self.merge_threshold!r}")
        if self.max_depth < 1:
            raise DesignError(f"max depth must be at least 1, not {self.max_depth!r}")
        if not self.discriminator.strip():
            raise DesignError("the discriminator column needs a name")
        if self.schema is not None and not self.schema.strip():
            raise DesignError("the schema needs a name")
        if self.schema is not None and (
            "\x00" in self.schema or len(self.schema.encode("utf-8")) > 63
        ):
            raise DesignError(
                f"schema {self.schema!r} is not a PostgreSQL name (at most 63 bytes, no NUL)"
            )

    def merge_allowed(self, store: str, table: str) -> bool:
        """False when the user opted ``store:table`` (or every ``table``) out of merging."""
        return f"{store}:{table}" not in self.no_merge and table not in self.no_merge
