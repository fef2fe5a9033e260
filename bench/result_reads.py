#!/usr/bin/env python3
"""Reads of stored results at a size: the host page's, a record's, the API's, the roll-up job's.

Fills a migrated SQLite (``--db postgresql``: a throwaway PostgreSQL 15, ANALYZEd
after the fill; ``both``) database with ``--results`` results the way bench/sqlite_growth.py stores them
(batches of one host: 100 series x 5 patrols, 16 hosts in turn, the collector's
own writer, ``latest`` kept as ingest does), then times each reader of the tree it runs from (best of
``--repeat``; wall time, and this process's CPU time — all of SQLite's work, the
collector's side only of PostgreSQL's) over the newest hour and prints each query's plan (SQLite:
``EXPLAIN QUERY PLAN``, PostgreSQL: ``EXPLAIN``; ``FULL SCAN`` marks a read of every row).  Run it from
two trees to compare them:

    .venv/bin/python bench/result_reads.py --results 1000000 --tag head
    .venv/bin/python /tmp/base/bench/result_reads.py --results 1000000 --tag base

Writes ``bench/results/result-reads[-TAG].json``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import _harness as h  # noqa: E402
from sqlite_growth import HOSTS, _batch  # noqa: E402


def _fill(engine: Any, results: int) -> datetime:
    from checks.result import new_result_id
    from collector.store import db, queries

    start = datetime(2026, 11, 1, tzinfo=UTC)
    done = batches = 0
    at = start
    while done < results:
        at = start + timedelta(minutes=5 * (batches // HOSTS))
        rows = _batch(batches % HOSTS, at, at + timedelta(minutes=5))
        with db.writing(engine) as conn:  # as ingest stores a batch (the latest states too)
            queries.store_new_results(conn, rows)
            queries.upsert_latest(conn, rows, credible_until=at + timedelta(days=1))
        done += len(rows)
        batches += 1
    with db.writing(engine) as conn:  # a rare item: one host's ten restore drills, the first hours of the fill
        queries.store_new_results(conn, [
            {"uid": new_result_id(), "site": "bench", "host": "bench-003", "check": "drill", "item": "restore",
             "status": 0, "summary": "restore drill passed", "standard": "", "started_at": start + timedelta(hours=i),
             "received_at": start + timedelta(hours=i), "duration_ms": 1.0, "metrics": "[]", "details": "{}",
             "messages": None} for i in range(10)])
    return at + timedelta(minutes=5)


def _readers(engine: Any, end: datetime) -> dict[str, Callable[[Any], Any]]:
    from sqlalchemy import select

    from collector.store import queries, records, rollups, today
    from collector.store.tables import result_series

    s = result_series.c
    with engine.connect() as conn:  # the roll-up job reads a host's series
        series = list(conn.execute(select(s.id).where(s.host == "bench-003", s.check != "")).scalars())
    hour = end - timedelta(hours=1)
    return {
        "host page: host_results (1 h)": lambda c: today.host_results(c, "bench", "bench-003", hour),
        "host page: item_results (50)": lambda c: today.item_results(c, "bench", "bench-003", "disk", "/data1", 50),
        "host page: item_results rare (10)": lambda c: today.item_results(c, "bench", "bench-003", "drill", "restore",
                                                                          50),
        "host page: last_changes": lambda c: today.last_changes(c, "bench", "bench-003"),
        "record: period_items (site, 1 h)": lambda c: records.period_items(c, "bench", hour, end),
        "record: newest_good (site, 1 h)": lambda c: records.newest_good(c, "bench", ["disk"], hour, end),
        "record: check_results (site, 1 h)": lambda c: records.check_results(c, "bench", "disk", hour, end),
        "API: find_results host (100)": lambda c: queries.find_results(c, site="bench", host="bench-003",
                                                                         since=hour),
        "API: find_results host+check (100)": lambda c: queries.find_results(c, site="bench", host="bench-003",
                                                                               check="disk"),
        "roll-up: _raw (a host's series, 1 h)": lambda c: rollups._raw(c, series, hour, end),
    }


def _plans(engine: Any, fn: Callable[[Any], Any]) -> list[str]:
    """The plan of each statement ``fn`` runs on ``result_rows`` (through the view or not)."""
    from sqlalchemy import event

    seen: list[tuple[str, Any]] = []

    def grab(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        if "result_rows" in statement or "results" in statement:
            seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", grab)
    try:
        with engine.connect() as conn:
            fn(conn)
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    out = []
    with engine.connect() as conn:
        for statement, params in seen:
            if engine.dialect.name == "postgresql":
                plan = conn.exec_driver_sql("EXPLAIN (COSTS OFF) " + statement, params).scalars().all()
                out.append(" | ".join(line.strip() for line in plan))
            else:
                plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params).all()
                out.append(" | ".join(str(r[-1]) for r in plan))
    return out


def _full_scan(plans: list[str]) -> bool:
    """A plan that reads every row of ``result_rows`` (a SQLite SCAN of it, a PostgreSQL Seq Scan)."""
    text = " | ".join(plans).replace("SCAN result_rows", "SCAN r") + " "
    return "SCAN r " in text or "Seq Scan on result_rows" in text


def measure(name: str, url: str, results: int, repeat: int) -> dict[str, Any]:
    from collector.store import db
    from collector.store.migrate import upgrade

    engine = db.make_engine(url)
    upgrade(engine)
    t0 = time.perf_counter()
    end = _fill(engine, results)
    from collector.store import rollups  # what the collector's roll-up job has done by then (item_results reads it)

    rollups.refresh(engine, lambda site: UTC, before=end - timedelta(hours=1))
    if name == "postgresql":  # as autovacuum does soon after a fill: the planner's statistics
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    print(f"[{name}] filled {results} results in {time.perf_counter() - t0:.0f} s", flush=True)
    out: dict[str, Any] = {"results": results, "reads": []}
    for read, fn in _readers(engine, end).items():
        best = cpu = float("inf")
        for _ in range(repeat):
            with engine.connect() as conn:
                t, c = time.perf_counter(), time.process_time()
                rows = fn(conn)
                best, cpu = min(best, time.perf_counter() - t), min(cpu, time.process_time() - c)
        plans = _plans(engine, fn)
        full = _full_scan(plans)
        print(f"[{name}] {read:38s} {best * 1000:9.2f} ms wall {cpu * 1000:9.2f} ms CPU {len(rows):6d} rows"
              f"{'  FULL SCAN' if full else ''}", flush=True)
        for p in plans:
            print(f"    {p}")
        out["reads"].append({"read": read, "best_ms": round(best * 1000, 2), "best_cpu_ms": round(cpu * 1000, 2),
                             "rows": len(rows), "full_scan": full, "plans": plans})
    engine.dispose()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    ap.add_argument("--results", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--tag", default="")
    args = ap.parse_args()
    out: dict[str, Any] = {"machine": h.machine_info(), "runs": {}}
    with h.Processes() as procs:
        work = Path(tempfile.mkdtemp(prefix="wardround-bench-reads-"))
        for name, url in h.databases(procs, work, args.db):
            out["runs"][name] = measure(name, url, args.results, args.repeat)
    path = h.write_json(f"result-reads{'-' + args.tag if args.tag else ''}.json", out)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
