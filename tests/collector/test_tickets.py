"""Results → tickets: the rules with an injected clock, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from sqlalchemy import select

from checks.result import Status
from collector.auth import Agent
from collector.ingest import Ingestor, Outcome, parse_batch
from collector.policy import Policies, default_policies, load_policies
from collector.store.tables import notify_events, ticket_events, ticket_streaks, tickets
from collector.store.tickets import TicketFilter
from collector.tickets import Tickets
from tests.collector.conftest import HOST, SITE, make_result

SH = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 24, 10, 0, tzinfo=SH).astimezone(UTC)  # a Tuesday, 10:00 in Shanghai
MIN = timedelta(minutes=1)


class Feed:
    """Pushes results for one host through the real ingest path at chosen times."""

    def __init__(self, engine: Any, policies: Policies | None = None, site: str = SITE, host: str = HOST):
        self.engine = engine
        self.tickets = Tickets(engine, policies or default_policies(), clock=lambda: self.now)
        self.ingestor = Ingestor(engine, tickets=self.tickets)
        self.agent = Agent(site=site, host=host)
        self.now = T0

    def push(self, *results: dict[str, Any], at: datetime | None = None) -> Outcome:
        self.now = at or self.now
        body = orjson.dumps({"results": list(results)})
        return self.ingestor.store(self.agent, parse_batch(body, self.now), self.now)

    def result(self, status: Status, at: datetime, check: str = "disk", item: str = "/",
               summary: str = "") -> dict[str, Any]:
        return make_result(site=self.agent.site, host=self.agent.host, check=check, item=item, status=status,
                           started_at=at, summary=summary or f"{check} {item} {status.name}")

    def run(self, check: str, item: str, statuses: str, start: datetime, step: timedelta = MIN) -> datetime:
        """One result per letter (o OK, w WARNING, c CRITICAL, u UNKNOWN), each pushed at its time."""
        names = {"o": Status.OK, "w": Status.WARNING, "c": Status.CRITICAL, "u": Status.UNKNOWN}
        at = start
        for letter in statuses:
            self.push(self.result(names[letter], at, check, item), at=at + timedelta(seconds=5))
            at += step
        return at

    def all(self) -> list[dict[str, Any]]:
        return self.tickets.list(TicketFilter())

    def events(self) -> list[tuple[str, str]]:
        with self.engine.connect() as conn:
            return [(r.event, r.ticket_id) for r in conn.execute(
                select(notify_events.c.event, notify_events.c.ticket_id).order_by(notify_events.c.id))]

    def history(self, ticket_id: int) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(ticket_events).where(ticket_events.c.ticket_id == ticket_id)
                                     .order_by(ticket_events.c.id)))


@pytest.fixture
def feed(engine):
    return Feed(engine)


def test_failed_backup_opens_a_level_two_ticket_at_once_when_critical(feed):
    feed.push(feed.result(Status.CRITICAL, T0, "backup_files", "/backups/*.bak", "no backup since Sunday"))
    [t] = feed.all()
    assert (t["check"], t["item"], t["severity"], t["state"]) == ("backup_files", "/backups/*.bak", 2, "open")
    assert t["level_name"] == "general fault" and t["occurrences"] == 1
    assert t["opened_at"] == "2026-11-24T02:00:00.000000Z"
    assert t["response_due"] == "2026-11-24T04:00:00.000000Z"  # 2 business hours: 12:00 Shanghai
    assert t["resolve_due"] == "2026-11-26T02:00:00.000000Z"  # 18 business hours: Thursday 10:00
    assert "no backup since Sunday" in t["summary"]
    assert feed.events() == [("opened", str(t["id"]))]
    [opened] = feed.history(t["id"])
    assert (opened.actor, opened.action, opened.to_state) == ("system", "open", "open")


def test_other_check_opens_only_after_two_bad_results_when_default_mapping(feed):
    feed.run("disk", "/", "c", T0)
    assert feed.all() == []
    feed.run("disk", "/", "c", T0 + MIN)
    [t] = feed.all()
    assert t["severity"] == 2 and t["occurrences"] == 2 and t["last_status"] == int(Status.CRITICAL)


def test_warning_opens_nothing_when_default_mapping(feed):
    feed.run("disk", "/", "wwwww", T0)
    assert feed.all() == []


def test_repeats_count_on_one_ticket_when_the_problem_persists(feed):
    feed.run("backup_files", "/b", "ccccc", T0)
    [t] = feed.all()
    assert t["occurrences"] == 5 and feed.events() == [("opened", str(t["id"]))]


def test_duplicates_do_not_count_when_a_batch_is_resent(feed):
    bad = [feed.result(Status.CRITICAL, T0 + i * MIN, "backup_files", "/b") for i in range(3)]
    feed.push(*bad)
    feed.push(*bad)
    [t] = feed.all()
    assert t["occurrences"] == 3


def test_older_result_changes_nothing_when_it_arrives_out_of_order(feed):
    feed.run("backup_files", "/b", "o", T0 + 10 * MIN)
    feed.push(feed.result(Status.CRITICAL, T0, "backup_files", "/b"))  # measured before the OK
    assert feed.all() == []


def test_late_bad_result_counts_on_a_live_ticket_but_not_its_streak_when_out_of_order(feed):
    feed.run("backup_files", "/b", "co", T0 + 10 * MIN)  # open, then one OK (two resolve it)
    feed.push(feed.result(Status.CRITICAL, T0, "backup_files", "/b"))  # measured before both
    [t] = feed.all()
    assert t["occurrences"] == 2 and t["state"] == "open"
    feed.run("backup_files", "/b", "o", T0 + 20 * MIN)  # the streak of good results was not broken
    assert feed.all()[0]["state"] == "resolved"


def test_ticket_resolves_after_two_good_results_when_recovered(feed):
    end = feed.run("backup_files", "/b", "cc", T0)
    feed.run("backup_files", "/b", "o", end)
    assert feed.all()[0]["state"] == "open"
    feed.run("backup_files", "/b", "o", end + MIN)
    [t] = feed.all()
    assert t["state"] == "resolved" and t["resolved_at"] is not None
    last = feed.history(t["id"])[-1]
    assert last.action == "resolve" and last.actor == "system"
    assert last.note.startswith("recovered at ") and "(auto)" in last.note
    assert [e for e, _ in feed.events()] == ["opened", "resolved"]


def test_resolved_ticket_reopens_when_failing_again_within_the_window(feed):
    end = feed.run("backup_files", "/b", "coo", T0)
    feed.run("backup_files", "/b", "c", end + 30 * MIN)
    [t] = feed.all()
    assert t["state"] == "open" and t["reopened_count"] == 1 and t["resolved_at"] is None
    assert [e for e, _ in feed.events()] == ["opened", "resolved", "reopened"]


def test_new_ticket_opens_when_failing_after_the_reopen_window(feed):
    end = feed.run("backup_files", "/b", "coo", T0)
    feed.run("backup_files", "/b", "c", end + 2 * timedelta(hours=1))
    states = sorted(t["state"] for t in feed.all())
    assert states == ["open", "resolved"]


def test_new_ticket_opens_when_failing_after_an_engineer_closed_it(feed):
    end = feed.run("backup_files", "/b", "coo", T0)
    [t] = feed.all()
    feed.tickets.close(t["id"], "eve", "backup job fixed")
    feed.run("backup_files", "/b", "c", end + 5 * MIN)
    tickets_now = {x["id"]: x["state"] for x in feed.all()}
    assert tickets_now[t["id"]] == "closed" and sorted(tickets_now.values()) == ["closed", "open"]


def test_flapping_item_gets_one_ticket_marked_flapping_when_it_keeps_changing(feed):
    feed.run("disk", "/", "cocococ", T0)  # never two bad in a row: N=2 alone would open nothing
    [t] = feed.all()
    assert t["flapping"] is True and t["state"] == "open"
    feed.run("disk", "/", "ocococo", T0 + 7 * MIN)  # keeps flapping: not resolved, no second ticket
    [t] = feed.all()
    assert t["state"] == "open" and t["flapping"] is True
    assert [e for e, _ in feed.events()] == ["opened"]


def test_flapping_ticket_resolves_when_the_item_settles(feed):
    end = feed.run("disk", "/", "cocococ", T0)
    feed.run("disk", "/", "oooooooooo", end)
    [t] = feed.all()
    assert t["state"] == "resolved"


def test_nothing_opens_when_bad_results_fall_in_maintenance_windows(engine, tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(f"""\
sites:
  {SITE}:
    maintenance:
      - {{hosts: [{HOST}], start: "2026-11-24T09:00:00", end: "2026-11-24T11:00:00"}}
      - {{hosts: ["his-*"], cron: "0 22 * * 2", duration: 1h}}
""")
    feed = Feed(engine, load_policies(path))
    feed.run("backup_files", "/b", "ccc", T0)  # 10:00-10:02 Tuesday, inside the one-off window
    feed.run("backup_files", "/c", "cc", T0 + timedelta(hours=12, minutes=5))  # Tuesday 22:05, recurring
    assert feed.all() == []
    feed.run("backup_files", "/b", "c", T0 + timedelta(hours=1, minutes=1))  # 11:01: after the window
    [t] = feed.all()
    assert t["item"] == "/b"


def test_key_customer_tickets_lead_the_queue_when_listed(engine, tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("sites:\n  key-hospital: {key_customer: true, key_factor: 0.5}\n")
    policies = load_policies(path)
    Feed(engine, policies, site="plain-hospital", host="h1").run("backup_files", "/b", "c", T0)
    Feed(engine, policies, site="plain-hospital", host="h2").run("db_backup", "HIS/full", "u", T0)
    key = Feed(engine, policies, site="key-hospital", host="h3")
    key.run("backup_files", "/b", "c", T0 + 10 * MIN)
    queue = key.all()
    assert [(t["site"], t["severity"]) for t in queue] == [
        ("key-hospital", 2), ("plain-hospital", 2), ("plain-hospital", 3)]
    assert queue[0]["priority"] == 1 and queue[0]["key_customer"] is True
    # key customer: 2 business hours × 0.5 from 10:10 Shanghai
    assert queue[0]["response_due"] == "2026-11-24T03:10:05.000000Z"


def test_streak_rows_are_dropped_when_an_item_is_healthy_again(feed, engine):
    feed.run("disk", "/", "c" + "o" * 10, T0)
    with engine.connect() as conn:
        assert conn.execute(select(ticket_streaks)).all() == []


def test_healthy_results_write_no_ticket_state_when_nothing_was_wrong(feed, engine):
    feed.run("disk", "/", "ooo", T0)
    with engine.connect() as conn:
        assert conn.execute(select(ticket_streaks)).all() == []
        assert conn.execute(select(tickets)).all() == []


def test_person_ticket_is_not_resolved_by_good_results_when_opened_by_hand(feed):
    t, created = feed.tickets.open_manual(actor="eve", site=SITE, host=HOST, severity=1, check="disk",
                                          item="/", summary="users say the disk is full",
                                          reported_via="hotline")
    assert created
    feed.run("disk", "/", "ooo", T0)
    [again] = feed.all()
    assert again["id"] == t["id"] and again["state"] == "open"




def test_live_ticket_rises_a_level_when_the_item_gets_worse(feed):
    feed.run("db_backup", "HIS/full", "u", T0)  # could not be verified: level 3
    assert feed.all()[0]["severity"] == 3
    feed.run("db_backup", "HIS/full", "c", T0 + MIN)  # the backup failed: level 2
    [t] = feed.all()
    assert (t["severity"], t["initial_severity"], t["level_name"]) == (2, 3, "general fault")
    assert t["response_due"] == "2026-11-24T04:00:05.000000Z"  # level 2: 2 h from the opening, not 9 h
    assert [e for e, _ in feed.events()] == ["opened", "escalated"]


TERMS_POLICY = """\
default:
  levels:
    - {name: system down, response: 2h, resolve: 8h, clock: 24x7}
    - {name: general fault, response: 2h, resolve: 1 working day}
    - {name: minor, response: 27h, resolve: 3wd}
  rules:
    - {check: disk, open: {WARNING: 3, CRITICAL: 2}, after: 2}
  agent_silent: {grace: 1h30m}
sites:
  key-hospital: {key_customer: true, key_factor: 0.5}
"""


def test_tickets_keep_their_terms_as_written_when_opened_escalated_and_sent_onsite(engine, tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(TERMS_POLICY, encoding="utf-8")
    feed = Feed(engine, load_policies(path))
    feed.run("disk", "/", "ww", T0)
    [t] = feed.all()
    assert t["terms"] == {"response": {"within": "27h", "clock": "business"},
                          "resolve": {"within": "3wd", "clock": "business"}}
    feed.run("disk", "/", "c", T0 + 5 * MIN)  # worse: level 2, whose deadlines are sooner
    t = feed.tickets.get(t["id"])
    assert t["severity"] == 2
    assert t["terms"] == {"response": {"within": "2h", "clock": "business"},
                          "resolve": {"within": "1 working day", "clock": "business"}}
    t = feed.tickets.request_onsite(t["id"], "erin")
    assert t["terms"]["onsite"] == {"within": "24h", "clock": "business"}
    with engine.connect() as conn:
        sent = [orjson.loads(raw) for (raw,) in conn.execute(select(notify_events.c.ticket))]
    assert sent[0]["terms"]["resolve"]["within"] == "3wd"  # what the notification of the opening said
    key, _ = Feed(engine, load_policies(path), site="key-hospital").tickets.open_manual(
        actor="erin", site="key-hospital", host=HOST, severity=3, summary="slow", reported_via="phone")
    assert key["terms"] == {"response": {"within": "13.5h", "clock": "business"},
                            "resolve": {"within": "2wd", "clock": "business"}}


def test_silent_ticket_says_the_grace_as_written_when_opened(engine, tmp_path):
    from collector.jobs import sweep

    path = tmp_path / "p.yaml"
    path.write_text(TERMS_POLICY, encoding="utf-8")
    feed = Feed(engine, load_policies(path))
    feed.push(at=T0)
    assert sweep(engine, T0 + 91 * MIN, feed.tickets.policies).silent_opened == 1
    [t] = feed.all()
    assert t["summary"].endswith("(grace 1h30m)")
