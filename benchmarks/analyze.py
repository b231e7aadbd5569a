"""Benchmark: ``dbfold analyze`` against hand-written baselines, in the same run.

Two projects, each measured in fresh subprocesses (so that a peak RSS is that process's
own), in alternating order, several runs each; every figure is a median:

* **stores** — the demo sample project (``--scale``). Baseline: the least work that still
  touches every record, ``orjson`` over every JSON and JSONL record plus ``count(*)`` over
  every SQLite table. Goals (issue 3): time ≤ 1.5 × baseline; peak RSS ≤ 150 MB.
* **code** — a generated codebase of ``--modules`` Python modules that import each other,
  define classes and pass paths to helpers across modules, a few dozen opening stores
  (:mod:`dbfold.scan.code_corpus`), plus its stores. Baseline: ``ast.parse`` of every file
  the scan reads, one at a time. Goals (issue 12): time ≤ 1.5 × baseline; peak RSS ≤ 150 MB.

Peak RSS is ``ru_maxrss`` of RUSAGE_SELF + RUSAGE_CHILDREN: the analysing process's peak
plus its largest worker's (an upper bound of the whole run's).

Usage: ``python benchmarks/analyze.py [--quick] [--part stores|code|all] [--runs 3]
[--scale 120] [--modules 2000] [--dir /tmp/dbfold-bench-analyze]``
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from figures import HEADER, figure, median, spread

BASELINE = r"""
import json, os, resource, sqlite3, sys, time
from pathlib import Path
import orjson
root = Path(sys.argv[1])
t0 = time.perf_counter()
records = rows = 0
for dirpath, dirnames, filenames in os.walk(root):
    dirnames[:] = [d for d in dirnames if d not in {".git", ".dbfold", "__pycache__"}]
    for name in filenames:
        path = Path(dirpath, name)
        if name.endswith(".jsonl"):
            with open(path, "rb") as fh:
                for line in fh:
                    if line.strip():
                        orjson.loads(line)
                        records += 1
        elif name.endswith(".json"):
            doc = orjson.loads(path.read_bytes())
            records += len(doc) if isinstance(doc, (list, dict)) else 1
        elif name.endswith(".db"):
            with open(path, "rb") as fh:
                if fh.read(16) != b"SQLite format 3\x00":
                    continue
            con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            for (table,) in con.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
            ).fetchall():
                rows += con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
            con.close()
elapsed = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": elapsed, "peak_mb": peak, "records": records, "rows": rows}))
"""

PARSE = r"""
import ast, json, resource, sys, time
from pathlib import Path
from dbfold.scan.code import iter_python_files
root = Path(sys.argv[1])
t0 = time.perf_counter()
files = parsed = 0
for path in iter_python_files(root):  # the files analyze reads, one at a time
    files += 1
    try:
        ast.parse(path.read_bytes())
        parsed += 1
    except (SyntaxError, ValueError):
        pass
elapsed = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": elapsed, "peak_mb": peak, "files": files, "parsed": parsed}))
"""

DBFOLD = r"""
import json, resource, sys, time
from dbfold.scan import analyze
t0 = time.perf_counter()
analysis = analyze(sys.argv[1])
elapsed = time.perf_counter() - t0
# analyze() may read files in worker processes: count their peak too (an upper bound of
# the whole run's peak: this process's peak plus the largest worker's).
peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
rows = sum(s.rows for s in analysis.stores)
print(json.dumps({"seconds": elapsed, "peak_mb": peak, "rows": rows,
                  "stores": len(analysis.stores), "interfaces": len(analysis.interfaces),
                  "uses": sum(len(i.uses) for i in analysis.interfaces)}))
"""


def _tree_bytes(root: Path, suffix: str = "") -> int:
    return sum(p.stat().st_size for p in root.rglob(f"*{suffix}") if p.is_file())


def _run(code: str, root: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", code, str(root)], check=True, capture_output=True, text=True
    )
    result: dict[str, float] = json.loads(done.stdout)
    return result


def _measure(
    root: Path, baseline: str, runs: int, label: str
) -> tuple[list[float], list[float], list[float], list[float], dict[str, float]]:
    """Seconds and peak MB of the baseline and of dbfold, ``runs`` times each."""
    base_s: list[float] = []
    base_mb: list[float] = []
    ours_s: list[float] = []
    ours_mb: list[float] = []
    last: dict[str, float] = {}
    for i in range(runs):
        # Alternate the order so page-cache warmth and machine load favour neither side.
        pair = [("baseline", baseline), ("dbfold", DBFOLD)]
        for name, code in pair if i % 2 == 0 else reversed(pair):
            r = _run(code, root)
            if name == "baseline":
                base_s.append(r["seconds"])
                base_mb.append(r["peak_mb"])
            else:
                ours_s.append(r["seconds"])
                ours_mb.append(r["peak_mb"])
                last = r
            took, peak = r["seconds"], r["peak_mb"]
            print(f"  {label} run {i + 1} {name:8s} {took:7.2f} s  peak {peak:6.0f} MB", flush=True)
    return base_s, base_mb, ours_s, ours_mb, last


#: One figure to print: name, ours, baseline (None: the goal is on ours), goal, unit.
Figure = tuple[str, float, float | None, float, str]


def stores_part(args: argparse.Namespace) -> tuple[list[Figure], str]:
    """The demo sample project: analyze against orjson + count(*)."""
    from dbfold.demo import build_sample_project

    root = args.dir / f"scale-{args.scale:g}"
    if not (root / ".built").exists():
        t0 = time.perf_counter()
        build_sample_project(root, scale=args.scale)
        (root / ".built").write_text("ok")
        print(f"built sample project at {root} in {time.perf_counter() - t0:.1f} s")
    size_mb = _tree_bytes(root) / 1e6
    print(f"stores project: {root} ({size_mb:.0f} MB)")
    base_s, base_mb, ours_s, ours_mb, _ = _measure(root, BASELINE, args.runs, "stores")
    note = (
        f"stores ({args.runs} runs): dbfold {spread(ours_s)} s, baseline {spread(base_s)} s;"
        f" peak RSS dbfold {spread(ours_mb)} MB, baseline {spread(base_mb)} MB"
    )
    return [
        ("analyze stores: time / orjson + count(*)", median(ours_s), median(base_s), 1.5, " s"),
        (f"analyze stores: peak RSS ({size_mb:.0f} MB data)", max(ours_mb), None, 150, " MB"),
    ], note


def code_part(args: argparse.Namespace) -> tuple[list[Figure], str]:
    """The generated codebase: analyze against ast.parse of every file."""
    from dbfold.scan.code_corpus import build_code_corpus

    root = args.dir / f"code-{args.modules}"
    if not (root / ".built").exists():
        shutil.rmtree(root, ignore_errors=True)
        t0 = time.perf_counter()
        build_code_corpus(root, modules=args.modules, openers=40)
        (root / ".built").write_text("ok")
        print(f"built code project at {root} in {time.perf_counter() - t0:.1f} s")
    size_mb = _tree_bytes(root, ".py") / 1e6
    files = sum(1 for _ in root.rglob("*.py"))
    print(f"code project: {root} ({files} Python files, {size_mb:.0f} MB of source)")
    base_s, base_mb, ours_s, ours_mb, last = _measure(root, PARSE, args.runs, "code")
    print(
        f"  found {last.get('stores', 0):.0f} stores, {last.get('interfaces', 0):.0f}"
        f" interfaces, {last.get('uses', 0):.0f} uses"
    )
    note = (
        f"code ({args.runs} runs): dbfold {spread(ours_s)} s, ast.parse {spread(base_s)} s;"
        f" peak RSS dbfold {spread(ours_mb)} MB, ast.parse {spread(base_mb)} MB"
    )
    return [
        (
            f"analyze code ({files} files): time / ast.parse",
            median(ours_s),
            median(base_s),
            1.5,
            " s",
        ),
        (f"analyze code ({files} files): peak RSS", max(ours_mb), None, 150, " MB"),
    ], note


def main() -> None:
    """Build (or reuse) the projects, run both sides several times, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller projects")
    parser.add_argument("--part", choices=("stores", "code", "all"), default="all")
    parser.add_argument("--scale", type=float, default=None, help="sample project scale")
    parser.add_argument("--modules", type=int, default=None, help="generated code modules")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/dbfold-bench-analyze"))
    args = parser.parse_args()
    if args.scale is None:
        args.scale = 20.0 if args.quick else 120.0
    if args.modules is None:
        args.modules = 500 if args.quick else 2000
    figures: list[Figure] = []
    notes: list[str] = []
    for part, run in (("stores", stores_part), ("code", code_part)):
        if args.part in (part, "all"):
            found, note = run(args)
            figures += found
            notes.append(note)
    print(HEADER)
    for name, ours, baseline, goal, unit in figures:
        figure(name, ours, baseline, goal, higher_is_better=False, unit=unit)
    print("spreads (min..max of the runs; peak RSS figures are the largest run):")
    for note in notes:
        print(f"  {note}")


if __name__ == "__main__":
    main()
