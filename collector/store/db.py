"""Engine creation and transactions.

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
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

__all__ = ["DatabaseURLError", "make_engine", "reading", "writing", "safe_url"]

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 10_000


class DatabaseURLError(ValueError):
    """A database URL the collector cannot use."""


def safe_url(url: str | URL) -> str:
    """The URL as text with any password masked, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparsable URL>"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url`` (``sqlite:///file.db`` or ``postgresql+psycopg://...``)."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseURLError(f"not a database URL: {url!r}") from exc
    backend = parsed.get_backend_name()
    if backend == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise DatabaseURLError("SQLite needs a file: sqlite:///path/to/wardround.db")
        kwargs.setdefault("connect_args", {})
        kwargs["connect_args"].setdefault("check_same_thread", False)
        kwargs.setdefault("pool_size", 8)
        kwargs.setdefault("max_overflow", 32)
    elif backend == "postgresql":
        kwargs.setdefault("pool_size", 8)
        kwargs.setdefault("max_overflow", 8)
        kwargs.setdefault("pool_pre_ping", True)
    else:
        raise DatabaseURLError(f"unsupported database {backend!r}: use sqlite:/// or postgresql+psycopg://")
    try:
        engine = create_engine(parsed, **kwargs)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise DatabaseURLError(f"cannot use database URL {safe_url(parsed)}: {exc}") from exc
    if backend == "sqlite":
        _tune_sqlite(engine)
    else:
        _durable_postgresql(engine)
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


_sqlite_write_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _write_lock(engine: Engine) -> threading.Lock | None:
    """The in-process write lock of a SQLite file (None for other databases)."""
    if engine.dialect.name != "sqlite":
        return None
    key = str(Path(engine.url.database or "").resolve())
    with _locks_guard:
        return _sqlite_write_locks.setdefault(key, threading.Lock())


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # We emit BEGIN ourselves (pysqlite's own transaction handling
        # would defer it and cannot do BEGIN IMMEDIATE).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = FULL")
        cur.execute("PRAGMA wal_autocheckpoint = 10000")
        cur.execute("PRAGMA cache_size = -65536")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("wardround_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A connection in a write transaction, committed on success."""
    with _write_lock(engine) or nullcontext(), engine.connect() as conn:
        conn = conn.execution_options(wardround_write=True)
        with conn.begin():
            yield conn


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection for reads (a transaction rolled back at the end)."""
    with engine.connect() as conn:
        yield conn
