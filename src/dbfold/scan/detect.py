"""Decide what a file is from its first bytes (and, only as a tie-breaker, its name).

:func:`detect` returns a :class:`Detection`: a store kind, a reason to skip the file, or
nothing at all for files that are not data (source code, images …), which stay silent.
"""

from __future__ import annotations

import csv
import fnmatch
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson

from dbfold.model import Problem

if TYPE_CHECKING:  # the walk asks folder_problem() of each folder: no import cycle
    from dbfold.scan.walk import FileEntry

SQLITE_MAGIC = b"SQLite format 3\x00"
HEAD_BYTES = 8192

SQLITE_EXTS = (".db", ".sqlite", ".sqlite3", ".db3", ".sdb")
COMPANIONS = ("-wal", "-shm", "-journal")
JSONL_EXTS = (".jsonl", ".ndjson", ".jsonlines", ".ldjson")
CSV_EXTS = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".psv": "|"}
PICKLE_EXTS = (".pkl", ".pickle")
#: Extensions of files that are never data stores, whatever they start with.
NOT_DATA_EXTS = frozenset(
    [
        ".py",
        ".pyi",
        ".pyc",
        ".pyx",
        ".js",
        ".mjs",
        ".cjs",
        ".ts",
        ".tsx",
        ".jsx",
        ".md",
        ".rst",
        ".html",
        ".htm",
        ".css",
        ".scss",
        ".yaml",
        ".yml",
        ".toml",
        ".ini",
        ".cfg",
        ".conf",
        ".xml",
        ".sh",
        ".bash",
        ".zsh",
        ".c",
        ".h",
        ".cpp",
        ".hpp",
        ".rs",
        ".go",
        ".java",
        ".kt",
        ".rb",
        ".php",
        ".sql",
        ".svg",
        ".png",
        ".jpg",
        ".jpeg",
        ".gif",
        ".ico",
        ".pdf",
        ".zip",
        ".gz",
        ".bz2",
        ".xz",
        ".tar",
        ".whl",
        ".so",
        ".dll",
        ".exe",
        ".lock",
        ".map",
        ".ipynb",
        ".env",
        ".gitignore",
        ".txt~",
    ]
)
#: Files whose content is sniffed for JSON/CSV although their extension says nothing.
SNIFF_EXTS = frozenset({"", ".txt", ".dat", ".data", ".log", ".out", ".json5", ".records"})

#: (glob on the file name, reason) — tool configuration that merely looks like data.
CONFIG_FILES: tuple[tuple[str, str], ...] = (
    ("package.json", "npm package manifest"),
    ("package-lock.json", "npm lock file"),
    ("npm-shrinkwrap.json", "npm lock file"),
    ("composer.json", "PHP Composer manifest"),
    ("composer.lock", "PHP Composer lock file"),
    ("tsconfig*.json", "TypeScript configuration"),
    ("jsconfig*.json", "JavaScript configuration"),
    (".eslintrc*", "ESLint configuration"),
    (".prettierrc*", "Prettier configuration"),
    (".babelrc*", "Babel configuration"),
    ("babel.config.json", "Babel configuration"),
    ("renovate.json", "Renovate configuration"),
    (".renovaterc*", "Renovate configuration"),
    ("*.code-workspace", "VS Code workspace"),
    ("manifest.json", "web or extension manifest"),
    ("*.webmanifest", "web manifest"),
    ("*.ipynb", "Jupyter notebook"),
    ("pyproject.toml", "Python project configuration"),
    ("Pipfile", "Pipenv configuration"),
    ("Pipfile.lock", "Pipenv lock file"),
    ("poetry.lock", "Poetry lock file"),
    ("*.lock", "lock file"),
    ("*-lock.json", "lock file"),
    ("bower.json", "Bower manifest"),
    ("lerna.json", "Lerna configuration"),
    ("nx.json", "Nx configuration"),
    ("turbo.json", "Turborepo configuration"),
    ("vercel.json", "Vercel configuration"),
    ("now.json", "Vercel configuration"),
    ("firebase.json", "Firebase configuration"),
    ("app.json", "application configuration"),
    ("angular.json", "Angular configuration"),
    ("deno.json", "Deno configuration"),
    ("deno.jsonc", "Deno configuration"),
    (".jshintrc", "JSHint configuration"),
    (".stylelintrc*", "Stylelint configuration"),
    ("devcontainer.json", "dev container configuration"),
    (".devcontainer.json", "dev container configuration"),
    ("*.schema.json", "JSON Schema"),
    (".mcp.json", "tool configuration"),
    ("*.tsbuildinfo", "TypeScript build cache"),
)
CONFIG_DIRS = {".vscode": "VS Code settings", ".idea": "JetBrains IDE settings"}


@dataclass(frozen=True)
class Detection:
    """What a file is: ``kind`` (a store kind) or ``skip`` (a reason), or neither."""

    kind: str | None = None
    skip: str | None = None
    encoding: str | None = None
    companions: tuple[str, ...] = ()  # sibling file names that belong to this store
    store_name: str | None = None  # for dbm: the name code opens (without .dat/.dir)


NOTHING = Detection()


def config_reason(rel: str) -> str | None:
    """Why ``rel`` is tool configuration rather than a store, or None.

    >>> config_reason("web/package.json")
    'npm package manifest'
    >>> config_reason("data/users.json") is None
    True
    """
    parts = rel.split("/")
    name = parts[-1]
    if name.lower().endswith((".json", ".jsonc")):
        for d in parts[:-1]:
            if d in CONFIG_DIRS:
                return CONFIG_DIRS[d]
    for pattern, reason in CONFIG_FILES:
        if fnmatch.fnmatchcase(name, pattern):
            return reason
    return None


def folder_problem(rel: str) -> Problem | None:
    """What to say of a folder named like a SQLite database (``data/app.db/``), or None.

    Code that opens that path with sqlite3 fails (``unable to open database file``), and
    there is no database to migrate; whatever files it holds are analysed on their own.

    >>> print(folder_problem("data/app.db").message)  # doctest: +NORMALIZE_WHITESPACE
    data/app.db: a folder, not a SQLite database file, although named like one (sqlite3
    cannot open it: "unable to open database file"); if code expects a database here,
    rename or remove the folder — any files in it are analysed on their own
    >>> folder_problem("data/exports") is None
    True
    """
    if os.path.splitext(rel)[1].lower() not in SQLITE_EXTS:
        return None
    return Problem(
        rel,
        f"{rel}: a folder, not a SQLite database file, although named like one (sqlite3 "
        'cannot open it: "unable to open database file"); if code expects a database here, '
        "rename or remove the folder — any files in it are analysed on their own",
        severity="warning",
    )


def _gdbm_magic(head: bytes) -> bool:
    return len(head) >= 4 and head[:4] in (
        b"\x13\x57\x9a\xce",
        b"\xce\x9a\x57\x13",
        b"\x13\x57\x9a\xcd",
        b"\xcd\x9a\x57\x13",
        b"\x13\x57\x9a\xcf",
        b"\xcf\x9a\x57\x13",
    )


def _bdb_magic(head: bytes) -> bool:
    magic = head[12:16]
    return magic in (
        b"\x00\x06\x15\x61",
        b"\x61\x15\x06\x00",
        b"\x00\x05\x31\x62",
        b"\x62\x31\x05\x00",
    )


def is_pickle(head: bytes) -> bool:
    """True for a pickle stream of protocol 2 to 5 (``\\x80`` then the protocol byte)."""
    return len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def _decode_head(head: bytes) -> tuple[str | None, str | None]:
    """Return (text, encoding) for UTF-8 text, or (None, None)."""
    enc = "utf-8"
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
        enc = "utf-8-sig"
    if b"\x00" in head:
        return None, None
    try:
        return head.decode("utf-8"), enc
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 3:  # a character cut by the sample's end
            return head[: exc.start].decode("utf-8"), enc
        # Mostly text with a few bad bytes is still a text store (the reader reports them).
        text = head.decode("utf-8", "replace")
        if text.count("\ufffd") * 100 < len(text):
            return text, enc
        return None, None


def detect(entry: FileEntry, head: bytes) -> Detection:
    """Classify one file from its first bytes (``head``, up to :data:`HEAD_BYTES`)."""
    name = entry.path.name
    low = name.lower()
    ext = os.path.splitext(low)[1]
    for suffix in COMPANIONS:
        if name.endswith(suffix):
            owner = name[: -len(suffix)]
            if owner in entry.siblings:
                return Detection(skip=f"SQLite {suffix[1:]} file of {owner}; read with it")
            if suffix != "-journal" and head[:4] in (b"\x37\x7f\x06\x82", b"\x37\x7f\x06\x83"):
                return Detection(skip="SQLite write-ahead log whose database is missing")
    if head.startswith(SQLITE_MAGIC):
        from dbfold.scan.kv_reader import is_dbm_sqlite3  # kv_reader imports this module

        if is_dbm_sqlite3(entry.path, head, f"{name}-wal" in entry.siblings):
            return Detection(kind="dbm", store_name=name)  # Python 3.13's dbm/shelve default
        return Detection(kind="sqlite")
    reason = config_reason(entry.rel)
    if reason is not None:
        return Detection(skip=f"{reason}, not a data store")
    if entry.size == 0:
        if ext in SQLITE_EXTS:
            return Detection(kind="sqlite")
        if ext == ".json" or ext in JSONL_EXTS or ext in CSV_EXTS:
            return Detection(kind=_kind_for_ext(ext), encoding="utf-8")
        return NOTHING
    # dbm.dumb: NAME.dat + NAME.dir (+ NAME.bak); the store is the .dir index.
    if ext in (".dir", ".dat", ".bak"):
        stem = name[: -len(ext)]
        if f"{stem}.dir" in entry.siblings and f"{stem}.dat" in entry.siblings:
            if ext == ".dir":
                comps = tuple(
                    f"{stem}{e}" for e in (".dat", ".bak") if f"{stem}{e}" in entry.siblings
                )
                return Detection(kind="dbm", companions=comps, store_name=stem)
            return Detection(skip=f"part of the dbm database {stem} (read with {stem}.dir)")
    if _gdbm_magic(head) or _bdb_magic(head):
        store_name = name[:-3] if ext == ".db" and _bdb_magic(head) else name
        return Detection(kind="dbm", store_name=store_name)
    if is_pickle(head) or ext in PICKLE_EXTS:
        return Detection(kind="pickle")
    if ext in SQLITE_EXTS:
        return Detection(kind="sqlite")  # the reader explains why it is not readable
    if ext in NOT_DATA_EXTS:
        return NOTHING
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        if ext in (".json", *JSONL_EXTS, *CSV_EXTS):
            return Detection(kind=_kind_for_ext(ext), encoding="utf-16")
        return NOTHING
    text, enc = _decode_head(head)
    if text is None:
        if ext in (".json", *JSONL_EXTS, *CSV_EXTS):
            return Detection(kind=_kind_for_ext(ext), encoding="utf-8")
        return NOTHING
    stripped = text.lstrip()
    if ext == ".json":
        return Detection(kind="json", encoding=enc)
    if ext in JSONL_EXTS:
        return Detection(kind="jsonl", encoding=enc)
    if ext in CSV_EXTS:
        return Detection(kind="csv", encoding=enc)
    if ext not in SNIFF_EXTS:
        return NOTHING
    if stripped[:1] in ("[", "{"):
        return _sniff_json(stripped, entry, enc)
    if _looks_like_csv(text):
        return Detection(kind="csv", encoding=enc)
    return NOTHING


def _kind_for_ext(ext: str) -> str:
    if ext in JSONL_EXTS:
        return "jsonl"
    if ext in CSV_EXTS:
        return "csv"
    return "json"


def _sniff_json(text: str, entry: FileEntry, enc: str | None) -> Detection:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    complete = lines[:-1] if len(text.encode()) < entry.size else lines
    if len(complete) >= 2:
        try:
            for ln in complete[:2]:
                orjson.loads(ln)
        except orjson.JSONDecodeError:
            pass
        else:
            return Detection(kind="jsonl", encoding=enc)
    if entry.size <= len(text.encode()) + 3:
        try:
            orjson.loads(text)
        except orjson.JSONDecodeError:
            return NOTHING
        return Detection(kind="json", encoding=enc)
    # A big file starting like JSON: trust it when the first line is not prose.
    return Detection(kind="json", encoding=enc) if text[:1] in "[{" else NOTHING


def _looks_like_csv(text: str) -> bool:
    """Strict: ≥ 3 lines, one delimiter, the same field count (≥ 2) on every line, a header."""
    lines = [ln for ln in text.splitlines() if ln.strip()][:50]
    if len(lines) < 3:
        return False
    sample = "\n".join(lines[:-1] if len(lines) > 3 else lines)
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",\t;|")
    except csv.Error:
        return False
    rows = list(csv.reader(sample.splitlines(), dialect))
    widths = {len(r) for r in rows}
    if len(widths) != 1 or widths.pop() < 2:
        return False
    try:
        return csv.Sniffer().has_header(sample)
    except csv.Error:
        return False
