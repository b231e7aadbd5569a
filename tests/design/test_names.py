"""Naming of clashing tables: store stem, then folder, then a numbered suffix."""

from __future__ import annotations

from dbfold.design import DesignOptions, design
from dbfold.model import Analysis, Column, Store, Table


def _store(path: str, *names: str, kind: str = "sqlite") -> Store:
    # A column named after the store, so that no two tables have the same shape (no merges).
    cols = (Column(name="id", type="INTEGER", nullable=False, primary_key=True),)
    tables = tuple(
        Table(name=n, rows=1, columns=(*cols, Column(name=f"{path}:{n}", type="TEXT")))
        for n in names
    )
    return Store(path=path, kind=kind, bytes=1, tables=tables)


def _names(*stores: Store, naming: str = "keep") -> dict[tuple[str, str], str]:
    plan = design(Analysis(root="/p", stores=stores), options=DesignOptions(naming=naming))
    return {(s.store, s.table): t.name for t in plan.tables for s in t.sources}


def test_stem_equal_to_name_takes_the_folder() -> None:
    names = _names(
        _store("data/costs.db", "api_calls", "costs"),
        _store("exports/costs.csv", "costs"),
        _store("data/tracking.db", "events"),
        _store("data/metrics.db", "events"),
        _store("logs/events.jsonl", "events"),
    )
    assert names[("data/costs.db", "costs")] == "data_costs"
    assert names[("exports/costs.csv", "costs")] == "exports_costs"
    assert names[("data/tracking.db", "events")] == "tracking_events"
    assert names[("data/metrics.db", "events")] == "metrics_events"
    assert names[("logs/events.jsonl", "events")] == "logs_events"
    assert names[("data/costs.db", "api_calls")] == "api_calls"


def test_same_stem_in_two_folders_takes_the_folders() -> None:
    names = _names(_store("a/x.db", "t"), _store("b/x.db", "T"))
    assert names == {("a/x.db", "t"): "a_t", ("b/x.db", "T"): "b_T"}


def test_numbered_suffix_is_the_last_resort() -> None:
    # Root-level stores named after their only table have no other prefix to offer.
    names = _names(_store("events.db", "events"), _store("events.sqlite", "events"))
    assert sorted(names.values()) == ["events", "events_2"]


def test_a_unique_source_name_is_never_pushed_aside() -> None:
    # "data_costs" exists already; the generated prefixed name must not take it.
    names = _names(
        _store("z/other.db", "data_costs"),
        _store("data/costs.db", "costs"),
        _store("exports/costs.csv", "costs"),
    )
    assert names[("z/other.db", "data_costs")] == "data_costs"
    assert names[("data/costs.db", "costs")] == "data_costs_2"
    assert len({n.casefold() for n in names.values()}) == 3


def test_prefix_naming_avoids_repeats_and_is_deterministic() -> None:
    stores = (_store("data/metrics.db", "metrics", "events"), _store("logs/events.jsonl", "events"))
    names = _names(*stores, naming="prefix")
    assert names == {
        ("data/metrics.db", "metrics"): "data_metrics",
        ("data/metrics.db", "events"): "metrics_events",
        ("logs/events.jsonl", "events"): "logs_events",
    }
    assert _names(*stores, naming="prefix") == names
