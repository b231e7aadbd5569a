"""The AGENTS.md section: the phrases people use, mapped to the commands that do the job.

An agent (or a newcomer) reading a project's AGENTS.md learns from it which dbfold command
answers "analyze databases", "unify tracking", "migrate data" and "optimize database",
what the command prints, and what its exit code means. ``dbfold agents-md`` prints it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Phrase:
    """One trigger phrase and the commands that answer it."""

    phrase: str
    commands: tuple[str, ...]
    prints: str
    exits: str


PHRASES = (
    Phrase(
        "analyze databases",
        ("dbfold analyze [PATH]",),
        "every store found (SQLite, JSON, JSONL, CSV, shelve/dbm, pickles never loaded), its"
        " tables, rows, sizes and problems, and the code that opens it; writes"
        " .dbfold/analysis.json",
        "0 nothing wrong; 1 some store has problems (each named, with what to do); 2 the path"
        " cannot be read",
    ),
    Phrase(
        "unify tracking",
        ("dbfold design [PATH] [--target URL]", "dbfold implement [PATH]"),
        "one unified schema (clashes resolved, same-shaped tables merged, keys and indexes):"
        " .dbfold/plan.json to edit, unified.sql, .dbfold/REPORT.md; then project_db.py with"
        " a UnifiedDatabase subclass and adapters for the legacy code",
        "0 done (suggestions and notes to review are in the report); 2 no analysis yet, or a"
        " hand-edited plan that does not check",
    ),
    Phrase(
        "migrate data",
        (
            "dbfold migrate [PATH]",
            "dbfold migrate [PATH] --execute",
            "dbfold verify [PATH]",
        ),
        "the dry run: per table what will run, rows, time and problems, writing nothing; with"
        " --execute every row copied (built beside and swapped in, resumable), verified row"
        " by row, sources untouched; verify proves it again at any time",
        "0 done and verified; 1 done but something needs you (problems, orphans, a failed"
        " verification, with the first differing row); 2 the command could not run",
    ),
    Phrase(
        "optimize database",
        ("dbfold optimize [TARGET]",),
        "VACUUM, ANALYZE, REINDEX and the integrity check (PostgreSQL: VACUUM (ANALYZE) and"
        " REINDEX of bloated tables), with the sizes before and after",
        "0 done; 1 the integrity check found damage; 2 another run holds the target, or it"
        " cannot be opened",
    ),
)


def agents_md() -> str:
    """The AGENTS.md section as Markdown.

    >>> "## Data stores: dbfold" in agents_md() and "dbfold migrate [PATH] --execute" in agents_md()
    True
    """
    lines = [
        "## Data stores: dbfold",
        "",
        "This project's data stores are folded into one database with dbfold. When asked to",
        "do one of these, run the commands shown (from the project root); add `--json` for a",
        "machine-readable result on stdout, `-q` for quiet, `-v` for details.",
        "",
    ]
    for p in PHRASES:
        lines.append(f'### "{p.phrase}"')
        lines.append("")
        lines += [f"- `{c}`" for c in p.commands]
        lines.append(f"- Prints: {p.prints}.")
        lines.append(f"- Exit codes: {p.exits}.")
        lines.append("")
    lines.append(
        "Sources are only read, never written. `dbfold report --open` shows the whole state"
        " on one page."
    )
    return "\n".join(lines) + "\n"
