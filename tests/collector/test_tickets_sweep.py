"""The periodic sweep with an injected clock: breaches once, escalation, agent-silent tickets."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from collector.jobs import sweep
from collector.policy import load_policies
from collector.store.tables import notify_events
from tests.collector.conftest import HOST, SITE
from tests.collector.test_tickets import T0, Feed

MIN = timedelta(minutes=1)


def _events(engine) -> list[str]:
    with engine.connect() as conn:
        return [e for (e,) in conn.execute(select(notify_events.c.event).order_by(notify_events.c.id))]


@pytest.fixture
def feed(engine):
    return Feed(engine)


def _manual(feed: Feed, severity: int = 2) -> dict:
    t, _ = feed.tickets.open_manual(actor="erin", site=SITE, host=HOST, severity=severity,
                                    summary="HIS slow", reported_via="hotline")
    return t


def test_response_breach_is_recorded_once_and_escalates_when_not_acknowledged(feed, engine):
    t = _manual(feed)  # level 2 at Tuesday 10:00 Shanghai: respond by 12:00
    assert sweep(engine, T0 + 119 * MIN, feed.tickets.policies).breaches == 0
    report = sweep(engine, T0 + 121 * MIN, feed.tickets.policies)
    assert (report.breaches, report.escalations) == (1, 1)
    assert sweep(engine, T0 + 122 * MIN, feed.tickets.policies).breaches == 0
    after = feed.tickets.get(t["id"])
    assert after["response_breached"] and after["breached"] and not after["resolve_breached"]
    assert (after["severity"], after["initial_severity"], after["level_name"]) == (1, 2, "system down")
    assert [h["action"] for h in after["history"]] == ["open", "breach", "escalate"]
    assert "response deadline 2026-11-24 12:00 (Asia/Shanghai) passed" in after["history"][1]["note"]
    assert _events(engine) == ["opened", "breached", "escalated"]


def test_acknowledged_ticket_breaches_only_its_resolution_when_late(feed, engine):
    t = _manual(feed, severity=3)
    feed.tickets.acknowledge(t["id"], "erin")
    report = sweep(engine, T0 + timedelta(days=7), feed.tickets.policies)
    assert report.breaches == 1
    after = feed.tickets.get(t["id"])
    assert after["resolve_breached"] and not after["response_breached"] and after["severity"] == 2


def test_breach_does_not_escalate_when_policy_says_no(engine, tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("default: {escalate_on_breach: false}\n")
    feed = Feed(engine, load_policies(path))
    t = _manual(feed)
    assert sweep(engine, T0 + timedelta(days=7), feed.tickets.policies).escalations == 0
    assert feed.tickets.get(t["id"])["severity"] == 2
    assert _events(engine) == ["opened", "breached", "breached"]  # response, then resolution


def test_silent_agent_opens_one_ticket_and_its_return_resolves_it_when_grace_passes(feed, engine):
    feed.push(at=T0)  # a heartbeat: an empty batch
    assert sweep(engine, T0 + 14 * MIN, feed.tickets.policies).silent_opened == 0
    assert sweep(engine, T0 + 16 * MIN, feed.tickets.policies).silent_opened == 1
    assert sweep(engine, T0 + 30 * MIN, feed.tickets.policies).silent_opened == 0
    [t] = feed.all()
    assert (t["check"], t["item"], t["severity"], t["state"]) == ("agent", "silent", 2, "open")
    assert "no report from the agent since" in t["summary"]
    zone = feed.tickets.policies.default.calendar.zone  # the site's local time, to the minute, as people read it
    assert f"since {T0.astimezone(zone):%Y-%m-%d %H:%M} ({zone.key})" in t["summary"]
    feed.push(at=T0 + 40 * MIN)
    [t] = feed.all()
    assert t["state"] == "resolved"
    assert "the agent reported again" in feed.tickets.get(t["id"])["history"][-1]["note"]
    # silent again within the reopen window: the same ticket reopens
    assert sweep(engine, T0 + 60 * MIN, feed.tickets.policies).silent_reopened == 1
    [t] = feed.all()
    assert t["state"] == "open" and t["reopened_count"] == 1
    assert _events(engine) == ["opened", "resolved", "reopened"]


def test_closed_silence_ticket_is_not_reopened_when_the_agent_stays_away(feed, engine):
    feed.push(at=T0)
    sweep(engine, T0 + 16 * MIN, feed.tickets.policies)
    [t] = feed.all()
    feed.tickets.resolve(t["id"], "erin", "host decommissioned")
    feed.tickets.close(t["id"], "erin")
    assert sweep(engine, T0 + timedelta(days=1), feed.tickets.policies).silent_opened == 0
    assert len(feed.all()) == 1


def test_sweeper_thread_runs_the_sweep_at_start_when_started(feed, engine):
    from collector.jobs import Sweeper

    feed.push(at=T0)
    sweeper = Sweeper(feed.tickets, interval=3600, clock=lambda: T0 + 20 * MIN)
    sweeper.start()
    try:
        deadline = time.monotonic() + 20
        while not feed.all() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        sweeper.stop()
    [t] = feed.all()
    assert (t["check"], t["item"]) == ("agent", "silent")


def test_concurrent_sweeps_record_each_breach_and_silence_once_when_racing(feed, engine, db_url):
    import threading

    from collector.store.db import make_engine

    t = _manual(feed)
    feed.push(at=T0)
    engines = [make_engine(db_url) for _ in range(3)]
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def run(e) -> None:
        try:
            barrier.wait(timeout=30)
            sweep(e, T0 + 3 * 60 * MIN, feed.tickets.policies)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(e,)) for e in engines]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    for e in engines:
        e.dispose()
    assert errors == []
    assert sorted(_events(engine)) == ["breached", "escalated", "opened", "opened"]
    assert feed.tickets.get(t["id"])["severity"] == 1


def test_silence_grace_starts_at_the_end_of_the_maintenance_window_when_the_host_was_rebooted_in_it(
        engine, tmp_path):
    # A one-off window 00:00-02:00 (Shanghai); the host reported at 01:40, went down for a reboot and
    # is still booting when the window ends: the 15-minute grace counts from 02:00, not from 01:40.
    night = T0.replace(hour=16, minute=0)  # Tuesday 16:00 UTC = Wednesday 00:00 Shanghai
    path = tmp_path / "p.yaml"
    path.write_text(f"default:\n  maintenance: [{{hosts: [{HOST}], start: '2026-11-25T00:00:00', "
                    f"end: '2026-11-25T02:00:00', reason: reboot}}]\n")
    feed = Feed(engine, load_policies(path))
    feed.push(at=night + 100 * MIN)  # 01:40
    end = night + 120 * MIN
    assert sweep(engine, end - timedelta(seconds=1), feed.tickets.policies).silent_opened == 0
    assert sweep(engine, end, feed.tickets.policies).silent_opened == 0  # 02:00:00 exactly
    assert sweep(engine, end + 14 * MIN, feed.tickets.policies).silent_opened == 0
    assert sweep(engine, end + 16 * MIN, feed.tickets.policies).silent_opened == 1
    [t] = feed.all()
    assert (t["check"], t["item"]) == ("agent", "silent")


def test_silent_agent_opens_nothing_in_a_recurring_window_and_the_grace_starts_at_its_end(engine, tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(f"default:\n  maintenance: [{{hosts: [{HOST}], cron: '0 10 * * *', duration: 2h}}]\n")
    feed = Feed(engine, load_policies(path))
    feed.push(at=T0)  # 10:00, the window's start; silent during the whole window
    assert sweep(engine, T0 + 30 * MIN, feed.tickets.policies).silent_opened == 0
    assert sweep(engine, T0 + 121 * MIN, feed.tickets.policies).silent_opened == 0
    assert sweep(engine, T0 + 134 * MIN, feed.tickets.policies).silent_opened == 0
    assert sweep(engine, T0 + 136 * MIN, feed.tickets.policies).silent_opened == 1


def _enrol(engine, host: str, *, at, approved: bool = True) -> None:
    from collector.store import fleet as fleet_store
    from collector.store.db import writing

    with writing(engine) as conn:
        fleet_store.add_host(conn, {"site": SITE, "host": host, "roles": "[]", "facts": "{}", "enrolled_at": at,
                                    "enrolled_via": "key 1", "approved_at": at if approved else None,
                                    "retired_at": None})


def test_an_enrolled_host_that_never_reported_falls_silent_after_the_grace_from_its_enrolment(feed, engine):
    _enrol(engine, "new-01", at=T0)
    _enrol(engine, "waiting-01", at=T0, approved=False)  # awaiting approval: its silence is expected
    assert sweep(engine, T0 + 14 * MIN, feed.tickets.policies).silent_opened == 0
    assert sweep(engine, T0 + 16 * MIN, feed.tickets.policies).silent_opened == 1
    [t] = feed.all()
    assert (t["host"], t["check"], t["item"]) == ("new-01", "agent", "silent")
    assert "enrolled at" in t["summary"] and "never reported" in t["summary"]
    assert sweep(engine, T0 + 30 * MIN, feed.tickets.policies).silent_opened == 0


def test_a_retired_host_never_falls_silent(feed, engine):
    from collector import inventory

    feed.push(at=T0)
    inventory.retire(engine, site=SITE, host=HOST)
    assert sweep(engine, T0 + timedelta(days=1), feed.tickets.policies).silent_opened == 0
    assert feed.all() == []
