#!/usr/bin/env python3
"""Ticket latency: a failed backup pushed by the real agent → an open ticket, in how long?

Starts a real ``wardround-collector serve`` (a temp SQLite file, or a
throwaway PostgreSQL 15 cluster with ``--db postgresql``), then ``--runs``
times: makes a backup directory whose only ``.bak`` file is three days old
(a new directory each run, so each run is a new problem), and runs
``wardround-agent once --config F --push`` with a ``backup_files`` check
(``max_age: 26h``) on it.  Meanwhile a watcher polls ``GET
/api/v1/tickets?state=open`` every ``--poll`` seconds.

Reported per run, all on this machine's clock:

* **arrival → ticket visible**: from the collector's ``received_at`` of the
  result (``GET /api/v1/results``; stamped as the batch is parsed) to the
  first poll that shows the open ticket with its response deadline.  This
  is the figure the issue bounds at 1 s; it includes the poll interval.
* **push → ticket visible**: from the start of ``once --push`` (which also
  runs the check and starts the agent process) to the same poll.

Usage::

    .venv/bin/python bench/ticket_latency.py                  # SQLite, 20 runs
    .venv/bin/python bench/ticket_latency.py --db postgresql --runs 10

Writes ``bench/results/ticket_latency-<db>.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness as h  # noqa: E402

SITE, HOST = "bench-hospital", "bench-host"


def _get(url: str, token: str) -> Any:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def one_run(base: str, token: str, agent_token_file: Path, work: Path, n: int, poll: float) -> dict[str, Any]:
    backups = work / f"backups-{n}"
    backups.mkdir()
    old = backups / "HIS_full.bak"
    old.write_bytes(b"x" * 4096)
    stale = time.time() - 3 * 86400
    os.utime(old, (stale, stale))
    item = f"{backups}/*.bak"
    config = work / f"agent-{n}.yaml"
    config.write_text(
        f"site: {SITE}\nhost: {HOST}\ncollector:\n  url: {base}\n  token_file: {agent_token_file}\n"
        f"spool: {work / f'spool-{n}.db'}\njitter: 0s\nchecks:\n"
        f"  - check: backup_files\n    every: 1h\n    params: {{path: '{backups}', pattern: '*.bak', "
        "max_age: 26h}\n")
    seen: dict[str, Any] = {}
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            for t in _get(f"{base}/api/v1/tickets?state=open&host={HOST}", token)["tickets"]:
                if t["item"] == item:
                    seen["at"] = datetime.now(UTC)
                    seen["ticket"] = t
                    return
            time.sleep(poll)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    started = datetime.now(UTC)
    cp = subprocess.run([h.venv_bin("wardround-agent"), "once", "--config", str(config), "--push"],
                        capture_output=True, text=True, timeout=120)
    watcher.join(10)
    stop.set()
    if "ticket" not in seen:
        raise RuntimeError(f"run {n}: no ticket appeared (agent exit {cp.returncode}: {cp.stderr[-500:]})")
    q = urllib.parse.urlencode({"site": SITE, "host": HOST, "check": "backup_files", "limit": 1000})
    [result] = [r for r in _get(f"{base}/api/v1/results?{q}", token)["results"] if r["item"] == item]
    received = _parse(result["received_at"])
    t = seen["ticket"]
    return {
        "arrival_to_visible_ms": (seen["at"] - received).total_seconds() * 1000,
        "push_to_visible_ms": (seen["at"] - started).total_seconds() * 1000,
        "opened_minus_received_ms": (_parse(t["opened_at"]) - received).total_seconds() * 1000,
        "severity": t["severity"], "response_due": t["response_due"], "agent_exit": cp.returncode,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--poll", type=float, default=0.01, help="ticket poll interval in seconds (default 0.01)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wardround-bench-tickets-"))
    with h.Processes() as procs:
        if args.db == "postgresql":
            from ingest import start_postgres

            db_url, _data = start_postgres(procs, fsync=True)
        else:
            db_url = f"sqlite:///{work / 'collector.db'}"
        h.run([h.venv_bin("wardround-collector"), "migrate", "--db", db_url])
        _proc, port = h.start_collector(procs, db_url, work)
        base = f"http://127.0.0.1:{port}"
        agent_token_file = work / "agent.token"
        agent_token_file.write_text(h.create_token(db_url, HOST, SITE) + "\n")
        agent_token_file.chmod(0o600)
        user = h.run([h.venv_bin("wardround-collector"), "user", "create", "--db", db_url, "bench-viewer",
                      "--role", "viewer"]).stdout.strip().splitlines()[-1]
        runs = [one_run(base, user, agent_token_file, work, n, args.poll) for n in range(args.runs)]
    arrival = [r["arrival_to_visible_ms"] for r in runs]
    push = [r["push_to_visible_ms"] for r in runs]
    summary = {
        "db": args.db, "runs": args.runs, "poll_s": args.poll,
        "arrival_to_visible_ms": {"median": h.median(arrival), "p95": h.percentile(arrival, 95),
                                  "max": max(arrival)},
        "push_to_visible_ms": {"median": h.median(push), "p95": h.percentile(push, 95), "max": max(push)},
        "severities": sorted({r["severity"] for r in runs}),
        "machine": h.machine_info(), "per_run": runs,
    }
    path = h.write_json(f"ticket_latency-{args.db}.json", summary)
    print(h.table(["db", "runs", "figure", "median ms", "p95 ms", "max ms"], [
        [args.db, args.runs, "result arrival → open ticket visible", h.fmt(h.median(arrival)),
         h.fmt(h.percentile(arrival, 95)), h.fmt(max(arrival))],
        [args.db, args.runs, "once --push start → open ticket visible", h.fmt(h.median(push)),
         h.fmt(h.percentile(push, 95)), h.fmt(max(push))],
    ]))
    print(f"\nwritten to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
