"""Problems a dry run can already see, without writing anything.

* values that break a target constraint: NULLs in a NOT NULL column (SQLite sources are
  counted with SQL; record sets from the analysis), values of a type the column does not
  hold (a warning: SQLite keeps them as they are);
* duplicate keys: a source whose rows would collide on the target's key (SQLite: GROUP BY;
  record sets: one streaming pass over the key fields), and, in a merged table whose key
  lacks the discriminator, the same key in two sources;
* foreign-key orphans between tables of one SQLite store;
* tables SQLite would refuse to create (a default that is not constant), and keys a target
  rowid would renumber (NULL or text in a source key that is no rowid alias): the executed
  run leaves such a table out and migrates the rest;
* stores that changed since the analysis.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dbfold.errors import DbfoldError
from dbfold.migrate.ops import (
    CopyRecords,
    CopySqlite,
    CreateTable,
    Operation,
    Target,
    unfaithful_key,
)
from dbfold.migrate.records import NotMigratable, ReadState, SourceError
from dbfold.migrate.sqlsource import readable
from dbfold.migrate.values import make_extractor
from dbfold.model import Analysis, Column, Problem
from dbfold.plan import Plan, split_path
from dbfold.quoting import quote
from dbfold.scan.json_reader import SMALL
from dbfold.scan.json_verdict import judge_file

#: Record sets larger than this are not scanned for duplicate keys in a dry run.
MAX_KEY_SCAN = 256 * 1024 * 1024
_FITS = {
    "integer": {"integer", "boolean"},
    "real": {"integer", "real"},
    "numeric": {"integer", "real"},
    "boolean": {"boolean", "integer"},
}


def _column(cols: Sequence[Column], path: str) -> Column | None:
    col = None
    for name in split_path(path):
        col = next((c for c in cols if c.name == name), None)
        if col is None:
            return None
        cols = col.fields
    return col


def _sqlite_checks(
    root: Path, op: CopySqlite, out: list[str], problems: list[Problem]
) -> _Keys | None:
    t, s = op.target, op.target.source
    notnull = [
        (p, c)
        for p, c in zip(t.paths, t.columns, strict=True)
        if (col := t.table.column(c)) is not None and not col.nullable
    ]
    from dbfold.migrate.copy import key_conflict

    disc = (s.discriminator or "").casefold()
    path_of = {c.casefold(): p for p, c in zip(t.paths, t.columns, strict=True)}
    key_cols = [c for c in t.table.primary_key if c.casefold() != disc]
    pk = [c.casefold() for c in key_cols]
    key_paths = [path_of[c] for c in pk if c in path_of]
    own = [k.casefold() for k in op.source.primary_key]
    keys: _Keys | None = None
    label = f"{s.store}:{s.table}"
    # A merged table whose key holds the discriminator: keys collide only between sources
    # that mark their rows with the same value.
    shared = any(
        o.discriminator == s.discriminator
        and o.value == s.value
        and (o.store, o.table, o.array) != (s.store, s.table, s.array)
        for o in t.table.sources
    )
    con = sqlite3.connect(":memory:")
    try:
        with readable(root / op.store.path) as (uri, _snap):
            con.execute("ATTACH DATABASE ? AS src", (uri,))
            name = f"src.{quote(s.table)}"
            (count,) = con.execute(f"SELECT count(*) FROM {name}").fetchone()
            if count != op.source.rows:
                problems.append(
                    Problem(
                        s.store,
                        f"{s.store}: table {s.table} changed since the analysis"
                        f" ({op.source.rows:,} → {count:,} rows); the migration will copy"
                        " what it holds then",
                        "warning",
                    )
                )
            if notnull:
                sums = ", ".join(f"sum({quote(p)} IS NULL)" for p, _ in notnull)
                counts = con.execute(f"SELECT {sums} FROM {name}").fetchone()
                for (_p, c), n in zip(notnull, counts, strict=True):
                    if n:
                        out.append(
                            f"{n:,} NULLs from {s.store}:{s.table} in NOT NULL column {c}; the"
                            f" copy of this table will fail (the rest migrates): set {c}"
                            ' "nullable": true in .dbfold/plan.json'
                        )
            key = unfaithful_key(con, op)
            if key is not None:
                out.append(f"{s.store}:{s.table} will not be migrated (the rest migrates): {key}")
            if key_paths and len(key_paths) == len(pk) and [k.casefold() for k in key_paths] != own:
                cols = ", ".join(map(quote, key_paths))
                present = " AND ".join(f"{quote(k)} IS NOT NULL" for k in key_paths)
                dups = con.execute(
                    f"SELECT {cols} FROM {name} WHERE {present}"
                    f" GROUP BY {cols} HAVING count(*) > 1 ORDER BY {cols} LIMIT 3"
                ).fetchall()
                if dups:
                    out.append(
                        key_conflict(label, t.table.name, key_cols, dups)
                        + "; the copy of this table will fail (the rest migrates)"
                    )
            in_pk = disc in {k.casefold() for k in t.table.primary_key}
            if (
                s.discriminator
                and key_paths
                and len(key_paths) == len(pk)
                and (not in_pk or (s.value is not None and shared))
            ):
                cols = ", ".join(map(quote, key_paths))
                present = " AND ".join(f"{quote(k)} IS NOT NULL" for k in key_paths)
                keys = _Keys(
                    label,
                    tuple(key_cols),
                    set(con.execute(f"SELECT {cols} FROM {name} WHERE {present}")),
                    s.discriminator,
                    s.value,
                    in_pk,
                )
    finally:
        con.close()
    return keys


@dataclass
class _Keys:
    """The keys of one source of a merged table, for the comparison between sources."""

    label: str  # store:table
    cols: tuple[str, ...]  # the target's key columns, without the discriminator
    keys: set[tuple[object, ...]]
    discriminator: str | None
    value: str | None
    in_pk: bool  # the discriminator is part of the target's key


def _order(key: tuple[object, ...]) -> tuple[tuple[int, object], ...]:
    """Sort keys roughly as SQLite orders them (numbers, then text, then blobs)."""
    out: list[tuple[int, object]] = []
    for v in key:
        if isinstance(v, (int, float)):
            out.append((1, v))
        elif isinstance(v, str):
            out.append((2, v))
        elif isinstance(v, bytes):
            out.append((3, v))
        else:
            out.append((0, 0))
    return tuple(out)


def _record_checks(root: Path, op: CopyRecords, out: dict[str, list[str]]) -> None:
    from dbfold.migrate.copy import record_batches

    rows = op.source.rows
    for t in op.targets:
        if t.source.array:
            continue
        for p, c in zip(t.paths, t.columns, strict=True):
            col, acol = t.table.column(c), _column(op.source.columns, p)
            if col is None or acol is None:
                continue
            nulls = acol.observed.get("null", 0) + rows - (acol.present or rows)
            if not col.nullable and nulls > 0:
                out.setdefault(t.table.name, []).append(
                    f"{nulls:,} records of {op.store.path} lack {p}, but {c} is NOT NULL"
                )
            fits = _FITS.get(col.type)
            if fits:
                bad = sum(n for typ, n in acol.observed.items() if typ not in fits | {"null"})
                if bad:
                    out.setdefault(t.table.name, []).append(
                        f"{bad:,} values of {op.store.path}:{p} are not {col.type}"
                        f" (column {c}); SQLite keeps them as they are"
                    )
    roots = [t for t in op.roots if t.key_index is not None]
    if not roots or op.store.bytes > MAX_KEY_SCAN:
        return
    for t in roots:
        i = t.key_index
        assert i is not None
        extract = make_extractor([t.paths[i]], [False])
        seen: set[object] = set()
        dups = 0
        first = None
        for batch in record_batches(op, root / op.store.path, ReadState()):
            for rec in batch:
                (k,) = extract(rec)
                if k in seen:
                    dups += 1
                    first = first if first is not None else k
                else:
                    seen.add(k)
        if dups:
            out.setdefault(t.table.name, []).append(
                f"{dups:,} duplicate keys in {op.store.path} (first: {first!r});"
                " the copy of this source will fail"
            )


def _orphans(root: Path, plan: Plan, ops: Sequence[Operation], out: dict[str, list[str]]) -> None:
    by_table = {op.target.table.name: op for op in ops if isinstance(op, CopySqlite)}
    for table in plan.tables:
        for fk in table.foreign_keys:
            child, parent = by_table.get(table.name), by_table.get(fk.ref_table)
            if child is None or parent is None or len(fk.columns) != 1:
                continue
            if child.store.path != parent.store.path or len(table.sources) != 1:
                continue
            inv = {c.casefold(): p for p, c in child.target.source.columns.items()}
            pinv = {c.casefold(): p for p, c in parent.target.source.columns.items()}
            cp, pp = inv.get(fk.columns[0].casefold()), pinv.get(fk.ref_columns[0].casefold())
            if cp is None or pp is None:
                continue
            c_name = f"src.{quote(child.target.source.table)}"
            p_name = f"src.{quote(parent.target.source.table)}"
            con = sqlite3.connect(":memory:")
            try:
                with readable(root / child.store.path) as (uri, _snap):
                    con.execute("ATTACH DATABASE ? AS src", (uri,))
                    (n,) = con.execute(
                        f"SELECT count(*) FROM {c_name} c WHERE c.{quote(cp)} IS NOT NULL AND NOT"
                        f" EXISTS (SELECT 1 FROM {p_name} p WHERE p.{quote(pp)} = c.{quote(cp)})"
                    ).fetchone()
            finally:
                con.close()
            if n:
                out.setdefault(table.name, []).append(
                    f"{n:,} rows reference a missing {fk.ref_table} row (foreign-key orphans;"
                    " they are copied and reported, never dropped)"
                )


def _creatable(ops: Sequence[Operation], out: dict[str, list[str]]) -> None:
    """Create every table in memory: one SQLite refuses is named (the run leaves it out)."""
    con = sqlite3.connect(":memory:")
    try:
        for op in ops:
            if not isinstance(op, CreateTable):
                continue
            try:
                con.execute(op.sql())
            except (DbfoldError, sqlite3.Error) as exc:
                out.setdefault(op.table.name, []).append(
                    f"table {op.table.name} cannot be created in SQLite ({exc}); fix it in"
                    " .dbfold/plan.json (a default, a type), or it is left out and the rest"
                    " migrates"
                )
    finally:
        con.close()


def dry_run_problems(
    plan: Plan, analysis: Analysis, root: Path, ops: Sequence[Operation]
) -> tuple[dict[str, list[str]], list[Problem]]:
    """Per target table the problems found, and the store-level problems."""
    per_table: dict[str, list[str]] = {}
    _creatable(ops, per_table)
    problems: list[Problem] = []
    merged_keys: dict[str, list[_Keys]] = {}
    seen: set[str] = set()
    for op in ops:
        if not isinstance(op, (CopySqlite, CopyRecords)):
            continue
        store = op.store
        if store.kind not in ("sqlite", "json", "jsonl", "csv", "tinydb"):
            if store.path not in seen:
                seen.add(store.path)
                problems.append(
                    Problem(
                        store.path,
                        f"{store.path}: a {store.kind} store is not migrated"
                        " (values are opaque); convert it with the code that owns it",
                        "warning",
                    )
                )
            continue
        if store.path not in seen:
            seen.add(store.path)
            problems.extend(p for p in store.problems if p.severity == "error")
            try:
                # A SQLite store's bytes move with checkpoints and its -wal without any row
                # changing: its tables' row counts (below) say whether it changed.
                size = (root / store.path).stat().st_size
                if store.kind != "sqlite" and size != store.bytes:
                    problems.append(
                        Problem(
                            store.path,
                            f"{store.path}: changed since the analysis ({store.bytes:,} →"
                            f" {size:,} bytes); the migration will copy what it holds then",
                            "warning",
                        )
                    )
            except OSError as exc:
                problems.append(Problem(store.path, f"{store.path}: cannot be read ({exc})"))
                continue
            if store.kind in ("json", "tinydb") and size != store.bytes and size <= SMALL:
                # Changed since the analysis: judge it again, as the run will.
                verdict = judge_file(root / store.path)
                if verdict.error is not None:
                    problems.append(
                        Problem(store.path, f"{store.path}: {verdict.error}", line=verdict.line)
                    )
                    continue
        try:
            if isinstance(op, CopySqlite):
                found: list[str] = []
                keys = _sqlite_checks(root, op, found, problems)
                if found:
                    per_table.setdefault(op.target.table.name, []).extend(found)
                if keys is not None:
                    merged_keys.setdefault(op.target.table.name, []).append(keys)
            else:
                _record_checks(root, op, per_table)
        except NotMigratable as exc:  # the JSON verdict, word for word as analyze says it
            problems.append(Problem(store.path, f"{store.path}: {exc}"))  # runner dedupes
        except (SourceError, sqlite3.DatabaseError) as exc:
            problems.append(Problem(store.path, f"{store.path}: cannot be read ({exc})"))
    from dbfold.migrate.copy import key_conflict

    for table, groups in merged_keys.items():
        for i, a in enumerate(groups):
            for b in groups[i + 1 :]:
                if a.in_pk and a.value != b.value:
                    continue  # the discriminator keeps their keys apart
                both = a.keys & b.keys
                if both:
                    per_table.setdefault(table, []).append(
                        key_conflict(
                            b.label,
                            table,
                            b.cols,
                            sorted(both, key=_order)[:3],
                            other=a.label,
                            discriminator=b.discriminator,
                            value=b.value if b.in_pk else None,
                        )
                        + f"; the copy of {b.label} will fail (the rest migrates)"
                    )
    with contextlib.suppress(SourceError, sqlite3.DatabaseError):
        _orphans(root, plan, ops, per_table)
    return per_table, problems


__all__ = ["Target", "dry_run_problems"]
