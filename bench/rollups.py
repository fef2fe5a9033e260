"""One simulated year of roll-ups: their size for 1,000 hosts x 30 items, and the annual report of a 100-host site.

Day roll-ups (``rollup_days``, collector/store/rollups.py) for every item of
``--hosts`` hosts (10 sites of 100) and every day of 2025 (Asia/Shanghai) are
generated directly (bulk inserts, not patrols): each item reports every 5 minutes
(288 results a day), a few days have warnings and criticals, every tenth host has
an outage day; each host has its whole-traffic row too.  Hour roll-ups are generated
for the last ``--hour-days`` days of ``--hour-hosts`` hosts and their size per row
measured.  Then the annual report of one 100-host site is built (``builder("annual")``,
the function the collector issues it with) ``--runs`` times.

Sizes are the pages of the tables and their indexes (SQLite ``dbstat``, PostgreSQL
``pg_total_relation_size`` after VACUUM, as bench/storage.py).  Raw results for the
last 100 days are *not* generated (864 million rows); their size is the bytes per
result measured by bench/storage.py times the results, said as arithmetic.

    .venv/bin/python bench/rollups.py [--hosts 1000] [--db sqlite postgresql] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import _harness as h  # noqa: E402
import storage  # noqa: E402

ZONE = ZoneInfo("Asia/Shanghai")
YEAR = 2025
ITEMS = ([("system", "cpu"), ("uptime", "uptime"), ("db_backup", "HIS/full"), ("certificate", "his:443")]
         + [("disk", m) for m in ("/", "/var", "/data", "/backup")]
         + [("service", f"svc{i:02d}") for i in range(22)])  # 30 items
COLUMNS = ("series_id", "start", "results", "ok", "warning", "critical", "unknown", "worst", "first_at",
           "first_status", "last_at", "last_status", "went_bad", "silent_us", "longest_us", "metrics",
           "last_text_id", "last_changed", "bad_at", "bad_status", "bad_text_id", "bad_changed")
TABLES = ("rollup_days", "rollup_hours")
RAW_BYTES = {"sqlite": 129, "postgresql": 280}  # bench/storage.py, default Linux patrol (docs/deploy.md)


def _series(conn: sa.Connection, hosts: int) -> list[tuple[int, str, str, str]]:
    """Every (series id, site, check, item) of ``hosts`` hosts, their whole-traffic rows included."""
    from collector.store.rollups import HOST_ROW
    from collector.store.tables import result_series

    rows = [{"site": f"site-{i // 100:02d}", "host": f"h{i:04d}", "check": c, "item": it}
            for i in range(hosts) for c, it in ITEMS + [(HOST_ROW, HOST_ROW)]]
    conn.execute(sa.insert(result_series), rows)
    return [(r.id, r.host, r.check, r.item) for r in conn.execute(sa.select(result_series))]


def _template(conn: sa.Connection) -> tuple[int, str]:
    from collector.store import compact
    from collector.store.tables import result_texts

    texts = ["/ 37.1 % used", "used < 80 %", "{}",
             '[{"name": "used_percent", "value": 37.1, "unit": "%", "warn": 80.0, "crit": 90.0}, '
             '{"name": "days_to_full", "value": 400.0, "unit": "d"}]', ""]
    skeletons, numbers = compact.pack(texts)
    conn.execute(sa.insert(result_texts).values(digest=compact.template_key(skeletons),
                                                template=compact.template_text(skeletons, numbers)))
    return int(conn.execute(sa.select(result_texts.c.id)).scalar_one()), compact.diff(compact.defaults(
        compact.template_text(skeletons, numbers)), numbers)


def _day_row(rng: random.Random, sid: str | int, start: datetime, text_id: int, host_row: bool,
             per: int) -> tuple[Any, ...]:
    bad = rng.random() < 0.03
    warning, critical = (rng.randint(1, 5), rng.randint(0, 2)) if bad else (0, 0)
    results = per
    ok = results - warning - critical
    first, last = start + timedelta(minutes=2), start + timedelta(hours=24) - timedelta(minutes=3)
    used = rng.uniform(20, 70)
    metrics = "" if host_row else json.dumps({"used_percent": [used - 1, used + 1, used * results, results],
                                              "days_to_full": [300.0, 420.0, 360.0 * results, results]})
    changed = f"0:{used:.1f} 3:{used:.1f}"
    worst = 2 if critical else 1 if warning else 0
    bad_at = start + timedelta(hours=rng.randint(1, 22)) if bad else None
    return (sid, start, results, ok, warning, critical, 0, worst, first, 0, last, 0, int(bad),
            0, 300_000_000, metrics, text_id, changed, bad_at, worst if bad else None,
            text_id if bad else None, changed if bad else None)


def _insert(engine: sa.Engine, table: str, rows: list[tuple[Any, ...]]) -> None:
    from collector.store.compact import micros

    with engine.begin() as conn:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            if engine.dialect.name == "sqlite":
                cursor.executemany(
                    f"INSERT INTO {table} ({', '.join(f'{c!r}' for c in COLUMNS)}) VALUES "
                    f"({', '.join('?' * len(COLUMNS))})",
                    [tuple(micros(v) if isinstance(v, datetime) else v for v in r) for r in rows])
            else:
                with cursor.copy(f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                    for r in rows:
                        copy.write_row(r)
        finally:
            cursor.close()


def fill(engine: sa.Engine, hosts: int, hour_hosts: int, hour_days: int) -> dict[str, int]:
    from collector.store import queries

    rng = random.Random(17)
    with engine.begin() as conn:
        series = _series(conn, hosts)
        text_id, _ = _template(conn)
        for i in range(hosts):
            queries.touch_host(conn, site=f"site-{i // 100:02d}", host=f"h{i:04d}",
                               seen=datetime(YEAR, 1, 1, tzinfo=ZONE), clock_offset_s=None, spool_backlog=None,
                               agent_version=None)
    days = [datetime.combine(date(YEAR, 1, 1) + timedelta(days=d), datetime.min.time(), ZONE).astimezone(UTC)
            for d in range(365)]
    n_days = 0
    for lo in range(0, len(series), 300):
        rows = [_day_row(rng, sid, day, text_id, check == "", 288 * (30 if check == "" else 1))
                for sid, _, check, _ in series[lo:lo + 300] for day in days]
        _insert(engine, "rollup_days", rows)
        n_days += len(rows)
    end = days[-1] + timedelta(days=1)
    hours = [end - timedelta(hours=k + 1) for k in range(hour_days * 24)]
    sample = [s for s in series if int(s[1][1:]) < hour_hosts]
    rows = [_day_row(rng, sid, hr, text_id, check == "", 12 * (30 if check == "" else 1)) for sid, _, check, _ in
            sample for hr in hours]
    rows = [(*r[:8], r[1], r[9], r[1] + timedelta(minutes=55), *r[11:]) for r in rows]
    _insert(engine, "rollup_hours", rows)
    return {"day_rows": n_days, "hour_rows": len(rows), "series": len(series)}


def annual_seconds(engine: sa.Engine, runs: int) -> list[float]:
    from collector.records.kinds import builder
    from collector.store.db import reading

    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        with reading(engine) as conn:
            content = builder("annual")(conn, site="site-00", period_start=datetime(YEAR, 1, 1, tzinfo=ZONE),
                                        period_end=datetime(YEAR + 1, 1, 1, tzinfo=ZONE), lang="zh_CN",
                                        inspector="bench")
        out.append(round(time.perf_counter() - t0, 2))
        assert len(content.header.hosts) == 100
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--hour-hosts", type=int, default=20)
    ap.add_argument("--hour-days", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--db", nargs="+", default=["sqlite", "postgresql"])
    ap.add_argument("--out", default=str(h.RESULTS_DIR / "rollups.json"))
    args = ap.parse_args()
    from collector.store.db import make_engine
    from collector.store.migrate import upgrade

    h._throwaway_key()

    def run_one(db: str, tmp: Path) -> dict[str, Any]:
        url, drop = storage._database(db, tmp, "rollups")
        engine = make_engine(url)
        try:
            upgrade(engine)
            t0 = time.perf_counter()
            counts = fill(engine, args.hosts, args.hour_hosts, args.hour_days)
            fill_s = time.perf_counter() - t0
            day_bytes = storage._size(engine, ("rollup_days",))
            hour_bytes = storage._size(engine, ("rollup_hours",))
            seconds = annual_seconds(engine, args.runs)
        finally:
            engine.dispose()
            drop()
        per_day, per_hour = day_bytes / counts["day_rows"], hour_bytes / counts["hour_rows"]
        hour_rows_100_days = args.hosts * (len(ITEMS) + 1) * 24 * 100  # measured per row, multiplied out
        raw_results = args.hosts * len(ITEMS) * 288 * 100
        return {"db": db, **counts, "fill_seconds": round(fill_s, 1),
                "day_rollups_bytes": day_bytes, "bytes_per_day_row": round(per_day, 1),
                "bytes_per_hour_row": round(per_hour, 1),
                "hour_rollups_last_100_days_bytes_estimated": round(per_hour * hour_rows_100_days),
                "raw_last_100_days_bytes_estimated": raw_results * RAW_BYTES[db],
                "annual_report_seconds_100_hosts": seconds}

    h.each_database(args.db, args.out, run_one, hosts=args.hosts, items=len(ITEMS))


if __name__ == "__main__":
    main()
