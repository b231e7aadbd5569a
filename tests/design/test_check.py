"""check_plan: hand edits that are accepted, and bad edits that point at their JSON path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from dbfold.design import check_plan, design, render_sql
from dbfold.errors import DesignError
from dbfold.model import Analysis

CASE = Path(__file__).resolve().parents[1] / "cases" / "merged_trackers"


@pytest.fixture
def analysis() -> Analysis:
    return Analysis.from_json((CASE / "analysis.json").read_bytes())


@pytest.fixture
def raw(analysis: Analysis) -> dict[str, Any]:
    return dict(orjson.loads(design(analysis).to_json()))


def _table(raw: dict[str, Any], name: str) -> tuple[int, dict[str, Any]]:
    return next((i, t) for i, t in enumerate(raw["tables"]) if t["name"] == name)


def _check(raw: dict[str, Any], analysis: Analysis) -> None:
    check_plan(orjson.dumps(raw), analysis)


def test_rename_and_accept_flow_through(raw: dict[str, Any], analysis: Analysis) -> None:
    _, orders = _table(raw, "orders")
    orders["name"] = "purchase orders"
    for s in raw["suggestions"]:
        s["table"] = "purchase orders"
        s["accepted"] = True
    plan = check_plan(orjson.dumps(raw), analysis)
    table = plan.table("purchase orders")
    assert table is not None
    assert [fk.ref_table for fk in table.foreign_keys] == ["customers"]
    assert 'CREATE TABLE "purchase orders"' in render_sql(plan)
    # A re-design keeps the rename and the accepted suggestion.
    again = design(analysis, previous=plan)
    kept = again.table("purchase orders")
    assert kept is not None
    assert [s.accepted for s in again.suggestions] == [True]
    assert [fk.ref_table for fk in kept.foreign_keys] == ["customers"]


def test_redesign_keeps_exclusion_and_undone_merge(raw: dict[str, Any], analysis: Analysis) -> None:
    _, customers = _table(raw, "customers")
    raw["tables"].remove(customers)
    raw["excluded"].append({"store": "app/orders.db", "table": "customers", "reason": "stale"})
    # Undo the events merge: one table per store.
    _, events = _table(raw, "events")
    first, second = events["sources"]
    raw["tables"].append({**events, "name": "view_events", "sources": [second]})
    events["sources"] = [first]
    plan = check_plan(orjson.dumps(raw), analysis)
    again = design(analysis, previous=plan)
    assert again.table("customers") is None
    assert any(e.table == "customers" and e.by == "user" for e in again.excluded)
    assert again.table("view_events") is not None
    ev = again.table("events")
    assert ev is not None and len(ev.sources) == 1


def test_notes_for_edits_that_no_longer_apply(analysis: Analysis) -> None:
    plan = design(analysis)
    smaller = Analysis(root=analysis.root, stores=analysis.stores[:2])
    again = design(smaller, previous=plan)
    assert any("no longer in the analysis" in n for n in again.notes)


Edit = Callable[[dict[str, Any]], None]


def _dup_column(r: dict[str, Any]) -> None:
    _table(r, "orders")[1]["columns"][2]["name"] = "ID"


def _clash_table(r: dict[str, Any]) -> None:
    _table(r, "customers")[1]["name"] = "Orders"


def _unknown_store(r: dict[str, Any]) -> None:
    _table(r, "orders")[1]["sources"][0]["store"] = "gone.db"


def _unknown_table(r: dict[str, Any]) -> None:
    _table(r, "orders")[1]["sources"][0]["table"] = "nope"


def _unknown_column(r: dict[str, Any]) -> None:
    _table(r, "orders")[1]["sources"][0]["columns"]["nope"] = "total"


def _incompatible(r: dict[str, Any]) -> None:
    _, t = _table(r, "users")
    t["sources"][1]["columns"] = {"id": "id", "email": "source"}
    t["sources"][1]["columns"]["id"] = "email"


def _missing_key(r: dict[str, Any]) -> None:
    del _table(r, "orders")[1]["columns"][0]["type"]


def _wrong_type(r: dict[str, Any]) -> None:
    _table(r, "orders")[1]["columns"][0]["nullable"] = "yes"


def _fk_missing_table(r: dict[str, Any]) -> None:
    _table(r, "events")[1]["foreign_keys"][0]["ref_table"] = "people"


def _fk_missing_column(r: dict[str, Any]) -> None:
    _table(r, "events")[1]["foreign_keys"][0]["ref_columns"] = ["source", "uid"]


def _version(r: dict[str, Any]) -> None:
    r["format"] = "dbfold.plan/9"


def _no_home(r: dict[str, Any]) -> None:
    r["tables"].remove(_table(r, "customers")[1])


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (_dup_column, '$.tables[2].columns[2].name: duplicate column "ID"'),
        (_clash_table, "$.tables[3].name: table 'Orders' clashes with $.tables[2]"),
        (_unknown_store, "gone.db"),
        (_unknown_table, "$.tables[2].sources[0].table: app/orders.db has no table 'nope'"),
        (_unknown_column, "$.tables[2].sources[0].columns.nope:"),
        (_incompatible, "$.tables[1].sources[1].columns.id: maps onto 'email'"),
        (_missing_key, "$.tables[2].columns[0]: missing key 'type'"),
        (_wrong_type, "$.tables[2].columns[0].nullable: expected true or false"),
        (_fk_missing_table, "$.tables[0].foreign_keys[0].ref_table: no table 'people'"),
        (_fk_missing_column, "$.tables[0].foreign_keys[0].ref_columns: no column 'uid'"),
        (_version, "$.format: unknown plan format 'dbfold.plan/9'"),
        (_no_home, "$.excluded: app/orders.db:customers has no home"),
    ],
)
def test_bad_edit_points_at_path(
    raw: dict[str, Any], analysis: Analysis, edit: Edit, expected: str
) -> None:
    edit(raw)
    with pytest.raises(DesignError) as info:
        _check(raw, analysis)
    assert expected.replace('"ID"', "'ID'") in str(info.value)


def test_not_json(analysis: Analysis) -> None:
    with pytest.raises(DesignError, match="not valid JSON"):
        check_plan(b"{", analysis)
    with pytest.raises(DesignError, match=r"^\$: plan.json must hold a JSON object"):
        check_plan(b"[]", analysis)


def test_unknown_analysis_format(analysis: Analysis) -> None:
    from dataclasses import replace

    with pytest.raises(DesignError, match=r"dbfold\.analysis/1"):
        design(replace(analysis, format="dbfold.analysis/0"))
