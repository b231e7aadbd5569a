"""PostgreSQL target URLs: recognising them, hiding their passwords, connecting.

A target is a libpq URL (``postgresql://user@host:port/db?sslmode=…``). Its password may be
in the URL, in ``PGPASSWORD`` or in ``~/.pgpass`` (libpq reads the last two itself); it is
never printed: every message that names a target goes through :func:`redact`. psycopg (the
``postgres`` extra) is imported only when a PostgreSQL target is used, so SQLite users do
not need it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dbfold.errors import DbfoldError, MigrateError

if TYPE_CHECKING:
    import psycopg

SCHEMES = ("postgresql://", "postgres://")
#: The environment variable that names the target when ``--target`` is not given.
ENV = "DBFOLD_TARGET"
#: Seconds to wait for a server before saying it does not answer.
CONNECT_TIMEOUT = 5
_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^/@:\s]*):(?P<pw>[^@/\s]*)@", re.I)
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&]password=)[^&\s]*", re.I)


def is_postgres(target: str | None) -> bool:
    """Whether ``target`` is a PostgreSQL URL.

    >>> is_postgres("postgresql://u@h/db"), is_postgres("data/unified.db"), is_postgres(None)
    (True, False, False)
    """
    return bool(target) and str(target).lower().startswith(SCHEMES)


def redact(text: str) -> str:
    """``text`` with every URL password replaced by ``***`` (URL user part and ``password=``).

    >>> redact("postgresql://bob:s3cret@db:5432/x?sslmode=require&password=p2 failed")
    'postgresql://bob:***@db:5432/x?sslmode=require&password=*** failed'
    """
    text = _PASSWORD.sub(lambda m: f"{m['head']}:***@", text)
    return _QUERY_PASSWORD.sub(lambda m: f"{m['head']}***", text)


def without_password(url: str) -> str:
    """The URL with its password removed, as it may be written into plan.json.

    >>> without_password("postgresql://bob:pw@h/db?password=x&sslmode=require")
    'postgresql://bob@h/db?sslmode=require'
    """
    url = _PASSWORD.sub(lambda m: f"{m['head']}@", url)
    url = re.sub(r"([?&])password=[^&]*&?", r"\1", url, flags=re.I)
    return url.rstrip("?&")


def chosen_target(given: str | None, plan_target: str) -> str:
    """The target a command uses: ``--target``, else ``$DBFOLD_TARGET``, else the plan's."""
    return given or os.environ.get(ENV) or plan_target


@dataclass(frozen=True)
class PgTarget:
    """A PostgreSQL target: the URL (kept private) and the schema of the unified tables."""

    url: str
    schema: str = "public"

    @property
    def shown(self) -> str:
        """The target as messages and reports name it (no password), with its schema."""
        where = redact(self.url)
        return where if self.schema == "public" else f"{where} (schema {self.schema})"

    def connect(self, **kwargs: Any) -> psycopg.Connection[Any]:
        """A connection with UTC as its time zone; errors become one clear MigrateError."""
        return connect(self.url, **kwargs)


def driver() -> Any:
    """The psycopg module, or a clear error naming the extra to install."""
    try:
        import psycopg
    except ImportError as exc:
        raise DbfoldError(
            "PostgreSQL targets need psycopg: pip install 'dbfold[postgres]'"
        ) from exc
    return psycopg


def connect(url: str, *, autocommit: bool = False, **kwargs: Any) -> psycopg.Connection[Any]:
    """Open ``url`` with psycopg; an unreachable server, refused credentials or a missing
    database becomes a one-line MigrateError saying which and what to do."""
    pg = driver()
    kwargs.setdefault("connect_timeout", CONNECT_TIMEOUT)
    try:
        con: psycopg.Connection[Any] = pg.connect(url, autocommit=autocommit, **kwargs)
    except pg.OperationalError as exc:
        raise MigrateError(explain_connect(url, exc)) from exc
    except pg.ProgrammingError as exc:  # a malformed URL or option
        raise MigrateError(f"{redact(url)}: not a usable PostgreSQL URL ({exc})") from exc
    # Values dbfold writes and compares are UTC: a session zone must not shift them.
    con.execute("SET TIME ZONE 'UTC'")
    if not autocommit:
        con.commit()
    return con


def explain_connect(url: str, exc: BaseException) -> str:
    """The one line a failed connection gets: what went wrong, and what to do."""
    msg = " ".join(str(exc).split())
    where = redact(url)
    low = msg.lower()
    if "password authentication failed" in low or "no password supplied" in low:
        return (
            f"{where}: the server refused the credentials; check the user and password"
            " (in the URL, PGPASSWORD or ~/.pgpass)"
        )
    if "does not exist" in low and "database" in low:
        return f"{where}: the database does not exist; create it first (createdb) or fix the URL"
    if "role" in low and "does not exist" in low:
        return f"{where}: the user does not exist on the server; fix the URL's user"
    if any(w in low for w in ("connection refused", "could not connect", "timeout", "timed out")):
        return (
            f"{where}: no PostgreSQL server answers there; start it or fix the host and port"
            f" ({redact(msg)[:160]})"
        )
    return f"{where}: cannot connect ({redact(msg)[:200]})"
