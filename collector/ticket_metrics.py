"""Prometheus families of the ticket ledger, built from the database at each scrape.

``wardround_tickets_open{site,severity}``
    tickets open or acknowledged, by site and current severity (1 most severe).
``wardround_tickets_breached{site,severity,kind}``
    of those, the ones whose deadline of ``kind`` has passed: ``response``
    (not acknowledged in time), ``resolve`` (not resolved in time) or
    ``onsite`` (an on-site visit not done in time).  A gauge of the current
    breached tickets rather than a counter, so every collector process
    reports the same number and a restart loses nothing.

Registered on the collector's registry by :class:`collector.metrics.CollectorMetrics`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from collector.store import tickets as queries
from collector.store.db import reading

__all__ = ["TicketCollector"]

log = logging.getLogger(__name__)


class TicketCollector(Collector):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        open_tickets = GaugeMetricFamily(
            "wardround_tickets_open",
            "Tickets open or acknowledged, by site and current severity (1 most severe)",
            labels=["site", "severity"])
        breached = GaugeMetricFamily(
            "wardround_tickets_breached",
            "Open or acknowledged tickets past a deadline, by kind: response, resolve or onsite",
            labels=["site", "severity", "kind"])
        try:
            with reading(self.engine) as conn:
                counts = queries.open_counts(conn)
                breaches = queries.breached_counts(conn)
        except SQLAlchemyError as exc:
            log.warning("metrics: cannot read the tickets: %s", type(exc).__name__)
            return
        for row in counts:
            open_tickets.add_metric([row.site, str(row.severity)], int(row.n))
        for site, severity, kind, n in breaches:
            breached.add_metric([site, str(severity), kind], n)
        yield open_tickets
        yield breached
