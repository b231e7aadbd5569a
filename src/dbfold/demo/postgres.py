"""The demo's PostgreSQL step: the same plan migrated into PostgreSQL when a server answers."""

from __future__ import annotations

import os
from pathlib import Path

from dbfold.errors import DbfoldError
from dbfold.migrate.report import MigrationReport
from dbfold.model import Analysis
from dbfold.plan import Plan

#: The server the demo tries (``DBFOLD_DEMO_PG`` overrides it), and its database.
SERVER = os.environ.get("DBFOLD_DEMO_PG", "postgresql://postgres@127.0.0.1:5432")
DATABASE = "dbfold_demo"


def demo_postgres(plan: Plan, analysis: Analysis, directory: Path) -> MigrationReport | str:
    """Migrate the demo into ``<server>/dbfold_demo``; the reason it was skipped otherwise.

    The database is created when missing; an earlier demo's tables in it are dropped first
    so each demo shows a new build. A database whose schema holds tables dbfold did not make
    is left alone (skipped, with the reason).
    """
    from dbfold.migrate import migrate, pg_schema
    from dbfold.pgurl import PgTarget, connect, redact

    try:
        admin = connect(f"{SERVER}/postgres", autocommit=True, connect_timeout=2)
    except DbfoldError as exc:
        return f"skipped: {exc}"
    try:
        found = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
        if found.fetchone() is None:
            admin.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        admin.close()
    target = PgTarget(f"{SERVER}/{DATABASE}")
    pg = target.connect(autocommit=True)
    try:
        kind = pg_schema.classify(pg, target.schema)
        if kind == "foreign":
            return f"skipped: {redact(target.url)} holds tables dbfold did not make"
        if kind == "dbfold":
            pg.execute("DROP SCHEMA public CASCADE")
            pg.execute("CREATE SCHEMA public")
    finally:
        pg.close()
    return migrate(plan, analysis, directory, execute=True, target=target.url)
