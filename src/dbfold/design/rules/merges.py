"""Rule: merge tables of different stores that hold the same entity into one table.

Same shape is not the same entity: two trackers' ``action_log`` tables merge, ``users`` and
``members`` do not. Two record sets merge when they come from different stores, neither has
child tables nor is one, **their names agree** and **their shapes agree**:

* names agree when, compared case-insensitively, they are equal or one is the plural of the
  other (``+s``, ``+es``, ``y`` → ``ies``: ``action_log``/``action_logs``,
  ``status``/``statuses``, ``entry``/``entries``), after optionally removing the store's file
  stem as a prefix or suffix separated by ``_`` (``tracking_events`` in ``tracking.db`` and
  ``events`` elsewhere agree);
* shapes agree when the Jaccard similarity of their column-name sets (case-insensitive)
  reaches the threshold, every shared column has compatible types, and they declare the same
  key.

Record sets whose shapes agree but whose names do not (and that share at least three columns)
are not merged: the plan offers the merge as a suggestion (``kind: "merge"``, ``accepted:
false``) and a decision says why it was declined. Once the user sets ``accepted: true`` in
plan.json, ``dbfold design --check`` merges them (``design.merge_edits``), and so does the
next ``dbfold design`` (an accepted merge overrides an earlier split). ``--merge-by-shape``
restores the older rule: same shape merges whatever the names, as long as the names are
equal or the tables share at least three columns. The user can opt a
table out (``--no-merge``), and a merge undone in a previous plan stays undone.

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
from dbfold.plan import Decision, PlanTable, Suggestion

RULE = "merges"
#: The ``kind`` of a suggested merge in ``Plan.suggestions``.
KIND = "merge"


def _shape(d: Draft) -> dict[str, str]:
    return {f.name.casefold(): f.type for f in d.fields}


def similarity(a: Draft, b: Draft) -> float:
    """Jaccard similarity of two drafts' column-name sets (case-insensitive)."""
    sa, sb = set(_shape(a)), set(_shape(b))
    return len(sa & sb) / len(sa | sb) if sa | sb else 0.0


def _same_shape(a: Draft, b: Draft, threshold: float) -> bool:
    """Different stores, similar column names, the same key, compatible shared types."""
    if a.store == b.store:
        return False
    ta, tb = _shape(a), _shape(b)
    if similarity(a, b) < threshold:
        return False
    if {k.casefold() for k in a.primary_key} != {k.casefold() for k in b.primary_key}:
        return False
    return all(unify_types(ta[c], tb[c]) is not None for c in set(ta) & set(tb))


def _look_alike(a: Draft, b: Draft, threshold: float) -> bool:
    """The shape-only rule (``--merge-by-shape``): same shape, and the same name or at least
    three shared columns, to keep unrelated ``(id, name)`` tables apart."""
    if (
        a.table.name.casefold() != b.table.name.casefold()
        and len(set(_shape(a)) & set(_shape(b))) < 3
    ):
        return False
    return _same_shape(a, b, threshold)


def _plural(a: str, b: str) -> bool:
    """``b`` is the plural of ``a``: ``+s``, ``+es`` or ``y`` → ``ies`` (``a`` not empty)."""
    if not a.strip():
        return False
    return b in (f"{a}s", f"{a}es") or (a.endswith("y") and b == f"{a[:-1]}ies")


def _variants(name: str, store: str) -> dict[str, str]:
    """The names a table may be known by, casefolded: itself and without its store prefix."""
    low, stem = name.casefold(), store_stem(store).casefold()
    out = {low: ""}
    if stem and low.startswith(f"{stem}_") and len(low) > len(stem) + 1:
        out.setdefault(low[len(stem) + 1 :], f"store prefix {stem!r}")
    if stem and low.endswith(f"_{stem}") and len(low) > len(stem) + 1:
        out.setdefault(low[: -len(stem) - 1], f"store suffix {stem!r}")
    return out


def name_match(a: Draft, b: Draft) -> str | None:
    """Why the two drafts' table names agree ("" when equal), or None when they do not."""
    for na, why_a in _variants(a.table.name, a.store).items():
        for nb, why_b in _variants(b.table.name, b.store).items():
            if na == nb or _plural(na, nb) or _plural(nb, na):
                whys = [w for w in (why_a, why_b) if w]
                if na != nb:
                    whys.append("singular/plural")
                return "; ".join(whys)
    return None


def _names(group: list[Draft]) -> str:
    return ", ".join(repr(d.table.name) for d in group)


def suggestion_id(group: list[Draft]) -> str:
    """The id of the suggestion to merge ``group``: its sources, so it survives renames."""
    return "merge:" + " + ".join(describe(d.key) for d in group)


def merge_tables(state: State, options: DesignOptions) -> State:
    """Group mergeable single-draft homes; each group of two or more becomes one home."""
    if not options.merge:
        return state
    parents = {d.parent for h in state.homes for d in h.drafts if d.parent is not None}
    partition = state.edits.partition
    threshold = options.merge_threshold

    def fits(group: list[Draft], d: Draft) -> bool:
        if any(g.store == d.store for g in group):
            return False
        if options.merge_by_shape:
            if not all(_look_alike(g, d, threshold) for g in group):
                return False
        elif not all(name_match(g, d) is not None and _same_shape(g, d, threshold) for g in group):
            return False
        # A merge the user undid in the previous plan stays undone.
        known = {partition[g.key] for g in group if g.key in partition}
        return not (d.key in partition and known and partition[d.key] not in known)

    groups: list[list[Draft]] = []
    order: list[object] = []  # a home, or the index of a group, in first-seen order
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
            if fits(group, d):
                group.append(d)
                break
        else:
            groups.append([d])
            order.append(len(groups) - 1)
    # Groups whose shapes agree but whose names do not: offered, merged once accepted.
    clusters: list[list[int]] = []
    if not options.merge_by_shape:
        for i, group in enumerate(groups):
            for cluster in clusters:
                members = [d for j in cluster for d in groups[j]]
                if all(
                    _look_alike(m, d, threshold) and m.store != d.store
                    for m in members
                    for d in group
                ):
                    cluster.append(i)
                    break
            else:
                clusters.append([i])
    decisions = list(state.decisions)
    suggestions = list(state.suggestions)
    joined: dict[int, list[int]] = {}  # first group of an accepted cluster → the others
    skip: set[int] = set()
    for cluster in clusters:
        if len(cluster) < 2:
            continue
        members = [d for j in cluster for d in groups[j]]
        sid = suggestion_id(members)
        accepted = sid in state.edits.accepted
        suggestions.append(
            Suggestion(
                id=sid,
                kind=KIND,
                text=(
                    f"{', '.join(describe(d.key) for d in members)} have the same shape but"
                    f" different names ({_names(members)}): merge them into one table with a"
                    f" {options.discriminator!r} column (set accepted, then run"
                    " `dbfold design --check`)"
                ),
                accepted=accepted,
                # Source keys for now; ``resolve_merge_suggestions`` puts the table names.
                table=describe(members[0].key),
                ref_table=describe(groups[cluster[1]][0].key),
            )
        )
        if accepted:
            joined[cluster[0]] = cluster[1:]
            skip.update(cluster[1:])
        else:
            decisions.append(
                Decision(
                    RULE,
                    ", ".join(describe(d.key) for d in members),
                    f"same shape but different names ({_names(members)}): not merged;"
                    f" accept suggestion {sid!r} to merge them",
                )
            )
    homes: list[Home] = []
    for item in order:
        if isinstance(item, Home):
            homes.append(item)
            continue
        assert isinstance(item, int)
        if item in skip:
            continue
        group = [*groups[item], *(d for j in joined.get(item, []) for d in groups[j])]
        if len(group) == 1:
            homes.append(Home(name=group[0].table.name, drafts=(group[0],)))
            continue
        taken = [f.name for d in group for f in d.fields]
        disc = unique_name(options.discriminator, taken)
        homes.append(Home(name=group[0].table.name, drafts=tuple(group), discriminator=disc))
        stems = ", ".join(store_stem(d.store) for d in group)
        if item in joined:
            why = f"same shape in {len(group)} stores, names differ ({_names(group)}); merged"
            why += f" as suggestion {suggestion_id(group)!r} was accepted"
        elif options.merge_by_shape:
            why = f"same shape in {len(group)} stores (--merge-by-shape): merged"
        else:
            how = sorted({m for d in group[1:] if (m := name_match(group[0], d))})
            names = f"names agree ({'; '.join(how)}), same" if how else "same name and"
            why = f"{names} shape in {len(group)} stores: merged"
        decisions.append(
            Decision(
                RULE,
                ", ".join(describe(d.key) for d in group),
                f"{why} into one table; column {disc!r} says which store ({stems}) a row came from",
            )
        )
    return replace(
        state, homes=tuple(homes), decisions=tuple(decisions), suggestions=tuple(suggestions)
    )


def resolve_merge_suggestions(
    suggestions: tuple[Suggestion, ...], tables: tuple[PlanTable, ...]
) -> tuple[Suggestion, ...]:
    """Point merge suggestions at the target tables their sources went to.

    ``merge_tables`` runs before tables get their final names, so it records the sources
    (``store:table``); this turns them into table names (for ``--check`` and renames).
    """
    where = {describe((s.store, s.table, s.array)): t.name for t in tables for s in t.sources}
    return tuple(
        replace(
            s,
            table=where.get(s.table, s.table),
            ref_table=where.get(s.ref_table, s.ref_table),
        )
        if s.kind == KIND
        else s
        for s in suggestions
    )
