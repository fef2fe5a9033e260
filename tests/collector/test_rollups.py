"""Roll-ups (issue 17 item 2): hour and day rows built from raw results by the roll-up job.

Figures are worked out by hand from a few results; the two-collector test stores
overlapping batches through two engines on one PostgreSQL while both roll up, and
the roll-ups must count every stored result exactly once.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import func, select

from collector.store import queries, rollups
from collector.store.db import make_engine, reading, writing
from collector.store.rollup_tables import rollup_days, rollup_dirty, rollup_hours
from collector.store.tables import result_rows, result_series

ZONE = ZoneInfo("Asia/Shanghai")
T0 = datetime(2025, 3, 1, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai: the next hour is another local day
_uid = iter(range(1, 10**9))


def _row(status: int, at: datetime, used: float, *, item: str = "/", host: str = "db-01",
         messages: str = "") -> dict[str, Any]:
    return {"uid": f"{next(_uid):032x}", "site": "s1", "host": host, "check": "disk", "item": item,
            "status": status, "summary": f"{item} {used} % used", "standard": "warn 80 %",
            "started_at": at, "received_at": at, "duration_ms": 1.0,
            "metrics": json.dumps([{"name": "used_percent", "value": used, "unit": "%"}]), "details": "{}",
            "messages": messages}


def _zone(site: str) -> ZoneInfo:
    return ZONE


def _refresh(engine: Any, *, wait: bool = False) -> int:
    return rollups.refresh(engine, _zone, before=datetime(2100, 1, 1, tzinfo=UTC), wait=wait)


def _rows(engine: Any, table: Any) -> dict[tuple[str, str, str, str, datetime], Any]:
    s = result_series.c
    with reading(engine) as conn:
        q = select(s.site, s.host, s.check, s.item, table).join_from(table, result_series,
                                                                    s.id == table.c.series_id)
        return {(r.site, r.host, r.check, r.item, r.start): r for r in conn.execute(q)}


MESSAGE = orjson.dumps({"message": {"key": "disk.used", "args": {"mount": "/", "used": 91.0}}}).decode()


def _store_hour(engine: Any) -> None:
    m = timedelta(minutes=1)
    rows = [_row(0, T0 + 1 * m, 50.0), _row(2, T0 + 5 * m, 91.0, messages=MESSAGE), _row(2, T0 + 10 * m, 92.0),
            _row(0, T0 + 40 * m, 60.0), _row(1, T0 + 45 * m, 85.0),  # a 30-minute gap: 15 silent
            _row(0, T0 + 65 * m, 55.0)]  # the next hour, the next local day
    with writing(engine) as conn:
        queries.store_new_results(conn, rows[3:])  # out of order: the later ones first
    with writing(engine) as conn:
        queries.store_new_results(conn, rows[:3])


def test_hour_and_day_rows_add_up_the_raw_results_when_rolled_up(engine):
    _store_hour(engine)
    assert _refresh(engine) > 0
    hours = _rows(engine, rollup_hours)
    r = hours[("s1", "db-01", "disk", "/", T0)]
    assert (r.results, r.ok, r.warning, r.critical, r.unknown, r.worst) == (5, 2, 1, 2, 0, 2)
    assert (r.first_at, r.first_status, r.last_at, r.last_status) == (
        T0 + timedelta(minutes=1), 0, T0 + timedelta(minutes=45), 1)
    assert r.went_bad == 2  # OK -> CRITICAL at :05, OK -> WARNING at :45
    assert (r.silent_us, r.longest_us) == (15 * 60 * 10**6, 30 * 60 * 10**6)
    assert orjson.loads(r.metrics) == {"used_percent": [50.0, 92.0, 378.0, 5]}
    with reading(engine) as conn:
        said = rollups.texts_of(conn, [(r.bad_text_id, r.bad_changed), (r.last_text_id, r.last_changed)])
    bad, last = said[(r.bad_text_id, r.bad_changed)], said[(r.last_text_id, r.last_changed)]
    assert (bad["summary"], orjson.loads(bad["messages"])) == ("/ 91.0 % used", orjson.loads(MESSAGE))
    assert r.bad_at == T0 + timedelta(minutes=5)
    assert last["summary"] == "/ 85.0 % used" and json.loads(last["metrics"])[0]["value"] == 85.0
    host = hours[("s1", "db-01", "", "", T0)]  # the host's whole traffic
    assert (host.results, host.silent_us) == (5, 15 * 60 * 10**6)
    days = _rows(engine, rollup_days)
    shanghai_day = datetime(2025, 3, 1, tzinfo=ZONE).astimezone(UTC)
    assert days[("s1", "db-01", "disk", "/", shanghai_day)].results == 5
    assert days[("s1", "db-01", "disk", "/", shanghai_day + timedelta(days=1))].results == 1
    with reading(engine) as conn:
        assert conn.execute(select(func.count()).select_from(rollup_dirty)).scalar() == 0


def test_a_late_result_rebuilds_its_hour_and_day_and_a_second_run_changes_nothing_when_rolled_up(engine):
    _store_hour(engine)
    _refresh(engine)
    before = _rows(engine, rollup_days)
    assert _refresh(engine) == 0 and _rows(engine, rollup_days) == before  # idempotent
    with writing(engine) as conn:  # a spooled result arrives a day late, inside the hour
        queries.store_new_results(conn, [_row(2, T0 + timedelta(minutes=20), 99.0)])
    _refresh(engine)
    r = _rows(engine, rollup_hours)[("s1", "db-01", "disk", "/", T0)]
    # still bad after :10 (not a new time it went bad); the 30-minute gap is now 20 + 10: 5 min silent
    assert (r.results, r.critical, r.went_bad, r.silent_us) == (6, 3, 2, 5 * 60 * 10**6)
    day = _rows(engine, rollup_days)[("s1", "db-01", "disk", "/", datetime(2025, 3, 1, tzinfo=ZONE).astimezone(UTC))]
    assert (day.results, day.went_bad) == (6, 2)


def test_spans_merge_rows_exactly_as_the_raw_results_run_when_merged():
    def row(first: int, last: int, fs: int, ls: int, went_bad: int) -> Any:
        at = datetime(2025, 1, 1, tzinfo=UTC)
        return rollups.Span(results=2, ok=int(fs == 0) + int(ls == 0), first_at=at + timedelta(minutes=first),
                            first_status=fs, last_at=at + timedelta(minutes=last), last_status=ls,
                            went_bad=went_bad, worst=max(fs, ls))
    # bad at the end of the first row, still bad at the start of the second: not a new time it went bad
    span = rollups.merge([row(0, 10, 0, 2, 1), row(40, 50, 2, 0, 1), row(55, 60, 1, 1, 1)])
    assert (span.results, span.went_bad, span.silent_us, span.longest_us) == (6, 2, 15 * 60 * 10**6,
                                                                              30 * 60 * 10**6)


def test_two_collectors_on_one_postgresql_roll_up_every_result_once_when_storing_and_rolling_up_at_once(
        pg_cluster):
    from tests.collector.conftest import TEMPLATE_DB

    name = pg_cluster.create_db(template=TEMPLATE_DB)
    engines = [make_engine(pg_cluster.url(name)) for _ in range(2)]
    try:
        batches = []
        for b in range(12):  # 12 batches of 4 hosts x 30 minutes; every batch is sent by both collectors
            at = T0 + timedelta(minutes=30 * (b // 2))
            batches.append([_row(b % 3, at + timedelta(minutes=i), float(i), host=f"h{h}", item=f"m{b % 2}")
                            for h in range(4) for i in range(30)])
        stop = threading.Event()
        errors: list[BaseException] = []

        def collector(engine: Any, order: list[list[dict[str, Any]]]) -> None:
            try:
                for batch in order:
                    with writing(engine) as conn:
                        queries.store_new_results(conn, batch)
                    _refresh(engine, wait=True)  # as issuing a record does: waits for the other roll-up
            except BaseException as exc:  # reported below
                errors.append(exc)

        def roller(engine: Any) -> None:
            while not stop.is_set():
                _refresh(engine)

        threads = [threading.Thread(target=collector, args=(engines[0], batches)),
                   threading.Thread(target=collector, args=(engines[1], batches[::-1])),
                   threading.Thread(target=roller, args=(engines[0],)),
                   threading.Thread(target=roller, args=(engines[1],))]
        for t in threads[:2]:
            t.start()
        for t in threads[2:]:
            t.start()
        for t in threads[:2]:
            t.join()
        stop.set()
        for t in threads[2:]:
            t.join()
        assert not errors
        _refresh(engines[0])
        with reading(engines[0]) as conn:
            stored = conn.execute(select(func.count()).select_from(result_rows)).scalar()
            raw = dict(conn.execute(select(result_rows.c.series_id, func.count()).group_by(result_rows.c.series_id)
                                    ).all())
            hours = dict(conn.execute(select(rollup_hours.c.series_id, func.sum(rollup_hours.c.results))
                                      .group_by(rollup_hours.c.series_id)).all())
            days = dict(conn.execute(select(rollup_days.c.series_id, func.sum(rollup_days.c.results))
                                     .group_by(rollup_days.c.series_id)).all())
        assert stored == 12 * 4 * 30
        item_series = set(raw)
        assert {s: hours[s] for s in item_series} == raw and {s: days[s] for s in item_series} == raw
        assert sum(v for s, v in hours.items() if s not in item_series) == stored  # the host rows
    finally:
        for e in engines:
            e.dispose()
        pg_cluster.drop_db(name)


def test_patrol_records_rebuilt_from_roll_ups_keep_their_verdicts_gaps_and_backup_evidence_when_compared(engine):
    """Issue 17 item 4: daily, weekly and monthly records built from the day roll-ups say what the raw ones say."""
    from collector.records.kinds import builder
    from tests.collector.records_data import SITE, fill_site, local
    from tests.collector.records_data import ZONE as SITE_ZONE

    fill_site(engine)  # a day with a recovered service, a failed backup after a good one, a silent host, a quiet item
    rollups.refresh(engine, lambda site: SITE_ZONE, before=datetime(2026, 12, 1, tzinfo=UTC))
    periods = {"daily": (local(22, 0), local(23, 0)), "weekly": (local(16, 0), local(23, 0)),
               "monthly": (local(1, 0), datetime(2026, 12, 1, tzinfo=SITE_ZONE))}
    for kind, (start, end) in periods.items():
        with reading(engine) as conn:
            raw, rolled = (builder(kind)(conn, site=SITE, period_start=start, period_end=end, lang="zh_CN",
                                         inspector="张伟", **extra).to_json()
                           for extra in ({}, {"from_rollups": True}))
        assert raw["rows"] and (raw["gaps"] or kind != "daily"), kind  # something to compare
        for part in ("header", "rows", "gaps", "anomalies", "backup_evidence", "tickets"):
            assert rolled[part] == raw[part], (kind, part)
