"""Rule: carry SQLite views and triggers over, their table names rewritten with sqlglot.

A view is rewritten when every table it reads has a home of its own; it is dropped, with the
reason in ``excluded``, when it reads a table that is excluded, merged or whose columns were
renamed. A view over a merged table is not rewritten with a filter on the discriminator: its
``SELECT *`` would gain the discriminator column and its meaning would change silently; the
reason tells the user which value marks the store's rows so they can recreate it. sqlglot
cannot parse trigger bodies: a trigger whose tables were renamed (or their columns) is
rewritten by SQLite's own ``ALTER TABLE … RENAME`` (:func:`~dbfold.plan.renamed_trigger_sql`),
and one that names a merged or excluded table is dropped, with the reason.
"""

from __future__ import annotations

from dataclasses import replace

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from dbfold.design.options import DesignOptions
from dbfold.design.state import State, unique_name
from dbfold.model import Store, View
from dbfold.plan import Exclusion, PlanView, RenameStep, names_in, renamed_trigger_sql

RULE = "views"


def _homes(state: State, store: Store) -> dict[str, str | None]:
    """Source table (casefolded) → target name, or None when views cannot follow it."""
    return {k: (None if v.startswith(" ") else v) for k, v in _targets(state, store).items()}


def _targets(state: State, store: Store) -> dict[str, str]:
    """Source table (casefolded) → target name, or (starting with a space) why views cannot."""
    out: dict[str, str] = {}
    for home in state.homes:
        for d in home.drafts:
            if d.store != store.path or d.array is not None:
                continue
            renamed = [f"{f.path!r} → {f.name!r}" for f in d.fields if f.name != f.path]
            low = d.table.name.casefold()
            if home.discriminator is not None:
                value = next(
                    (
                        src.value
                        for t in state.tables
                        if t.name == home.name
                        for src in t.sources
                        if (src.store, src.table) == (d.store, d.table.name)
                    ),
                    d.store,
                )
                others = len(home.drafts) - 1
                out[low] = (
                    f" it reads {d.table.name!r}, which is merged into {home.name!r} with the"
                    f" rows of {others} other store{'s' if others > 1 else ''}: rewritten, it"
                    f" would show every store's rows and the {home.discriminator!r} column."
                    f" Recreate it by hand if it is still needed (rows of this store have"
                    f" {home.discriminator} = {value!r}), or undo the merge in plan.json"
                )
            elif renamed:
                out[low] = (
                    f" it reads {d.table.name!r}, whose columns were renamed"
                    f" ({', '.join(renamed[:3])}{' …' if len(renamed) > 3 else ''});"
                    " recreate it by hand with the new names"
                )
            else:
                out[low] = home.name
    return out


def _rewrite_view(view: View, homes: dict[str, str], name: str) -> str:
    """The view's SQL with target names, or raise ValueError with the reason to drop it."""
    try:
        tree = sqlglot.parse_one(view.sql, read="sqlite")
    except SqlglotError as exc:
        raise ValueError(f"its SQL could not be parsed ({exc.__class__.__name__})") from exc
    if not isinstance(tree, exp.Create):
        raise ValueError("its SQL is not a CREATE VIEW statement")
    ctes = {c.alias_or_name.casefold() for c in tree.find_all(exp.CTE)}
    target = tree.this if isinstance(tree.this, exp.Table) else tree.find(exp.Table)
    for table in list(tree.find_all(exp.Table)):
        if table is target or table.name.casefold() in ctes:
            continue
        low = table.name.casefold()
        if low not in homes:
            raise ValueError(f"it reads {table.name!r}, which is not in the plan")
        new = homes[low]
        if new.startswith(" "):
            raise ValueError(new.strip())
        table.set("this", exp.to_identifier(new, quoted=True))
        table.set("db", None)
    if isinstance(target, exp.Table):
        target.set("this", exp.to_identifier(name, quoted=True))
        target.set("db", None)
    return tree.sql(dialect="sqlite")


#: A source table's name, its target name and its column renames (source → target).
_Plain = dict[str, tuple[str, str, dict[str, str]]]


def _plain(state: State, store: Store) -> _Plain:
    """Source table (casefolded) → (its name, target name, column renames) for the tables of
    ``store`` that fill a table of their own (not merged, not an array)."""
    out: _Plain = {}
    for home in state.homes:
        if home.discriminator is not None or len(home.drafts) != 1:
            continue
        (d,) = home.drafts
        if d.store == store.path and d.array is None:
            renamed = {f.path: f.name for f in d.fields if f.name != f.path}
            out[d.table.name.casefold()] = (d.table.name, home.name, renamed)
    return out


def _rewrite_trigger(
    trigger: View, store: Store, homes: dict[str, str | None], plain: _Plain
) -> str:
    """The trigger's SQL with target names, or raise ValueError with the reason to drop it.

    A table it names that was renamed, or whose columns were, is renamed in it by SQLite
    (:func:`~dbfold.plan.renamed_trigger_sql`); one merged or left out of the plan drops it.
    """
    words = names_in(trigger.sql)
    table = (trigger.table or "").casefold()
    if table not in homes:
        raise ValueError(f"its table {trigger.table!r} is not in the plan")
    cols: list[RenameStep] = []
    tables: list[tuple[str, str]] = []
    for low, new in homes.items():
        if low not in words:
            continue
        if low not in plain:
            if new is None or new.casefold() != low:
                raise ValueError(f"it names {low!r}, which was merged or renamed")
            continue
        name, target, renamed = plain[low]
        for i, (old, col) in enumerate(renamed.items()):
            # Through a name of its own, so renames that swap two names work too.
            cols += [(name, f"dbfold_column_{i}", old), (name, col, f"dbfold_column_{i}")]
        if target != name:
            tables.append((name, target))
    gone = sorted(words & ({t.name.casefold() for t in store.tables} - set(homes)))
    if gone:
        raise ValueError(f"it names {gone[0]!r}, which is not in the plan")
    steps = cols + [(n, f"dbfold_table_{i}", None) for i, (n, _) in enumerate(tables)]
    steps += [(f"dbfold_table_{i}", t, None) for i, (_, t) in enumerate(tables)]
    if not steps:
        return trigger.sql
    schema = {t.name: [c.name for c in t.columns] for t in store.tables}
    done = renamed_trigger_sql(trigger.sql, schema, steps, [v.sql for v in store.views])
    last = done[-1]
    if None in done or last is None:
        raise ValueError(
            "it names a table renamed (or with renamed columns) that SQLite could not"
            " rewrite in it; recreate it by hand with the new names"
        )
    return last


def carry_views(state: State, options: DesignOptions) -> State:
    """Rewrite each SQLite source's views, keep its safe triggers, report the rest."""
    taken = [t.name for t in state.tables] + [i.name for t in state.tables for i in t.indexes]
    views: list[PlanView] = []
    triggers: list[PlanView] = []
    excluded = list(state.excluded)
    for store in state.analysis.stores:
        if store.kind != "sqlite" or not (store.views or store.triggers):
            continue
        homes = _homes(state, store)
        targets = _targets(state, store)
        plain = _plain(state, store)
        for view in store.views:
            name = unique_name(view.name, taken)
            try:
                sql = _rewrite_view(view, targets, name)
            except ValueError as exc:
                excluded.append(
                    Exclusion(store.path, view.name, str(exc), kind="view", by="design")
                )
                continue
            taken.append(name)
            homes[view.name.casefold()] = name
            targets[view.name.casefold()] = name
            views.append(PlanView(name=name, sql=sql, store=store.path, source_name=view.name))
        for trigger in store.triggers:
            try:
                sql = _rewrite_trigger(trigger, store, homes, plain)
                if trigger.name.casefold() in {t.casefold() for t in taken}:
                    raise ValueError("its name is already used in the unified schema")
            except (ValueError, SqlglotError) as exc:
                excluded.append(
                    Exclusion(store.path, trigger.name, str(exc), kind="trigger", by="design")
                )
                continue
            taken.append(trigger.name)
            triggers.append(
                PlanView(name=trigger.name, sql=sql, store=store.path, source_name=trigger.name)
            )
    return replace(state, views=tuple(views), triggers=tuple(triggers), excluded=tuple(excluded))
