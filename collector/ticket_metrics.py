"""Prometheus families of the ticket ledger, built from the database at each scrape.

Everything here is read from the ``tickets`` and ``ticket_events`` tables, so
every collector process exports the same numbers and a restart loses nothing
(with several collectors, aggregate with ``max``, never ``sum``).  Each family
is one aggregate query (``GROUP BY``); the series are bounded by sites × levels.

Live tickets (gauges, by *current* severity, 1 most severe):

``wardround_tickets_open{site,severity}``
    tickets open or acknowledged.
``wardround_tickets_unacknowledged{site,severity}``
    of those, the ones nobody has acknowledged yet (state ``open``).
``wardround_tickets_open_key_customer{site,severity}``
    of those, the key customers' (``priority`` > 0: they lead the queue).
``wardround_tickets_breached{site,severity,kind}``
    of those, the ones whose deadline of ``kind`` has passed: ``response``
    (not acknowledged in time), ``resolve`` (not resolved in time) or
    ``onsite`` (an on-site visit not done in time).

History (counters and histograms, by the severity the ticket *opened* at —
an escalation does not move a past observation to another series).  They only
ever grow, because tickets and their ``resolve`` events are never deleted (the retention
prune removes the other events of tickets done long ago, collector/store/prune.py), so
``increase(...[1d])`` is "per day".  Every series of a (site, severity) that
has ever had a ticket is exported, at 0 until something happens, so the
first event is counted by ``increase()`` too:

``wardround_tickets_opened_total{site,severity}``
    tickets ever opened (by monitoring or by hand).
``wardround_tickets_resolved_total{site,severity}``
    resolutions (``resolve`` events; a reopened ticket resolved again counts twice).
``wardround_tickets_breaches_total{site,severity,kind}``
    deadlines ever breached, by kind as above (each is marked once per ticket).
``wardround_ticket_response_seconds{site,severity}`` (histogram)
    time from opening to the first acknowledgement, of every acknowledged
    ticket (a ticket resolved without being acknowledged has no response
    time; its resolution time is below).
``wardround_ticket_resolution_seconds{site,severity}`` (histogram)
    time from opening to each resolution.  Wall-clock time: the SLA's
    business-hours clock decides the breach (the ``breaches`` counter), the
    histogram shows how long people and patients waited.

Cost: the live gauges are small indexed reads.  The history families scan
``tickets`` and the ``resolve`` rows of ``ticket_events`` (each
observation's seconds computed once, in a materialised CTE), so they are
rebuilt only when the ledger changed: every change that moves them (open,
acknowledge, resolve, reopen, breach) appends a ``ticket_events`` row in the
same transaction, so the events' count and highest id, read at every scrape,
say whether the families this process built last are still exact.  The key
comes from the database, so several collectors stay exact; a repeat
occurrence (no event) changes nothing here.  ``bench/metrics_scrape.py``
measures both at 100,000 tickets.

Registered on the collector's registry by :class:`collector.metrics.CollectorMetrics`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from collector.store import ticket_metrics as store
from collector.store import tickets as queries
from collector.store.db import reading
from collector.store.ticket_metrics import BREACH_KINDS, BUCKETS

__all__ = ["BUCKETS", "BREACH_KINDS", "TicketCollector", "ticket_metric_names"]

log = logging.getLogger(__name__)

_SITE_SEV = ["site", "severity"]

Group = tuple[str, int]  # (site, initial severity)


def ticket_metric_names() -> list[str]:
    """The family names this collector exports (counters with ``_total``; for docs and tests)."""
    return ["wardround_tickets_open", "wardround_tickets_unacknowledged",
            "wardround_tickets_open_key_customer", "wardround_tickets_breached",
            "wardround_tickets_opened_total", "wardround_tickets_resolved_total",
            "wardround_tickets_breaches_total", "wardround_ticket_response_seconds",
            "wardround_ticket_resolution_seconds"]


# -- families ---------------------------------------------------------------------------

def _histogram_family(name: str, help: str, groups: Sequence[Group], rows: Sequence[Any]
                      ) -> HistogramMetricFamily:
    counts: dict[Group, list[int]] = {g: [0] * (len(BUCKETS) + 1) for g in groups}
    sums: dict[Group, float] = dict.fromkeys(groups, 0.0)
    for site, severity, b, n, total in rows:
        g = (site, int(severity))
        counts.setdefault(g, [0] * (len(BUCKETS) + 1))[int(b)] += int(n)
        sums[g] = sums.get(g, 0.0) + max(float(total or 0.0), 0.0)
    fam = HistogramMetricFamily(name, help, labels=_SITE_SEV)
    bounds = [str(float(le)) for le in BUCKETS] + ["+Inf"]
    for g in sorted(counts):
        running, buckets = 0, []
        for le, n in zip(bounds, counts[g], strict=True):
            running += n
            buckets.append((le, running))
        fam.add_metric([g[0], str(g[1])], buckets, sums[g])
    return fam


class TicketCollector(Collector):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._history: tuple[tuple[int, int], list[Metric]] | None = None  # (key, families)

    def collect(self) -> Iterator[Metric]:
        try:
            with reading(self.engine) as conn:
                counts = queries.open_counts(conn)
                breaches = queries.breached_counts(conn)
                live = store.live(conn)
                key = store.history_key(conn)
                held = self._history
                if held is None or held[0] != key:
                    held = (key, list(self._history_families(store.totals(conn), store.response_times(conn),
                                                             store.resolution_times(conn))))
        except SQLAlchemyError as exc:
            log.warning("metrics: cannot read the tickets: %s", type(exc).__name__)
            return
        self._history = held
        yield from self._live_families(counts, breaches, live)
        yield from held[1]

    @staticmethod
    def _live_families(counts: Sequence[Any], breaches: Sequence[tuple[str, int, str, int]],
                       live: Sequence[Any]) -> Iterator[Metric]:
        open_tickets = GaugeMetricFamily(
            "wardround_tickets_open",
            "Tickets open or acknowledged, by site and current severity (1 most severe)", labels=_SITE_SEV)
        for row in counts:
            open_tickets.add_metric([row.site, str(row.severity)], int(row.n))
        unacked = GaugeMetricFamily(
            "wardround_tickets_unacknowledged",
            "Open tickets nobody has acknowledged yet, by current severity", labels=_SITE_SEV)
        key = GaugeMetricFamily(
            "wardround_tickets_open_key_customer",
            "Open or acknowledged tickets of key customers (priority > 0), by current severity",
            labels=_SITE_SEV)
        for site, severity, n_unacked, n_key in live:
            unacked.add_metric([site, str(severity)], int(n_unacked or 0))
            key.add_metric([site, str(severity)], int(n_key or 0))
        breached = GaugeMetricFamily(
            "wardround_tickets_breached",
            "Open or acknowledged tickets past a deadline, by kind: response, resolve or onsite",
            labels=["site", "severity", "kind"])
        for site, severity, kind, n in breaches:
            breached.add_metric([site, str(severity), kind], n)
        yield from (open_tickets, unacked, key, breached)

    @staticmethod
    def _history_families(totals: Sequence[Any], response: Sequence[Any], resolution: Sequence[Any]
                          ) -> Iterator[Metric]:
        groups = sorted((row.site, int(row.initial_severity)) for row in totals)
        opened = CounterMetricFamily(
            "wardround_tickets_opened", "Tickets ever opened, by site and the severity they opened at",
            labels=_SITE_SEV)
        breaches = CounterMetricFamily(
            "wardround_tickets_breaches",
            "SLA deadlines ever breached, by kind (response, resolve, onsite) and the severity at opening",
            labels=["site", "severity", "kind"])
        for row in sorted(totals, key=lambda r: (r.site, r.initial_severity)):
            labels = [row.site, str(row.initial_severity)]
            opened.add_metric(labels, int(row.opened))
            for kind in BREACH_KINDS:
                breaches.add_metric([*labels, kind], int(getattr(row, kind) or 0))
        resolved_by: dict[Group, int] = dict.fromkeys(groups, 0)
        for site, severity, _b, n, _sum in resolution:
            g = (site, int(severity))
            resolved_by[g] = resolved_by.get(g, 0) + int(n)
        resolved = CounterMetricFamily(
            "wardround_tickets_resolved", "Ticket resolutions, by site and the severity the ticket opened at",
            labels=_SITE_SEV)
        for (site, severity), n in sorted(resolved_by.items()):
            resolved.add_metric([site, str(severity)], n)
        yield from (opened, resolved, breaches)
        yield _histogram_family(
            "wardround_ticket_response_seconds",
            "Time from opening to acknowledgement of acknowledged tickets, by the severity at opening",
            groups, response)
        yield _histogram_family(
            "wardround_ticket_resolution_seconds",
            "Time from opening to each resolution, by the severity the ticket opened at", groups, resolution)
