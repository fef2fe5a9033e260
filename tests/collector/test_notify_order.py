"""Each ticket's events arrive in order on every channel, and robots are paced, blocked and coalesced.

Real receivers on loopback (:mod:`tests.collector.notify_receivers`); the
robots enforce their vendors' documented limits.  Time is injected where the
test is about what happens minutes later (a 10-minute DingTalk block); the
three-collector, real-time version is ``test_notify_pacing.py``.
"""

from __future__ import annotations

import random
import re
import threading
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from collector.notify import enqueue
from collector.notify.config import NotifyConfig, parse_notifications
from collector.notify.dispatch import build_senders, dispatch_due
from collector.store.db import reading, writing
from collector.store.tables import notify_deliveries, notify_robots
from tests.collector.notify_receivers import hook_sink_fixture, robot_sink_fixture  # noqa: F401 (fixtures)

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
LIFE = ("opened", "acknowledged", "escalated", "resolved")


def _ticket(i: int) -> dict[str, Any]:
    return {"id": i, "site": "central-hospital", "host": f"his-db-{i:02d}", "check": "db_backup", "item": "HIS",
            "severity": 2, "state": "open", "summary": f"备份失败 {i}", "opened_at": T0.isoformat()}


def _config(channels: dict[str, Any], **extra: Any) -> NotifyConfig:
    config, problems = parse_notifications({
        "channels": channels, "routes": [{"channels": list(channels), "events": list(LIFE)}], **extra})
    assert config is not None, problems
    return config


def _enqueue(engine: Any, events: list[tuple[str, int]], at: datetime = T0) -> None:
    for k, (event, ticket) in enumerate(events):
        with writing(engine) as conn:
            enqueue(conn, event=event, ticket=_ticket(ticket), at=at + timedelta(seconds=k))


def _interleaved(tickets: int) -> list[tuple[str, int]]:
    """Each ticket's life, the tickets interleaved as they happen on a busy day."""
    return [(event, t) for event in LIFE for t in range(tickets)]


def _pending(engine: Any) -> int:
    with reading(engine) as conn:
        return len(conn.execute(select(notify_deliveries.c.id).where(notify_deliveries.c.state == "pending"))
                   .all())


def test_each_tickets_events_arrive_in_order_when_three_dispatchers_send_at_once(engine, hook_sink):
    # "opened" is slow to be accepted: a dispatcher that took the next event meanwhile would overtake it
    hook_sink.delay = lambda hit: 0.15 if hit.body["event"] == "opened" else 0.0
    config = _config({"hook": {"type": "webhook", "url": hook_sink.url("/hook")}})
    _enqueue(engine, [(event, t) for t in range(6) for event in LIFE])  # each ticket's life in a quick burst
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            senders = build_senders(config)
            while dispatch_due(engine, T0 + timedelta(minutes=1), senders, config=config, worker=f"w{n}",
                               limit=3) or _pending(engine):
                pass
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    seen: dict[int, list[str]] = defaultdict(list)
    for hit in hook_sink.on("/hook"):  # in the order the receiver accepted them
        seen[hit.body["ticket"]["id"]].append(hit.body["event"])
    assert dict(seen) == {t: list(LIFE) for t in range(6)}


def test_latest_event_is_delivered_last_when_the_receiver_comes_back_after_an_outage(engine, hook_sink):
    config = _config({"hook": {"type": "webhook", "url": hook_sink.url("/hook")}},
                     retry={"first": "30s", "cap": "1h", "max_age": "3d"})
    rng = random.Random(5)
    hook_sink.stop()
    now = T0
    for step, event in enumerate(LIFE):  # the whole life of 14 tickets happens while the receiver is down
        _enqueue(engine, [(event, t) for t in range(14)], T0 + timedelta(minutes=step))
        for _ in range(3):
            now += timedelta(minutes=2)
            dispatch_due(engine, now, build_senders(config), config=config, rng=rng)
    hook_sink.start()
    while _pending(engine):
        now += timedelta(minutes=5)
        dispatch_due(engine, now, build_senders(config), config=config, rng=rng)
    seen: dict[int, list[str]] = defaultdict(list)
    for hit in hook_sink.on("/hook"):
        seen[hit.body["ticket"]["id"]].append(hit.body["event"])
    assert dict(seen) == {t: list(LIFE) for t in range(14)}  # in order, so the last one is "resolved"


def _events_in(robot: Any) -> list[tuple[int, str]]:
    """(ticket, event word) in the order the robot showed them, digests unpacked."""
    out = []
    for hit in robot.messages:
        text = robot.text(hit)
        if "故障单事件汇总" in text:
            out += [(int(m.group(2)), m.group(1))
                    for m in re.finditer(r"^- (?:\*\*)?(\S+) #(\d+)", text, re.MULTILINE)]
        else:
            m = re.search(r"(新故障单|故障单已响应|故障单已升级|故障已恢复) #(\d+)", text)
            assert m is not None, text
            out.append((int(m.group(2)), m.group(1)))
    return out


WORDS = {"opened": "新故障单", "acknowledged": "故障单已响应", "escalated": "故障单已升级", "resolved": "故障已恢复"}


def test_burst_to_a_dingtalk_robot_is_paced_and_coalesced_with_no_refusal(engine, robots):
    ding = robots.add("/ding", "dingtalk")
    config = _config({"ding": {"type": "dingtalk", "url": robots.url("/ding?access_token=t")}})
    _enqueue(engine, _interleaved(15))  # 60 events at once
    now = T0 + timedelta(seconds=5)
    sent = dispatch_due(engine, now, build_senders(config), config=config)
    assert sent == 60 and ding.refused == 0
    assert len(ding.messages) <= 20  # within the robot's minute
    events = _events_in(ding)
    assert sorted(events) == sorted((t, WORDS[e]) for e in LIFE for t in range(15))  # each once
    for t in range(15):
        assert [w for tt, w in events if tt == t] == [WORDS[e] for e in LIFE]
    digest = robots.robots["/ding"].text(ding.messages[0])
    assert "机器人限速（20 条/分钟）" in digest and "合并为一条消息" in digest


def test_steady_stream_to_a_wecom_robot_never_waits_for_a_whole_window(engine, robots):
    wecom = robots.add("/wecom", "wecom")
    config = _config({"wecom": {"type": "wecom", "url": robots.url("/wecom?key=k")}})
    sent_at: dict[int, datetime] = {}
    clock = {"now": T0}
    robots.clock = lambda: clock["now"].timestamp()  # the robot counts by the same (injected) time
    for second in range(90):  # one new ticket a second for a minute and a half, a pass every second
        now = clock["now"] = T0 + timedelta(seconds=second)
        if second < 60:
            _enqueue(engine, [("opened", second)], now)
        before = len(_events_in(wecom))
        dispatch_due(engine, now, build_senders(config), config=config)
        for ticket, _word in _events_in(wecom)[before:]:
            sent_at[ticket] = now
    assert wecom.refused == 0 and sorted(sent_at) == list(range(60))
    waits = [(sent_at[t] - (T0 + timedelta(seconds=t))).total_seconds() for t in range(60)]
    assert max(waits) <= 6  # half the limit at once, then a message (a digest) every 6 s
    assert len(wecom.messages) <= 20


def test_blocked_dingtalk_robot_is_left_alone_for_ten_minutes_by_every_dispatcher(engine, robots):
    ding = robots.add("/ding", "dingtalk")
    ding.blocked_until = float("inf")  # someone else exceeded the limit: the robot refuses everything
    config = _config({"ding": {"type": "dingtalk", "url": robots.url("/ding?access_token=t")}})
    _enqueue(engine, [("opened", 1), ("resolved", 1), ("opened", 2)])
    for minutes in (0, 1, 3, 6, 9.5):  # two dispatchers, passes across the block
        for worker in ("a", "b"):
            dispatch_due(engine, T0 + timedelta(minutes=minutes), build_senders(config), config=config,
                         worker=worker)
    assert ding.refused == 1 and ding.messages == []  # one try, then silence: no 10-minute block renewed
    with reading(engine) as conn:
        (until,) = conn.execute(select(notify_robots.c.blocked_until)).one()
    assert until == T0 + timedelta(minutes=10)
    ding.blocked_until = 0.0  # the block is over
    sent = dispatch_due(engine, T0 + timedelta(minutes=10, seconds=1), build_senders(config), config=config)
    assert sent == 3 and [(t, w) for t, w in _events_in(ding)] == [(1, "新故障单"), (1, "故障已恢复"),
                                                                    (2, "新故障单")]


def test_feishu_rate_limit_answer_with_http_400_pauses_the_robot_and_loses_nothing(engine, robots):
    feishu = robots.add("/feishu/tok", "feishu")
    feishu.blocked_until = float("inf")
    config = _config({"feishu": {"type": "feishu", "url": robots.url("/feishu/tok")}})
    _enqueue(engine, [("opened", 3)])
    dispatch_due(engine, T0, build_senders(config), config=config)
    with reading(engine) as conn:
        row = conn.execute(select(notify_deliveries)).one()
    assert row.state == "pending" and "rate-limiting: code 9499" in row.last_error  # not "failed": kept
    assert dispatch_due(engine, T0 + timedelta(seconds=30), build_senders(config), config=config) == 0
    feishu.blocked_until = 0.0
    assert dispatch_due(engine, T0 + timedelta(seconds=61), build_senders(config), config=config) == 1
    assert feishu.refused == 1 and len(feishu.messages) == 1
