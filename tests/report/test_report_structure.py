"""Golden structure of the report (not its bytes) for the sample project and 60 tables."""

from __future__ import annotations

import pytest
from report_support import Reported, compare_golden, parse, structure


@pytest.mark.parametrize("which", ["sample_reported", "wide_reported"])
def test_golden_structure(which: str, request: pytest.FixtureRequest) -> None:
    reported: Reported = request.getfixturevalue(which)
    html = reported.html.read_text(encoding="utf-8")
    got = structure(html)
    compare_golden(which.removesuffix("_reported"), got)


@pytest.mark.parametrize("which", ["sample_reported", "wide_reported"])
def test_every_table_is_a_node_and_every_source_a_lineage_row(
    which: str, request: pytest.FixtureRequest
) -> None:
    reported: Reported = request.getfixturevalue(which)
    got = structure(reported.html.read_text(encoding="utf-8"))
    plan = reported.plan
    assert got["diagram"]["tables"] == len(plan.tables)
    assert got["diagram"]["nodes"] == sorted(t.name for t in plan.tables)
    assert sorted(got["tables"]) == sorted(t.name for t in plan.tables)
    fks = sorted([t.name, f.ref_table, False] for t in plan.tables for f in t.foreign_keys)
    assert [e for e in got["diagram"]["edges"] if not e[2]] == fks
    merged = sorted(t.name for t in plan.tables if len({s.store for s in t.sources}) > 1)
    assert got["diagram"]["merged"] == merged
    homes = {(s.store, s.table, t.name) for t in plan.tables for s in t.sources}
    rows = {(store, table, target) for store, table, target, _ in got["lineage"]}
    assert homes <= rows
    # Nothing loads from anywhere: one inline style sheet, one inline script.
    assert got["self_contained"] == {"external": [], "scripts": 1, "styles": 1}


def test_sixty_tables_are_grouped_by_store(wide_reported: Reported) -> None:
    got = structure(wide_reported.html.read_text(encoding="utf-8"))
    groups = dict(got["diagram"]["groups"])
    assert groups["merged from several stores"] == 1
    assert [groups[f"data/store{s}.db"] for s in range(6)] == [10] * 6
    # a merged table lists its sources with their discriminator values on its card (the
    # first three, then how many more) and every one of them in its tooltip
    html = wide_reported.html.read_text(encoding="utf-8")
    for s in range(3):
        assert f"← store{s}.db:audit_log source=store{s}" in html
    assert "… 3 more sources" in html
    for s in range(6):
        assert f"← data/store{s}.db:audit_log\n" in html or f"← data/store{s}.db:audit_log<" in html


def test_review_items_name_the_plan_path(sample_reported: Reported) -> None:
    p = parse(sample_reported.html.read_text(encoding="utf-8"))
    plan = sample_reported.plan
    paths = {r["data-path"] for r in p.review}
    for i, s in enumerate(plan.suggestions):
        if not s.accepted:
            assert f"$.suggestions[{i}].accepted" in paths
    decisions = [r for r in p.review if "decision" in r["class"].split()]
    assert len(decisions) == len(plan.decisions)
    assert all(r["data-path"].startswith("$.") for r in decisions)


def test_figures_are_the_migration_reports(sample_reported: Reported) -> None:
    p = parse(sample_reported.html.read_text(encoding="utf-8"))
    m = sample_reported.migration
    assert m.verify is not None
    assert int(p.figures["bytes-before"]) == m.sources_bytes
    assert int(p.figures["bytes-after"]) == m.target_bytes
    assert int(p.figures["rows-copied"]) == m.rows
    assert int(p.figures["rows-verified"]) == sum(c.target_rows for c in m.verify.checks)
    assert int(p.figures["stores-before"]) == len(sample_reported.analysis.stores)
    assert p.figures["verify-status"] == "1"
