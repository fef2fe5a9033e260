"""The durable outbox: every result is committed here before any send attempt.

A result enters the spool as its compact JSON wire form and leaves it only
when the collector has acknowledged its id (``accepted`` or ``duplicates``),
when the collector rejected it as invalid (it then moves to the bounded
``quarantine`` table), or when a bound drops it.  A bound drops oldest first
and, in the same transaction, spools a WARNING result of the agent's own
(check ``agent``, item ``spool``) saying how many it dropped: never silently.

The same SQLite file keeps each check instance's state (``CheckContext.state``)
so a disk forecast survives restarts.

Durability: WAL journal with ``synchronous=FULL``.  WAL with ``NORMAL``
already survives ``kill -9`` of the agent (a committed transaction sits in
the WAL file; the OS writes it out), but a power cut or kernel panic may lose
the last transactions before the next checkpoint.  Hospital servers do lose
power, and we write only a handful of transactions a minute (one per check
run, one per acknowledged batch), so the extra fsync per commit is cheap and
buys the guarantee that a result reported as spooled is on disk.

All methods are thread-safe: one connection guarded by a lock (scheduler
threads write, the sender thread reads and deletes).  Several processes may
open the same file (``once --push`` next to ``run``); SQLite's own locking and
a busy timeout serialise them.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from checks.result import Metric, Result, Status

__all__ = ["Drop", "Spool", "SpoolError", "SpooledResult", "encode", "notice_factory"]

log = logging.getLogger(__name__)

DEFAULT_MAX_AGE_S = 7 * 86400.0
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
DEFAULT_QUARANTINE_MAX = 1000
#: after the byte bound trips, drop down to this share of it so the next
#: result does not trip it again at once (one notice per episode, not per result)
BYTES_LOW_WATER = 0.9

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    spooled_at REAL NOT NULL,
    started_at TEXT NOT NULL,
    size       INTEGER NOT NULL,
    body       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_spooled_at ON outbox (spooled_at);
CREATE TABLE IF NOT EXISTS quarantine (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT NOT NULL,
    quarantined_at REAL NOT NULL,
    reason         TEXT NOT NULL,
    body           TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS state (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta (key, value) VALUES ('outbox_bytes', 0), ('dropped_total', 0),
    ('quarantined_total', 0);
CREATE TRIGGER IF NOT EXISTS outbox_bytes_add AFTER INSERT ON outbox BEGIN
    UPDATE meta SET value = value + NEW.size WHERE key = 'outbox_bytes';
END;
CREATE TRIGGER IF NOT EXISTS outbox_bytes_sub AFTER DELETE ON outbox BEGIN
    UPDATE meta SET value = value - OLD.size WHERE key = 'outbox_bytes';
END;
"""


class SpoolError(RuntimeError):
    """The spool file cannot be opened or used (path, permissions, not a database)."""


@dataclass(frozen=True)
class SpooledResult:
    """One row of the outbox: the result id and its compact JSON wire form."""

    seq: int
    id: str
    body: str


@dataclass(frozen=True)
class Drop:
    """What a bound (or the quarantine) just removed; the agent turns it into a result."""

    count: int
    oldest_started_at: str
    reason: str  # "age", "bytes" or "quarantine"
    limit: str  # human words for the bound: "7d", "256 MiB", "invalid (422)"


#: Builds the agent's own WARNING result about a Drop (see agent.runner.spool_notice).
NoticeFactory = Callable[[Drop], Result]


def encode(result: Result) -> str:
    """The compact JSON wire form stored in the spool and sent as is."""
    return json.dumps(result.to_wire(), separators=(",", ":"), ensure_ascii=False, allow_nan=False)


class Spool:
    """The outbox, the quarantine and the per-check state in one SQLite file."""

    def __init__(self, path: str | os.PathLike[str], *, max_age_s: float = DEFAULT_MAX_AGE_S,
                 max_bytes: int = DEFAULT_MAX_BYTES, quarantine_max: int = DEFAULT_QUARANTINE_MAX,
                 clock: Callable[[], float] = time.time):
        self.path = os.fspath(path)
        self.max_age_s = max_age_s
        self.max_bytes = max_bytes
        self.quarantine_max = quarantine_max
        self._clock = clock
        self._lock = threading.Lock()
        try:
            if self.path != ":memory:":
                os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            # isolation_level=None: we issue BEGIN IMMEDIATE / COMMIT ourselves.
            self._db: sqlite3.Connection | None = sqlite3.connect(
                self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=30000")
            self._db.executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;")
        except (sqlite3.Error, OSError) as exc:
            raise SpoolError(f"cannot open the spool {self.path}: {exc}") from exc

    # -- plumbing ---------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise SpoolError("the spool is closed")
        return self._db

    class _Tx:
        def __init__(self, db: sqlite3.Connection):
            self.db = db

        def __enter__(self) -> sqlite3.Connection:
            self.db.execute("BEGIN IMMEDIATE")
            return self.db

        def __exit__(self, exc_type: Any, *_: Any) -> None:
            self.db.execute("ROLLBACK" if exc_type else "COMMIT")

    def _tx(self) -> Spool._Tx:
        return Spool._Tx(self._conn())

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()  # the last connection to close checkpoints the WAL
                self._db = None

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    # -- the outbox -------------------------------------------------------

    def put(self, results: Iterable[Result]) -> list[str]:
        """Commit ``results`` (one transaction); returns their ids once on disk."""
        rows = []
        now = self._clock()
        for r in results:
            body = encode(r)
            rows.append((r.id, now, body_started_at(r), len(body.encode("utf-8")), body))
        if not rows:
            return []
        with self._lock, self._tx() as db:
            # OR IGNORE: the same id twice is the same result (a retried put).
            db.executemany("INSERT OR IGNORE INTO outbox (id, spooled_at, started_at, size, body)"
                           " VALUES (?, ?, ?, ?, ?)", rows)
        return [row[0] for row in rows]

    def batch(self, limit: int) -> list[SpooledResult]:
        """Up to ``limit`` results, oldest first."""
        with self._lock:
            cur = self._conn().execute("SELECT seq, id, body FROM outbox ORDER BY seq LIMIT ?",
                                       (max(1, limit),))
            return [SpooledResult(*row) for row in cur.fetchall()]

    def ack(self, ids: Iterable[str]) -> int:
        """Delete acknowledged results; returns how many were still here."""
        ids = list(ids)
        if not ids:
            return 0
        with self._lock, self._tx() as db:
            cur = db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])
            return max(0, cur.rowcount)

    def backlog(self) -> int:
        with self._lock:
            return int(self._conn().execute("SELECT count(*) FROM outbox").fetchone()[0])

    def backlog_bytes(self) -> int:
        with self._lock:
            return int(self._conn().execute(
                "SELECT value FROM meta WHERE key = 'outbox_bytes'").fetchone()[0])

    def contains(self, ids: Iterable[str]) -> set[str]:
        """Which of ``ids`` are still waiting in the outbox."""
        ids = list(ids)
        found: set[str] = set()
        with self._lock:
            db = self._conn()
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                marks = ",".join("?" * len(chunk))
                found.update(r[0] for r in db.execute(
                    f"SELECT id FROM outbox WHERE id IN ({marks})", chunk))
        return found

    # -- bounds -----------------------------------------------------------

    def enforce_bounds(self, notice: NoticeFactory) -> list[Drop]:
        """Drop what is past the age or byte bound, oldest first.

        For each bound that dropped anything, ``notice(drop)`` builds a result
        that is spooled in the same transaction: the drop is never silent,
        not even if the agent dies right after.
        """
        drops: list[Drop] = []
        with self._lock, self._tx() as db:
            cutoff = self._clock() - self.max_age_s
            n, oldest = db.execute("SELECT count(*), min(started_at) FROM outbox WHERE spooled_at < ?",
                                   (cutoff,)).fetchone()
            if n:
                db.execute("DELETE FROM outbox WHERE spooled_at < ?", (cutoff,))
                drops.append(Drop(n, oldest, "age", _words_duration(self.max_age_s)))
            total = db.execute("SELECT value FROM meta WHERE key = 'outbox_bytes'").fetchone()[0]
            if total > self.max_bytes:
                excess = total - int(self.max_bytes * BYTES_LOW_WATER)
                freed, last_seq, count, oldest = 0, None, 0, None
                for seq, size, started in db.execute(
                        "SELECT seq, size, started_at FROM outbox ORDER BY seq"):
                    freed += size
                    count += 1
                    last_seq = seq
                    oldest = oldest or started
                    if freed >= excess:
                        break
                if last_seq is not None:
                    db.execute("DELETE FROM outbox WHERE seq <= ?", (last_seq,))
                    drops.append(Drop(count, oldest or "", "bytes", _words_bytes(self.max_bytes)))
            for d in drops:
                db.execute("UPDATE meta SET value = value + ? WHERE key = 'dropped_total'", (d.count,))
                self._insert_notice(db, notice(d))
        for d in drops:
            log.warning("spool: dropped %d results (oldest from %s): past the %s bound of %s",
                        d.count, d.oldest_started_at, d.reason, d.limit)
        return drops

    def _insert_notice(self, db: sqlite3.Connection, result: Result) -> None:
        body = encode(result)
        db.execute("INSERT OR IGNORE INTO outbox (id, spooled_at, started_at, size, body)"
                   " VALUES (?, ?, ?, ?, ?)",
                   (result.id, self._clock(), body_started_at(result), len(body.encode()), body))

    # -- quarantine -------------------------------------------------------

    def quarantine(self, ids: Sequence[str], reason: str, notice: NoticeFactory | None = None) -> int:
        """Move results the collector rejected as invalid out of the outbox.

        The quarantine keeps the newest ``quarantine_max`` rows for a person to
        inspect (``sqlite3 spool.db 'select reason, body from quarantine'``).
        Unless every moved row is itself an ``agent`` notice (which would loop),
        ``notice`` builds a WARNING result spooled in the same transaction.
        """
        if not ids:
            return 0
        now = self._clock()
        with self._lock, self._tx() as db:
            moved = 0
            oldest = None
            all_agent = True
            for rid in ids:
                row = db.execute("SELECT body, started_at FROM outbox WHERE id = ?", (rid,)).fetchone()
                if row is None:
                    continue
                body, started = row
                db.execute("INSERT INTO quarantine (id, quarantined_at, reason, body) VALUES (?, ?, ?, ?)",
                           (rid, now, reason[:1000], body))
                db.execute("DELETE FROM outbox WHERE id = ?", (rid,))
                moved += 1
                oldest = started if oldest is None or started < oldest else oldest
                all_agent = all_agent and _is_agent_result(body)
            db.execute("DELETE FROM quarantine WHERE seq <= (SELECT max(seq) FROM quarantine) - ?",
                       (self.quarantine_max,))
            db.execute("UPDATE meta SET value = value + ? WHERE key = 'quarantined_total'", (moved,))
            if moved and notice is not None and not all_agent:
                self._insert_notice(db, notice(Drop(moved, oldest or "", "quarantine", reason[:200])))
        if moved:
            log.warning("spool: quarantined %d results the collector rejected as invalid", moved)
        return moved

    def quarantined(self) -> list[tuple[str, str, str]]:
        """(id, reason, body) of every quarantined result, oldest first."""
        with self._lock:
            return list(self._conn().execute("SELECT id, reason, body FROM quarantine ORDER BY seq"))

    def counters(self) -> dict[str, int]:
        with self._lock:
            return {k: int(v) for k, v in self._conn().execute("SELECT key, value FROM meta")}

    # -- per-check state --------------------------------------------------

    def load_state(self, key: str) -> dict[str, Any]:
        with self._lock:
            row = self._conn().execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        if row is None:
            return {}
        try:
            value = json.loads(row[0])
        except ValueError:
            log.warning("spool: state of %s is not valid JSON; starting afresh", key)
            return {}
        return value if isinstance(value, dict) else {}

    def save_state(self, key: str, state: dict[str, Any]) -> None:
        """Store a check instance's state; raises TypeError/ValueError if not JSON-serialisable."""
        text = json.dumps(state, separators=(",", ":"), allow_nan=False)
        with self._lock, self._tx() as db:
            db.execute("INSERT INTO state (key, value, updated_at) VALUES (?, ?, ?) "
                       "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
                       "updated_at = excluded.updated_at", (key, text, self._clock()))

    def integrity_ok(self) -> bool:
        with self._lock:
            verdict: object = self._conn().execute("PRAGMA integrity_check").fetchone()[0]
            return verdict == "ok"


def notice_factory(site: str, host: str) -> NoticeFactory:
    """The agent's own WARNING result (check ``agent``, item ``spool``) about a Drop."""

    def notice(drop: Drop) -> Result:
        if drop.reason == "quarantine":
            summary = (f"quarantined {drop.count} results the collector rejected as invalid "
                       f"(oldest from {drop.oldest_started_at}): {drop.limit}")
        else:
            what = "age limit" if drop.reason == "age" else "size limit"
            summary = (f"dropped {drop.count} results (oldest from {drop.oldest_started_at}) "
                       f"because the spool exceeded its {what} of {drop.limit}")
        return Result(check="agent", item="spool", status=Status.WARNING, summary=summary[:1000],
                      details={"reason": drop.reason, "count": drop.count,
                               "oldest_started_at": drop.oldest_started_at},
                      metrics=(Metric(f"{'quarantined' if drop.reason == 'quarantine' else 'dropped'}",
                                      float(drop.count), "count"),),
                      site=site, host=host)

    return notice


def body_started_at(result: Result) -> str:
    return result.started_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _is_agent_result(body: str) -> bool:
    return '"check":"agent"' in body


def _words_duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _words_bytes(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            value = n / size
            return f"{value:g} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} B"
