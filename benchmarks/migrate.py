"""Benchmark: dbfold migrate against raw baselines measured in the same run.

    python benchmarks/migrate.py [--part copy|big|all] [--rows 250000] [--runs 3]
                                 [--scale 30] [--records 1000000] [--data DIR]

Part ``copy`` (the issue's project): 4 SQLite stores × ``--rows`` rows (two of them
same-shaped, merged into one table) and a JSONL log of ``--rows`` lines. The whole
``migrate --execute`` (verification, integrity check and rename included) against a raw
copy (ATTACH + INSERT … SELECT for the stores, orjson per line + executemany for the log),
run alternately; ``verify`` alone in rows/s on the SQLite sources; peak RSS of a migrate
in a subprocess.

Part ``big``: the sample project with a big JSON array and a JSONL log. The 500 MB scale
(about 2 M SQLite rows and ~500 MB of JSON + JSONL) is ``--scale 40 --records 2300000``;
``--data DIR`` builds that project once and reuses it (generated data: keep it out of the
repository). Its figures: the SQLite part vs raw ATTACH + INSERT … SELECT; the JSON array
vs a hand-written orjson.loads + executemany loader (and ``sqlite-utils insert --alter``
when installed); JSONL vs orjson per line + executemany; peak RSS of a whole migrate (a
subprocess); the unified file vs the sum of the sources after VACUUM.

Every figure is one line (benchmarks/figures.py): name, ours, baseline, ratio, goal, met.
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
from figures import HEADER, figure, median, spread

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


EVENTS = (
    "CREATE TABLE events (id INTEGER PRIMARY KEY, name TEXT, kind TEXT, value REAL, ts TEXT,"
    " note TEXT)"
)
#: The raw copy's merged table: the two trackers' events, told apart by a source column.
MERGED = (
    "CREATE TABLE events (source TEXT NOT NULL, id INTEGER NOT NULL, name TEXT, kind TEXT,"
    " value REAL, ts TEXT, note TEXT, PRIMARY KEY (source, id))"
)
STORES = {
    "tracker_a.db": EVENTS,
    "tracker_b.db": EVENTS,
    "users.db": "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, created REAL,"
    " score INTEGER)",
    "metrics.db": "CREATE TABLE metrics (id INTEGER PRIMARY KEY, metric TEXT, at INTEGER, v REAL,"
    " tags TEXT)",
}


def _store_rows(name: str, n: int) -> list[tuple[object, ...]]:
    if name.startswith("tracker"):
        return [
            (
                i,
                f"name-{i}",
                "abc"[i % 3],
                i * 0.5,
                f"2024-01-01T00:00:{i % 60:02d}Z",
                None if i % 7 else "seven",
            )
            for i in range(1, n + 1)
        ]
    if name == "users.db":
        return [(i, f"u{i}@example.org", 1.7e9 + i, i % 100) for i in range(1, n + 1)]
    return [(i, f"m{i % 50}", 1_700_000_000 + i, i / 3, '{"h":"x"}') for i in range(1, n + 1)]


def build_copy_project(root: Path, n: int) -> None:
    """The issue's project: four SQLite stores (two same-shaped) and a JSONL log."""
    (root / "data").mkdir(parents=True)
    (root / "logs").mkdir()
    for name, ddl in STORES.items():
        con = sqlite3.connect(root / "data" / name)
        con.execute(ddl)
        rows = _store_rows(name, n)
        table = ddl.split()[2]
        con.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(rows[0]))})", rows)
        con.commit()
        con.close()
    with open(root / "logs/app.jsonl", "wb") as f:
        for i in range(n):
            rec = {
                "id": i,
                "level": ("info", "warn")[i % 2],
                "msg": f"message {i}",
                "user": i % 999,
            }
            f.write(orjson.dumps(rec) + b"\n")


def raw_copy(root: Path, out: Path) -> None:
    """What a hand-written script does: ATTACH + INSERT … SELECT, orjson + executemany."""
    out.unlink(missing_ok=True)
    con = sqlite3.connect(out, isolation_level=None)
    con.execute("PRAGMA synchronous = OFF")
    con.execute(MERGED)
    for name, ddl in STORES.items():
        table = ddl.split()[2]
        if table != "events":
            con.execute(ddl)
        con.execute("ATTACH ? AS src", (f"file:{root / 'data' / name}?mode=ro",))
        con.execute("BEGIN")
        extra = f"'{name}', " if table == "events" else ""
        con.execute(f"INSERT INTO {table} SELECT {extra}* FROM src.{table}")
        con.execute("COMMIT")
        con.execute("DETACH src")
    con.execute("CREATE TABLE app (id INTEGER, level TEXT, msg TEXT, user INTEGER)")
    con.execute("BEGIN")
    batch: list[tuple[object, ...]] = []
    with open(root / "logs/app.jsonl", "rb") as f:
        for line in f:
            r = orjson.loads(line)
            batch.append((r.get("id"), r.get("level"), r.get("msg"), r.get("user")))
            if len(batch) >= 10_000:
                con.executemany("INSERT INTO app VALUES (?, ?, ?, ?)", batch)
                batch = []
    con.executemany("INSERT INTO app VALUES (?, ?, ?, ?)", batch)
    con.execute("COMMIT")
    con.close()


def copy_part(args: argparse.Namespace, base: Path) -> None:
    """The whole migrate --execute vs the raw copy; verify alone; peak RSS."""
    from dbfold.migrate import migrate, verify
    from dbfold.plan import Plan

    root = base / "copy"
    build_copy_project(root, args.rows)
    analysis = analyze(root)
    save_analysis(analysis, root)
    plan = design(analysis)
    write_atomic(plan_path(root), plan.to_json() + b"\n")
    plan = Plan.from_json(plan_path(root).read_bytes())
    target = root / plan.target
    rows = sum(s.rows for s in analysis.stores if s.kind in ("sqlite", "jsonl"))
    sqlite_rows = sum(s.rows for s in analysis.stores if s.kind == "sqlite")
    ours, raw, ver = [], [], []
    for _ in range(args.runs):
        for p in target.parent.glob(target.name + "*"):
            p.unlink()
        t = time.perf_counter()
        rep = migrate(plan, analysis, root, execute=True)
        ours.append(time.perf_counter() - t)
        assert rep.verify is not None and rep.verify.ok, rep.verify
        assert rep.rows == rows, (rep.rows, rows)
        t = time.perf_counter()
        raw_copy(root, base / "raw.db")
        raw.append(time.perf_counter() - t)
        t = time.perf_counter()
        only = verify(
            plan, root, target, analysis=analysis, skip_stores=frozenset({"logs/app.jsonl"})
        )
        ver.append(time.perf_counter() - t)
        assert only.ok and sum(c.source_rows for c in only.checks) == sqlite_rows
    print(
        f"copy part: {rows:,} rows ({sqlite_rows:,} in 4 SQLite stores, the rest JSONL);"
        f" medians of {args.runs} runs; ours {spread(ours)} s, raw {spread(raw)} s"
    )
    print(HEADER)
    figure(
        "migrate --execute (verified) vs raw copy, rows/s",
        rows / median(ours),
        rows / median(raw),
        0.5,
    )
    figure("verify alone, SQLite sources, rows/s", sqlite_rows / median(ver), None, 1e6)
    code = (
        "import sys;from pathlib import Path;from dbfold.plan import Plan;"
        "from dbfold.state import load_analysis;from dbfold.migrate import migrate;"
        f"r=Path({str(root)!r});p=Plan.from_json((r/'.dbfold/plan.json').read_bytes());"
        "rep=migrate(p,load_analysis(r),r,execute=True);assert rep.verify.ok;"
        "print([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1])"
    )
    for p in target.parent.glob(target.name + "*"):
        p.unlink()
    kib = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    figure(
        "migrate --execute peak RSS, MB", int(kib.stdout) / 1024, None, 150, higher_is_better=False
    )


def _median(fn, runs: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=("copy", "big", "all"), default="all")
    ap.add_argument("--rows", type=int, default=250_000, help="rows per store (part copy)")
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
    if args.part in ("copy", "all"):
        copy_part(args, base)
    if args.part in ("big", "all"):
        big_part(args, base)
    shutil.rmtree(base, ignore_errors=True)


def big_part(args: argparse.Namespace, base: Path) -> None:
    """The sample project with a big JSON array and a JSONL log: each kind of copy."""
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
    print(f"big part: medians of {runs} runs (sqlite-utils: 1 run; the full migrate: 1 run)")
    t_ours_sql = _median(ours_sqlite_only, runs)
    t_raw_sql = _median(raw_sqlite, runs)
    print(HEADER)
    figure(
        f"SQLite part ({sqlite_rows:,} rows) vs ATTACH+INSERT, rows/s",
        sqlite_rows / t_ours_sql,
        sqlite_rows / t_raw_sql,
        0.8,
    )
    t_ours_json = _median(lambda: ours_file("big/items.json"), runs)
    t_hand_json = _median(hand_json, runs)
    mb = (root / "big/items.json").stat().st_size / 1e6
    figure(
        f"JSON array ({mb:.0f} MB) vs orjson+executemany, rows/s",
        n / t_ours_json,
        n / t_hand_json,
        0.8,
    )
    if shutil.which("sqlite-utils") or (Path(sys.executable).parent / "sqlite-utils").exists():
        t_su = _median(sqlite_utils_json, 1)
        figure("JSON array vs sqlite-utils insert --alter, rows/s", n / t_ours_json, n / t_su, 2)
    else:
        print("JSON array vs sqlite-utils: not installed, baseline skipped")
    t_ours_jsonl = _median(lambda: ours_file("big/lines.jsonl"), runs)
    t_hand_jsonl = _median(hand_jsonl, runs)
    figure("JSONL vs orjson per line+executemany, rows/s", n / t_ours_jsonl, n / t_hand_jsonl, 0.9)
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
    assert out[0] == "True", "the full migrate did not verify"
    figure(
        "full migrate --execute (verified), s", float(out[1]), None, None, higher_is_better=False
    )
    figure(
        "full migrate --execute peak RSS, MB", int(out[2]) / 1024, None, 150, higher_is_better=False
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
    figure(
        "unified file vs sources after VACUUM, MB", size / 1e6, vac / 1e6, 1, higher_is_better=False
    )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"(benchmark process peak RSS {rss:.0f} MB)")
    target.unlink(missing_ok=True)


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
