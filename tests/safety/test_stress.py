"""Stress: 8 threads, 3 spawned and 2 forked processes write one database, 20 times over.

Every writer constructs and closes its own ``UnifiedDatabase`` in a loop while inserting
rows and recording operations, so databases open and close in one thread while others
hold connections and transactions, and other processes close their last connection
(checkpointing, maybe deleting the WAL) all the while. The forked processes fork before
the worker opens the database. Every row and every operation must be there, the integrity
check must pass, and no writer may fail (no lock errors either). The whole run stays well
under 60 s on 2 cores; it runs in a fresh interpreter (``stress_worker.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from safety_support import POSIX, SKIP_REASON, run_worker

pytestmark = pytest.mark.skipif(not POSIX, reason=SKIP_REASON)

#: All 20 repetitions; each writer constructs its database LOOPS times, ROWS rows each.
REPETITIONS, LOOPS, ROWS = 20, 10, 3


@pytest.mark.slow
def test_threads_spawned_and_forked_writers_lose_nothing(tmp_path: Path) -> None:
    result = run_worker(
        "stress_worker.py",
        str(tmp_path / "stress"),
        str(REPETITIONS),
        str(LOOPS),
        str(ROWS),
        timeout=300,
    )
    bad = []
    for i, rep in enumerate(result["repetitions"]):
        wrong = []
        if rep["rows"] != rep["want rows"]:
            wrong.append(f"{rep['rows']} of {rep['want rows']} rows")
        if rep["operations"] != rep["want operations"]:
            wrong.append(f"{rep['operations']} of {rep['want operations']} completed operations")
        if rep["integrity"] != ["ok"]:
            wrong.append(f"integrity_check: {rep['integrity'][:3]}")
        if rep["errors"]:
            first = rep["errors"][0].splitlines()[0].replace(str(tmp_path), "<tmp>")
            wrong.append(f"{len(rep['errors'])} writers failed, first: {first}")
        if wrong:
            bad.append(f"repetition {i}: " + "; ".join(wrong))
    assert not bad, f"{len(bad)} of {REPETITIONS} repetitions lost data:\n" + "\n".join(bad)
