"""Scrape cost of /metrics at N hosts x M checks (default 10,000 x 30) and T tickets (default 100,000).

For each database (a SQLite file; a throwaway PostgreSQL 15 cluster made with ``initdb``/``pg_ctl``
as in ``bench/ingest.py``), fills a migrated database directly with what ingest and the ticket
ledger would leave: ``latest`` and ``hosts`` (one row per check item and per agent) and
``tickets`` + ``ticket_events`` (a year of history: 2 % live, the rest resolved or closed, 70 %
acknowledged, a few reopened and breached). Then times, as medians of ``--runs``:

* ``state_exposition``: the check-item and agent families written straight to text;
* the ticket families alone (``TicketCollector`` through prometheus_client's ``generate_latest``,
  section "tickets"): after a ticket change (the aggregate queries over ``tickets`` and
  ``ticket_events`` run) and with the ledger unchanged (the live gauges and the change key only);
* ``GET /metrics`` end to end through the app (TestClient): everything together. The app keeps the
  item families per host between scrapes (``collector/metrics/cache.py``) and ``serve`` fills them at
  start, in the background (``collector.jobs.MetricsWarmup``; its CPU is reported as ``warmup_*``), so:
  the **first** scrape after that warm-up, scrapes with **nothing new**, and scrapes after
  ``--changed`` (default 20 %) of the hosts reported (their ``latest`` rows and ``last_seen``
  updated in SQL, as ingest would: with agents pushing every minute and Prometheus scraping every
  15 s, a quarter of the hosts report between two scrapes);
* both of those also in CPU time of the process (``*_cpu_seconds_median``), steadier than wall time
  on a shared machine;
* prometheus_client's own ``generate_latest`` over the same number of series as a baseline
  (perf-anchors.md §3: ~20 us/series), once, on the first backend (``--no-writer-baseline``: not);
* with ``--baseline SRC`` (e.g. ``git archive main | tar -x -C /tmp/base``): the same ``GET /metrics``
  phases on the same database with that tree's collector, in a process of its own (same run).

Writes bench/results/metrics_scrape.json (one entry per backend).

    .venv/bin/python bench/metrics_scrape.py [--db sqlite|postgresql|both] [--hosts 10000] [--checks 30]
                                             [--tickets 100000] [--runs 3] [--baseline SRC]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, func, insert, text, update

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h  # noqa: E402

from collector.metrics import state_exposition  # noqa: E402
from collector.store.db import make_engine  # noqa: E402
from collector.store.migrate import upgrade  # noqa: E402
from collector.store.tables import hosts, latest, ticket_events, tickets  # noqa: E402
from collector.ticket_metrics import TicketCollector  # noqa: E402

# (check, item, [(metric, value, unit, warn, crit)]): the checks' default thresholds ride along, as on the wire
CHECKS = [("disk", "/data{}", [("used_percent", 41.5, "%", 80, 90), ("free_bytes", 1e10, "B", None, None),
                               ("total_bytes", 2e10, "B", None, None)]),
          ("db_backup", "HIS{}/full", [("age_seconds", 3600.0, "s", None, 93600),
                                       ("size_bytes", 5e9, "B", None, None)]),
          ("ping", "10.0.0.{}", [("loss_ratio", 0.0, "ratio", 0.2, 0.6),
                                 ("rtt_avg_seconds", 0.001, "s", 0.15, 0.5)]),
          ("service", "svc{}", [("running", 1.0, "", None, None)]),
          ("nagios", "plugin{}", [("x", 1.0, "", None, None)])]
SITES = 50
HOSTS_PER_CHUNK = 200


def _metric(name: str, value: float, unit: str, warn: float | None, crit: float | None) -> dict[str, Any]:
    m: dict[str, Any] = {"name": name, "value": value, "unit": unit}
    if warn is not None:
        m["warn"] = warn
    if crit is not None:
        m["crit"] = crit
    return m


def fill_state(engine: Engine, n_hosts: int, n_checks: int) -> int:
    now = datetime.now(UTC)
    rows = 0
    for first in range(0, n_hosts, HOSTS_PER_CHUNK):
        batch, agents = [], []
        for hnum in range(first, min(first + HOSTS_PER_CHUNK, n_hosts)):
            site, host = f"site-{hnum % SITES}", f"host-{hnum:05d}"
            for c in range(n_checks):
                check, item, metrics = CHECKS[c % len(CHECKS)]
                batch.append({"site": site, "host": host, "check": check, "item": item.format(c),
                              "status": c % 4, "summary": "x", "standard": "",
                              "result_uid": f"{hnum:016x}{c:016x}", "started_at": now, "received_at": now,
                              "metrics": orjson.dumps([_metric(*m) for m in metrics]).decode()})
            # agents pushing every minute, spread over it
            agents.append({"site": site, "host": host, "first_seen": now, "last_seen": now - timedelta(
                seconds=hnum % 60, microseconds=hnum),
                           "clock_offset_s": 0.1, "spool_backlog": 0})
        with engine.begin() as conn:
            conn.execute(insert(latest), batch)
            conn.execute(insert(hosts), agents)
        rows += len(batch)
    return rows


def fill_tickets(engine: Engine, n_tickets: int, n_hosts: int) -> tuple[int, int]:
    """``n_tickets`` over the last year and their history; returns (tickets, events)."""
    rnd = random.Random(8)
    now = datetime.now(UTC)
    events = 0
    chunk = 5000
    for first in range(0, n_tickets, chunk):
        rows, hist = [], []
        for i in range(first, min(first + chunk, n_tickets)):
            hnum = rnd.randrange(n_hosts)
            sev = rnd.choice((1, 2, 2, 3, 3, 3))
            opened = now - timedelta(days=365 * (1 - i / n_tickets), seconds=rnd.randrange(3600))
            live = i >= n_tickets * 0.98
            acked = opened + timedelta(seconds=rnd.expovariate(1 / 2400)) if rnd.random() < 0.7 else None
            resolved = None if live else opened + timedelta(seconds=rnd.expovariate(1 / 20000) + 60)
            if acked is not None and resolved is not None and acked > resolved:
                acked = resolved
            state = "open" if live and acked is None else "acknowledged" if live else (
                "closed" if rnd.random() < 0.8 else "resolved")
            reopened = 1 if rnd.random() < 0.03 else 0
            rows.append({
                "id": i + 1, "site": f"site-{hnum % SITES}", "host": f"host-{hnum:05d}", "check": "disk",
                "item": f"/t{i}", "severity": max(1, sev - (1 if rnd.random() < 0.1 else 0)),
                "initial_severity": sev, "level_name": "x", "priority": int(hnum % SITES < 5), "state": state,
                "summary": "x", "reported_via": "monitoring", "reported_by": "system", "opened_at": opened,
                "response_due": opened + timedelta(hours=2), "resolve_due": opened + timedelta(hours=18),
                "acknowledged_at": acked, "resolved_at": resolved,
                "closed_at": resolved + timedelta(hours=1) if state == "closed" and resolved else None,
                "occurrences": 1, "flapping": False, "response_breached": rnd.random() < 0.05,
                "resolve_breached": rnd.random() < 0.05, "reopened_count": reopened, "onsite_breached": False,
                "updated_at": now})
            steps = [("open", opened)] + ([("acknowledge", acked)] if acked else [])
            steps += [("resolve", resolved)] * (1 + reopened) if resolved else []
            steps += [("close", rows[-1]["closed_at"])] if rows[-1]["closed_at"] else []
            hist += [{"ticket_id": i + 1, "at": at, "actor": "system", "action": a, "note": ""}
                     for a, at in steps]
        with engine.begin() as conn:
            conn.execute(insert(tickets), rows)
            conn.execute(insert(ticket_events), hist)
        events += len(hist)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("SELECT setval(pg_get_serial_sequence('tickets', 'id'), :n)"), {"n": n_tickets})
            conn.execute(text("VACUUM ANALYZE"))
    return n_tickets, events


def median_time(fn: Callable[[], Any], runs: int, clock: Callable[[], float] = time.perf_counter
                ) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(runs):
        t = clock()
        out = fn()
        times.append(clock() - t)
    return statistics.median(times), out


def measure(url: str, a: argparse.Namespace) -> dict[str, Any]:
    from prometheus_client import CollectorRegistry, generate_latest


    engine = make_engine(url)
    upgrade(engine)
    t = time.perf_counter()
    rows = fill_state(engine, a.hosts, a.checks)
    n_tickets, n_events = fill_tickets(engine, a.tickets, a.hosts)
    fill_s = time.perf_counter() - t
    in_process, state = median_time(lambda: state_exposition(engine), a.runs)
    # CPU time of this process: what the scrape costs, whatever else the shared machine runs
    in_process_cpu, _ = median_time(lambda: state_exposition(engine), a.runs, time.process_time)
    series = sum(1 for line in state.splitlines() if line and not line.startswith("#"))

    def fresh() -> bytes:  # as after a ticket change: every family rebuilt
        reg = CollectorRegistry()
        reg.register(TicketCollector(engine))
        return generate_latest(reg)

    ticket_s, ticket_text = median_time(fresh, a.runs)
    ticket_series = sum(1 for line in ticket_text.decode().splitlines() if line and not line.startswith("#"))
    warm = CollectorRegistry()
    warm.register(TicketCollector(engine))
    generate_latest(warm)
    ticket_warm_s, _ = median_time(lambda: generate_latest(warm), a.runs)
    http = http_phases(engine, url, a.runs, a.changed, warm=True)
    if a.baseline:
        http["baseline"] = baseline_phases(a.baseline, url, a.runs, a.changed)
    engine.dispose()
    return {"hosts": a.hosts, "checks_per_host": a.checks, "latest_rows": rows, "state_series": series,
            "tickets": n_tickets, "ticket_events": n_events, "ticket_series": ticket_series,
            "exposition_bytes": http.pop("exposition_bytes"), "fill_seconds": round(fill_s, 1),
            "state_exposition_seconds_median": round(in_process, 3),
            "state_exposition_cpu_seconds_median": round(in_process_cpu, 3),
            "ticket_families_after_a_change_seconds_median": round(ticket_s, 3),
            "ticket_families_unchanged_ledger_seconds_median": round(ticket_warm_s, 3),
            **http,
            "loadavg": open("/proc/loadavg").read().split()[:3], "runs": a.runs}


def http_phases(engine: Engine, url: str, runs: int, fraction: float, warm: bool) -> dict[str, Any]:
    """``GET /metrics`` through the app: the first scrape (after the warm-up ``serve`` starts with, if ``warm``),
    scrapes with nothing new, scrapes after ``fraction`` of the hosts reported; CPU seconds of this process."""
    from fastapi.testclient import TestClient

    from collector.app import create_app
    from collector.config import Settings

    out: dict[str, Any] = {}
    with TestClient(create_app(Settings(db_url=url), engine=engine)) as client:
        metrics = client.app.state.services.metrics
        if warm:  # as ``serve`` does at start (collector.jobs.MetricsWarmup), before Prometheus' first scrape
            from collector.jobs import MetricsWarmup

            warmup = MetricsWarmup(metrics)
            t, c = time.perf_counter(), time.process_time()
            warmup.start()
            assert warmup.done.wait(600)
            out["warmup_seconds"] = round(time.perf_counter() - t, 3)
            out["warmup_cpu_seconds"] = round(time.process_time() - c, 3)  # all threads of the process
            warmup.stop()
        t, c = time.perf_counter(), time.process_time()
        resp = client.get("/metrics")
        out["http_get_metrics_first_scrape_seconds"] = round(time.perf_counter() - t, 3)
        out["http_get_metrics_first_scrape_cpu_seconds"] = round(time.process_time() - c, 3)
        assert resp.status_code == 200
        http_s, resp = median_time(lambda: client.get("/metrics"), runs)
        http_cpu, _ = median_time(lambda: client.get("/metrics"), runs, time.process_time)
        changed: list[tuple[float, float, int]] = []
        for r in range(runs):
            n_changed = report_some(engine, fraction, r)
            t, c = time.perf_counter(), time.process_time()
            resp = client.get("/metrics")
            changed.append((time.perf_counter() - t, time.process_time() - c, n_changed))
            assert resp.status_code == 200
        reread = metrics.items.reread
        cached = resp.content.decode().split("# HELP wardround_notification", 1)[0]
        full = state_exposition(engine).split("# HELP wardround_notification", 1)[0]
        if cached != full:
            differ = sorted(set(cached.splitlines()) ^ set(full.splitlines()))
            raise AssertionError(f"the cached scrape differs from a full read: {len(differ)} lines, e.g. "
                                 + "\n".join(differ[:6]))
    return {**out, "exposition_bytes": len(resp.content),
            "http_get_metrics_nothing_new_seconds_median": round(http_s, 3),
            "http_get_metrics_nothing_new_cpu_seconds_median": round(http_cpu, 3),
            "changed_fraction": fraction, "hosts_changed_per_scrape": [n for _s, _c, n in changed],
            "hosts_reread_last_scrape": reread,
            "http_get_metrics_after_changes_seconds": [round(s, 3) for s, _c, _n in changed],
            "http_get_metrics_after_changes_seconds_median": round(statistics.median(s for s, _, _ in changed), 3),
            "http_get_metrics_after_changes_cpu_seconds_median": round(statistics.median(c for _, c, _ in changed),
                                                                        3)}


BASELINE = """
import json, sys
sys.path.insert(0, sys.argv[1])  # the baseline's collector, before this venv's editable install
sys.path.insert(1, sys.argv[2])  # this bench (its phases and report_some)
import collector.jobs
import metrics_scrape as ms
from collector.store.db import make_engine
url, runs, fraction = sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
warm = hasattr(collector.jobs, "MetricsWarmup")  # a tree that warms its cache at start, as serve does
print(json.dumps(ms.http_phases(make_engine(url), url, runs, fraction, warm)))
"""


def baseline_phases(source: str, url: str, runs: int, fraction: float) -> dict[str, Any]:
    """:func:`http_phases` with the collector of another source tree (e.g. ``git archive main``), on the same
    database, in a process of its own (its warm-up too, if that tree has one)."""
    import subprocess

    done = subprocess.run([sys.executable, "-c", BASELINE, source, str(Path(__file__).resolve().parent), url,
                           str(runs), str(fraction)], capture_output=True, text=True, check=True, cwd=source)
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    out["source"] = source
    return out


def report_some(engine: Engine, fraction: float, run: int) -> int:
    """As if ``fraction`` of the hosts had just reported: their items' status and metrics change, their
    ``last_seen`` moves (a different set each run)."""
    now = datetime.now(UTC) + timedelta(seconds=15 * (run + 1))  # one scrape interval later
    with engine.begin() as conn:
        names = [h for (h,) in conn.execute(text("SELECT host FROM hosts ORDER BY host"))]
        step = max(1, round(1 / fraction)) if fraction > 0 else 0
        chosen = names[run % step::step] if step else []
        for i in range(0, len(chosen), 500):
            part = chosen[i:i + 500]
            for second in range(15):  # reported over the 15 s since the previous scrape
                some = part[second::15]
                at = now - timedelta(seconds=second)
                conn.execute(update(hosts).where(hosts.c.host.in_(some)).values(last_seen=at))
                conn.execute(update(latest).where(latest.c.host.in_(some)).values(
                    status=(latest.c.status + 1) % 4, received_at=at,
                    metrics=func.replace(latest.c.metrics, "41.5", "42.5")))
    return len(chosen)


def writer_baseline(series: int, runs: int) -> float:
    from prometheus_client import CollectorRegistry, Gauge, generate_latest

    reg = CollectorRegistry()
    g = Gauge("baseline_status", "x", ["site", "host", "check", "item"], registry=reg)
    for i in range(series):
        g.labels("site-1", f"host-{i // 30}", "disk", f"/d{i % 30}").set(1)
    seconds, _ = median_time(lambda: generate_latest(reg), runs)
    return round(seconds, 3)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--hosts", type=int, default=10_000)
    ap.add_argument("--checks", type=int, default=30)
    ap.add_argument("--tickets", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--changed", type=float, default=0.2, help="fraction of hosts reporting between scrapes")
    ap.add_argument("--baseline", metavar="SRC",
                    help="also scrape the same database with the collector of this source tree (git archive main)")
    ap.add_argument("--no-writer-baseline", action="store_true",
                    help="skip timing prometheus_client's own writer over the same series")
    a = ap.parse_args()
    out: dict[str, Any] = {"machine": h.machine_info()}
    with h.Processes() as procs, tempfile.TemporaryDirectory() as d:
        for db, url in h.databases(procs, Path(d), a.db):
            out[db] = measure(url, a)
            print(db, json.dumps(out[db], indent=2), flush=True)
    first = out.get("sqlite") or out["postgresql"]
    if not a.no_writer_baseline:
        out["prometheus_client_generate_latest_same_series_seconds_median"] = writer_baseline(
            first["state_series"], a.runs)
    print(json.dumps(out, indent=2))
    h.write_json("metrics_scrape.json", out)


if __name__ == "__main__":
    main()
