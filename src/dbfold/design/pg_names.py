"""The names PostgreSQL objects of a plan get that the plan itself does not spell out.

A primary key and a unique constraint become indexes, which live in the schema's one
namespace with tables, views and the plan's own indexes. dbfold names them as PostgreSQL
would (:func:`pg_object_name`, a port of ``makeObjectName``: ``users_pkey``,
``users_email_key``) but explicitly, so the DDL is the same on every run; design keeps every
other name of the plan away from them (:func:`reserved_names`).
"""

from __future__ import annotations

from dbfold.design.pg_types import PG_NAME_BYTES, fit_name, truncate_bytes
from dbfold.plan import Plan, PlanForeignKey, PlanTable


def pg_object_name(name1: str, name2: str | None, label: str) -> str:
    """``name1_name2_label`` cut to 63 bytes the way PostgreSQL's ``makeObjectName`` cuts it:
    the longer of the two names loses a byte at a time, never mid-character.

    >>> pg_object_name("users", "email", "key"), pg_object_name("users", None, "pkey")
    ('users_email_key', 'users_pkey')
    >>> len(pg_object_name("t" * 70, None, "pkey"))
    63
    """
    overhead = len(label.encode()) + 1 + (1 if name2 is not None else 0)
    avail = PG_NAME_BYTES - overhead
    n1 = len(name1.encode("utf-8"))
    n2 = len(name2.encode("utf-8")) if name2 is not None else 0
    while n1 + n2 > avail:
        if n1 > n2:
            n1 -= 1
        else:
            n2 -= 1
    parts = [truncate_bytes(name1, n1)]
    if name2 is not None:
        parts.append(truncate_bytes(name2, n2))
    parts.append(label)
    return "_".join(parts)


def primary_key_name(table: PlanTable) -> str:
    """The name of the table's primary-key constraint (and index): ``<table>_pkey``."""
    return pg_object_name(table.name, None, "pkey")


def unique_index_names(table: PlanTable) -> list[str]:
    """The names of the unique indexes that carry the table's unique constraints, in order
    (``<table>_<columns>_key``; a second group that would get the same name gets a hash)."""
    out: list[str] = []
    taken = {primary_key_name(table).casefold()} if table.primary_key else set()
    for group in table.unique:
        name = pg_object_name(table.name, "_".join(group), "key")
        n = 0
        while name.casefold() in taken:
            n += 1
            name = fit_name(name, salt=str(n))
        taken.add(name.casefold())
        out.append(name)
    return out


def foreign_key_names(table: PlanTable) -> list[str]:
    """The constraint names of the table's foreign keys, in order (``<table>_<cols>_fkey``;
    PostgreSQL wants them unique per table only)."""
    out: list[str] = []
    taken: set[str] = set()
    for fk in table.foreign_keys:
        name = _fk_name(table, fk)
        n = 0
        while name.casefold() in taken:
            n += 1
            name = fit_name(name, salt=str(n))
        taken.add(name.casefold())
        out.append(name)
    return out


def _fk_name(table: PlanTable, fk: PlanForeignKey) -> str:
    return pg_object_name(table.name, "_".join(fk.columns), "fkey")


def reserved_names(plan: Plan) -> list[str]:
    """Every index name the renderer makes for keys and unique constraints."""
    out: list[str] = []
    for t in plan.tables:
        if t.primary_key:
            out.append(primary_key_name(t))
        out.extend(unique_index_names(t))
    return out
