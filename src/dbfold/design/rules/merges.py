"""Rule: merge same-shaped tables of different stores into one table with a discriminator.

Two record sets merge when they come from different stores, neither has child tables nor is
one, the Jaccard similarity of their column-name sets (case-insensitive) reaches the
threshold, every shared column has compatible types, and they declare the same key. To keep
unrelated look-alikes apart (two ``(id, name)`` tables), they must also share the table name or
at least three columns. The user can opt a table out, and a merge undone in a previous plan
stays undone.

Keys of a merged table — the choice: the original key columns are kept unchanged, and the
table's primary key becomes ``(source, <original key>)``. That is exactly "the original key,
unique per source", enforced by the primary key's own index, so no surrogate column is needed
and legacy queries by the old key still work once they filter on ``source``. Only when the
sources have no declared key does the table get a surrogate ``id INTEGER PRIMARY KEY`` (added
when the table is assembled).
"""

from __future__ import annotations

from dataclasses import replace

from dbfold.design.coltypes import unify_types
from dbfold.design.options import DesignOptions
from dbfold.design.state import Draft, Home, State, describe, store_stem, unique_name

RULE = "merges"


def _shape(d: Draft) -> dict[str, str]:
    return {f.name.casefold(): f.type for f in d.fields}


def similarity(a: Draft, b: Draft) -> float:
    """Jaccard similarity of two drafts' column-name sets (case-insensitive)."""
    sa, sb = set(_shape(a)), set(_shape(b))
    return len(sa & sb) / len(sa | sb) if sa | sb else 0.0


def _compatible(a: Draft, b: Draft, threshold: float) -> bool:
    if a.store == b.store:
        return False
    ta, tb = _shape(a), _shape(b)
    common = set(ta) & set(tb)
    if a.table.name.casefold() != b.table.name.casefold() and len(common) < 3:
        return False
    if similarity(a, b) < threshold:
        return False
    if {k.casefold() for k in a.primary_key} != {k.casefold() for k in b.primary_key}:
        return False
    return all(unify_types(ta[c], tb[c]) is not None for c in common)


def merge_tables(state: State, options: DesignOptions) -> State:
    """Group mergeable single-draft homes; each group of two or more becomes one home."""
    if not options.merge:
        return state
    parents = {d.parent for h in state.homes for d in h.drafts if d.parent is not None}
    groups: list[list[Draft]] = []
    order: list[object] = []  # a home, or the index of a group, in first-seen order
    partition = state.edits.partition
    for home in state.homes:
        (d,) = home.drafts
        if (
            d.array is not None
            or d.key in parents
            or not options.merge_allowed(d.store, d.table.name)
        ):
            order.append(home)
            continue
        for group in groups:
            if any(g.store == d.store for g in group):
                continue
            if not all(_compatible(g, d, options.merge_threshold) for g in group):
                continue
            # A merge the user undid in the previous plan stays undone.
            known = {partition[g.key] for g in group if g.key in partition}
            if d.key in partition and known and partition[d.key] not in known:
                continue
            group.append(d)
            break
        else:
            groups.append([d])
            order.append(len(groups) - 1)
    homes: list[Home] = []
    decisions = list(state.decisions)
    for item in order:
        if isinstance(item, Home):
            homes.append(item)
            continue
        assert isinstance(item, int)
        group = groups[item]
        if len(group) == 1:
            homes.append(Home(name=group[0].table.name, drafts=(group[0],)))
            continue
        taken = [f.name for d in group for f in d.fields]
        disc = unique_name(options.discriminator, taken)
        homes.append(Home(name=group[0].table.name, drafts=tuple(group), discriminator=disc))
        stems = ", ".join(store_stem(d.store) for d in group)
        decisions.append(
            state.decide(
                RULE,
                ", ".join(describe(d.key) for d in group),
                f"same shape in {len(group)} stores: merged into one table; column {disc!r}"
                f" says which store ({stems}) a row came from",
            )[-1]
        )
    return replace(state, homes=tuple(homes), decisions=tuple(decisions))
