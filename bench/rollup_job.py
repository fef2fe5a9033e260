"""The roll-up job's cost per result, and its worst round, replaying hours of traffic on a simulated clock.

A fresh, migrated database (SQLite with the collector's settings, or a throwaway PostgreSQL 15) gets
``--hosts`` × ``--items`` results every ``--every`` seconds for ``--hours`` simulated hours: each
simulated ``--job`` seconds the results that started in it are stored (shuffled, so out of order within
the step; ``--late`` of them held back and stored 5–60 minutes later, as an agent's spool does), then
the tree's own ``RollupJob.step(now)`` runs, as ``serve`` runs it every minute.  The process CPU of
every step is measured (``time.process_time``), storing apart from rolling up.  At the end every hour
is closed (``refresh`` up to 2100) and the roll-up tables are digested: two trees given the same
``--seed`` must give the same digest (the same rows, column for column).

``--source DIR`` runs another source tree (a baseline, e.g. a ``git worktree`` of main) with this
venv's interpreter; ``--runs`` alternates this checkout and the baseline.

    .venv/bin/python bench/rollup_job.py --db both --source /tmp/base --runs 2 [--hosts 200] [--tag T]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as h  # noqa: E402

T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)


def _results(args: argparse.Namespace, start: datetime, end: datetime, rng: random.Random) -> list[dict[str, Any]]:
    """Every result that starts in [start, end): each (host, item) every ``--every`` s, at its own offset."""
    out = []
    for host in range(args.hosts):
        for item in range(args.items):
            offset = (host * args.items + item) * 7 % args.every
            first = start + timedelta(seconds=(offset - (start - T0).total_seconds()) % args.every)
            at = first
            while at < end:
                used = round(rng.uniform(0, 100), 2)
                status = 1 if used > 80 else 0
                out.append({"uid": f"{rng.getrandbits(128):032x}", "site": "bench-site", "host": f"h{host:04d}",
                            "check": "disk", "item": f"/d{item}", "status": status,
                            "summary": f"/d{item} {used} % used", "standard": "used < 80 %", "started_at": at,
                            "received_at": at, "duration_ms": 1.0, "details": "{}", "messages": "",
                            "metrics": json.dumps([{"name": "used_percent", "value": used, "unit": "%"},
                                                   {"name": "free_bytes", "value": rng.randrange(10**11),
                                                    "unit": "B"}])})
                at += timedelta(seconds=args.every)
    return out


def worker(args: argparse.Namespace) -> dict[str, Any]:
    """Runs inside the tree under test (its ``collector`` on sys.path)."""
    from sqlalchemy import select

    from collector.jobs import RollupJob
    from collector.policy.defaults import default_policies
    from collector.retention import Retention
    from collector.store import queries, rollups
    from collector.store.db import make_engine, reading, writing
    from collector.store.migrate import upgrade
    from collector.store.rollup_tables import rollup_days, rollup_hours
    from collector.store.tables import result_series

    engine = make_engine(args.url)
    upgrade(engine)
    rng = random.Random(args.seed)
    job = RollupJob(engine, default_policies(), Retention(), clock=lambda: T0)
    step = timedelta(seconds=args.job)
    held: list[tuple[datetime, dict[str, Any]]] = []
    store_cpu, steps, results = 0.0, [], 0
    now = T0
    while now < T0 + timedelta(hours=args.hours):
        batch = _results(args, now, now + step, rng)
        now += step
        rng.shuffle(batch)
        for r in batch:
            if rng.random() < args.late:
                held.append((now + timedelta(minutes=rng.randrange(5, 60)), r))
        late = {id(r) for _, r in held}
        due = [r for r in batch if id(r) not in late] + [r for when, r in held if when <= now]
        held = [(when, r) for when, r in held if when > now]
        c0 = time.process_time()
        for i in range(0, len(due), 500):
            with writing(engine) as conn:
                queries.store_new_results(conn, due[i:i + 500])
        store_cpu += time.process_time() - c0
        results += len(due)
        c0, w0 = time.process_time(), time.perf_counter()
        job.step(now)
        steps.append((time.process_time() - c0, time.perf_counter() - w0))
    rollups.refresh(engine, lambda site: default_policies().for_site(site).calendar.zone,
                    before=datetime(2100, 1, 1, tzinfo=UTC))
    digest = hashlib.sha256()
    s = result_series.c
    with reading(engine) as conn:  # by series name: a host row's series id depends on when it was made
        for t in (rollup_hours, rollup_days):
            rows = conn.execute(select(s.host, s.check, s.item, *[c for c in t.c if c.name != "series_id"])
                                .join_from(t, result_series, s.id == t.c.series_id))
            for row in sorted(tuple(r) for r in rows):
                digest.update(repr(row).encode())
    engine.dispose()
    cpu = sorted(s[0] for s in steps)
    return {"results": results, "steps": len(steps), "job_cpu_s": round(sum(cpu), 3),
            "job_us_per_result": round(sum(cpu) / results * 1e6, 2),
            "store_us_per_result": round(store_cpu / results * 1e6, 2),
            "worst_step_cpu_s": round(cpu[-1], 3), "p99_step_cpu_s": round(cpu[int(0.99 * (len(cpu) - 1))], 3),
            "worst_step_wall_s": round(max(s[1] for s in steps), 3),
            "counts": dict(getattr(rollups, "counts", {})), "digest": digest.hexdigest()[:16]}


def run_one(args: argparse.Namespace, url: str, source: str | None) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=source or str(h.REPO))
    argv = [sys.executable, str(Path(__file__).resolve()), "--worker", "--url", url, "--hosts", str(args.hosts),
            "--items", str(args.items), "--every", str(args.every), "--hours", str(args.hours), "--job",
            str(args.job), "--late", str(args.late), "--seed", str(args.seed)]
    if source:
        argv[1:1] = ["-c", "import runpy, sys; sys.path.insert(0, sys.argv.pop(1)); sys.argv.pop(0); "
                     "runpy.run_path(sys.argv[0], run_name='__main__')", source]
    cp = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, cwd=source or str(h.REPO))
    if cp.returncode:
        raise RuntimeError(f"worker failed:\n{cp.stderr[-3000:]}")
    return json.loads(cp.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--hosts", type=int, default=200)
    ap.add_argument("--items", type=int, default=30)
    ap.add_argument("--every", type=int, default=300, help="seconds between two results of an item (300)")
    ap.add_argument("--hours", type=float, default=2.5, help="simulated hours (2.5: two hours close)")
    ap.add_argument("--job", type=int, default=60, help="simulated seconds between roll-up rounds (60, as serve)")
    ap.add_argument("--late", type=float, default=0.01, help="share of results stored 5-60 min late (0.01)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, default=1, help="runs of each tree, alternating")
    ap.add_argument("--source", help="a baseline source tree, run alternately with this checkout")
    ap.add_argument("--tag", help="write bench/results/rollup_job-TAG.json")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return
    out: dict[str, Any] = {"args": {k: v for k, v in vars(args).items() if k not in ("worker", "url")},
                           "machine": h.machine_info(), "runs": []}
    trees = [("head", None)] + ([("base", args.source)] if args.source else [])
    with h.Processes() as procs:
        for db, url in h.databases(procs, Path(tempfile.mkdtemp(prefix="wardround-bench-rollup-")), args.db):
            for i in range(args.runs):
                for name, source in trees if i % 2 == 0 else trees[::-1]:
                    fresh = _fresh(url, db, f"r{i}{name}")
                    r = run_one(args, fresh, source) | {"db": db, "tree": name, "run": i + 1}
                    out["runs"].append(r)
                    print(f"[{db}] {name} run {i + 1}: job {r['job_us_per_result']} µs/result "
                          f"(store {r['store_us_per_result']}), worst round {r['worst_step_cpu_s']} s CPU "
                          f"/ {r['worst_step_wall_s']} s wall, p99 round {r['p99_step_cpu_s']} s, "
                          f"{r['results']} results, digest {r['digest']} {r['counts']}", flush=True)
    if args.tag:
        print(f"wrote {h.write_json(f'rollup_job-{args.tag}.json', out)}")


def _fresh(url: str, db: str, name: str) -> str:
    """A new empty database next to ``url`` (another SQLite file, another PostgreSQL database)."""
    if db == "sqlite":
        return url.replace("bench.db", f"{name}.db")
    from sqlalchemy import create_engine, text

    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return url.rsplit("/", 1)[0] + f"/{name}"


if __name__ == "__main__":
    main()
