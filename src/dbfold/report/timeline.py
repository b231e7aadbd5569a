"""The gradual cutover as a timeline: runs, verifications, adapter writes, what is pending.

Built from :class:`~dbfold.report.facts.ReportFacts`: each ``migrate --execute`` run from the
journal (the one that built the target is the cutover), the latest verification, the writes
legacy code made through the adapters since the cutover (the adapters' log has no times, so
they are one entry after the runs), and last what the next incremental run will fold in.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from dbfold.report.facts import ReportFacts, stamp_text


@dataclass(frozen=True)
class Event:
    """One entry of the timeline."""

    kind: str  # cutover, run, interrupted, verify, adapter, pending
    when: str  # as people read it ('' when unknown)
    title: str
    details: tuple[str, ...] = ()


def events(facts: ReportFacts) -> list[Event]:
    """The timeline's entries, oldest first; adapter writes and pending last."""
    dated: list[tuple[str, Event]] = []
    for run in facts.target.runs:
        moved = [c for c in run.copies if c.rows]
        details = tuple(
            f"{c.store}:{c.table}"
            + (f"[{c.array}]" if c.array else "")
            + f" → {c.target}: {c.rows:,} rows ({c.total:,} in all)"
            for c in moved
        )
        unchanged = len(run.copies) - len(moved)
        if unchanged:
            details += (f"{unchanged} sources unchanged (nothing new to copy)",)
        what = "Cutover: built the unified database" if run.built else "Incremental run"
        title = f"{what} (run {run.run_id}): {len(run.copies)} sources, {run.rows:,} rows copied"
        kind = "cutover" if run.built else "run"
        dated.append(
            (stamp_text(run.started), Event(kind, stamp_text(run.started), title, details))
        )
        if run.interrupted:
            dated.append(
                (
                    stamp_text(run.finished),
                    Event(
                        "interrupted",
                        stamp_text(run.finished),
                        f"{len(run.interrupted)} copies of run {run.run_id} were interrupted "
                        "and rolled back (the next run copies them again)",
                        run.interrupted,
                    ),
                )
            )
    v = facts.verify
    if v is not None:
        rows = sum(c.source_rows for c in v.checks)
        verdict = "every count and checksum matches" if v.ok else f"{len(v.mismatches)} mismatches"
        when = stamp_text(facts.verify_when) if facts.verify_when else ""
        details = tuple(
            f"{c.store}:{c.table} → {c.target}: "
            + (c.first_difference or "counts or checksums differ")
            for c in v.mismatches
        )
        dated.append(
            (
                when,
                Event(
                    "verify",
                    when,
                    f"Verified {len(v.checks)} sources, {rows:,} rows: {verdict}",
                    details,
                ),
            )
        )
    out = [e for _, e in sorted(dated, key=lambda d: (d[0] == "", d[0]))]
    writes = facts.target.writes
    if writes:
        total = sum(w.writes for w in writes)
        keys = sum(w.keys for w in writes)
        since = facts.target.built_by or "the cutover"
        out.append(
            Event(
                "adapter",
                "since the cutover",
                f"{total:,} writes ({keys:,} keys) by legacy code through the adapters since "
                f"run {since}; the legacy files no longer receive them",
                tuple(
                    f"{w.table}"
                    + (f" ({w.source})" if w.source else "")
                    + f": {w.writes:,} writes, {w.keys:,} keys ("
                    + ", ".join(f"{n:,} {op}" for op, n in w.ops)
                    + ")"
                    for w in writes
                ),
            )
        )
    pending = facts.pending
    if pending:
        out.append(
            Event(
                "pending",
                "next run",
                f"Pending: the next `dbfold migrate --execute` folds in {len(pending)} "
                "source" + ("s" if len(pending) != 1 else ""),
                tuple(
                    f"{p.store}:{p.table} → {p.target}: {p.why}"
                    + (
                        f" ({p.rows:,} row{'s' if p.rows != 1 else ''})"
                        if p.rows is not None
                        else ""
                    )
                    for p in pending
                ),
            )
        )
    elif facts.target.exists:
        out.append(
            Event("pending", "next run", "Nothing pending: no source changed since its last copy")
        )
    return out


def timeline_html(facts: ReportFacts) -> str:
    """The timeline as an ordered list (CSS draws the line and the dots)."""
    items = events(facts)
    if not items:
        return '<p class="empty">No migration yet: run <code>dbfold migrate --execute</code>.</p>'
    out = ['<ol class="timeline">']
    for ev in items:
        details = ""
        if ev.details:
            lis = "".join(f"<li>{escape(d)}</li>" for d in ev.details)
            opened = " open" if ev.kind in ("pending", "adapter", "interrupted") else ""
            details = (
                f"<details{opened}><summary>{len(ev.details)} "
                f"item{'s' if len(ev.details) != 1 else ''}</summary><ul>{lis}</ul></details>"
            )
        out.append(
            f'<li class="event {ev.kind}" data-kind="{ev.kind}">'
            f'<span class="when">{escape(ev.when)}</span>'
            f'<span class="what">{escape(ev.title)}</span>{details}</li>'
        )
    out.append("</ol>")
    return "".join(out)
