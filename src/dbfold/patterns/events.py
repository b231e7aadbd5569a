"""``EventDatabase``: append-only event streams, system events and consumers in one database.

A subclass of :class:`~dbfold.runtime.UnifiedDatabase` that adds built-in ``dbfold_event*``
tables beside the user's own ``get_schema()``::

    class AppDatabase(EventDatabase):
        SCHEMA_VERSION = "1.0.0"

        def get_schema(self) -> str:
            return "CREATE TABLE balances (account TEXT PRIMARY KEY, amount INTEGER);"

    db = AppDatabase("data/unified.db")
    db.append("account-1", [NewEvent("deposited", {"amount": 10})], expected_version=NO_STREAM)
    db.track("job.failed", source="worker-3", subject="nightly", severity="error")
    db.consume("balances", lambda event: ...)  # exactly once for effects in this database

The guarantees, and what gives each:

* **Global order without gaps behind a reader.** Every event has a ``position``: a counter
  kept in ``dbfold_event_streams`` (the ``$all`` row), raised in the appending transaction.
  On SQLite a write transaction holds the database's only write lock from ``BEGIN
  IMMEDIATE`` to ``COMMIT``, and the position is taken inside it, so transactions commit in
  position order: a reader that has seen position *p* can never later find a newly
  committed event below *p*. (That is the bug peers have where positions come from a
  sequence taken before commit, so a slower transaction commits a lower position after a
  reader moved past it.) On PostgreSQL the runtime's transactions take one advisory lock,
  which gives the same order as long as every append goes through :meth:`append`.
* **Positions are never reused**, not even after the newest events are pruned: the counter
  only moves forward (a trigger refuses lowering it or deleting its row), and a trigger
  refuses inserting an event at or below it. A rowid would restart after the highest row is
  deleted.
* **Stored events are immutable.** Triggers refuse every UPDATE of ``dbfold_events`` and
  every DELETE outside :meth:`prune`, which opens a gate row inside its own transaction (no
  other connection can see it open). Anyone with a raw connection can still drop the
  triggers or open the gate by hand; the triggers stop mistakes, not an owner.
* **Exactly-once effects for consumers**: :meth:`consume` runs the handler's writes and the
  consumer's checkpoint in one transaction per batch.

The built-in tables are created with ``IF NOT EXISTS`` when the database opens (as the
runtime's own ``dbfold_operations`` is), so a database made by a plain ``UnifiedDatabase``
gains them when first opened as an ``EventDatabase``; the schema reconciler leaves every
``dbfold_`` name alone.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from dbfold.errors import ConcurrencyError, RuntimeDatabaseError
from dbfold.runtime import UnifiedDatabase
from dbfold.runtime.jsoncols import dump_json, load_json
from dbfold.runtime.timeutil import cutoff_iso, now_iso


class ExpectedVersion(enum.Enum):
    """What an append expects of its stream, besides an exact version number."""

    #: Append whatever the stream's version.
    ANY = "any"
    #: The stream must not exist yet (the same as expected version 0).
    NO_STREAM = "no_stream"
    #: The stream must already hold at least one event.
    STREAM_EXISTS = "stream_exists"


ANY = ExpectedVersion.ANY
NO_STREAM = ExpectedVersion.NO_STREAM
STREAM_EXISTS = ExpectedVersion.STREAM_EXISTS

#: Severities of tracked events, lowest first (``find_events(min_severity=…)`` uses this).
SEVERITIES = ("debug", "info", "notice", "warning", "error", "critical")

#: Streams starting with ``$`` are dbfold's: ``$all`` holds the position counter and
#: ``$track:<source>`` the events :meth:`EventDatabase.track` records.
_ALL = "$all"
_TRACK = "$track:"

EVENTS_DDL = """
CREATE TABLE IF NOT EXISTS dbfold_events (
    position INTEGER PRIMARY KEY,
    stream TEXT NOT NULL,
    version INTEGER NOT NULL,
    type TEXT NOT NULL,
    data JSON,
    metadata JSON,
    event_id TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    source TEXT,
    subject TEXT,
    severity TEXT,
    UNIQUE (stream, version)
);
CREATE INDEX IF NOT EXISTS dbfold_events_type ON dbfold_events (type, position);
CREATE UNIQUE INDEX IF NOT EXISTS dbfold_events_source_id
    ON dbfold_events (source, event_id) WHERE source IS NOT NULL;
CREATE TABLE IF NOT EXISTS dbfold_event_streams (
    stream TEXT PRIMARY KEY,
    version INTEGER NOT NULL
);
INSERT OR IGNORE INTO dbfold_event_streams (stream, version) VALUES ('$all', 0);
CREATE TABLE IF NOT EXISTS dbfold_event_consumers (
    consumer TEXT PRIMARY KEY,
    position INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dbfold_event_retention (
    types TEXT PRIMARY KEY,
    max_age REAL,
    max_count INTEGER
);
CREATE TABLE IF NOT EXISTS dbfold_event_gate (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    pruning INTEGER NOT NULL DEFAULT 0
);
INSERT OR IGNORE INTO dbfold_event_gate (id, pruning) VALUES (1, 0);
CREATE TRIGGER IF NOT EXISTS dbfold_events_no_update BEFORE UPDATE ON dbfold_events
BEGIN
    SELECT RAISE(ABORT, 'dbfold_events is append-only: stored events cannot be changed');
END;
CREATE TRIGGER IF NOT EXISTS dbfold_events_no_delete BEFORE DELETE ON dbfold_events
WHEN (SELECT pruning FROM dbfold_event_gate WHERE id = 1) IS NOT 1
BEGIN
    SELECT RAISE(ABORT, 'dbfold_events is append-only: remove events with prune()');
END;
CREATE TRIGGER IF NOT EXISTS dbfold_events_forward BEFORE INSERT ON dbfold_events
WHEN NEW.position <= (SELECT version FROM dbfold_event_streams WHERE stream = '$all')
BEGIN
    SELECT RAISE(ABORT, 'dbfold_events positions are never reused: append through append()');
END;
CREATE TRIGGER IF NOT EXISTS dbfold_event_streams_forward
BEFORE UPDATE OF version ON dbfold_event_streams WHEN NEW.version < OLD.version
BEGIN
    SELECT RAISE(ABORT, 'stream versions and positions only move forward');
END;
CREATE TRIGGER IF NOT EXISTS dbfold_event_streams_kept BEFORE DELETE ON dbfold_event_streams
BEGIN
    SELECT RAISE(ABORT, 'stream versions and positions only move forward');
END;
"""

#: Every object :data:`EVENTS_DDL` creates; opening checks these before taking the lock.
_OBJECTS = (
    "dbfold_events",
    "dbfold_events_type",
    "dbfold_events_source_id",
    "dbfold_event_streams",
    "dbfold_event_consumers",
    "dbfold_event_retention",
    "dbfold_event_gate",
    "dbfold_events_no_update",
    "dbfold_events_no_delete",
    "dbfold_events_forward",
    "dbfold_event_streams_forward",
    "dbfold_event_streams_kept",
)

_INSERT = (
    "INSERT INTO dbfold_events (position, stream, version, type, data, metadata, event_id, "
    "recorded_at, source, subject, severity) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_COLUMNS = "position, stream, version, type, data, metadata, event_id, recorded_at"


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append.

    Attributes:
        type: What happened, e.g. ``"order.placed"``.
        data: Any JSON value.
        metadata: Any JSON value (correlation ids, the user …).
        event_id: A unique id; default a new random UUID.
    """

    type: str
    data: Any = None
    metadata: Any = None
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """A stored event.

    Attributes:
        stream: Its stream.
        version: Its number in the stream (1 for the first).
        position: Its place in the global order (1 for the first; never reused).
        type: What happened.
        data: The JSON value appended.
        metadata: The JSON value appended (for tracked events: source, subject, severity).
        event_id: Its id.
        recorded_at: When it was stored (aware, UTC).
    """

    stream: str
    version: int
    position: int
    type: str
    data: Any
    metadata: Any
    event_id: str
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What an append did.

    Attributes:
        version: The stream's version afterwards (0: the stream does not exist).
        first_position: The first new event's position (0 when nothing was appended).
        last_position: The last new event's position (0 when nothing was appended).
    """

    version: int
    first_position: int
    last_position: int


@dataclass(frozen=True, slots=True)
class TrackedEvent:
    """A system event recorded by :meth:`EventDatabase.track`, shaped after CloudEvents.

    Attributes:
        id: Unique together with ``source``.
        source: What produced it (a service, a host, a job).
        type: What happened.
        subject: What it is about, within the source.
        data: Any JSON value.
        severity: One of :data:`SEVERITIES`.
        time: When it was recorded (aware, UTC).
        position: Its place in the global order (tracked events are in ``read_all`` too).
    """

    id: str
    source: str
    type: str
    subject: str | None
    data: Any
    severity: str
    time: datetime
    position: int

    def to_cloudevent(self) -> dict[str, Any]:
        """The event as a CloudEvents 1.0 structured-mode dict (``severity`` an extension).

        >>> when = datetime.fromisoformat("2024-01-01T00:00:00+00:00")
        >>> TrackedEvent("1", "svc", "t", None, None, "info", when, 7).to_cloudevent()["time"]
        '2024-01-01T00:00:00+00:00'
        """
        event: dict[str, Any] = {
            "specversion": "1.0",
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "time": self.time.isoformat(),
            "severity": self.severity,
        }
        if self.subject is not None:
            event["subject"] = self.subject
        if self.data is not None:
            event["datacontenttype"] = "application/json"
            event["data"] = self.data
        return event


def _new_ids(count: int) -> list[str]:
    """``count`` random (version 4) UUIDs as text.

    Made from one ``os.urandom`` call for the whole batch: ``str(uuid.uuid4())`` per event
    costs four times as much, which was a fifth of an append's whole time.

    >>> [(len(text), text[14]) for text in _new_ids(2)]
    [(36, '4'), (36, '4')]
    """
    raw = bytearray(os.urandom(16 * count))
    raw[6::16] = bytes(byte & 0x0F | 0x40 for byte in raw[6::16])  # version 4
    raw[8::16] = bytes(byte & 0x3F | 0x80 for byte in raw[8::16])  # RFC 4122 variant
    h = raw.hex()
    return [
        f"{h[k : k + 8]}-{h[k + 8 : k + 12]}-{h[k + 12 : k + 16]}-"
        f"{h[k + 16 : k + 20]}-{h[k + 20 : k + 32]}"
        for k in range(0, 32 * count, 32)
    ]


def _json(value: Any) -> str | None:
    return None if value is None else dump_json(value)


def _load(text: Any) -> Any:
    return None if text is None else load_json(text)


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _event(row: Any) -> RecordedEvent:
    return RecordedEvent(
        row[1], row[2], row[0], row[3], _load(row[4]), _load(row[5]), row[6], _moment(row[7])
    )


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" * len(values))


class EventDatabase(UnifiedDatabase):
    """A unified database with event streams, tracked system events and consumers.

    Takes the same arguments as :class:`~dbfold.runtime.UnifiedDatabase`; subclass it and
    add ``SCHEMA_VERSION`` and ``get_schema()`` for your own tables.

    Raises:
        RuntimeDatabaseError: On PostgreSQL, which the events pattern does not support yet.
    """

    def __init__(self, target: str | Path | None = None, **options: Any) -> None:
        super().__init__(target, **options)
        try:
            self._install_events()
        except BaseException:
            self.close()
            raise

    def _install_events(self) -> None:
        if self._pg:
            raise RuntimeDatabaseError(
                f"{self.location}: EventDatabase runs on SQLite only for now; use a SQLite target"
            )
        found = self.scalar(
            f"SELECT count(*) FROM sqlite_master WHERE name IN ({_marks(_OBJECTS)})", _OBJECTS
        )
        if found != len(_OBJECTS):
            # Several processes may open a new database at once: the script runs in one
            # BEGIN IMMEDIATE transaction and every statement is idempotent.
            self.executescript(EVENTS_DDL)

    # -- streams --------------------------------------------------------------------------

    def append(
        self,
        stream: str,
        events: Iterable[NewEvent | Mapping[str, Any]],
        *,
        expected_version: int | ExpectedVersion = ANY,
    ) -> AppendResult:
        """Append events to a stream, atomically.

        Args:
            stream: The stream's name (names starting with ``$`` are reserved).
            events: :class:`NewEvent` objects or dicts with ``type`` and optionally
                ``data``, ``metadata`` and ``event_id``.
            expected_version: The stream's version now (0: no stream), or :data:`ANY`,
                :data:`NO_STREAM`, :data:`STREAM_EXISTS`.

        Returns:
            The stream's new version and the new events' positions. An empty append
            writes nothing and returns the current version with positions 0 (the expected
            version is still checked).

        Raises:
            ConcurrencyError: The expected version does not hold; nothing was written.
            RuntimeDatabaseError: A malformed event, stream name or expected version.
        """
        if not isinstance(stream, str) or not stream or stream.startswith("$"):
            raise RuntimeDatabaseError(
                f"{self.location}: stream name {stream!r} is empty or starts with '$' "
                "(reserved for dbfold's own streams); choose another name"
            )
        _check_expected(expected_version)
        # Encode before taking the write lock, so that other writers are not kept waiting.
        now = now_iso()
        batch = list(events)
        ids = iter(_new_ids(len(batch)))
        rows = [_prepare(event, now, ids) for event in batch]
        return self._append_rows(stream, rows, expected_version)

    def _append_rows(
        self,
        stream: str,
        rows: list[tuple[Any, ...]],
        expected: int | ExpectedVersion,
        tracked: tuple[str, str | None, str] | None = None,
    ) -> AppendResult:
        with self.transaction():
            found = dict(
                self._read(
                    "SELECT stream, version FROM dbfold_event_streams WHERE stream IN (?, ?)",
                    (_ALL, stream),
                )
            )
            current = int(found.get(stream, 0))
            _verify(stream, expected, current, self.location)
            if not rows:
                return AppendResult(current, 0, 0)
            last = int(found[_ALL])
            # The position is taken here, under the write lock held until COMMIT: on
            # SQLite commit order is therefore position order (see the module docstring).
            first = last + 1
            source, subject, severity = tracked or (None, None, None)
            params = [
                (first + n, stream, current + 1 + n, *row, source, subject, severity)
                for n, row in enumerate(rows)
            ]
            # On the transaction's own connection rather than through executemany(), whose
            # nested transaction would be a SAVEPOINT: inside one SQLite copies every page
            # it changes to a statement journal first, which halves the insert rate.
            try:
                self.connection().executemany(_INSERT, params)
            except self._errors as exc:
                raise self._backend.wrap(exc, "append events") from exc
            count = len(rows)
            self.execute(
                "UPDATE dbfold_event_streams SET version = ? WHERE stream = ?",
                (last + count, _ALL),
            )
            self.execute(
                "INSERT INTO dbfold_event_streams (stream, version) VALUES (?, ?) "
                "ON CONFLICT (stream) DO UPDATE SET version = excluded.version",
                (stream, current + count),
            )
        return AppendResult(current + count, first, last + count)

    def stream_version(self, stream: str) -> int:
        """The stream's version: its last event's number, 0 when it does not exist.

        Pruning does not lower it: the next append continues from it.
        """
        version = self.scalar(
            "SELECT version FROM dbfold_event_streams WHERE stream = ?", (stream,)
        )
        return int(version or 0)

    def read_stream(
        self,
        stream: str,
        *,
        from_version: int = 0,
        limit: int | None = None,
        backwards: bool = False,
    ) -> list[RecordedEvent]:
        """A stream's events in version order (empty for an unknown stream).

        Args:
            stream: The stream.
            from_version: Forwards, the first version returned (0 and 1: from the start);
                backwards, the newest version returned (0: from the end).
            limit: At most this many events.
            backwards: Newest first.
        """
        sql = f"SELECT {_COLUMNS} FROM dbfold_events WHERE stream = ?"
        params: list[Any] = [stream]
        if backwards:
            if from_version > 0:
                sql += " AND version <= ?"
                params.append(from_version)
            sql += " ORDER BY version DESC"
        else:
            sql += " AND version >= ? ORDER BY version"
            params.append(from_version)
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_event(row) for row in self._read(sql, params)]

    def read_all(
        self, *, after: int = 0, limit: int | None = 500, types: Iterable[str] = ()
    ) -> list[RecordedEvent]:
        """Every stream's events in position order (tracked system events included).

        A reader that passes the last position it saw as ``after`` sees each committed
        event exactly once, in order.

        Args:
            after: Only events past this position (0: from the start).
            limit: At most this many events (``None``: all).
            types: Only events of these types (default: every type).
        """
        sql = f"SELECT {_COLUMNS} FROM dbfold_events WHERE position > ?"
        params: list[Any] = [after]
        wanted = list(types)
        if wanted:
            sql += f" AND type IN ({_marks(wanted)})"
            params += wanted
        sql += " ORDER BY position"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [_event(row) for row in self._read(sql, params)]

    def last_position(self) -> int:
        """The position of the newest event ever appended (0 before any; pruning keeps it)."""
        return self.stream_version(_ALL)

    # -- tracked system events ------------------------------------------------------------

    def track(
        self,
        type: str,
        *,
        source: str,
        subject: str | None = None,
        data: Any = None,
        severity: str = "info",
        event_id: str | None = None,
    ) -> TrackedEvent:
        """Record a system event ("track all system events in one place").

        It is appended to the stream ``$track:<source>``, so it also appears in
        :meth:`read_all` and to consumers, with ``source``, ``subject`` and ``severity``
        in its metadata.

        Args:
            type: What happened, e.g. ``"job.failed"``.
            source: What produced it.
            subject: What it is about, within the source.
            data: Any JSON value.
            severity: One of :data:`SEVERITIES`.
            event_id: Unique per source (default a new UUID). Tracking an id the source
                already has stores nothing and returns the event stored first.

        Returns:
            The stored event (the original one for a duplicate).
        """
        if severity not in SEVERITIES:
            raise RuntimeDatabaseError(
                f"severity {severity!r} is not one of {', '.join(SEVERITIES)}; pass one of them"
            )
        if not isinstance(source, str) or not source:
            raise RuntimeDatabaseError("track() needs a non-empty source; name the producer")
        now = now_iso()
        meta = {"source": source, "subject": subject, "severity": severity}
        event = NewEvent(type, data, meta, event_id)
        row = _prepare(event, now, iter(_new_ids(1)))
        with self.transaction():
            if event_id is not None:
                # Checked inside the write transaction, so two racing duplicates cannot
                # both miss the original.
                found = self._find("source = ? AND event_id = ?", [source, event_id], 1)
                if found:
                    return found[0]
            result = self._append_rows(_TRACK + source, [row], ANY, (source, subject, severity))
        return TrackedEvent(
            row[3], source, type, subject, data, severity, _moment(now), result.last_position
        )

    def find_events(
        self,
        type: str | None = None,
        source: str | None = None,
        subject: str | None = None,
        since: datetime | timedelta | None = None,
        until: datetime | timedelta | None = None,
        min_severity: str | None = None,
        limit: int | None = 100,
    ) -> list[TrackedEvent]:
        """Tracked system events, newest first.

        Args:
            type: Only this type.
            source: Only from this source.
            subject: Only about this subject.
            since: Only recorded at or after this moment (a ``timedelta``: that long ago).
            until: Only recorded before this moment (a ``timedelta``: that long ago).
            min_severity: Only this severity or a higher one.
            limit: At most this many (``None``: all).
        """
        clauses = ["source IS NOT NULL"]
        params: list[Any] = []
        for column, value in (("type", type), ("source", source), ("subject", subject)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if since is not None:
            clauses.append("recorded_at >= ?")
            params.append(cutoff_iso(since))
        if until is not None:
            clauses.append("recorded_at < ?")
            params.append(cutoff_iso(until))
        if min_severity is not None:
            if min_severity not in SEVERITIES:
                raise RuntimeDatabaseError(
                    f"min_severity {min_severity!r} is not one of {', '.join(SEVERITIES)}"
                )
            allowed = SEVERITIES[SEVERITIES.index(min_severity) :]
            clauses.append(f"severity IN ({_marks(allowed)})")
            params += allowed
        return self._find(" AND ".join(clauses), params, limit)

    def _find(self, where: str, params: list[Any], limit: int | None) -> list[TrackedEvent]:
        sql = (
            "SELECT event_id, source, type, subject, data, severity, recorded_at, position "
            f"FROM dbfold_events WHERE {where} ORDER BY position DESC"
        )
        if limit is not None:
            sql += " LIMIT ?"
            params = [*params, limit]
        return [
            TrackedEvent(r[0], r[1], r[2], r[3], _load(r[4]), r[5], _moment(r[6]), r[7])
            for r in self._read(sql, params)
        ]

    # -- consumers ------------------------------------------------------------------------

    def consume(
        self,
        consumer: str,
        handler: Callable[[RecordedEvent], object],
        *,
        batch: int = 100,
        types: Iterable[str] = (),
    ) -> int:
        """Hand every event past the consumer's checkpoint to ``handler``, in order.

        Each batch runs in one transaction: the handler's writes through this database and
        the new checkpoint commit together, so after a crash either both are there or
        neither (exactly-once for effects in the same database; effects elsewhere happen
        at least once). A handler that raises rolls back its batch, writes and checkpoint,
        and the exception propagates; earlier batches stay committed. The first call
        registers the consumer, and from then on :meth:`prune` keeps every event it has
        not passed.

        Writers wait while a batch runs (SQLite has one writer), so keep handlers short or
        batches small.

        Args:
            consumer: The consumer's name.
            handler: Called once per event; it may use this database's methods.
            batch: Events per transaction.
            types: Only events of these types (the checkpoint moves to the last one
                handled, so such a consumer holds back pruning of other types too).

        Returns:
            How many events were handled; it returns once it has caught up.
        """
        if batch < 1:
            raise RuntimeDatabaseError(f"batch must be at least 1, not {batch}")
        wanted = tuple(types)
        handled = 0
        while True:
            with self.transaction():
                after = self._register(consumer)
                events = self.read_all(after=after, limit=batch, types=wanted)
                for event in events:
                    handler(event)
                if events:
                    self.execute(
                        "UPDATE dbfold_event_consumers SET position = ?, updated_at = ? "
                        "WHERE consumer = ?",
                        (events[-1].position, now_iso(), consumer),
                    )
            handled += len(events)
            if len(events) < batch:
                return handled

    def _register(self, consumer: str) -> int:
        self.execute(
            "INSERT INTO dbfold_event_consumers (consumer, position, updated_at) "
            "VALUES (?, 0, ?) ON CONFLICT (consumer) DO NOTHING",
            (consumer, now_iso()),
        )
        return self.checkpoint(consumer)

    def register_consumer(self, consumer: str) -> int:
        """Register a consumer before its first :meth:`consume`, so pruning waits for it.

        Returns:
            Its checkpoint (0 for a new consumer).
        """
        with self.transaction():
            return self._register(consumer)

    def remove_consumer(self, consumer: str) -> bool:
        """Forget a consumer (pruning no longer waits for it); False if it was unknown."""
        done = self.execute("DELETE FROM dbfold_event_consumers WHERE consumer = ?", (consumer,))
        return done.rowcount > 0

    def checkpoint(self, consumer: str) -> int:
        """The position of the last event the consumer handled (0 before any)."""
        position = self.scalar(
            "SELECT position FROM dbfold_event_consumers WHERE consumer = ?", (consumer,)
        )
        return int(position or 0)

    def consumers(self) -> dict[str, int]:
        """Every registered consumer with its checkpoint."""
        return {
            str(name): int(position)
            for name, position in self._read(
                "SELECT consumer, position FROM dbfold_event_consumers ORDER BY consumer", ()
            )
        }

    # -- retention ------------------------------------------------------------------------

    def set_retention(
        self,
        *,
        max_age: timedelta | None = None,
        max_count: int | None = None,
        types: str | Iterable[str] = "*",
    ) -> None:
        """Say how long events are kept; :meth:`prune` applies it.

        Args:
            max_age: Events recorded longer ago than this may go.
            max_count: Of these types, only the newest ``max_count`` events are kept.
            types: ``"*"`` (every type) or the types the rule covers. A rule per set of
                types; setting both limits to ``None`` removes the rule.
        """
        key = "*" if types == "*" else dump_json(sorted(set(types)))
        if key == "[]":
            raise RuntimeDatabaseError('set_retention(types=…) is empty; pass "*" or types')
        if max_count is not None and max_count < 0:
            raise RuntimeDatabaseError(f"max_count must be at least 0, not {max_count}")
        if max_age is None and max_count is None:
            self.execute("DELETE FROM dbfold_event_retention WHERE types = ?", (key,))
            return
        age = None if max_age is None else max_age.total_seconds()
        self.execute(
            "INSERT INTO dbfold_event_retention (types, max_age, max_count) VALUES (?, ?, ?) "
            "ON CONFLICT (types) DO UPDATE SET max_age = excluded.max_age, "
            "max_count = excluded.max_count",
            (key, age, max_count),
        )

    def prune(self) -> int:
        """Delete the events the retention rules let go; returns how many.

        Never deletes an event a registered consumer has not passed (a position above
        the lowest checkpoint). Positions and stream versions are not reused afterwards.
        """
        deleted = 0
        with self.transaction():
            rules = self._read("SELECT types, max_age, max_count FROM dbfold_event_retention", ())
            if not rules:
                return 0
            floor = self.scalar("SELECT min(position) FROM dbfold_event_consumers")
            # The gate opens inside this transaction only: other connections never see it
            # open, and a crash rolls it back closed.
            self.execute("UPDATE dbfold_event_gate SET pruning = 1 WHERE id = 1")
            try:
                for key, max_age, max_count in rules:
                    deleted += self._prune_rule(key, max_age, max_count, floor)
            finally:
                self.execute("UPDATE dbfold_event_gate SET pruning = 0 WHERE id = 1")
        return deleted

    def _prune_rule(
        self, key: str, max_age: float | None, max_count: int | None, floor: int | None
    ) -> int:
        scope, params = "", []
        if key != "*":
            kinds = load_json(key)
            scope = f" AND type IN ({_marks(kinds)})"
            params = list(kinds)
        bound = "" if floor is None else " AND position <= ?"
        extra = [] if floor is None else [floor]
        deleted = 0
        if max_age is not None:
            cutoff = cutoff_iso(timedelta(seconds=max_age))
            deleted += self.execute(
                f"DELETE FROM dbfold_events WHERE recorded_at < ?{scope}{bound}",
                [cutoff, *params, *extra],
            ).rowcount
        if max_count is not None:
            # The newest max_count events of the rule's types stay; everything at or below
            # the next one down may go.
            edge = self.scalar(
                f"SELECT position FROM dbfold_events WHERE 1 = 1{scope} "
                "ORDER BY position DESC LIMIT 1 OFFSET ?",
                [*params, max_count],
            )
            if edge is not None:
                deleted += self.execute(
                    f"DELETE FROM dbfold_events WHERE position <= ?{scope}{bound}",
                    [edge, *params, *extra],
                ).rowcount
        return deleted


def _check_expected(expected: object) -> None:
    if isinstance(expected, ExpectedVersion):
        return
    if type(expected) is not int or expected < 0:
        raise RuntimeDatabaseError(
            f"expected_version {expected!r} is not a version (an int >= 0) or "
            "ANY, NO_STREAM, STREAM_EXISTS"
        )


def _verify(stream: str, expected: int | ExpectedVersion, current: int, location: str) -> None:
    if expected is ANY:
        return
    if expected is NO_STREAM:
        ok, wanted = current == 0, "no stream"
    elif expected is STREAM_EXISTS:
        ok, wanted = current > 0, "an existing stream"
    else:
        ok, wanted = current == expected, f"version {expected}"
    if not ok:
        raise ConcurrencyError(
            f"{location}: stream {stream!r} is at version {current}, expected {wanted}; "
            "nothing was written: read the stream again and retry",
            stream=stream,
            expected=expected,
            actual=current,
        )


def _prepare(event: NewEvent | Mapping[str, Any], now: str, ids: Iterator[str]) -> tuple[Any, ...]:
    """``(type, data, metadata, event_id, recorded_at)`` ready to bind; ``ids`` supplies
    the id of an event without one."""
    if isinstance(event, NewEvent):
        kind, data, meta, event_id = event.type, event.data, event.metadata, event.event_id
    elif isinstance(event, Mapping):
        unknown = set(event) - {"type", "data", "metadata", "event_id"}
        if unknown or "type" not in event:
            raise RuntimeDatabaseError(
                f"event {dict(event)!r:.80} needs 'type' and may have only data, metadata, "
                "event_id; pass NewEvent(type, data) or such a dict"
            )
        kind, data = event["type"], event.get("data")
        meta, event_id = event.get("metadata"), event.get("event_id")
    else:
        raise RuntimeDatabaseError(
            f"event {event!r:.80} is neither a NewEvent nor a dict; pass NewEvent(type, data)"
        )
    if not isinstance(kind, str) or not kind:
        raise RuntimeDatabaseError(f"event type {kind!r} is not a non-empty string")
    if event_id is None:
        event_id = next(ids)
    elif not isinstance(event_id, str) or not event_id:
        raise RuntimeDatabaseError(f"event_id {event_id!r} is not a non-empty string")
    return (kind, _json(data), _json(meta), event_id, now)


__all__ = [
    "ANY",
    "EVENTS_DDL",
    "NO_STREAM",
    "SEVERITIES",
    "STREAM_EXISTS",
    "AppendResult",
    "EventDatabase",
    "ExpectedVersion",
    "NewEvent",
    "RecordedEvent",
    "TrackedEvent",
]
