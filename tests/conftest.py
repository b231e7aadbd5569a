"""Project-wide test settings.

Under CI (the ``CI`` environment variable is set, as ``.ci/run`` has it) Hypothesis runs
derandomized and keeps no example database, so a submission's run is reproducible; locally
it explores new examples each run and replays past failures from ``.hypothesis/``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

# `dbfold demo` migrates into a shared PostgreSQL database when a server answers; tests use
# databases of their own (tests/demo/test_demo_postgres.py turns the step on for its own).
os.environ.setdefault("DBFOLD_DEMO_PG", "off")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB tmpfs (root only; skipped where mounting is refused)."""
    folder = tmp_path / "disk"
    folder.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


#: The PostgreSQL server the tests use (``DBFOLD_TEST_PG`` overrides it): trust auth, user
#: postgres, as the machine and ``.ci/run`` provide.
PG_SERVER = os.environ.get("DBFOLD_TEST_PG", "postgresql://postgres@127.0.0.1:5432")


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A new, empty PostgreSQL database of its own (random name), dropped at the end.

    Skipped, with the reason, when psycopg is missing or no server answers.
    """
    psycopg = pytest.importorskip("psycopg", reason="psycopg (the postgres extra) is missing")
    import secrets

    name = f"dbfold_test_{secrets.token_hex(6)}"
    try:
        admin = psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL server answers at {PG_SERVER}: {str(exc).strip()[:200]}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        with psycopg.connect(f"{PG_SERVER}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
