"""Progress reporting seam: the library calls these; the CLI draws rich bars."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Receives progress of one copy at a time: start, advances, done."""

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
