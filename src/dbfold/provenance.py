"""Provenance of adapter writes: which rows legacy connections changed after the cutover.

After the cutover a routed legacy program writes through adapters straight into the unified
database; its legacy file no longer receives those rows. Every legacy connection therefore
records each key it inserts, updates or deletes (TEMP triggers, so in the same statement and
transaction as the write, and for rows written by carried-over triggers too, or deleted by
REPLACE conflict resolution through a UNIQUE constraint): the triggers
append to ``dbfold_adapter_log`` (cheap: no key index to maintain per write), and the view
``dbfold_adapter_writes`` gives each written key once, with its last op. ``verify`` leaves
those keys out of both sides and reports them apart, and an incremental ``migrate`` never
replaces, deletes or resurrects them.

A row is identified as ``verify`` identifies it: the target table, the source's
discriminator value (``''`` for a table that was not merged) and a JSON array of the row's
key columns — the primary key without the discriminator, or, for a table without one, every
column the source fills. Shared by the migration and the adapters (it depends on the plan
only).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from dbfold.plan import PlanTable, Source
from dbfold.quoting import literal, quote

__all__ = [
    "LOG_TABLE",
    "VIEW_DDL",
    "WRITES_DDL",
    "WRITES_TABLE",
    "compact_log",
    "generated_columns",
    "install",
    "key_columns",
    "key_sql",
    "normalize_key",
    "parse_key",
    "read_writes",
    "replace_sets",
    "source_value",
    "trigger_statements",
]

WRITES_TABLE = "dbfold_adapter_writes"  # a view: the last op per key (what readers query)
LOG_TABLE = "dbfold_adapter_log"  # append-only: one row per recorded write, in order
#: The log the adapters' triggers append to. A plain rowid table without a key index, so
#: recording a write is one append to the last leaf page (no upsert, no index b-tree).
WRITES_DDL = (
    f'CREATE TABLE IF NOT EXISTS "{LOG_TABLE}" ('
    '"target_table" TEXT NOT NULL, '
    '"source" TEXT NOT NULL, '  # the discriminator value, '' for a table not merged
    '"key" TEXT NOT NULL, '  # JSON array of the row's key columns
    '"op" TEXT NOT NULL)'  # insert, update or delete (the last one per key wins)
)
#: ``dbfold_adapter_writes``: every written key once, with its last op.
VIEW_DDL = (
    f'CREATE VIEW IF NOT EXISTS "{WRITES_TABLE}" AS '
    f'SELECT "target_table", "source", "key", "op" FROM "{LOG_TABLE}" '
    f'WHERE rowid IN (SELECT max(rowid) FROM "{LOG_TABLE}" '
    'GROUP BY "target_table", "source", "key")'
)


def source_value(source: Source) -> str:
    """The ``source`` column of this source's records: its discriminator value, or ''."""
    return source.value if source.discriminator and source.value is not None else ""


def generated_columns(source: Source) -> list[str]:
    """Target columns the migration fills itself (surrogate, parent key, position)."""
    mapped = {c.casefold() for c in source.columns.values()}
    out = []
    if source.surrogate and not source.discriminator and source.surrogate.casefold() not in mapped:
        out.append(source.surrogate)
    if source.parent_column and source.position_column:
        out += [source.parent_column, source.position_column]
    return out


def key_columns(table: PlanTable, source: Source) -> list[str]:
    """The target columns that identify one row of ``source`` in ``table``.

    The primary key without the discriminator (as far as the source fills it), else every
    column the source fills.

    >>> from dbfold.plan import PlanColumn
    >>> t = PlanTable("t", (PlanColumn("k", "text"), PlanColumn("id", "integer")),
    ...               primary_key=("k", "id"))
    >>> key_columns(t, Source("a.db", "t", {"id": "id"}, discriminator="k", value="a"))
    ['id']
    """
    cols = [*source.columns.values(), *generated_columns(source)]
    folded = [c.casefold() for c in cols]
    disc = (source.discriminator or "").casefold()
    pk = [
        cols[folded.index(c.casefold())]
        for c in table.primary_key
        if c.casefold() != disc and c.casefold() in folded
    ]
    return pk or cols


def key_sql(table: PlanTable, columns: Iterable[str], qualifier: str = "") -> str:
    """SQL for the JSON key of a row: ``json_array(…)`` over ``columns``.

    BLOBs (which JSON cannot hold) become their ``x'…'`` literal text; a lone INTEGER
    PRIMARY KEY (never a BLOB) is used as it is.
    """
    cols = list(columns)
    pre = f"{qualifier}." if qualifier else ""
    rowid_alias = (
        len(cols) == 1
        and len(table.primary_key) == 1
        and table.primary_key[0].casefold() == cols[0].casefold()
        and (c := table.column(cols[0])) is not None
        and c.type == "integer"
    )
    parts = []
    for name in cols:
        ref = pre + quote(name)
        if rowid_alias:
            parts.append(ref)
        else:
            parts.append(
                f"CASE WHEN typeof({ref}) = 'blob' THEN 'x''' || hex({ref}) || '''' ELSE {ref} END"
            )
    return f"json_array({', '.join(parts)})"


def normalize_key(key: tuple[Any, ...]) -> tuple[Any, ...]:
    """A row's key in the form :func:`parse_key` returns (BLOBs as ``x'…'`` text)."""
    if any(type(v) is bytes for v in key):
        return tuple("x'" + v.hex().upper() + "'" if type(v) is bytes else v for v in key)
    return key


def parse_key(text: str) -> tuple[Any, ...]:
    """The key tuple of a ``dbfold_adapter_writes.key`` value.

    >>> parse_key('[1, "a"]')
    (1, 'a')
    """
    value = json.loads(text)
    return tuple(value) if isinstance(value, list) else (value,)


def read_writes(con: Any) -> dict[tuple[str, str], dict[tuple[Any, ...], str]]:
    """Per (target table, source value): every key written through adapters and its last op.

    Empty when the database has no ``dbfold_adapter_writes`` (no adapter ever wrote).
    """
    kind = dict(
        con.execute(
            "SELECT name, type FROM sqlite_master WHERE name IN (?, ?)", (WRITES_TABLE, LOG_TABLE)
        ).fetchall()
    )
    out: dict[tuple[str, str], dict[tuple[Any, ...], str]] = {}
    if kind.get(WRITES_TABLE) == "table":  # an older dbfold's: one row per key
        sql = f'SELECT "target_table", "source", "key", "op" FROM "{WRITES_TABLE}"'
    elif kind.get(WRITES_TABLE) == "view" and kind.get(LOG_TABLE) == "table":
        # The log in order: a later op of a key replaces the earlier one.
        sql = f'SELECT "target_table", "source", "key", "op" FROM "{LOG_TABLE}" ORDER BY rowid'
    else:
        return out
    for table, value, key, op in con.execute(sql):
        out.setdefault((table, value), {})[parse_key(key)] = op
    return out


def _append(table: str, value: str, key: str, op: str, cond: str = "") -> str:
    row = f"{literal(table)}, {literal(value)}, {key}, '{op}'"
    into = f'INSERT INTO "{LOG_TABLE}" ("target_table", "source", "key", "op") '
    return f"{into}SELECT {row} WHERE {cond}" if cond else f"{into}VALUES ({row})"


def replace_sets(table: PlanTable, key: list[str]) -> list[tuple[str, ...]]:
    """The UNIQUE column sets of ``table`` on which a REPLACE can delete a row of another key.

    The primary key never can (equal values are the same key); neither can a set that holds
    every key column.
    """
    sets = [*table.unique, *(ix.columns for ix in table.indexes if ix.unique)]
    keys = {c.casefold() for c in key}
    pk = [c.casefold() for c in table.primary_key]
    out: list[tuple[str, ...]] = []
    for cols in sets:
        folded = [c.casefold() for c in cols]
        if not cols or folded == pk or keys <= set(folded) or tuple(cols) in out:
            continue
        out.append(tuple(cols))
    return out


def trigger_statements(table: PlanTable, source: Source) -> list[str]:
    """TEMP triggers (one legacy connection's) that record its writes to ``table``.

    AFTER triggers, so a row an ``OR IGNORE`` skipped is not recorded, and the record is
    undone with the statement or transaction that made it.

    A row that REPLACE conflict resolution deletes fires no DELETE trigger (SQLite fires them
    only under ``PRAGMA recursive_triggers``, which would also change how the legacy
    program's own triggers fire). So on a table with UNIQUE constraints besides its key, a
    BEFORE trigger notes this source's rows that conflict with the new row (in a TEMP table)
    and the AFTER trigger records, as deleted, those whose key is gone once the row is in.
    An insert that was ignored leaves its notes behind, and the next BEFORE trigger drops
    them.
    """
    cols = key_columns(table, source)
    value = source_value(source)
    tag = f"{table.name}_{value}"
    on = f"main.{quote(table.name)}"
    new, old = key_sql(table, cols, "NEW"), key_sql(table, cols, "OLD")

    def mine(row: str) -> str:
        return f"{row}.{quote(source.discriminator or '')} = {literal(value)}"

    def when(*rows: str) -> str:
        if not source.discriminator:
            return ""
        return " WHEN " + " OR ".join(mine(r) for r in rows)

    name = table.name
    out = [
        f"CREATE TEMP TRIGGER IF NOT EXISTS {quote('dbfold_wi_' + tag)} AFTER INSERT ON {on}"
        f"{when('NEW')} BEGIN {_append(name, value, new, 'insert')}; END",
        f"CREATE TEMP TRIGGER IF NOT EXISTS {quote('dbfold_wu_' + tag)} AFTER UPDATE ON {on}"
        f"{when('NEW', 'OLD')} BEGIN "
        f"{_append(name, value, old, 'delete', f'{old} IS NOT {new}')}; "
        f"{_append(name, value, new, 'update')}; END",
        f"CREATE TEMP TRIGGER IF NOT EXISTS {quote('dbfold_wd_' + tag)} AFTER DELETE ON {on}"
        f"{when('OLD')} BEGIN {_append(name, value, old, 'delete')}; END",
    ]
    sets = replace_sets(table, cols)
    if not sets:
        return out
    # Rows that a REPLACE of the new row would delete: noted before, recorded after.
    notes = quote("dbfold_replaced_" + tag)
    own = f"{mine('t')} AND " if source.discriminator else ""
    clash = " OR ".join(
        "(" + " AND ".join(f"t.{quote(c)} = NEW.{quote(c)}" for c in cols_) + ")" for cols_ in sets
    )
    note = (
        f"DELETE FROM {notes}; INSERT INTO {notes} "
        f"SELECT {', '.join('t.' + quote(c) for c in cols)} FROM {on} AS t WHERE {own}({clash})"
    )
    gone = " AND ".join(f"t.{quote(c)} IS n.{quote(c)}" for c in cols)
    record = (
        f'INSERT INTO "{LOG_TABLE}" ("target_table", "source", "key", "op") '
        f"SELECT DISTINCT {literal(name)}, {literal(value)}, {key_sql(table, cols, 'n')}, "
        f"'delete' FROM {notes} AS n WHERE NOT EXISTS (SELECT 1 FROM {on} AS t WHERE {own}{gone}); "
        f"DELETE FROM {notes}"
    )
    changed = ", ".join(dict.fromkeys(quote(c) for cols_ in sets for c in cols_))
    return [
        *out,
        f"CREATE TEMP TABLE IF NOT EXISTS {notes} ({', '.join(quote(c) for c in cols)})",
        f"CREATE TEMP TRIGGER IF NOT EXISTS {quote('dbfold_ri_' + tag)} BEFORE INSERT ON {on}"
        f"{when('NEW')} BEGIN {note}; END",
        f"CREATE TEMP TRIGGER IF NOT EXISTS {quote('dbfold_rj_' + tag)} AFTER INSERT ON {on}"
        f"{when('NEW')} BEGIN {record}; END",
        f"CREATE TEMP TRIGGER IF NOT EXISTS {quote('dbfold_ru_' + tag)} BEFORE UPDATE OF "
        f"{changed} ON {on}{when('NEW')} BEGIN {note}; END",
        f"CREATE TEMP TRIGGER IF NOT EXISTS {quote('dbfold_rv_' + tag)} AFTER UPDATE OF "
        f"{changed} ON {on}{when('NEW')} BEGIN {record}; END",
    ]


def _kinds(con: Any) -> dict[str, str]:
    import sqlite3

    rows = sqlite3.Connection.execute(
        con,
        "SELECT name, type FROM sqlite_master WHERE name IN (?, ?)",
        (WRITES_TABLE, LOG_TABLE),
    ).fetchall()
    return {name: kind for name, kind in rows}


def compact_log(con: Any) -> int:
    """Keep one log row per written key (its last op); return how many rows went.

    The log only grows while legacy code writes through adapters; ``dbfold_adapter_writes``
    reads the last row per key, so dropping the earlier ones changes nothing it answers.
    Run in the caller's transaction (``dbfold optimize`` does, before ``VACUUM``).
    """
    if _kinds(con).get(LOG_TABLE) != "table":
        return 0
    cur = con.execute(
        f'DELETE FROM "{LOG_TABLE}" WHERE rowid NOT IN (SELECT max(rowid) FROM "{LOG_TABLE}" '
        'GROUP BY "target_table", "source", "key")'
    )
    return int(cur.rowcount)


def install(con: Any, statements: Iterable[str]) -> None:
    """Create the log and the ``dbfold_adapter_writes`` view if missing, then the TEMP triggers.

    A ``dbfold_adapter_writes`` *table* (an older dbfold's, one upserted row per key) is
    carried into the log and replaced by the view. ``con`` is a sqlite3 connection (its
    base-class ``execute`` is used, so a legacy connection runs the statements
    untranslated); the caller commits the DDL if needed.
    """
    import sqlite3

    run = sqlite3.Connection.execute
    kinds = _kinds(con)
    if kinds.get(LOG_TABLE) != "table" or kinds.get(WRITES_TABLE) != "view":
        # migrate creates the log; the view comes with the first adapter. If another writer
        # holds the lock now, try again at the next connection rather than fail to open
        # (the triggers would fail every write without the log).
        began = not con.in_transaction
        try:
            if began:
                run(con, "BEGIN IMMEDIATE")
            kinds = _kinds(con)
            run(con, WRITES_DDL)
            if kinds.get(WRITES_TABLE) == "table":
                run(
                    con,
                    f'INSERT INTO "{LOG_TABLE}" ("target_table", "source", "key", "op") '
                    f'SELECT "target_table", "source", "key", "op" FROM "{WRITES_TABLE}" '
                    'ORDER BY "at"',
                )
                run(con, f'DROP TABLE "{WRITES_TABLE}"')
            run(con, VIEW_DDL)
            if began:
                run(con, "COMMIT")
        except sqlite3.OperationalError as exc:
            if began and con.in_transaction:
                run(con, "ROLLBACK")
            if "locked" in str(exc):
                return
            raise
    for statement in statements:
        run(con, statement)
