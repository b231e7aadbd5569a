"""``build_sample_project``: a messy, realistic project to run the whole pipeline on."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

from dbfold.demo import file_stores, sqlite_stores
from dbfold.demo.project import SampleProject
from dbfold.demo.rows import Sizer

#: Legacy class → the stores it opens (what a correct code scan reports).
INTERFACES: dict[str, tuple[str, ...]] = {
    "ActionTracker": ("data/tracking.db",),
    "CostTracker": ("data/costs.db",),
    "QualityTracker": ("data/quality.db",),
    "MetricsCollector": ("data/metrics.db",),
    "JobQueue": ("data/queue.db",),
    "CacheManager": ("cache/cache.db",),
    "SessionStore": ("cache/sessions",),
    "TempStore": ("tmp/temp.db",),
    "EventLog": ("logs/events.jsonl",),
    "UserStore": ("data/users.json",),
    "ArticleStore": ("data/articles.json",),
    "CostExporter": ("exports/costs.csv",),
    "SettingsStore": ("data/settings_db.json",),
}

#: Approximate bytes on disk per unit of ``scale`` (measured; see the module docs).
BYTES_PER_SCALE = 6_500_000


def build_sample_project(directory: Path, *, scale: float = 1.0, seed: int = 7) -> SampleProject:
    """Build the sample project in ``directory`` and describe what was built.

    The project is a content app that grew a tracker per feature: seven SQLite stores
    (two with WAL frames not yet checkpointed, one with free pages, one with foreign
    keys; ``events`` in two databases with different shapes; ``action_log`` in two with
    the same shape), JSON (array with nested records and late keys; id → record map),
    JSON Lines, CSV, a TinyDB file, a shelve, tool configuration that must be skipped,
    and the legacy Python code that uses them (``python main.py report|record``).

    The same ``seed`` and ``scale`` give byte-identical JSON, JSONL and CSV files and the
    same rows everywhere. ``scale`` multiplies row counts: 0.01 is a tiny fixture (about
    0.2 MB), 1 is about 6.5 MB and 65,000 rows, 100 about 640 MB and 6.4 million rows.
    Rows are streamed in batches, so memory stays flat (under 50 MB at scale 50).

    Args:
        directory: where to build; created if missing. Existing store files are replaced.
        scale: size multiplier (> 0).
        seed: random seed.

    Returns:
        The stores with exact row counts, the interfaces of the legacy code, and the files.

    Raises:
        ValueError: ``scale`` is not positive.
    """
    if not scale > 0:
        raise ValueError(f"scale must be positive, not {scale!r}")
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    _clear_stale(root)
    size = Sizer(scale)
    stores = [build(root, seed, size) for build in sqlite_stores.BUILDERS]
    stores += [build(root, seed, size) for build in file_stores.BUILDERS]
    config_files = file_stores.write_tool_config(root)
    code_files = tuple(_write_legacy(root))
    return SampleProject(
        root=root,
        scale=scale,
        seed=seed,
        stores=tuple(stores),
        interfaces=dict(INTERFACES),
        config_files=config_files,
        code_files=code_files,
    )


def _clear_stale(root: Path) -> None:
    """Remove store files a previous build left, so a rebuild starts from nothing."""
    for rel in ("data", "cache", "tmp", "logs", "exports"):
        folder = root / rel
        if folder.is_dir():
            for path in folder.iterdir():
                if path.is_file():
                    path.unlink()


def _write_legacy(root: Path) -> Iterator[str]:
    """Copy the legacy program (kept as ``*.py.txt`` data files) into the project."""
    base = resources.files("dbfold.demo").joinpath("legacy")
    for rel, source in sorted(_walk(base, "")):
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source, encoding="utf-8")
        yield rel


def _walk(folder: Traversable, prefix: str) -> Iterator[tuple[str, str]]:
    for entry in folder.iterdir():
        if entry.is_dir():
            yield from _walk(entry, f"{prefix}{entry.name}/")
        elif entry.name.endswith(".py.txt"):
            yield f"{prefix}{entry.name[: -len('.txt')]}", entry.read_text(encoding="utf-8")
