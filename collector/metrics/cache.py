"""The check-item part of ``/metrics``, kept per host between scrapes and re-read only where it changed.

At 10,000 hosts × 30 checks the item families are about a million series: reading every
``latest`` row and writing it out again at each scrape took seconds.  :class:`ItemCache` keeps, per
(site, host), that host's lines of each item family, already written, and at each scrape
re-reads only the hosts whose rows may have changed since:

* ingest writes a host's ``latest`` rows in the same transaction that moves its
  ``hosts.last_seen`` to the database time of that transaction (and nothing else writes or deletes
  ``latest`` rows), so a host whose ``last_seen`` is what it was at the previous read has the same
  rows; ``hosts`` is read **before** ``latest``, so what is cached is never older than its mark;
* a host seen within :data:`RECENT_S` of the previous read is re-read anyway (two transactions in
  one clock tick, or a clock set back, leave ``last_seen`` unchanged);
* each scrape also re-reads the next 1/:data:`SWEEP_SCRAPES` of all hosts in turn, so whatever
  happened, no host's lines are older than that many scrapes (no scrape pays for a full read but
  the first).

So every collector process serves what the database holds, exactly as a full read would (the
test compares them).  A scrape's cost is one read of ``hosts`` plus the rows of the hosts that
reported since the previous scrape, and the join of the cached text.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from itertools import groupby
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection

from collector.store import scrape

__all__ = ["RECENT_S", "SWEEP_SCRAPES", "HostItems", "ItemCache"]

RECENT_S = 1.0
SWEEP_SCRAPES = 100

Key = tuple[str, str]
# A host's rows → (the worst status of its items, -1 if it has none; family name → that host's lines of the
# family, written)
Writer = Callable[[Iterable[tuple[Any, ...]]], tuple[int, dict[str, bytes]]]
_HOST = itemgetter(0, 1)  # (site, host) of an item row


class HostItems:
    """One host's written lines per item family, the worst status of its items and the mark they are of."""

    __slots__ = ("lines", "mark", "worst")

    def __init__(self, mark: datetime | None, worst: int, lines: dict[str, bytes]):
        self.mark = mark
        self.worst = worst
        self.lines = lines


class ItemCache:
    """Per-host item lines, refreshed from the database at each :meth:`refresh`."""

    def __init__(self) -> None:
        self.hosts: dict[Key, HostItems] = {}
        self.lock = threading.Lock()  # one refresh at a time; callers hold it while they use ``hosts``
        self.filled = False  # False until the first (full) read
        self._sweep = 0  # where the next sweep slice starts, in the sorted hosts
        self._previous: datetime | None = None  # the newest last_seen at the previous read
        self.reread = 0  # hosts re-read by the last refresh (for the bench and the tests)

    def refresh(self, conn: Connection, marks: dict[Key, datetime], write: Writer) -> None:
        """Bring the cache up to ``marks`` (each host's ``last_seen``, read before this call)."""
        full = not self.filled
        if full:
            stale = list(marks)
        else:
            recent = None if self._previous is None else self._previous - timedelta(seconds=RECENT_S)
            keys = sorted(marks)
            size = -(-len(keys) // SWEEP_SCRAPES)
            if self._sweep >= len(keys):
                self._sweep = 0
            sweep = set(keys[self._sweep:self._sweep + size])
            self._sweep += size
            stale = [key for key, mark in marks.items()
                     if (held := self.hosts.get(key)) is None or held.mark != mark
                     or (recent is not None and mark >= recent) or key in sweep]
        wanted = set(stale)
        if full:
            self.hosts = {}
            rows = scrape.item_rows(conn)
        elif len(stale) > len(marks) // 3:  # one scan beats many lookups
            rows = scrape.item_rows(conn)
        else:
            rows = scrape.item_rows(conn, stale)
        # rows come in (site, host) order: each host's rows are written as they arrive, none kept
        for key, host_rows in groupby(rows, _HOST):
            if key in wanted:
                self.hosts[key] = HostItems(marks.get(key), *write(host_rows))
                wanted.discard(key)
        for key in wanted:  # a host with no item rows
            self.hosts[key] = HostItems(marks.get(key), *write(()))
        if len(self.hosts) > len(marks):  # every host in ``marks`` is held now: more means one is gone
            for key in [k for k in self.hosts if k not in marks]:
                del self.hosts[key]  # a host gone from ``hosts`` (not done today; kept exact anyway)
        self.filled = True
        self._previous = max(marks.values(), default=self._previous)
        self.reread = len(stale)
