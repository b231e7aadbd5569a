"""Rule: turn record sets (JSON, JSONL, CSV, TinyDB, shelve) into relational drafts.

* nested objects flatten into ``parent__child`` columns up to ``max_depth`` levels; deeper
  objects, and objects whose values are not always objects, stay JSON columns;
* arrays of records become child tables ``<table>__<field>`` with a ``parent_id`` that
  points at the parent's key and a ``position`` (0-based index in the array);
* arrays of scalars stay JSON columns;
* map layouts (id → record, TinyDB, key → value) keep the key as the key column;
* positional rows (arrays of arrays) get ``col_1 …`` names that the user may rename.
"""

from __future__ import annotations

from dataclasses import replace

from dbfold.design.options import DesignOptions
from dbfold.design.state import Draft, Field, Home, State, describe, unique_name
from dbfold.model import Column, Table
from dbfold.plan import Decision, join_path, split_path

RULE = "json"


def _positional(name: str) -> str:
    return f"col_{int(name) + 1}" if name.isdigit() else name


def _is_records(col: Column) -> bool:
    # An array whose elements were objects: scan describes the objects' fields.
    return col.type == "array" and bool(col.fields)


def _is_object(col: Column) -> bool:
    return col.type == "object" and bool(col.fields)


class _Shaper:
    """Expands one record set; collects child drafts and decisions on the way."""

    def __init__(self, store: str, table: Table, options: DesignOptions) -> None:
        self.store = store
        self.table = table
        self.options = options
        self.children: list[Draft] = []
        self.decisions: list[Decision] = []

    def fields(
        self,
        cols: tuple[Column, ...],
        keys: tuple[str, ...],
        names: tuple[str, ...],
        optional: bool = False,
    ) -> list[Field]:
        """Fields for ``cols``; ``optional``: their parent object is missing or null in some
        records, so every field under it must be nullable whatever its own counts say."""
        out: list[Field] = []
        for col in cols:
            out.extend(self.one(col, (*keys, col.name), (*names, col.name), optional))
        return out

    def one(
        self, col: Column, keys: tuple[str, ...], names: tuple[str, ...], optional: bool = False
    ) -> list[Field]:
        path = join_path(*keys)
        name = "__".join(names)
        depth = len(names)
        subject = f"{self.store}:{self.table.name}.{path}"
        if _is_object(col) and "mixed_types" not in col.hints:
            if depth < self.options.max_depth:
                return self.fields(col.fields, keys, names, optional or col.nullable)
            self.decisions.append(
                Decision(RULE, subject, f"nested deeper than {depth} levels: kept as JSON")
            )
            return [Field(path=path, name=name, column=col, kind="json")]
        if _is_records(col) and "mixed_types" not in col.hints:
            self.children.append(self.child(col, path))
            self.decisions.append(
                Decision(RULE, subject, "array of records: becomes a child table")
            )
            return []
        if col.type in ("object", "array") or (col.type == "mixed" and col.fields):
            return [Field(path=path, name=name, column=col, kind="json")]
        # A file declares no schema: that every record has a field today does not bind the
        # records the legacy code appends tomorrow (gradual migration folds those in), so
        # only keys are NOT NULL in tables that come from record sets.
        required = self.table.layout == "table" and not col.nullable and not optional
        return [Field(path=path, name=name, column=col, nullable=not required)]

    def child(self, col: Column, path: str) -> Draft:
        sub = _Shaper(self.store, self.table, self.options)
        # Element paths are relative to the element object.
        fields = dedupe(sub.fields(col.fields, (), ()))
        taken = [f.name for f in fields]
        parent_column = unique_name("parent_id", taken)
        position_column = unique_name("position", [*taken, parent_column])
        for grandchild in sub.children:
            assert grandchild.array is not None
            self.children.append(replace(grandchild, array=f"{path}.{grandchild.array}"))
        self.decisions.extend(sub.decisions)
        return Draft(
            store=self.store,
            table=self.table,
            fields=fields,
            array=path,
            parent=(self.store, self.table.name, None),
            parent_column=parent_column,
            position_column=position_column,
        )


def dedupe(fields: list[Field]) -> tuple[Field, ...]:
    """Make field names unique (case-insensitively), keeping the first as it is."""
    taken: list[str] = []
    out = []
    for f in fields:
        name = unique_name(f.name or "column", taken)
        taken.append(name)
        out.append(f if name == f.name else replace(f, name=name))
    return tuple(out)


def _fix_parents(drafts: list[Draft]) -> list[Draft]:
    """Point grandchildren at their real parent draft and give keyless parents a surrogate."""
    by_array = {d.array: d for d in drafts}
    fixed: list[Draft] = []
    for d in drafts:
        if d.array is not None and "." in d.array:
            # a.b is the array b inside the elements of array a (when a is itself a child).
            parts = split_path(d.array)
            for cut in range(len(parts) - 1, 0, -1):
                parent_path = join_path(*parts[:cut])
                if parent_path in by_array:
                    d = replace(d, parent=(d.store, d.table.name, parent_path))
                    break
        fixed.append(d)
    # Parents before children, so later rules can build a parent before its children.
    fixed.sort(key=lambda d: len(split_path(d.array)) if d.array is not None else 0)
    parents = {d.parent for d in fixed if d.parent is not None}
    out = []
    for d in fixed:
        if d.key in parents and len(d.primary_key) != 1 and d.surrogate is None:
            taken = [f.name for f in d.fields]
            wanted = "row_id" if "id" in {t.casefold() for t in taken} else "id"
            d = replace(d, surrogate=unique_name(wanted, taken))
        out.append(d)
    return out


def shape_records(state: State, options: DesignOptions) -> State:
    """Flatten every record-set draft; SQLite tables pass through unchanged."""
    homes: list[Home] = []
    decisions = list(state.decisions)
    for home in state.homes:
        (draft,) = home.drafts
        table = draft.table
        if table.layout == "table":
            homes.append(home)
            continue
        shaper = _Shaper(draft.store, table, options)
        if table.layout == "rows":
            decisions.append(
                Decision(
                    RULE,
                    describe(draft.key),
                    "rows without field names: positional columns col_1 … (rename them here)",
                )
            )
        raw = shaper.fields(table.columns, (), ())
        if table.layout == "rows":
            # The source path stays the position; only the target name changes.
            raw = [replace(f, name=_positional(f.name)) for f in raw]
        fields = dedupe(raw)
        if table.key:
            fields = tuple(
                replace(f, kind="key", primary_key=True, nullable=False)
                if f.path == table.key
                else f
                for f in fields
            )
        decisions.extend(shaper.decisions)
        drafts = _fix_parents([replace(draft, fields=fields), *shaper.children])
        for d in drafts:
            homes.append(Home(name=table.name, drafts=(d,)))
    return replace(state, homes=tuple(homes), decisions=tuple(decisions))
