"""Property: through a PostgreSQL unified database, a statement answers as the legacy store.

The generated statements of ``test_equivalence`` (selects, joins, aggregates, inserts,
upserts, updates, deletes) run on a copy of the legacy files and through the PostgreSQL
adapter: same rows, column names, rowcount, lastrowid and error class, and after every write
the same whole store.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from adapters_support import HYPOTHESIS, Project
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pg_support import migrate_to, pair
from test_equivalence import STORES, Stmt, run, select, snapshot, write

from dbfold.errors import AdapterError

#: What the PostgreSQL adapter raises for a value its column type cannot hold ('a' into an
#: INTEGER column, which SQLite keeps as text): a documented refusal, tested on its own in
#: test_pg_constructs; such examples are left out here.
REFUSED = ("error", "ValueRefusedError")


def fk_refused(adapted: Any, stmt: Stmt) -> bool:
    """Whether ``stmt`` fails on the PostgreSQL adapter for a foreign key (run again in a
    savepoint of its own, so the transaction is as it was)."""
    adapted.execute("SAVEPOINT dbfold_fk_probe")
    try:
        if stmt.many is not None:
            adapted.executemany(stmt.sql, stmt.many)
        else:
            adapted.execute(stmt.sql, stmt.params)
    except sqlite3.IntegrityError as exc:
        return "FOREIGN KEY" in str(exc)
    finally:
        adapted.execute("ROLLBACK TO dbfold_fk_probe")
        adapted.execute("RELEASE dbfold_fk_probe")
    return False


def check(pair: Any, store: str, stmts: list[Stmt]) -> None:
    legacy, adapted = pair
    try:
        for stmt in stmts:
            # An unordered INSERT … SELECT numbers new keys in an order SQL leaves open
            # (test_equivalence checks what it fixes); left out here.
            assume(stmt.renumbers is None)
            # Open (issue 14): a multi-row INSERT that leaves keys to the database takes
            # PostgreSQL's identity sequence, which keys the legacy code chose itself did
            # not advance; SQLite numbers max + 1. Left out until that is translated.
            multi_row = re.search(r"\)\s*,\s*\(", stmt.sql) is not None
            assume(not (stmt.sql.startswith(("INSERT", "REPLACE")) and multi_row))
            want = run(legacy, stmt)
            try:
                got = run(adapted, stmt)
            except AdapterError:
                got = REFUSED  # refused by name (REPLACE beside a second UNIQUE …)
            assume(got != REFUSED)
            # Open (issue 14): PostgreSQL enforces the unified foreign keys, which the
            # legacy SQLite file (foreign_keys off) never did. Left out by that error alone.
            assume(
                not (
                    want[0] == "ok"
                    and got == ("error", "IntegrityError")
                    and fk_refused(adapted, stmt)
                )
            )
            assert got == want, stmt.sql
            if stmt.write:
                assert snapshot(adapted, store) == snapshot(legacy, store), stmt.sql
    finally:
        legacy.rollback()
        adapted.rollback()


SETTINGS = settings(
    HYPOTHESIS,
    max_examples=40,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def pg_pairs(project: Project, pg_url: str, tmp_path: Path) -> Any:
    copy = migrate_to(project, pg_url, tmp_path / "p")
    out = {store: pair(copy, store, pg_url) for store in STORES}
    yield out
    for legacy, adapted in out.values():
        legacy.close()
        adapted.close()


@SETTINGS
@given(data=st.data())
def test_reads_answer_as_the_legacy_store_on_postgresql(pg_pairs: Any, data: Any) -> None:
    store = data.draw(st.sampled_from(sorted(STORES)))
    stmts = data.draw(st.lists(select(store), min_size=1, max_size=4))
    check(pg_pairs[store], store, stmts)


@SETTINGS
@given(data=st.data())
def test_writes_change_what_the_legacy_store_would_on_postgresql(pg_pairs: Any, data: Any) -> None:
    store = data.draw(st.sampled_from(sorted(STORES)))
    stmts = data.draw(st.lists(write(store) | select(store), min_size=1, max_size=5))
    check(pg_pairs[store], store, stmts)
