"""A record shows its period's tickets as they stood at the period's end, whenever it is issued.

The scenario of the issue: a ticket opened at level 2 on 30 November and escalated to level 1 on
1 December; the November record issued on 1 December just after midnight and the one issued days
later must say the same.  Run for every kind whose period contains 30 November, through the real
ingest, ticket ledger, sweep and record service.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from collector.jobs import sweep
from collector.policy import load_policies
from collector.records.service import Records, containing_period
from collector.store.db import writing
from collector.store.tables import ticket_events, tickets
from tests.collector.conftest import HOST, SITE
from tests.collector.test_tickets import SH, Feed

H = timedelta(hours=1)
POLICY = """\
default:
  levels:
    - {name: system down, response: 2h, resolve: 8h, clock: 24x7}
    - {name: general fault, response: 2h, resolve: 2wd}
    - {name: minor, response: 9h, resolve: 3wd}
  rules:
    - {check: disk, open: {WARNING: 2, CRITICAL: 1}, after: 2}
"""


def _content(record: Any) -> dict[str, Any]:
    doc = dict(record.content)
    doc["header"] = {k: v for k, v in doc["header"].items() if k != "generated_at"}
    return doc


@pytest.mark.parametrize("kind", ["daily", "weekly", "monthly", "quarterly", "annual"])
def test_record_says_the_same_about_its_tickets_when_issued_late(engine, tmp_path, kind):
    path = tmp_path / "policies.yaml"
    path.write_text(POLICY, encoding="utf-8")
    policies = load_policies(path)
    end = containing_period(kind, date(2026, 11, 30), SH).end.astimezone(UTC)
    feed = Feed(engine, policies)
    pacs = Feed(engine, policies, host="pacs-01")
    clock = {"now": end}
    records = Records(engine, policies, clock=lambda: clock["now"])

    pacs.run("disk", "/", "o", end - timedelta(days=200 if kind in ("quarterly", "annual") else 10))
    feed.run("disk", "/", "ww", end - 3 * H)  # opens at level 2 three hours before the end
    [t1] = feed.all()
    t2, _ = feed.tickets.open_manual(actor="erin", site=SITE, host=HOST, severity=2, summary="HIS slow",
                                     reported_via="hotline", check="manual", item="call-1")
    feed.tickets.request_onsite(t1["id"], "erin")

    clock["now"] = end + timedelta(minutes=1)
    on_time = records.issue(site=SITE, kind=kind, period={"date": "2026-11-30"}, actor="erin")

    # After the period: escalated to level 1 by a worse result, acknowledged, breached, resolved, closed;
    # the silent host reports again.
    feed.run("disk", "/", "c", end + H)
    feed.now = end + 2 * H
    feed.tickets.acknowledge(t2["id"], "erin")
    sweep(engine, end + timedelta(days=3), policies)
    feed.now = end + timedelta(days=3, hours=1)
    feed.tickets.resolve(t1["id"], "erin", "disk cleaned")
    feed.tickets.close(t1["id"], "erin")
    pacs.run("disk", "/", "o", end + timedelta(days=3))
    after = feed.tickets.get(t1["id"])
    assert (after["severity"], after["state"], after["response_breached"]) == (1, "closed", True)

    clock["now"] = end + timedelta(days=3, hours=2)
    late = records.issue(site=SITE, kind=kind, period={"date": "2026-11-30"}, actor="erin")

    assert _content(late) == _content(on_time)
    lines = {line["id"]: line for line in on_time.content["tickets"]}
    line = lines[t1["id"]]
    assert (line["severity"], line["level_name"], line["state"], line["resolved_at"]) == (
        2, "general fault", "open", None)
    assert line["onsite"] == "pending" and line["resolve_term"] == "2个工作日"
    assert (lines[t2["id"]]["state"], lines[t2["id"]]["acknowledged_at"]) == ("open", None)


def test_ticket_of_an_old_history_is_shown_as_of_the_end_when_its_events_have_no_snapshot(engine):
    # Events written before schema 0008 carry no snapshot: replayed from their actions and notes.
    feed = Feed(engine)
    feed.push()  # the host is known
    t, _ = feed.tickets.open_manual(actor="erin", site=SITE, host=HOST, severity=3, summary="slow",
                                    reported_via="phone")
    end = datetime(2026, 11, 25, tzinfo=SH).astimezone(UTC)  # the end of the day it was opened
    feed.now = end + H
    feed.tickets.acknowledge(t["id"], "erin")
    sweep(engine, end + timedelta(days=30), feed.tickets.policies)  # resolution breached: level 3 → 2
    with writing(engine) as conn:
        conn.execute(ticket_events.update().values(snapshot=None))
        conn.execute(tickets.update().values(terms=None))
    records = Records(engine, feed.tickets.policies, clock=lambda: end + timedelta(days=31))
    record = records.issue(site=SITE, kind="daily", period={"date": "2026-11-24"}, actor="erin")
    [line] = record.content["tickets"]
    assert (line["severity"], line["level_name"], line["state"], line["acknowledged_at"]) == (
        3, "轻微故障", "open", None)  # the built-in level's name in the record's language (zh_CN)
    assert line["resolve_term"] == "" and line["response"] == "pending"
