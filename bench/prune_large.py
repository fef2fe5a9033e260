"""The retention prune on a large results table: each batch's time (p50/p99/max) and the total.

Fills ``result_rows`` with ``--total`` compact results of 3,000 items (100 hosts x 30 items) spread
evenly over ``--days`` days before 2026-12-05 (bulk SQL: a recursive CTE on SQLite,
``generate_series`` on PostgreSQL, monthly partitions made first), so keeping ``--keep`` (400)
days of raw results removes about ``(days - keep) / days`` of them.  Then runs
:func:`collector.retention.prune` as the daily job does (5,000-row batches, no pause: the worst
case for the batches) and times every write transaction it commits: the row batches, on PostgreSQL
the partition drops, on SQLite the incremental-vacuum steps.  Prints the table's size before and
after (tables and indexes, as ``bench/storage.py`` measures them).

    .venv/bin/python bench/prune_large.py [--total 10000000] [--days 500] [--db sqlite postgresql]
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import _harness as h  # noqa: E402
import storage  # noqa: E402

NOW = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)
SERIES = 3000
CHUNK = 1_000_000


def _seed(engine: Any) -> tuple[int, int]:
    """One real result (its text template), and the 3,000 items; (first series id, text id)."""
    import sqlalchemy as sa

    from collector.store import queries
    from collector.store.db import writing
    from collector.store.tables import result_rows, result_series

    row = storage.rows_for(storage.linux_patrol(1), 1)[0]
    row = {**row, "started_at": NOW, "received_at": NOW}
    with writing(engine) as conn:
        queries.store_new_results(conn, [row])
        text_id = conn.execute(sa.select(result_rows.c.text_id)).scalar_one()
        conn.execute(sa.delete(result_rows))
        conn.execute(sa.insert(result_series), [{"site": "bench", "host": f"h{i // 30:03d}", "check": "disk",
                                                 "item": f"/d{i % 30}"} for i in range(SERIES)])
        first = conn.execute(sa.select(sa.func.min(result_series.c.id)).where(result_series.c.site == "bench")
                             ).scalar_one()
        # each host's own series (site, host, "", ""): result_rows.host_id (migration 0019), in host order
        conn.execute(sa.insert(result_series), [{"site": "bench", "host": f"h{h:03d}", "check": "", "item": ""}
                                                for h in range(SERIES // 30)])
        hosts = conn.execute(sa.select(sa.func.min(result_series.c.id)).where(
            result_series.c.site == "bench", result_series.c.check == "")).scalar_one()
    return int(first), int(hosts), int(text_id)


def _fill(engine: Any, total: int, days: int) -> float:
    from collector.store import partitions
    from collector.store.db import writing

    first, hosts, text_id = _seed(engine)
    start = NOW - timedelta(days=days)
    step_us = days * 86400 * 1_000_000 // total
    t0 = time.perf_counter()
    pg = engine.dialect.name == "postgresql"
    if pg:
        with writing(engine) as conn:
            partitions.ensure_months(conn, [start + timedelta(days=d) for d in range(0, days + 31, 15)])
    for lo in range(0, total, CHUNK):
        hi = min(total, lo + CHUNK)
        with writing(engine) as conn:
            if pg:
                conn.exec_driver_sql(
                    "INSERT INTO result_rows (uid, series_id, status, started_at, received_at, duration_us, "
                    "text_id, changed, host_id) SELECT decode(md5(i::text), 'hex'), (%(first)s + i %% %(n)s)::int, "
                    "(i %% 97 = 0)::int, %(start)s + (i * %(step)s) * interval '1 microsecond', "
                    "%(start)s + (i * %(step)s) * interval '1 microsecond', 1500, %(text)s, '3:37.06', "
                    "(%(hosts)s + (i %% %(n)s) / 30)::int "
                    "FROM generate_series(%(lo)s::bigint, %(hi)s::bigint - 1) AS i",
                    {"first": first, "n": SERIES, "start": start, "step": step_us, "text": text_id, "lo": lo,
                     "hi": hi, "hosts": hosts})
            else:
                start_us = int((start - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))
                conn.exec_driver_sql(
                    "WITH RECURSIVE c(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM c WHERE i + 1 < ?) "
                    "INSERT INTO result_rows (uid, series_id, status, started_at, received_at, duration_us, "
                    "text_id, changed, host_id) SELECT randomblob(16), ? + i % ?, i % 97 = 0, ? + i * ?, ? + i * ?, "
                    "1500, ?, '3:37.06', ? + (i % ?) / 30 FROM c",
                    (lo, hi, first, SERIES, start_us, step_us, start_us, step_us, text_id, hosts, SERIES))
        print(f"  {hi:,} rows, {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    if pg:
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE result_rows")
    return time.perf_counter() - t0


def _timed(real: Any, times: list[float]) -> Any:
    @contextlib.contextmanager
    def writing(engine: Any) -> Iterator[Any]:
        t0 = time.perf_counter()
        with real(engine) as conn:
            yield conn
        times.append((time.perf_counter() - t0) * 1000)
    return writing


def run(db: str, tmp: Path, args: argparse.Namespace) -> dict[str, Any]:
    from collector import retention
    from collector.store.db import make_engine
    from collector.store.migrate import upgrade

    url, drop = storage._database(db, tmp, "prune_large")
    engine = make_engine(url)
    try:
        upgrade(engine)
        load_s = _fill(engine, args.total, args.days)
        size_before = storage._size(engine, storage.AFTER_TABLES)
        times: list[float] = []
        vacuum: dict[str, Any] = {}
        real, real_vacuum = retention.writing, retention._vacuum_sqlite

        def timed_vacuum(eng: Any) -> int:
            vacuum["first"], t0 = len(times), time.perf_counter()
            try:
                return int(real_vacuum(eng))
            finally:
                vacuum["s"] = round(time.perf_counter() - t0, 1)

        retention.writing = _timed(real, times)  # every write transaction the prune commits
        retention._vacuum_sqlite = timed_vacuum
        try:
            t0 = time.perf_counter()
            keep = retention.Retention(results=timedelta(days=args.keep))
            rep = retention.prune(engine, keep, NOW, batch=args.batch)
            total_s = time.perf_counter() - t0
        finally:
            retention.writing, retention._vacuum_sqlite = real, real_vacuum
        size_after = storage._size(engine, storage.AFTER_TABLES)
        split = vacuum.get("first", len(times))
        return {"db": db, "rows": args.total, "days": args.days, "load_s": round(load_s, 1),
                "removed": rep.results, "row_batches": rep.batches, "partitions_dropped": len(rep.partitions),
                "deletes": h.latency_ms(times[:split], "transactions"),
                "vacuum": {**h.latency_ms(times[split:], "transactions"), "seconds": vacuum.get("s")},
                "total_s": round(total_s, 1), "freed_pages": rep.freed_pages,
                "bytes_before": size_before, "bytes_after": size_after,
                "bytes_per_row_before": round(size_before / args.total, 1)}
    finally:
        engine.dispose()
        drop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--total", type=int, default=10_000_000)
    ap.add_argument("--days", type=int, default=500)
    ap.add_argument("--keep", type=int, default=400, help="days of raw results kept (the figures: 400)")
    ap.add_argument("--batch", type=int, help="rows per transaction (default: the prune's own, per database)")
    ap.add_argument("--db", nargs="+", default=["sqlite", "postgresql"])
    ap.add_argument("--out", default=str(h.RESULTS_DIR / "prune_large.json"))
    args = ap.parse_args()
    h.each_database(args.db, args.out, lambda db, tmp: run(db, tmp, args))


if __name__ == "__main__":
    main()
