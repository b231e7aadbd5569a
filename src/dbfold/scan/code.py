"""Interfaces in the code: which classes and functions open which stores.

Static analysis only: every ``.py`` file is parsed with :mod:`ast`, never imported or run.
Each call that opens a store (see :mod:`dbfold.scan.code_calls`) is recorded as a
:class:`~dbfold.model.StoreUse` on its *unit*: the top-level class or function around it,
or the module. The path argument is evaluated statically (:mod:`dbfold.scan.code_eval`)
and matched against the stores found under the root.

Matching: a relative path depends on the working directory, so it is tried against the
root, the code file's folder and each folder between them (first match wins, in that
order); an absolute path, or one built from ``__file__``, is matched where it points.

Two best-effort rules follow paths across calls:

* **parameters** — when a path comes from a parameter without default (a base class's
  ``__init__(self, db_path)``, a helper ``connect(path)``), each call that passes it
  (``super().__init__(DB)``, ``Base.__init__(self, DB)``, ``Tracker(DB)``, ``connect(DB)``,
  ``self.open_db(DB)``) records the use on the caller's unit, with the argument evaluated
  there; the callee's own unresolved use is then not reported as a problem.
* **helpers** — a class or function that uses no store directly but holds SQL naming
  tables and calls a module-level function that opens a store gets that function's uses.

Cost: the work is that of parsing every file once, in bounded memory. :func:`parse_code`
parses each file (in worker processes for big trees, :mod:`dbfold.scan.code_facts`) and
keeps only verdicts: which files open stores, and filters of the names each file spells
and uses. :func:`find_interfaces` then parses again only the files that can matter: those
that open stores, the modules their paths come from (loaded on demand by the
:class:`~dbfold.scan.code_index.ProjectIndex`, which holds few at a time), and the files
that can call a function a path is passed to (:mod:`dbfold.scan.code_callers`). What it
finds is what a walk of every module finds.
"""

from __future__ import annotations

import ast
import os
import posixpath
import re
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from dbfold.model import Interface, Problem, StoreUse
from dbfold.scan.code_callers import CallSites, call_tokens
from dbfold.scan.code_calls import SQLITE_APIS, Site, find_openings, walk_calls
from dbfold.scan.code_eval import Evaluator, ParamRef, Scope, Val
from dbfold.scan.code_facts import Names, gather_facts
from dbfold.scan.code_index import Module, ProjectIndex, search_bases
from dbfold.scan.code_sql import tables_in

__all__ = ["CodeScan", "ParsedCode", "find_interfaces", "iter_python_files", "parse_code"]

#: Folders never searched for code: VCS data, environments, dependencies, build output.
SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "venv",
        ".venv",
        "env",
        "node_modules",
        "__pycache__",
        "build",
        "dist",
        ".dbfold",
        ".tox",
        ".nox",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        "site-packages",
    }
)
_SUFFIXES = {"shelve.open": (".db", ".dat", ".dir"), "dbm.open": (".db", ".dat", ".dir", ".pag")}
_SQLALCHEMY_URL = re.compile(r"^sqlite(\+\w+)?://(?P<rest>.*)$")
_MAX_HOPS = 4  # parameter chains followed through callers


@dataclass(frozen=True)
class CodeScan:
    """What :func:`find_interfaces` found: interfaces and the problems met on the way."""

    interfaces: tuple[Interface, ...]
    problems: tuple[Problem, ...]


@dataclass(frozen=True)
class ParsedCode:
    """The project's Python files, read once: what :func:`find_interfaces` starts from.

    Only verdicts are kept (see :mod:`dbfold.scan.code_facts`), not syntax trees: ``files``
    are the files that parse, in order, ``names`` what they spell and use, and ``openers``
    those of them that open stores.
    """

    index: ProjectIndex
    files: tuple[Path, ...]
    names: Names
    openers: tuple[Path, ...]
    problems: tuple[Problem, ...]


def parse_code(
    root: Path, *, files: Iterable[Path] | None = None, workers: int | None = None
) -> ParsedCode:
    """Read the Python files under ``root`` (or ``files``), without importing them.

    The costly half of :func:`find_interfaces`, which needs no store: it can run while the
    stores are being read. Big trees are read by ``workers`` processes besides this one
    (by default one fewer than the CPUs; 0 reads them here).
    """
    base = root.resolve()
    if files is None:
        paths = list(iter_python_files(base))
    else:
        paths = sorted({p if p.is_absolute() else base / p for p in files})
    problems: list[Problem] = []
    parsed: list[Path] = []
    spelled: list[bytes] = []
    used: list[bytes] = []
    openers: list[Path] = []
    for path, (problem, opens, spells, uses) in zip(
        paths, gather_facts(base, paths, workers=workers), strict=True
    ):
        if problem is not None:
            problems.append(problem)
        if spells is not None and uses is not None:
            parsed.append(path)
            spelled.append(spells)
            used.append(uses)
        if opens:
            openers.append(path)
    names = Names(spelled, used)
    return ParsedCode(ProjectIndex(base), tuple(parsed), names, tuple(openers), tuple(problems))


def find_interfaces(
    root: Path,
    store_paths: Collection[str],
    *,
    files: Iterable[Path] | None = None,
    parsed: ParsedCode | None = None,
) -> CodeScan:
    """Find the classes, functions and modules under ``root`` that open stores.

    Args:
        root: the project folder.
        store_paths: relative POSIX paths of the stores found under ``root``.
        files: the ``.py`` files to read (absolute, or relative to ``root``); by default every
            ``.py`` file under ``root`` outside VCS, virtualenv, dependency and build folders.
        parsed: those files already parsed by :func:`parse_code` (``files`` is then unused).

    Returns:
        The interfaces, ordered by file and line, and warnings for files that do not parse
        and for paths that cannot be resolved statically.
    """
    code = parsed if parsed is not None else parse_code(root, files=files)
    scan = _Scan(root.resolve(), frozenset(store_paths), code)
    return CodeScan(interfaces=scan.interfaces(), problems=code.problems + scan.problems())


def iter_python_files(root: Path) -> Iterator[Path]:
    """Every ``.py`` file under ``root`` in sorted order, skipping environments and caches."""
    for folder, dirs, names in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(
            d
            for d in dirs
            if d not in SKIP_DIRS
            and not d.endswith(".egg-info")
            and not (here / d / "pyvenv.cfg").exists()
        )
        for name in sorted(names):
            if name.endswith(".py"):
                yield here / name


@dataclass
class _Unit:
    """A class, top-level function or module being assembled into an Interface."""

    name: str
    kind: str
    path: str
    line: int
    tables: tuple[str, ...]  # read from the unit's code when it is met: no tree is kept
    uses: list[StoreUse] = field(default_factory=list)
    quiet: set[int] = field(default_factory=set)  # indexes of uses not to report


@dataclass(frozen=True)
class _Pending:
    """A use whose path is a parameter: waits for the callers that pass it."""

    api: str
    ref: ParamRef
    owner: _Unit
    index: int  # position of the unresolved use in ``owner.uses``
    hops: int


class _Scan:
    def __init__(self, root: Path, stores: frozenset[str], code: ParsedCode) -> None:
        self.root = root
        self.stores = stores
        self.index = code.index
        self.calls = CallSites(code.index, code.files, code.names)
        self.evaluator = Evaluator(code.index)
        self.units: dict[tuple[str, str], _Unit] = {}
        self.pending: list[_Pending] = []
        for path in code.openers:
            mod = self.index.load(path)
            if mod is None:  # changed since it was read: it is not Python any more
                continue
            for opening, site in find_openings(mod):
                scope = Scope(mod, site.cls, site.func, site.method, opening.call.lineno)
                self._record(mod, site, opening.api, opening.path, scope, 0)
        self._follow_parameters()
        self._follow_helpers()

    # -- recording -----------------------------------------------------------------------

    def _unit(self, mod: Module, site: Site) -> _Unit:
        node = site.unit
        key = (mod.rel, node.name if node is not None else "")
        if key not in self.units:
            if node is None:
                body = [s for s in mod.tree.body if not isinstance(s, _DEFS)]
                name = mod.name or mod.rel
                self.units[key] = _Unit(name, "module", mod.rel, 1, tables_in(body))
            else:
                kind = "class" if isinstance(node, ast.ClassDef) else "function"
                self.units[key] = _Unit(node.name, kind, mod.rel, node.lineno, tables_in([node]))
        return self.units[key]

    def _record(
        self, mod: Module, site: Site, api: str, path: ast.expr, scope: Scope, hops: int
    ) -> None:
        value = self.evaluator.evaluate(path, scope)
        missing = list(self.evaluator.missing)
        use = self._use(mod, api, path, value)
        if use is None:  # an in-memory database or a server URL: not a file store
            return
        unit = self._unit(mod, site)
        unit.uses.append(use)
        if value is None and len(missing) == 1 and hops < _MAX_HOPS:
            self.pending.append(_Pending(api, missing[0], unit, len(unit.uses) - 1, hops))

    def _use(self, mod: Module, api: str, path: ast.expr, value: Val | None) -> StoreUse | None:
        expression = ast.unparse(path)
        line = path.lineno
        text = value.value if value is not None else None
        if not isinstance(text, str):
            return StoreUse(api=api, line=line, expression=expression)
        located = _locate(api, text)
        if located is None:
            return None
        anchored = value is not None and value.anchored
        resolved, store, matched_from = self._match(api, located, anchored, mod.folder)
        return StoreUse(api, line, expression, resolved, store, matched_from)

    def _match(
        self, api: str, text: str, anchored: bool, folder: str
    ) -> tuple[str, str | None, str | None]:
        """(resolved path, matched store, base it matched from) for a static path."""
        suffixes = ("", *_SUFFIXES.get(api, ()))
        if posixpath.isabs(text):
            path = posixpath.normpath(text)
            root = self.root.as_posix()
            if path != root and not path.startswith(root.rstrip("/") + "/"):
                return path, None, None
            rel = posixpath.relpath(path, root)
            store = self._store(rel, suffixes)
            return rel, store, ("file" if anchored else "absolute") if store else None
        rel = posixpath.normpath(text)
        for base in search_bases(folder):
            candidate = posixpath.normpath(posixpath.join(base, rel)) if base else rel
            if candidate.startswith("../") or candidate == "..":
                continue
            store = self._store(candidate, suffixes)
            if store is not None:
                label = "root" if not base else ("file" if base == folder else base)
                return rel, store, label
        return rel, None, None

    def _store(self, path: str, suffixes: tuple[str, ...]) -> str | None:
        for suffix in suffixes:
            if path + suffix in self.stores:
                return path + suffix
        # A shelve named ``x`` may be listed as ``x.db`` or ``x.dat``; ``x`` itself may be
        # listed when the opener was given ``x.db``.
        if len(suffixes) > 1:
            stem, ext = posixpath.splitext(path)
            if ext in suffixes and stem in self.stores:
                return stem
        return None

    # -- following paths across calls ----------------------------------------------------

    def _follow_parameters(self) -> None:
        while self.pending:
            batch, self.pending = self.pending, []
            calls = self.calls.sites({item.ref.key[:3] for item in batch})
            for item in batch:
                sites = calls[item.ref.key[:3]]
                if sites:
                    item.owner.quiet.add(item.index)
                for mod, site, call, skip_self in sites:
                    arg = _bound_argument(item.ref, call, skip_self)
                    if arg is not None:
                        scope = Scope(mod, site.cls, site.func, site.method, call.lineno)
                        self._record(mod, site, item.api, arg, scope, item.hops + 1)

    def _follow_helpers(self) -> None:
        """Give SQL-holding units that call a store-opening module function its uses."""
        helpers = {
            (unit.path, unit.name): unit
            for unit in self.units.values()
            if unit.kind == "function" and any(u.store for u in unit.uses)
        }
        if not helpers:
            return
        keys = [(path, "", name) for path, name in helpers]
        for mod, tokens in self.calls.modules_calling(keys):
            candidates: dict[str, tuple[Site, list[tuple[int, _Unit]]]] = {}
            for node, site in walk_calls(mod):
                if site.unit is None:
                    continue
                if tokens.isdisjoint(call_tokens(node, mod)):
                    continue  # cannot reach a helper
                if (mod.rel, site.unit.name) in self.units:
                    continue
                for key, _ in self.calls.callees(node, mod, site):
                    helper = helpers.get((key[0], key[2])) if not key[1] else None
                    if helper is not None:
                        entry = candidates.setdefault(site.unit.name, (site, []))
                        entry[1].append((node.lineno, helper))
            for site, called in candidates.values():
                if site.unit is None or not tables_in([site.unit]):
                    continue
                unit = self._unit(mod, Site(site.unit))
                for line, helper in called:
                    for use in helper.uses:
                        if use.store:
                            unit.uses.append(
                                StoreUse(
                                    use.api,
                                    line,
                                    use.expression,
                                    use.resolved,
                                    use.store,
                                    use.matched_from,
                                )
                            )

    # -- results -------------------------------------------------------------------------

    def interfaces(self) -> tuple[Interface, ...]:
        found: list[Interface] = []
        for unit in self.units.values():
            uses = tuple(sorted(set(unit.uses), key=lambda u: (u.line, u.api, u.expression)))
            stores = tuple(sorted({u.store for u in uses if u.store}))
            found.append(
                Interface(
                    name=unit.name,
                    kind=unit.kind,
                    path=unit.path,
                    line=unit.line,
                    stores=stores,
                    tables=unit.tables,
                    uses=uses,
                )
            )
        found.sort(key=lambda i: (i.path, i.line, i.name))
        return tuple(found)

    def problems(self) -> tuple[Problem, ...]:
        found: list[Problem] = []
        for unit in self.units.values():
            for i, use in enumerate(unit.uses):
                if use.resolved is None and i not in unit.quiet:
                    message = (
                        f"{unit.path}:{use.line}: cannot resolve the path `{use.expression}` "
                        "statically; map it in the plan by hand"
                    )
                    found.append(Problem(unit.path, message, "warning", use.line))
        found.sort(key=lambda p: (p.path, p.line or 0, p.message))
        return tuple(dict.fromkeys(found))


_DEFS = (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def _locate(api: str, text: str) -> str | None:
    """The file path a static path argument names; None for in-memory and server stores."""
    if api == "sqlalchemy.create_engine":
        m = _SQLALCHEMY_URL.match(text)
        if m is None:
            return None  # postgresql://… and friends are not files in the project
        rest = m.group("rest").split("?", 1)[0]
        # ``sqlite:///rel.db`` → ``rel.db``; ``sqlite:////abs.db`` → ``/abs.db``.
        text = rest[1:] if rest.startswith("/") else rest
        if not text:
            return None  # ``sqlite://``: in memory
    elif api in SQLITE_APIS and text.startswith("file:"):
        path, _, query = text[len("file:") :].partition("?")
        if "mode=memory" in query:
            return None
        text = path.split("#", 1)[0]
        if text.startswith("//"):  # file:///abs/x.db (an empty authority)
            text = text[2:]
    if text in ("", ":memory:") and api in SQLITE_APIS | {"sqlalchemy.create_engine"}:
        return None  # private temporary or in-memory database
    return text


def _bound_argument(ref: ParamRef, call: ast.Call, skip_self: bool) -> ast.expr | None:
    """The argument ``call`` passes for ``ref.param``; None if it does not say."""
    params = [a.arg for a in ref.func.args.posonlyargs + ref.func.args.args]
    if skip_self and ref.cls is not None:
        params = params[1:]
    for i, arg in enumerate(call.args):
        if isinstance(arg, ast.Starred):
            return None
        if i < len(params) and params[i] == ref.param:
            return arg
    for kw in call.keywords:
        if kw.arg == ref.param:
            return kw.value
    return None
