"""Benchmark: dbfold migrate against raw baselines measured in the same run.

    python benchmarks/migrate.py [--scale 30] [--records 1000000] [--runs 3] [--data DIR]

The issue's scale (about 2 M SQLite rows and ~500 MB of JSON + JSONL) is
``--scale 40 --records 2300000``; ``--data DIR`` builds that project once and reuses it
(it is generated data: keep it out of the repository).

Prints medians and ratios: SQLite part vs raw ATTACH + INSERT … SELECT; JSON array vs a
hand-written orjson.loads + executemany loader (and ``sqlite-utils insert --alter`` when
installed); JSONL vs orjson-per-line + executemany; peak RSS of ours (a subprocess); the
unified file vs the sum of the sources after VACUUM.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

from dbfold.demo import build_sample_project
from dbfold.design import design
from dbfold.design.render_sql import create_table
from dbfold.scan import analyze
from dbfold.state import plan_path, save_analysis, write_atomic

COLS = ["id", "name", "kind", "value", "ts", "note"]


def _records(n: int) -> list[dict[str, object]]:
    return [
        {
            "id": i,
            "name": f"name-{i}",
            "kind": ("a", "b", "c")[i % 3],
            "value": i * 0.5,
            "ts": f"2024-01-01T00:00:{i % 60:02d}Z",
            "note": None if i % 7 else "seven",
        }
        for i in range(n)
    ]


def _median(fn, runs: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=30)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument(
        "--data",
        type=Path,
        default=None,
        help="project folder to build once and reuse (kept; default: a temporary one)",
    )
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="dbfold-bench-"))
    root = args.data.absolute() if args.data else base / "proj"
    if not (root / "big/lines.jsonl").exists():
        shutil.rmtree(root, ignore_errors=True)
        build_sample_project(root, scale=args.scale)
        recs = _records(args.records)
        (root / "big").mkdir()
        (root / "big/items.json").write_bytes(orjson.dumps(recs))
        with open(root / "big/lines.jsonl", "wb") as f:
            for r in recs:
                f.write(orjson.dumps(r) + b"\n")
        del recs
        analysis = analyze(root)
        save_analysis(analysis, root)
        plan = design(analysis)
        write_atomic(plan_path(root), plan.to_json() + b"\n")
    else:
        from dbfold.plan import Plan
        from dbfold.state import load_analysis

        analysis = load_analysis(root)
        plan = Plan.from_json(plan_path(root).read_bytes())
    n = sum(t.rows for s in analysis.stores if s.path == "big/items.json" for t in s.tables)
    target = root / plan.target
    sqlite_rows = sum(s.rows for s in analysis.stores if s.kind == "sqlite")

    def ours_copy(p, kind: type) -> None:  # type: ignore[no-untyped-def]
        """dbfold's copy path alone: create the plan's tables, run its ``kind`` copy ops."""
        from dbfold.migrate import journal
        from dbfold.migrate.copy import Copier
        from dbfold.migrate.ops import CreateTable, build_operations
        from dbfold.migrate.runner import _connect

        ops, _ = build_operations(p, analysis)
        out = base / "ours.db"
        out.unlink(missing_ok=True)
        con = _connect(out, fast=True)
        con.execute("BEGIN")
        for op in ops:
            if isinstance(op, CreateTable):
                con.execute(op.sql())
        journal.ensure(con)
        con.execute("COMMIT")
        copier = Copier(con, root, "bench")
        for op in ops:
            if isinstance(op, kind):
                op.run(copier)
        con.close()

    def ours_sqlite_only() -> None:
        from dbfold.migrate.ops import CopySqlite

        sqlite_tables = tuple(
            t
            for t in plan.tables
            if t.sources and all(analysis.store(s.store).kind == "sqlite" for s in t.sources)
        )
        ours_copy(plan.__class__(target=plan.target, tables=sqlite_tables), CopySqlite)

    def raw_sqlite() -> None:
        out = base / "raw.db"
        out.unlink(missing_ok=True)
        con = sqlite3.connect(out, isolation_level=None)
        con.execute("PRAGMA synchronous=OFF")
        for t in plan.tables:
            if not t.sources or any(analysis.store(s.store).kind != "sqlite" for s in t.sources):
                continue
            con.execute(create_table(t))
            for s in t.sources:
                con.execute(
                    "ATTACH ? AS src",
                    (f"file:{root / s.store}?mode=ro",)
                    if not Path(f"{root / s.store}-wal").exists()
                    else (str(_snap(root / s.store, base)),),
                )
                cols = ", ".join(f'"{c}"' for c in s.columns.values())
                src = ", ".join(f'"{c}"' for c in s.columns)
                extra_c = f', "{s.discriminator}"' if s.discriminator else ""
                extra_v = f", '{s.value}'" if s.discriminator else ""
                con.execute("BEGIN")
                con.execute(
                    f'INSERT INTO "{t.name}" ({cols}{extra_c}) SELECT {src}{extra_v}'
                    f' FROM src."{s.table}"'
                )
                con.execute("COMMIT")
                con.execute("DETACH src")
        con.close()

    def _file_plan(store: str):  # type: ignore[no-untyped-def]
        from dataclasses import replace

        return plan.__class__(
            target=plan.target,
            tables=tuple(
                replace(t, sources=tuple(s for s in t.sources if s.store == store))
                for t in plan.tables
                if any(s.store == store for s in t.sources)
            ),
        )

    def ours_file(store: str) -> None:
        from dbfold.migrate.ops import CopyRecords

        ours_copy(_file_plan(store), CopyRecords)

    def hand_json() -> None:
        out = base / "hand.db"
        out.unlink(missing_ok=True)
        con = sqlite3.connect(out)
        con.execute("PRAGMA synchronous=OFF")
        con.execute(f"CREATE TABLE items ({', '.join(COLS)})")
        data = orjson.loads((root / "big/items.json").read_bytes())
        con.executemany(
            "INSERT INTO items VALUES (?,?,?,?,?,?)", [tuple(r.get(c) for c in COLS) for r in data]
        )
        con.commit()
        con.close()

    def hand_jsonl() -> None:
        out = base / "hand.db"
        out.unlink(missing_ok=True)
        con = sqlite3.connect(out)
        con.execute("PRAGMA synchronous=OFF")
        con.execute(f"CREATE TABLE items ({', '.join(COLS)})")
        batch = []
        with open(root / "big/lines.jsonl", "rb") as f:
            for line in f:
                r = orjson.loads(line)
                batch.append(tuple(r.get(c) for c in COLS))
                if len(batch) >= 10_000:
                    con.executemany("INSERT INTO items VALUES (?,?,?,?,?,?)", batch)
                    batch = []
        con.executemany("INSERT INTO items VALUES (?,?,?,?,?,?)", batch)
        con.commit()
        con.close()

    def sqlite_utils_json() -> None:
        out = base / "su.db"
        out.unlink(missing_ok=True)
        subprocess.run(
            [
                str(Path(sys.executable).parent / "sqlite-utils"),
                "insert",
                "--alter",
                str(out),
                "items",
                str(root / "big/items.json"),
            ],
            check=True,
            capture_output=True,
        )

    runs = args.runs
    print(f"medians of {runs} runs (sqlite-utils: 1 run; the full migrate: 1 run)")
    t_ours_sql = _median(ours_sqlite_only, runs)
    t_raw_sql = _median(raw_sqlite, runs)
    print(
        f"SQLite part: {sqlite_rows:,} rows; ours {sqlite_rows / t_ours_sql:,.0f} rows/s, "
        f"raw ATTACH+INSERT…SELECT {sqlite_rows / t_raw_sql:,.0f} rows/s; "
        f"ratio {t_raw_sql / t_ours_sql:.2f} (target ≥ 0.8)"
    )
    t_ours_json = _median(lambda: ours_file("big/items.json"), runs)
    t_hand_json = _median(hand_json, runs)
    print(
        f"JSON array ({(root / 'big/items.json').stat().st_size / 1e6:.0f} MB, {n:,} records):"
        f" ours {n / t_ours_json:,.0f} rows/s, orjson.loads+executemany "
        f"{n / t_hand_json:,.0f} rows/s; ratio {t_hand_json / t_ours_json:.2f} (target ≥ 0.8)"
    )
    if shutil.which("sqlite-utils") or (Path(sys.executable).parent / "sqlite-utils").exists():
        t_su = _median(sqlite_utils_json, 1)
        print(
            f"  sqlite-utils insert --alter {n / t_su:,.0f} rows/s; ratio "
            f"{t_su / t_ours_json:.2f} (target ≥ 2)"
        )
    else:
        print("  sqlite-utils not installed: baseline skipped")
    t_ours_jsonl = _median(lambda: ours_file("big/lines.jsonl"), runs)
    t_hand_jsonl = _median(hand_jsonl, runs)
    print(
        f"JSONL: ours {n / t_ours_jsonl:,.0f} rows/s, orjson-per-line+executemany "
        f"{n / t_hand_jsonl:,.0f} rows/s; ratio {t_hand_jsonl / t_ours_jsonl:.2f} "
        "(target ≥ 0.9)"
    )
    code = (
        "import sys;from pathlib import Path;from dbfold.plan import Plan;"
        "from dbfold.state import load_analysis;from dbfold.migrate import migrate;"
        f"r=Path({str(root)!r});p=Plan.from_json((r/'.dbfold/plan.json').read_bytes());"
        "t=time=__import__('time').perf_counter();"
        "rep=migrate(p,load_analysis(r),r,execute=True);"
        "print(rep.verify.ok, __import__('time').perf_counter()-t, hwm())"
    )
    # ru_maxrss of a child started by fork + exec starts at the parent's peak (Linux keeps
    # it across exec), and this process has held whole JSON files: read the child's own
    # high-water mark, VmHWM, instead.
    code = (
        "def hwm():\n"
        "    try:\n"
        "        for line in open('/proc/self/status'):\n"
        "            if line.startswith('VmHWM:'):\n"
        "                return int(line.split()[1])\n"
        "    except OSError:\n"
        "        pass\n"
        "    import resource\n"
        "    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n" + code
    )
    for p in target.parent.glob(target.name + "*"):
        p.unlink()
    for p in (root / ".dbfold").glob("*/*"):  # reports and backups of earlier runs
        p.unlink()
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    print(
        f"Full migrate --execute (with verify): ok={out[0]}, {float(out[1]):.1f} s, "
        f"peak RSS {int(out[2]) / 1024:.0f} MB (target ≤ 150 MB; sources "
        f"{sum(s.bytes for s in analysis.stores) / 1e6:.0f} MB)"
    )
    vac = 0
    for s in analysis.stores:
        src = root / s.path
        if s.kind == "sqlite":
            c = sqlite3.connect(_snap(src, base))
            c.execute("VACUUM")
            c.close()
            vac += (base / "snap.db").stat().st_size
        elif src.exists():
            vac += src.stat().st_size
    from dbfold.optimize import optimize

    size = optimize(target).bytes_after
    print(
        f"Unified file {size / 1e6:.1f} MB vs sources after VACUUM {vac / 1e6:.1f} MB "
        f"(ratio {size / vac:.2f}, target ≤ 1)"
    )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"(benchmark process peak RSS {rss:.0f} MB)")
    target.unlink(missing_ok=True)
    shutil.rmtree(base, ignore_errors=True)


def _snap(path: Path, base: Path) -> Path:
    dest = base / "snap.db"
    for p in (dest, Path(f"{dest}-wal")):
        p.unlink(missing_ok=True)
    shutil.copyfile(path, dest)
    if Path(f"{path}-wal").exists():
        shutil.copyfile(f"{path}-wal", f"{dest}-wal")
    return dest


if __name__ == "__main__":
    main()
