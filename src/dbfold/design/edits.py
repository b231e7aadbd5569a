"""Hand edits that flow: ``design --check`` carries a rename of plan.json everywhere.

A user renames a table or a column in one place of plan.json; every other place that named
it (foreign keys of other tables, keys, indexes, source column maps, suggestions, the SQL of
views) still names the old one. Those places are found by comparing the edited plan with the
plans it was made from (the last plan ``--check`` accepted, kept in ``.dbfold/``, and the plan
``design`` makes from the analysis): a table is the same table when it is filled from the same
sources, a column the same column when it is read from the same source path or sits at the
same position. Only references that name something no longer in the plan are rewritten, so
a reference the user fixed by hand is left as it is.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dbfold.design.check import check_plan, parse_plan
from dbfold.design.merge_edits import apply_merges
from dbfold.design.options import DesignOptions
from dbfold.design.pipeline import design
from dbfold.errors import DesignError
from dbfold.indexsql import IndexSqlError, column_names
from dbfold.model import Analysis
from dbfold.plan import (
    Exclusion,
    Plan,
    PlanIndex,
    PlanTable,
    RenameStep,
    names_in,
    rename_column,
    rename_table,
    renamed_trigger_sql,
)
from dbfold.state import plan_path, state_dir, write_atomic

#: The plan as ``design --check`` last accepted it: what the next hand edit started from.
CHECKED_FILE = "plan.checked.json"

SourceKeys = frozenset[tuple[str, str, "str | None"]]


@dataclass(frozen=True)
class Carried:
    """The edited plan with its references carried along, and one line per place fixed."""

    plan: Plan
    lines: tuple[str, ...] = ()


def load_checked(root: Path) -> Plan | None:
    """The plan ``design --check`` last accepted under ``root``, or None (none, unreadable)."""
    try:
        return Plan.from_json((state_dir(root) / CHECKED_FILE).read_bytes())
    except (OSError, ValueError, TypeError, KeyError):
        # Only a hint for finding renames: without it the analysis' design is the base.
        return None


def save_checked(root: Path, plan: Plan) -> None:
    """Keep ``plan`` as the base the next ``design --check`` compares hand edits with."""
    write_atomic(state_dir(root) / CHECKED_FILE, plan.to_json() + b"\n")


def _keys(t: PlanTable) -> SourceKeys:
    return frozenset((s.store, s.table, s.array) for s in t.sources)


def _column_renames(base: PlanTable, edited: PlanTable) -> dict[str, str]:
    """Old → new names of the columns of one table that the user renamed."""
    out: dict[str, str] = {}
    by_key = {(s.store, s.table, s.array): s for s in base.sources}
    for src in edited.sources:
        old_src = by_key.get((src.store, src.table, src.array))
        if old_src is None:
            continue
        for path, new in src.columns.items():
            old = old_src.columns.get(path)
            if old is not None and old.casefold() != new.casefold():
                out.setdefault(old, new)
    # A column renamed only in `columns[]` (the place a user edits) sits where it was.
    if len(base.columns) == len(edited.columns):
        for b, e in zip(base.columns, edited.columns, strict=True):
            if b.name.casefold() != e.name.casefold() and base.column(e.name) is None:
                out.setdefault(b.name, e.name)
    return {
        old: new
        for old, new in out.items()
        if edited.column(old) is None and edited.column(new) is not None
    }


def _table_references(plan: Plan, name: str) -> Iterator[str]:
    """The JSON paths of the places of ``plan`` that name table ``name``."""
    low = name.casefold()
    for i, t in enumerate(plan.tables):
        for k, fk in enumerate(t.foreign_keys):
            if fk.ref_table.casefold() == low:
                yield f"$.tables[{i}].foreign_keys[{k}].ref_table"
    for k, s in enumerate(plan.suggestions):
        for field in ("table", "ref_table"):
            if str(getattr(s, field)).casefold() == low:
                yield f"$.suggestions[{k}].{field}"
    for k, v in enumerate(plan.views):
        # A view reads the table when renaming it would change the view's SQL.
        probe = replace(plan, views=(v,), triggers=())
        if rename_table(probe, name, "dbfold_probe").views[0].sql != v.sql:
            yield f"$.views[{k}].sql"
    for k, trig in enumerate(plan.triggers):
        if low in names_in(trig.sql):
            yield f"$.triggers[{k}].sql"


def _diff(before: Any, after: Any, path: str, old: str, new: str) -> Iterator[str]:
    """One line per leaf that differs between two plan dicts (the places a rename fixed)."""
    if isinstance(before, dict) and isinstance(after, dict):
        for key in before:
            if key in after:
                yield from _diff(before[key], after[key], f"{path}.{key}", old, new)
    elif isinstance(before, list) and isinstance(after, list):
        for i, (b, a) in enumerate(zip(before, after, strict=False)):
            yield from _diff(b, a, f"{path}[{i}]", old, new)
    elif before != after:
        # SQL and ids are long: say which name changed in them rather than print them whole.
        if path.endswith((".sql", ".id")):
            yield f"{path}: {old} → {new}"
        else:
            yield f"{path}: {before} → {after}"


def _apply(plan: Plan, step: Plan, old: str, new: str, lines: list[str]) -> Plan:
    lines.extend(_diff(plan.to_dict(), step.to_dict(), "$", old, new))
    return step


def _renamed(
    plan: Plan, table: str, new: str, column: str | None, lines: list[str], steps: list[RenameStep]
) -> Plan:
    """Rename a table (``column`` None) or one of its columns everywhere but in triggers,
    whose renames :func:`_carry_triggers` makes at the end, all from the base's names."""
    bare = replace(plan, triggers=())
    if column is None:
        done, old = rename_table(bare, table, new), table
    else:
        done, old = rename_column(bare, table, column, new), column
    steps.append((table, new, column))
    return replace(_apply(bare, done, old, new, lines), triggers=plan.triggers)


def _carry_triggers(plan: Plan, base: Plan, steps: list[RenameStep], lines: list[str]) -> Plan:
    """Rewrite the triggers for the renames, by SQLite, over the schema they were written for.

    The triggers of the edited plan still name what ``base`` (the plan they were checked or
    designed with) names; the renames run there one after another, as the plan's did.
    """
    if not steps or not plan.triggers:
        return plan
    schema = {t.name: [c.name for c in t.columns] for t in base.tables}
    views = [v.sql for v in base.views]
    triggers = []
    for k, trig in enumerate(plan.triggers):
        sql = trig.sql
        for (table, new, column), now in zip(
            steps, renamed_trigger_sql(trig.sql, schema, steps, views), strict=True
        ):
            if now is not None and now != sql:
                lines.append(f"$.triggers[{k}].sql: {column or table} → {new}")
                sql = now
        triggers.append(trig if sql == trig.sql else replace(trig, sql=sql))
    return replace(plan, triggers=tuple(triggers))


def _drop_references(plan: Plan, name: str, lines: list[str]) -> Plan:
    """Drop what still names a table that has left the plan (excluded or deleted by hand).

    A foreign key or suggestion to it cannot be kept; a view that reads it moves to
    ``excluded`` with the reason, as ``design`` does with views it cannot carry.
    """
    low = name.casefold()
    why = f"{name} is not in the plan"
    tables = []
    for i, t in enumerate(plan.tables):
        kept = []
        for k, fk in enumerate(t.foreign_keys):
            if fk.ref_table.casefold() == low:
                lines.append(f"$.tables[{i}].foreign_keys[{k}]: dropped ({why})")
            else:
                kept.append(fk)
        tables.append(replace(t, foreign_keys=tuple(kept)))
    suggestions = []
    for k, s in enumerate(plan.suggestions):
        if low in (s.table.casefold(), s.ref_table.casefold()):
            lines.append(f"$.suggestions[{k}]: dropped ({why})")
        else:
            suggestions.append(s)
    reads = set(_table_references(replace(plan, tables=(), suggestions=()), name))
    views, triggers, excluded = [], [], list(plan.excluded)
    for k, v in enumerate(plan.views):
        if f"$.views[{k}].sql" in reads:
            lines.append(f"$.views[{k}]: moved to excluded ({why})")
            reason = f"it reads {name!r}, which is no longer in the plan"
            excluded.append(Exclusion(v.store, v.source_name, reason, kind="view", by="user"))
        else:
            views.append(v)
    for k, trig in enumerate(plan.triggers):
        if f"$.triggers[{k}].sql" in reads:
            lines.append(f"$.triggers[{k}]: moved to excluded ({why})")
            reason = f"it names {name!r}, which is no longer in the plan"
            excluded.append(
                Exclusion(trig.store, trig.source_name, reason, kind="trigger", by="user")
            )
        else:
            triggers.append(trig)
    return replace(
        plan,
        tables=tuple(tables),
        suggestions=tuple(suggestions),
        views=tuple(views),
        triggers=tuple(triggers),
        excluded=tuple(excluded),
    )


def _sql_columns(ix: PlanIndex) -> tuple[str, ...]:
    """The columns an index's predicate and key expressions name (none when they do not
    parse: ``check`` then says so)."""
    out: list[str] = []
    for sql in (*ix.expressions, *([ix.where] if ix.where is not None else [])):
        try:
            out.extend(column_names(sql))
        except IndexSqlError:
            continue
    return tuple(out)


def _drop_columns(plan: Plan, i: int, gone: list[str], lines: list[str]) -> Plan:
    """Take columns the user deleted from one table out of its keys, indexes and sources."""
    t = plan.tables[i]
    lows = {g.casefold() for g in gone}
    p = f"$.tables[{i}]"

    def keep(where: str, names: tuple[str, ...]) -> tuple[str, ...]:
        for j, n in enumerate(names):
            if n.casefold() in lows:
                lines.append(f"{where}[{j}]: {n} dropped (no such column any more)")
        return tuple(n for n in names if n.casefold() not in lows)

    sources = []
    for j, s in enumerate(t.sources):
        if s.discriminator is not None and s.discriminator.casefold() in lows:
            lines.append(f"{p}.sources[{j}].discriminator: {s.discriminator} dropped")
            s = replace(s, discriminator=None, value=None)
        sources.append(s)
    indexes = []
    for k, ix in enumerate(t.indexes):
        named = _sql_columns(ix)
        hit = next((n for n in named if n.casefold() in lows), None)
        if hit is not None:
            # Without the column the predicate or expression means something else (or
            # nothing): the index goes, as design drops one over a column it leaves out.
            lines.append(f"{p}.indexes[{k}]: dropped (its SQL names {hit}, no column any more)")
            continue
        cols = keep(f"{p}.indexes[{k}].columns", ix.columns)
        if cols:
            colls = {c: v for c, v in ix.collations.items() if c.casefold() not in lows}
            indexes.append(replace(ix, columns=cols, collations=colls))
        else:
            lines.append(f"{p}.indexes[{k}]: dropped (none of its columns is left)")
    t = replace(
        t,
        primary_key=keep(f"{p}.primary_key", t.primary_key),
        indexes=tuple(indexes),
        sources=tuple(sources),
    )
    return replace(plan, tables=(*plan.tables[:i], t, *plan.tables[i + 1 :]))


def carry_edits(plan: Plan, bases: Sequence[Plan]) -> Carried:
    """Carry the renames of a hand-edited ``plan`` to every place that names the old names.

    Args:
        plan: the plan as the user left it (structurally valid).
        bases: plans it may have been edited from, most trusted first.

    Returns:
        The plan with references rewritten, and a line per place (``$.path: old → new``).

    Raises:
        DesignError: a reference names a table whose sources now fill several tables; the
            message names each such place and the candidates.
    """
    lines: list[str] = []
    steps: list[RenameStep] = []
    done: set[str] = set()
    for base in bases:
        for b in base.tables:
            low = b.name.casefold()
            if low in done:
                continue
            done.add(low)
            keys = _keys(b)
            held = plan.table(b.name)
            cands = [t for t in plan.tables if _keys(t) & keys]
            if held is not None:
                # Kept (or split: every part of it carries the column edits of the base).
                if _keys(held) & keys:
                    for t in cands:
                        plan = _carry_columns(plan, b, t, lines, steps)
                continue
            places = list(_table_references(plan, b.name))
            if len(cands) > 1 and places:
                names = " and ".join(f"{t.name!r}" for t in cands)
                raise DesignError(
                    "; ".join(
                        f"{p}: {b.name!r} is gone and its sources now fill {names};"
                        " set it to the one you mean"
                        for p in places
                    )
                )
            if len(cands) == 1:
                new = cands[0].name
                plan = _renamed(plan, b.name, new, None, lines, steps)
                plan = _carry_columns(plan, b, plan.table(cands[0].name) or cands[0], lines, steps)
            elif not cands and places:
                plan = _drop_references(plan, b.name, lines)
    if bases:
        plan = _carry_triggers(plan, bases[0], steps, lines)
    return Carried(plan=plan, lines=tuple(dict.fromkeys(lines)))


def _carry_columns(
    plan: Plan, base: PlanTable, edited: PlanTable, lines: list[str], steps: list[RenameStep]
) -> Plan:
    """Carry the column renames (and deletions) of one table; return the new plan."""
    for old, new in _column_renames(base, edited).items():
        plan = _renamed(plan, edited.name, new, old, lines, steps)
    i = next(i for i, t in enumerate(plan.tables) if t.name == edited.name)
    now = plan.tables[i]
    renamed = _column_renames(base, edited)
    gone = [
        c.name
        for c in base.columns
        if now.column(c.name) is None
        and c.name not in renamed
        and not any(n.casefold() == c.name.casefold() for n in renamed.values())
    ]
    if gone:
        plan = _drop_columns(plan, i, gone, lines)
    return plan


def check_edited(
    root: Path, plan_json: bytes, analysis: Analysis, options: DesignOptions
) -> tuple[Plan, tuple[str, ...]]:
    """``design --check``: carry the hand edits of plan.json along, then validate the plan.

    The bases are the plan the last ``--check`` accepted and the plan ``design`` makes from
    the analysis with ``options`` (the first check after ``design`` has only that one).
    Accepted merge suggestions are then applied (:mod:`.merge_edits`). When something was
    carried or merged, plan.json is rewritten; the accepted plan becomes the next base.

    Returns:
        The checked plan (accepted suggestions applied) and one line per place fixed.

    Raises:
        DesignError: the plan is not valid, or a rename cannot be told apart.
    """
    edited = parse_plan(plan_json)
    checked = load_checked(root)
    bases = [*([checked] if checked is not None else []), design(analysis, options=options)]
    carried = carry_edits(edited, bases)
    plan = check_plan(carried.plan.to_json(), analysis)
    # Accepted merges are made now, on the checked plan (so errors still point at the edit).
    edited_plan, merged = apply_merges(carried.plan, analysis, options)
    lines = (*carried.lines, *merged)
    if merged:
        plan = check_plan(edited_plan.to_json(), analysis)
    if lines or edited_plan.notes != carried.plan.notes:
        write_atomic(plan_path(root), edited_plan.to_json() + b"\n")
    save_checked(root, edited_plan)
    return plan, lines
