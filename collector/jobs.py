"""Periodic work inside ``wardround-collector serve``: the ticket sweep and the record schedule.

:func:`sweep` is a plain function of the database and the time, so tests
call it with an injected clock.  It marks breached deadlines once (a
conditional UPDATE: with several collector processes each breach is
recorded and notified exactly once), raises levels per policy, and opens
"agent silent" tickets for hosts that stopped reporting.

:class:`Sweeper` runs it in a daemon thread every ``interval`` seconds, the
first run at start; one per collector process is enough and more are safe.  Its time is the
database's clock (:class:`collector.store.db.DatabaseClock`), not this
machine's: a collector whose clock runs ahead must not see deadlines passed or
agents silent before the others do.
A failing sweep is logged and retried at the next interval.

:class:`RecordScheduler` issues the inspection records each site's policy
schedules (see :mod:`collector.records.service`), once each across collectors;
:class:`RetentionJob` applies the retention settings once a day across collectors (:mod:`collector.retention`);
:class:`RollupJob` rolls up the closed hours stored into (:mod:`collector.store.rollups`);
:class:`MetricsWarmup` fills ``/metrics``' item cache once at start (:mod:`collector.metrics.cache`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Engine

from collector import audit, retention
from collector.keys import Keyring
from collector.metrics import CollectorMetrics
from collector.policy import Policies
from collector.records.service import Records
from collector.store import rollups
from collector.store.db import writing
from collector.store.errors import classify, describe
from collector.tickets import SweepReport, Tickets

__all__ = ["MetricsWarmup", "PeriodicJob", "RecordScheduler", "RetentionJob", "RollupJob", "Sweeper", "sweep"]

log = logging.getLogger(__name__)


def sweep(engine: Engine, now: datetime, policies: Policies | None = None) -> SweepReport:
    """One pass of the ticket sweep at ``now``."""
    return Tickets(engine, policies).sweep(now)


class PeriodicJob:
    """Runs :meth:`step` every ``interval`` seconds in a daemon thread, the first time at start.

    A failing step is logged and retried at the next interval: the thread
    outlives database outages and its own bugs.
    """

    thread_name = "wardround-job"
    what = "periodic job"

    def __init__(self, interval: float, clock: Callable[[], datetime]) -> None:
        self.interval = interval
        self.clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def step(self, now: datetime) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step(self.clock())
            except Exception as exc:  # must outlive database outages and its own bugs
                fault = classify(exc)
                if fault is not None and fault.kind == "unavailable":
                    log.warning("%s failed, retrying in %gs: database unavailable: %s", self.what,
                                self.interval, describe(exc))
                else:  # a bug: logged in full
                    log.exception("%s failed, retrying in %gs", self.what, self.interval)
            self._stop.wait(self.interval)


class Sweeper(PeriodicJob):
    """Runs the ticket sweep (:meth:`Tickets.sweep`) every ``interval`` seconds."""

    thread_name = "wardround-ticket-sweep"
    what = "ticket sweep"

    def __init__(self, tickets: Tickets, interval: float,
                 clock: Callable[[], datetime] | None = None) -> None:
        super().__init__(interval, clock or tickets.clock)
        self.tickets = tickets

    def step(self, now: datetime) -> None:
        report = self.tickets.sweep(now)
        if report.breaches or report.silent_opened or report.silent_reopened:
            log.info("ticket sweep: %d breach(es), %d escalation(s), %d agent-silent ticket(s) "
                     "opened, %d reopened", report.breaches, report.escalations,
                     report.silent_opened, report.silent_reopened)


class RecordScheduler(PeriodicJob):
    """Issues the scheduled inspection records (:meth:`Records.issue_due`) every ``interval`` seconds.

    The first pass runs at start, so a record due while the collector was
    down is issued when it comes back.  With several collector processes
    each runs this; the unique key on (site, kind, period_start) stores each
    record once.
    """

    thread_name = "wardround-records"
    what = "record schedule"

    def __init__(self, records: Records, interval: float = 60,
                 clock: Callable[[], datetime] | None = None) -> None:
        super().__init__(interval, clock or records.clock)
        self.records = records

    def step(self, now: datetime) -> None:
        audit.SOURCE.set("scheduler")  # the audit log's "from where" of records issued on schedule
        issued = self.records.issue_due(now)
        if issued:
            log.info("issued %d scheduled record(s): %s", len(issued), issued)


class RetentionJob(PeriodicJob):
    """Runs :func:`collector.retention.prune` once a day across collectors.

    Checked every ``interval`` seconds; the first check comes ``interval`` after start, not at
    start, so a collector restarted in a loop does not prune in a loop.
    """

    thread_name = "wardround-retention"
    what = "retention prune"

    def __init__(self, engine: Engine, policy: retention.Retention, clock: Callable[[], datetime],
                 interval: float = 3600, keys: Keyring | None = None) -> None:
        super().__init__(interval, clock)
        self.engine = engine
        self.retention = policy
        self.keys = keys  # sign the audit log's retention checkpoint
        self._started = time.monotonic()

    def step(self, now: datetime) -> None:
        if time.monotonic() - self._started < self.interval:
            return
        with writing(self.engine) as conn:
            if not retention.claim_day(conn, "prune", now.date(), now):
                return
        report = retention.prune(self.engine, self.retention, now, pause=0.05, keys=self.keys)
        log.info("retention: %s", "; ".join(report.lines()))



class RollupJob(PeriodicJob):
    """Every ``interval`` s, folds the results stored since into their hour rows and closes the hours
    :func:`~collector.store.rollups.fold_point` has passed (:func:`collector.store.rollups.refresh`).

    Every collector runs one; on PostgreSQL one at a time does the work (an advisory lock), and the marks it
    reads are locked until it has written, so nothing is counted twice or left out.
    """

    thread_name = "wardround-rollup"
    what = "roll-up"

    def __init__(self, engine: Engine, policies: Policies, policy: retention.Retention,
                 clock: Callable[[], datetime], interval: float = 60) -> None:
        super().__init__(interval, clock)
        self.engine = engine
        self.policies = policies
        self.retention = policy
        self._folded: datetime | None = None

    def step(self, now: datetime) -> None:
        upto = rollups.fold_point(now)  # results this old are folded; an hour closes when upto has passed its end
        folded, self._folded = self._folded, upto  # open hours once a fold point: other rounds only closed ones
        done = rollups.refresh(self.engine, lambda site: self.policies.for_site(site).calendar.zone,
                               before=rollups.hour_of(upto), upto=None if upto == folded else upto,
                               not_before=now - self.retention.results)
        if done:
            log.info("rolled up %d dirty hour(s)", done)


class MetricsWarmup(PeriodicJob):
    """Reads ``/metrics``' check items once at start, in the background, so the first scrape after a restart
    is answered from the cache (the full read takes seconds at 10,000 hosts × 30 checks); retried every
    ``interval`` while the database cannot be read, and not at all once a scrape has filled the cache."""

    thread_name = "wardround-metrics-warmup"
    what = "metrics warm-up"

    def __init__(self, metrics: CollectorMetrics, interval: float = 30) -> None:
        super().__init__(interval, lambda: datetime.now(UTC))  # the time is not used
        self.metrics = metrics
        self.done = threading.Event()  # set once the cache is filled

    def step(self, now: datetime) -> None:
        self.metrics.warm()
        self.done.set()
        self._stop.set()  # once is enough
