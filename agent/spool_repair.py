"""A corrupt spool: recognise it, move it aside for forensics, salvage what can still be read.

A broken disk, a bad copy or a careless hand can leave the spool file unusable;
monitoring must not stop because of it.  :class:`agent.spool.Spool` asks this
module whether the file is sound when it opens it and whenever SQLite reports
corruption while running, and then moves the file away, starts a fresh one
with whatever could be salvaged, and spools a CRITICAL result saying so.

What counts as corrupt:

==================================  ========================================
what happened to the file           how it shows
==================================  ========================================
random bytes over the header        SQLite: "file is not a database"
random bytes inside, truncated      SQLite: "database disk image is
                                    malformed", or ``PRAGMA quick_check``
                                    names the damaged page
0 bytes, or gone with its -wal left  this module: the agent never leaves an
                                    empty spool (it creates it whole, then
                                    renames it into place)
a damaged write-ahead log (-wal)    this module: SQLite silently ignores a
                                    WAL from the first bad frame on, losing
                                    the transactions after it; a bad header,
                                    or a committed frame of the current WAL
                                    generation after a bad one, is damage
==================================  ========================================

The corrupt file and its ``-wal``/``-shm`` are renamed to
``<spool>.corrupt-<UTC time>`` (plus the same suffixes) and never touched
again; salvage reads them read-only.  The checks' state (table ``state``)
lives in the same file and is salvaged the same way.
"""

from __future__ import annotations

import json
import os
import sqlite3
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime

from agent import logs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Corrupt", "Corruption", "Salvage", "file_problem", "is_corruption", "move_aside",
           "salvage"]

log = logs.get(__name__)

SQLITE_CORRUPT, SQLITE_NOTADB = 11, 26
WAL_MAGIC = (0x377F0682, 0x377F0683)
WAL_VERSION = 3007000
_WAL_HEADER = 32
_FRAME_HEADER = 24
#: when nothing can be counted: a spooled result takes about this much room in the file
BYTES_PER_RESULT_GUESS = 1024


class Corrupt(Exception):
    """The spool file is damaged; the message says how it showed."""


@dataclass(frozen=True)
class Salvage:
    """What could be read back from a corrupt spool."""

    outbox: list[tuple[str, float, str, int, str]] = field(default_factory=list)
    state: list[tuple[str, str, float]] = field(default_factory=list)
    lost: int | None = None  # results that could not be read; None when not even estimable
    exact: bool = False  # ``lost`` was counted, not estimated


@dataclass(frozen=True)
class Corruption:
    """A corrupt spool that was replaced: the agent turns it into a CRITICAL result."""

    error: str  # how the damage showed
    found: str  # "at start" or "while running"
    moved_to: tuple[str, ...]  # the forensic copies
    recovered: int  # results carried over into the fresh spool
    lost: int | None  # results that may be lost (None: unknown)
    exact: bool
    states_recovered: int
    file_bytes: int = 0  # the corrupt file's size


def is_corruption(exc: BaseException) -> bool:
    """True for SQLITE_CORRUPT / SQLITE_NOTADB (and their extended codes) and :class:`Corrupt`."""
    if isinstance(exc, Corrupt):
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.DatabaseError) and isinstance(code, int) \
        and code & 0xFF in (SQLITE_CORRUPT, SQLITE_NOTADB)


def file_problem(path: str) -> str | None:
    """Damage SQLite would not report itself: an empty spool, a damaged WAL. None if sound."""
    try:
        size = os.path.getsize(path)
    except FileNotFoundError:
        if os.path.exists(path + "-wal") and os.path.getsize(path + "-wal") > 0:
            # SQLite would lay this log over a new, empty spool
            return "the spool file is gone but its write-ahead log is left"
        return None
    if size == 0:
        return "the spool file is empty (0 bytes): it was truncated"
    return wal_problem(path + "-wal")


def wal_problem(path: str) -> str | None:
    """Why the write-ahead log at ``path`` hides committed transactions from SQLite, or None.

    SQLite reads frames while their salts match the header's and their checksum
    chain holds, and ignores the rest of the file: normally stale frames of an
    earlier generation, or an unfinished transaction cut off by a crash.  A
    committed frame of the current generation after the first bad one cannot be
    either; nor can a WAL with a broken header and frames after it.
    """
    try:
        with open(path, "rb") as fh:
            header = fh.read(_WAL_HEADER)
            if len(header) < _WAL_HEADER:
                return None  # nothing was ever committed to it
            magic, version, page_size, _seq, salt1, salt2, c1, c2 = struct.unpack(">8I", header)
            valid = (magic in WAL_MAGIC and version == WAL_VERSION and 512 <= page_size <= 65536
                     and page_size & (page_size - 1) == 0)
            big_endian = bool(magic & 1)
            if not valid or _checksum(header[:24], big_endian, 0, 0) != (c1, c2):
                rest = os.fstat(fh.fileno()).st_size - _WAL_HEADER
                if rest >= _FRAME_HEADER + 512:
                    return f"the write-ahead log {os.path.basename(path)} has a damaged header"
                return None
            chain = (c1, c2)
            frame_size = _FRAME_HEADER + page_size
            index = 0
            broken_at: int | None = None
            lost_commits = 0
            while len(frame := fh.read(frame_size)) == frame_size:
                index += 1
                pgno, commit, s1, s2, f1, f2 = struct.unpack(">6I", frame[:_FRAME_HEADER])
                current = (s1, s2) == (salt1, salt2) and pgno > 0
                if broken_at is None:
                    if current:
                        after = _checksum(frame[:8] + frame[_FRAME_HEADER:], big_endian, *chain)
                        if after == (f1, f2):
                            chain = after
                            continue
                    broken_at = index
                if current and commit:
                    lost_commits += 1
    except FileNotFoundError:
        return None
    if lost_commits:
        return (f"the write-ahead log {os.path.basename(path)} is damaged at frame {broken_at}: "
                f"{lost_commits} committed transactions after it cannot be read")
    return None


def _checksum(data: bytes, big_endian: bool, s1: int, s2: int) -> tuple[int, int]:
    """SQLite's WAL checksum (walChecksumBytes) over ``data``, continuing from (s1, s2)."""
    words = struct.unpack(f"{'>' if big_endian else '<'}{len(data) // 4}I", data)
    for i in range(0, len(words), 2):
        s1 = (s1 + words[i] + s2) & 0xFFFFFFFF
        s2 = (s2 + words[i + 1] + s1) & 0xFFFFFFFF
    return s1, s2


def move_aside(path: str, now: float) -> tuple[str, ...]:
    """Rename the spool and its -wal/-shm to ``<path>.corrupt-<UTC time>[-wal|-shm]``."""
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%SZ")
    base = f"{path}.corrupt-{stamp}"
    n = 1
    while any(os.path.exists(base + s) for s in ("", "-wal", "-shm")):
        n += 1
        base = f"{path}.corrupt-{stamp}-{n}"
    moved = []
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.replace(path + suffix, base + suffix)
            moved.append(base + suffix)
    return tuple(moved)


def salvage(path: str) -> Salvage:
    """Read what can be read from the corrupt spool at ``path`` (read-only; never changes it).

    Results are read in ``seq`` order; where a damaged page stops the reading, the
    next readable ``seq`` is searched for (doubling the step, then bisecting) and
    reading goes on from there, so a damaged page costs only the results under it.
    Check states are read forwards and backwards.  A body that is not the JSON of
    its own id is left behind.  How many are lost is counted when ``count(*)`` still
    works, estimated from the spool's byte counter when it does not, else unknown.
    """
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return Salvage()
    try:
        db = sqlite3.connect(f"file:{_uri_path(path)}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.Error:
        return Salvage()
    try:
        outbox = [r[1:] for r in _scan(db, "SELECT seq, id, spooled_at, started_at, size, body FROM outbox")
                  if _body_of(r[1], r[5])]
        state = _rows(db, "SELECT key, value, updated_at FROM state", "key")
        total = _scalar(db, "SELECT count(*) FROM outbox")
        if total is not None:
            return Salvage(outbox, state, max(0, total - len(outbox)), exact=True)
        spooled_bytes = _scalar(db, "SELECT value FROM meta WHERE key = 'outbox_bytes'")
        if spooled_bytes is not None:
            kept = sum(r[3] for r in outbox)
            per = kept / len(outbox) if outbox else BYTES_PER_RESULT_GUESS
            return Salvage(outbox, state, max(0, round((spooled_bytes - kept) / per)))
        return Salvage(outbox, state)
    finally:
        db.close()


def _uri_path(path: str) -> str:
    from urllib.parse import quote

    return quote(os.path.abspath(path).replace(os.sep, "/"))


def _scan(db: sqlite3.Connection, select: str) -> list[Any]:
    """The readable rows of ``select`` (first column ``seq``, the integer key), skipping damage."""
    rows: list[Any] = []
    pos = 0  # the smallest seq not read yet

    def first_from(start: int) -> Any:
        """The first row at or after ``start``; raises where the damage is."""
        return db.execute(f"{select} WHERE seq >= ? ORDER BY seq LIMIT 1", (start,)).fetchone()

    while True:
        try:
            for row in db.execute(f"{select} WHERE seq >= ? ORDER BY seq", (pos,)):
                rows.append(row)
                pos = row[0] + 1
            return rows
        except sqlite3.Error:
            pass
        # pos lies in a damaged stretch: find where readable rows start again
        step = 1
        while True:
            try:
                if first_from(pos + step) is None:
                    return rows  # nothing readable after the damage
                break
            except sqlite3.Error:
                if step > 1 << 62:
                    return rows
                step *= 2
        low, high = pos + step // 2, pos + step  # first_from fails at low (or low is pos), works at high
        while high - low > 1:
            mid = (low + high) // 2
            try:
                first_from(mid)
                high = mid
            except sqlite3.Error:
                low = mid
        pos = high


def _rows(db: sqlite3.Connection, query: str, order: str) -> list[Any]:
    """The readable rows of ``query`` (whose first column is ``order``), in that order."""
    found: dict[Any, Any] = {}
    for direction in ("ASC", "DESC"):
        try:
            for row in db.execute(f"{query} ORDER BY {order} {direction}"):
                if row[0] in found:
                    break  # met the forward pass: everything readable is read
                found[row[0]] = row
        except sqlite3.Error:
            continue
    return [found[k] for k in sorted(found)]


def _scalar(db: sqlite3.Connection, query: str) -> int | None:
    try:
        row = db.execute(query).fetchone()
    except sqlite3.Error:
        return None
    return int(row[0]) if row is not None and isinstance(row[0], int) else None


def _body_of(rid: Any, body: Any) -> bool:
    try:
        return isinstance(body, str) and json.loads(body).get("id") == rid
    except (ValueError, AttributeError):
        return False
