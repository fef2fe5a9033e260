#!/usr/bin/env python3
"""What the ticket rules add to ingest: the same batches stored with and without them.

In-process, on a temp SQLite file (and PostgreSQL with ``--pg-url``), with
the collector's real :class:`collector.ingest.Ingestor`: batches of 500
results from one host (100 check items x 5 patrols, fresh ids, increasing
``started_at``), stored through ``Ingestor.store`` — no HTTP, no JSON
parsing, so the difference is the ticket work alone.  Three workloads:

* ``healthy``: every result OK (the common case; no ticket state is kept);
* ``10% failing``: 10 of the 100 items CRITICAL (disk) every patrol — live
  tickets counting occurrences;
* ``10% flapping``: 10 items alternating CRITICAL/OK — streak rows written
  every batch, one flapping ticket each.

Alternates with/without ``--rounds`` times and reports the median
results/s of each.  Writes ``bench/results/ticket_rules_cost.json``.

Usage::

    .venv/bin/python bench/ticket_rules_cost.py
    .venv/bin/python bench/ticket_rules_cost.py --pg-url postgresql+psycopg://postgres@127.0.0.1:5432/x
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _harness as h  # noqa: E402

from collector.auth import Agent  # noqa: E402
from collector.ingest import Batch, Ingestor  # noqa: E402
from collector.store.db import make_engine  # noqa: E402
from collector.store.migrate import upgrade  # noqa: E402
from collector.tickets import Tickets  # noqa: E402

SITE = "bench-hospital"
ITEMS = 100


def batches(host: str, n: int, mode: str, start: datetime) -> list[Batch]:
    out = []
    now = datetime.now(UTC)
    for b in range(n):
        rows = []
        for patrol in range(5):
            at = start + timedelta(minutes=5 * (5 * b + patrol))
            for i in range(ITEMS):
                bad = i < 10 and (mode == "failing" or (mode == "flapping" and (5 * b + patrol) % 2 == 0))
                rows.append({"uid": uuid.uuid4().hex, "site": SITE, "host": host, "check": "disk",
                             "item": f"/m{i}", "status": 2 if bad else 0, "summary": "x",
                             "standard": "used < 80 %", "started_at": at, "received_at": now,
                             "duration_ms": 1.0, "metrics": "[]", "details": "{}"})
        out.append(Batch(rows=rows, ids=[r["uid"] for r in rows]))
    return out


def measure(url: str, mode: str, with_tickets: bool, n: int, tag: str) -> float:
    engine = make_engine(url)
    try:
        ingestor = Ingestor(engine, tickets=Tickets(engine) if with_tickets else None)
        host = f"h-{tag}-{uuid.uuid4().hex[:6]}"
        agent = Agent(site=SITE, host=host)
        work = batches(host, n, mode, datetime(2026, 11, 24, tzinfo=UTC))
        ingestor.store(agent, work[0], datetime.now(UTC))  # warm: first rows, plans, connections
        begin = time.perf_counter()
        for batch in work[1:]:
            ingestor.store(agent, batch, datetime.now(UTC))
        return (len(work) - 1) * 500 / (time.perf_counter() - begin)
    finally:
        engine.dispose()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pg-url", help="also measure on this (empty, migrated or not) PostgreSQL database")
    ap.add_argument("--batches", type=int, default=41)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    urls = {"sqlite": f"sqlite:///{Path(tempfile.mkdtemp(prefix='wardround-rules-')) / 'c.db'}"}
    if args.pg_url:
        urls["postgresql"] = args.pg_url
    report: dict[str, Any] = {"batch_results": 500, "batches": args.batches - 1, "rounds": args.rounds,
                              "machine": h.machine_info(), "results_per_s": {}}
    rows = []
    for db, url in urls.items():
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        for mode in ("healthy", "failing", "flapping"):
            figures: dict[str, list[float]] = {"without": [], "with": []}
            for r in range(args.rounds):
                for key, flag in (("without", False), ("with", True)):
                    figures[key].append(measure(url, mode, flag, args.batches, f"{mode}{r}{key}"))
            med = {k: statistics.median(v) for k, v in figures.items()}
            report["results_per_s"][f"{db}/{mode}"] = {**figures, "median": med}
            rows.append([db, mode, h.fmt(med["without"], ".0f"), h.fmt(med["with"], ".0f"),
                         h.fmt(100 * (med["with"] / med["without"] - 1), "+.0f")])
    path = h.write_json("ticket_rules_cost.json", report)
    print(h.table(["db", "workload", "results/s without rules", "with rules", "change %"], rows))
    print(f"\nwritten to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
