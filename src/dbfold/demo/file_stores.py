"""The sample project's file stores: JSON, JSONL, CSV, TinyDB layout, shelve, tool config.

Text stores are written record by record with orjson (sorted keys where the layout allows
it), so the same seed and scale give byte-identical files and memory stays flat.
"""

from __future__ import annotations

import csv
import shelve
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from dbfold.demo.project import SampleStore, SampleTable
from dbfold.demo.rows import (
    EVENT_TYPES,
    MODELS,
    SPAN,
    TAGS,
    Sizer,
    iso,
    rng_for,
    sentence,
    stamp,
)


def _write_lines(path: Path, lines: Iterator[bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        for line in lines:
            f.write(line)


def build_articles(root: Path, seed: int, size: Sizer) -> SampleStore:
    """``data/articles.json``: an array of nested records; ``seo`` and ``translations`` keys
    first appear in the last 30% and 10% of records (a sampler reading the head misses them)."""
    rel = "data/articles.json"
    n, n_users = size(300, minimum=20), size(200)
    rng = rng_for(seed, rel)

    def records() -> Iterator[bytes]:
        yield b"[\n"
        for i in range(n):
            record: dict[str, Any] = {
                "id": i + 1,
                "slug": f"article-{i + 1}",
                "title": sentence(rng, rng.randint(3, 9)).capitalize(),
                "author": {
                    "id": f"u{rng.randint(1, n_users)}",
                    "role": rng.choice(("staff", "guest")),
                },
                "tags": rng.sample(TAGS, rng.randint(0, 4)),
                "status": rng.choice(("published", "published", "draft")),
                "word_count": rng.randint(200, 4000),
                "stats": {"views": rng.randint(0, 100_000), "likes": rng.randint(0, 5000)},
                "sections": [
                    {"heading": sentence(rng, 3), "words": rng.randint(50, 800)}
                    for _ in range(rng.randint(1, 4))
                ],
                "summary": sentence(rng, 12) if rng.random() > 0.2 else None,
                "created_at": iso(stamp(i, n, rng)),
            }
            if i >= n * 7 // 10:
                record["seo"] = {
                    "score": round(rng.uniform(0, 100), 1),
                    "keywords": rng.sample(TAGS, 3),
                }
            if i >= n * 9 // 10:
                record["translations"] = {"fr": sentence(rng, 4), "de": sentence(rng, 4)}
            yield b"  " + orjson.dumps(record) + (b",\n" if i < n - 1 else b"\n")
        yield b"]\n"

    _write_lines(root / rel, records())
    return SampleStore(rel, "json", (SampleTable("articles", n),), (rel,), ("nested", "late_keys"))


def build_users(root: Path, seed: int, size: Sizer) -> SampleStore:
    """``data/users.json``: an id → record map (``{"u1": {...}, ...}``)."""
    rel = "data/users.json"
    n = size(200)
    rng = rng_for(seed, rel)

    def entries() -> Iterator[bytes]:
        yield b"{\n"
        for i in range(n):
            user = {
                "name": sentence(rng, 2).title(),
                "email": f"user{i + 1}@example.com",
                "plan": rng.choice(("free", "free", "pro", "team")),
                "created_at": iso(stamp(i, n, rng)),
                "settings": {"theme": rng.choice(("dark", "light")), "digest": rng.random() > 0.5},
            }
            sep = b",\n" if i < n - 1 else b"\n"
            yield b'  "u' + str(i + 1).encode() + b'": ' + orjson.dumps(user) + sep
        yield b"}\n"

    _write_lines(root / rel, entries())
    return SampleStore(rel, "json", (SampleTable("users", n),), (rel,), ("map",))


def build_events(root: Path, seed: int, size: Sizer) -> SampleStore:
    """``logs/events.jsonl``: one event per line; ``session`` appears only after 60%."""
    rel = "logs/events.jsonl"
    n, n_users = size(8_000), size(200)
    rng = rng_for(seed, rel)

    def lines() -> Iterator[bytes]:
        for i in range(n):
            event: dict[str, Any] = {
                "ts": iso(stamp(i, n, rng)),
                "type": rng.choice(EVENT_TYPES),
                "user": f"u{rng.randint(1, n_users)}",
                "props": {"path": f"/a/{rng.randint(1, 300)}", "ms": rng.randint(5, 900)},
            }
            if i >= n * 6 // 10:
                event["session"] = f"s{rng.getrandbits(24):06x}"
            yield orjson.dumps(event, option=orjson.OPT_SORT_KEYS) + b"\n"

    _write_lines(root / rel, lines())
    return SampleStore(rel, "jsonl", (SampleTable("events", n),), (rel,), ("late_keys",))


def build_costs_csv(root: Path, seed: int, size: Sizer) -> SampleStore:
    """``exports/costs.csv``: a spreadsheet export of API costs."""
    rel = "exports/costs.csv"
    n = size(4_000)
    rng = rng_for(seed, rel)
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(("date", "model", "provider", "tokens_in", "tokens_out", "cost_usd"))
        for i in range(n):
            model, provider, price_in, price_out = rng.choice(MODELS)
            t_in, t_out = rng.randint(20, 4000), rng.randint(10, 2000)
            cost = (t_in * price_in + t_out * price_out) / 1_000_000
            writer.writerow(
                (iso(stamp(i, n, rng))[:10], model, provider, t_in, t_out, f"{cost:.6f}")
            )
    return SampleStore(rel, "csv", (SampleTable("costs", n),), (rel,), ())


def build_settings(root: Path, seed: int, size: Sizer) -> SampleStore:
    """``data/settings_db.json``: TinyDB's layout, table → {doc id → document}."""
    rel = "data/settings_db.json"
    rng = rng_for(seed, rel)
    n_prefs = size(50)
    defaults = {
        "1": {"key": "theme", "value": "dark"},
        "2": {"key": "default_model", "value": "gpt-4o-mini"},
        "3": {"key": "daily_budget_usd", "value": 25.0},
        "4": {"key": "languages", "value": ["en", "fr", "de"]},
        "5": {"key": "publish_hour", "value": 9},
    }
    prefs = {
        str(i + 1): {
            "user": f"u{i + 1}",
            "notify": rng.random() > 0.3,
            "digest": rng.choice(("daily", "weekly")),
        }
        for i in range(n_prefs)
    }
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps({"_default": defaults, "prefs": prefs}))
    tables = (SampleTable("_default", len(defaults)), SampleTable("prefs", n_prefs))
    return SampleStore(rel, "tinydb", tables, (rel,), ("tinydb",))


def build_sessions(root: Path, seed: int, size: Sizer) -> SampleStore:
    """``cache/sessions``: a shelve (the stdlib picks the dbm backend and file names)."""
    rel = "cache/sessions"
    n = size(100)
    rng = rng_for(seed, rel)
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    with shelve.open(str(path), flag="n") as db:
        for i in range(n):
            db[f"sess-{i + 1:05d}"] = {
                "user": f"u{rng.randint(1, 200)}",
                "created": stamp(i, n, rng),
                "cart": rng.sample(TAGS, rng.randint(0, 3)),
                "ttl": SPAN // 10,
            }
    files = tuple(sorted(p.relative_to(root).as_posix() for p in path.parent.glob(path.name + "*")))
    return SampleStore(rel, "shelve", (SampleTable("sessions", n),), files, ())


def write_tool_config(root: Path) -> tuple[str, ...]:
    """JSON files that belong to tools, not to the app: a scan must skip them."""
    files = {
        "package.json": {
            "name": "content-studio",
            "version": "2.3.0",
            "private": True,
            "scripts": {"build": "vite build", "dev": "vite"},
            "dependencies": {"vite": "^5.2.0"},
        },
        ".vscode/settings.json": {
            "python.defaultInterpreterPath": ".venv/bin/python",
            "editor.formatOnSave": True,
        },
    }
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")
    return tuple(files)


BUILDERS = (
    build_articles,
    build_users,
    build_events,
    build_costs_csv,
    build_settings,
    build_sessions,
)
