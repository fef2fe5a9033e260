"""Notification metrics, built from the outbox at each scrape (the same from every process).

``wardround_notifications_pending{channel}``           deliveries waiting to be sent
                                                       (``channel=""``: events not yet routed, shown only
                                                       by a collector that routes them: one with
                                                       notification channels; elsewhere nobody waits
                                                       for them, so they are not pending)
``wardround_notifications_sent_total{channel,outcome}``  deliveries by final outcome:
                                                       ``sent`` or ``failed`` (never silently dropped)
``wardround_notifications_retries_total{channel}``     failed attempts that were retried
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from collector.store import notify as store
from collector.store.db import reading

__all__ = ["NotificationCollector"]


class NotificationCollector(Collector):
    def __init__(self, engine: Engine, *, routing: bool) -> None:
        """``routing``: this collector has notification channels, so events it has not routed yet wait for it."""
        self.engine = engine
        self.routing = routing

    def collect(self) -> Iterator[Metric]:
        pending = GaugeMetricFamily("wardround_notifications_pending",
                                    "Notifications waiting to be sent (channel '' = not yet routed)",
                                    labels=["channel"])
        done = CounterMetricFamily("wardround_notifications_sent", "Notifications by final outcome",
                                   labels=["channel", "outcome"])
        retries = CounterMetricFamily("wardround_notifications_retries",
                                      "Failed attempts that were retried later", labels=["channel"])
        try:
            with reading(self.engine) as conn:
                rows = store.deliveries_by_state(conn)
                unrouted = store.unrouted(conn) if self.routing else None
        except SQLAlchemyError:
            return
        if unrouted is not None:
            pending.add_metric([""], unrouted)
        per_channel_retries: dict[str, float] = {}
        for channel, state, count, extra in rows:
            if state == "pending":
                pending.add_metric([channel], count)
            else:
                done.add_metric([channel, state], count)
            per_channel_retries[channel] = per_channel_retries.get(channel, 0) + float(extra or 0)
        for channel, value in sorted(per_channel_retries.items()):
            retries.add_metric([channel], value)
        yield from (pending, done, retries)
