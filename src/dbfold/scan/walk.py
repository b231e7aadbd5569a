"""Walk a project tree: every regular file that could be a store, nothing else.

Tool folders (version control, virtual environments, caches, build output, ``.dbfold``) are
pruned. Symbolic links are never followed outside the root; inside it they are reported at
their real path instead (so a file is never scanned twice and a link loop cannot trap the
walk). Folders and files that cannot be read, or that vanish while we look, become
:class:`~dbfold.model.Problem` entries and the walk goes on.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from dbfold.model import Problem, Skipped
from dbfold.scan.detect import folder_problem

#: Folder names never entered.
SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        ".bzr",
        "node_modules",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".hypothesis",
        ".tox",
        ".nox",
        "build",
        "dist",
        ".dbfold",
        ".eggs",
        "site-packages",
    }
)
#: Folder names that are virtual environments when they hold a ``pyvenv.cfg`` (or ``bin/python``).
VENV_NAMES = frozenset({"venv", ".venv", "env", ".env", "virtualenv"})

VANISHED = "vanished during the scan (deleted or moved by another program); re-run the scan"


def display(rel: str) -> str:
    """Make a path string valid UTF-8 for JSON output (undecodable bytes become ``\\xNN``).

    >>> display("caf\\udce9.json")
    'caf\\\\xe9.json'
    """
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        return rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return rel


@dataclass(frozen=True)
class FileEntry:
    """A regular file found by the walk.

    ``rel`` is the POSIX path relative to the root, already safe for JSON; ``siblings`` the
    names of the files in the same folder (to pair dbm ``.dir``/``.dat`` and SQLite ``-wal``).
    """

    path: Path
    rel: str
    size: int
    siblings: frozenset[str] = frozenset()


@dataclass
class WalkLog:
    """What the walk could not enter or chose not to."""

    problems: list[Problem] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def _is_venv(path: str, name: str) -> bool:
    if os.path.exists(os.path.join(path, "pyvenv.cfg")):
        return True
    return name in VENV_NAMES and os.path.exists(os.path.join(path, "bin", "python"))


def _skip_dir(name: str) -> bool:
    return name in SKIP_DIRS or name.endswith(".egg-info")


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def walk(root: Path, log: WalkLog) -> Iterator[FileEntry]:
    """Yield every regular file under ``root`` (sorted within each folder), depth first.

    Args:
        root: the project folder (resolved by the caller or here).
        log: receives problems (unreadable folders, vanished files, link loops) and skipped
            entries (links leaving the root, links inside it, broken links).
    """
    base = os.path.realpath(root)
    visited: set[tuple[int, int]] = set()
    stack: list[tuple[str, str]] = [(base, "")]
    while stack:
        path, rel = stack.pop()
        try:
            st = os.stat(path)
            key = (st.st_dev, st.st_ino)
            if key in visited:
                continue
            visited.add(key)
            with os.scandir(path) as it:
                entries = sorted(it, key=lambda e: e.name)
        except FileNotFoundError:
            log.problems.append(Problem(display(rel or "."), f"folder {VANISHED}"))
            continue
        except PermissionError:
            log.problems.append(
                Problem(
                    display(rel or "."),
                    "cannot read this folder (permission denied); grant read access or "
                    "exclude it, its stores were not analysed",
                )
            )
            continue
        except OSError as exc:
            log.problems.append(
                Problem(display(rel or "."), f"cannot read this folder ({exc.strerror or exc})")
            )
            continue
        names = frozenset(e.name for e in entries)
        subdirs: list[tuple[str, str]] = []
        for entry in entries:
            erel = f"{rel}/{entry.name}" if rel else entry.name
            try:
                if entry.is_symlink():
                    _symlink(entry.path, erel, base, log)
                    continue
                if entry.is_dir(follow_symlinks=False):
                    if _skip_dir(entry.name) or _is_venv(entry.path, entry.name):
                        continue
                    if (named := folder_problem(display(erel))) is not None:
                        log.problems.append(named)  # data/app.db/: a folder, not a database
                    subdirs.append((entry.path, erel))
                    continue
                est = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                log.problems.append(Problem(display(erel), VANISHED))
                continue
            except OSError as exc:
                log.problems.append(
                    Problem(display(erel), f"cannot examine this file ({exc.strerror or exc})")
                )
                continue
            if stat.S_ISREG(est.st_mode):
                yield FileEntry(Path(entry.path), display(erel), est.st_size, names)
        stack.extend(reversed(subdirs))


def _symlink(path: str, rel: str, base: str, log: WalkLog) -> None:
    """Record why a link is not followed: outside the root, a loop, broken, or a duplicate."""
    try:
        target = os.path.realpath(path, strict=True)
    except FileNotFoundError:
        log.skipped.append(Skipped(display(rel), "broken symbolic link (its target is missing)"))
        return
    except OSError as exc:
        if exc.errno == 40:  # ELOOP
            log.problems.append(
                Problem(
                    display(rel),
                    "symbolic link loop (the link points back to itself); not followed — "
                    "remove or fix the link",
                    severity="warning",
                )
            )
            return
        log.skipped.append(Skipped(display(rel), f"unreadable symbolic link ({exc})"))
        return
    if not _within(target, base):
        log.skipped.append(
            Skipped(
                display(rel),
                f"symbolic link to {display(target)}, outside the project; not followed",
            )
        )
        return
    link_dir = os.path.dirname(os.path.join(base, rel))
    target_rel = display(os.path.relpath(target, base).replace(os.sep, "/"))
    if os.path.isdir(target) and _within(link_dir, target):
        log.problems.append(
            Problem(
                display(rel),
                f"symbolic link loop: points to its own parent folder {target_rel!r}; not followed",
                severity="warning",
            )
        )
        return
    log.skipped.append(
        Skipped(display(rel), f"symbolic link to {target_rel}; analysed at that path")
    )
