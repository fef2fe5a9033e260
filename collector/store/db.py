"""Engine creation, transactions, and how long the collector waits on its database.

Acknowledged means durable: a commit the collector has answered for (an
agent deletes results from its spool when it sees their ids acknowledged)
survives a power cut.  SQLite runs in WAL mode with ``synchronous=FULL``
(WAL with NORMAL may lose the last commits on power loss); on PostgreSQL
every connection checks ``synchronous_commit`` and turns it back on if the
server or database was configured with ``off`` (any other value flushes
the local WAL before a commit returns).

SQLite also has a busy timeout; its
write transactions start with ``BEGIN IMMEDIATE`` (see :func:`writing`) so two
writers queue on the lock instead of failing on a stale snapshot.  Within one
process, writers to one SQLite file also take turns on a thread lock first:
SQLite's busy handler polls with sleeps of up to 100 ms, which left the
database idle between commits and stretched p99 batch latency to seconds
under concurrent senders; a thread lock hands over at once.
PostgreSQL is reached through psycopg 3 (``postgresql+psycopg://``).

Bounds (:class:`Limits`): an engine made with ``limits`` never waits on its
database longer than they say.  On PostgreSQL: ``connect_timeout``, the
server-side ``statement_timeout`` and ``lock_timeout``, a bounded wait for a
pooled connection, and -- for a server that answers nothing at all (frozen,
or a network path that swallows packets), where no server-side timeout can
fire -- a watchdog thread that cuts the socket of a connection that is
still checked out after ``hold_s`` (or whose liveness ping at checkout takes
longer than ``ping_s``; a connection returned to the pool less than
:data:`UNPINGED_S` ago is not pinged).  The cut raises a connection error in the thread
that waits, and the pool replaces the connection.  On SQLite: the busy
timeout and the wait for the in-process write lock.  :data:`REQUESTS` bounds
what the HTTP API does (a client gets its answer, a 503 with Retry-After if
the database is at fault, within about 6 s); :data:`JOBS` bounds the
background work and long reads (record issuing, ``/metrics``, the sweep, the
notification dispatcher); the command line waits as long as it takes.

Cross-process time decisions (when a claim expires, when a host was last
seen, when a deadline passed) read the database's clock
(:func:`database_time`, :class:`DatabaseClock`), so a collector whose own
clock is off decides nothing differently.

The outcome of every write transaction is kept per database
(:func:`storage_state`): ``/healthz`` says the collector cannot store after a
write failed for lack of space, an I/O error or a read-only database, until a
write succeeds again.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, DisconnectionError, NoSuchModuleError

from checks.messages.reader import cli_said
from collector.store.errors import DatabaseBusy, classify, describe

__all__ = ["DatabaseClock", "DatabaseURLError", "JOBS", "Limits", "REQUESTS", "StorageState", "checkpoint_wal",
           "database_time", "make_engine", "per_transaction", "pipelined", "reading", "safe_url", "storage_state",
           "time_on", "writing"]

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 10_000  # without limits (the command line)
WAL_CHECKPOINT_PAGES = 1000  # SQLite's default: about 4 MB of 4 KiB pages
WAL_LIMIT_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """How long an engine waits on its database before it gives up (seconds)."""

    connect_s: float  # PostgreSQL: establishing a connection (libpq connect_timeout; 2 s at least)
    statement_s: float  # PostgreSQL: one statement (statement_timeout, enforced by the server)
    lock_s: float  # PostgreSQL lock_timeout; SQLite busy timeout and the in-process write lock
    pool_s: float  # a free pooled connection
    ping_s: float  # PostgreSQL: the liveness ping when a pooled connection is checked out
    hold_s: float  # PostgreSQL: a checked-out connection still busy after this is cut (a mute server)


REQUESTS = Limits(connect_s=2, statement_s=5, lock_s=2, pool_s=2, ping_s=1, hold_s=6)
JOBS = Limits(connect_s=5, statement_s=300, lock_s=30, pool_s=30, ping_s=5, hold_s=330)

_limits: weakref.WeakKeyDictionary[Engine, Limits] = weakref.WeakKeyDictionary()


class DatabaseURLError(ValueError):
    """A database URL the collector cannot use."""


def safe_url(url: str | URL) -> str:
    """The URL as text with any password masked, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable URL>"


def make_engine(url: str, *, limits: Limits | None = None, **kwargs: Any) -> Engine:
    """An engine for ``url`` (``sqlite:///file.db`` or ``postgresql+psycopg://...``).

    ``limits`` bound every wait on the database (see the module docstring);
    None waits as long as it takes.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseURLError(cli_said("cli.db.not_url", url=repr(url))) from exc
    backend = parsed.get_backend_name()
    if backend == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise DatabaseURLError(cli_said("cli.db.sqlite_file", example="sqlite:///path/to/wardround.db"))
        kwargs.setdefault("connect_args", {})
        kwargs["connect_args"].setdefault("check_same_thread", False)
        kwargs.setdefault("pool_size", 8)
        kwargs.setdefault("max_overflow", 32)
    elif backend == "postgresql":
        # the binary array dumper of the ingest statements, registered before this engine's first connection:
        # a connection copies psycopg's adapters when it opens, so one opened before it was imported lacked it
        from collector.store import pg_arrays  # noqa: F401

        kwargs.setdefault("pool_size", 8)
        kwargs.setdefault("max_overflow", 8)
        if limits is None:
            kwargs.setdefault("pool_pre_ping", True)
        else:  # the checkout listener pings, under the watchdog (_bound_postgresql)
            kwargs.setdefault("pool_timeout", limits.pool_s)
            args = kwargs.setdefault("connect_args", {})
            args.setdefault("connect_timeout", max(2, math.ceil(limits.connect_s)))
            given = str(parsed.query.get("options", "") or "")
            ours = [f"-c {name}={int(seconds * 1000)}"
                    for name, seconds in (("statement_timeout", limits.statement_s),
                                          ("lock_timeout", limits.lock_s)) if name not in given]
            args.setdefault("options", " ".join([given, *ours]).strip())
    else:
        raise DatabaseURLError(cli_said("cli.db.unsupported", backend=repr(backend), a="sqlite:///",
                                        b="postgresql+psycopg://"))
    if backend == "sqlite" and limits is not None:
        kwargs.setdefault("pool_timeout", limits.pool_s)
    try:
        engine = create_engine(parsed, **kwargs)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise DatabaseURLError(cli_said("cli.db.cannot_use", url=safe_url(parsed), error=str(exc))) from exc
    if limits is not None:
        _limits[engine] = limits
    if backend == "sqlite":
        _tune_sqlite(engine, int(limits.lock_s * 1000) if limits else SQLITE_BUSY_TIMEOUT_MS)
    else:
        _durable_postgresql(engine)
        if limits is not None:
            _bound_postgresql(engine, limits)
    return engine


def _durable_postgresql(engine: Engine) -> None:
    warned = threading.Event()

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        try:
            cur.execute("SHOW synchronous_commit")
            row = cur.fetchone()
            if row is not None and str(row[0]).lower() == "off":
                cur.execute("SET synchronous_commit = on")
                if not warned.is_set():
                    warned.set()
                    log.warning("synchronous_commit is off on %s: the collector turns it on for its own "
                                "connections (an acknowledged result must survive a crash)", safe_url(engine.url))
        finally:
            cur.close()
        dbapi_conn.commit()  # SHOW/SET ran in a transaction: keep the setting past the pool's reset


# -- the watchdog: a server that answers nothing -------------------------------------------------

class _Watchdog:
    """One daemon thread that shuts down the socket of a connection held past its deadline.

    It keeps its own duplicate of each armed socket's descriptor, so a
    descriptor the driver closed and the system gave to someone else is
    never touched.  While anything is armed it looks every :attr:`TICK`
    seconds (a cut comes at most that late); arming wakes it only from its
    idle sleep, so a busy collector's requests do not hand the GIL to it
    several times each.
    """

    TICK = 0.2

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._armed: dict[int, tuple[float, socket.socket]] = {}
        self._thread: threading.Thread | None = None
        self._until = math.inf  # when the thread looks next (under _lock)

    def arm(self, dbapi_conn: Any, seconds: float) -> None:
        try:
            sock = socket.socket(fileno=os.dup(dbapi_conn.fileno()))
        except (OSError, ValueError, AttributeError):  # closed or broken already: nothing to guard
            return
        deadline = time.monotonic() + seconds
        with self._lock:
            old = self._armed.pop(id(dbapi_conn), None)
            self._armed[id(dbapi_conn)] = (deadline, sock)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="wardround-db-watchdog", daemon=True)
                self._thread.start()
            wake = deadline < self._until
        if old is not None:
            old[1].close()
        if wake:
            self._wake.set()

    def extend(self, dbapi_conn: Any, seconds: float) -> None:
        """Moves the deadline of a connection armed in this same checkout (no new descriptor)."""
        with self._lock:
            held = self._armed.get(id(dbapi_conn))
            if held is not None:
                self._armed[id(dbapi_conn)] = (time.monotonic() + seconds, held[1])
        if held is None:
            self.arm(dbapi_conn, seconds)

    def disarm(self, dbapi_conn: Any) -> None:
        with self._lock:
            held = self._armed.pop(id(dbapi_conn), None)
        if held is not None:
            held[1].close()

    def _run(self) -> None:
        while True:
            self._wake.clear()  # before looking: an arm after the look wakes the wait below
            now = time.monotonic()
            with self._lock:
                due = [key for key, (deadline, _) in self._armed.items() if deadline <= now]
                expired = [self._armed.pop(key)[1] for key in due]
                nearest = min((deadline for deadline, _ in self._armed.values()), default=math.inf)
                self._until = min(nearest, now + self.TICK)  # inf when idle: the next arm wakes it
            pause = None if self._until == math.inf else max(0.0, self._until - now)
            for sock in expired:
                try:
                    sock.shutdown(socket.SHUT_RDWR)  # the waiting driver call fails at once
                except OSError:
                    pass
                sock.close()
            self._wake.wait(pause)


_watchdog = _Watchdog()


def _bound_postgresql(engine: Engine, limits: Limits) -> None:
    dialect = engine.dialect

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get(_RETURNED, -math.inf) < UNPINGED_S:
            _watchdog.arm(dbapi_conn, limits.hold_s)  # in use moments ago: no ping (a round trip a checkout)
            return
        _watchdog.arm(dbapi_conn, limits.ping_s)
        try:
            dialect.do_ping(dbapi_conn)
        except Exception as exc:  # the pool replaces the connection (one retry), or raises
            _watchdog.disarm(dbapi_conn)
            raise DisconnectionError(f"the database did not answer a ping: {describe(exc)}") from exc
        _watchdog.extend(dbapi_conn, limits.hold_s)

    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_conn: Any, record: Any) -> None:
        _disarm(dbapi_conn)
        if dbapi_conn is not None:  # (None: invalidated, and SQLAlchemy cleared record.info)
            record.info[_RETURNED] = time.monotonic()

    for name in ("invalidate", "soft_invalidate", "close", "detach"):
        event.listen(engine, name, _disarm)


#: A pooled connection returned to the pool less than this many seconds ago is checked out again without the
#: liveness ping: it answered moments ago (a connection a statement found broken is invalidated, never returned
#: as it was).  A busy collector's connections come back within milliseconds, and the ping was one of the
#: round trips of each checkout: two a batch (the token, the ingest), each a wait and a hand-off of the GIL.
#: A server that went mute since is then found by the watchdog at ``hold_s`` instead of ``ping_s`` (still
#: within :data:`REQUESTS`' bound); one that went away answers the first statement with an error (a 503, the
#: agent sends again) instead of the pool reconnecting first.
UNPINGED_S = 1.0
_RETURNED = "wardround_returned"  # in the pool record's info: time.monotonic() of the latest check-in


def _disarm(dbapi_conn: Any, *_args: Any) -> None:
    if dbapi_conn is not None:
        _watchdog.disarm(dbapi_conn)


# -- SQLite --------------------------------------------------------------------------------------

_sqlite_write_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _database_key(engine: Engine) -> str:
    key = _keys.get(engine)  # asked twice a write transaction: resolving the path costs a few system calls
    if key is None:
        if engine.dialect.name == "sqlite":
            key = "sqlite:" + str(Path(engine.url.database or "").resolve())
        else:
            key = engine.url.render_as_string(hide_password=False)
        _keys[engine] = key
    return key


_keys: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


def _write_lock(engine: Engine) -> threading.Lock | None:
    """The in-process write lock of a SQLite file (None for other databases)."""
    if engine.dialect.name != "sqlite":
        return None
    with _locks_guard:
        return _sqlite_write_locks.setdefault(_database_key(engine), threading.Lock())


def _tune_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # We emit BEGIN ourselves (pysqlite's own transaction handling
        # would defer it and cannot do BEGIN IMMEDIATE).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
        # Space freed by the retention prune goes back to the file system (collector/retention.py).
        # Only for a new, empty file: setting it on every connection waits for other writers.
        if cur.execute("PRAGMA page_count").fetchone()[0] == 0:
            cur.execute("PRAGMA auto_vacuum = INCREMENTAL")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = FULL")
        # A bounded WAL: checkpoint (PASSIVE) once it holds WAL_CHECKPOINT_PAGES pages, and cut the
        # file back to WAL_LIMIT_BYTES when it restarts; a nearly full disk does not fill with WAL
        # first (with 10,000 pages it grew to about 42 MB before checkpointing).  A reader that keeps
        # a checkpoint from finishing is handled by checkpoint_wal (TRUNCATE, from the health thread).
        cur.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
        cur.execute(f"PRAGMA journal_size_limit = {WAL_LIMIT_BYTES}")
        cur.execute("PRAGMA cache_size = -65536")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("wardround_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def checkpoint_wal(engine: Engine, *, over: int = 2 * WAL_LIMIT_BYTES) -> bool:
    """Checkpoint a SQLite WAL larger than ``over`` bytes and truncate it; True if that happened.

    Autocheckpoints are PASSIVE: they stop where a reader still needs the
    WAL, so a steady stream of reads lets the file grow.  This tries a
    TRUNCATE checkpoint without waiting: if a reader or writer is busy it
    gives up at once (the next call tries again), so it never holds writers
    back.  Nothing to do on PostgreSQL.
    """
    if engine.dialect.name != "sqlite":
        return False
    try:
        size = os.stat(f"{engine.url.database}-wal").st_size
    except OSError:
        return False
    if size <= over:
        return False
    lock = _write_lock(engine)
    assert lock is not None
    if not lock.acquire(timeout=0.1):
        return False
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        (busy_ms,) = cur.execute("PRAGMA busy_timeout").fetchone()
        cur.execute("PRAGMA busy_timeout = 0")
        try:
            busy, _frames, _done = cur.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            cur.execute(f"PRAGMA busy_timeout = {int(busy_ms)}")
            cur.close()
    finally:
        raw.close()
        lock.release()
    return bool(busy == 0)


# -- whether writes succeed ----------------------------------------------------------------------

class StorageState:
    """The outcome of the latest write transactions on one database (shared by its engines)."""

    def __init__(self) -> None:
        self.last_stored = 0.0  # time.monotonic() of the latest committed write
        self.last_failed = 0.0  # ... of the latest write refused for lack of space, I/O or read-only
        self.reason = ""

    def stored(self) -> None:
        self.last_stored = time.monotonic()

    def failed(self, reason: str) -> None:
        self.last_failed, self.reason = time.monotonic(), reason

    @property
    def can_store(self) -> bool:
        """False while the latest storage failure is newer than the latest successful write."""
        return self.last_failed == 0.0 or self.last_stored > self.last_failed


_storage: dict[str, StorageState] = {}


def storage_state(engine: Engine) -> StorageState:
    with _locks_guard:
        return _storage.setdefault(_database_key(engine), StorageState())


# -- the clock ------------------------------------------------------------------------------------

def database_time(conn: Connection) -> datetime:
    """Now, by the database's clock: the one clock all collector processes share.

    PostgreSQL: ``clock_timestamp()`` (the current time, not the transaction's start).  SQLite:
    this machine's clock, which every process on the file shares.
    """
    if conn.dialect.name == "postgresql":  # read once a batch: straight to the driver
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]  # open: conn is
        try:
            value: datetime = cursor.execute("SELECT clock_timestamp()").fetchone()[0]
        finally:
            cursor.close()
        return value.astimezone(UTC)
    return datetime.now(UTC)


class DatabaseClock:
    """A clock (``clock() -> datetime``) that reads :func:`database_time` of ``engine``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __call__(self) -> datetime:
        with reading(self.engine) as conn:
            return database_time(conn)


def time_on(clock: Callable[[], datetime], conn: Connection) -> datetime:
    """``clock()``; the database's clock is read on ``conn`` (no second connection)."""
    return database_time(conn) if isinstance(clock, DatabaseClock) else clock()


# -- transactions --------------------------------------------------------------------------------

@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A connection in a write transaction, committed on success.

    Raises :class:`DatabaseBusy` if another thread of this process holds the
    SQLite write lock longer than the engine's ``lock_s``.
    """
    state = storage_state(engine)
    lock = _write_lock(engine)
    limits = _limits.get(engine)
    if lock is not None and limits is not None:
        if not lock.acquire(timeout=limits.lock_s):
            raise DatabaseBusy(f"another write held the database longer than {limits.lock_s:g} s")
        guard: Any = _Release(lock)
    else:
        guard = lock or nullcontext()
    try:
        with guard, engine.connect() as conn:
            conn = conn.execution_options(wardround_write=True)
            with conn.begin():
                yield conn
    except Exception as exc:
        fault = classify(exc)
        if fault is not None and fault.storage:
            state.failed(describe(exc))
        raise
    state.stored()


class _Release:
    """Releases an already acquired lock on exit."""

    def __init__(self, lock: threading.Lock) -> None:
        self.lock = lock

    def __enter__(self) -> None:
        return None

    def __exit__(self, *_exc: object) -> None:
        self.lock.release()


@contextmanager
def reading(engine: Engine, *, statements: bool = False) -> Iterator[Connection]:
    """A connection for reads (a transaction rolled back at the end).

    ``statements``: each statement on its own, as PostgreSQL's READ COMMITTED sees the data anyway: there
    without a transaction (autocommit: no BEGIN and ROLLBACK, two round trips fewer for a token's lookup on
    every request); on SQLite as without it."""
    with engine.connect() as conn:
        if statements and engine.dialect.name == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT")
        yield conn


_TRANSACTION_KEYS: set[str] = set()


def per_transaction(key: str) -> str:
    """``key`` (returned) names a ``Connection.info`` entry that holds until the transaction ends."""
    _TRANSACTION_KEYS.add(key)
    return key


@event.listens_for(Engine, "commit")
@event.listens_for(Engine, "rollback")
def _transaction_ended(conn: Connection) -> None:
    if conn.invalidated:  # its info went with the lost connection (and asking for it raises)
        return
    for key in _TRANSACTION_KEYS:
        conn.info.pop(key, None)


@contextmanager
def pipelined(conn: Connection) -> Iterator[None]:
    """The statements sent on ``conn``'s driver connection in the block go to PostgreSQL together, as one round
    trip at its end (psycopg's pipeline mode): a cursor's rows are read after the block, and an error is raised
    at its end at the latest.  For statements that do not wait on each other's rows.  Nothing on SQLite."""
    if conn.dialect.name != "postgresql":
        yield
        return
    with conn.connection.driver_connection.pipeline():  # type: ignore[union-attr]  # open in a transaction
        yield
