"""A scoped tenant query against the hand-written ``WHERE tenant_id = ?`` query, same run.

One table ``items(id, tenant_id, sku, qty)`` with an index on ``(tenant_id, sku)``,
100 tenants. **ours** runs ``SELECT id, sku, qty FROM items WHERE sku = ?`` through
``with db.scope(tenant) as t: t.query(…)`` on a :class:`TenantDatabase` (the TEMP view,
the authorizer and the ``dbfold_tenant()`` function in play); the **baseline** runs
``SELECT id, sku, qty FROM items WHERE tenant_id = ? AND sku = ?`` through
``UnifiedDatabase.query`` on the same file, the same data, the same parameters. Two
shapes: a point lookup (one row) and a range of about 100 rows (``sku >= ? AND sku < ?``).
Rounds interleave both sides; each figure is the median per-query time of the rounds,
goal ours ≤ 1.1 × baseline.

Default 100,000 rows (the shared machines); ``--full`` uses the issue's 1,000,000.

Usage: ``python benchmarks/patterns_tenants.py [--full] [--rounds N]``
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from dbfold.patterns.tenants import TenantDatabase
from dbfold.runtime import UnifiedDatabase
from figures import HEADER, figure, median, spread

SCHEMA = (
    "CREATE TABLE items (id INTEGER PRIMARY KEY, tenant_id TEXT NOT NULL, sku TEXT NOT NULL, "
    "qty INTEGER);\n"
    "CREATE INDEX items_tenant_sku ON items (tenant_id, sku);"
)
TENANTS = 100


class Scoped(TenantDatabase):
    SCHEMA_VERSION = "1.0.0"

    def get_schema(self) -> str:
        return SCHEMA


class Plain(UnifiedDatabase):
    SCHEMA_VERSION = "1.0.0"

    def get_schema(self) -> str:
        return SCHEMA


def build(path: Path, rows: int) -> None:
    """Fill the file with raw sqlite3 (the build is not measured)."""
    Plain(path).close()
    conn = sqlite3.connect(path)
    per = rows // TENANTS
    conn.executemany(
        "INSERT INTO items (tenant_id, sku, qty) VALUES (?, ?, ?)",
        ((f"t{n % TENANTS}", f"sku{n // TENANTS:07d}", n % 97) for n in range(per * TENANTS)),
    )
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


def timed(func: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        func()
    return (time.perf_counter() - start) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--full", action="store_true", help="1,000,000 rows (default 100,000)")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    rows = 1_000_000 if args.full else 100_000
    per = rows // TENANTS
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tenants.db"
        build(path, rows)
        scoped, plain = Scoped(path), Plain(path)
        for n in range(TENANTS):
            scoped.create_tenant(f"t{n}")
        rng = random.Random(7)
        keys = [(f"t{rng.randrange(TENANTS)}", rng.randrange(per - 100)) for _ in range(200)]
        point = "SELECT id, sku, qty FROM items WHERE sku = ?"
        point_hand = "SELECT id, sku, qty FROM items WHERE tenant_id = ? AND sku = ?"
        span = "SELECT id, sku, qty FROM items WHERE sku >= ? AND sku < ?"
        span_hand = "SELECT id, sku, qty FROM items WHERE tenant_id = ? AND sku >= ? AND sku < ?"
        results: dict[str, list[float]] = {}

        def run(
            label: str, ours: Callable[[str, int], object], base: Callable[[str, int], object]
        ) -> None:
            for side, func in (("ours", ours), ("base", base)):

                def batch(func: Callable[[str, int], object] = func) -> None:
                    for tenant, k in keys:
                        func(tenant, k)

                results.setdefault(f"{label} {side}", []).append(timed(batch, 5) / len(keys))

        def ours_point(tenant: str, k: int) -> object:
            with scoped.scope(tenant) as t:
                return t.query(point, (f"sku{k:07d}",))

        def base_point(tenant: str, k: int) -> object:
            return plain.query(point_hand, (tenant, f"sku{k:07d}"))

        def ours_span(tenant: str, k: int) -> object:
            with scoped.scope(tenant) as t:
                return t.query(span, (f"sku{k:07d}", f"sku{k + 100:07d}"))

        def base_span(tenant: str, k: int) -> object:
            return plain.query(span_hand, (tenant, f"sku{k:07d}", f"sku{k + 100:07d}"))

        # Same answers first, then timing.
        for tenant, k in keys[:20]:
            assert [tuple(r) for r in ours_span(tenant, k)] == [
                tuple(r) for r in base_span(tenant, k)
            ]
        # Inside one scope per round of queries, as a request handler would hold it.
        scope_all = {}

        def ours_point_in_scope(tenant: str, k: int) -> object:
            return scope_all[tenant].query(point, (f"sku{k:07d}",))

        for _ in range(args.rounds):
            run("point lookup, scope per query", ours_point, base_point)
            run("~100-row range, scope per query", ours_span, base_span)
        tenant0 = keys[0][0]
        same_tenant = [(tenant0, k) for _, k in keys]
        keys[:] = same_tenant
        with scoped.scope(tenant0) as t:
            scope_all[tenant0] = t
            for _ in range(args.rounds):
                run("point lookup, in an open scope", ours_point_in_scope, base_point)
        scoped.close()
        plain.close()

    print(f"tenants: {rows:,} rows, {TENANTS} tenants, medians of {args.rounds} rounds (µs/query)")
    print(HEADER)
    spreads = []
    for label in (
        "point lookup, scope per query",
        "~100-row range, scope per query",
        "point lookup, in an open scope",
    ):
        ours = [v * 1e6 for v in results[f"{label} ours"]]
        base = [v * 1e6 for v in results[f"{label} base"]]
        figure(f"tenants: {label}", median(ours), median(base), 1.1, higher_is_better=False)
        spreads.append(f"{label}: ours {spread(ours)}, baseline {spread(base)}")
    for line in spreads:
        print("  spread", line)


if __name__ == "__main__":
    main()
