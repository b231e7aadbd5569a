"""Terminal views: rich renderables and summary lines built from the stages' values.

Nothing here computes results; it only presents them, so the CLI stays a thin layer.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TypeVar

from rich import box
from rich.console import Console, Group, RenderableType
from rich.progress import TaskID
from rich.table import Table
from rich.text import Text

from dbfold.demo.legacy_check import LegacyRun
from dbfold.migrate.report import (
    MigrationReport,
    OptimizeReport,
    SourceResult,
    TableCheck,
    VerifyReport,
)
from dbfold.model import Analysis, Interface, Problem
from dbfold.runtime.tour import TourResult
from dbfold.units import human_bytes


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def analysis_summary(analysis: Analysis) -> str:
    """The one-line summary, in the seed's words: ``Found 5 databases, 12 interfaces``."""
    kinds: dict[str, int] = defaultdict(int)
    for store in analysis.stores:
        kinds[store.kind] += 1
    detail = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items(), key=lambda kv: -kv[1]))
    line = (
        f"Found {_plural(len(analysis.stores), 'database')}, "
        f"{_plural(len(analysis.interfaces), 'interface')}"
    )
    if detail:
        line += f" ({detail})"
    errors = sum(1 for p in analysis.all_problems if p.severity == "error")
    warnings = sum(1 for p in analysis.all_problems if p.severity != "error")
    if errors or warnings:
        line += f"; {_plural(errors, 'problem')}, {_plural(warnings, 'warning')}"
    return line


def _interfaces_by_store(analysis: Analysis) -> dict[str, list[Interface]]:
    by_store: dict[str, list[Interface]] = defaultdict(list)
    for iface in analysis.interfaces:
        for path in iface.stores:
            by_store[path].append(iface)
    return by_store


def _problem_lines(problems: tuple[Problem, ...] | list[Problem]) -> Text:
    text = Text()
    for problem in problems:
        style = "red" if problem.severity == "error" else "yellow"
        # Messages are whole one-liners that already name their file.
        text.append(f"{'error' if problem.severity == 'error' else 'warning'}: ", style=style)
        text.append(problem.message + "\n")
    return text


def analysis_view(analysis: Analysis) -> RenderableType:
    """The summary line, a table of stores (kind, size, tables, rows, reclaimable bytes,
    problems), the interfaces that use each store, then every problem."""
    table = Table(header_style="bold", box=box.SIMPLE_HEAD)
    # Numbers never shrink into "…"; on a narrow terminal the store path folds instead.
    table.add_column("store", overflow="fold", ratio=1)
    table.add_column("kind", no_wrap=True, min_width=6)
    table.add_column("size", justify="right", no_wrap=True, min_width=8)
    table.add_column("tables", justify="right", no_wrap=True, min_width=6)
    table.add_column("rows", justify="right", no_wrap=True, min_width=7)
    table.add_column("reclaim.", justify="right", no_wrap=True, min_width=8)
    table.add_column("probs", justify="right", no_wrap=True, min_width=5)
    by_store = _interfaces_by_store(analysis)
    for store in analysis.stores:
        table.add_row(
            store.path,
            store.kind,
            human_bytes(store.bytes),
            str(len(store.tables)),
            f"{store.rows:,}",
            human_bytes(store.reclaimable_bytes) if store.reclaimable_bytes else "",
            str(len(store.problems)) if store.problems else "",
        )
    parts: list[RenderableType] = [Text(analysis_summary(analysis), style="bold green"), table]
    if by_store:
        uses = Text("Interfaces by store\n", style="bold")
        for store in analysis.stores:
            for iface in by_store.get(store.path, []):
                uses.append(f"  {store.path}", style="bold")
                uses.append(" ← ")
                uses.append(iface.name, style="cyan")
                uses.append(f" ({iface.kind}, {iface.path}:{iface.line})\n", style="dim")
        parts.append(uses)
    problems = analysis.all_problems
    if problems:
        parts.append(_problem_lines(sorted(problems, key=lambda p: (p.path, p.line or 0))))
    if analysis.skipped:
        first = analysis.skipped[0]
        parts.append(
            Text(
                f"Skipped {_plural(len(analysis.skipped), 'file')} that are not stores "
                f"(e.g. {first.path}: {first.reason}); --json lists them all",
                style="dim",
            )
        )
    return Group(*parts)


def tour_view(result: TourResult) -> RenderableType:
    """The runtime tour: operations per kind with p50/p95, and the migration it ran."""
    table = Table(header_style="bold", box=box.SIMPLE_HEAD)
    for name in ("kind", "count", "completed", "failed", "p50 ms", "p95 ms"):
        table.add_column(name, justify="left" if name == "kind" else "right", no_wrap=True)
    for kind, stats in sorted(result.stats.items()):
        table.add_row(
            kind,
            f"{stats.count:,}",
            f"{stats.completed:,}",
            f"{stats.failures:,}",
            f"{stats.p50 * 1000:.2f}" if stats.p50 is not None else "",
            f"{stats.p95 * 1000:.2f}" if stats.p95 is not None else "",
        )
    lines = Text()
    lines.append(
        f"{result.operations:,} operations from {result.threads} threads recorded in "
        f"{result.database} ({result.elapsed:.2f} s in all)\n",
        style="bold green",
    )
    if result.to_version:
        lines.append(
            f"Schema migrated {result.from_version} → {result.to_version} "
            f"after a backup to {result.backup_path}:\n"
        )
        for step in result.migration_steps:
            lines.append(f"  • {step}\n")
    return Group(lines, table)


# -- migrate, verify, optimize -------------------------------------------------------------


def migration_view(report: MigrationReport) -> RenderableType:
    """A dry run (operations per target table) or an executed migration (per source)."""
    parts: list[RenderableType] = []
    if not report.executed:
        head = Text(
            f"Dry run: {len(report.tables)} tables, about {report.rows:,} rows from "
            f"{human_bytes(report.sources_bytes)} of stores into {report.target}; "
            "nothing was written (add --execute to run it)",
            style="bold green",
        )
        parts.append(head)
        table = Table(header_style="bold", box=box.SIMPLE_HEAD)
        table.add_column("table", no_wrap=True)
        table.add_column("operations", overflow="fold")
        table.add_column("rows", justify="right", no_wrap=True)
        table.add_column("size", justify="right", no_wrap=True)
        table.add_column("time", justify="right", no_wrap=True)
        for t in report.tables:
            ops = "\n".join(t.operations)
            if t.problems:
                ops += "\n" + "\n".join(f"[red]! {p}[/red]" for p in t.problems)
            table.add_row(
                t.name,
                Text.from_markup(_escape_keep(ops)),
                f"{t.rows:,}",
                human_bytes(t.bytes),
                f"{t.seconds:.2f} s",
            )
        parts.append(table)
    else:
        verified = report.verify is not None and report.verify.ok
        style = "bold green" if report.ok else "bold yellow"
        parts.append(
            Text(
                f"Migrated {report.rows:,} rows into {report.target} ({report.mode}) in "
                f"{report.seconds:.2f} s; verification " + ("passed" if verified else "FAILED"),
                style=style,
            )
        )
        table = Table(header_style="bold", box=box.SIMPLE_HEAD)
        for name in ("source", "→ table", "status", "rows", "total", "secs"):
            table.add_column(
                name,
                no_wrap=name not in ("source", "→ table"),
                overflow="fold",
                justify="right" if name in ("rows", "total", "secs") else "left",
                min_width=_store_width(report.sources) if name == "source" else None,
            )
        last = None
        for s in _by_store(report.sources):
            if s.store != last:
                table.add_row(Text(s.store, style="bold"), "", "", "", "", "")
                last = s.store
            table.add_row(
                "  " + s.table + (f"[{s.array}]" if s.array else ""),
                s.target,
                s.status,
                f"{s.rows:,}",
                f"{s.rows_total:,}",
                f"{s.seconds:.2f}",
            )
        parts.append(table)
        for o in report.orphans:
            parts.append(
                Text(
                    f"orphans: {o.count:,} rows of {o.table} point at no {o.parent} row "
                    f"(first rowid {o.rowid}); kept, fix them or the plan",
                    style="yellow",
                )
            )
        if report.verify is not None:
            parts.append(verify_view(report.verify, brief=True))
        if report.backup:
            parts.append(Text(f"The replaced target was backed up to {report.backup}"))
        if report.report_path:
            parts.append(Text(f"Report: {report.report_path}", style="dim"))
    if report.problems:
        parts.append(_problem_lines(list(report.problems)))
    return Group(*parts)


def _escape_keep(text: str) -> str:
    # Escape everything but the [red] markup added above.
    from rich.markup import escape

    out = []
    for line in text.split("\n"):
        if line.startswith("[red]! ") and line.endswith("[/red]"):
            out.append("[red]! " + escape(line[7:-6]) + "[/red]")
        else:
            out.append(escape(line))
    return "\n".join(out)


_S = TypeVar("_S", SourceResult, TableCheck)


def _by_store(items: Sequence[_S]) -> list[_S]:
    """The items grouped by store, stores in order of first appearance."""
    groups: dict[str, list[_S]] = {}
    for item in items:
        groups.setdefault(item.store, []).append(item)
    return [item for group in groups.values() for item in group]


def _store_width(items: Sequence[SourceResult | TableCheck]) -> int:
    """Wide enough for the store paths (their header rows), within reason at 80 columns."""
    return min(22, max((len(i.store) for i in items), default=6))


def _label(store: str, table: str, array: str | None) -> str:
    return f"{store}:{table}" + (f"[{array}]" if array else "")


def verify_view(report: VerifyReport, *, brief: bool = False) -> RenderableType:
    """Checks per source: rows on both sides, checksums, the first differing key."""
    rows = sum(c.source_rows for c in report.checks)
    line = Text(
        f"Verified {len(report.checks)} sources, {rows:,} rows: "
        + (
            "every count and checksum matches"
            if report.ok
            else f"{len(report.mismatches)} mismatches"
        ),
        style="bold green" if report.ok else "bold red",
    )
    parts: list[RenderableType] = [line]
    pending = sum(c.pending_rows for c in report.checks)
    if pending:
        parts.append(
            Text(
                f"{pending:,} new source rows are not migrated yet (run migrate --execute)",
                style="yellow",
            )
        )
    adapter = report.adapter_rows
    if adapter:
        parts.append(
            Text(
                f"{adapter:,} rows changed through adapters since the cutover (expected; the "
                "legacy file no longer receives them)",
                style="cyan",
            )
        )
    show = report.checks if not brief else report.mismatches
    if show:
        # Compact enough for 80 columns: sources grouped under their store, the long
        # details (checksums, keys) as plain lines below the table.
        table = Table(header_style="bold", box=box.SIMPLE_HEAD)
        table.add_column("source", overflow="fold", min_width=_store_width(show))
        table.add_column("→ table", overflow="fold")
        table.add_column("source\nrows", justify="right", no_wrap=True)
        table.add_column("target\nrows", justify="right", no_wrap=True)
        table.add_column("via\nadapters", justify="right", no_wrap=True)
        table.add_column("status", no_wrap=True)
        last = None
        for c in _by_store(show):
            if c.store != last:
                table.add_row(Text(c.store, style="bold"), "", "", "", "", "")
                last = c.store
            table.add_row(
                "  " + c.table + (f"[{c.array}]" if c.array else ""),
                c.target,
                f"{c.source_rows:,}",
                f"{c.target_rows:,}",
                f"{c.adapter_rows:,}" if c.adapter_rows else "",
                Text("ok" if c.ok else "MISMATCH", style="green" if c.ok else "bold red"),
            )
        parts.append(table)
    for c in report.mismatches:
        detail = Text(f"✗ {_label(c.store, c.table, c.array)} → {c.target}: ", style="bold red")
        detail.append(c.first_difference or "counts or checksums differ", style="default")
        lines = [detail]
        if c.source_checksum != c.target_checksum:
            lines.append(
                Text(f"    checksum: source {c.source_checksum}, target {c.target_checksum}")
            )
        if c.adapter_rows:
            lines.append(Text(f"    ({c.adapter_rows:,} adapter-written rows left out of both)"))
        parts.extend(lines)
    if report.problems:
        parts.append(_problem_lines(list(report.problems)))
    return Group(*parts)


def optimize_view(report: OptimizeReport) -> RenderableType:
    """Sizes before and after, and what ran."""
    saved = report.bytes_before - report.bytes_after
    return Text(
        f"Optimized {report.target}: {human_bytes(report.bytes_before)} → "
        f"{human_bytes(report.bytes_after)} ({human_bytes(max(saved, 0))} reclaimed) in "
        f"{report.seconds:.2f} s; {', '.join(report.steps)}; integrity {report.integrity}",
        style="bold green" if report.ok else "bold red",
    )


def rows_explained(
    analysis: Analysis, migration: MigrationReport
) -> tuple[int, int, list[str], list[str]]:
    """Rows before and after, and every reason the two differ, as short phrases.

    Returns:
        (rows in the analysed stores, verified rows in the target, phrases for the
        before side, phrases for the after side); the phrases' numbers add up exactly.
    """
    checks = migration.verify.checks if migration.verify else ()
    before = sum(s.rows for s in analysis.stores)
    migrated = {(c.store, c.table) for c in checks}
    left = [
        (s.path, t.name, t.rows)
        for s in analysis.stores
        for t in s.tables
        if (s.path, t.name) not in migrated and t.rows
    ]
    not_moved = sum(rows for _, _, rows in left)
    copied = sum(c.target_rows for c in checks if c.array is None)
    children = sum(c.target_rows for c in checks if c.array is not None)
    changed = copied - (before - not_moved)
    why_before = []
    if not_moved:
        stores = list(dict.fromkeys(store for store, _, _ in left))
        names = ", ".join(stores[:3]) + (" …" if len(stores) > 3 else "")
        why_before.append(f"{not_moved:,} not migrated ({names}; the dry run says why)")
    why_after = []
    if children or changed or not_moved:
        why_after.append(f"{copied:,} rows copied")
    if changed:
        why_after.append(f"{changed:+,} written to the sources after the analysis")
    if children:
        why_after.append(f"+ {children:,} child rows split out of nested JSON arrays")
    return before, copied + children, why_before, why_after


def before_after_view(
    analysis: Analysis,
    migration: MigrationReport,
    optimized: OptimizeReport | None,
    backups: list[str],
    seconds: float,
) -> RenderableType:
    """The demo's closing picture: many stores and backup points before, one database after."""
    table = Table(header_style="bold", box=box.SIMPLE_HEAD, title="Before → after")
    table.add_column("", style="bold")
    table.add_column("before", overflow="fold")
    table.add_column("after", overflow="fold")
    kinds: dict[str, int] = defaultdict(int)
    for s in analysis.stores:
        kinds[s.kind] += 1
    after_bytes = optimized.bytes_after if optimized else migration.target_bytes
    table.add_row(
        "stores",
        f"{len(analysis.stores)} ({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))})",
        f"1 SQLite database: {migration.target}",
    )
    table.add_row(
        "backup points",
        f"{len(analysis.stores)} files to copy consistently "
        "(WAL files, shelves, JSON rewritten in place)",
        f"1 file ({', '.join(backups) or 'one copy or VACUUM INTO'})",
    )
    table.add_row("size", human_bytes(migration.sources_bytes), human_bytes(after_bytes))
    before, after, why_before, why_after = rows_explained(analysis, migration)
    table.add_row("rows", f"{before:,}", f"{after:,} (verified)")
    if why_before or why_after:
        table.add_row("", "; ".join(why_before), "; ".join(why_after))
    table.add_row("time", "", f"{seconds:.2f} s for the whole pipeline")
    return table


class RichProgress:
    """Rich progress bars for migrate: rows, MB/s and ETA per source."""

    def __init__(self, console: Console) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("{task.description}", style="cyan"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[speed]}"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self.task: TaskID | None = None
        self.started = 0.0
        self.nbytes = 0

    def __enter__(self) -> RichProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def start(self, label: str, rows: int, nbytes: int) -> None:
        import time

        self.started = time.perf_counter()
        self.nbytes = 0
        self.task = self.bar.add_task(label, total=max(rows, 1), speed="")

    def advance(self, rows: int, nbytes: int) -> None:
        import time

        if self.task is None:
            return
        self.nbytes += nbytes
        secs = max(time.perf_counter() - self.started, 1e-6)
        speed = f"{self.nbytes / secs / 1e6:.1f} MB/s" if self.nbytes else ""
        self.bar.update(self.task, advance=rows, speed=speed)

    def done(self) -> None:
        if self.task is not None:
            self.bar.remove_task(self.task)
            self.task = None


def legacy_view(runs: Sequence[LegacyRun]) -> RenderableType:
    """Each legacy command run both ways: identical or not, and the first differing line."""
    text = Text()
    for run in runs:
        command = " ".join(("python", "main.py", *run.command))
        if run.same:
            lines = run.original.count("\n")
            text.append("  ✓ ", style="bold green")
            text.append(f"{command}: identical output ({lines} lines) on both sides\n")
            continue
        text.append("  ✗ ", style="bold red")
        text.append(f"{command}: outputs differ\n")
        for left, right in zip(
            [*run.original.splitlines(), ""], [*run.routed.splitlines(), ""], strict=False
        ):
            if left != right:
                text.append(f"      original: {left}\n      routed:   {right}\n", style="red")
                break
    return text
