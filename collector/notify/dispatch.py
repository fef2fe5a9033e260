"""The dispatcher: fans ticket events out to channels and sends them in order, paced, with retries.

:func:`dispatch_due` does one pass and is what tests drive with an injected
clock and senders; :class:`Dispatcher` runs it in a background thread every
``notifications.poll`` seconds (5 s) inside ``wardround-collector serve``.

A pass has three steps:

0. **Bookkeeping left over.**  Outcomes of sends that could not be recorded
   because the database was unavailable (kept in the dispatcher's memory)
   are recorded first, before anything else is claimed.
1. **Fan-out.**  Each event in ``notify_events`` not yet fanned out is marked
   ``fanned_out_at`` by a conditional UPDATE and gets one ``notify_deliveries``
   row per routed channel (unique per event and channel) in the same
   transaction, so two collectors never fan one event out twice.  An event
   older than the retry max age when it is first seen (kept while no
   dispatcher ran) is marked without deliveries and logged: stale news is
   not sent.
2. **Send.**  Channel by channel (in turns), a dispatcher claims work with a
   conditional UPDATE (``claimed_by``, ``claimed_until`` = now + lease) that
   only succeeds when nobody holds a live claim, sends it, and records the
   outcome at once.  What may be claimed:

   * **In order, per ticket and channel**: a delivery is eligible only when
     no earlier event of its ticket is still pending on the same channel and
     every earlier event of the ticket has been fanned out.  So "resolved"
     never overtakes "opened", not after a retry and not when several
     collectors send at once: the next event waits until the previous one is
     sent (or has failed for good).
   * **Paced per receiver**: a channel with ``rates`` (the robots by default:
     DingTalk and WeCom 20/min, Feishu 100/min and 5/s) claims only when the
     receiver has a free slot in every window.  The receiver's row in
     ``notify_robots`` (keyed by a hash of its URL, shared by every collector
     and every channel with that URL) is locked for the claim and records the
     send's time; each window counts 10 % longer (at most 2 s) so network
     jitter cannot put one message too many into the robot's own minute.
     After a refusal for sending too much (HTTP 429, DingTalk 410100, WeCom
     45009, Feishu 9499/11232) the row's ``blocked_until`` stops every
     collector from sending there until the block ends (DingTalk: 10 minutes).
   * **Coalesced when behind**: a receiver takes at once up to half of each
     limit; past that, one message every 2 W/N (6 s for 20 a minute), so a
     steady stream never uses up the window and then stalls for a minute.
     When a robot channel has more eligible deliveries than that lets through
     one by one, one claim takes as many as fit one message (at most
     :data:`DIGEST_MAX`, within the robot's size limit), in event order, and
     sends them as one digest that says so; each ticket's events stay in
     their order inside it.

Time: every decision (due, claim expiry, windows, blocks) uses the clock the
dispatcher is given, by default the database's (:class:`DatabaseClock`), so
collectors with skewed clocks never see each other's claims as expired.

Delivery states:

``pending``  waiting to be sent at ``next_at`` (first try, or a retry after a
             transient failure, with exponential backoff and ±25 % jitter)
``sent``     the receiver accepted it (``sent_at``)
``failed``   refused for good (a permanent error), or still failing after the
             retry policy's max age; ``last_error`` says why; logged as an
             error and counted in ``wardround_notifications_sent_total{outcome="failed"}``

Delivery guarantee (docs/notifications.md): at least once, and exactly once
unless the outcome of a send cannot be recorded before its claim's lease
(5 minutes) runs out: the process died after the receiver accepted the
message, or the database stayed unavailable longer than the lease.  Then
another dispatcher sends it once more.  A shorter database outage delays
only the bookkeeping (step 0), not the guarantee.  Webhooks carry an
``Idempotency-Key`` that is the same on that resend; SMTP has no such thing
(the resent mail keeps its Message-ID, which some mail clients collapse).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine

from collector.notify.base import Outgoing, PermanentError, RateLimited, Sender, TransientError
from collector.notify.config import ROBOT_TYPES, Channel, NotifyConfig, RetryPolicy
from collector.notify.messages import LIMITS, DigestItem, Message, render, render_digest
from collector.notify.routing import route
from collector.store import notify as outbox
from collector.store.db import DatabaseClock, reading, time_on, writing
from collector.store.errors import classify, describe

__all__ = ["DIGEST_MAX", "Dispatcher", "LEASE", "build_senders", "dispatch_due", "fan_out", "next_delay"]

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)  # longer than any send can take (timeouts are at most 5 min)
FANOUT_BATCH = 200
DIGEST_MAX = 50  # events in one digest message at most
WINDOW_PAD = 0.10  # a rate window counts this much longer ...
WINDOW_PAD_MAX_S = 2.0  # ... but at most this many seconds

Clock = Callable[[], datetime]


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


def fan_out(engine: Engine, now: datetime | Clock, config: NotifyConfig) -> int:
    """Turn new events into deliveries; the number of deliveries created."""
    clock = now if callable(now) else (lambda: now)
    created = 0
    while True:
        with reading(engine) as conn:
            ids = outbox.unrouted_ids(conn, FANOUT_BATCH)
        if not ids:
            return created
        for event_id in ids:
            with writing(engine) as conn:
                at = time_on(clock, conn)
                if not outbox.mark_fanned_out(conn, event_id, at):
                    continue
                row = outbox.event(conn, event_id)
                if (at - row.at).total_seconds() > config.retry.max_age_s:
                    # e.g. events kept while notifications were not configured: never flood
                    # people with stale news, but say so
                    log.warning("notification event %s (%s, %s) is older than the max age; not sent",
                                event_id, row.event, row.site)
                    continue
                targets = route(config.routes, site=row.site, severity=row.severity, event=row.event)
                for channel, language in targets:
                    outbox.add_delivery(conn, {"event_id": event_id, "channel": channel, "ticket_id": row.ticket_id,
                                               "language": language, "state": "pending", "attempts": 0,
                                               "created_at": at, "next_at": at})
                created += len(targets)
                if not targets:
                    log.debug("notification event %s (%s, %s, level %s) matches no route",
                              event_id, row.event, row.site, row.severity)
        if len(ids) < FANOUT_BATCH:
            return created


# -- claiming ---------------------------------------------------------------------------------------

def pace_key(ch: Channel) -> str:
    """The receiver a channel sends to: channels with the same URL share its limits and blocks."""
    basis = f"url:{ch.url.reveal()}" if ch.url is not None else f"smtp:{ch.host}:{ch.port}:{ch.username or ''}"
    return hashlib.sha256(basis.encode()).hexdigest()[:32]


def _padded(per_s: float) -> float:
    return per_s + min(per_s * WINDOW_PAD, WINDOW_PAD_MAX_S)


def _room(ch: Channel, recent: list[float], stamp: float) -> int | None:
    """Messages left in the receiver's burst now (0 or less: past it), or None if it must wait.

    Every rate (N per W) allows a burst of half its limit at once; past that, one message
    every 2 W/N (6 s for 20 a minute), so that a steady trickle never uses up the window and
    then waits for a whole minute: what accumulates meanwhile goes as one digest.
    """
    room: int | None = None
    last = max(recent, default=None)
    for r in ch.rates:
        used = sum(1 for t in recent if t > stamp - _padded(r.per_s))
        burst = (r.count + 1) // 2
        if used >= r.count:
            return None
        if used >= burst and last is not None and stamp - last < 2 * r.per_s / r.count:
            return None
        room = burst - used if room is None else min(room, burst - used)
    return room


@dataclass
class _Claim:
    channel: Channel
    rows: list[Any]  # deliveries joined with their events, in event order
    digest: bool
    at: datetime


@dataclass
class _Wait:
    """Nothing may be sent on this channel now."""


class _Lost(Exception):
    """Another dispatcher changed a candidate between our read and our update."""


def _claim(engine: Engine, clock: Clock, worker: str, ch: Channel, config: NotifyConfig) -> _Claim | _Wait | None:
    """Claim the next work of channel ``ch``: a claim, a wait (paced or blocked), or None (nothing due)."""
    for _ in range(5):  # lost races: another dispatcher took a candidate
        try:
            with writing(engine) as conn:
                return _claim_in(conn, clock, worker, ch, config)
        except _Lost:
            continue
    return None


def _claim_in(conn: Connection, clock: Clock, worker: str, ch: Channel, config: NotifyConfig
              ) -> _Claim | _Wait | None:
    paced = bool(ch.rates)
    robot = outbox.robot(conn, pace_key(ch), lock=paced)  # paced: locked, claims on this receiver queue here
    now = time_on(clock, conn)
    if robot is not None and robot.blocked_until is not None and robot.blocked_until > now:
        return _Wait()
    digest = False
    recent: list[float] = []
    if paced:
        assert robot is not None  # _robot created it
        recent = [t for t in json.loads(robot.recent) if t > now.timestamp() - max(_padded(r.per_s) for r in ch.rates)]
        room = _room(ch, recent, now.timestamp())
        if room is None:
            return _Wait()
        if ch.type in ROBOT_TYPES:
            waiting = outbox.due_count(conn, ch.name, now, limit=max(room, 1) + 1)
            digest = waiting > 1 and waiting > room  # one by one would use more than the burst left
    # not paced: concurrent claimers spread over rows (SKIP LOCKED on PostgreSQL)
    rows = outbox.due_deliveries(conn, ch.name, now, digest=digest, limit=DIGEST_MAX if digest else 1,
                                 skip_locked=not paced)
    if not rows:
        return None
    if digest:
        rows = _fitting(ch, rows, config)
    ids = [r.id for r in rows]
    won = outbox.claim(conn, ids, ch.name, now, worker=worker, until=now + LEASE)
    if won != len(ids):
        raise _Lost()
    if paced:
        assert robot is not None
        outbox.set_recent(conn, robot.key, [*recent, now.timestamp()], now)
    return _Claim(ch, rows, digest, now)


def _digest_message(ch: Channel, rows: list[Any], config: NotifyConfig) -> Message:
    items = [DigestItem(r.event, json.loads(r.ticket), r.at) for r in rows]
    rate = ch.rates[0]
    return render_digest(items, rate=(rate.count, rate.per_s), language=rows[0].language,
                         timezone=config.timezone)


def _fits(ch: Channel, message: Message) -> bool:
    limit = LIMITS.get(ch.type, 20_000) - 512  # room for the payload's framing and signature
    return max(len(f"**{message.title}**\n{message.markdown}".encode()),
               len(f"{message.title}\n{message.text}".encode())) <= limit


def _fitting(ch: Channel, rows: list[Any], config: NotifyConfig) -> list[Any]:
    """The longest prefix of ``rows`` whose digest fits one message of the channel (at least one row)."""
    low, high = 1, len(rows)
    while low < high:
        mid = (low + high + 1) // 2
        if _fits(ch, _digest_message(ch, rows[:mid], config)):
            low = mid
        else:
            high = mid - 1
    return rows[:low]


# -- recording --------------------------------------------------------------------------------------

@dataclass
class _Outcome:
    """What to write on claimed deliveries once a send is over (kept while the database is away)."""

    ids: list[int]
    worker: str
    values: dict[str, Any]
    block: tuple[str, datetime] | None = None  # (receiver key, blocked until)


@dataclass
class Bookkeeping:
    """Outcomes a dispatcher could not record yet: recorded first in its next pass."""

    waiting: list[_Outcome] = field(default_factory=list)


def _record(engine: Engine, outcome: _Outcome) -> None:
    with writing(engine) as conn:
        done = outbox.finish(conn, outcome.ids, outcome.worker, outcome.values)
        if outcome.block is not None:
            outbox.block_robot(conn, *outcome.block)
    if done != len(outcome.ids):
        log.warning("notification deliveries %s: our claim expired before the outcome was recorded; "
                    "another dispatcher may send %d of them again", outcome.ids, len(outcome.ids) - done)


def _settle(engine: Engine, book: Bookkeeping, outcome: _Outcome) -> None:
    """Record ``outcome``; if the database is unavailable, keep it for the next pass and re-raise."""
    try:
        _record(engine, outcome)
    except Exception as exc:
        fault = classify(exc)
        if fault is not None and fault.kind == "unavailable":
            book.waiting.append(outcome)
            log.warning("notification deliveries %s: outcome not recorded yet (%s); recording it when the "
                        "database answers again, the message is not sent again", outcome.ids, describe(exc))
        raise


def _catch_up(engine: Engine, book: Bookkeeping) -> None:
    while book.waiting:
        _record(engine, book.waiting[0])  # still unavailable: raises, the pass ends, nothing is claimed
        book.waiting.pop(0)


# -- one pass ---------------------------------------------------------------------------------------

def dispatch_due(engine: Engine, now: datetime | Clock, senders: Mapping[str, Sender], *,
                 config: NotifyConfig | None = None, worker: str | None = None,
                 rng: random.Random | None = None, limit: int = 100,
                 on_outcome: Callable[[str, str], None] | None = None,
                 bookkeeping: Bookkeeping | None = None) -> int:
    """One pass: record what is left, fan out new events, send what is due; the deliveries sent.

    ``now`` is a time (tests) or a clock read at each step.  ``senders`` maps
    channel names to senders; deliveries of channels without a sender are
    left alone (another collector with that channel may send them).
    ``config`` supplies the routes, channels (rates), retry policy and time
    zone.  ``bookkeeping`` carries unrecorded outcomes from pass to pass.
    """
    config = config or NotifyConfig()
    clock: Clock = now if callable(now) else (lambda: now)
    worker = worker or default_worker_id()
    rng = rng or random.Random()
    book = bookkeeping if bookkeeping is not None else Bookkeeping()
    _catch_up(engine, book)
    fan_out(engine, clock, config)
    active = [config.channels.get(name) or Channel(name=name, type="webhook") for name in sorted(senders)]
    sent = 0
    while active and sent < limit:
        for ch in list(active):
            claim = _claim(engine, clock, worker, ch, config)
            if not isinstance(claim, _Claim):
                active.remove(ch)
                continue
            ok = _send(engine, claim, senders[ch.name], worker, config, rng, book, on_outcome)
            if ok:
                sent += len(claim.rows)
            else:
                active.remove(ch)  # it is down or refusing: leave its other deliveries to a later pass
    return sent


def _send(engine: Engine, claim: _Claim, sender: Sender, worker: str, config: NotifyConfig,
          rng: random.Random, book: Bookkeeping, on_outcome: Callable[[str, str], None] | None) -> bool:
    """Send one claim and record the outcome; True if it was sent."""
    ch, rows = claim.channel, claim.rows
    first = rows[0]
    ids = [r.id for r in rows]
    what = (f"digest of {len(rows)} events ({', '.join(r.uid for r in rows)})" if claim.digest
            else f"{first.uid} ({first.event} of ticket {json.loads(first.ticket).get('id')})")
    try:
        if claim.digest:
            message = _digest_message(ch, rows, config)
            out = Outgoing(key=f"digest.{first.uid}.{ch.name}", event_uid=first.uid, event="digest",
                           at=rows[-1].at, ticket={}, language=first.language, message=message)
        else:
            ticket = json.loads(first.ticket)
            message = render(first.event, ticket, at=first.at, language=first.language,
                             timezone=config.timezone, link=config.link(ticket.get("id")))
            out = Outgoing(key=f"{first.uid}.{ch.name}", event_uid=first.uid, event=first.event,
                           at=first.at, ticket=ticket, language=first.language, message=message)
        sender.send(out)
    except PermanentError as exc:
        log.error("notification %s to %s failed for good: %s", what, ch.name, exc)
        _settle(engine, book, _Outcome(ids, worker, {"state": "failed", "last_error": str(exc)}))
        _notify(on_outcome, ch.name, "failed", len(rows))
        return False
    except Exception as exc:  # TransientError, or a bug in a sender: retry, never drop
        _retry(engine, claim, worker, config, rng, book, what, exc)
        _notify(on_outcome, ch.name, "retry", len(rows))
        return False
    _settle(engine, book, _Outcome(ids, worker, {"state": "sent", "sent_at": claim.at, "last_error": None}))
    _notify(on_outcome, ch.name, "sent", len(rows))
    log.info("notification %s sent to %s", what, ch.name)
    return True


def _retry(engine: Engine, claim: _Claim, worker: str, config: NotifyConfig, rng: random.Random,
           book: Bookkeeping, what: str, exc: Exception) -> None:
    ch, rows, now = claim.channel, claim.rows, claim.at
    reason = str(exc) if isinstance(exc, TransientError) else f"internal error: {type(exc).__name__}"
    if not isinstance(exc, TransientError):
        log.exception("notification %s to %s: sender error", what, ch.name)
    attempts = min(r.attempts for r in rows) + 1
    oldest = min(r.created_at for r in rows)
    age = (now - oldest).total_seconds()
    if age >= config.retry.max_age_s:
        log.error("notification %s to %s failed: still failing after %d attempts over %s: %s",
                  what, ch.name, attempts, timedelta(seconds=int(age)), reason)
        _settle(engine, book, _Outcome([r.id for r in rows], worker, {
            "state": "failed", "last_error": f"gave up after {attempts} attempts: {reason}"}))
        return
    if isinstance(exc, RateLimited):  # every collector leaves the receiver alone until then
        until = now + timedelta(seconds=exc.blocked_s)
        log.warning("notification %s to %s: the receiver is rate-limiting; nothing is sent to it until %s: %s",
                    what, ch.name, until.isoformat(timespec="seconds"), reason)
        _settle(engine, book, _Outcome([r.id for r in rows], worker, {"last_error": reason},
                                       block=(pace_key(ch), until)))
        return
    delay = next_delay(config.retry, attempts, rng)
    retry_after = getattr(exc, "retry_after_s", None)
    if retry_after:
        delay = max(delay, min(retry_after, config.retry.cap_s))
    log.warning("notification %s to %s: attempt %d failed, retry in %.0f s: %s",
                what, ch.name, attempts, delay, reason)
    _settle(engine, book, _Outcome([r.id for r in rows], worker, {
        "last_error": reason, "next_at": now + timedelta(seconds=delay)}))


def _notify(hook: Callable[[str, str], None] | None, channel: str, outcome: str, n: int) -> None:
    if hook is not None:
        for _ in range(n):
            hook(channel, outcome)


def default_worker_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Dispatcher:
    """The dispatch loop in a daemon thread: a pass every ``interval_s`` seconds until stopped."""

    def __init__(self, engine: Engine, config: NotifyConfig, *, interval_s: float | None = None,
                 senders: Mapping[str, Sender] | None = None, clock: Clock | None = None) -> None:
        self.engine = engine
        self.config = config
        self.interval_s = config.poll_s if interval_s is None else interval_s
        self.senders = senders if senders is not None else build_senders(config)
        self.clock: Clock = clock or DatabaseClock(engine)
        self.worker = default_worker_id()
        self.bookkeeping = Bookkeeping()
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
                dispatch_due(self.engine, self.clock, self.senders, config=self.config,
                             worker=self.worker, rng=rng, bookkeeping=self.bookkeeping)
            except Exception as exc:
                fault = classify(exc)
                if fault is not None and fault.kind == "unavailable":
                    log.warning("notifications: database unavailable (%s); retrying", describe(exc))
                else:
                    log.exception("notifications: dispatch pass failed; retrying")
            self._stop.wait(self.interval_s)
