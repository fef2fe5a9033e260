#!/usr/bin/env python3
"""SQLite: what one stored result costs as the file grows, and which index makes it grow.

Stores bench/ingest.py-shaped batches (500 results of one host: 100 series x 5
patrols, 16 hosts in turn, time-ordered ids) into a migrated collector database
with the collector's own writer (``collector.store.queries.store_new_results`` in
``collector.store.db.writing``: WAL, ``synchronous=FULL``, the collector's pragmas),
and reports per slice of ``--slice`` results: CPU and wall time per result and WAL
frames written per batch (``PRAGMA wal_checkpoint`` counts are not used: the
frames are counted from the WAL's size growth with autocheckpoint off in a
separate ``--variant nockpt``).

Variants (``--variant``, several allowed), each a fresh file:

* ``as-is``: the schema and pragmas the collector uses;
* ``no-series-index``: the results' query index dropped (``ix_result_rows_series_started``
  before migration 0019, ``ix_result_rows_host_started`` since; diagnosis only: readers need it);
* ``autockpt-N``: ``PRAGMA wal_autocheckpoint = N`` pages instead of
  ``collector.store.db.WAL_CHECKPOINT_PAGES``.

    .venv/bin/python bench/sqlite_growth.py --results 1500000 --variant as-is no-series-index autockpt-4000

Writes ``bench/results/sqlite-growth[-TAG].json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import _harness as h  # noqa: E402

SERIES, PATROLS, HOSTS = 100, 5, 16


def _batch(host: int, at: datetime, received: datetime) -> list[dict[str, Any]]:
    from checks.result import new_result_id

    rows = []
    for patrol in range(PATROLS):
        started = at + timedelta(minutes=patrol)
        for s in range(SERIES):
            rows.append({"uid": new_result_id(), "site": "bench", "host": f"bench-{host:03d}",
                         "check": "disk" if s % 2 else "system", "item": f"/data{s}", "status": 0,
                         "summary": f"/data{s}: {40 + (s + patrol) % 50}% used", "standard": "<= 90%",
                         "started_at": started, "received_at": received, "duration_ms": 1.5 + s % 7,
                         "metrics": f'[{{"name":"used_pct","value":{40 + (s + patrol) % 50},"unit":"%"}}]',
                         "details": "{}", "messages": None})
    return rows


def run(variant: str, results: int, slice_size: int) -> dict[str, Any]:
    from collector.store import db, queries
    from collector.store.migrate import upgrade

    tmp = Path(tempfile.mkdtemp(prefix="wardround-bench-growth-"))
    path = tmp / "collector.db"
    engine = db.make_engine(f"sqlite:///{path}")
    upgrade(engine)
    pages = db.WAL_CHECKPOINT_PAGES
    if variant.startswith("autockpt-"):
        pages = int(variant.split("-", 1)[1])
    if variant == "nockpt":
        pages = 0

    @event.listens_for(engine, "connect")
    def _pages(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute(f"PRAGMA wal_autocheckpoint = {pages}")

    engine.dispose()  # every connection from now on with the variant's pragma
    if variant == "no-series-index":
        from collector.store.tables import result_rows

        with engine.begin() as conn:
            for index in result_rows.indexes:
                conn.exec_driver_sql(f"DROP INDEX {index.name}")
    start = datetime(2026, 11, 1, tzinfo=UTC)
    slices: list[dict[str, Any]] = []
    cpu = wall = 0.0
    done = in_slice = batches = 0
    wal0 = 0
    while done < results:
        host = batches % HOSTS
        at = start + timedelta(minutes=5 * (batches // HOSTS))
        rows = _batch(host, at, at + timedelta(minutes=5))
        c0, w0 = time.process_time(), time.perf_counter()
        with db.writing(engine) as conn:
            queries.store_new_results(conn, rows)
        cpu += time.process_time() - c0
        wall += time.perf_counter() - w0
        done += len(rows)
        in_slice += len(rows)
        batches += 1
        if in_slice >= slice_size:
            wal = os.path.getsize(f"{path}-wal")
            slices.append({"results_stored": done, "cpu_us_per_result": round(cpu / in_slice * 1e6, 2),
                           "wall_us_per_result": round(wall / in_slice * 1e6, 2),
                           "file_mb": round(os.path.getsize(path) / 2**20, 1),
                           "wal_kib_per_batch": round((wal - wal0) / 1024 / (in_slice / len(rows)), 1)
                           if variant == "nockpt" else None})
            print(f"[{variant}] {done:>9} results: {slices[-1]['cpu_us_per_result']:6.2f} us CPU, "
                  f"{slices[-1]['wall_us_per_result']:6.2f} us wall per result, file {slices[-1]['file_mb']} MB"
                  + (f", WAL {slices[-1]['wal_kib_per_batch']} KiB a batch" if variant == "nockpt" else ""),
                  flush=True)
            cpu = wall = 0.0
            in_slice, wal0 = 0, wal
    engine.dispose()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    tmp.rmdir()
    return {"variant": variant, "wal_autocheckpoint": pages, "slices": slices}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", type=int, default=1_500_000, help="results stored per variant (default 1,500,000)")
    ap.add_argument("--slice", type=int, default=250_000, help="results per reported slice (default 250,000)")
    ap.add_argument("--variant", nargs="+", default=["as-is", "no-series-index"],
                    help="as-is, no-series-index, autockpt-N, nockpt (WAL bytes per batch; the WAL grows unbounded)")
    ap.add_argument("--tag", default="")
    args = ap.parse_args()
    out = {"machine": h.machine_info(), "batch": SERIES * PATROLS, "hosts": HOSTS,
           "runs": [run(v, args.results, args.slice) for v in args.variant]}
    path = h.write_json(f"sqlite-growth{'-' + args.tag if args.tag else ''}.json", out)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
