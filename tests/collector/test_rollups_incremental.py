"""Incremental roll-ups (issue 16): folding new results into hour rows and closed hours into days gives
exactly the rows a rebuild from the raw results gives.

Random runs of stores and roll-up rounds (results in order, out of order within the grace, late into
closed hours, ties, two sites in a whole-hour and a half-hour zone, small batches that split hosts) are
rolled up as the job does it; then every roll-up row is dropped and rebuilt from raw, and both must be
equal column for column (metric sums to the last bit).  On PostgreSQL two collectors store and roll up at
once.
"""

from __future__ import annotations

import json
import random
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select, text

from collector.store import queries, rollups
from collector.store.db import make_engine, reading, writing
from collector.store.migrate import upgrade
from collector.store.rollup_tables import rollup_days, rollup_dirty, rollup_hours
from tests.collector.legacy_store import store_before_0019

ZONES = {"s1": ZoneInfo("Asia/Shanghai"), "s2": ZoneInfo("Asia/Kolkata")}  # +08:00; +05:30 (days from raw)
T0 = datetime(2025, 3, 1, 14, 30, tzinfo=UTC)
FAR = datetime(2100, 1, 1, tzinfo=UTC)
_uid = iter(range(1, 10**9))


def _zone(site: str) -> ZoneInfo:
    return ZONES[site]


def _result(rng: random.Random, site: str, host: str, item: str, at: datetime) -> dict[str, Any]:
    status = rng.choice([0, 0, 0, 1, 2, 3])
    used = round(rng.uniform(0, 100), rng.choice([1, 3, 7]))
    metrics = [{"name": "used_percent", "value": used, "unit": "%"}]
    if rng.random() < 0.5:
        metrics.append({"name": "free_bytes", "value": rng.randrange(10**12), "unit": "B"})
    return {"uid": f"{next(_uid):032x}", "site": site, "host": host, "check": "disk", "item": item,
            "status": status, "summary": f"{item} {used} % used", "standard": "warn 80 %", "started_at": at,
            "received_at": at, "duration_ms": 1.0, "metrics": json.dumps(metrics), "details": "{}", "messages": ""}


def _batch(rng: random.Random, now: datetime) -> list[dict[str, Any]]:
    out = []
    for _ in range(rng.randrange(1, 12)):
        site = rng.choice(sorted(ZONES))
        host, item = f"h{rng.randrange(3)}", f"/m{rng.randrange(3)}"
        roll = rng.random()
        if roll < 0.7:  # recent, out of order within the grace
            at = now - timedelta(seconds=rng.randrange(0, 100))
        elif roll < 0.9:  # late: an agent's spool, into an hour closed already
            at = now - timedelta(minutes=rng.randrange(5, 240))
        else:  # the same start as another result (a tie)
            at = now.replace(second=0, microsecond=0)
        out.append(_result(rng, site, host, item, at))
    return out


def _round(engine: Any, now: datetime, rng: random.Random) -> None:
    upto = now - rollups.GRACE  # as the job does (collector/jobs.py RollupJob)
    rollups.refresh(engine, _zone, before=rollups.hour_of(upto), upto=upto, batch=rng.choice([2, 5, 500]))


def _snapshot(engine: Any) -> dict[str, dict[Any, tuple[Any, ...]]]:
    with reading(engine) as conn:
        return {t.name: {(r.series_id, r.start): tuple(r) for r in conn.execute(select(t))}
                for t in (rollup_hours, rollup_days)}


def _rebuilt(engine: Any) -> dict[str, dict[Any, tuple[Any, ...]]]:
    """Every roll-up row dropped and rebuilt from raw results (every hour marked as migration 0017/0018 do)."""
    hour = ("date_trunc('hour', started_at)" if engine.dialect.name == "postgresql"
            else "(started_at / 3600000000) * 3600000000")
    with writing(engine) as conn:
        for t in (rollup_hours, rollup_days, rollup_dirty):
            conn.execute(delete(t))
        conn.execute(text(f"INSERT INTO rollup_dirty (series_id, hour, gen, since) SELECT DISTINCT series_id, "
                          f"{hour}, 1, {hour} FROM result_rows"))
    rollups.refresh(engine, _zone, before=FAR)
    return _snapshot(engine)


def test_incremental_roll_ups_equal_a_rebuild_from_raw_when_results_come_late_and_out_of_order(engine):
    added = rollups.counts["added"]
    for seed in range(3):
        rng = random.Random(seed)
        now = T0 + timedelta(hours=6 * seed)
        for _ in range(40):
            now += timedelta(seconds=rng.randrange(10, 900))
            with writing(engine) as conn:
                queries.store_new_results(conn, _batch(rng, now))
            if rng.random() < 0.6:
                _round(engine, now, rng)
    rollups.refresh(engine, _zone, before=FAR)  # every hour closed
    folded = _snapshot(engine)
    with reading(engine) as conn:
        assert conn.execute(select(func.count()).select_from(rollup_dirty)).scalar() == 0
    assert rollups.counts["added"] > added  # the rounds did add results to rows, not only rebuild them
    assert folded["rollup_hours"] and folded["rollup_days"]
    assert folded == _rebuilt(engine)


def test_an_open_hour_is_folded_as_it_goes_and_its_day_waits_until_the_hour_closes(engine):
    rng = random.Random(7)
    rows = [_result(rng, "s1", "h0", "/", T0 + timedelta(minutes=m)) for m in (-40, 1, 2, 3, 20)]
    with writing(engine) as conn:
        queries.store_new_results(conn, rows)
    now = T0 + timedelta(minutes=10) + rollups.GRACE  # the results up to minute 10 are old enough
    _round(engine, now, rng)
    hour = T0.replace(minute=0)
    with reading(engine) as conn:
        hours = conn.execute(select(rollup_hours.c.results, rollup_hours.c.last_at)
                             .where(rollup_hours.c.start == hour)).all()
        days = conn.execute(select(rollup_days.c.results)).scalars().all()
        since = conn.execute(select(rollup_dirty.c.since)).scalars().all()
    assert sorted(hours) == [(3, T0 + timedelta(minutes=3))] * 2  # the item's row and the host's
    assert days == [1, 1]  # the day holds the closed hour only (minute -40), not the open hour's part
    assert since == [T0 + timedelta(minutes=20)] * 2  # the one left out: the mark waits for it
    added = rollups.counts["added"]
    _round(engine, T0.replace(minute=0) + timedelta(hours=1) + rollups.GRACE, rng)  # the hour closes
    assert rollups.counts["added"] == added + 2  # the 20th minute added to both rows, not read again
    assert _snapshot(engine) == _rebuilt(engine)


def test_two_collectors_folding_and_storing_at_once_on_postgresql_equal_a_rebuild(pg_cluster):
    from tests.collector.conftest import TEMPLATE_DB

    name = pg_cluster.create_db(template=TEMPLATE_DB)
    engines = [make_engine(pg_cluster.url(name)) for _ in range(2)]
    try:
        rng = random.Random(11)
        times = [T0 + timedelta(seconds=40 * i) for i in range(120)]  # 80 minutes: an hour closes
        batches = [[_result(rng, "s1", f"h{h}", f"/m{i % 3}", at) for h in range(3) for i in range(3)]
                   for at in times]
        clock = iter(times)
        stop = threading.Event()
        errors: list[BaseException] = []

        def collector(engine: Any, order: list[list[dict[str, Any]]]) -> None:
            try:
                for batch in order:
                    with writing(engine) as conn:
                        queries.store_new_results(conn, batch)
            except BaseException as exc:  # reported below
                errors.append(exc)

        def roller(engine: Any) -> None:
            try:
                while not stop.is_set():
                    now = next(clock, times[-1])
                    _round(engine, now + timedelta(minutes=1), random.Random(0))
            except BaseException as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=collector, args=(engines[0], batches)),
                   threading.Thread(target=collector, args=(engines[1], batches[::-1][:60][::-1])),
                   threading.Thread(target=roller, args=(engines[0],)),
                   threading.Thread(target=roller, args=(engines[1],))]
        for t in threads:
            t.start()
        for t in threads[:2]:
            t.join()
        stop.set()
        for t in threads[2:]:
            t.join()
        assert not errors
        rollups.refresh(engines[0], _zone, before=FAR)
        folded = _snapshot(engines[0])
        assert sum(r[2] for k, r in folded["rollup_hours"].items()) == 2 * len(times) * 9  # items + hosts
        assert folded == _rebuilt(engines[0])
    finally:
        for e in engines:
            e.dispose()
        pg_cluster.drop_db(name)


def test_marks_made_before_0018_rebuild_their_hours_when_migrated(empty_url):
    engine = make_engine(empty_url)
    try:
        upgrade(engine, "0017")
        rng = random.Random(3)
        with writing(engine) as conn:  # stored as 0017 did: marks without since
            store_before_0019(conn, [_result(rng, "s1", "h0", "/", T0 + timedelta(minutes=i)) for i in range(0, 90, 7)])
            hour = ("date_trunc('hour', started_at)" if engine.dialect.name == "postgresql"
                    else "(started_at / 3600000000) * 3600000000")
            conn.execute(text(f"INSERT INTO rollup_dirty (series_id, hour, gen) SELECT DISTINCT series_id, {hour}, 1 "
                              "FROM result_rows"))
        upgrade(engine)
        with reading(engine) as conn:
            marks = conn.execute(select(rollup_dirty.c.hour, rollup_dirty.c.since)).all()
        assert marks and all(h == s for h, s in marks)  # from the start of the hour: rebuilt from raw
        rollups.refresh(engine, _zone, before=FAR)
        folded = _snapshot(engine)
        assert sum(r[2] for r in folded["rollup_days"].values()) == 2 * 13  # 13 results; item + host rows
        assert folded == _rebuilt(engine)
    finally:
        engine.dispose()


def test_the_job_folds_in_ten_minute_steps_two_minutes_behind_when_asked_where_to_fold():
    at = datetime(2026, 1, 1, 5, 0, 7, tzinfo=UTC)
    assert [rollups.fold_point(at + timedelta(minutes=m)) - at.replace(second=0) for m in (1, 2, 11, 12, 62)] == [
        timedelta(minutes=m) for m in (-10, 0, 0, 10, 60)]
