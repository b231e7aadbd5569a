"""The demo's PostgreSQL step: the same plan migrated into PostgreSQL when a server answers."""

from __future__ import annotations

import os
from pathlib import Path

from dbfold.errors import DbfoldError
from dbfold.migrate.report import MigrationReport
from dbfold.model import Analysis
from dbfold.plan import Plan

#: The database the demo migrates into when its server answers; ``DBFOLD_DEMO_PG`` names
#: another (a full URL), or ``off`` to leave the step out.
DEFAULT = "postgresql://postgres@127.0.0.1:5432/dbfold_demo"


def demo_url() -> str | None:
    """The demo's PostgreSQL URL, or None when ``DBFOLD_DEMO_PG`` turns the step off."""
    raw = os.environ.get("DBFOLD_DEMO_PG", DEFAULT).strip()
    return None if raw.lower() in ("", "off", "0", "no", "false") else raw


def demo_postgres(plan: Plan, analysis: Analysis, directory: Path) -> MigrationReport | str:
    """Migrate the demo into :func:`demo_url`; the reason it was skipped otherwise.

    The database is created when missing; an earlier demo's tables in it are dropped first
    so each demo shows a new build. A database whose schema holds tables dbfold did not make
    is left alone (skipped, with the reason).
    """
    from urllib.parse import urlsplit, urlunsplit

    from dbfold.migrate import migrate, pg_schema
    from dbfold.pgurl import PgTarget, connect, redact
    from dbfold.quoting import quote

    url = demo_url()
    if url is None:
        return "skipped: DBFOLD_DEMO_PG is off"
    parts = urlsplit(url)
    database = parts.path.lstrip("/") or "dbfold_demo"
    try:
        admin = connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True)
    except DbfoldError as exc:
        return f"skipped: {exc}"
    try:
        found = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,))
        if found.fetchone() is None:
            admin.execute(f"CREATE DATABASE {quote(database)}")
    finally:
        admin.close()
    target = PgTarget(urlunsplit(parts._replace(path="/" + database)))
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
