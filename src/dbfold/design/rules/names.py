"""Rule: name the target tables and columns.

A table keeps its source name where that name is unique; names that clash — compared the way
SQLite compares them, case-insensitively — are prefixed with the store's stem
(``tracking_events``, ``metrics_events``). Where the stem would repeat the name (a record set
named after its file: ``logs/events.jsonl:events``, ``data/costs.db:costs``) or two prefixed
names would clash again, the store's folder is the prefix instead (``logs_events``,
``data_costs``); a numbered suffix (``_2``) is the last resort. ``naming="prefix"`` prefixes
every table the same way. Odd names
(spaces, quotes, unicode, keywords) are kept and quoted later, unless ``normalize_names`` asks
for ``snake_case``. Names SQLite or dbfold reserve (``sqlite_*``, ``dbfold_*``) get a
``user_`` prefix. Child tables are named ``<parent>__<field>``. Names the user gave in a
previous plan win where they do not clash.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import replace

from dbfold.design.options import DesignOptions
from dbfold.design.state import Draft, Home, SourceKey, State, store_stem, unique_name
from dbfold.plan import split_path

RULE = "names"
_RESERVED = ("sqlite_", "dbfold_")


def normalize(name: str) -> str:
    """``snake_case`` ASCII: ``"Order Items (v2)"`` → ``order_items_v2``.

    >>> normalize("Order Items (v2)"), normalize("Größe"), normalize("2nd")
    ('order_items_v2', 'grosse', 't_2nd')
    """
    text = unicodedata.normalize("NFKD", name.replace("ß", "ss"))
    text = text.encode("ascii", "ignore").decode()
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    text = re.sub(r"[^0-9A-Za-z]+", "_", text).strip("_").lower()
    if not text:
        return "t"
    return f"t_{text}" if text[0].isdigit() else text


def _clean(name: str, options: DesignOptions) -> str:
    name = normalize(name) if options.normalize_names else name
    if not name.strip():
        name = "table"
    return _unreserved(name)


def _unreserved(name: str) -> str:
    """``name``, or ``user_<name>`` when SQLite or dbfold reserve it (``sqlite_*``, ``dbfold_*``).

    Also for names put together from parts (``DBFOLD`` + ``__id``, ``dbfold`` + ``_events``),
    which may be reserved though no part is.
    """
    return f"user_{name}" if name.lower().startswith(_RESERVED) else name


def _column_names(home: Home, state: State, options: DesignOptions) -> Home:
    """Normalise column names where asked, apply the user's renames, keep them unique."""
    reserved = [home.discriminator or ""]
    for d in home.drafts:
        reserved += [d.parent_column or "", d.position_column or "", d.surrogate or ""]
    final: dict[str, str] = {}  # casefolded draft name → final name, shared by merged drafts
    taken = [r for r in reserved if r]
    for d in home.drafts:
        renames = state.edits.column_names.get(d.key, {})
        for f in d.fields:
            low = f.name.casefold()
            if low in final:
                continue
            wanted = renames.get(f.path) or (
                normalize(f.name) if options.normalize_names else f.name
            )
            final[low] = unique_name(wanted or "column", taken)
            taken.append(final[low])
    drafts = tuple(
        replace(d, fields=tuple(replace(f, name=final[f.name.casefold()]) for f in d.fields))
        for d in home.drafts
    )
    return replace(home, drafts=drafts)


def prefixes(store: str, name: str) -> tuple[str, ...]:
    """The prefixes a table of ``store`` may take, best first; none repeats ``name``.

    The store's stem, then its folder, then its two innermost folders.

    >>> prefixes("data/tracking.db", "events"), prefixes("logs/events.jsonl", "events")
    (('tracking', 'data'), ('logs',))
    >>> prefixes("a/b/x.db", "t"), prefixes("events.jsonl", "events")
    (('x', 'b', 'a_b'), ())
    """
    folders = [f for f in store.split("/")[:-1] if f not in ("", ".")]
    out = [store_stem(store)]
    if folders:
        out.append(folders[-1])
    if len(folders) > 1:
        out.append(f"{folders[-2]}_{folders[-1]}")
    low = name.casefold()
    return tuple(dict.fromkeys(p for p in out if p.strip() and p.casefold() != low))


def _prefixed_names(
    wanted: dict[int, tuple[str, tuple[str, ...]]], options: DesignOptions
) -> dict[int, str]:
    """Pick each table's prefix: the first that does not clash with another prefixed name.

    ``wanted`` maps a home's index to its cleaned name and its :func:`prefixes`. Tables whose
    prefixed names clash move on to their next prefix together, until none clash or they run
    out; one that runs out keeps its first choice (or its bare name), and ``unique_name``
    adds a number later. Deterministic: it depends only on the stores' paths and names.
    """
    choice = dict.fromkeys(wanted, 0)

    def current(i: int) -> str | None:
        base, cands = wanted[i]
        if choice[i] >= len(cands):
            return None
        return _unreserved(f"{_clean(cands[choice[i]], options)}_{base}")

    while True:
        groups: dict[str, list[int]] = {}
        for i in wanted:
            name = current(i)
            if name is not None:
                groups.setdefault(name.casefold(), []).append(i)
        moved = False
        for group in groups.values():
            if len(group) > 1:
                for i in group:
                    choice[i] += 1
                moved = True
        if not moved:
            break
    out: dict[int, str] = {}
    for i, (base, cands) in wanted.items():
        name = current(i)
        if name is None:
            name = _unreserved(f"{_clean(cands[0], options)}_{base}") if cands else base
        out[i] = name
    return out


def name_tables(state: State, options: DesignOptions) -> State:
    """Give every home its final table name and every field its final column name."""
    top = [h for h in state.homes if h.drafts[0].array is None]
    counts: dict[str, int] = {}
    for h in top:
        low = _clean(h.name, options).casefold()
        counts[low] = counts.get(low, 0) + 1
    taken: list[str] = []
    names: dict[int, str] = {}
    decisions = list(state.decisions)
    notes = list(state.notes)
    # User names first, so that a generated name never takes a name the user chose.
    for i, h in enumerate(state.homes):
        wanted = state.edits.table_names.get(h.keys)
        if wanted is not None and wanted.casefold() not in {t.casefold() for t in taken}:
            names[i] = wanted
            taken.append(wanted)
        elif wanted is not None:
            notes.append(f"table name {wanted!r} from the previous plan clashes; not kept")
    by_key: dict[SourceKey, str] = {}
    to_prefix: dict[int, tuple[str, tuple[str, ...]]] = {}
    for i, h in enumerate(state.homes):
        if h.drafts[0].array is not None:
            continue
        base = _clean(h.name, options)
        clash = counts[base.casefold()] > 1 and h.discriminator is None
        if options.naming == "prefix" or clash:
            to_prefix[i] = (base, prefixes(h.drafts[0].store, base))
    prefixed = _prefixed_names(to_prefix, options)
    # Unprefixed names first: a name unique in the sources is never pushed to ``_2`` by a
    # generated prefixed name that happens to equal it. Decisions still go in source order.
    top_order = [i for i, h in enumerate(state.homes) if h.drafts[0].array is None]
    top_order.sort(key=lambda i: i in prefixed)
    said: dict[int, str] = {}
    for i in top_order:
        h = state.homes[i]
        base = prefixed.get(i) or _clean(h.name, options)
        clash = counts[_clean(h.name, options).casefold()] > 1 and h.discriminator is None
        if i in names:
            # base, or base_2 … as unique_name makes it: what this rule would name it anyway.
            generated = re.fullmatch(re.escape(base) + r"(_\d+)?", names[i], re.IGNORECASE)
            if not generated:
                said[i] = f"named {names[i]!r} as in the previous plan"
                continue
        else:
            names[i] = unique_name(base, taken)
            taken.append(names[i])
        if clash:
            said[i] = f"table name {h.name!r} is used by several stores: named {names[i]!r}"
    for i in sorted(said):
        d = state.homes[i].drafts[0]
        decisions.append(state.decide(RULE, f"{d.store}:{d.table.name}", said[i])[-1])
    for i, h in enumerate(state.homes):
        if i in names:
            by_key[h.drafts[0].key] = names[i]
    # Children after parents: a child's name is built from its parent's final name.
    children = [i for i in range(len(state.homes)) if i not in names]
    children.sort(key=lambda i: len(split_path(state.homes[i].drafts[0].array or "")))
    for i in children:
        h = state.homes[i]
        child: Draft = h.drafts[0]
        assert child.parent is not None and child.array is not None
        field_name = "__".join(split_path(child.array)[-1:])
        if options.normalize_names:
            field_name = normalize(field_name)
        names[i] = unique_name(_unreserved(f"{by_key[child.parent]}__{field_name}"), taken)
        taken.append(names[i])
        by_key[child.key] = names[i]
    homes = tuple(
        _column_names(replace(h, name=names[i]), state, options) for i, h in enumerate(state.homes)
    )
    return replace(state, homes=homes, decisions=tuple(decisions), notes=tuple(notes))
