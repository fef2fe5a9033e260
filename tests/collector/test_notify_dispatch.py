"""The dispatcher end to end: outbox → real SMTP and HTTP receivers, outages, retries, two dispatchers.

Time is injected (``now``); the receivers are real servers on loopback that
are stopped and started again to play an outage.
"""

from __future__ import annotations

import random
import re
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from collector.metrics import CollectorMetrics
from collector.notify import enqueue
from collector.notify.config import RetryPolicy, parse_notifications
from collector.notify.dispatch import LEASE, _Claim, _claim, build_senders, dispatch_due, next_delay
from collector.store.db import make_engine, reading, writing
from collector.store.tables import notify_deliveries
from tests.collector.notify_receivers import (  # noqa: F401 (fixtures)
    SMTP_PASSWORD,
    SMTP_USER,
    hook_sink_fixture,
    mail_sink_fixture,
    tls_cert_fixture,
)

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
SECRET = "SEC0123456789abcdef"


def _ticket(i: int, *, site: str = "central-hospital", severity: int = 2) -> dict:
    return {"id": i, "site": site, "host": "his-db-01", "check": "db_backup", "item": f"DB{i}",
            "severity": severity, "state": "open", "summary": f"备份失败 {i}", "opened_at": T0.isoformat(),
            "response_due": (T0 + timedelta(minutes=30)).isoformat(), "occurrences": 1}


def _enqueue(engine, event: str, ticket: dict, at: datetime = T0) -> None:  # type: ignore[no-untyped-def]
    with writing(engine) as conn:
        enqueue(conn, event=event, ticket=ticket, at=at)


def _config(mail_sink, hook_sink, tls_cert, **retry):  # type: ignore[no-untyped-def]
    doc = {
        "timezone": "Asia/Shanghai",
        "retry": retry or {"first": "30s", "cap": "1h", "max_age": "3d"},
        "channels": {
            "mail": {"type": "email", "host": "127.0.0.1", "port": mail_sink.port, "username": SMTP_USER,
                     "password": SMTP_PASSWORD, "from": "wardround@example.cn", "to": "oncall@example.cn",
                     "ca_file": str(tls_cert.cert), "timeout": "5s"},
            "hook": {"type": "webhook", "url": hook_sink.url("/hook"), "timeout": "5s"},
            "wecom": {"type": "wecom", "url": hook_sink.url("/wecom?key=k"), "timeout": "5s"},
            "ding": {"type": "dingtalk", "url": hook_sink.url("/ding?access_token=t"), "secret": SECRET,
                     "timeout": "5s"},
            "feishu": {"type": "feishu", "url": hook_sink.url("/feishu/tok"), "secret": SECRET,
                       "timeout": "5s"},
        },
        "routes": [{"channels": ["mail", "hook", "wecom", "ding", "feishu"], "sites": ["central-*"],
                    "language": "zh"}],
    }
    config, problems = parse_notifications(doc)
    assert problems == [] and config is not None
    return config


def _run(engine, config, now):  # type: ignore[no-untyped-def]
    return dispatch_due(engine, now, build_senders(config), config=config, rng=random.Random(1))


def _states(engine) -> Counter:  # type: ignore[no-untyped-def]
    with reading(engine) as conn:
        return Counter(conn.execute(select(notify_deliveries.c.state)).scalars())


def _mail_tickets(mail_sink) -> Counter:  # type: ignore[no-untyped-def]
    return Counter(str(m["Message-ID"]) for m in mail_sink.messages)


def test_every_notification_arrives_exactly_once_when_receivers_were_down_for_a_while(
        engine, mail_sink, hook_sink, tls_cert):
    config = _config(mail_sink, hook_sink, tls_cert)
    _enqueue(engine, "opened", _ticket(1))
    assert _run(engine, config, T0) == 5  # all five channels, receivers up

    mail_sink.stop()
    hook_sink.stop()  # the outage begins
    _enqueue(engine, "opened", _ticket(2), T0 + timedelta(minutes=1))
    _enqueue(engine, "escalated", _ticket(2), T0 + timedelta(minutes=2))
    _enqueue(engine, "resolved", _ticket(1), T0 + timedelta(minutes=3))
    for minutes in (3, 4, 6, 10, 20):
        assert _run(engine, config, T0 + timedelta(minutes=minutes)) == 0
    assert _states(engine) == Counter({"sent": 5, "pending": 15})

    mail_sink.start()
    hook_sink.start()  # back after ~20 minutes; the next tries are due within the 1 h cap
    sent = sum(_run(engine, config, T0 + timedelta(minutes=m)) for m in (21, 60, 90, 150))
    assert sent == 15
    assert _run(engine, config, T0 + timedelta(hours=5)) == 0
    assert _states(engine) == Counter({"sent": 20})

    assert len(mail_sink.messages) == 4 and set(_mail_tickets(mail_sink).values()) == {1}
    for path in ("/hook", "/wecom", "/ding", "/feishu/tok"):
        assert len(hook_sink.on(path)) == 4, path
    keys = Counter(h.headers["Idempotency-Key"] for h in hook_sink.on("/hook"))
    assert len(keys) == 4 and set(keys.values()) == {1}
    events = [h.body["event"] for h in hook_sink.on("/hook")]
    assert sorted(events) == ["escalated", "opened", "opened", "resolved"]
    subjects = sorted(str(m["Subject"]) for m in mail_sink.messages)
    assert any("故障已恢复 #1" in s for s in subjects) and any("故障单已升级 #2" in s for s in subjects)


def test_robot_error_answer_is_retried_not_sent_when_errcode_is_nonzero(engine, mail_sink, hook_sink,
                                                                          tls_cert):
    config = _config(mail_sink, hook_sink, tls_cert)
    refuse = {"on": True}

    def answer(hit):  # type: ignore[no-untyped-def]
        if refuse["on"] and hit.path == "/ding":
            return 200, {"errcode": 310000, "errmsg": "sign not match"}, {}
        return 200, {"errcode": 0, "errmsg": "ok", "code": 0}, {}

    hook_sink.answer = answer
    _enqueue(engine, "opened", _ticket(3))
    assert _run(engine, config, T0) == 4
    with reading(engine) as conn:
        row = conn.execute(select(notify_deliveries).where(notify_deliveries.c.channel == "ding")).one()
    assert row.state == "pending" and row.attempts == 1 and "310000 sign not match" in row.last_error
    refuse["on"] = False
    assert _run(engine, config, T0 + timedelta(minutes=1)) == 1
    assert len(hook_sink.on("/ding")) == 2  # one refused, one accepted
    assert _states(engine) == Counter({"sent": 5})


def test_delivery_fails_with_reason_when_still_failing_after_max_age(engine, mail_sink, hook_sink,
                                                                     tls_cert, caplog):
    config = _config(mail_sink, hook_sink, tls_cert, first="30s", cap="1h", max_age="1d")
    hook_sink.stop()
    mail_sink.stop()
    _enqueue(engine, "opened", _ticket(4))
    now = T0
    while now < T0 + timedelta(days=1, hours=2):
        _run(engine, config, now)
        now += timedelta(minutes=30)
    assert _states(engine) == Counter({"failed": 5})
    with reading(engine) as conn:
        rows = conn.execute(select(notify_deliveries)).all()
    assert all(r.last_error.startswith("gave up after") for r in rows)
    assert all(r.attempts > 15 for r in rows)  # retried about hourly for a day, never dropped silently
    assert "failed: still failing after" in caplog.text
    text = CollectorMetrics(engine).exposition().decode()
    assert 'wardround_notifications_sent_total{channel="mail",outcome="failed"} 1.0' in text


def test_delivery_fails_at_once_when_receiver_refuses_permanently(engine, mail_sink, hook_sink, tls_cert):
    config = _config(mail_sink, hook_sink, tls_cert)
    hook_sink.answer = lambda hit: (404, {"error": "no such hook"}, {}) if hit.path == "/hook" else (
        200, {"errcode": 0, "code": 0}, {})
    _enqueue(engine, "opened", _ticket(5))
    assert _run(engine, config, T0) == 4
    with reading(engine) as conn:
        row = conn.execute(select(notify_deliveries).where(notify_deliveries.c.channel == "hook")).one()
    assert (row.state, row.attempts) == ("failed", 1) and "HTTP 404" in row.last_error
    assert _run(engine, config, T0 + timedelta(days=1)) == 0
    assert len(hook_sink.on("/hook")) == 1


def test_claimed_delivery_is_sent_once_more_when_its_dispatcher_died_before_recording(
        engine, mail_sink, hook_sink, tls_cert):
    config = _config(mail_sink, hook_sink, tls_cert)
    _enqueue(engine, "opened", _ticket(6))
    assert _run(engine, config, T0) == 5  # fans out and sends; now one more event...
    _enqueue(engine, "resolved", _ticket(6), T0 + timedelta(minutes=1))
    dispatch_due(engine, T0 + timedelta(minutes=1), {}, config=config)  # fan out only
    dead = _claim(engine, lambda: T0 + timedelta(minutes=1), "crashed-worker", config.channels["hook"], config)
    assert isinstance(dead, _Claim)  # ...which a dispatcher claimed (and maybe sent) before it died
    assert _run(engine, config, T0 + timedelta(minutes=2)) == 4  # hook is still held by the claim
    assert _run(engine, config, T0 + timedelta(minutes=1) + LEASE + timedelta(seconds=1)) == 1
    assert len(hook_sink.on("/hook")) == 2 and _states(engine) == Counter({"sent": 10})


def test_no_delivery_is_sent_twice_when_two_dispatchers_run_concurrently(db_url, hook_sink):
    config, problems = parse_notifications({
        "channels": {"hook": {"type": "webhook", "url": hook_sink.url("/hook")},
                     "wecom": {"type": "wecom", "url": hook_sink.url("/wecom?key=k")}},
        "routes": [{"channels": ["hook", "wecom"]}]})
    assert config is not None, problems
    engines = [make_engine(db_url), make_engine(db_url)]
    try:
        for i in range(60):
            _enqueue(engines[0], "opened", _ticket(i))
        sent = [0, 0]
        errors: list[BaseException] = []
        start = threading.Barrier(2)

        def work(n: int) -> None:
            try:
                start.wait()
                senders = build_senders(config)
                while True:
                    got = dispatch_due(engines[n], T0, senders, config=config, worker=f"w{n}", limit=5)
                    sent[n] += got
                    if got == 0:
                        return
            except BaseException as exc:  # noqa: BLE001 - surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert errors == []
        assert sum(sent) == 120 and min(sent) > 0, sent
        keys = Counter(h.headers.get("Idempotency-Key") for h in hook_sink.on("/hook"))
        assert len(keys) == 60 and set(keys.values()) == {1}
        # the WeCom robot takes 20 messages a minute: the burst of 60 came as digests, each event once
        in_messages = Counter(t for h in hook_sink.on("/wecom")
                              for t in set(re.findall(r"新故障单 #(\d+)", h.body["markdown"]["content"])))
        assert len(in_messages) == 60 and set(in_messages.values()) == {1}
        assert len(hook_sink.on("/wecom")) <= 20
        assert _states(engines[0]) == Counter({"sent": 120})
    finally:
        for e in engines:
            e.dispose()


def test_metrics_show_pending_and_sent_when_scraped(engine, mail_sink, hook_sink, tls_cert):
    config = _config(mail_sink, hook_sink, tls_cert)
    _enqueue(engine, "opened", _ticket(7))
    text = CollectorMetrics(engine, routing=True).exposition().decode()
    assert 'wardround_notifications_pending{channel=""} 1.0' in text
    hook_sink.stop()
    _run(engine, config, T0)
    text = CollectorMetrics(engine, routing=True).exposition().decode()
    assert 'wardround_notifications_sent_total{channel="mail",outcome="sent"} 1.0' in text
    assert 'wardround_notifications_pending{channel="hook"} 1.0' in text
    assert 'wardround_notifications_retries_total{channel="hook"} 1.0' in text


def test_events_nobody_routes_are_not_pending_on_a_collector_without_channels(engine, mail_sink, hook_sink,
                                                                            tls_cert):
    _enqueue(engine, "opened", _ticket(11))
    _enqueue(engine, "resolved", _ticket(11))
    text = CollectorMetrics(engine).exposition().decode()  # no notifications: section: nothing waits for them
    assert "wardround_notifications_pending" in text and 'wardround_notifications_pending{channel=""}' not in text
    routing = CollectorMetrics(engine, routing=True).exposition().decode()  # one with channels waits for them
    assert 'wardround_notifications_pending{channel=""} 2.0' in routing
    hook_sink.stop()
    _run(engine, _config(mail_sink, hook_sink, tls_cert), T0)  # another collector routes them: its channels wait
    text = CollectorMetrics(engine).exposition().decode()
    assert 'wardround_notifications_pending{channel="hook"} 2.0' in text
    assert 'wardround_notifications_sent_total{channel="mail",outcome="sent"} 2.0' in text


@pytest.mark.parametrize(("attempts", "low", "high"), [(1, 22.5, 37.5), (2, 45, 75), (5, 360, 600),
                                                       (8, 2700, 4500), (40, 2700, 4500)])
def test_backoff_doubles_to_the_cap_with_jitter_when_attempts_grow(attempts, low, high):
    rng = random.Random(7)
    delays = [next_delay(RetryPolicy(first_s=30, cap_s=3600), attempts, rng) for _ in range(200)]
    assert low <= min(delays) and max(delays) <= high and max(delays) - min(delays) > (high - low) / 4


def test_stale_event_is_not_sent_when_first_seen_after_max_age(engine, mail_sink, hook_sink, tls_cert,
                                                               caplog):
    config = _config(mail_sink, hook_sink, tls_cert)
    _enqueue(engine, "opened", _ticket(8), T0 - timedelta(days=30))  # kept while nothing dispatched
    _enqueue(engine, "opened", _ticket(9), T0)
    assert _run(engine, config, T0) == 5
    assert [h.body["ticket"]["id"] for h in hook_sink.on("/hook")] == [9]
    assert "older than the max age; not sent" in caplog.text


def test_background_dispatcher_delivers_when_started_and_stops_when_asked(engine, hook_sink):
    from collector.notify.dispatch import Dispatcher

    config, _ = parse_notifications({"channels": {"hook": {"type": "webhook", "url": hook_sink.url("/hook")}},
                                     "routes": [{"channels": ["hook"]}]})
    assert config is not None
    _enqueue(engine, "opened", _ticket(10), datetime.now(UTC))
    dispatcher = Dispatcher(engine, config, interval_s=0.05)
    dispatcher.start()
    try:
        arrived = threading.Event()
        for _ in range(200):  # waits up to 10 s for the thread; not a speed assertion
            if hook_sink.on("/hook"):
                arrived.set()
                break
            arrived.wait(0.05)
        assert arrived.is_set()
    finally:
        dispatcher.stop()
    assert not dispatcher._thread.is_alive()
    assert len(hook_sink.on("/hook")) == 1 and _states(engine) == Counter({"sent": 1})
