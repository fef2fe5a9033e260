#!/usr/bin/env python3
"""Collector ingest: results per second and batch latency, on SQLite and on PostgreSQL.

Starts one real ``wardround-collector serve`` process per database (a temp
SQLite file; a throwaway PostgreSQL 15 cluster made with ``initdb`` and
``pg_ctl`` as user ``postgres``), creates one agent token per simulated host
with ``wardround-collector token create``, and drives ``POST /api/v1/results``
from ``--senders`` load-generator *processes*, each with one keep-alive
``http.client`` connection.

Every batch holds 500 valid wire results from one host (100 check/item
series x 5 patrols, shaped like the real ``disk`` and ``system`` results; ``--batch N``
sends the first N of them instead, e.g. 1 or 30 as an agent pushes after one patrol) with
fresh ids, gzip-compressed as the agent sends them (``--no-gzip`` to send
plain JSON).  Bodies are generated in the sender processes *before* each
timed phase, so the timed loop only sends, reads the answer and counts.

Phases per database: a warm-up at full load (not reported), ``--runs`` runs
at full load (closed loop: each sender sends its next batch as soon as the
last was answered), and ``--runs`` runs at a fixed offered rate of
``--rate`` batches/s (default 10 = 5,000 results/s, open loop: latency is
also given from each batch's scheduled send time, so a stall is not hidden).
At the end the rows in the database's ``results`` table must equal the ids
the collector acknowledged as accepted.

``--stub`` measures the load generator alone against a trivial HTTP server
that reads the body and answers a constant: the generator's own ceiling.

Usage::

    .venv/bin/python bench/ingest.py                        # both databases
    .venv/bin/python bench/ingest.py --db sqlite --seconds 20 --senders 8
    .venv/bin/python bench/ingest.py --db postgresql --pg-fsync off
    .venv/bin/python bench/ingest.py --profile              # + py-spy of the collector
    .venv/bin/python bench/ingest.py --stub                 # generator ceiling

Writes ``bench/results/ingest.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import http.client
import json
import multiprocessing as mp
import os
import pwd
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as h  # noqa: E402

BATCH = 500
SERIES = 100  # distinct (check, item) per host; BATCH / SERIES patrols per batch
PATROL_S = 10
SITE = "bench-site"
PG_BIN = Path("/usr/lib/postgresql/15/bin")

# ------------------------------------------------------------------ batches


def _template_results() -> list[dict[str, Any]]:
    """100 wire results shaped like real ones; id and started_at are markers.  ``disk`` and ``backup_files``
    carry their summary and standard as message keys too, as those checks send them (issue 14)."""
    from checks.messages import say
    from checks.result import Metric, Result, Status

    def disk_used(n: int) -> str:
        return say("disk.used", mount=f"/data{n}", used=41.5, free=85515014144, total=270553174016)

    def backup_ok(n: int) -> str:
        return say("backup_files.ok_age", name=f"db{n}_full.bak", size=13314398617,
                   finished="2026-11-23 05:12", age=11520.0)

    shapes: list[tuple[str, str, Any, Any, list[Metric], dict[str, Any]]] = [
        ("disk", "/data{n}", disk_used, say("disk.standard", warn=80.0, days=30),
         [Metric("used_percent", 41.5, "%", 80.0, 90.0, 0, 100), Metric("free_bytes", 85515014144.0, "B",
          min=0, max=270553174016.0), Metric("total_bytes", 270553174016.0, "B", min=0)],
         {"device": "/dev/vdb", "fstype": "ext4"}),
        ("system", "cpu{n}", "CPU 2.0 % busy (average over 1 s)", "CPU busy < 80 %",
         [Metric("busy_percent", 2.01, "%", 80.0, 90.0, 0, 100)], {"window_s": 1.0, "cores": 2}),
        ("system", "memory{n}", "memory 1.6 % used, 23.2 GiB available of 23.5 GiB", "memory used < 85 %",
         [Metric("used_percent", 1.59, "%", 85.0, 95.0, 0, 100), Metric("available_bytes", 24874766336.0,
          "B", min=0, max=25276514304.0), Metric("total_bytes", 25276514304.0, "B", min=0)], {}),
        ("service", "svc{n}", "MSSQLSERVER{n} running", "running",
         [Metric("running", 1.0, "", min=0, max=1)], {"start_type": "auto"}),
        ("backup_files", "/backups/db{n}", backup_ok, say("backup_files.standard_age", max_age=93600.0),
         [Metric("age_seconds", 11520.0, "s", 93600.0, 180000.0),
          Metric("size_bytes", 13314398617.0, "B", min=0)], {"file": "db_full.bak"}),
    ]
    out = []
    for i in range(SERIES):
        check, item, summary, standard, metrics, details = shapes[i % len(shapes)]
        n = i // len(shapes)
        status = Status.WARNING if i % 37 == 0 else Status.OK
        r = Result(check=check, item=item.format(n=n), status=status,
                   summary=summary(n) if callable(summary) else summary.format(n=n),
                   standard=standard, metrics=tuple(metrics), details=details, site=SITE, host="H",
                   duration_ms=1.234, id="0" * 32)
        out.append(r.to_wire())
    return out


class BatchMaker:
    """Makes unique 500-result bodies fast: a pre-serialised template with the ids and times filled in."""

    def __init__(self, host: str, gzip: bool, size: int = BATCH) -> None:
        batch = []
        self.patrols = -(-size // SERIES)
        for p in range(self.patrols):
            for w in _template_results():
                w = dict(w, host=host, id="@@ID@@", started_at=f"@@T{p}@@")
                batch.append(w)
        text = json.dumps({"results": batch[:size]}, separators=(",", ":"))
        self.parts = re.split(r"@@(ID|T\d)@@", text)
        self.gzip = gzip
        self.host = host
        self.size = size

    def make(self, now: datetime | None = None) -> tuple[bytes, int]:
        from checks.result import format_time, new_result_id

        now = now or datetime.now(UTC)
        patrols = self.patrols
        times = [format_time(now - timedelta(seconds=PATROL_S * (patrols - 1 - k))) for k in range(patrols)]
        out = []
        parts = self.parts
        for i in range(0, len(parts) - 1, 2):
            out.append(parts[i])
            marker = parts[i + 1]
            out.append(new_result_id() if marker == "ID" else times[int(marker[1:])])
        out.append(parts[-1])
        body = "".join(out).encode()
        if self.gzip:
            c = zlib.compressobj(6, zlib.DEFLATED, 31)
            body = c.compress(body) + c.flush()
        return body, self.size


# ------------------------------------------------------------------ senders


def sender_main(idx: int, port: int, hosts: list[tuple[str, str]], gzip: bool, conn: Any, size: int = BATCH) -> None:
    """One load-generator process: prepares bodies on command, then sends them on a keep-alive connection."""
    try:
        _sender_loop(idx, port, hosts, gzip, conn, size)
    except (KeyboardInterrupt, EOFError, BrokenPipeError):
        pass  # the parent was interrupted or is gone: it reports and cleans up


def _sender_loop(idx: int, port: int, hosts: list[tuple[str, str]], gzip: bool, conn: Any, size: int) -> None:
    makers = [(BatchMaker(host, gzip, size), token) for host, token in hosts]
    ready: collections.deque[tuple[bytes, str]] = collections.deque()
    turn = 0
    http_conn: http.client.HTTPConnection | None = None
    while True:
        cmd = conn.recv()
        if cmd[0] == "quit":
            return
        _, mode, duration, rate_per_sender, offset, need = cmd
        t_gen = time.perf_counter()
        while len(ready) < need:
            maker, token = makers[turn % len(makers)]
            turn += 1
            ready.append((maker.make()[0], token))
        gen_s = time.perf_counter() - t_gen
        body_bytes = sum(len(b) for b, _ in list(ready)[:20]) / max(1, min(20, len(ready)))
        conn.send(("ready", gen_s, body_bytes))
        t_start = conn.recv()[1]
        time.sleep(max(0.0, t_start - time.time()))
        records = []
        inline = retries = 0
        cpu0 = time.process_time()
        t_end = t_start + duration
        k = 0
        while True:
            if mode == "rate":
                scheduled = t_start + offset + k / rate_per_sender
                if scheduled >= t_end:
                    break
                wait = scheduled - time.time()
                if wait > 0:
                    time.sleep(wait)
            else:
                scheduled = time.time()
                if scheduled >= t_end:
                    break
            k += 1
            if not ready:
                maker, token = makers[turn % len(makers)]
                turn += 1
                ready.append((maker.make()[0], token))
                inline += 1
            body, token = ready.popleft()
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            if gzip:
                headers["Content-Encoding"] = "gzip"
            t0 = time.time()
            status, acc, dup = -1, 0, 0
            try:
                for attempt in (1, 2):
                    fresh = http_conn is None
                    if fresh:
                        http_conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                    try:
                        http_conn.request("POST", "/api/v1/results", body=body, headers=headers)
                        resp = http_conn.getresponse()
                    except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
                        # The server closed an idle keep-alive connection; a client retries once
                        # on a new one (safe: ingest is idempotent by result id).
                        http_conn.close()
                        http_conn = None
                        if fresh or attempt == 2:
                            raise
                        retries += 1
                        continue
                    break
                data = resp.read()
                status = resp.status
                if status == 200:
                    answer = json.loads(data)
                    acc, dup = len(answer.get("accepted", ())), len(answer.get("duplicates", ()))
                elif len(records) < 3 or status >= 500:
                    sys.stderr.write(f"sender {idx}: HTTP {status}: {data[:300]!r}\n")
            except Exception as exc:  # noqa: BLE001 - a failed batch is counted, the run goes on
                sys.stderr.write(f"sender {idx}: {type(exc).__name__}: {exc}\n")
                if http_conn is not None:
                    http_conn.close()
                http_conn = None
            t1 = time.time()
            records.append((t0 - t_start, t1 - t0, t1 - scheduled, status, acc, dup))
        conn.send(("done", records, inline, time.process_time() - cpu0, retries))


class Senders:
    def __init__(self, n: int, port: int, tokens: list[tuple[str, str]], gzip: bool, size: int = BATCH) -> None:
        ctx = mp.get_context("spawn")
        self.size = size
        self.pipes = []
        self.procs = []
        for i in range(n):
            parent, child = ctx.Pipe()
            mine = [t for j, t in enumerate(tokens) if j % n == i] or [tokens[i % len(tokens)]]
            p = ctx.Process(target=sender_main, args=(i, port, mine, gzip, child, size), daemon=True)
            p.start()
            self.pipes.append(parent)
            self.procs.append(p)

    def phase(self, mode: str, duration: float, *, rate: float = 0.0, need_total: int = 0,
              watch: dict[str, int] | None = None, active: int = 0) -> dict[str, Any]:
        """One timed run; ``active`` senders take part (default all)."""
        pipes = self.pipes[:active] if active else self.pipes
        n = len(pipes)
        per = rate / n if mode == "rate" else 0.0
        for i, pipe in enumerate(pipes):
            offset = i / rate if mode == "rate" else 0.0
            pipe.send(("run", mode, duration, per, offset, -(-need_total // n)))
        gen = [pipe.recv() for pipe in pipes]
        t_start = time.time() + 0.3
        time.sleep(max(0.0, t_start - time.time()))
        cpu0 = {k: h.tree_cpu(pid) for k, pid in (watch or {}).items()}
        busy0 = h.machine_busy_seconds()
        for pipe in pipes:
            pipe.send(("go", t_start))
        done = [pipe.recv() for pipe in pipes]
        cpu = {k: h.tree_cpu(pid) - cpu0[k] for k, pid in (watch or {}).items()}
        busy = h.machine_busy_seconds() - busy0
        records = [r for d in done for r in d[1]]
        ok = [r for r in records if r[3] == 200]
        lat = [r[1] * 1000 for r in ok]
        sched = [r[2] * 1000 for r in ok]
        accepted = sum(r[4] for r in records)
        wall = max([duration] + [r[0] + r[1] for r in records])
        return {
            "mode": mode, "senders": n, "seconds": duration, "wall_s": round(wall, 2),
            "offered_batches_per_s": rate if mode == "rate" else None,
            "batches": len(records), "batches_ok": len(ok),
            "errors": collections.Counter(r[3] for r in records if r[3] != 200),
            "accepted": accepted, "duplicates": sum(r[5] for r in records),
            "results_per_s": round(accepted / wall, 1),
            "sent_results_per_s": round(len(ok) * self.size / wall, 1),
            "batches_per_s": round(len(ok) / wall, 2),
            "latency_ms": {"p50": h.percentile(lat, 50), "p90": h.percentile(lat, 90),
                           "p99": h.percentile(lat, 99), "max": max(lat) if lat else None},
            "latency_from_schedule_ms": {"p50": h.percentile(sched, 50), "p99": h.percentile(sched, 99)}
            if mode == "rate" else None,
            "cpu_cores": {k: round(v / wall, 2) for k, v in cpu.items()} | {
                "senders": round(sum(d[3] for d in done) / wall, 2),
                # everything else on the machine (other sessions' tests): the noise
                "others": round(max(0.0, busy - sum(cpu.values()) - sum(d[3] for d in done)) / wall, 2)},
            "collector_cpu_us_per_result": (round(cpu["collector"] * 1e6 / accepted, 1)
                                            if accepted and "collector" in cpu else None),
            "postgres_cpu_us_per_result": (round(cpu["postgres"] * 1e6 / accepted, 1)
                                           if accepted and "postgres" in cpu else None),
            # per answered request: what a batch costs whatever its size (--batch 1: a small patrol's push)
            "collector_cpu_us_per_request": (round(cpu["collector"] * 1e6 / len(ok))
                                             if ok and "collector" in cpu else None),
            "generated_inline": sum(d[2] for d in done),
            "reconnects_after_idle_close": sum(d[4] for d in done),
            "pregen_s_max": round(max(g[1] for g in gen), 2),
            "body_bytes": round(sum(g[2] for g in gen) / len(gen)),
        }

    def close(self) -> None:
        for pipe in self.pipes:
            try:
                pipe.send(("quit",))
            except (BrokenPipeError, OSError):
                pass
        for p in self.procs:
            p.join(3)
            if p.is_alive():
                p.kill()


# ------------------------------------------------------------------ databases


def start_postgres(procs: h.Processes, fsync: bool, stats: bool = False) -> tuple[str, Path]:
    for tool in ("initdb", "pg_ctl"):
        if not (PG_BIN / tool).exists():
            raise SystemExit(f"{PG_BIN / tool} not found: apt-get install postgresql-15")
    pw = pwd.getpwnam("postgres")
    base = Path(tempfile.mkdtemp(prefix="wardround-bench-pg-"))
    os.chown(base, pw.pw_uid, pw.pw_gid)
    data = base / "data"
    port = h.free_port()
    as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    h.run(as_pg + [str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                   "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
    opts = f"-p {port} -k {base} -c listen_addresses=127.0.0.1"
    if not fsync:
        opts += " -c fsync=off"
    if stats:
        opts += " -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all"

    def stop() -> None:
        subprocess.run(as_pg + [str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", "20",
                                "stop"], capture_output=True, timeout=30)
        shutil.rmtree(base, ignore_errors=True)

    procs.on_close(stop)
    h.run(as_pg + [str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(base / "pg.log"), "-w",
                   "-o", opts, "start"], timeout=60)
    import psycopg

    with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=postgres", autocommit=True) as c:
        c.execute("CREATE DATABASE wardround")
    if stats:
        with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=wardround", autocommit=True) as c:
            c.execute("CREATE EXTENSION pg_stat_statements")
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/wardround", data


def pg_stats(url: str, reset: bool = False, analyze: bool = False) -> dict[str, Any]:
    """``--pg-stats``: the server's statements by total execution time and its WAL since the last reset."""
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as c:
        if analyze:
            c.execute("ANALYZE")
            return {}
        if reset:
            c.execute("SELECT pg_stat_statements_reset()")
            c.execute("SELECT pg_stat_reset_shared('wal')")
            return {}
        top = c.execute(
            "SELECT calls, round(total_exec_time::numeric, 1), rows, shared_blks_hit + shared_blks_read, "
            "shared_blks_dirtied, wal_records, wal_fpi, wal_bytes, left(regexp_replace(query, '\\s+', ' ', 'g'), "
            "160) FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = "
            "current_database()) ORDER BY total_exec_time DESC LIMIT 25").fetchall()
        wal = c.execute("SELECT wal_records, wal_fpi, wal_bytes, wal_write, wal_sync FROM pg_stat_wal").fetchone()
        updates = c.execute("SELECT relname, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables "
                            "WHERE relname IN ('latest', 'rollup_dirty', 'hosts') ORDER BY 1").fetchall()
    keys = ("calls", "total_ms", "rows", "blocks", "dirtied", "wal_records", "wal_fpi", "wal_bytes", "query")
    return {"statements": [dict(zip(keys, [float(v) if not isinstance(v, (int, str)) else v for v in row],
                                    strict=True)) for row in top],
            "wal": dict(zip(("records", "fpi", "bytes", "writes", "syncs"), [float(v) for v in wal or ()],
                            strict=False)),
            "updates": {name: {"updated": n, "hot": hot} for name, n, hot in updates}}


def postmaster_pid(data: Path) -> int:
    return int((data / "postmaster.pid").read_text().split()[0])


def count_rows(db: str, url: str) -> int:
    if db == "sqlite":
        con = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=30)
        try:
            return int(con.execute("SELECT COUNT(*) FROM results").fetchone()[0])
        finally:
            con.close()
    import psycopg

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as c:
        return int(c.execute("SELECT COUNT(*) FROM results").fetchone()[0])


# ------------------------------------------------------------------ stub server (generator ceiling)


def stub_main(port: int) -> None:
    answer = b'{"accepted":[],"duplicates":[],"server_time":"2026-01-01T00:00:00Z"}'
    reply = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
             + str(len(answer)).encode() + b"\r\n\r\n" + answer)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                m = re.search(rb"(?i)content-length:\s*(\d+)", head)
                await reader.readexactly(int(m.group(1)) if m else 0)
                writer.write(reply)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def serve() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port, limit=1 << 20)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


# ------------------------------------------------------------------ profiling


def profile_summary(raw: Path, top: int = 25) -> dict[str, Any]:
    """Top self and inclusive costs from py-spy's collapsed ("raw") output."""
    self_c: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        count = int(n)
        frames = [f.split(" (")[0] + " (" + f.split(" (")[-1] if " (" in f else f for f in stack.split(";")]
        frames = [re.sub(r":\d+\)$", ")", f) for f in frames]
        total += count
        if frames:
            self_c[frames[-1]] += count
        for f in set(frames):
            incl[f] += count
    pct = lambda c: round(100 * c / total, 1) if total else 0  # noqa: E731
    return {"samples": total,
            "self": [(f, pct(c)) for f, c in self_c.most_common(top)],
            "inclusive": [(f, pct(c)) for f, c in incl.most_common(top * 4)]}


# ------------------------------------------------------------------ main


def run_db(db: str, args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix=f"wardround-bench-ingest-{db}-"))
    out: dict[str, Any] = {"db": db}
    senders: Senders | None = None
    with h.Processes() as procs:
        try:
            watch: dict[str, int] = {}
            if db == "stub":
                port = h.free_port()
                ctx = mp.get_context("spawn")
                stub = ctx.Process(target=stub_main, args=(port,), daemon=True)
                stub.start()
                h.wait_port(port, 10)
                watch["stub"] = stub.pid
                tokens = [(f"h{i:03d}", "x") for i in range(args.hosts)]
                url = ""
            else:
                if db == "sqlite":
                    url = f"sqlite:///{tmp / 'collector.db'}"
                    out["settings"] = "collector defaults (WAL, synchronous=FULL per collector/store/db.py)"
                else:
                    url, pgdata = start_postgres(procs, fsync=args.pg_fsync == "on", stats=args.pg_stats)
                    out["settings"] = f"PostgreSQL 15 throwaway cluster, defaults, fsync={args.pg_fsync}"
                collector, port = h.start_collector(procs, url, tmp, workers=args.workers, source=args.source)
                out["workers"], out["source"] = args.workers, args.source or "this checkout"
                watch["collector"] = collector.pid
                if db == "postgresql":
                    watch["postgres"] = postmaster_pid(pgdata)
                print(f"[{db}] collector pid {collector.pid} on :{port}; creating {args.hosts} tokens",
                      flush=True)
                hosts = [f"bench-{i:03d}" for i in range(args.hosts)]
                with ThreadPoolExecutor(4) as ex:
                    toks = list(ex.map(lambda hn: h.create_token(url, host=hn, site=SITE, source=args.source), hosts))
                tokens = list(zip(hosts, toks, strict=True))
            # Sanity: a generated batch is valid for the wire model.
            from checks.result import Result

            sample = json.loads(BatchMaker("bench-000", gzip=False).make()[0])["results"]
            for w in sample[:SERIES]:
                Result.from_wire(w)
            out["batch_plain_bytes"] = len(json.dumps({"results": sample}, separators=(",", ":")))
            senders = Senders(max([args.senders, *args.sweep]), port, tokens, gzip=not args.no_gzip, size=args.batch)
            max_rate = args.pregen_rate
            print(f"[{db}] warm-up {args.warmup:.0f} s", flush=True)
            warm = senders.phase("full", args.warmup, need_total=int(max_rate * args.warmup), watch=watch,
                                 active=args.senders)
            out["warmup"] = warm
            observed = max(warm["batches_per_s"], 1.0)
            runs = []
            if args.pg_analyze and db == "postgresql":  # the statistics a server running for a while has
                pg_stats(url, analyze=True)
            if args.pg_stats and db == "postgresql":
                pg_stats(url, reset=True)
            for i in range(args.runs):
                need = int(observed * 1.5 * args.seconds) + 4 * args.senders
                r = senders.phase("full", args.seconds, need_total=need, watch=watch, active=args.senders)
                observed = max(observed, r["batches_per_s"])
                runs.append(r)
                print(f"[{db}] full load run {i + 1}: {r['results_per_s']:.0f} results/s, "
                      f"p50 {h.fmt(r['latency_ms']['p50'])} ms, p99 {h.fmt(r['latency_ms']['p99'])} ms, "
                      f"cores {r['cpu_cores']}, collector {r['collector_cpu_us_per_result']} us CPU/result "
                      f"({r['collector_cpu_us_per_request']} us/request), errors {dict(r['errors'])}", flush=True)
            if args.pg_stats and db == "postgresql":
                out["pg_stats"] = pg_stats(url) | {"results": sum(r["accepted"] for r in runs),
                                                   "batches": sum(r["batches_ok"] for r in runs)}
            if args.profile and "collector" in watch:
                # An extra full-load run under py-spy; not part of the figures above.
                pyspy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
                raw = h.RESULTS_DIR / f"ingest-profile-{db}-{args.profile}.txt"
                h.RESULTS_DIR.mkdir(exist_ok=True)
                prof = procs.start([pyspy, "record", "--nonblocking", "-p", str(watch["collector"]),
                                    "-r", "100", "-d", str(int(args.seconds)), "-f", "raw", "-o", str(raw)]
                                   + (["--gil"] if args.profile == "gil" else []), log=tmp / "py-spy.log")
                need = int(observed * 1.5 * args.seconds) + 4 * args.senders
                r = senders.phase("full", args.seconds, need_total=need, watch=watch, active=args.senders)
                prof.wait(args.seconds + 30)
                out["profiled_run"] = r
                if raw.exists():
                    out["profile"] = profile_summary(raw)
                    out["profile"]["mode"] = args.profile
                    out["profile"]["raw_file"] = str(raw.relative_to(h.REPO))
                else:
                    out["profile"] = {"error": (tmp / "py-spy.log").read_text()[-500:]}
                print(f"[{db}] profiled run (py-spy, not counted): {r['results_per_s']:.0f} results/s",
                      flush=True)
            out["full"] = runs
            rate_runs = []
            for i in range(args.runs):
                need = int(args.rate * args.seconds) + 2 * args.senders
                r = senders.phase("rate", args.seconds, rate=args.rate, need_total=need, watch=watch,
                                  active=args.senders)
                rate_runs.append(r)
                print(f"[{db}] fixed {args.rate * args.batch:.0f} results/s run {i + 1}: "
                      f"{r['results_per_s']:.0f} results/s, p50 {h.fmt(r['latency_ms']['p50'])} ms, "
                      f"p99 {h.fmt(r['latency_ms']['p99'])} ms, errors {dict(r['errors'])}", flush=True)
            out["rate"] = rate_runs
            sweep = []
            for c in args.sweep:
                need = int(observed * 1.5 * args.seconds) + 4 * c
                r = senders.phase("full", args.seconds, need_total=need, watch=watch, active=c)
                sweep.append(r)
                print(f"[{db}] sweep, {c} sender(s): {r['results_per_s']:.0f} results/s, "
                      f"p50 {h.fmt(r['latency_ms']['p50'])} ms, p99 {h.fmt(r['latency_ms']['p99'])} ms, "
                      f"cores {r['cpu_cores']}", flush=True)
            out["sweep"] = sweep
            senders.close()
            senders = None
            acked = warm["accepted"] + sum(r["accepted"] for r in runs + rate_runs)
            acked += out.get("profiled_run", {}).get("accepted", 0) + sum(r["accepted"] for r in sweep)
            out["acknowledged_total"] = acked
            if url:
                stored = count_rows(db, url)
                out["stored_total"] = stored
                out["stored_equals_acknowledged"] = stored == acked
                print(f"[{db}] stored {stored} rows, acknowledged {acked}: "
                      f"{'OK' if stored == acked else 'MISMATCH'}", flush=True)
            out["summary"] = summarise(out)
            if db == "stub":
                stub.kill()
        finally:
            if senders is not None:
                senders.close()
            log = tmp / "collector.log"
            if log.exists():
                text = log.read_text(errors="replace")
                out["collector_log_tail"] = text[-2000:]
                out["collector_log_errors"] = len(re.findall(r"Traceback|ERROR", text))
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def summarise(out: dict[str, Any]) -> dict[str, Any]:
    full, rate = out.get("full", []), out.get("rate", [])
    med = lambda xs: h.median([x for x in xs if x is not None])  # noqa: E731
    return {
        "full_results_per_s_median": med([r["results_per_s"] for r in full]),
        "full_results_per_s_min_max": [min(r["results_per_s"] for r in full),
                                       max(r["results_per_s"] for r in full)] if full else None,
        "full_p50_ms_median": med([r["latency_ms"]["p50"] for r in full]),
        "full_p99_ms_median": med([r["latency_ms"]["p99"] for r in full]),
        "rate_results_per_s_median": med([r["results_per_s"] for r in rate]),
        "rate_p50_ms_median": med([r["latency_ms"]["p50"] for r in rate]),
        "rate_p99_ms_median": med([r["latency_ms"]["p99"] for r in rate]),
        "rate_p99_ms_worst": max((r["latency_ms"]["p99"] or 0) for r in rate) if rate else None,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--seconds", type=float, default=15.0, help="seconds per timed run (default 15)")
    ap.add_argument("--runs", type=int, default=3, help="runs per mode, median reported (default 3)")
    ap.add_argument("--senders", type=int, default=8, help="concurrent sender processes (default 8)")
    ap.add_argument("--sweep", type=lambda v: [int(x) for x in v.split(",") if x], default=[],
                    help="after the main runs, one full-load run per sender count, e.g. 1,2,4,8")
    ap.add_argument("--hosts", type=int, default=16, help="simulated hosts = agent tokens (default 16)")
    ap.add_argument("--rate", type=float, default=10.0,
                    help="offered batches/s for the latency run (default 10 = 5,000 results/s)")
    ap.add_argument("--warmup", type=float, default=5.0, help="seconds of full-load warm-up (default 5)")
    ap.add_argument("--pregen-rate", type=float, default=150.0,
                    help="batches/s to pre-generate for the warm-up (default 150)")
    ap.add_argument("--no-gzip", action="store_true", help="send plain JSON bodies")
    ap.add_argument("--batch", type=int, default=BATCH, metavar="N",
                    help=f"results per request (default {BATCH}); 1 or 30 is what an agent sends after one patrol")
    ap.add_argument("--tag", default="", help="write bench/results/ingest-TAG.json")
    ap.add_argument("--workers", type=int, default=1, help="collector worker processes (serve --workers N)")
    ap.add_argument("--source", metavar="SRC", help="run the collector of another source tree (a baseline)")
    ap.add_argument("--pg-fsync", choices=["on", "off"], default="on",
                    help="PostgreSQL fsync (default on, as Debian ships it)")
    ap.add_argument("--pg-stats", action="store_true",
                    help="PostgreSQL: load pg_stat_statements and report the server's statements by total "
                         "time and its WAL per result over the full-load runs")
    ap.add_argument("--pg-analyze", action="store_true",
                    help="PostgreSQL: ANALYZE after the warm-up, as autovacuum does within a minute or so of a "
                         "new table or month (without it the timed runs meet tables without statistics)")
    ap.add_argument("--profile", nargs="?", const="wall", choices=["wall", "gil"],
                    help="one extra full-load run under py-spy record: 'wall' (default) samples every "
                         "thread, waits included; 'gil' only the thread holding the GIL (Python CPU)")
    ap.add_argument("--stub", action="store_true",
                    help="only measure the load generator against a trivial stub server")
    args = ap.parse_args()

    dbs = ["stub"] if args.stub else (["sqlite", "postgresql"] if args.db == "both" else [args.db])
    report: dict[str, Any] = {"machine": h.machine_info(), "params": vars(args), "batch_size": args.batch,
                              "runs": {}}
    with h.Processes():  # SIGTERM -> SystemExit -> every finally below runs
        for db in dbs:
            report["runs"][db] = run_db(db, args)
    rows = []
    for db, out in report["runs"].items():
        for label, runs in (("full load", out.get("full", [])),
                            (f"offered {args.rate * args.batch:.0f}/s", out.get("rate", []))):
            for i, r in enumerate(runs):
                lat = r["latency_ms"]
                shown = r["sent_results_per_s"] if db == "stub" else r["results_per_s"]
                rows.append([db, label, i + 1, f"{shown:.0f}", h.fmt(lat["p50"]),
                             h.fmt(lat["p99"]), h.fmt(lat["max"]), dict(r["errors"]) or "",
                             " ".join(f"{k} {v}" for k, v in r["cpu_cores"].items())])
        for r in out.get("sweep", []):
            lat = r["latency_ms"]
            rows.append([db, f"sweep {r['senders']} senders", 1, f"{r['results_per_s']:.0f}",
                         h.fmt(lat["p50"]), h.fmt(lat["p99"]), h.fmt(lat["max"]), dict(r["errors"]) or "",
                         " ".join(f"{k} {v}" for k, v in r["cpu_cores"].items())])
        s = out.get("summary", {})
        rows.append([db, "MEDIAN full", "", h.fmt(s.get("full_results_per_s_median"), ".0f"),
                     h.fmt(s.get("full_p50_ms_median")), h.fmt(s.get("full_p99_ms_median")), "", "", ""])
        rows.append([db, "MEDIAN offered", "", h.fmt(s.get("rate_results_per_s_median"), ".0f"),
                     h.fmt(s.get("rate_p50_ms_median")), h.fmt(s.get("rate_p99_ms_median")), "", "", ""])
    print()
    print(h.table(["db", "mode", "run", "results/s", "p50 ms", "p99 ms", "max ms", "errors",
                   "CPU cores used"], rows))
    for db, out in report["runs"].items():
        if "stored_total" in out:
            print(f"{db}: stored {out['stored_total']} = acknowledged {out['acknowledged_total']}: "
                  f"{out['stored_equals_acknowledged']}; {out.get('settings', '')}")
        if out.get("pg_stats"):
            st = out["pg_stats"]
            n = max(st["results"], 1)
            wal = st["wal"]
            print(f"\n{db}: server over the full-load runs ({st['results']} results, {st['batches']} batches): "
                  f"WAL {wal.get('bytes', 0) / n:.0f} bytes, {wal.get('records', 0) / n:.2f} records, "
                  f"{wal.get('fpi', 0) / n:.3f} full pages per result; statements by total time:")
            print("  updates (HOT / all, since the cluster started): " + ", ".join(
                f"{k} {v['hot']} / {v['updated']}" for k, v in st["updates"].items()))
            for q in st["statements"]:
                print(f"  {q['total_ms'] * 1000 / n:7.2f} us/result {q['calls'] / max(st['batches'], 1):6.2f}/batch "
                      f"rows {q['rows']:>8} wal {int(q['wal_bytes']) // n:>5} B/result  {q['query'][:110]}")
        if out.get("profile", {}).get("self"):
            print(f"\n{db}: collector profile ({out['profile']['mode']}), top self time (% of samples):")
            for f, p in out["profile"]["self"][:15]:
                print(f"  {p:5.1f}  {f}")
            print(f"{db}: collector profile, inclusive time of the collector's own functions:")
            for f, p in [x for x in out["profile"]["inclusive"] if "collector/" in x[0]][:15]:
                print(f"  {p:5.1f}  {f}")
    path = h.write_json(f"ingest{'-' + args.tag if args.tag else ''}.json", report)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; processes stopped", file=sys.stderr)
        sys.exit(130)
