"""optimize() for a PostgreSQL target: VACUUM (ANALYZE), REINDEX where bloated, sizes.

Sizes come from ``pg_total_relation_size`` over the target schema's tables (indexes and
TOAST included), before and after. A table whose dead rows were more than a fifth of its
live ones before the vacuum has its indexes rebuilt (``REINDEX TABLE``): a vacuum frees
dead index entries for reuse but does not shrink the index. While another dbfold run
(migrate or optimize) holds the target's advisory lock it refuses, naming the reason.
"""

from __future__ import annotations

import time

from dbfold.errors import MigrateError, OptimizeError
from dbfold.migrate import pg_schema
from dbfold.migrate.pg_migrate import target_bytes
from dbfold.migrate.report import OptimizeReport
from dbfold.pgurl import PgTarget
from dbfold.quoting import quote
from dbfold.units import human_bytes

#: Dead rows per live row past which a table's indexes are rebuilt.
BLOAT = 0.2


def optimize_postgres(target: PgTarget) -> OptimizeReport:
    """VACUUM (ANALYZE) every table of the target schema and REINDEX the bloated ones.

    Raises:
        OptimizeError: the server cannot be reached, the schema holds no dbfold target, or
            another dbfold run holds the target.
    """
    started = time.perf_counter()
    try:
        with pg_schema.hold(target, "optimize"):
            pg = target.connect(autocommit=True)
            try:
                return _run(pg, target, started)
            finally:
                pg.close()
    except MigrateError as exc:
        raise OptimizeError(str(exc)) from exc


def _run(pg: object, target: PgTarget, started: float) -> OptimizeReport:
    from typing import Any

    con: Any = pg
    schema = target.schema
    if pg_schema.classify(con, schema) != "dbfold":
        raise OptimizeError(
            f"{target.shown}: schema {schema} holds no dbfold target; run"
            " `dbfold migrate --execute` first (or pass --schema)"
        )
    before = target_bytes(con, schema)
    stats = {
        name: (int(live or 0), int(dead or 0))
        for name, live, dead in con.execute(
            "SELECT relname, n_live_tup, n_dead_tup FROM pg_stat_user_tables WHERE schemaname = %s",
            (schema,),
        ).fetchall()
    }
    tables = [
        name
        for (name,) in con.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relkind = 'r' ORDER BY 1",
            (schema,),
        ).fetchall()
    ]
    steps = []
    rebuilt = []
    for name in tables:
        rel = f"{quote(schema)}.{quote(name)}"
        con.execute(f"VACUUM (ANALYZE) {rel}")
        live, dead = stats.get(name, (0, 0))
        if dead > BLOAT * max(live, 1):
            con.execute(f"REINDEX TABLE {rel}")
            rebuilt.append(name)
    steps.append(f"VACUUM (ANALYZE) of {len(tables)} tables")
    steps.append(
        f"REINDEX of {len(rebuilt)} bloated tables ({', '.join(rebuilt)})"
        if rebuilt
        else "REINDEX: no table had more than 20% dead rows"
    )
    after = target_bytes(con, schema)
    steps.append(f"{human_bytes(before)} → {human_bytes(after)}")
    return OptimizeReport(
        target.shown, before, after, tuple(steps), "ok", round(time.perf_counter() - started, 3)
    )
