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
threads write, the sender thread reads and deletes).  One process per spool:
opening takes an exclusive OS lock on ``<spool>.lock`` (:mod:`agent.lock`), so
a second agent on the same file refuses to start and names the first one's PID.

A corrupt spool never stops monitoring (:mod:`agent.spool_repair`): when the
file is found damaged at open, or SQLite reports corruption while running, it
is moved aside as ``<spool>.corrupt-<UTC time>`` (with its -wal/-shm), a fresh
spool starts with every result and check state that could still be read, and
a CRITICAL result of the agent's own (check ``agent``, item ``spool``) in the
same transaction says so: "spool was corrupt ...; N results may be lost".
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC

from agent import Worded, logs
from agent import spool_repair as repair
from agent.lock import LockHeld, ProcessLock
from agent.spool_notice import Cleared, Drop, NoticeFactory, Rejection, lost_words, notice_factory
from agent.spool_repair import Corruption
from checks._units import format_bytes, format_duration
from checks.result import Result, Status

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeVar
    _T = TypeVar("_T")

__all__ = ["Cleared", "Corruption", "Drop", "NoticeFactory", "Rejection", "Spool", "SpoolBusy",
           "SpoolError", "SpooledResult", "encode", "notice_factory"]

log = logs.get(__name__)

DEFAULT_MAX_AGE_S = 7 * 86400.0
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
DEFAULT_QUARANTINE_MAX = 1000
#: after the byte bound trips, drop down to this share of it so the next
#: result does not trip it again at once (one notice per episode, not per result)
BYTES_LOW_WATER = 0.9
#: the state row that says a notice (WARNING/CRITICAL) awaits its all clear
_NOTICE_STATE = "agent.spool.notice"

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


class SpoolError(Worded, RuntimeError):
    """The spool file cannot be opened or used (path, permissions, disk); worded for the reader
    (:class:`agent.Worded`)."""


class SpoolBusy(SpoolError):
    """Another process (an agent) has the spool open."""


def _cannot_open(path: str, exc: BaseException) -> SpoolError:
    """The spool cannot be opened; refused for want of permission on files another user owns (a command run
    as root made them: ``sudo wardround-agent once --push`` before the service started), it says whose and
    what to do."""
    owner = None
    if isinstance(exc, PermissionError) and hasattr(os, "geteuid"):
        for name in (exc.filename, path, os.path.dirname(os.path.abspath(path))):
            try:
                uid = os.stat(name).st_uid if name else None
            except OSError:
                continue
            if uid is not None and uid != os.geteuid():
                owner = uid
                break
    if owner is None:
        return SpoolError(f"cannot open the spool {path}: {exc}", "cli.agent.spool.cannot_open", path=path,
                          error=str(exc))
    folder, me = os.path.dirname(os.path.abspath(path)), os.geteuid()
    return SpoolError(f"cannot open the spool {path}: {exc}: its files belong to uid {owner}, not to this "
                      f"user (uid {me}) — made by a command run as another user (sudo?): chown -R the folder "
                      f"{folder} to the agent's user", "cli.agent.spool.not_yours", path=path, error=str(exc),
                      owner=f"uid {owner}", me=f"uid {me}", command="chown -R", folder=folder)


@dataclass(frozen=True)
class SpooledResult:
    """One row of the outbox: the result id and its compact JSON wire form."""

    seq: int
    id: str
    body: str




def encode(result: Result) -> str:
    """The compact JSON wire form stored in the spool and sent as is."""
    return json.dumps(result.to_wire(), separators=(",", ":"), ensure_ascii=False, allow_nan=False)


class Spool:
    """The outbox, the quarantine and the per-check state in one SQLite file."""

    def __init__(self, path: str | os.PathLike[str], *, max_age_s: float = DEFAULT_MAX_AGE_S,
                 max_bytes: int = DEFAULT_MAX_BYTES, quarantine_max: int = DEFAULT_QUARANTINE_MAX,
                 clock: Callable[[], float] = time.time, notice: NoticeFactory | None = None):
        """Open (or create) the spool; raises SpoolBusy if another process has it, SpoolError if
        it cannot be used.  A corrupt file is replaced (see the module docstring); ``notice``
        builds the CRITICAL result that reports it, kept in :attr:`notices` as well."""
        self.path = os.fspath(path)
        self.max_age_s = max_age_s
        self.max_bytes = max_bytes
        self.quarantine_max = quarantine_max
        self.notice = notice
        #: the results this spool spooled about its own corruption since it was opened
        self.notices: list[Result] = []
        self._clock = clock
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._owner: ProcessLock | None = None
        if self.path == ":memory:":
            self._db = self._connect(check=False)
            return
        try:
            # what the checks measured (account names, databases, paths) is for the agent's user only, as its
            # token: a folder made here is 0700, the spool 0600 (_create), whatever the umask of a hand-run command
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), mode=0o700, exist_ok=True)
            self._owner = ProcessLock(self.path + ".lock")
        except LockHeld as exc:
            who = f"PID {exc.pid}" if exc.pid else "another process"
            raise SpoolBusy(f"the spool {self.path} is in use by {who} (another wardround-agent?): "
                            "one agent per spool; stop that one first, or give this one its own "
                            "spool:", "cli.agent.spool.busy" if exc.pid else "cli.agent.spool.busy_other",
                            path=str(self.path), pid=exc.pid or 0) from None
        except OSError as exc:
            raise _cannot_open(self.path, exc) from exc
        try:
            problem = repair.file_problem(self.path)
            if problem is None:
                try:
                    self._db = self._connect(check=True)
                except (sqlite3.DatabaseError, repair.Corrupt) as exc:
                    if not repair.is_corruption(exc):
                        raise
                    problem = _one_line(exc)
            if problem is not None:
                self._recover(problem, "at start")
        except (sqlite3.Error, OSError) as exc:
            self._release()
            raise _cannot_open(self.path, exc) from exc
        except BaseException:
            self._release()
            raise

    # -- plumbing ---------------------------------------------------------

    def _connect(self, *, check: bool) -> sqlite3.Connection:
        """A connection with the schema; ``check``: raise Corrupt unless PRAGMA quick_check is ok."""
        if self.path != ":memory:" and not os.path.exists(self.path):
            self._create()
        # isolation_level=None: we issue BEGIN IMMEDIATE / COMMIT ourselves.
        db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA busy_timeout=30000")
            if check:
                verdict = db.execute("PRAGMA quick_check").fetchone()[0]
                if verdict != "ok":
                    raise repair.Corrupt(f"integrity check failed: {_one_line(verdict)}")
            db.executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;")
        except BaseException:
            db.close()
            raise
        return db

    def _create(self) -> None:
        """Make a new spool whole under a temporary name, then rename it into place: the agent
        never leaves an empty or half-made spool behind (an empty one means truncation)."""
        new = self.path + ".new"
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(new + suffix):
                os.remove(new + suffix)
        os.close(os.open(new, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))  # SQLite gives -wal/-shm its mode
        db = sqlite3.connect(new, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;")
        finally:
            db.close()
        os.replace(new, self.path)

    def _recover(self, problem: str, found: str) -> None:
        """Replace the corrupt spool (caller holds ``_lock`` or is the constructor)."""
        self._disconnect()
        moved = repair.move_aside(self.path, self._clock())
        main = next((m for m in moved if not m.endswith(("-wal", "-shm"))), None)
        saved = repair.salvage(main) if main is not None else repair.Salvage()
        self._db = self._connect(check=False)
        event = Corruption(error=problem, found=found, moved_to=moved, recovered=len(saved.outbox),
                           lost=saved.lost, exact=saved.exact, states_recovered=len(saved.state),
                           file_bytes=os.path.getsize(main) if main is not None else 0)
        notice = self.notice(event) if self.notice is not None else None
        with self._tx() as db:
            db.executemany("INSERT OR IGNORE INTO outbox (id, spooled_at, started_at, size, body)"
                           " VALUES (?, ?, ?, ?, ?)", saved.outbox)
            db.executemany("INSERT OR IGNORE INTO state (key, value, updated_at) VALUES (?, ?, ?)",
                           saved.state)
            if notice is not None:
                self._insert_notice(db, notice)
        if notice is not None:
            self.notices.append(notice)
        log.error("SPOOL CORRUPT: %s was corrupt (%s), found %s; moved aside to %s; a fresh spool "
                  "took over with %d results and %d check states recovered; %s",
                  self.path, problem, found, ", ".join(moved) or "(nothing to move)",
                  len(saved.outbox), len(saved.state), lost_words(saved.lost, saved.exact))

    def _do(self, op: Callable[[sqlite3.Connection], _T]) -> _T:
        """``op(connection)`` under the lock; a corrupt spool is replaced and ``op`` run once more."""
        with self._lock:
            try:
                return op(self._conn())
            except (sqlite3.DatabaseError, repair.Corrupt) as exc:
                if not repair.is_corruption(exc) or self.path == ":memory:":
                    raise
                try:
                    self._recover(_one_line(exc), "while running")
                except (sqlite3.Error, OSError) as again:
                    raise SpoolError(f"the spool {self.path} is corrupt and could not be "
                                     f"replaced: {again}", "cli.agent.spool.unreplaceable",
                                     path=str(self.path), error=str(again)) from again
            return op(self._conn())

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
            if exc_type is None:
                self.db.execute("COMMIT")
                return
            try:
                self.db.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # a corrupt file may refuse even that; the original error is what counts

    def _tx(self) -> Spool._Tx:
        return Spool._Tx(self._conn())

    def _disconnect(self) -> None:
        if self._db is not None:
            try:
                self._db.close()  # the last connection to close checkpoints the WAL
            except sqlite3.Error as exc:  # a corrupt file may refuse even that
                log.warning("spool: closing %s: %s", self.path, exc)
            self._db = None

    def _release(self) -> None:
        """Close the connection and let go of the spool's lock."""
        self._disconnect()
        if self._owner is not None:
            self._owner.release()
            self._owner = None

    def close(self) -> None:
        with self._lock:
            self._release()

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

        def insert(conn: sqlite3.Connection) -> None:
            with Spool._Tx(conn) as db:
                # OR IGNORE: the same id twice is the same result (a retried put).
                db.executemany("INSERT OR IGNORE INTO outbox (id, spooled_at, started_at, size, body)"
                               " VALUES (?, ?, ?, ?, ?)", rows)

        self._do(insert)
        return [row[0] for row in rows]

    def batch(self, limit: int) -> list[SpooledResult]:
        """Up to ``limit`` results, oldest first."""
        return self._do(lambda db: [SpooledResult(*row) for row in db.execute(
            "SELECT seq, id, body FROM outbox ORDER BY seq LIMIT ?", (max(1, limit),)).fetchall()])

    def ack(self, ids: Iterable[str]) -> int:
        """Delete acknowledged results; returns how many were still here."""
        ids = list(ids)
        if not ids:
            return 0

        def delete(conn: sqlite3.Connection) -> int:
            with Spool._Tx(conn) as db:
                return max(0, db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids]).rowcount)

        return self._do(delete)

    def ack_with_state(self, ids: Iterable[str], key: str, state: dict[str, Any]) -> int:
        """:meth:`ack` and :meth:`save_state` in one transaction (the relay's bundle export)."""
        ids = list(ids)
        text = json.dumps(state, separators=(",", ":"), allow_nan=False)

        def both(conn: sqlite3.Connection) -> int:
            with Spool._Tx(conn) as db:
                n = max(0, db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids]).rowcount)
                db.execute("INSERT INTO state (key, value, updated_at) VALUES (?, ?, ?) "
                           "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
                           "updated_at = excluded.updated_at", (key, text, self._clock()))
                return n

        return self._do(both)

    def backlog(self) -> int:
        return self._do(lambda db: int(db.execute("SELECT count(*) FROM outbox").fetchone()[0]))

    def contains(self, ids: Iterable[str]) -> set[str]:
        """Which of ``ids`` are still waiting in the outbox."""
        ids = list(ids)

        def find(db: sqlite3.Connection) -> set[str]:
            found: set[str] = set()
            for i in range(0, len(ids), 500):
                chunk = ids[i:i + 500]
                marks = ",".join("?" * len(chunk))
                found.update(r[0] for r in db.execute(
                    f"SELECT id FROM outbox WHERE id IN ({marks})", chunk))
            return found

        return self._do(find)

    # -- bounds -----------------------------------------------------------

    def enforce_bounds(self, notice: NoticeFactory) -> list[Drop]:
        """Drop what is past the age or byte bound, oldest first.

        For each bound that dropped anything, ``notice(drop)`` builds a result
        that is spooled in the same transaction: the drop is never silent,
        not even if the agent dies right after.
        """
        return self._do(lambda conn: self._enforce_bounds(conn, notice))

    def _enforce_bounds(self, conn: sqlite3.Connection, notice: NoticeFactory) -> list[Drop]:
        drops: list[Drop] = []
        with Spool._Tx(conn) as db:
            cutoff = self._clock() - self.max_age_s
            n, oldest = db.execute("SELECT count(*), min(started_at) FROM outbox WHERE spooled_at < ?",
                                   (cutoff,)).fetchone()
            if n:
                db.execute("DELETE FROM outbox WHERE spooled_at < ?", (cutoff,))
                drops.append(Drop(n, oldest, "age", format_duration(self.max_age_s), self.max_age_s))
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
                    drops.append(Drop(count, oldest or "", "bytes", format_bytes(self.max_bytes),
                                      float(self.max_bytes)))
            for d in drops:
                db.execute("UPDATE meta SET value = value + ? WHERE key = 'dropped_total'", (d.count,))
                self._insert_notice(db, notice(d))
        for d in drops:
            log.warning("spool: dropped %d results (oldest from %s): past the %s bound of %s",
                        d.count, d.oldest_started_at, d.reason, d.limit)
            logs.told_too(log, functools.partial(_dropped, d))
        return drops

    def _insert_notice(self, db: sqlite3.Connection, result: Result) -> None:
        body = encode(result)
        db.execute("INSERT OR IGNORE INTO outbox (id, spooled_at, started_at, size, body)"
                   " VALUES (?, ?, ?, ?, ?)",
                   (result.id, self._clock(), body_started_at(result), len(body.encode()), body))
        if result.status != Status.OK:  # an event: the all clear follows once everything is delivered
            db.execute("INSERT OR REPLACE INTO state (key, value, updated_at) VALUES (?, '{}', ?)",
                       (_NOTICE_STATE, self._clock()))

    def all_clear(self, notice: NoticeFactory) -> bool:
        """After a notice, once the outbox is empty (everything up to it delivered or quarantined): spool the
        OK notice (:class:`Cleared`, with how many of them the collector refused) and forget the notice, in
        one transaction.  True if it did."""

        def clear(conn: sqlite3.Connection) -> bool:
            if conn.execute("SELECT 1 FROM state WHERE key = ?", (_NOTICE_STATE,)).fetchone() is None:
                return False  # the common case: a read, no write lock
            with Spool._Tx(conn) as db:
                if db.execute("SELECT 1 FROM outbox LIMIT 1").fetchone() is not None:
                    return False
                refused = _quarantined_since_notice(db)
                db.execute("DELETE FROM state WHERE key = ?", (_NOTICE_STATE,))
                self._insert_notice(db, notice(Cleared(quarantined=refused)))
            return True

        return self._do(clear)

    # -- quarantine -------------------------------------------------------

    def quarantine(self, ids: Sequence[str], reason: Rejection | str, notice: NoticeFactory | None = None) -> int:
        """Move results the collector rejected as invalid out of the outbox.

        The quarantine keeps the newest ``quarantine_max`` rows for a person to
        inspect (``sqlite3 spool.db 'select reason, body from quarantine'``); ``reason`` is the
        collector's :class:`Rejection` (the notice says it in the reader's language) or free words.
        Unless every moved row is itself an ``agent`` notice (which would loop),
        ``notice`` builds a WARNING result spooled in the same transaction.
        """
        if not ids:
            return 0
        return self._do(lambda conn: self._quarantine(conn, ids, reason, notice))

    def _quarantine(self, conn: sqlite3.Connection, ids: Sequence[str], why: Rejection | str,
                    notice: NoticeFactory | None) -> int:
        now = self._clock()
        reason = why.words if isinstance(why, Rejection) else why
        with Spool._Tx(conn) as db:
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
            if moved:  # not delivered: the all clear after a pending notice must not say they were
                db.execute("UPDATE state SET value = ? WHERE key = ?",
                           (json.dumps({"quarantined": _quarantined_since_notice(db) + moved}), _NOTICE_STATE))
            if moved and notice is not None and not all_agent:
                self._insert_notice(db, notice(Drop(moved, oldest or "", "quarantine", reason[:200],
                                                     rejection=why if isinstance(why, Rejection) else None)))
        if moved:
            log.warning("spool: quarantined %d results the collector rejected as invalid", moved)
        return moved

    def quarantined(self) -> list[tuple[str, str, str]]:
        """(id, reason, body) of every quarantined result, oldest first."""
        return self._do(lambda db: list(db.execute(
            "SELECT id, reason, body FROM quarantine ORDER BY seq")))

    def counters(self) -> dict[str, int]:
        return self._do(lambda db: {k: int(v) for k, v in db.execute("SELECT key, value FROM meta")})

    # -- per-check state --------------------------------------------------

    def load_state(self, key: str) -> dict[str, Any]:
        row = self._do(lambda db: db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone())
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

        def upsert(conn: sqlite3.Connection) -> None:
            with Spool._Tx(conn) as db:
                db.execute("INSERT INTO state (key, value, updated_at) VALUES (?, ?, ?) "
                           "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
                           "updated_at = excluded.updated_at", (key, text, self._clock()))

        self._do(upsert)


def _one_line(exc: object) -> str:
    return " ".join(str(exc).split())[:300]


def body_started_at(result: Result) -> str:
    return result.started_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _quarantined_since_notice(db: sqlite3.Connection) -> int:
    """How many results were quarantined since the pending notice was spooled (that notice among them)."""
    row = db.execute("SELECT value FROM state WHERE key = ?", (_NOTICE_STATE,)).fetchone()
    try:
        return int(json.loads(row[0]).get("quarantined", 0)) if row is not None else 0
    except (ValueError, TypeError, AttributeError):
        return 0


def _is_agent_result(body: str) -> bool:
    return '"check":"agent"' in body


def _dropped(d: Drop) -> str:
    """Results dropped from a full spool, as a command-line message in the reader's language (logs.told_too)."""
    from checks.messages.reader import tell

    return tell("cli.agent.log.spool_dropped", n=d.count, oldest=d.oldest_started_at, limit=d.limit,
                key="spool_max_bytes" if d.reason == "bytes" else "spool_max_age")
