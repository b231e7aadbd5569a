"""Progress reporting seam: the library calls these; the CLI draws rich bars."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol


class Progress(Protocol):
    """Receives progress of one copy (or one verification) at a time: start, advances, done.

    ``advance`` may be called from worker threads (verify checks sources two at a time).
    """

    def start(self, label: str, rows: int, nbytes: int) -> None:
        """A copy of about ``rows`` rows (``nbytes`` bytes of file, 0 if unknown) begins."""

    def advance(self, rows: int, nbytes: int) -> None:
        """``rows`` more rows (and ``nbytes`` more bytes) are done."""

    def done(self) -> None:
        """The current copy ended (committed or rolled back)."""


class NullProgress:
    """Progress that shows nothing."""

    def start(self, label: str, rows: int, nbytes: int) -> None:
        """Ignore."""

    def advance(self, rows: int, nbytes: int) -> None:
        """Ignore."""

    def done(self) -> None:
        """Ignore."""


class Throughput:
    """Rows and bytes done since a start, and their rate, safe to update from threads.

    >>> clock = iter([0.0, 2.0]).__next__
    >>> meter = Throughput(clock)
    >>> meter.add(1000, 3_000_000)
    >>> meter.rate_text()
    '1.5 MB/s'
    """

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.started = clock()
        self.rows = 0
        self.nbytes = 0

    def add(self, rows: int, nbytes: int) -> None:
        """Count ``rows`` more rows and ``nbytes`` more bytes."""
        with self._lock:
            self.rows += rows
            self.nbytes += nbytes

    def rate_text(self) -> str:
        """``12.3 MB/s`` when bytes are known, else ``45,000 rows/s``; '' before any."""
        secs = max(self._clock() - self.started, 1e-6)
        if self.nbytes:
            return f"{self.nbytes / secs / 1e6:.1f} MB/s"
        if self.rows:
            return f"{self.rows / secs:,.0f} rows/s"
        return ""
