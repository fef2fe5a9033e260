"""Scrape cost of /metrics at N hosts x M checks (default 10,000 x 30), on SQLite.

Fills a migrated SQLite database's ``latest`` and ``hosts`` tables directly (the state
ingest would leave), then times, as medians of --runs: ``state_exposition`` in-process,
``GET /metrics`` end to end through the app (TestClient), and prometheus_client's own
``generate_latest`` over the same series as a baseline (perf-anchors.md §3: ~20 us/series).
Writes bench/results/metrics_scrape.json.

    .venv/bin/python bench/metrics_scrape.py [--hosts 10000] [--checks 30] [--runs 3]

PostgreSQL is not measured yet (see the report of issue 8).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson
from sqlalchemy import insert

from collector.metrics import state_exposition
from collector.store.db import make_engine
from collector.store.migrate import upgrade
from collector.store.tables import hosts, latest

CHECKS = [("disk", "/data{}", [("used_percent", 41.5, "%"), ("free_bytes", 1e10, "B"),
                               ("total_bytes", 2e10, "B")]),
          ("db_backup", "HIS{}/full", [("age_seconds", 3600.0, "s"), ("size_bytes", 5e9, "B")]),
          ("ping", "10.0.0.{}", [("loss_ratio", 0.0, "ratio"), ("rtt_avg_seconds", 0.001, "s")]),
          ("service", "svc{}", [("running", 1.0, "")]),
          ("nagios", "plugin{}", [("x", 1.0, "")])]


def fill(url: str, n_hosts: int, n_checks: int) -> int:
    engine = make_engine(url)
    upgrade(engine)
    now = datetime.now(UTC)
    rows = 0
    with engine.begin() as conn:
        for h in range(n_hosts):
            site, host = f"site-{h % 50}", f"host-{h:05d}"
            batch = []
            for c in range(n_checks):
                check, item, metrics = CHECKS[c % len(CHECKS)]
                batch.append({"site": site, "host": host, "check": check, "item": item.format(c),
                              "status": c % 4,
                              "summary": "x", "standard": "", "result_uid": f"{h:016x}{c:016x}",
                              "started_at": now, "received_at": now,
                              "metrics": orjson.dumps(
                                  [{"name": n, "value": v, "unit": u} for n, v, u in metrics]).decode()})
            conn.execute(insert(latest), batch)
            conn.execute(insert(hosts), [{"site": site, "host": host, "first_seen": now, "last_seen": now,
                                          "clock_offset_s": 0.1, "spool_backlog": 0}])
            rows += len(batch)
    engine.dispose()
    return rows


def median_time(fn, runs: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(runs):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=10_000)
    ap.add_argument("--checks", type=int, default=30)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        url = f"sqlite:///{Path(d) / 'bench.db'}"
        t = time.perf_counter()
        rows = fill(url, a.hosts, a.checks)
        fill_s = time.perf_counter() - t
        engine = make_engine(url)
        in_process, text = median_time(lambda: state_exposition(engine), a.runs)
        series = sum(1 for line in text.splitlines() if line and not line.startswith("#"))

        from fastapi.testclient import TestClient

        from collector.app import create_app
        from collector.config import Settings

        with TestClient(create_app(Settings(db_url=url))) as client:
            http_s, resp = median_time(lambda: client.get("/metrics"), a.runs)
            size = len(resp.content)

        from prometheus_client import CollectorRegistry, Gauge, generate_latest

        reg = CollectorRegistry()
        g = Gauge("baseline_status", "x", ["site", "host", "check", "item"], registry=reg)
        for i in range(series):
            g.labels("site-1", f"host-{i // 30}", "disk", f"/d{i % 30}").set(1)
        baseline_s, _ = median_time(lambda: generate_latest(reg), a.runs)
        engine.dispose()
    out = {"backend": "sqlite", "hosts": a.hosts, "checks_per_host": a.checks, "latest_rows": rows,
           "series": series, "exposition_bytes": size, "fill_seconds": round(fill_s, 1),
           "state_exposition_seconds_median": round(in_process, 3),
           "http_get_metrics_seconds_median": round(http_s, 3),
           "prometheus_client_generate_latest_same_series_seconds_median": round(baseline_s, 3),
           "runs": a.runs}
    print(json.dumps(out, indent=2))
    path = Path(__file__).parent / "results" / "metrics_scrape.json"
    path.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
