"""Timestamps as the runtime stores them: ISO 8601 text in UTC, microsecond precision.

One fixed format keeps text comparisons (``deleted_at < ?``) equal to time comparisons.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

# The formatted date and time of the current second, as (second, text): the hot path
# (every operation stamps twice) then only formats the microseconds. One tuple, replaced
# whole, so threads never see a second paired with another second's text.
_second: tuple[int, str] = (-1, "")


def now_iso() -> str:
    """The current UTC time, e.g. ``2024-05-01T12:00:00.000000+00:00``.

    The same text ``datetime.now(timezone.utc).isoformat(timespec="microseconds")`` gives,
    at a fraction of its cost.
    """
    global _second
    seconds, nanos = divmod(time.time_ns(), 1_000_000_000)
    cached = _second
    if cached[0] != seconds:
        cached = _second = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(seconds)))
    return "%s%06d+00:00" % (cached[1], nanos // 1000)  # noqa: UP031 (f-string is slower)


def to_iso(moment: datetime) -> str:
    """Format a datetime in the stored form; a naive datetime is taken to be UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def cutoff_iso(older_than: timedelta | datetime) -> str:
    """Turn "older than a duration" or "before a moment" into a stored timestamp."""
    if isinstance(older_than, timedelta):
        return to_iso(datetime.now(timezone.utc) - older_than)
    return to_iso(older_than)


def stamp() -> str:
    """A compact UTC timestamp for file names, e.g. ``20240501T120000123456Z``."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")


__all__ = ["cutoff_iso", "now_iso", "stamp", "to_iso"]
