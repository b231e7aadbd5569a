"""Zero code changes: route ``sqlite3.connect`` of migrated stores to legacy connections.

:func:`install` patches ``sqlite3.connect`` (and ``sqlite3.dbapi2.connect``) in this process;
:func:`run_legacy` runs a program in a child process with a bootstrap ``sitecustomize``
first on ``PYTHONPATH`` that calls :func:`install_from_env` before the program starts.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote

from dbfold.adapters.connection import connect, store_map, uri_read_only
from dbfold.adapters.records import JsonlLog, JsonStore
from dbfold.errors import AdapterError
from dbfold.model import Analysis
from dbfold.pgurl import is_postgres
from dbfold.plan import Plan

__all__ = [
    "ENV_ANALYSIS",
    "ENV_PLAN",
    "ENV_ROOT",
    "ENV_TARGET",
    "LegacyAdapter",
    "install",
    "install_from_env",
    "installed",
    "run_legacy",
    "uninstall",
]

ENV_PLAN = "DBFOLD_RUN_PLAN"
ENV_ROOT = "DBFOLD_RUN_ROOT"
ENV_TARGET = "DBFOLD_RUN_TARGET"
ENV_ANALYSIS = "DBFOLD_RUN_ANALYSIS"

_CONNECT_ARGS = (
    "timeout",
    "detect_types",
    "isolation_level",
    "check_same_thread",
    "factory",
    "cached_statements",
    "uri",
)
_ROUTE_KINDS = ("sqlite",)


class _Routes:
    def __init__(
        self,
        plan: Plan,
        root: Path,
        target: Path | str,
        analysis: Analysis | None,
        stores: dict[str, str],
    ) -> None:
        self.plan = plan
        self.root = root
        self.target = target
        self.analysis = analysis
        self.stores = stores  # real path -> store name


_LOCK = threading.Lock()
_STATE: dict[str, Any] = {"original": None, "routes": None}


def installed() -> bool:
    """Whether :func:`install` is in effect in this process."""
    return _STATE["routes"] is not None


def _resolve_target(plan: Plan, root: Path, target: str | os.PathLike[str] | None) -> Path | str:
    text = os.fspath(target) if target is not None else plan.target
    if is_postgres(text):
        return text  # a PostgreSQL URL: no file to resolve
    path = Path(text)
    return path if path.is_absolute() else root / path


def install(
    plan: Plan,
    root: str | os.PathLike[str] = ".",
    target: str | os.PathLike[str] | None = None,
    *,
    analysis: Analysis | None = None,
) -> None:
    """Route every ``sqlite3.connect`` of a migrated SQLite store to a legacy connection.

    A connect is routed when its path, resolved against the current directory as SQLite
    would, is the file of a store in the plan (also ``file:`` URIs; ``mode=ro`` opens the
    unified database read-only). Every other path, ``:memory:`` included, is left alone.
    Calling it again replaces the routes.

    Args:
        plan: The plan.
        root: The project root the plan's store paths are relative to.
        target: The unified database (a file, or a ``postgresql://`` URL); default the
            plan's target under ``root``.
        analysis: Optional; limits routing to stores the analysis found to be SQLite and
            gives exact legacy schema answers.
    """
    base = Path(os.path.realpath(root))
    stores: dict[str, str] = {}
    for store in plan.stores:
        if analysis is not None:
            try:
                if analysis.store(store).kind not in _ROUTE_KINDS:
                    continue
            except KeyError:
                pass
        if not store_map(plan, store, analysis).tables:
            continue
        stores[os.path.realpath(base / store)] = store
    routes = _Routes(plan, base, _resolve_target(plan, base, target), analysis, stores)
    with _LOCK:
        if _STATE["original"] is None:
            _STATE["original"] = sqlite3.connect
        _STATE["routes"] = routes
        sqlite3.connect = _routed_connect  # type: ignore[assignment]
        sqlite3.dbapi2.connect = _routed_connect  # type: ignore[assignment]


def uninstall() -> None:
    """Undo :func:`install`: ``sqlite3.connect`` is the original again."""
    with _LOCK:
        original = _STATE["original"]
        if original is not None:
            sqlite3.connect = original
            sqlite3.dbapi2.connect = original
        _STATE["original"] = None
        _STATE["routes"] = None


def _route(database: Any, uri: bool) -> tuple[str, bool] | None:
    routes: _Routes | None = _STATE["routes"]
    if routes is None:
        return None
    if isinstance(database, bytes):
        text = os.fsdecode(database)
    elif isinstance(database, (str, os.PathLike)):
        text = os.fspath(database)
    else:
        return None
    read_only = False
    if uri and text.startswith("file:"):
        body, _, query = text[5:].partition("?")
        body = body.partition("#")[0]
        params = parse_qs(query)
        mode = (params.get("mode") or [""])[-1]
        if mode == "memory" or body in ("", ":memory:"):
            return None
        read_only = mode == "ro"
        if body.startswith("//"):
            authority, _, rest = body[2:].partition("/")
            if authority not in ("", "localhost"):
                return None
            body = "/" + rest
        text = unquote(body)
    if text in ("", ":memory:"):
        return None
    real = os.path.realpath(text)
    store = routes.stores.get(real)
    if store is None:
        return None
    return store, read_only


def _routed_connect(database: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
    original: Callable[..., sqlite3.Connection] = _STATE["original"] or sqlite3.connect
    bound: dict[str, Any] = dict(zip(_CONNECT_ARGS, args, strict=False))
    bound.update(kwargs)
    routes: _Routes | None = _STATE["routes"]
    found = _route(database, bool(bound.get("uri", False)))
    if found is None or routes is None:
        return original(database, *args, **kwargs)
    store, read_only = found
    if bound.pop("uri", False):  # the URI's parameters: honoured, or refused by connect()
        read_only = uri_read_only(os.fsdecode(database)) or read_only
    return connect(
        store,
        routes.plan,
        routes.target,
        root=routes.root,
        analysis=routes.analysis,
        read_only=read_only,
        **bound,  # every other argument as given (autocommit included), or sqlite3's TypeError
    )


def install_from_env(environ: Mapping[str, str] | None = None) -> bool:
    """Install routing from ``DBFOLD_RUN_*`` variables (what the bootstrap calls).

    Returns:
        True if the variables were set and routing is now installed.
    """
    env = os.environ if environ is None else environ
    plan_file = env.get(ENV_PLAN)
    if not plan_file:
        return False
    plan = Plan.from_json(Path(plan_file).read_bytes())
    analysis = None
    if env.get(ENV_ANALYSIS):
        analysis = Analysis.from_json(Path(env[ENV_ANALYSIS]).read_bytes())
    install(plan, env.get(ENV_ROOT) or ".", env.get(ENV_TARGET) or None, analysis=analysis)
    return True


_BOOTSTRAP = '''"""dbfold run: route the legacy SQLite stores into the unified database."""

import os
import sys


def _dbfold_route():
    try:
        from dbfold.adapters.routing import install_from_env

        install_from_env()
    except Exception as exc:  # refuse to run against the legacy files by accident
        sys.stderr.write(f"dbfold run: cannot route the legacy stores: {exc}\\n")
        sys.stderr.flush()
        os._exit(2)


def _dbfold_chain():
    # Run the sitecustomize this one hides, if there is one further down the path.
    import importlib.machinery
    import importlib.util

    here = os.path.dirname(os.path.abspath(__file__))
    others = [p for p in sys.path if p and os.path.abspath(p) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", others)
    if spec is not None and spec.loader is not None:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)


if os.environ.get("DBFOLD_RUN_PLAN"):
    _dbfold_route()
_dbfold_chain()
'''


def run_legacy(
    command: Sequence[str],
    root: str | os.PathLike[str],
    plan: Plan,
    target: str | os.PathLike[str] | None = None,
    *,
    analysis: Analysis | None = None,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> int:
    """Run an unchanged program with its SQLite stores routed to the unified database.

    A temporary bootstrap folder holding a ``sitecustomize.py`` is put first on
    ``PYTHONPATH``; it installs the routing (:func:`install`) in every Python process the
    command starts, before the program's own code runs. A leading ``python``/``python3``
    is replaced by this interpreter, which has dbfold installed. If routing cannot be
    installed the child exits with status 2 instead of touching the legacy files.

    Args:
        command: The program and its arguments (``["python", "main.py", "report"]``).
        root: The project root.
        plan: The plan.
        target: The unified database; default the plan's target under ``root``.
        analysis: Optional analysis (exact legacy schema answers; SQLite stores only).
        cwd: Working directory of the program; default the current one.
        env: Environment; default this process's.

    Returns:
        The program's exit status.
    """
    if not command:
        raise AdapterError("no command to run; pass the program after --")
    base = Path(os.path.realpath(root))
    argv = list(command)
    if argv[0] in ("python", "python3"):
        argv[0] = sys.executable
    folder = Path(tempfile.mkdtemp(prefix="dbfold-run-"))
    try:
        (folder / "sitecustomize.py").write_text(_BOOTSTRAP, encoding="utf-8")
        (folder / "plan.json").write_bytes(plan.to_json())
        child = dict(os.environ if env is None else env)
        child[ENV_PLAN] = str(folder / "plan.json")
        child[ENV_ROOT] = str(base)
        child[ENV_TARGET] = str(_resolve_target(plan, base, target))
        if analysis is not None:
            (folder / "analysis.json").write_bytes(analysis.to_json())
            child[ENV_ANALYSIS] = str(folder / "analysis.json")
        else:
            child.pop(ENV_ANALYSIS, None)
        existing = child.get("PYTHONPATH")
        child["PYTHONPATH"] = os.pathsep.join([str(folder)] + ([existing] if existing else []))
        return subprocess.run(argv, cwd=cwd, env=child, check=False).returncode
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class LegacyAdapter:
    """Base of the adapters ``project_db.py`` declares, one per legacy interface.

    A subclass names the interface, the stores it uses (with their kinds) and carries the
    plan; :meth:`connect` opens the store the way the legacy code did, onto the unified
    database: a :class:`LegacyConnection` for SQLite, a :class:`JsonlLog` for JSON Lines and
    a :class:`JsonStore` for JSON, TinyDB and CSV.

    Args:
        target: The unified database: a path or a ``UnifiedDatabase`` (its ``path``).
        plan: The plan; default the class's ``PLAN``.
    """

    INTERFACE: ClassVar[str] = ""
    SOURCE: ClassVar[str] = ""
    STORES: ClassVar[Mapping[str, str]] = {}
    TABLES: ClassVar[tuple[str, ...]] = ()
    PLAN: ClassVar[Plan | None] = None

    def __init__(self, target: Any, plan: Plan | None = None) -> None:
        path = getattr(target, "path", target)
        self.target = Path(path)
        chosen = plan if plan is not None else type(self).PLAN
        if chosen is None:
            raise AdapterError(f"{type(self).__name__} has no plan; pass plan=")
        self.plan = chosen

    def _store(self, store: str | None) -> str:
        if store is not None:
            if store not in self.STORES:
                raise AdapterError(
                    f"{self.INTERFACE} does not use {store}; it uses {', '.join(self.STORES)}"
                )
            return store
        if len(self.STORES) != 1:
            raise AdapterError(
                f"{self.INTERFACE} uses {len(self.STORES)} stores; name one of "
                f"{', '.join(self.STORES) or 'none'}"
            )
        return next(iter(self.STORES))

    def connect(self, store: str | None = None, **kwargs: Any) -> Any:
        """Open ``store`` (default: the interface's only store) on the unified database."""
        name = self._store(store)
        kind = self.STORES[name]
        if kind == "sqlite":
            return connect(name, self.plan, self.target, **kwargs)
        if kind == "jsonl":
            return JsonlLog(name, self.plan, self.target, **kwargs)
        if kind in ("json", "tinydb", "csv"):
            return JsonStore(name, self.plan, self.target, **kwargs)
        raise AdapterError(f"{name} is a {kind} store; no adapter reads it (convert it first)")
