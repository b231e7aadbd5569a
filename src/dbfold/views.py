"""Terminal views: rich renderables and summary lines built from the stages' values.

Nothing here computes results; it only presents them, so the CLI stays a thin layer.
"""

from __future__ import annotations

from collections import defaultdict

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from dbfold.model import Analysis, Interface, Problem
from dbfold.runtime.tour import TourResult


def human_bytes(n: int) -> str:
    """Format a byte count the way people read it.

    >>> human_bytes(0), human_bytes(2048), human_bytes(5 * 1024**3)
    ('0 B', '2.0 KB', '5.0 GB')
    """
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


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
    table.add_column("store", no_wrap=True, overflow="fold")
    table.add_column("kind", no_wrap=True)
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("tables", justify="right", no_wrap=True)
    table.add_column("rows", justify="right", no_wrap=True)
    table.add_column("reclaimable", justify="right", no_wrap=True)
    table.add_column("problems", justify="right", no_wrap=True)
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
