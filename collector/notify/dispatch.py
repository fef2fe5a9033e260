"""The dispatcher: fans ticket events out to channels and sends them with retries.

:func:`dispatch_due` does one pass and is what tests drive with an injected
clock and senders; :class:`Dispatcher` runs it in a background thread every
few seconds inside ``wardround-collector serve``.

A pass has two steps:

1. **Fan-out.**  Each event in ``notify_events`` not yet fanned out is marked
   ``fanned_out_at`` by a conditional UPDATE and gets one ``notify_deliveries``
   row per routed channel (unique per event and channel) in the same
   transaction, so two collectors never fan one event out twice.  An event
   older than the retry max age when it is first seen (kept while no
   dispatcher ran) is marked without deliveries and logged: stale news is
   not sent.
2. **Send.**  A delivery is claimed by a conditional UPDATE (``claimed_by``,
   ``claimed_until`` = now + lease) that only succeeds when nobody holds a live
   claim; on PostgreSQL the candidate is picked with ``FOR UPDATE SKIP
   LOCKED`` so concurrent dispatchers spread over different rows.  Then it is
   sent and the outcome is recorded at once.

Delivery states:

``pending``  waiting to be sent at ``next_at`` (first try, or a retry after a
             transient failure, with exponential backoff and ±25 % jitter)
``sent``     the receiver accepted it (``sent_at``)
``failed``   refused for good (a permanent error), or still failing after the
             retry policy's max age; ``last_error`` says why; logged as an
             error and counted in ``wardround_notifications_sent_total{outcome="failed"}``

Delivery guarantee: at least once, and exactly once unless the process dies
between a successful send and the UPDATE that records it (then the claim
expires after the lease and the delivery is sent once more).  Webhooks carry
an ``Idempotency-Key`` that is the same on that resend; SMTP has no such
thing (the resent mail keeps its Message-ID, which some mail clients collapse).
"""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, insert, or_, select, update

from collector.notify.base import Outgoing, PermanentError, Sender, TransientError
from collector.notify.config import NotifyConfig, RetryPolicy
from collector.notify.messages import render
from collector.notify.routing import route
from collector.store.db import reading, writing
from collector.store.errors import classify, describe
from collector.store.tables import notify_deliveries as D
from collector.store.tables import notify_events as E

__all__ = ["Dispatcher", "build_senders", "dispatch_due", "fan_out", "next_delay"]

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)  # longer than any send can take (timeouts are at most 5 min)
FANOUT_BATCH = 200


def next_delay(policy: RetryPolicy, attempts: int, rng: random.Random) -> float:
    """Seconds until the retry after ``attempts`` failed tries: first × 2^(n-1), capped, ±25 %."""
    base: float = min(policy.cap_s, policy.first_s * 2 ** max(0, min(attempts - 1, 30)))
    return base * rng.uniform(0.75, 1.25)


def build_senders(config: NotifyConfig) -> dict[str, Sender]:
    """One sender per configured channel."""
    from collector.notify.email import EmailSender
    from collector.notify.webhook import WebhookSender

    senders: dict[str, Sender] = {}
    for name, ch in config.channels.items():
        senders[name] = EmailSender(ch) if ch.type == "email" else WebhookSender(ch)
    return senders


def fan_out(engine: Engine, now: datetime, config: NotifyConfig) -> int:
    """Turn new events into deliveries; the number of deliveries created."""
    created = 0
    while True:
        with reading(engine) as conn:
            ids = conn.execute(select(E.c.id).where(E.c.fanned_out_at.is_(None))
                               .order_by(E.c.id).limit(FANOUT_BATCH)).scalars().all()
        if not ids:
            return created
        for event_id in ids:
            with writing(engine) as conn:
                won = conn.execute(update(E).where(E.c.id == event_id, E.c.fanned_out_at.is_(None))
                                   .values(fanned_out_at=now)).rowcount
                if won != 1:
                    continue
                row = conn.execute(select(E.c.event, E.c.site, E.c.severity, E.c.at)
                                   .where(E.c.id == event_id)).one()
                if (now - row.at).total_seconds() > config.retry.max_age_s:
                    # e.g. events kept while notifications were not configured: never flood
                    # people with stale news, but say so
                    log.warning("notification event %s (%s, %s) is older than the max age; not sent",
                                event_id, row.event, row.site)
                    continue
                targets = route(config.routes, site=row.site, severity=row.severity, event=row.event)
                for channel, language in targets:
                    conn.execute(insert(D).values(
                        event_id=event_id, channel=channel, language=language, state="pending",
                        attempts=0, created_at=now, next_at=now))
                created += len(targets)
                if not targets:
                    log.debug("notification event %s (%s, %s, level %s) matches no route",
                              event_id, row.event, row.site, row.severity)
        if len(ids) < FANOUT_BATCH:
            return created


def _claim(engine: Engine, now: datetime, worker: str, channels: list[str]) -> Any | None:
    """Claim one due delivery of ``channels``; its row joined with its event, or None."""
    due = and_(D.c.state == "pending", D.c.next_at <= now, D.c.channel.in_(channels),
               or_(D.c.claimed_until.is_(None), D.c.claimed_until < now))
    for _ in range(5):  # lost races: another dispatcher took our candidate
        with writing(engine) as conn:
            pick = select(D.c.id).where(due).order_by(D.c.next_at, D.c.id).limit(1)
            if conn.dialect.name == "postgresql":
                pick = pick.with_for_update(skip_locked=True)
            candidate = conn.execute(pick).scalar()
            if candidate is None:
                return None
            won = conn.execute(update(D).where(D.c.id == candidate, due)
                               .values(claimed_by=worker, claimed_until=now + LEASE)).rowcount
            if won == 1:
                return conn.execute(
                    select(D.c.id, D.c.channel, D.c.language, D.c.attempts, D.c.created_at,
                           E.c.uid, E.c.event, E.c.ticket, E.c.at)
                    .join(E, E.c.id == D.c.event_id).where(D.c.id == candidate)).one()
    return None


def _record(engine: Engine, delivery_id: int, worker: str, **values: Any) -> bool:
    with writing(engine) as conn:
        done = conn.execute(update(D).where(D.c.id == delivery_id, D.c.claimed_by == worker)
                            .values(claimed_by=None, claimed_until=None, **values)).rowcount
    if done != 1:
        log.warning("notification delivery %s: our claim expired before the outcome was recorded; "
                    "another dispatcher may send it again", delivery_id)
    return done == 1


def dispatch_due(engine: Engine, now: datetime, senders: Mapping[str, Sender], *,
                 config: NotifyConfig | None = None, worker: str | None = None,
                 rng: random.Random | None = None, limit: int = 100,
                 on_outcome: Callable[[str, str], None] | None = None) -> int:
    """One pass at time ``now``: fan out new events, send what is due; the number sent.

    ``senders`` maps channel names to senders; deliveries of channels without
    a sender are left alone (another collector with that channel may send
    them).  ``config`` supplies the routes, retry policy and time zone.
    """
    config = config or NotifyConfig()
    worker = worker or default_worker_id()
    rng = rng or random.Random()
    fan_out(engine, now, config)
    channels = sorted(senders)
    if not channels:
        return 0
    sent = 0
    for _ in range(limit):
        if not channels:
            break
        row = _claim(engine, now, worker, channels)
        if row is None:
            break
        ticket = json.loads(row.ticket)
        attempts = row.attempts + 1
        try:
            message = render(row.event, ticket, at=row.at, language=row.language,
                             timezone=config.timezone, link=config.link(ticket.get("id")))
            out = Outgoing(key=f"{row.uid}.{row.channel}", event_uid=row.uid, event=row.event,
                           at=row.at, ticket=ticket, language=row.language, message=message)
            senders[row.channel].send(out)
        except PermanentError as exc:
            log.error("notification %s to %s failed for good: %s", row.uid, row.channel, exc)
            _record(engine, row.id, worker, state="failed", attempts=attempts, last_error=str(exc))
            _notify(on_outcome, row.channel, "failed")
            continue
        except Exception as exc:  # TransientError, or a bug in a sender: retry, never drop
            reason = str(exc) if isinstance(exc, TransientError) else f"internal error: {type(exc).__name__}"
            if not isinstance(exc, TransientError):
                log.exception("notification %s to %s: sender error", row.uid, row.channel)
            age = (now - row.created_at).total_seconds()
            if age >= config.retry.max_age_s:
                log.error("notification %s to %s failed: still failing after %d attempts over %s: %s",
                          row.uid, row.channel, attempts, timedelta(seconds=int(age)), reason)
                _record(engine, row.id, worker, state="failed", attempts=attempts,
                        last_error=f"gave up after {attempts} attempts: {reason}")
                _notify(on_outcome, row.channel, "failed")
                continue
            delay = next_delay(config.retry, attempts, rng)
            retry_after = getattr(exc, "retry_after_s", None)
            if retry_after:
                delay = max(delay, min(retry_after, config.retry.cap_s))
            log.warning("notification %s to %s: attempt %d failed, retry in %.0f s: %s",
                        row.uid, row.channel, attempts, delay, reason)
            _record(engine, row.id, worker, attempts=attempts, last_error=reason,
                    next_at=now + timedelta(seconds=delay))
            _notify(on_outcome, row.channel, "retry")
            channels.remove(row.channel)  # it is down: leave its other deliveries to a later pass
            continue
        _record(engine, row.id, worker, state="sent", attempts=attempts, sent_at=now, last_error=None)
        _notify(on_outcome, row.channel, "sent")
        log.info("notification %s (%s of ticket %s) sent to %s", row.uid, row.event, ticket.get("id"),
                 row.channel)
        sent += 1
    return sent


def _notify(hook: Callable[[str, str], None] | None, channel: str, outcome: str) -> None:
    if hook is not None:
        hook(channel, outcome)


def default_worker_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Dispatcher:
    """The dispatch loop in a daemon thread: a pass every ``interval_s`` seconds until stopped."""

    def __init__(self, engine: Engine, config: NotifyConfig, *, interval_s: float = 5.0,
                 senders: Mapping[str, Sender] | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        from datetime import UTC

        self.engine = engine
        self.config = config
        self.interval_s = interval_s
        self.senders = senders if senders is not None else build_senders(config)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.worker = default_worker_id()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="wardround-notify", daemon=True)

    def start(self) -> None:
        log.info("notifications: dispatcher %s started for %d channel(s): %s", self.worker,
                 len(self.senders), ", ".join(sorted(self.senders)) or "none")
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        rng = random.Random()
        while not self._stop.is_set():
            try:
                dispatch_due(self.engine, self.clock(), self.senders, config=self.config,
                             worker=self.worker, rng=rng)
            except Exception as exc:
                fault = classify(exc)
                if fault is not None and fault.kind == "unavailable":
                    log.warning("notifications: database unavailable (%s); retrying", describe(exc))
                else:
                    log.exception("notifications: dispatch pass failed; retrying")
            self._stop.wait(self.interval_s)

