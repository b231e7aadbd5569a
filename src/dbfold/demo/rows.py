"""Deterministic building blocks for sample data: sizes, clock, vocabulary."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

#: 2024-01-01T00:00:00Z; sample data spans the first half of 2024 (no wall clock is read).
BASE_TS = 1_704_067_200
SPAN = 181 * 86_400

MODELS = (
    ("gpt-4o", "openai", 5.0, 15.0),
    ("gpt-4o-mini", "openai", 0.15, 0.6),
    ("claude-3-5-sonnet", "anthropic", 3.0, 15.0),
    ("claude-3-haiku", "anthropic", 0.25, 1.25),
    ("llama-3-70b", "groq", 0.59, 0.79),
    ("mistral-large", "mistral", 2.0, 6.0),
)
ACTIONS = ("generate", "edit", "publish", "review", "translate", "summarize", "tag", "delete")
# Some non-ASCII on purpose: encodings must survive the whole pipeline.
WORDS = (
    *("data", "python", "content", "model", "prompt", "article", "draft", "review", "quality"),
    *("metric", "cost", "token", "queue", "cache", "session", "user", "event", "action"),
    *("score", "launch", "growth", "search", "café", "naïve", "résumé", "数据", "über"),
    *("straße", "emoji🙂", "lorem", "ipsum", "dolor", "pipeline", "tracker", "budget"),
)
TAGS = ("ai", "seo", "howto", "news", "python", "data", "llm", "guide", "review", "opinion")
METRICS = ("latency_ms", "tokens_per_s", "queue_depth", "error_rate", "cache_hit_ratio")
EVENT_TYPES = ("page_view", "click", "signup", "share", "generate", "error")


@dataclass(frozen=True)
class Sizer:
    """Row counts for a scale: ``base`` rows per unit of scale, never below ``minimum``."""

    scale: float

    def __call__(self, base: int, minimum: int = 12) -> int:
        """Rows for a table with ``base`` rows at scale 1."""
        return max(minimum, round(base * self.scale))


def rng_for(seed: int, name: str) -> random.Random:
    """An independent generator per store, so adding one store does not shift the others."""
    return random.Random(f"dbfold-demo:{seed}:{name}")


def iso(ts: int) -> str:
    """UTC ISO-8601 with a ``Z``, second precision."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def stamp(i: int, n: int, rng: random.Random) -> int:
    """A timestamp for row ``i`` of ``n``: increasing over :data:`SPAN`, with jitter."""
    step = SPAN // max(n, 1)
    return BASE_TS + i * step + rng.randrange(max(step, 1))


def sentence(rng: random.Random, words: int) -> str:
    """``words`` words of filler text (with some non-ASCII on purpose)."""
    return " ".join(rng.choice(WORDS) for _ in range(words))
