"""Terminal views: rich renderables and summary lines built from the stages' values.

Nothing here computes results; it only presents them, so the CLI stays a thin layer.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, TypeVar

from rich import box
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderableType
from rich.measure import Measurement
from rich.progress import TaskID
from rich.table import Table
from rich.text import Text

from dbfold.demo.legacy_check import LegacyRun
from dbfold.migrate.progress import Throughput
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

if TYPE_CHECKING:
    from dbfold.plan import Plan, PlanTable


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# -- fitting names into 80 columns -----------------------------------------------------------


def _chop(text: str, width: int, *, from_end: bool = False) -> str:
    """The longest start (or end) of ``text`` that takes at most ``width`` cells."""
    out = ""
    chars = reversed(text) if from_end else iter(text)
    for ch in chars:
        if cell_len(out) + cell_len(ch) > width:
            break
        out = ch + out if from_end else out + ch
    return out


def shorten_middle(text: str, width: int) -> str:
    """``text`` in at most ``width`` cells: a long name loses its middle, never its ends.

    >>> shorten_middle("data/settings_db.json", 14)
    'data/se…b.json'
    >>> shorten_middle("short", 14)
    'short'
    """
    if cell_len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    keep = width - 1
    return _chop(text, keep - keep // 2) + "…" + _chop(text, keep // 2, from_end=True)


def shorten_path(text: str, width: int) -> str:
    """A store path in at most ``width`` cells: folders go first, then the name's middle.

    >>> shorten_path("data/metrics.db +1", 15), shorten_path("data/settings_db.json", 16)
    ('…/metrics.db +1', 'settings_db.json')
    """
    if cell_len(text) <= width:
        return text
    parts = text.split("/")
    for i in range(1, len(parts)):
        tail = "/".join(parts[i:])
        for shown in ("…/" + tail, tail) if i == len(parts) - 1 else ("…/" + tail,):
            if cell_len(shown) <= width:
                return shown
    return shorten_middle(text, width)


def clip_words(text: str, width: int) -> str:
    """``text`` in at most ``width`` cells, cut after a whole word and marked with ``…``.

    >>> clip_words("merged 2, 6 renamed, 1 index", 20)
    'merged 2, 6 renamed…'
    """
    if cell_len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    head = _chop(text, width - 1)
    if text[len(head)] not in " ,;":  # the cut fell inside a word: drop that word
        cut = head.rfind(" ")
        head = head[:cut] if cut > 0 else head
    return head.rstrip(", ;") + "…"


def clip_items(text: str, width: int) -> str:
    """Comma-separated notes in at most ``width`` cells: whole notes, then ``+N`` more.

    >>> clip_items("was events, 2 renamed", 14), clip_items("was events, 2 renamed", 30)
    ('was events +1', 'was events, 2 renamed')
    """
    if cell_len(text) <= width:
        return text
    items = text.split(", ")
    for keep in range(len(items) - 1, 0, -1):
        shown = ", ".join(items[:keep]) + f" +{len(items) - keep}"
        if cell_len(shown) <= width:
            return shown
    return clip_words(text, width)


class Fit:
    """A table cell that fits whatever width the table gives it, on one line.

    Names are shortened in the middle (``data/set…db.json``), phrases after a whole word
    (``middle=False``); a cell never wraps, so a word is never split over two lines.
    """

    def __init__(
        self, text: str, style: str = "", *, middle: bool = True, min_width: int = 8
    ) -> None:
        self.text = text
        self.style = style
        self.middle = middle
        self.min_width = min(min_width, cell_len(text))

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(self.min_width, max(self.min_width, cell_len(self.text)))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Text]:
        width = options.max_width
        shown = shorten_middle(self.text, width) if self.middle else clip_words(self.text, width)
        yield Text(shown, style=self.style, no_wrap=True, overflow="crop", end="")


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
    # Numbers never shrink into "…"; on a narrow terminal the store path loses its middle.
    table.add_column("store", ratio=1)
    table.add_column("kind", no_wrap=True, min_width=6)
    table.add_column("size", justify="right", no_wrap=True, min_width=8)
    table.add_column("tables", justify="right", no_wrap=True, min_width=6)
    table.add_column("rows", justify="right", no_wrap=True, min_width=7)
    table.add_column("reclaim.", justify="right", no_wrap=True, min_width=8)
    table.add_column("probs", justify="right", no_wrap=True, min_width=5)
    by_store = _interfaces_by_store(analysis)
    for store in analysis.stores:
        table.add_row(
            Fit(store.path),
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


def _compact_table() -> Table:
    """A table for 80 columns: a rule under the header, two spaces between columns."""
    return Table(
        header_style="bold",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1, 0, 0),
    )


def table_sources(table: PlanTable) -> str:
    """Where a unified table's rows come from, short: a store, or the first store and +N.

    >>> from dbfold.plan import PlanTable, Source
    >>> table_sources(PlanTable("t", sources=(Source("a.db", "t"), Source("b.db", "t"))))
    'a.db +1'
    """
    stores = list(dict.fromkeys(s.store for s in table.sources))
    if not stores:
        return ""
    return stores[0] + (f" +{len(stores) - 1}" if len(stores) > 1 else "")


def table_notes(table: PlanTable) -> list[str]:
    """Short notes on how a unified table is filled: merges, renames, arrays, indexes."""
    notes: list[str] = []
    sources = table.sources
    merged = [s for s in sources if s.discriminator and s.array is None]
    if len(merged) > 1:
        notes.append(f"{len(merged)} merged ({merged[0].discriminator})")
    for s in sources:
        if s.array:
            notes.append(f"array of {s.table}")
        elif len(sources) == 1 and s.table != table.name:
            notes.append(f"was {s.table}")
    renamed = sum(1 for s in sources for path, col in s.columns.items() if path != col)
    if renamed:
        notes.append(f"{renamed} renamed")
    if table.indexes:
        notes.append(_plural(len(table.indexes), "index").replace("indexs", "indexes"))
    if table.foreign_keys:
        notes.append(_plural(len(table.foreign_keys), "fk"))
    return notes


def _seconds(secs: float) -> str:
    """A time estimate in at most 5 cells.

    >>> _seconds(0.004), _seconds(12.4), _seconds(125)
    ('0.0s', '12s', '2m05s')
    """
    if secs < 10:
        return f"{secs:.1f}s"
    if secs < 60:
        return f"{secs:.0f}s"
    return f"{int(secs // 60)}m{int(secs % 60):02d}s"


class _OneLinePerRow:
    """A table that keeps every row on one line at the console's width.

    The number columns (2 to 4) keep their width; the names (first two columns, shortened
    in the middle) and the notes (last column, cut after a whole word) share the rest,
    names first up to a cap, so that a narrow terminal loses letters, never a line.
    """

    GAP = 2  # spaces between columns
    #: (column, width) steps: each name column starts at a floor and grows, in this order,
    #: while there is room (0 is the table, 1 the sources, 5 the notes; None: all of it).
    STEPS = ((0, 10), (1, 10), (5, 8), (0, 22), (5, 18), (1, 18), (0, None), (5, None))

    def __init__(
        self, header: Sequence[str], rows: Sequence[Sequence[str]], styles: Sequence[str]
    ) -> None:
        self.header = list(header)
        self.rows = [list(r) for r in rows]
        self.styles = list(styles)

    def widths(self, total: int) -> list[int]:
        """Column widths for a console of ``total`` cells."""
        want = [
            max([cell_len(h), *(cell_len(r[i]) for r in self.rows)])
            for i, h in enumerate(self.header)
        ]
        out = [0, 0, *want[2:5], 0]
        free = total - sum(want[2:5]) - self.GAP * (len(want) - 1)
        for col, cap in (*self.STEPS, (1, None)):
            goal = want[col] if cap is None else min(want[col], cap)
            grow = max(0, min(goal - out[col], free))
            out[col] += grow
            free -= grow
        out[5] = max(out[5], cell_len(self.header[5]))
        return out

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Text]:
        widths = self.widths(options.max_width)
        right = {2, 3, 4}
        gap = " " * self.GAP

        def line(cells: Sequence[str], style: str = "", *, bold: bool = False) -> Text:
            out = Text(no_wrap=True, overflow="crop", end="\n")
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True)):
                if i == 5:
                    shown = clip_items(cell, width)
                else:
                    shown = shorten_path(cell, width) if i == 1 else shorten_middle(cell, width)
                pad = " " * (width - cell_len(shown))
                if i:
                    out.append(gap)
                out.append(
                    pad + shown if i in right else shown + (pad if i < 5 else ""),
                    style="bold" if bold else (style if i == 5 else ""),
                )
            return out

        yield line(self.header, bold=True)
        yield Text("─" * min(options.max_width, sum(widths) + self.GAP * 5), end="\n")
        for row, style in zip(self.rows, self.styles, strict=True):
            yield line(row, style)


def dry_run_view(
    report: MigrationReport, plan: Plan | None = None, *, verbose: bool = False
) -> RenderableType:
    """The dry run at 80 columns: one line per table, its problems, operations with -v."""
    parts: list[RenderableType] = [
        Text(
            f"Dry run: {len(report.tables)} tables, about {report.rows:,} rows from "
            f"{human_bytes(report.sources_bytes)} of stores into {report.target}; "
            "nothing was written (add --execute to run it)",
            style="bold green",
        )
    ]
    by_name = {t.name: t for t in plan.tables} if plan is not None else {}
    rows: list[list[str]] = []
    for t in report.tables:
        planned = by_name.get(t.name)
        notes = table_notes(planned) if planned is not None else []
        if t.problems:
            notes.insert(0, f"! {_plural(len(t.problems), 'problem')}")
        rows.append(
            [
                t.name,
                table_sources(planned) if planned is not None else "",
                f"{t.rows:,}",
                human_bytes(t.bytes),
                _seconds(t.seconds),
                ", ".join(notes),
            ]
        )
    table = _OneLinePerRow(
        ("table", "sources", "rows", "size", "time", "notes"),
        rows,
        styles=["red" if t.problems else "" for t in report.tables],
    )
    parts.append(table)
    for t in report.tables:
        for problem in t.problems:
            line = Text(f"! {t.name}: ", style="bold red")
            line.append(problem, style="red")
            parts.append(line)
    if verbose:
        from rich.padding import Padding

        for t in report.tables:  # wrapped lines hang under their operation
            parts.append(Text(t.name, style="bold"))
            parts.extend(Padding(Text(op), (0, 0, 0, 2)) for op in t.operations)
    else:
        parts.append(
            Text(
                "Each table: create, copy its sources, then its indexes; -v lists every "
                "operation, `dbfold report` shows the lineage",
                style="dim",
            )
        )
    return Group(*parts)


def migration_view(
    report: MigrationReport, plan: Plan | None = None, *, verbose: bool = False
) -> RenderableType:
    """A dry run (one line per target table) or an executed migration (per source)."""
    parts: list[RenderableType] = []
    if not report.executed:
        parts.append(dry_run_view(report, plan, verbose=verbose))
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
            # The names give way (shortened in the middle by Fit); numbers never do.
            table.add_column(
                name,
                no_wrap=name not in ("source", "→ table"),
                justify="right" if name in ("rows", "total", "secs") else "left",
            )
        last = None
        for s in _by_store(report.sources):
            if s.store != last:
                table.add_row(Fit(s.store, "bold"), "", "", "", "", "")
                last = s.store
            table.add_row(
                Fit("  " + s.table + (f"[{s.array}]" if s.array else "")),
                Fit(s.target),
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


_S = TypeVar("_S", SourceResult, TableCheck)


def _by_store(items: Sequence[_S]) -> list[_S]:
    """The items grouped by store, stores in order of first appearance."""
    groups: dict[str, list[_S]] = {}
    for item in items:
        groups.setdefault(item.store, []).append(item)
    return [item for group in groups.values() for item in group]


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
        # The names give way (shortened in the middle by Fit); numbers never do.
        table.add_column("source")
        table.add_column("→ table")
        table.add_column("source\nrows", justify="right", no_wrap=True)
        table.add_column("target\nrows", justify="right", no_wrap=True)
        table.add_column("via\nadapters", justify="right", no_wrap=True)
        table.add_column("status", no_wrap=True)
        last = None
        for c in _by_store(show):
            if c.store != last:
                table.add_row(Fit(c.store, "bold"), "", "", "", "", "")
                last = c.store
            table.add_row(
                Fit("  " + c.table + (f"[{c.array}]" if c.array else "")),
                Fit(c.target),
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


def _count(n: int) -> str:
    """A row count in at most 6 cells: ``12,345``, ``123.4k``, ``1.25M``.

    >>> _count(12_345), _count(123_456), _count(1_250_000)
    ('12,345', '123.5k', '1.25M')
    """
    if n < 100_000:
        return f"{n:,}"
    if n < 1_000_000:
        return f"{n / 1e3:.1f}k"
    return f"{n / 1e6:.2f}M"


class RichProgress:
    """Rich progress bars for migrate and verify: rows, MB/s and time left per source.

    The rate is drawn at every refresh (ten a second), not only when rows arrive, and
    between two copies a spinner says that work goes on (indexes, checks, verification),
    so the display never stands still. ``advance`` may come from worker threads.
    """

    LABEL = 24  # cells for the source's name (shortened in the middle)

    def __init__(self, console: Console) -> None:
        from rich.progress import (
            BarColumn,
            Progress,
            ProgressColumn,
            SpinnerColumn,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Task as RichTask

        class Rate(ProgressColumn):
            def render(self, task: RichTask) -> Text:
                meter = task.fields.get("meter")
                return Text(meter.rate_text() if meter else "", style="green")

        class Rows(ProgressColumn):
            def render(self, task: RichTask) -> Text:
                if task.total is None:
                    return Text("")
                return Text(f"{_count(int(task.completed))}/{_count(int(task.total))}")

        self.bar = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}", style="cyan"),
            BarColumn(bar_width=14),
            Rows(),
            Rate(),
            TimeRemainingColumn(compact=True),
            console=console,
            transient=True,
            refresh_per_second=10,
        )
        self._lock = threading.Lock()
        self.task: TaskID | None = None
        self.idle: TaskID | None = None
        self.meter = Throughput()

    def __enter__(self) -> RichProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def _label(self, label: str) -> str:
        short = shorten_middle(label, self.LABEL)
        return short + " " * (self.LABEL - cell_len(short))

    def start(self, label: str, rows: int, nbytes: int) -> None:
        with self._lock:
            if self.idle is not None:
                self.bar.remove_task(self.idle)
                self.idle = None
            self.meter = Throughput()
            self.task = self.bar.add_task(self._label(label), total=max(rows, 1), meter=self.meter)

    def advance(self, rows: int, nbytes: int) -> None:
        with self._lock:
            if self.task is None:
                return
            self.meter.add(rows, nbytes)
            self.bar.update(self.task, advance=rows)

    def done(self) -> None:
        with self._lock:
            if self.task is not None:
                self.bar.remove_task(self.task)
                self.task = None
            if self.idle is None:
                self.idle = self.bar.add_task(self._label("working…"), total=None)


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
