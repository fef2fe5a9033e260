#!/usr/bin/env python3
"""The collector's cost per ``POST /api/v1/results`` request in process: the ASGI app without uvicorn.

Builds the app (``collector.app.create_app``) on a fresh SQLite file (``--pg``: a throwaway PostgreSQL 15
cluster, as ``bench/ingest.py`` makes; ``--db URL``: that database), makes one agent token and calls the
app directly with gzip bodies of ``--batch`` results (``bench/ingest.py``'s results, fresh ids) on the
event loop uvicorn uses (uvloop), with the serving collector's garbage-collector settings.  Prints µs CPU
per request: all of it, and the part outside ``Ingestor.ingest`` (the token, the body, the middlewares,
the route, the thread trip, the answer: what is not the ingest's); and µs wall time per request (one after
another: the CPU and the waits).  ``--stub`` answers every batch with the first one's outcome (the layers
alone).  ``--source TREE`` runs another tree's collector (a baseline);
compare trees alternately, in the same session.  ``--pg --statements`` also counts what the collector asks
the server per timed request: the statements (the server's log with ``log_statement = all``; BEGIN, COMMIT
and the pool's ping ``;`` included) and the round trips (this process's ``sendto`` and ``recvfrom`` calls
under ``strace``: each thread's runs of sends after a receive; libpq sends each statement of a pipeline on
its own, then waits once).

    .venv/bin/python bench/ingest_request.py [--batch 1] [--requests 3000] [--pg [--statements]] [--stub]
        [--source TREE]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
import time
import uuid
import zlib
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
WARM = 200


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=1, help="results per request (default 1)")
    ap.add_argument("--requests", type=int, default=3000, help="timed requests (default 3000)")
    ap.add_argument("--stub", action="store_true", help="no ingest: every request answered the first's outcome")
    ap.add_argument("--source", metavar="TREE", help="the collector of another source tree (a baseline)")
    ap.add_argument("--db", metavar="URL", help="a database URL (default: a fresh SQLite file)")
    ap.add_argument("--pg", action="store_true", help="a throwaway PostgreSQL 15 cluster (fsync on)")
    ap.add_argument("--statements", action="store_true", help="with --pg: the statements per request")
    args = ap.parse_args()
    if args.statements and not args.pg:
        ap.error("--statements needs --pg")
    sys.path.insert(0, str(Path(args.source).resolve() if args.source else BENCH.parent))
    sys.path.insert(1, str(BENCH))
    import _harness as h  # type: ignore[import-not-found]

    with h.Processes() as procs:
        url = args.db
        if args.pg:
            from ingest import start_postgres  # type: ignore[import-not-found]

            url, data = start_postgres(procs, fsync=True)
            args.pg_log = data.parent / "pg.log"
        url = url or f"sqlite:///{tempfile.mkdtemp(prefix='wardround-request-')}/c.db"
        cpu, outside, wall, statements = measure(url, args)
    print(f"{args.source or 'this checkout'}, batch {args.batch}{' (stub)' if args.stub else ''}: "
          f"{cpu:.0f} us CPU/request, outside Ingestor.ingest {outside:.0f}; {wall:.0f} us wall/request")
    if statements:
        print(f"statements per request: {sum(n for n, _ in statements[:-1]) / args.requests:.2f}")
        for calls, query in statements:
            print(f"  {calls / args.requests:6.2f}  {query}")


def statement_log(url: str, on: bool) -> None:
    """The server logs every statement (``on``) or none."""
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as c:
        c.execute(f"ALTER SYSTEM SET log_statement = '{'all' if on else 'none'}'")
        c.execute("SELECT pg_reload_conf()")
    time.sleep(0.5)  # the backends read the setting at their next statement


def trace_sends(out: Path) -> Any:
    """``strace`` of this process's ``sendto`` and ``recvfrom`` calls into ``out`` (attached when this returns)."""
    import os
    import subprocess

    tracer = subprocess.Popen(["strace", "-f", "-qq", "-e", "trace=sendto,recvfrom", "-o", str(out),
                               "-p", str(os.getpid())], stderr=subprocess.PIPE)
    if tracer.poll() is not None:
        raise SystemExit(f"strace: {tracer.stderr.read().decode()}")
    time.sleep(1.0)  # attached to every thread
    return tracer


def round_trips(trace: str) -> int:
    """The runs of ``sendto`` calls of each thread in an ``strace -f`` output: a thread sends, then waits."""
    last: dict[str, str] = {}
    runs = 0
    for line in trace.splitlines():
        tid, _, call = line.partition(" ")
        kind = call.lstrip().partition("(")[0]
        if kind == "sendto" and last.get(tid) != "sendto":
            runs += 1
        last[tid] = kind
    return runs


def statement_calls(log: str) -> list[tuple[int, str]]:
    """The statements of a server log (calls, text), most called first."""
    import collections
    import re

    said = re.compile(r"LOG:  (?:statement|execute [^:]*): (.*)")
    found = collections.Counter(m.group(1)[:110] for m in map(said.search, log.splitlines()) if m)
    return sorted(((n, q) for q, n in found.items() if "pg_reload_conf" not in q and "ALTER SYSTEM" not in q),
                  key=lambda c: (-c[0], c[1]))


def measure(url: str, args: argparse.Namespace) -> tuple[float, float, float, list[tuple[int, str]]]:
    import orjson
    import uvloop
    from ingest import SITE, BatchMaker

    from collector import ingest
    from collector.app import create_app
    from collector.auth import create_agent_token
    from collector.config import Settings
    from collector.store.db import make_engine
    from collector.store.migrate import upgrade

    engine = make_engine(url)
    upgrade(engine)
    token = create_agent_token(engine, site=SITE, host="H0")
    engine.dispose()
    app = create_app(Settings(db_url=url))
    template = orjson.loads(BatchMaker("H0", False, args.batch).make()[0])["results"]

    def body() -> bytes:
        c = zlib.compressobj(6, zlib.DEFLATED, 31)
        data = orjson.dumps({"results": [dict(r, id=uuid.uuid4().hex) for r in template]})
        return c.compress(data) + c.flush()

    inside = [0.0]
    wall = [0.0]  # µs a request, one after the other: the CPU and the waits on the database
    real = ingest.Ingestor.ingest
    first: list[Any] = []

    def timed(self: Any, agent: Any, data: bytes) -> Any:
        if args.stub and first:
            return first[0]
        start = time.thread_time()
        try:
            out = real(self, agent, data)
        finally:
            inside[0] += time.thread_time() - start
        first.append(out)
        return out

    ingest.Ingestor.ingest = timed  # type: ignore[method-assign]
    bodies = [body() for _ in range(WARM + args.requests)]
    headers = [(b"host", b"127.0.0.1:8080"), (b"authorization", f"Bearer {token}".encode()),
               (b"content-type", b"application/json"), (b"content-encoding", b"gzip"),
               (b"user-agent", b"wardround-agent")]

    async def one(data: bytes) -> None:
        scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
                 "server": ("127.0.0.1", 8080), "client": ("127.0.0.1", 5555), "scheme": "http",
                 "method": "POST", "root_path": "", "path": "/api/v1/results", "raw_path": b"/api/v1/results",
                 "query_string": b"", "headers": [*headers, (b"content-length", str(len(data)).encode())],
                 "state": {}}
        given = False

        async def receive() -> dict[str, Any]:
            nonlocal given
            if given:
                await asyncio.sleep(3600)
            given = True
            return {"type": "http.request", "body": data, "more_body": False}

        status = []

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])

        await app(scope, receive, send)
        if status != [200]:
            raise SystemExit(f"the collector answered {status}")

    async def run() -> tuple[float, float, float, list[tuple[int, str]]]:
        for data in bodies[:WARM]:
            await one(data)
        gc.collect()  # as collector.cli.settle_heap
        gc.freeze()
        gc.set_threshold(10_000, 20, 20)
        if args.statements:
            statement_log(url, on=True)
            logged = args.pg_log.stat().st_size
            tracer = trace_sends(args.pg_log.with_name("sends.txt"))
        inside[0] = 0.0
        start, began = time.process_time(), time.perf_counter()
        for data in bodies[WARM:]:
            await one(data)
        cpu = time.process_time() - start
        wall[0] = (time.perf_counter() - began) / args.requests * 1e6
        statements: list[tuple[int, str]] = []
        if args.statements:
            tracer.terminate()
            if tracer.wait() not in (0, -15):
                raise SystemExit(f"strace: {tracer.stderr.read().decode()}")
            statements.append((round_trips(args.pg_log.with_name("sends.txt").read_text()),
                               "(round trips: runs of sendto calls, thread by thread)"))
            statement_log(url, on=False)
            with args.pg_log.open() as f:
                f.seek(logged)
                statements[:0] = statement_calls(f.read())
        return cpu / args.requests * 1e6, (cpu - inside[0]) / args.requests * 1e6, wall[0], statements

    try:
        return uvloop.run(run())
    finally:
        app.state.services.dispose()


if __name__ == "__main__":
    main()
