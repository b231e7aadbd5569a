"""How a PostgreSQL plan would spread over a Citus cluster, on paper and as SQL calls.

Citus shards a *distributed* table by one column and copies a *reference* table to every
node. :func:`citus_layout` proposes, per table:

- the **distribution column**: a tenant-like key (``tenant_id``, ``account_id``,
  ``org_id``, ``customer_id``, ``user_id``…) when the table has one; else, for the table
  those keys point at (``accounts`` for ``account_id``), its own one-column key, so tenant
  rows and their tenant share a node; else the merge discriminator of a merged table;
- **reference tables**: tables without such a column that other tables reference, or that
  are small (when row counts are given);
- **blockers**: what Citus would refuse for a distributed table: a primary key or unique
  constraint without the distribution column, and foreign keys that neither include it
  nor point at a reference table.

:func:`citus_sqls` turns the layout into ``create_reference_table`` /
``create_distributed_table`` calls (reference tables first, which Citus wants before the
distributed tables that reference them); a blocked call is written commented out, with its
blockers, so the script still runs. No Citus server runs where dbfold is tested, so these
calls are checked for syntax only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from dbfold.design.pg_render import pg_quote, qualified
from dbfold.plan import Plan, PlanTable
from dbfold.quoting import literal

#: Column names that mark the tenant a row belongs to, best first.
TENANT_KEYS = (
    "tenant_id",
    "account_id",
    "org_id",
    "organization_id",
    "organisation_id",
    "company_id",
    "customer_id",
    "workspace_id",
    "team_id",
    "project_id",
    "user_id",
    "owner_id",
)
#: A table of at most this many rows, with no tenant key, is a reference table.
SMALL_ROWS = 100_000


@dataclass(frozen=True)
class CitusTable:
    """What Citus would make of one table.

    ``distribution_column`` is None for a reference table and for one left on the
    coordinator as a plain table (``reference`` False); ``blockers`` are the constraints
    that would make ``create_distributed_table`` fail; ``why`` says how it was chosen.
    """

    table: str
    distribution_column: str | None
    reference: bool
    blockers: tuple[str, ...] = ()
    why: str = ""

    @property
    def distributed(self) -> bool:
        """Whether the table is sharded by its distribution column."""
        return self.distribution_column is not None


def snake(name: str) -> str:
    """A column name compared with :data:`TENANT_KEYS`: camelCase split, lower case.

    >>> snake("CustomerId"), snake("tenantID"), snake("org-id")
    ('customer_id', 'tenant_id', 'org_id')
    """
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return re.sub(r"[^0-9a-z]+", "_", text.casefold()).strip("_")


def _tenant_key(table: PlanTable) -> str | None:
    by_low: dict[str, str] = {}
    for c in table.columns:
        by_low.setdefault(snake(c.name), c.name)
    return next((by_low[k] for k in TENANT_KEYS if k in by_low), None)


def _discriminator(table: PlanTable) -> str | None:
    names = {s.discriminator for s in table.sources if s.discriminator}
    if len(names) == 1:
        name = next(iter(names))
        col = table.column(name)
        return col.name if col is not None else None
    return None


def citus_layout(plan: Plan, rows: Mapping[str, int] | None = None) -> list[CitusTable]:
    """The Citus layout of every table of the plan, in plan order (see the module text).

    Args:
        plan: the plan.
        rows: row counts by table name, where known; a table of at most
            :data:`SMALL_ROWS` rows with no tenant key becomes a reference table.
    """
    tenant_tables: dict[str, str] = {}  # table (casefolded) → the tenant key pointing at it
    referenced: set[str] = set()
    for t in plan.tables:
        key = _tenant_key(t)
        for fk in t.foreign_keys:
            referenced.add(fk.ref_table.casefold())
            if key is not None and len(fk.columns) == 1 and fk.columns[0] == key:
                tenant_tables.setdefault(fk.ref_table.casefold(), key)
    chosen: dict[str, tuple[str | None, bool, str]] = {}
    for t in plan.tables:
        low = t.name.casefold()
        key = _tenant_key(t)
        if key is not None and not (low in tenant_tables and len(t.primary_key) == 1):
            chosen[low] = (key, False, f"tenant-like key {key}")
        elif low in tenant_tables and len(t.primary_key) == 1:
            via = tenant_tables[low]
            chosen[low] = (
                t.primary_key[0],
                False,
                f"the table {via} points at: distributed by its key, beside its tenants' rows",
            )
        elif low in referenced:
            chosen[low] = (None, True, "referenced by other tables and has no tenant key")
        elif rows is not None and rows.get(t.name, SMALL_ROWS + 1) <= SMALL_ROWS:
            chosen[low] = (None, True, f"small ({rows[t.name]} rows) and has no tenant key")
        elif (disc := _discriminator(t)) is not None:
            chosen[low] = (disc, False, f"merge discriminator {disc}")
        else:
            chosen[low] = (None, False, "no tenant key: stays a plain table on the coordinator")
    out = []
    for t in plan.tables:
        column, reference, why = chosen[t.name.casefold()]
        if column is not None:
            blockers = _blockers(t, column, chosen)
        elif reference:
            blockers = _reference_blockers(t, chosen)
        else:
            blockers = ()
        out.append(CitusTable(t.name, column, reference, blockers, why))
    return out


def _reference_blockers(
    t: PlanTable, chosen: Mapping[str, tuple[str | None, bool, str]]
) -> tuple[str, ...]:
    """A reference table may not reference a distributed table."""
    out = []
    for fk in t.foreign_keys:
        ref = chosen.get(fk.ref_table.casefold())
        if ref is not None and ref[0] is not None:
            out.append(f"foreign key ({', '.join(fk.columns)}) to distributed table {fk.ref_table}")
    return tuple(out)


def _blockers(
    t: PlanTable, column: str, chosen: Mapping[str, tuple[str | None, bool, str]]
) -> tuple[str, ...]:
    low = column.casefold()
    out = []
    groups = [("primary key", t.primary_key)] if t.primary_key else []
    groups += [("unique", u) for u in t.unique]
    groups += [(f"unique index {ix.name}", ix.columns) for ix in t.indexes if ix.unique]
    for what, cols in groups:
        if low not in {c.casefold() for c in cols}:
            out.append(f"{what} ({', '.join(cols)}) does not include {column}")
    for fk in t.foreign_keys:
        ref = chosen.get(fk.ref_table.casefold())
        if ref is None or ref[1]:
            continue  # to a reference table (or outside the plan): Citus accepts it
        if low not in {c.casefold() for c in fk.columns}:
            out.append(
                f"foreign key ({', '.join(fk.columns)}) to distributed table {fk.ref_table}"
                f" does not include {column}"
            )
    return tuple(out)


def citus_sqls(plan: Plan, schema: str, rows: Mapping[str, int] | None = None) -> list[str]:
    """The Citus calls of :func:`citus_layout`: reference tables, then distributed ones.

    >>> from dbfold.plan import PlanColumn
    >>> t = PlanTable("events", (PlanColumn("tenant_id", "integer"),))
    >>> citus_sqls(Plan(tables=(t,)), "public")[-1]
    'SELECT create_distributed_table(\\'"public"."events"\\', \\'tenant_id\\');'
    """
    layout = citus_layout(plan, rows)
    out = ["-- Citus: reference tables first, then distributed tables (syntax-checked only)"]
    calls: list[tuple[CitusTable, str]] = []
    for c in layout:
        if c.reference:
            rel = literal(qualified(schema, c.table))
            calls.append((c, f"SELECT create_reference_table({rel});"))
    for c in layout:
        if c.distribution_column is not None:
            calls.append(
                (
                    c,
                    f"SELECT create_distributed_table({literal(qualified(schema, c.table))},"
                    f" {literal(c.distribution_column)});",
                )
            )
    for c, call in calls:
        if c.blockers:
            what = "a reference table" if c.reference else "distributed"
            out.append(f"-- {pg_quote(c.table)} cannot be {what} as it stands:")
            out.extend(f"--   {' '.join(b.split())}" for b in c.blockers)
            out.append(f"-- {call}")
        else:
            out.append(call)
    return out


def describe_layout(layout: list[CitusTable]) -> list[str]:
    """One line per table for the report."""
    lines = []
    for c in layout:
        if c.distribution_column is not None:
            what = f"distributed by {c.distribution_column}"
        elif c.reference:
            what = "reference table"
        else:
            what = "plain table"
        line = f"{c.table}: {what} ({c.why})"
        if c.blockers:
            line += "; blocked by: " + "; ".join(c.blockers)
        lines.append(line)
    return lines
