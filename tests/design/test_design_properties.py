"""Properties of design() over generated analyses (SQLite and JSON stores, hostile names)."""

from __future__ import annotations

import sqlite3

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dbfold.design import check_plan, design, render_sql
from dbfold.design.options import DesignOptions
from dbfold.model import Analysis, Column, Store, Table
from dbfold.plan import Plan, split_path

# Names: mostly ordinary, some hostile (quotes, brackets, spaces, unicode, keywords, case).
_ALPHABET = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"), exclude_characters="\x00")
NAMES = st.one_of(
    st.sampled_from(["id", "ID", "name", "events", "Events", "user_id", "users", "select"]),
    st.sampled_from(['"); DROP TABLE x; --', "my col", "[br]", "Größe", "a.b", "sqlite_x"]),
    st.text(_ALPHABET, min_size=1, max_size=8),
)
DECLARED = st.sampled_from(["INTEGER", "TEXT", "REAL", "BLOB", "", "DATETIME", "BOOLEAN", "JSON"])
VALUE = st.sampled_from(["integer", "real", "text", "boolean"])


def _unique(names: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for n in names:
        if n.casefold() not in seen:
            seen.add(n.casefold())
            out.append(n)
    return out


@st.composite
def sqlite_tables(draw: st.DrawFn) -> Table:
    names = _unique(draw(st.lists(NAMES, min_size=1, max_size=5)))
    cols = tuple(Column(name=n, type=draw(DECLARED)) for n in names)
    if draw(st.booleans()):
        cols = (
            Column(name=cols[0].name, type="INTEGER", nullable=False, primary_key=True),
            *cols[1:],
        )
        return Table(name=draw(NAMES), rows=1, columns=cols, primary_key=(cols[0].name,))
    return Table(name=draw(NAMES), rows=1, columns=cols)


@st.composite
def record_columns(draw: st.DrawFn, depth: int = 0) -> Column:
    name = draw(NAMES)
    kind = draw(st.sampled_from(["scalar", "scalar", "mixed", "object", "array", "records"]))
    if depth >= 2 or kind == "scalar":
        t = draw(VALUE)
        return Column(name=name, type=t, observed={t: 2})
    if kind == "mixed":
        a, b = draw(st.lists(VALUE, min_size=2, max_size=2, unique=True))
        return Column(name=name, type="mixed", observed={a: 1, b: 1}, hints=("mixed_types",))
    if kind == "array":
        return Column(name=name, type="array", observed={"array": 2})
    subs = draw(st.lists(record_columns(depth + 1), min_size=1, max_size=3))
    subs = [s for s, n in zip(subs, _unique([s.name for s in subs]), strict=False)]
    uniq = {s.name.casefold(): s for s in subs}
    typ = "object" if kind == "object" else "array"
    return Column(name=name, type=typ, observed={typ: 2}, fields=tuple(uniq.values()))


@st.composite
def record_tables(draw: st.DrawFn) -> Table:
    cols = draw(st.lists(record_columns(), min_size=1, max_size=4))
    uniq = {c.name.casefold(): c for c in cols}
    return Table(name=draw(NAMES), rows=2, columns=tuple(uniq.values()), layout="records")


@st.composite
def analyses(draw: st.DrawFn) -> Analysis:
    stores = []
    n = draw(st.integers(1, 4))
    for i in range(n):
        if draw(st.booleans()):
            tables = draw(st.lists(sqlite_tables(), min_size=1, max_size=3))
            tables = list({t.name.casefold(): t for t in tables}.values())
            stores.append(
                Store(path=f"d{i}/{draw(NAMES)}.db", kind="sqlite", bytes=1, tables=tuple(tables))
            )
        else:
            stores.append(
                Store(path=f"d{i}/data.json", kind="json", bytes=1, tables=(draw(record_tables()),))
            )
    return Analysis(root="/p", stores=tuple(stores))


OPTIONS = st.builds(
    DesignOptions,
    naming=st.sampled_from(["keep", "prefix"]),
    normalize_names=st.booleans(),
    merge_threshold=st.sampled_from([1.0, 0.5]),
)


def _source_paths(plan: Plan) -> list[tuple[str, str, str | None, str]]:
    return [
        (s.store, s.table, s.array, p) for t in plan.tables for s in t.sources for p in s.columns
    ]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(analyses(), OPTIONS)
def test_design_properties(analysis: Analysis, options: DesignOptions) -> None:
    plan = design(analysis, options=options)
    # Every source table has a home or an exclusion.
    homes = {(s.store, s.table) for t in plan.tables for s in t.sources}
    excluded = {(e.store, e.table) for e in plan.excluded}
    for store in analysis.stores:
        for table in store.tables:
            assert (store.path, table.name) in homes | excluded
    # Every source column maps to exactly one target column, or is excluded.
    paths = _source_paths(plan)
    assert len(paths) == len(set(paths))
    for t in plan.tables:
        for s in t.sources:
            if s.array is not None:
                continue
            table = next(x for x in analysis.store(s.store).tables if x.name == s.table)
            sqlite = table.layout == "table"
            mapped = {p if sqlite else split_path(p)[0] for p in s.columns}
            children = {
                split_path(x.array)[0]
                for tt in plan.tables
                for x in tt.sources
                if x.array and (x.store, x.table) == (s.store, s.table)
            }
            for c in table.columns:
                assert c.name in mapped | children
            for target in s.columns.values():
                assert t.column(target) is not None
    # No clashing names, case-insensitively.
    names = [t.name.casefold() for t in plan.tables]
    assert len(names) == len(set(names))
    for t in plan.tables:
        cols = [c.name.casefold() for c in t.columns]
        assert len(cols) == len(set(cols))
    # The SQL runs on an empty database and makes exactly the plan's tables.
    db = sqlite3.connect(":memory:")
    db.executescript(render_sql(plan))
    made = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert made == {t.name for t in plan.tables}
    # JSON round trip, and check_plan accepts design's own output.
    assert Plan.from_json(plan.to_json()) == plan
    assert check_plan(plan.to_json(), analysis) == plan
    # A re-run over its own plan changes nothing.
    again = design(analysis, options=options, previous=plan)
    for field in ("tables", "views", "excluded", "decisions", "suggestions", "notes"):
        assert getattr(again, field) == getattr(plan, field), field
