"""Three real collectors share each robot's rate limit through the database.

Three ``wardround-collector serve`` processes on one PostgreSQL dispatch a
burst of 60 ticket events to a DingTalk, a WeCom and a Feishu robot that
enforce their vendors' documented limits (DingTalk 20 a minute and a
10-minute block, WeCom 20 a minute, Feishu 100 a minute and 5 a second;
:class:`tests.collector.notify_receivers.RobotSink`).  Every event must
arrive once, each ticket's in order, with no refusal: before, DingTalk
refused most of such a burst and blocked the robot for 10 minutes.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from collector.notify import enqueue
from collector.store.db import make_engine, writing
from tests.collector.conftest import TEMPLATE_DB
from tests.collector.notify_receivers import robot_sink_fixture  # noqa: F401 (fixture)
from tests.collector.serve import start_collectors, stop_collectors
from tests.collector.test_notify_order import _events_in

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

WORDS = {"opened": "新故障单", "resolved": "故障已恢复"}


def test_three_collectors_keep_each_robot_within_its_limit_and_every_ticket_in_order(pg_cluster, tmp_path,
                                                                                      robots):
    name = pg_cluster.create_db(template=TEMPLATE_DB)
    url = pg_cluster.url(name)
    engine = make_engine(url)
    kinds = {"ding": ("dingtalk", "/ding"), "wecom": ("wecom", "/wecom"), "feishu": ("feishu", "/feishu/hook")}
    for kind, path in kinds.values():
        robots.add(path, kind)
    collectors = []
    try:
        collectors = start_collectors(url, tmp_path, 3, config={"sweep_seconds": 0, "notifications": {
            "poll": "0.5s",
            "channels": {ch: {"type": kind, "url": robots.url(path + ("?key=k" if kind == "wecom" else ""))}
                         for ch, (kind, path) in kinds.items()},
            "routes": [{"channels": list(kinds), "events": list(WORDS)}]}})
        start = datetime.now(UTC)
        for k, (event, ticket) in enumerate([(e, t) for t in range(30) for e in WORDS]):  # 60 events
            with writing(engine) as conn:
                enqueue(conn, event=event, at=start + timedelta(milliseconds=k), ticket={
                    "id": ticket + 1, "site": "central-hospital", "host": f"db-{ticket:02d}", "check": "disk",
                    "item": "/", "severity": 2})
        expected = {(t + 1, w) for t in range(30) for w in WORDS.values()}
        deadline = time.monotonic() + 60
        while any(set(_events_in(r)) != expected for r in robots.robots.values()):
            if time.monotonic() > deadline:
                problems = "\n".join(line for c in collectors for line in c.log_text().splitlines()
                                     if "WARNING" in line or "ERROR" in line)
                seen = {p: (len(_events_in(r)), r.refused) for p, r in robots.robots.items()}
                pytest.fail(f"not all delivered (events, refusals): {seen}\n{problems[-4000:]}")
            time.sleep(0.25)
        time.sleep(1.5)  # anything sent twice would arrive now
        for path, robot in robots.robots.items():
            events = _events_in(robot)
            assert robot.refused == 0, path
            assert len(events) == 60 and set(events) == expected, path  # each event exactly once
            for t in range(30):
                assert [w for tt, w in events if tt == t + 1] == list(WORDS.values()), (path, t)
            assert len(robot.messages) <= 20, path  # a digest said what it stands for
    finally:
        stop_collectors(collectors)
        engine.dispose()
        pg_cluster.drop_db(name)
