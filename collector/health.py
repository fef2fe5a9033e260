"""Whether this collector can do its work: reach its database and store into it.

``/healthz`` must answer at once whatever the database does (a load balancer
gives it a second or two), so it never waits on the database itself: a
daemon thread (:class:`Health`) probes every ``interval`` seconds and
``/healthz`` reads what the probes found.

* **Reachable**: a ``SELECT 1`` answered within the last ``stale_after``
  seconds.  A database that stops answering (stopped, frozen, cut off)
  turns ``/healthz`` to 503 within about ``stale_after`` seconds; the probe
  itself is bounded by the engine's limits (:mod:`collector.store.db`).
* **Can store**: the latest write transaction that failed for lack of
  space, an I/O error or a read-only database is not newer than the latest
  one that succeeded (:func:`collector.store.db.storage_state`, fed by
  every write).  While it is, the probe also tries a small write of its own
  every ``write_every`` seconds (rewriting one row of ``health_probe`` with
  ``PROBE_BYTES`` of data, about what a batch of results takes), so the
  collector reports itself healthy again once space is freed even if no
  agent sends it anything meanwhile.

The same thread keeps a SQLite WAL bounded (:func:`collector.store.db.checkpoint_wal`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass

from sqlalchemy import Engine

from collector.store import queries
from collector.store.db import checkpoint_wal, reading, storage_state, writing
from collector.store.errors import classify, describe

__all__ = ["Health", "HealthReport", "PROBE_BYTES"]

log = logging.getLogger(__name__)

PROBE_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class HealthReport:
    ok: bool
    detail: str = ""


class Health:
    def __init__(self, engine: Engine, *, interval: float = 1.0, stale_after: float = 3.0,
                 write_every: float = 2.0) -> None:
        self.engine = engine
        self.interval = interval
        self.stale_after = stale_after
        self.write_every = write_every
        self.storage = storage_state(engine)
        self._answered = 0.0  # time.monotonic() of the latest SELECT 1 that answered
        self._problem = "not probed yet"
        self._last_write_probe = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def start(self) -> None:
        """Probe once now, then every ``interval`` seconds in a daemon thread (idempotent)."""
        with self._start_lock:
            if self._thread is not None:
                return
            self._stop.clear()
            self.probe()
            self._thread = threading.Thread(target=self._run, name="wardround-health", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(10)

    @property
    def running(self) -> bool:
        return self._thread is not None

    def report(self) -> HealthReport:
        """What ``/healthz`` answers; never touches the database."""
        if self._thread is None:  # an app used without its lifespan (no thread): probe inline
            self.probe()
        age = time.monotonic() - self._answered
        if age > self.stale_after:
            waited = "never" if self._answered == 0.0 else f"not for {age:.0f} s"
            return HealthReport(False, f"the database does not answer ({waited}: {self._problem})")
        if not self.storage.can_store:
            return HealthReport(False, f"the database cannot store: {self.storage.reason}")
        return HealthReport(True)

    def probe(self) -> None:
        try:
            with reading(self.engine) as conn:
                queries.ping(conn)
        except Exception as exc:  # noqa: BLE001 - any failure means "does not answer"; bugs are logged
            self._problem = describe(exc)
            if classify(exc) is None:
                log.exception("health probe failed")
            return
        self._answered = time.monotonic()
        self._bound_wal()
        if not self.storage.can_store and time.monotonic() - self._last_write_probe >= self.write_every:
            self._last_write_probe = time.monotonic()
            self._write_probe()

    def _bound_wal(self) -> None:
        try:
            if checkpoint_wal(self.engine):
                log.info("health: checkpointed a large SQLite WAL back to empty")
        except Exception as exc:  # noqa: BLE001 - a checkpoint that cannot run now runs at the next probe
            if classify(exc) is None:
                log.exception("WAL checkpoint failed")

    def _write_probe(self) -> None:
        try:
            with writing(self.engine) as conn:  # its outcome lands in the storage state
                queries.write_probe(conn, time.time(), os.urandom(PROBE_BYTES))
        except Exception as exc:  # noqa: BLE001 - the storage state says why; bugs are logged
            if classify(exc) is None:
                log.exception("health write probe failed")
            return
        log.info("health: the database stores again")

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.probe()
