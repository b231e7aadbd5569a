"""Every ``sqlite3.connect`` argument of the running Python, honoured through the adapters.

Each test opens one legacy store twice, with plain sqlite3 on the legacy file and through
the adapters on the unified database, and compares the connections' attributes and what
they do; an argument the adapters cannot honour is refused with an ``AdapterError``.
"""

from __future__ import annotations

import sqlite3
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from compat_support import CALENDAR, CLICKS, TRACKING, Legacy

from dbfold.adapters import LegacyConnection, install, uninstall
from dbfold.errors import AdapterError, DbfoldError

HAS_AUTOCOMMIT = sys.version_info >= (3, 12)
needs_autocommit = pytest.mark.skipif(
    not HAS_AUTOCOMMIT, reason=f"sqlite3 has autocommit from Python 3.12 (this is {sys.version})"
)
LEGACY_CONTROL: Any = getattr(sqlite3, "LEGACY_TRANSACTION_CONTROL", -1)

INSERT = "INSERT INTO actions (action, amount) VALUES ('z', 3.0)"
COUNT = "SELECT COUNT(*) FROM actions"


def both(legacy: Legacy, store: str = TRACKING, **kwargs: Any) -> list[sqlite3.Connection]:
    return [legacy.plain(store, **kwargs), legacy.routed(store, **kwargs)]


def transaction_story(conn: sqlite3.Connection) -> list[Any]:
    """What a connection says around an INSERT, a rollback, an INSERT and a commit."""
    story: list[Any] = [
        getattr(conn, "autocommit", None),
        conn.isolation_level,
        conn.in_transaction,
    ]
    conn.execute(INSERT)
    story.append(conn.in_transaction)
    conn.rollback()
    story += [conn.in_transaction, conn.execute(COUNT).fetchone()[0]]
    conn.execute(INSERT)
    conn.commit()
    story += [conn.in_transaction, conn.execute(COUNT).fetchone()[0]]
    return story


@needs_autocommit
@pytest.mark.parametrize(
    "autocommit", [False, True, LEGACY_CONTROL], ids=["false", "true", "legacy"]
)
def test_autocommit_is_honoured(legacy: Legacy, autocommit: Any) -> None:
    plain, routed = both(legacy, autocommit=autocommit)
    assert isinstance(routed, LegacyConnection)
    assert routed.autocommit == autocommit  # type: ignore[attr-defined]
    assert transaction_story(routed) == transaction_story(plain)
    for conn in (plain, routed):
        conn.close()
    # What each committed is there for another connection, and only that.
    plain, routed = both(legacy)
    assert routed.execute(COUNT).fetchone() == plain.execute(COUNT).fetchone()
    for conn in (plain, routed):
        conn.close()


@needs_autocommit
def test_autocommit_false_rolls_back_at_close(legacy: Legacy) -> None:
    for conn in both(legacy, autocommit=False):
        conn.execute(INSERT)
        conn.close()  # autocommit=False: close() rolls the open transaction back
    plain, routed = both(legacy)
    assert routed.execute(COUNT).fetchone() == plain.execute(COUNT).fetchone() == (2,)
    for conn in (plain, routed):
        conn.close()


@needs_autocommit
def test_autocommit_true_multi_row_insert_leaves_no_transaction(legacy: Legacy) -> None:
    sql = "INSERT INTO actions (action) VALUES ('a'), ('b')"
    out = []
    for conn in both(legacy, autocommit=True):
        cur = conn.execute(sql)
        out.append((cur.rowcount, conn.in_transaction, conn.execute(COUNT).fetchone()))
        conn.close()
    assert out[0] == out[1]


@pytest.mark.skipif(HAS_AUTOCOMMIT, reason="sqlite3 accepts autocommit from Python 3.12")
def test_autocommit_before_312_is_the_same_type_error(legacy: Legacy) -> None:
    with pytest.raises(TypeError):
        legacy.plain(autocommit=False)
    with pytest.raises(TypeError, match="autocommit"):
        legacy.routed(autocommit=False)


@pytest.mark.parametrize("level", [None, "DEFERRED", "IMMEDIATE", "EXCLUSIVE", ""])
def test_isolation_level_is_honoured(legacy: Legacy, level: str | None) -> None:
    plain, routed = both(legacy, isolation_level=level)
    assert transaction_story(routed) == transaction_story(plain)
    for conn in (plain, routed):
        conn.close()


def test_a_bad_isolation_level_fails_as_in_sqlite3(legacy: Legacy) -> None:
    with pytest.raises(Exception) as plain:
        legacy.plain(isolation_level="SOMETIMES")
    with pytest.raises(type(plain.value)):
        legacy.routed(isolation_level="SOMETIMES")


def _in_thread(fn: Callable[[], Any]) -> Any:
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(fn())
        except Exception as exc:
            out.append(type(exc))

    t = threading.Thread(target=run)
    t.start()
    t.join()
    return out[0]


@pytest.mark.parametrize("same_thread", [True, False])
def test_check_same_thread_is_honoured(legacy: Legacy, same_thread: bool) -> None:
    plain, routed = both(legacy, check_same_thread=same_thread)
    results = [_in_thread(lambda c=c: c.execute(COUNT).fetchone()) for c in (plain, routed)]
    assert results[0] == results[1]
    assert results[0] == (sqlite3.ProgrammingError if same_thread else (2,))
    for conn in (plain, routed):
        conn.close()


@pytest.mark.parametrize("cached", [0, 1, 512])
def test_cached_statements_are_accepted(legacy: Legacy, cached: int) -> None:
    plain, routed = both(legacy, cached_statements=cached)
    for _ in range(3):
        for sql in (COUNT, "SELECT action FROM actions ORDER BY id"):
            assert routed.execute(sql).fetchall() == plain.execute(sql).fetchall()
    for conn in (plain, routed):
        conn.close()


def test_timeout_is_honoured(legacy: Legacy) -> None:
    plain, routed = both(legacy, timeout=0.25)
    probe = "PRAGMA busy_timeout"
    assert routed.execute(probe).fetchone() == plain.execute(probe).fetchone() == (250,)
    for conn in (plain, routed):
        conn.close()


@pytest.fixture
def converters(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Converters of this test only (sqlite3's registry is global)."""
    seen: list[str] = []

    def conv(name: str) -> Callable[[bytes], Any]:
        def convert(value: bytes) -> Any:
            seen.append(name)
            return (name, value.decode())

        return convert

    for name in ("TIMESTAMP", "REAL", "DATE", "TEXT", "WHEN"):
        monkeypatch.setitem(sqlite3.converters, name, conv(name))
    return seen


def test_parse_decltypes_converts_as_on_the_legacy_file(
    legacy: Legacy, converters: list[str]
) -> None:
    plain, routed = both(legacy, detect_types=sqlite3.PARSE_DECLTYPES)
    sql = "SELECT id, action, created, amount FROM actions ORDER BY id"
    rows = routed.execute(sql).fetchall()
    assert rows == plain.execute(sql).fetchall()
    assert rows[0][2] == ("TIMESTAMP", "2024-01-02 03:04:05")
    assert rows[0][1] == ("TEXT", "open")
    for conn in (plain, routed):
        conn.close()


def test_parse_colnames_converts_as_on_the_legacy_file(
    legacy: Legacy, converters: list[str]
) -> None:
    plain, routed = both(legacy, CALENDAR, detect_types=sqlite3.PARSE_COLNAMES)
    sql = 'SELECT day AS "day [WHEN]", note FROM days'
    cursors = [conn.execute(sql) for conn in (plain, routed)]
    assert [c.fetchall() for c in cursors] == [[(("WHEN", "2024-01-02"), "first")]] * 2
    assert cursors[0].description == cursors[1].description
    assert cursors[1].description[0][0] == "day"
    for conn in (plain, routed):
        conn.close()


def test_both_parse_modes_together(legacy: Legacy, converters: list[str]) -> None:
    mode = sqlite3.PARSE_DECLTYPES | sqlite3.PARSE_COLNAMES
    plain, routed = both(legacy, detect_types=mode)
    sql = 'SELECT created AS "c [WHEN]", created, amount FROM actions ORDER BY id'
    assert routed.execute(sql).fetchall() == plain.execute(sql).fetchall()
    for conn in (plain, routed):
        conn.close()


def test_parse_decltypes_refused_where_a_declared_type_changed(
    legacy: Legacy, converters: list[str]
) -> None:
    assert legacy.plain(CALENDAR, detect_types=sqlite3.PARSE_DECLTYPES).execute(
        "SELECT day FROM days"
    ).fetchone() == (("DATE", "2024-01-02"),)
    # DATE became TIMESTAMP in the unified schema: sqlite3 would run another converter.
    with pytest.raises(AdapterError, match=r"PARSE_DECLTYPES.*days\.day \(DATE → TIMESTAMP\)"):
        legacy.routed(CALENDAR, detect_types=sqlite3.PARSE_DECLTYPES)
    assert issubclass(AdapterError, DbfoldError)
    # No converter for either name: nothing would differ, so it is honoured.
    del sqlite3.converters["DATE"], sqlite3.converters["TIMESTAMP"]
    conn = legacy.routed(CALENDAR, detect_types=sqlite3.PARSE_DECLTYPES)
    assert conn.execute("SELECT day FROM days").fetchone() == ("2024-01-02",)
    conn.close()


class Tagged(sqlite3.Connection):
    """A legacy program's own connection class: state in __init__, a statement, a method."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tag = "legacy"
        self.actions_at_open = self.execute(COUNT).fetchone()[0]

    def actions(self) -> list[str]:
        return [r[0] for r in self.execute("SELECT action FROM actions ORDER BY id")]


class TaggedCursor(sqlite3.Cursor):
    pass


def test_a_connection_factory_is_honoured(legacy: Legacy) -> None:
    plain, routed = both(legacy, factory=Tagged)
    for conn in (plain, routed):
        assert isinstance(conn, Tagged)
        assert (conn.tag, conn.actions_at_open, conn.actions()) == ("legacy", 2, ["open", "save"])
    assert isinstance(routed, LegacyConnection)
    cursor = routed.cursor(TaggedCursor)
    assert isinstance(cursor, TaggedCursor)
    assert cursor.execute(COUNT).fetchone() == (2,)
    for conn in (plain, routed):
        conn.close()


def test_a_factory_that_is_no_connection_class_is_refused(legacy: Legacy) -> None:
    def make(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        return sqlite3.Connection(*args, **kwargs)

    with pytest.raises(AdapterError, match=r"only sqlite3\.Connection subclasses"):
        legacy.routed(factory=make)  # type: ignore[arg-type]


def test_the_adapters_own_set_up_is_never_translated(legacy: Legacy) -> None:
    """The AUTOINCREMENT emulation and the write log are made on every Python (on 3.10
    ``sqlite3.Connection.execute`` makes its cursor through the connection's ``cursor()``),
    unseen by a factory that overrides ``cursor()``."""
    made: list[Any] = []

    class Counting(sqlite3.Connection):
        def cursor(self, factory: Any = None) -> Any:
            made.append(factory)
            return super().cursor(factory) if factory else super().cursor()

    routed = legacy.routed(CLICKS, factory=Counting)
    assert made == []
    plain = legacy.plain(CLICKS)
    plain.execute("DELETE FROM events WHERE id = 2")  # AUTOINCREMENT: 2 is not used again
    routed.execute("DELETE FROM events WHERE id = 2")
    for conn in (plain, routed):
        conn.execute("INSERT INTO events (kind) VALUES ('c')")
        conn.commit()
    sql = "SELECT id, kind FROM events ORDER BY id"
    assert routed.execute(sql).fetchall() == plain.execute(sql).fetchall() == [(1, "a"), (3, "c")]
    unified = sqlite3.connect(legacy.root / legacy.plan.target)
    names = {r[0] for r in unified.execute("SELECT name FROM sqlite_master")}
    unified.close()
    assert {"dbfold_adapter_sequence", "dbfold_adapter_writes"} <= names
    for conn in (plain, routed):
        conn.close()


def test_uri_paths_are_honoured(legacy: Legacy) -> None:
    path = (legacy.root / TRACKING).as_posix()
    for query, writable in (("mode=ro", False), ("mode=rw", True), ("", True)):
        uri = f"file:{path}?{query}" if query else f"file:{path}"
        plain = sqlite3.connect(uri, uri=True)
        routed = legacy.routed(uri, uri=True)
        for conn in (plain, routed):
            assert conn.execute(COUNT).fetchone() == (2,)
            if writable:
                conn.execute("SELECT 1")
            else:
                with pytest.raises(sqlite3.OperationalError, match="readonly"):
                    conn.execute(INSERT)
            conn.close()
    # A percent-encoded path and the localhost authority are the same file.
    encoded = path.replace("/data/", "/%64ata/")
    routed = legacy.routed(f"file://localhost{encoded}?mode=ro", uri=True)
    assert routed.execute(COUNT).fetchone() == (2,)
    routed.close()


@pytest.mark.parametrize(
    "query",
    ["immutable=1", "nolock=1", "vfs=unix-none", "cache=shared", "mode=memory"],
)
def test_uri_parameters_that_cannot_be_honoured_are_refused(legacy: Legacy, query: str) -> None:
    uri = f"file:{(legacy.root / TRACKING).as_posix()}?{query}"
    with pytest.raises(AdapterError, match=f"cannot route .*{query}"):
        legacy.routed(uri, uri=True)


def test_a_file_uri_without_uri_true_is_a_file_name(legacy: Legacy) -> None:
    with pytest.raises(AdapterError, match="not a store of the plan"):
        legacy.routed(f"file:{(legacy.root / TRACKING).as_posix()}?mode=ro")


@pytest.fixture
def routed_by_install(legacy: Legacy) -> Iterator[Legacy]:
    install(legacy.plan, legacy.root, analysis=legacy.analysis)
    try:
        yield legacy
    finally:
        uninstall()


def test_install_routes_connect_arguments(routed_by_install: Legacy) -> None:
    legacy = routed_by_install
    path = str(legacy.root / TRACKING)
    conn = sqlite3.connect(path, timeout=0.5, isolation_level=None, check_same_thread=False)
    assert isinstance(conn, LegacyConnection)
    assert conn.isolation_level is None
    assert _in_thread(lambda: conn.execute(COUNT).fetchone()) == (2,)
    conn.close()
    conn = sqlite3.connect(path, factory=Tagged, detect_types=sqlite3.PARSE_COLNAMES)
    assert isinstance(conn, LegacyConnection) and isinstance(conn, Tagged)
    assert conn.actions() == ["open", "save"]
    conn.close()
    ro = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    assert isinstance(ro, LegacyConnection)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        ro.execute(INSERT)
    ro.close()


#: dbfold.adapters.routing passes connect() only the arguments it names; until it hands on
#: the rest (autocommit, the URI's parameters), these are lost through install() and
#: ``dbfold run`` although connect() honours them.


@needs_autocommit
def test_install_routes_autocommit(routed_by_install: Legacy) -> None:
    conn = sqlite3.connect(str(routed_by_install.root / TRACKING), autocommit=False)
    try:
        assert isinstance(conn, LegacyConnection)
        assert conn.autocommit is False  # type: ignore[attr-defined]
    finally:
        conn.close()


def test_install_refuses_uri_parameters_it_cannot_honour(routed_by_install: Legacy) -> None:
    uri = f"file:{(routed_by_install.root / TRACKING).as_posix()}?immutable=1"
    with pytest.raises(AdapterError, match="immutable"):
        sqlite3.connect(uri, uri=True).close()
