"""Benchmark: ``dbfold analyze`` against a hand-written baseline, in the same run.

The baseline is the least work that still touches every record: ``orjson`` over every JSON
and JSONL record plus ``count(*)`` over every SQLite table. Each measurement runs in a fresh
subprocess so that its peak RSS is its own. Prints medians of several runs and the ratio.

Usage: ``python benchmarks/analyze.py [--scale 120] [--runs 3] [--dir /tmp/dbfold-bench]``
Targets (issue 3): time ≤ 1.5 × baseline; peak RSS ≤ 150 MB whatever the size.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

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
                  "stores": len(analysis.stores), "interfaces": len(analysis.interfaces)}))
"""


def _tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def _run(code: str, root: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", code, str(root)], check=True, capture_output=True, text=True
    )
    result: dict[str, float] = json.loads(done.stdout)
    return result


def main() -> None:
    """Build (or reuse) the sample project, run both sides several times, print medians."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=120.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/dbfold-bench-analyze"))
    args = parser.parse_args()

    from dbfold.demo import build_sample_project

    root = args.dir / f"scale-{args.scale:g}"
    if not (root / ".built").exists():
        t0 = time.perf_counter()
        build_sample_project(root, scale=args.scale)
        (root / ".built").write_text("ok")
        print(f"built sample project at {root} in {time.perf_counter() - t0:.1f} s")
    size_mb = _tree_bytes(root) / 1e6
    print(f"project: {root} ({size_mb:.0f} MB)")

    base_s, base_mb, ours_s, ours_mb = [], [], [], []
    for i in range(args.runs):
        # Alternate the order so page-cache warmth favours neither side.
        pair = [("baseline", BASELINE), ("dbfold", DBFOLD)]
        for name, code in pair if i % 2 == 0 else reversed(pair):
            r = _run(code, root)
            (base_s if name == "baseline" else ours_s).append(r["seconds"])
            (base_mb if name == "baseline" else ours_mb).append(r["peak_mb"])
            print(f"  run {i + 1} {name:8s} {r['seconds']:7.2f} s  peak {r['peak_mb']:6.0f} MB")

    b, o = statistics.median(base_s), statistics.median(ours_s)
    print(f"baseline (orjson + count(*)): median {b:.2f} s, peak RSS {max(base_mb):.0f} MB")
    print(f"dbfold analyze:               median {o:.2f} s, peak RSS {max(ours_mb):.0f} MB")
    print(f"ratio dbfold/baseline time: {o / b:.2f} (target ≤ 1.5)")
    print(f"dbfold peak RSS: {max(ours_mb):.0f} MB (target ≤ 150 MB) for {size_mb:.0f} MB of data")
    print(
        "  (peak RSS = ru_maxrss of RUSAGE_SELF + RUSAGE_CHILDREN: the analyzing process's peak"
        " plus its largest worker's)"
    )
    os.sync()


if __name__ == "__main__":
    main()
