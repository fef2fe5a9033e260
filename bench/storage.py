"""Bytes per stored result, before (schema 0012) and after (head, compact rows), on SQLite and PostgreSQL.

Two steady patrols:

* ``linux``: the default Linux patrol (``disk`` and ``system``) run for real on this
  machine ``--patrols`` times in process (the runner keeps each check's state, as the
  agent does), then replayed for ``--hosts`` hosts five minutes apart;
* ``his``: a SQL Server HIS host's results shaped like ``bench/ingest.py``'s
  (disk, cpu, memory, MSSQLSERVER service, backup files) with the values a day
  brings: CPU and memory wander, the backup ages and is renewed each night.

"Before" stores the same rows through the 0012 ``results`` table (one row with every
name and text); "after" stores them with ``collector.store.queries.store_new_results``.
Bytes are the pages of the result tables and their indexes (SQLite ``dbstat``,
PostgreSQL ``pg_total_relation_size`` after VACUUM) divided by the results stored.

    .venv/bin/python bench/storage.py [--patrols 100] [--hosts 20] [--db sqlite postgresql]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import _harness as h  # noqa: E402

BEFORE_TABLES = ("results",)
AFTER_TABLES = ("result_rows", "result_series", "result_texts")


def linux_patrol(patrols: int) -> list[list[dict[str, Any]]]:
    """``patrols`` real runs of disk and system on this machine, as wire results."""
    from agent.runner import CheckRun, Runner
    from checks.catalogue import get_check

    runner = Runner("bench-site", "H")
    jobs = [CheckRun(spec=get_check(name), params=get_check(name).params(**params), timeout_s=30)
            for name, params in (("disk", {}), ("system", {"sample": 0.2}))]
    out = []
    for _ in range(patrols):
        out.append([r.to_wire() for job in jobs for r in runner.run(job)])
        time.sleep(0.05)
    return out


def his_patrol(patrols: int) -> list[list[dict[str, Any]]]:
    from checks.result import Metric, Result, Status

    rnd = random.Random(17)
    out = []
    for p in range(patrols):
        cpu, mem = rnd.uniform(5, 60), rnd.uniform(55, 75)
        age = (p % 288) * 300 + 4000
        size = 13314398617 + (p // 288) * 52428800
        rs = [
            Result(check="disk", item="D:\\", status=Status.OK,
                   summary=f"D:\\ 61.{p // 50 % 10} % used, 390.2 GiB free of 1.0 TiB", standard="used < 80 %",
                   metrics=(Metric("used_percent", 61 + p // 50 % 10 / 10, "%", 80.0, 90.0, 0, 100),
                            Metric("free_bytes", 418972180480.0 - p * 4096, "B", min=0, max=1099511627776.0),
                            Metric("total_bytes", 1099511627776.0, "B", min=0)),
                   details={"device": "D:", "fstype": "NTFS"}),
            Result(check="system", item="cpu", status=Status.OK,
                   summary=f"CPU {cpu:.1f} % busy (average over 300 s)", standard="CPU busy < 80 %",
                   metrics=(Metric("busy_percent", round(cpu, 2), "%", 80.0, 90.0, 0, 100),),
                   details={"window_s": 300.0, "cores": 16}),
            Result(check="system", item="memory", status=Status.OK,
                   summary=f"memory {mem:.1f} % used, {128 * (1 - mem / 100):.1f} GiB available of 128.0 GiB",
                   standard="memory used < 85 %",
                   metrics=(Metric("used_percent", round(mem, 2), "%", 85.0, 95.0, 0, 100),
                            Metric("available_bytes", float(int(137438953472 * (1 - mem / 100))), "B", min=0,
                                   max=137438953472.0),
                            Metric("total_bytes", 137438953472.0, "B", min=0)), details={}),
            Result(check="service", item="MSSQLSERVER", status=Status.OK, summary="MSSQLSERVER running",
                   standard="running", metrics=(Metric("running", 1.0, "", min=0, max=1),),
                   details={"start_type": "auto"}),
            Result(check="backup_files", item="E:\\Backup\\HIS", status=Status.OK,
                   summary=f"newest backup HIS_full.bak {age / 3600:.1f} h old, {size / 2**30:.1f} GiB",
                   standard="a backup after each scheduled run + 2h",
                   metrics=(Metric("age_seconds", float(age), "s", 93600.0, 180000.0),
                            Metric("size_bytes", float(size), "B", min=0)),
                   details={"file": "HIS_full.bak"}),
        ]
        out.append([dict(r.to_wire(), site="bench-site", host="H", id="0" * 32) for r in rs])
    return out


def rows_for(patrols: list[list[dict[str, Any]]], hosts: int) -> list[dict[str, Any]]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = []
    for n in range(hosts):
        for p, patrol in enumerate(patrols):
            at = start + timedelta(minutes=5 * p, seconds=n)
            for w in patrol:
                rows.append({
                    "uid": uuid.uuid4().hex, "site": "bench-site", "host": f"his-{n:03d}", "check": w["check"],
                    "item": w.get("item", ""), "status": int(w["status"]), "summary": w["summary"],
                    "standard": w.get("standard", ""), "started_at": at, "received_at": at + timedelta(seconds=2),
                    "duration_ms": float(w.get("duration_ms", 0)),
                    "metrics": orjson.dumps(w.get("metrics", [])).decode(),
                    "details": orjson.dumps(w.get("details", {})).decode()})
    return rows


def _size(engine: sa.Engine, tables: tuple[str, ...]) -> int:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            names = [n for t in tables for n in (t, *conn.execute(
                sa.text("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = :t"), {"t": t}).scalars())]
            return int(sum(conn.execute(sa.text("SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name = :n"),
                                        {"n": n}).scalar_one() for n in names))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
        # a partitioned table's own size is 0: its partitions hold the rows
        return int(sum(conn.execute(sa.text(
            "SELECT coalesce(sum(pg_total_relation_size(c)), 0) FROM (SELECT CAST(:t AS regclass) AS c "
            "UNION SELECT inhrelid FROM pg_inherits WHERE inhparent = CAST(:t AS regclass)) x"), {"t": t}).scalar_one()
                       for t in tables))


def measure(url: str, rows: list[dict[str, Any]], before: bool) -> dict[str, Any]:
    from collector.store import queries
    from collector.store.db import make_engine
    from collector.store.migrate import upgrade
    from collector.store.tables import UTCDateTime

    engine = make_engine(url)
    try:
        upgrade(engine, "0012" if before else "head")
        t0 = time.perf_counter()
        for i in range(0, len(rows), 500):
            chunk = [dict(r) for r in rows[i:i + 500]]
            with engine.begin() as conn:
                if before:
                    legacy = sa.Table("results", sa.MetaData(), *(
                        sa.Column(k, UTCDateTime if k.endswith("_at") else sa.Float if k == "duration_ms"
                                  else sa.SmallInteger if k == "status" else sa.Text) for k in chunk[0]))
                    conn.execute(sa.insert(legacy), chunk)
                else:
                    queries.store_new_results(conn, chunk)
        seconds = time.perf_counter() - t0
        size = _size(engine, BEFORE_TABLES if before else AFTER_TABLES)
        return {"results": len(rows), "bytes": size, "bytes_per_result": round(size / len(rows), 1),
                "store_seconds": round(seconds, 2)}
    finally:
        engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patrols", type=int, default=100)
    ap.add_argument("--hosts", type=int, default=20)
    ap.add_argument("--db", nargs="+", default=["sqlite", "postgresql"])
    ap.add_argument("--out", default=str(h.RESULTS_DIR / "storage.json"))
    args = ap.parse_args()
    patrols = {"linux": linux_patrol(args.patrols), "his": his_patrol(args.patrols)}
    report: dict[str, Any] = {**h.machine_info(), "patrols": args.patrols, "hosts": args.hosts,
                              "figures": []}
    with tempfile.TemporaryDirectory() as tmp:
        for db in args.db:
            for name, patrol in patrols.items():
                rows = rows_for(patrol, args.hosts)
                raw = sum(len(orjson.dumps({k: str(v) for k, v in r.items()})) for r in rows) / len(rows)
                for before in (True, False):
                    url, drop = _database(db, Path(tmp), f"{name}_{'before' if before else 'after'}")
                    try:
                        fig = measure(url, rows, before)
                    finally:
                        drop()
                    fig.update(db=db, patrol=name, schema="0012" if before else "compact",
                               wire_bytes_per_result=round(raw))
                    report["figures"].append(fig)
                    print(json.dumps(fig), flush=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")


_CLUSTER: dict[str, Any] = {}


def _database(db: str, tmp: Path, name: str) -> tuple[str, Any]:
    if db == "sqlite":
        return f"sqlite:///{tmp}/{name}.db", lambda: None
    from tests.collector.conftest import remove_pg_cluster, start_pg_cluster  # the tests' throwaway cluster

    if "cluster" not in _CLUSTER:
        _CLUSTER["cluster"] = start_pg_cluster()
        import atexit
        atexit.register(remove_pg_cluster, _CLUSTER["cluster"])
    cluster = _CLUSTER["cluster"]
    dbname = cluster.create_db()
    return cluster.url(dbname), lambda: cluster.drop_db(dbname)


if __name__ == "__main__":
    main()
