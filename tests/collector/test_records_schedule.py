"""Scheduled records: due times per the site's ``records:`` policy, and one record across collectors."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from collector import audit
from collector.config import ConfigError
from collector.keys import default_keyring
from collector.policy import load_policies
from collector.records.service import Records, last_complete_period
from collector.store.audit import AuditFilter
from collector.store.db import make_engine
from collector.store.tables import records as records_table
from tests.collector.records_data import SITE, ZONE, fill_site

POLICY = """
sites:
  central-hospital:
    records:
      customer: 中心医院
      systems: [HIS, LIS]
      inspector: 张伟
      schedule: {daily: "30 7 * * *", weekly: "0 8 * * 1", monthly: off, quarterly: off, annual: off}
"""


@pytest.fixture
def policies(tmp_path: Path) -> Any:
    f = tmp_path / "policies.yaml"
    f.write_text(POLICY, encoding="utf-8")
    return load_policies(f)


def _count(engine: Any) -> list[tuple[str, str, str]]:
    with engine.connect() as conn:
        q = select(records_table.c.kind, records_table.c.period_from, records_table.c.origin).where(
            records_table.c.site == SITE).order_by(records_table.c.kind, records_table.c.period_from)
        return [tuple(r) for r in conn.execute(q)]


def test_records_policy_errors_name_the_key_when_the_file_is_wrong(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text("default:\n  records:\n    language: fr\n    systems: HIS\n    colour: red\n"
                 "    schedule: {daily: 'at dawn', hourly: '* * * * *'}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_policies(f)
    text = str(err.value)
    for path in ("default.records.language", "default.records.systems", "default.records.colour",
                 "default.records.schedule.daily", "default.records.schedule.hourly"):
        assert path in text, path


def test_scheduled_record_is_issued_after_its_fire_time_and_once_when_run_again(
        engine: Any, policies: Any) -> None:
    fill_site(engine)
    records = Records(engine, policies)
    # 07:00 on the 23rd: the 22nd's daily is not due (07:30); the 21st's is, and the last week's (Mon 08:00).
    first = records.issue_due(datetime(2026, 11, 23, 7, 0, tzinfo=ZONE))
    assert _count(engine) == [("daily", "2026-11-21", "scheduled")]
    second = records.issue_due(datetime(2026, 11, 23, 7, 31, tzinfo=ZONE))
    # the 22nd's daily here, and other-site's (default policy, first seen on the 22nd)
    assert len(first) == 1 and len(second) == 2
    assert records.issue_due(datetime(2026, 11, 23, 7, 32, tzinfo=ZONE)) == []
    third = records.issue_due(datetime(2026, 11, 23, 8, 1, tzinfo=ZONE))  # Monday 08:00: the weekly
    assert _count(engine) == [("daily", "2026-11-21", "scheduled"), ("daily", "2026-11-22", "scheduled"),
                              ("weekly", "2026-11-16", "scheduled")]
    h = records.get(third[0]).content["header"]
    assert (h["customer"], h["systems"], h["inspector"], h["origin"], h["language"]) == (
        "中心医院", ["HIS", "LIS"], "张伟", "scheduled", "zh_CN")
    # a record by hand for a scheduled period is another record, not a conflict
    records.issue(site=SITE, kind="daily", period="2026-11-22", actor="li")
    assert len(_count(engine)) == 4


def test_nothing_is_issued_for_periods_before_the_site_existed_when_a_site_is_new(engine: Any) -> None:
    fill_site(engine)  # first host seen 2026-11-20 (local)
    records = Records(engine)
    assert records.issue_due(datetime(2026, 11, 20, 23, 0, tzinfo=ZONE)) == []
    assert last_complete_period("quarterly", ZONE, datetime(2026, 11, 20, tzinfo=ZONE)).first.isoformat() == (
        "2026-07-01")


@pytest.fixture
def two_engines(pg_cluster: Any) -> Iterator[tuple[Any, Any]]:
    from tests.collector.conftest import TEMPLATE_DB
    name = pg_cluster.create_db(template=TEMPLATE_DB)
    a, b = make_engine(pg_cluster.url(name)), make_engine(pg_cluster.url(name))
    yield a, b
    a.dispose()
    b.dispose()
    pg_cluster.drop_db(name)


def test_two_collectors_on_one_postgresql_issue_each_scheduled_record_once_when_racing(
        two_engines: tuple[Any, Any], policies: Any) -> None:
    a, b = two_engines
    fill_site(a)
    now = datetime(2026, 11, 23, 8, 5, tzinfo=ZONE)
    period = last_complete_period("daily", ZONE, now)
    barrier = threading.Barrier(4)
    got: list[Any] = []

    def race(engine: Any) -> None:
        records = Records(engine, policies, clock=lambda: now.astimezone(UTC))
        barrier.wait()
        # straight to the insert, past the "is it stored?" check, so both really collide
        got.append(records._issue(SITE, "daily", period, lang=None, inspector="x", actor="system",
                                  origin="scheduled", now=now))

    def schedule(engine: Any) -> None:
        barrier.wait()
        got.extend(Records(engine, policies).issue_due(now))

    threads = [threading.Thread(target=race, args=(a,)), threading.Thread(target=race, args=(b,)),
               threading.Thread(target=schedule, args=(a,)), threading.Thread(target=schedule, args=(b,))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    with a.connect() as conn:
        n = conn.execute(select(records_table.c.site, records_table.c.kind, records_table.c.period_from,
                                func.count()).group_by(records_table.c.site, records_table.c.kind,
                                                       records_table.c.period_from)).all()
    assert sorted(tuple(r) for r in n) == [
        (SITE, "daily", "2026-11-21", 1), (SITE, "daily", "2026-11-22", 1), (SITE, "weekly", "2026-11-16", 1),
        ("other-site", "daily", "2026-11-22", 1), ("other-site", "weekly", "2026-11-16", 1)]
    assert len([x for x in got if x is not None]) == 5
    chain = audit.verify_chain(a, default_keyring())  # one audit entry per record stored, none for the losers
    assert chain.intact and chain.entries == 5
    assert {e["action"] for e in audit.list_entries(a, AuditFilter())} == {"record.issue"}


def test_record_scheduler_thread_issues_due_records_at_start_when_running(engine: Any, policies: Any) -> None:
    from collector.jobs import RecordScheduler
    fill_site(engine)
    now = datetime(2026, 11, 23, 7, 45, tzinfo=ZONE)
    scheduler = RecordScheduler(Records(engine, policies), interval=3600, clock=lambda: now.astimezone(UTC))
    scheduler.start()
    try:
        deadline = datetime.now(UTC).timestamp() + 30
        while len(_count(engine)) < 2 and datetime.now(UTC).timestamp() < deadline:
            threading.Event().wait(0.05)
    finally:
        scheduler.stop()
    assert _count(engine) == [("daily", "2026-11-21", "scheduled"), ("daily", "2026-11-22", "scheduled")]
    logged = audit.list_entries(engine, AuditFilter())
    assert {(e["action"], e["actor"], e["source"]) for e in logged} == {("record.issue", "system", "scheduler")}
    assert {e["target"] for e in logged} >= {f"record:{i}" for i in (1, 2)}
