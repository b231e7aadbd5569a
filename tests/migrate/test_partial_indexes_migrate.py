"""``migrate --execute`` builds partial and expression indexes in SQLite and PostgreSQL.

The source has a unique index over live rows only (``WHERE deleted = 0``) and an index on
``lower(email)``; the unified target must have both as such, so the rows the source held
(two ``a@x``, one of them deleted) load, and a second live ``a@x`` is refused as before.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from dbfold.design import design
from dbfold.design.options import DesignOptions
from dbfold.migrate import migrate
from dbfold.plan import rename_column
from dbfold.scan import analyze
from dbfold.state import plan_path, save_analysis, write_atomic

APP = """
CREATE TABLE users (
  id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT, deleted BOOLEAN NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX ux_users_live_email ON users(email) WHERE deleted = 0;
CREATE INDEX ix_users_email_lower ON users(lower(email));
INSERT INTO users (email, name, deleted) VALUES
  ('a@x', 'A', 0), ('a@x', 'A (old)', 1), ('B@x', 'B', 0);
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "data").mkdir(parents=True)
    with closing(sqlite3.connect(root / "data" / "app.db")) as con:
        con.executescript(APP)
        con.commit()
    return root


def test_sqlite_target_builds_them_and_a_rename_reaches_the_predicate(project: Path) -> None:
    analysis = analyze(project)
    save_analysis(analysis, project)
    plan = rename_column(design(analysis), "users", "deleted", "is_deleted")
    write_atomic(plan_path(project), plan.to_json() + b"\n")
    report = migrate(plan, analysis, project, execute=True)
    assert report.verify is not None and report.verify.ok, report.verify
    with closing(sqlite3.connect(project / "data" / "unified.db")) as con:
        sql = dict(con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index'"))
        assert sql["ux_users_live_email"] == (
            'CREATE UNIQUE INDEX "ux_users_live_email" ON "users" ("email") WHERE "is_deleted" = 0'
        )
        assert sql["ix_users_email_lower"] == (
            'CREATE INDEX "ix_users_email_lower" ON "users" (LOWER("email"))'
        )
        # The index is partial and unique: a deleted duplicate is fine, a live one is not.
        con.execute("INSERT INTO users (email, is_deleted) VALUES ('B@x', 1)")
        with pytest.raises(sqlite3.IntegrityError):
            con.execute("INSERT INTO users (email, is_deleted) VALUES ('a@x', 0)")
        plan_rows = con.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM users WHERE lower(email) = 'b@x'"
        ).fetchall()
        assert any("ix_users_email_lower" in str(r) for r in plan_rows), plan_rows


def test_postgres_target_builds_them(project: Path, pg_url: str) -> None:
    psycopg = pytest.importorskip("psycopg")
    analysis = analyze(project)
    save_analysis(analysis, project)
    plan = design(analysis, options=DesignOptions(target=pg_url))
    users = plan.table("users")
    assert users is not None and users.column("deleted").pg_type == "boolean"  # type: ignore[union-attr]
    write_atomic(plan_path(project), plan.to_json() + b"\n")
    report = migrate(plan, analysis, project, execute=True)
    assert report.verify is not None and report.verify.ok, report.verify
    with psycopg.connect(pg_url) as con:
        rows = con.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
            " AND tablename = 'users'"
        ).fetchall()
        defs = dict(rows)
        assert defs["ux_users_live_email"] == (
            "CREATE UNIQUE INDEX ux_users_live_email ON public.users USING btree (email)"
            " WHERE (deleted = false)"
        )
        assert defs["ix_users_email_lower"] == (
            "CREATE INDEX ix_users_email_lower ON public.users USING btree (lower(email))"
        )
        con.execute("INSERT INTO public.users (email, deleted) VALUES ('B@x', true)")
        with pytest.raises(psycopg.errors.UniqueViolation):
            con.execute("INSERT INTO public.users (email, deleted) VALUES ('a@x', false)")
