"""The ``dbfold`` command line: parse, make one API call, print the report.

Exit codes (ARCHITECTURE.md): 0 done; 1 done but something needs the user (problems found,
verification failed); 2 the command could not run (usage, missing input). A
:class:`~dbfold.errors.DbfoldError` becomes one clear line on stderr; a traceback is
shown only with ``-v``.
"""

from __future__ import annotations

import functools
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click
import orjson
from rich.console import Console

from dbfold import __version__
from dbfold.errors import DbfoldError, UsageError

if TYPE_CHECKING:
    from dbfold.model import Analysis
    from dbfold.plan import Plan

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_ATTENTION, EXIT_FAILED = 0, 1, 2


@dataclass(frozen=True)
class Output:
    """How a command talks: quiet, verbose, or JSON on stdout and nothing else there."""

    quiet: bool
    verbose: bool
    json: bool

    @functools.cached_property
    def console(self) -> Console:
        # With --json, stdout carries only the result; human output goes to stderr.
        return Console(stderr=self.json, quiet=self.quiet, highlight=False)

    @functools.cached_property
    def err(self) -> Console:
        return Console(stderr=True, highlight=False)

    def result(self, data: Any) -> None:
        """Print a machine-readable result on stdout (``--json`` only)."""
        sys.stdout.buffer.write(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")
        sys.stdout.flush()


def common(func: F) -> F:
    """Add ``-q``/``-v``/``--json`` to a command and turn errors into one line and an exit code."""

    @click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors.")
    @click.option("-v", "--verbose", is_flag=True, help="Show details and tracebacks.")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
    @functools.wraps(func)
    def wrapper(quiet: bool, verbose: bool, as_json: bool, **kwargs: Any) -> None:
        out = Output(quiet=quiet, verbose=verbose, json=as_json)
        try:
            code = func(out, **kwargs)
        except DbfoldError as exc:
            if verbose:
                out.err.print(traceback.format_exc(), markup=False)
            out.err.print(f"dbfold: error: {exc}", markup=False, style="red", soft_wrap=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            out.err.print("dbfold: interrupted", style="red")
            sys.exit(130)
        except Exception as exc:  # a bug of ours: still one line unless -v
            if verbose:
                out.err.print(traceback.format_exc(), markup=False)
            out.err.print(
                f"dbfold: internal error: {type(exc).__name__}: {exc} (run with -v for details)",
                markup=False,
                style="red",
                soft_wrap=True,
            )
            sys.exit(EXIT_FAILED)
        sys.exit(code or EXIT_OK)

    return cast(F, wrapper)


def _version_text() -> str:
    """dbfold's version, the SQLite it runs on, and a warning where that SQLite has a bug."""
    import platform
    import sqlite3

    from dbfold.sqlitefiles import sqlite_version_warning

    text = (
        f"dbfold {__version__} (SQLite {sqlite3.sqlite_version}, "
        f"Python {platform.python_version()})"
    )
    warning = sqlite_version_warning()
    return f"{text}\nwarning: {warning}" if warning else text


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(_version_text())
        ctx.exit()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version, the SQLite version and any known SQLite bug, then exit.",
)
def cli() -> None:
    """Fold a project's scattered data stores into one unified database."""


@cli.command()
@click.argument("path", default=".", type=click.Path(path_type=Path))
@common
def analyze(out: Output, path: Path) -> int:
    """Find every data store under PATH and the code that touches it.

    Writes .dbfold/analysis.json at PATH; exits 1 when some store has problems.
    """
    from dbfold.scan import analyze as run_analyze
    from dbfold.state import save_analysis
    from dbfold.views import analysis_view

    with out.console.status("Scanning…", spinner="dots") as status:

        def progress(rel: str) -> None:
            status.update(f"Scanning {rel}")

        analysis = run_analyze(path, on_progress=None if out.quiet else progress)
    saved = save_analysis(analysis, path)
    if out.json:
        out.result(analysis.to_dict())
    else:
        out.console.print(analysis_view(analysis))
        if out.verbose:
            out.console.print(f"Wrote {saved}", style="dim")
    return EXIT_ATTENTION if any(p.severity == "error" for p in analysis.all_problems) else EXIT_OK


@cli.command()
@click.argument("path", default=".", type=click.Path(path_type=Path))
@click.option(
    "--naming",
    type=click.Choice(["keep", "prefix"]),
    default="keep",
    show_default=True,
    help="keep: prefix only clashing names with their store; prefix: prefix every table.",
)
@click.option("--normalize-names", is_flag=True, help="Turn odd names into snake_case.")
@click.option(
    "--merge-threshold",
    type=click.FloatRange(0.0, 1.0, min_open=True),
    default=1.0,
    show_default=True,
    help="Column-name similarity (Jaccard) above which same-shaped tables merge.",
)
@click.option(
    "--merge-by-shape",
    is_flag=True,
    help="Merge same-shaped tables whatever their names (default: names must agree too).",
)
@click.option(
    "--no-merge",
    multiple=True,
    metavar="[STORE:]TABLE",
    help="Never merge this table (repeatable).",
)
@click.option("--discriminator", default="source", show_default=True, help="Merge marker column.")
@click.option(
    "--check",
    is_flag=True,
    help="Validate a hand-edited .dbfold/plan.json and re-render unified.sql and the report.",
)
@click.option(
    "--no-probe",
    "probe",
    flag_value=False,
    default=True,
    help=(
        "Do not read source values (to check suggested foreign keys and SQLite values against"
        " their declared types, and to choose PostgreSQL types); faster on huge stores."
    ),
)
@click.option(
    "--target",
    metavar="PATH|URL",
    help=(
        "The unified database: a path, or a postgresql:// URL (recorded in plan.json"
        " without its password). Default: the plan's, else data/unified.db."
    ),
)
@click.option(
    "--schema",
    metavar="NAME",
    help="PostgreSQL schema of the unified tables (default: the plan's, else public).",
)
@click.option(
    "--citus",
    is_flag=True,
    help="Add Citus create_distributed_table/create_reference_table calls to unified.sql.",
)
@common
def design(
    out: Output,
    path: Path,
    naming: str,
    normalize_names: bool,
    merge_threshold: float,
    merge_by_shape: bool,
    no_merge: tuple[str, ...],
    discriminator: str,
    check: bool,
    probe: bool,
    target: str | None,
    schema: str | None,
    citus: bool,
) -> int:
    """Design one unified schema from the analysis at PATH.

    Writes .dbfold/plan.json (the file to edit), unified.sql and .dbfold/REPORT.md. With a
    postgresql:// target, unified.sql is PostgreSQL DDL and the plan holds PostgreSQL
    types and names.
    """
    from dataclasses import replace

    from dbfold.design import (
        DesignOptions,
        probe_sources,
        summary_line,
    )
    from dbfold.design import design as run_design
    from dbfold.pgurl import is_postgres, redact, without_password
    from dbfold.plan import Plan
    from dbfold.state import (
        REPORT_FILE,
        SQL_FILE,
        load_analysis,
        plan_path,
        state_dir,
    )

    analysis = load_analysis(path)
    where = plan_path(path)
    if check and (target is not None or schema is not None):
        raise UsageError(
            "--target and --schema change the plan; run `dbfold design` without --check"
        )
    stored_target = without_password(target) if target is not None else None
    if stored_target is not None and not stored_target.strip():
        raise UsageError("--target needs a path or a postgresql:// URL")
    if schema is not None and stored_target is not None and not is_postgres(stored_target):
        raise UsageError("--schema is for a postgresql:// target")
    options = DesignOptions(
        naming=naming,
        normalize_names=normalize_names,
        merge_threshold=merge_threshold,
        merge_by_shape=merge_by_shape,
        no_merge=no_merge,
        discriminator=discriminator,
        target=stored_target,
        schema=schema,
    )
    if check:
        try:
            raw = where.read_bytes()
        except FileNotFoundError as exc:
            raise UsageError(f"{where}: no plan yet; run `dbfold design` first") from exc
        try:
            # The base design compares against is made for the edited plan's own target.
            own = Plan.from_json(raw)
        except (ValueError, TypeError, KeyError, AttributeError):
            pass  # check_edited says where the plan is broken
        else:
            options = replace(options, target=own.target, schema=own.schema)
        from dbfold.design.edits import check_edited

        try:
            plan, fixed = check_edited(path, raw, analysis, options)
        except DbfoldError as exc:
            raise type(exc)(f"{where}: {exc}") from exc
        # One line per place a rename was carried to, so the user sees what changed.
        for line in () if out.json else fixed:
            out.console.print(f"fixed {line}", markup=False)
    else:
        previous = None
        if where.exists():
            try:
                previous = Plan.from_json(where.read_bytes())
            except (ValueError, TypeError, KeyError) as exc:
                raise UsageError(
                    f"{where}: cannot read the edited plan ({exc}); "
                    "run `dbfold design --check` to see where, or delete it to start afresh"
                ) from exc
        plan = run_design(analysis, options=options, previous=previous)
        if probe:
            plan = probe_sources(plan, analysis, path)
    _write_design(path, plan, analysis, with_plan=not check, citus=citus)
    if out.json:
        out.result(plan.to_dict())
        return EXIT_OK
    stores = len(plan.stores)
    out.console.print(summary_line(plan), style="bold green")
    for note in plan.notes:
        out.console.print(f"note: {note}", style="yellow", markup=False)
    open_suggestions = sum(1 for s in plan.suggestions if not s.accepted)
    out.console.print(
        f"Wrote {where}, {path / SQL_FILE} and {state_dir(path) / REPORT_FILE}"
        + (f"; {open_suggestions} suggestions open in the report" if open_suggestions else ""),
        markup=False,
    )
    if is_postgres(plan.target):
        shown = redact(plan.target)
        where_in = shown if plan.schema == "public" else f"{shown}, schema {plan.schema}"
        out.console.print(f"Target: {where_in} (unified.sql is PostgreSQL)", markup=False)
        if target is not None and stored_target != target:
            out.console.print(
                "note: the password in --target is not written to plan.json; migrate reads"
                " it from --target, PGPASSWORD or ~/.pgpass",
                style="yellow",
                markup=False,
            )
        if citus:
            out.console.print("Citus calls added to unified.sql (syntax only)", markup=False)
    if out.verbose:
        out.console.print(f"{stores} stores read", style="dim")
    return EXIT_OK


def _write_design(
    directory: Path,
    plan: Plan,
    analysis: Analysis,
    *,
    with_plan: bool = True,
    citus: bool = False,
) -> None:
    """Write what ``design`` makes: the plan (unless it was only checked), SQL and report.

    unified.sql is in the plan's target dialect (PostgreSQL for a ``postgresql://`` target,
    with the Citus calls when ``citus``).
    """
    from dbfold.design import render_report
    from dbfold.design.pg_render import unified_sql
    from dbfold.design.report import table_rows
    from dbfold.state import REPORT_FILE, SQL_FILE, plan_path, state_dir, write_atomic

    if with_plan:
        from dbfold.design.edits import save_checked

        write_atomic(plan_path(directory), plan.to_json() + b"\n")
        # The base a later `design --check` finds hand renames against.
        save_checked(directory, plan)
    rows = table_rows(plan, analysis) if citus else None
    write_atomic(directory / SQL_FILE, unified_sql(plan, citus=citus, rows=rows).encode())
    write_atomic(state_dir(directory) / REPORT_FILE, render_report(plan, analysis).encode())


@cli.command()
@click.argument("path", default=".", type=click.Path(path_type=Path))
@click.option("--execute", is_flag=True, help="Run the migration (default: a dry run).")
@click.option(
    "--target",
    default=None,
    help="Target file, sqlite:/// or postgresql:// URL (default: $DBFOLD_TARGET, the plan's).",
)
@click.option("--schema", default=None, help="PostgreSQL schema (default: the plan's).")
@click.option(
    "--force", is_flag=True, help="Replace a target dbfold did not make (backed up first)."
)
@common
def migrate(
    out: Output, path: Path, execute: bool, target: str | None, schema: str | None, force: bool
) -> int:
    """Move every row of the stores at PATH into the unified database.

    Without --execute, print per table what would run, estimates and visible problems, and
    write nothing. Exits 1 when something needs you (problems, orphans, failed verification).
    """
    from dbfold.migrate import migrate as run_migrate
    from dbfold.migrate import save_report
    from dbfold.state import load_analysis, load_plan
    from dbfold.views import RichProgress, migration_view

    analysis = load_analysis(path)
    plan = load_plan(path)
    show = execute and not out.json and not out.quiet and out.console.is_terminal
    if show:
        with RichProgress(out.console) as bars:
            report = run_migrate(
                plan,
                analysis,
                path,
                execute=execute,
                target=target,
                force=force,
                progress=bars,
                schema=schema,
            )
    else:
        report = run_migrate(
            plan, analysis, path, execute=execute, target=target, force=force, schema=schema
        )
    html = None
    if execute:
        report = save_report(report, path)
        html = _refresh_report(out, path, plan=plan, analysis=analysis, migration=report)
    if out.json:
        out.result(report.to_dict())
    else:
        out.console.print(migration_view(report, plan, verbose=out.verbose))
        if html is not None:
            out.console.print(f"Report: {html}", markup=False)
    blocking = any(p.severity == "error" for p in report.problems) or any(
        t.problems for t in report.tables
    )
    return EXIT_ATTENTION if (not report.ok or blocking) else EXIT_OK


@cli.command()
@click.argument("path", default=".", type=click.Path(path_type=Path))
@click.option(
    "--target",
    default=None,
    help="Target file or postgresql:// URL (default: $DBFOLD_TARGET, the plan's).",
)
@click.option("--schema", default=None, help="PostgreSQL schema (default: the plan's).")
@common
def verify(out: Output, path: Path, target: str | None, schema: str | None) -> int:
    """Prove that the target holds exactly what the stores at PATH hold.

    Per source: row counts and an exact comparison of every mapped column (inside SQLite
    for a SQLite target; order-free row fingerprints for PostgreSQL); exits 1 and names the
    first differing row on any mismatch.
    """
    from dbfold.migrate import resolve_pg, resolve_target
    from dbfold.migrate import verify as run_verify
    from dbfold.migrate.progress import Progress
    from dbfold.state import load_analysis, load_plan
    from dbfold.views import RichProgress, verify_view

    plan = load_plan(path)
    pg = resolve_pg(plan, target, schema)
    where = None if pg is not None else resolve_target(plan, path, target)

    def check(bars: Progress | None) -> Any:
        if pg is not None:
            from dbfold.migrate.pg_verify import verify_postgres

            return verify_postgres(plan, load_analysis(path), path, pg, progress=bars)
        assert where is not None
        return run_verify(plan, path, where, progress=bars)

    if not out.json and not out.quiet and out.console.is_terminal:
        with RichProgress(out.console) as bars:
            report = check(bars)
    else:
        report = check(None)
    from dbfold.report import save_verify

    save_verify(report, path)
    html = _refresh_report(out, path, plan=plan, verify=report, target=where)
    if out.json:
        out.result(report.to_dict())
    else:
        out.console.print(verify_view(report))
        if html is not None:
            out.console.print(f"Report: {html}", markup=False)
    return EXIT_OK if report.ok else EXIT_ATTENTION


def _refresh_report(out: Output, path: Path, **given: Any) -> Path | None:
    """Write .dbfold/report.html again; a report that cannot be written is only a warning."""
    from dbfold.report import write_report

    try:
        return write_report(path, **given)
    except DbfoldError as exc:
        out.err.print(f"dbfold: warning: report not refreshed: {exc}", markup=False)
        return None


@cli.command()
@click.argument("path", default=".", type=click.Path(path_type=Path))
@click.option("--open", "open_it", is_flag=True, help="Open the report in a web browser.")
@common
def report(out: Output, path: Path, open_it: bool) -> int:
    """Write .dbfold/report.html: one self-contained page to look at together.

    The ER diagram, before/after, lineage, verification, the cutover's timeline and what
    to review (with the plan.json path of each). It loads nothing from the network.
    """
    from dbfold.report import write_report

    where = write_report(path)
    if out.json:
        out.result({"path": str(where)})
    else:
        out.console.print(f"Wrote {where}", markup=False)
    if open_it:
        import webbrowser

        if not webbrowser.open(where.absolute().as_uri()):
            out.err.print(f"dbfold: no web browser found; open {where} by hand", markup=False)
    return EXIT_OK


@cli.command()
@click.argument("target", default=None, required=False)
@click.option("--schema", default="public", show_default=True, help="PostgreSQL schema.")
@common
def optimize(out: Output, target: str | None, schema: str) -> int:
    """Compact and reindex TARGET: VACUUM, ANALYZE, REINDEX, PRAGMA optimize, integrity check.

    TARGET is a SQLite file (default: $DBFOLD_TARGET, else data/unified.db) or a
    postgresql:// URL (VACUUM (ANALYZE), REINDEX of bloated tables, sizes before and after).
    """
    from dbfold.optimize import optimize as run_optimize
    from dbfold.pgurl import PgTarget, chosen_target, is_postgres
    from dbfold.views import optimize_view

    chosen = chosen_target(target, "data/unified.db")
    if is_postgres(chosen):
        from dbfold.optimize_pg import optimize_postgres

        report = optimize_postgres(PgTarget(chosen, schema))
    else:
        report = run_optimize(Path(chosen))
    if out.json:
        out.result(report.to_dict())
    else:
        out.console.print(optimize_view(report))
    return EXIT_OK if report.ok else EXIT_ATTENTION


@cli.command()
@click.argument("path", default=".", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Where to write the module (default: PATH/project_db.py).",
)
@click.option("--schema-version", default="1.0.0", show_default=True, help="SCHEMA_VERSION.")
@common
def implement(out: Output, path: Path, output: Path | None, schema_version: str) -> int:
    """Write project_db.py: a ProjectDatabase class and an adapter per legacy interface."""
    from dbfold.codegen import render_project_db
    from dbfold.state import load_analysis, load_plan, write_atomic

    analysis = load_analysis(path)
    plan = load_plan(path)
    where = output if output is not None else path / "project_db.py"
    source = render_project_db(plan, analysis, schema_version=schema_version)
    write_atomic(where, source.encode())
    adapters = sum(1 for i in analysis.interfaces if i.stores)
    if out.json:
        out.result({"path": str(where), "tables": len(plan.tables), "adapters": adapters})
    else:
        out.console.print(
            f"Wrote {where}: ProjectDatabase (schema {schema_version}, {len(plan.tables)} "
            f"tables) and adapters for {adapters} legacy interfaces",
            markup=False,
        )
    return EXIT_OK


@cli.command("agents-md")
@common
def agents_md_command(out: Output) -> int:
    """Print the AGENTS.md section that maps "analyze databases", "unify tracking",
    "migrate data" and "optimize database" to the commands, what they print and exit codes."""
    from dbfold.agents import agents_md

    text = agents_md()
    if out.json:
        out.result({"markdown": text})
    else:
        sys.stdout.write(text)
    return EXIT_OK


@cli.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option(
    "--project",
    type=click.Path(path_type=Path),
    default=".",
    show_default=True,
    help="Project root holding .dbfold/plan.json.",
)
@click.option(
    "--target",
    default=None,
    help="Unified database: a file or a postgresql:// URL (default: $DBFOLD_TARGET, else the "
    "plan's).",
)
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@common
def run(out: Output, project: Path, target: str | None, command: tuple[str, ...]) -> int:
    """Run an unchanged program with its migrated stores routed to the unified database.

    Example: dbfold run -- python app.py report
    (on PostgreSQL: dbfold run --target postgresql://user@host/db -- python app.py report)
    """
    import os

    from dbfold.adapters import run_legacy
    from dbfold.migrate import resolve_target
    from dbfold.pgurl import chosen_target, is_postgres
    from dbfold.pgurl import connect as pg_connect
    from dbfold.state import load_analysis, load_plan

    plan = load_plan(project)
    analysis = load_analysis(project)
    chosen = chosen_target(target, plan.target)
    if is_postgres(chosen):
        pg_connect(chosen).close()  # an unreachable server is one clear line, before the program
        return run_legacy(list(command), project, plan, chosen, analysis=analysis, cwd=os.getcwd())
    database = resolve_target(plan, project, target)
    if not database.exists():
        raise UsageError(f"{database}: no unified database yet; run `dbfold migrate --execute`")
    return run_legacy(list(command), project, plan, database, analysis=analysis, cwd=os.getcwd())


DEMO_MARKER = ".dbfold-demo"


@cli.command()
@click.argument("directory", default="demo-project", type=click.Path(path_type=Path))
@click.option(
    "--scale",
    type=click.FloatRange(0.0, None, min_open=True),
    default=1.0,
    show_default=True,
    help="Data size: 1 is about 6.5 MB and 65,000 rows; 100 is about 650 MB.",
)
@click.option("--seed", type=int, default=7, show_default=True, help="Random seed of the data.")
@common
def demo(out: Output, directory: Path, scale: float, seed: int) -> int:
    """Build a messy sample project in DIRECTORY and run the pipeline on it.

    A directory that exists must be empty or an earlier demo; it is rebuilt from scratch.
    """
    from dbfold.demo import build_sample_project
    from dbfold.demo.legacy_check import compare_legacy_runs
    from dbfold.design import design as run_design
    from dbfold.design import probe_sources, summary_line
    from dbfold.migrate import migrate as run_migrate
    from dbfold.migrate import resolve_target, save_report
    from dbfold.migrate import verify as run_verify
    from dbfold.optimize import optimize as run_optimize
    from dbfold.report import write_report
    from dbfold.runtime.tour import tour
    from dbfold.scan import analyze as run_analyze
    from dbfold.state import (
        REPORT_FILE,
        SQL_FILE,
        plan_path,
        save_analysis,
        state_dir,
    )
    from dbfold.views import (
        analysis_view,
        before_after_view,
        legacy_view,
        migration_view,
        optimize_view,
        tour_view,
        verify_view,
    )

    started = time.perf_counter()
    _prepare_demo_dir(directory)
    con = out.console
    con.rule("1. A project that grew its stores one tracker at a time")
    with con.status("Building the sample project…"):
        project = build_sample_project(directory, scale=scale, seed=seed)
    (directory / DEMO_MARKER).write_text("built by `dbfold demo`; safe to delete\n")
    con.print(
        f"Built {directory}: {len(project.stores)} stores, {project.bytes / 1e6:.1f} MB, "
        f"{len(project.code_files)} code files (scale {scale:g}, seed {seed})",
        markup=False,
    )

    con.rule("2. dbfold analyze")
    analysis = run_analyze(directory)
    save_analysis(analysis, directory)
    con.print(analysis_view(analysis))

    con.rule("3. dbfold design")
    plan = probe_sources(run_design(analysis), analysis, directory)
    _write_design(directory, plan, analysis)
    con.print(summary_line(plan), style="bold green")
    con.print(
        f"Plan: {plan_path(directory)} · SQL: {directory / SQL_FILE} · "
        f"report with ER diagram: {state_dir(directory) / REPORT_FILE}",
        markup=False,
    )

    con.rule("4. dbfold migrate (dry run)")
    dry = run_migrate(plan, analysis, directory)
    con.print(migration_view(dry, plan, verbose=out.verbose))

    con.rule("5. dbfold migrate --execute (built beside, verified, renamed into place)")
    migration = run_migrate(plan, analysis, directory, execute=True)
    migration = save_report(migration, directory)
    con.print(migration_view(migration))

    con.rule("6. dbfold verify")
    target = resolve_target(plan, directory)
    checked = run_verify(plan, directory, target, analysis=analysis)
    con.print(verify_view(checked, brief=True))

    con.rule("7. dbfold optimize")
    optimized = run_optimize(target)
    con.print(optimize_view(optimized))

    con.rule("8. Before and after")
    con.print(before_after_view(analysis, migration, optimized, [], time.perf_counter() - started))

    con.rule("9. The legacy code, unchanged: on its own files, then through `dbfold run`")
    legacy = compare_legacy_runs(directory, target)
    con.print(legacy_view(legacy))
    folded = run_migrate(plan, analysis, directory, execute=True)
    con.print(
        f"Incremental `dbfold migrate --execute` afterwards: {folded.rows:,} new rows folded in "
        "from files the legacy code still writes directly",
        markup=False,
    )
    html = write_report(
        directory, plan=plan, analysis=analysis, migration=migration, verify=checked
    )

    con.rule("10. The same plan into PostgreSQL (staging schema, COPY, verify, swap)")
    from dbfold.demo.postgres import demo_postgres

    into_pg = demo_postgres(plan, analysis, directory)
    if isinstance(into_pg, str):
        con.print(f"PostgreSQL step {into_pg}", markup=False)
    else:
        con.print(migration_view(into_pg))

    con.rule("11. The runtime: threads, operations, an automatic schema migration")
    result = tour(state_dir(directory) / "tour")
    con.print(tour_view(result))
    con.rule("12. The report: one page to look at together")
    con.print(
        "ER diagram, before/after, lineage, verification and the cutover's timeline in one "
        "file that loads nothing from the network; open it in a browser "
        "(`dbfold report --open` writes it again and opens it):",
        markup=False,
    )
    con.print(f"Report: {html}", style="bold green", markup=False)
    if out.json:
        out.result(
            {
                "directory": str(directory),
                "stores": len(analysis.stores),
                "interfaces": len(analysis.interfaces),
                "plan_tables": len(plan.tables),
                "migrated_rows": migration.rows,
                "verified": checked.ok,
                "target": str(target),
                "target_bytes": optimized.bytes_after,
                "tour_operations": result.operations,
                "legacy_identical": all(r.same for r in legacy),
                "report": str(html),
                "postgres": into_pg if isinstance(into_pg, str) else into_pg.ok,
            }
        )
    pg_ok = isinstance(into_pg, str) or into_pg.ok
    return EXIT_OK if checked.ok and pg_ok and all(r.same for r in legacy) else EXIT_ATTENTION


def _prepare_demo_dir(directory: Path) -> None:
    """Empty an earlier demo's folder; refuse to touch a folder that is not one."""
    import shutil

    if directory.exists():
        if not directory.is_dir():
            raise UsageError(f"{directory}: exists and is not a folder; choose another DIRECTORY")
        if (directory / DEMO_MARKER).exists():
            shutil.rmtree(directory)
        elif any(directory.iterdir()):
            raise UsageError(
                f"{directory}: folder exists and is not an earlier demo; "
                "choose a new or empty DIRECTORY"
            )


def main() -> None:
    """Console-script entry point."""
    cli()
