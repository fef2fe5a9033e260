"""Prometheus metrics for the collector, on its own registry.

State metrics are built at each scrape from the ``latest`` and ``hosts``
tables (a custom collector, never a scan of ``results``); ingest counters
and the batch-time histogram live in this process.  Label values are
bounded: site, host, check, item and status outcome, never ids or text.

With several uvicorn workers, each worker counts its own ingest; the state
metrics are the same from every worker because they come from the database.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import orjson
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from collector.store import queries
from collector.store.db import reading

__all__ = ["CollectorMetrics", "BACKUP_CHECKS", "CONTENT_TYPE"]

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BACKUP_CHECKS = frozenset({"db_backup", "backup_files", "offsite_copy"})
OUTCOMES = ("accepted", "duplicate", "rejected")


class StateCollector(Collector):
    """Builds the state gauges from the database at each scrape."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        status = GaugeMetricFamily(
            "wardround_check_status",
            "Current status of a check item: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN",
            labels=["site", "host", "check", "item"])
        backup_age = GaugeMetricFamily(
            "wardround_backup_age_seconds", "Age of the newest backup a backup check found",
            labels=["site", "host", "item"])
        last_seen = GaugeMetricFamily(
            "wardround_agent_last_seen_timestamp_seconds",
            "When the host's agent last delivered a batch (Unix time)", labels=["site", "host"])
        offset = GaugeMetricFamily(
            "wardround_agent_clock_offset_seconds",
            "Collector time minus agent time at the last delivery", labels=["site", "host"])
        backlog = GaugeMetricFamily(
            "wardround_agent_spool_backlog",
            "Results waiting in the agent's spool at the last delivery", labels=["site", "host"])
        up = GaugeMetricFamily(
            "wardround_collector_database_up", "1 if the last scrape could read the database")
        try:
            with reading(self.engine) as conn:
                states = queries.latest_states(conn)
                host_rows = queries.host_states(conn)
        except SQLAlchemyError as exc:
            log.warning("metrics: cannot read the database: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        for row in states:
            labels = [row.site, row.host, row.check, row.item]
            status.add_metric(labels, int(row.status))
            if row.check in BACKUP_CHECKS:
                age = _metric_value(row.metrics, "age_seconds")
                if age is not None:
                    backup_age.add_metric([row.site, row.host, row.item], age)
        for h in host_rows:
            labels = [h.site, h.host]
            last_seen.add_metric(labels, h.last_seen.timestamp())
            if h.clock_offset_s is not None:
                offset.add_metric(labels, h.clock_offset_s)
            if h.spool_backlog is not None:
                backlog.add_metric(labels, h.spool_backlog)
        yield from (up, status, backup_age, last_seen, offset, backlog)


def _metric_value(metrics_json: str, name: str) -> float | None:
    try:
        for m in orjson.loads(metrics_json):
            if m.get("name") == name and isinstance(m.get("value"), int | float):
                return float(m["value"])
    except (orjson.JSONDecodeError, AttributeError, TypeError):
        return None
    return None


class CollectorMetrics:
    """The registry of one collector app: state from the database plus ingest counters."""

    def __init__(self, engine: Engine) -> None:
        disable_created_metrics()  # no *_created series: they double the scrape for nothing
        self.registry = CollectorRegistry()
        self.registry.register(StateCollector(engine))
        self.ingest_results = Counter(
            "wardround_ingest_results", "Results received, by outcome", ["outcome"],
            registry=self.registry)
        for outcome in OUTCOMES:
            self.ingest_results.labels(outcome)
        self.ingest_batch_seconds = Histogram(
            "wardround_ingest_batch_seconds", "Time to validate and store one accepted batch",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry)

    def observe(self, outcome: str, count: int) -> None:
        if count:
            self.ingest_results.labels(outcome).inc(count)

    def time_batch(self, seconds: float) -> None:
        self.ingest_batch_seconds.observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
