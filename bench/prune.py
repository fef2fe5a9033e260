"""Ingest latency while the retention prune runs, on SQLite (and PostgreSQL).

Loads ``--old`` results older than the retention and ``--young`` recent ones (the
``linux`` patrol of ``bench/storage.py``, compact rows), then stores 500-result
batches at ``--rate`` results/s from one thread for ``--seconds`` twice: alone, and
while another thread runs :func:`collector.retention.prune` as the daily job does
(5,000-row batches, 50 ms between them).  Prints p50/p99/max batch latency of both
runs, the prune's duration and what it removed, and the file size before/after.

    .venv/bin/python bench/prune.py [--old 300000] [--young 100000] [--db sqlite postgresql]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import _harness as h  # noqa: E402
import storage  # noqa: E402

NOW = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)


def _rows(template: list[dict[str, Any]], n: int, start: datetime, host_prefix: str) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        r = dict(template[i % len(template)])
        r["uid"] = uuid.uuid4().hex
        r["host"] = f"{host_prefix}{i // 3000:03d}"
        r["started_at"] = r["received_at"] = start + timedelta(seconds=i // 50)
        out.append(r)
    return out


def _load(engine: Any, rows: list[dict[str, Any]]) -> None:
    from collector.store import queries
    from collector.store.db import writing

    for i in range(0, len(rows), 5000):
        with writing(engine) as conn:
            queries.store_new_results(conn, rows[i:i + 5000])


def _ingest(engine: Any, template: list[dict[str, Any]], rate: int, seconds: float,
            stop: threading.Event | None = None) -> list[float]:
    from collector.store import queries
    from collector.store.db import writing

    lat = []
    t_end = time.monotonic() + seconds
    every = 500 / rate
    nxt = time.monotonic()
    while time.monotonic() < t_end and not (stop and stop.is_set()):
        batch = _rows(template, 500, datetime.now(UTC), "live")
        t0 = time.perf_counter()
        with writing(engine) as conn:
            queries.store_new_results(conn, batch)
        lat.append((time.perf_counter() - t0) * 1000)
        nxt += every
        time.sleep(max(0.0, nxt - time.monotonic()))
    return lat


def run(db: str, tmp: Path, args: argparse.Namespace, template: list[dict[str, Any]]) -> dict[str, Any]:
    from collector.retention import Retention, prune
    from collector.store.db import make_engine
    from collector.store.migrate import upgrade

    url, drop = storage._database(db, tmp, "prune")
    engine = make_engine(url)
    try:
        upgrade(engine)
        _load(engine, _rows(template, args.old, NOW - timedelta(days=700), "old"))
        _load(engine, _rows(template, args.young, NOW - timedelta(days=30), "young"))
        size_before = storage._size(engine, storage.AFTER_TABLES)
        alone = _ingest(engine, template, args.rate, args.seconds)
        outcome: dict[str, Any] = {}
        done = threading.Event()

        def pruner() -> None:
            t0 = time.perf_counter()
            try:
                rep = prune(engine, Retention(), NOW, pause=0.05)
                outcome.update(removed=rep.results, batches=rep.batches, freed_pages=rep.freed_pages,
                               seconds=round(time.perf_counter() - t0, 1))
            finally:
                done.set()

        thread = threading.Thread(target=pruner)
        thread.start()
        during = _ingest(engine, template, args.rate, 3600, stop=done)
        thread.join()
        while len(during) < 20:  # the prune ended quickly: still time the batches it overlapped
            during += _ingest(engine, template, args.rate, 1)
        size_after = storage._size(engine, storage.AFTER_TABLES)
        return {"db": db, "old": args.old, "young": args.young, "rate": args.rate, "alone": h.latency_ms(alone),
                "during_prune": h.latency_ms(during), "prune": outcome,
                "bytes_before": size_before, "bytes_after": size_after}
    finally:
        engine.dispose()
        drop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--old", type=int, default=300_000)
    ap.add_argument("--young", type=int, default=100_000)
    ap.add_argument("--rate", type=int, default=2000, help="results per second ingested meanwhile")
    ap.add_argument("--seconds", type=float, default=10, help="the run without a prune")
    ap.add_argument("--db", nargs="+", default=["sqlite"])
    ap.add_argument("--out", default=str(h.RESULTS_DIR / "prune.json"))
    args = ap.parse_args()
    patrol = storage.linux_patrol(5)
    template = storage.rows_for(patrol, 1)
    h.each_database(args.db, args.out, lambda db, tmp: run(db, tmp, args, template))


if __name__ == "__main__":
    main()
