"""The collector's ingest in process: CPU µs per result of ``Ingestor.ingest`` and of ``parse_batch`` alone.

No HTTP, no other process: one ``Ingestor`` (ticket rules on) writes to a fresh SQLite file (or the
``--db`` URL) with the garbage-collector settings of a serving collector (``collector.cli.settle_heap``),
fed with ``bench/ingest.py``'s 500-result bodies from 8 hosts.  ``--db postgresql`` starts a throwaway
PostgreSQL 15 cluster (``bench/ingest.py``'s, fsync on) and also prints the server's CPU (all its processes)
per result.  The bench's bodies repeat their texts
exactly from batch to batch; ``--varied`` changes the numbers in every result (summaries, metric values,
message arguments), as a fleet's next patrol does, so the texts' caches miss.  ``--source TREE`` runs
another tree's collector (a baseline); compare trees alternately, in the same session.  ``--store`` times
the storing half alone (``Ingestor.store`` of batches parsed before the clock starts), ``--reps N`` times
the batches N times over (fresh bodies each time) and prints each: on a busy machine the least is the figure.

    .venv/bin/python bench/ingest_inprocess.py [--batches 120] [--varied] [--source TREE] [--db URL|postgresql]
                                               [--store] [--reps N]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
HOSTS = 8
WARM = 16  # batches before the timed ones: caches and the file's first pages


def vary(body: bytes, rnd: random.Random) -> bytes:
    """``body`` with other numbers in every result: its summary's percentages, byte and percent metrics'
    values, a disk message's ``used``."""
    doc = json.loads(body)
    for r in doc["results"]:
        f = rnd.random() * 100
        r["summary"] = (r["summary"].replace("41.5", f"{f:.1f}").replace("1.6 %", f"{f:.1f} %")
                        .replace("2.0 %", f"{f:.1f} %"))
        for m in r["metrics"]:
            if m["unit"] in ("B", "%"):
                m["value"] = round(m["value"] * (0.5 + rnd.random()), 2)
        if r.get("message") and "used" in r["message"]["args"]:
            r["message"]["args"]["used"] = round(f, 1)
    return json.dumps(doc, separators=(",", ":")).encode()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batches", type=int, default=120, help="timed batches of 500 results (default 120)")
    ap.add_argument("--varied", action="store_true", help="other numbers in every result")
    ap.add_argument("--source", metavar="TREE", help="the collector of another source tree (a baseline)")
    ap.add_argument("--db", metavar="URL", help="a database URL, or postgresql: a throwaway cluster (default: a "
                    "fresh SQLite file)")
    ap.add_argument("--store", action="store_true", help="time Ingestor.store alone (the batches parsed before)")
    ap.add_argument("--reps", type=int, default=1, help="time that many rounds of fresh batches (default 1)")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(args.source).resolve() if args.source else BENCH.parent))
    sys.path.insert(1, str(BENCH))  # (bench/_harness imports the collector: the tree's, from here on)
    if args.db == "postgresql":
        import _harness as h
        from ingest import postmaster_pid, start_postgres  # type: ignore[import-not-found]

        with h.Processes() as procs:
            url, data = start_postgres(procs, fsync=True)
            server = postmaster_pid(data)
            run(args, url, lambda: h.tree_cpu(server))
        return
    run(args, args.db, None)


def run(args: argparse.Namespace, url: str | None, server_cpu: Any) -> None:
    """The timed batches against ``url`` (None: a fresh SQLite file); ``server_cpu()``: the server's CPU seconds."""
    import gc

    from ingest import BatchMaker  # type: ignore[import-not-found]

    from collector.auth import Agent
    from collector.ingest import Ingestor, parse_batch
    from collector.store.db import make_engine
    from collector.store.migrate import upgrade
    from collector.tickets import Tickets

    engine = make_engine(url or f"sqlite:///{tempfile.mkdtemp(prefix='wardround-inproc-')}/c.db")
    upgrade(engine)
    ingestor = Ingestor(engine, tickets=Tickets(engine))
    makers = [BatchMaker(f"H{i}", False) for i in range(HOSTS)]
    agents = [Agent(site="bench-site", host=f"H{i}") for i in range(HOSTS)]
    rnd = random.Random(7)
    for rep in range(args.reps):
        bodies: list[tuple[Any, bytes]] = []
        for i in range(WARM + args.batches):
            body = makers[i % HOSTS].make()[0]
            bodies.append((agents[i % HOSTS], vary(body, rnd) if args.varied else body))
        for agent, body in bodies[:WARM]:
            ingestor.ingest(agent, body)
        if rep == 0:
            gc.collect()  # as collector.cli.settle_heap, which imports the whole CLI
            gc.freeze()
            gc.set_threshold(10_000, 20, 20)
        timed = bodies[WARM:]
        now = datetime.now(UTC)
        batches = [(agent, parse_batch(body, now)) for agent, body in timed] if args.store else []
        served = server_cpu() if server_cpu else 0.0
        start = time.process_time()
        if args.store:
            for agent, batch in batches:
                ingestor.store(agent, batch)
        else:
            for agent, body in timed:
                ingestor.ingest(agent, body)
        ingest_us = (time.process_time() - start) / (len(timed) * 500) * 1e6
        server_us = (server_cpu() - served) / (len(timed) * 500) * 1e6 if server_cpu else None
        start = time.process_time()
        for _, body in timed:
            parse_batch(body, now)
        parse_us = (time.process_time() - start) / (len(timed) * 500) * 1e6
        print(f"{'store' if args.store else 'ingest'} {ingest_us:.2f} us CPU/result, parse_batch {parse_us:.2f}"
              + (f", server {server_us:.2f}" if server_us is not None else "")
              + f" ({'varied' if args.varied else 'bench'} bodies, {args.source or 'this checkout'})", flush=True)


if __name__ == "__main__":
    main()
