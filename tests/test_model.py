"""The analysis model round-trips through JSON exactly."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dbfold.model import (
    Analysis,
    Column,
    ForeignKey,
    Index,
    Interface,
    Problem,
    Skipped,
    SqliteInfo,
    Store,
    StoreUse,
    Table,
    View,
)

names = st.text(min_size=1, max_size=12)
small = st.integers(min_value=0, max_value=10**12)
problems = st.builds(Problem, path=names, message=names, line=st.none() | small)
columns = st.deferred(
    lambda: st.builds(
        Column,
        name=names,
        type=names,
        default=st.none() | names,
        observed=st.dictionaries(names, small, max_size=3),
        fields=st.lists(columns, max_size=2).map(tuple),
        hints=st.lists(names, max_size=2).map(tuple),
    )
)
tables = st.builds(
    Table,
    name=names,
    rows=small,
    columns=st.lists(columns, max_size=3).map(tuple),
    primary_key=st.lists(names, max_size=2).map(tuple),
    foreign_keys=st.lists(
        st.builds(
            ForeignKey, columns=st.tuples(names), ref_table=names, ref_columns=st.tuples(names)
        ),
        max_size=1,
    ).map(tuple),
    indexes=st.lists(st.builds(Index, name=names, columns=st.tuples(names)), max_size=1).map(tuple),
)
stores = st.builds(
    Store,
    path=names,
    kind=st.sampled_from(["sqlite", "json", "jsonl"]),
    bytes=small,
    tables=st.lists(tables, max_size=2).map(tuple),
    problems=st.lists(problems, max_size=2).map(tuple),
    sqlite=st.none()
    | st.builds(
        SqliteInfo,
        page_size=small,
        page_count=small,
        freelist_count=small,
        journal_mode=names,
        user_version=small,
    ),
    views=st.lists(st.builds(View, name=names, sql=names), max_size=1).map(tuple),
)
interfaces = st.builds(
    Interface,
    name=names,
    kind=st.sampled_from(["class", "function", "module"]),
    path=names,
    line=small,
    stores=st.lists(names, max_size=2).map(tuple),
    uses=st.lists(st.builds(StoreUse, api=names, line=small, expression=names), max_size=2).map(
        tuple
    ),
)
analyses = st.builds(
    Analysis,
    root=names,
    stores=st.lists(stores, max_size=3).map(tuple),
    interfaces=st.lists(interfaces, max_size=3).map(tuple),
    problems=st.lists(problems, max_size=2).map(tuple),
    skipped=st.lists(st.builds(Skipped, path=names, reason=names), max_size=2).map(tuple),
)


@given(analyses)
def test_analysis_round_trips_through_json(analysis: Analysis) -> None:
    assert Analysis.from_json(analysis.to_json()) == analysis


def test_contract_field_names() -> None:
    data = Analysis(
        root="/p",
        stores=(Store(path="a.db", kind="sqlite", bytes=1, tables=(Table(name="t", rows=2),)),),
    ).to_dict()
    assert data["format"] == "dbfold.analysis/1"
    store = data["stores"][0]
    assert {"path", "kind", "bytes", "tables", "problems"} <= store.keys()
    assert {"name", "rows", "columns", "foreign_keys", "indexes"} <= store["tables"][0].keys()
