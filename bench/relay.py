#!/usr/bin/env python3
"""Site relay: its footprint beside the agent's, and throughput through one relay.

Real processes on loopback: ``wardround-collector serve`` (temp SQLite), ``wardround-agent relay``
for one site with a relay token, and one ``wardround-agent run`` (checks ``disk`` and ``system``
every 10 s) that reports *through the relay*, so both run under the same noise.

1. **Footprint.** After a settle, idle RSS/PSS of the relay and of the agent; then ``--rounds``
   windows of ``--window`` seconds during which a client thread plays a site of 200 servers
   (``--site-rate`` results/s, default 100 = 200 servers × 30 results a minute, in batches of 50
   from 20 agent tokens): CPU seconds of each process per window, RSS after.
2. **Throughput.** ``--results`` (default 100,000) results in gzip batches of 500, from 4 client
   threads, into the relay: how fast the relay takes them (each on disk before its answer), and how
   fast they are stored at the collector end to end (relay spool empty, every result in the
   collector's database).

Usage::

    .venv/bin/python bench/relay.py                  # 3 x 20 s windows, 100,000 results
    .venv/bin/python bench/relay.py --rounds 1 --window 10 --results 20000   # quick

Writes ``bench/results/relay.json`` and prints two tables.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sqlite3
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import _harness as h  # noqa: E402

from checks.result import Result, Status  # noqa: E402

SITE = "bench-hospital"
HOSTS = 20


def _batches(n: int, size: int, tokens: list[tuple[str, str]], start: datetime) -> list[tuple[str, bytes]]:
    out = []
    for b in range(0, n, size):
        host, token = tokens[(b // size) % len(tokens)]
        rows = []
        for i in range(b, min(n, b + size)):
            r = Result(check="disk", item=f"/m{i % 40}", status=Status.OK, summary="used 41 %", details={"i": i})
            rows.append(r.with_origin(site=SITE, host=host, started_at=start + timedelta(milliseconds=i),
                                      duration_ms=2.0).to_wire())
        out.append((token, gzip.compress(json.dumps({"results": rows}).encode(), 6)))
    return out


def _post(url: str, token: str, body: bytes) -> int:
    req = urllib.request.Request(url + "/api/v1/results", data=body, method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json", "Content-Encoding": "gzip"})
    while True:
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                r.read()
                return r.status
        except urllib.error.HTTPError as exc:
            if exc.code != 503:
                raise
            time.sleep(0.5)


def _health(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url + "/healthz", timeout=10) as r:
        return json.load(r)  # type: ignore[no-any-return]


def _stored(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        return int(conn.execute("SELECT count(*) FROM results").fetchone()[0])


def _site_load(url: str, tokens: list[tuple[str, str]], rate: float, stop: threading.Event) -> None:
    """``rate`` results/s in batches of 50, round-robin over the site's hosts."""
    i = 0
    while not stop.is_set():
        t0 = time.monotonic()
        [(token, body)] = _batches(50, 50, [tokens[i % len(tokens)]], datetime.now(UTC))
        _post(url, token, body)
        i += 1
        stop.wait(max(0.0, 50 / rate - (time.monotonic() - t0)))


def _setup(procs: h.Processes, work: Path) -> dict[str, Any]:
    db_url = f"sqlite:///{work / 'collector.db'}"
    h.run([h.venv_bin("wardround-collector"), "migrate", "--db", db_url])
    tokens = [(f"his-{n:02d}", h.create_token(db_url, f"his-{n:02d}", SITE)) for n in range(HOSTS)]
    relay_token = h.run([h.venv_bin("wardround-collector"), "token", "create", "--relay", "--site", SITE,
                         "--db", db_url]).stdout.strip().splitlines()[-1]
    _, cport = h.start_collector(procs, db_url, work)
    (work / "relay.token").write_text(relay_token + "\n")
    (work / "relay.token").chmod(0o600)
    rport = h.free_port()
    (work / "relay.yaml").write_text(
        f"site: {SITE}\nlisten: 127.0.0.1:{rport}\ncollector:\n  url: http://127.0.0.1:{cport}\n"
        f"  token_file: {work / 'relay.token'}\nspool: {work / 'relay.db'}\n")
    relay = procs.start([h.venv_bin("wardround-agent"), "relay", "--config", str(work / "relay.yaml")],
                        log=work / "relay.log")
    url = f"http://127.0.0.1:{rport}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if _health(url)["tokens"] == HOSTS:
                break
        except OSError:
            pass
        time.sleep(0.2)
    else:
        raise SystemExit(f"the relay did not sync its tokens: {(work / 'relay.log').read_text()[-2000:]}")
    host, token = tokens[0]
    (work / "agent.token").write_text(token + "\n")
    (work / "agent.token").chmod(0o600)
    (work / "agent.yaml").write_text(
        f"site: {SITE}\nhost: {host}\ncollector:\n  url: {url}\n  token_file: {work / 'agent.token'}\n"
        f"spool: {work / 'agent.db'}\njitter: 0s\nconfig_every: off\nchecks:\n"
        "  - {check: disk, every: 10s}\n  - {check: system, every: 10s}\n")
    agent = procs.start([h.venv_bin("wardround-agent"), "run", "--config", str(work / "agent.yaml")],
                        log=work / "agent.log")
    return {"url": url, "relay": relay, "agent": agent, "tokens": tokens, "db": work / "collector.db"}


def footprint(env: dict[str, Any], rounds: int, window: float, rate: float) -> dict[str, Any]:
    time.sleep(15)  # settle: imports done, a few patrols pushed
    out: dict[str, Any] = {"idle": {}, "windows": []}
    for name in ("relay", "agent"):
        rss, pss, _ = h.tree_mem_mb(env[name].pid)
        out["idle"][name] = {"rss_mb": rss, "pss_mb": pss}
    stop = threading.Event()
    load = threading.Thread(target=_site_load, args=(env["url"], env["tokens"], rate, stop), daemon=True)
    load.start()
    try:
        for _ in range(rounds):
            before = {n: h.tree_cpu(env[n].pid) for n in ("relay", "agent")}
            time.sleep(window)
            out["windows"].append({n: h.tree_cpu(env[n].pid) - before[n] for n in ("relay", "agent")})
    finally:
        stop.set()
        load.join()
    out["after"] = {n: dict(zip(("rss_mb", "pss_mb"), h.tree_mem_mb(env[n].pid)[:2], strict=True))
                    for n in ("relay", "agent")}
    return out


def throughput(env: dict[str, Any], n: int) -> dict[str, Any]:
    batches = _batches(n, 500, env["tokens"], datetime.now(UTC) - timedelta(hours=2))
    before = _stored(env["db"])
    queue = list(batches)
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                if not queue:
                    return
                token, body = queue.pop(0)
            _post(env["url"], token, body)

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    peak = 0.0
    while any(t.is_alive() for t in threads):
        peak = max(peak, h.tree_mem_mb(env["relay"].pid)[0])
        time.sleep(0.2)
    accepted_s = time.monotonic() - t0
    while _stored(env["db"]) - before < n:
        peak = max(peak, h.tree_mem_mb(env["relay"].pid)[0])
        time.sleep(0.1)
    stored_s = time.monotonic() - t0
    return {"results": n, "accept_s": accepted_s, "accept_per_s": n / accepted_s, "end_to_end_s": stored_s,
            "end_to_end_per_s": n / stored_s, "relay_peak_rss_mb": peak}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--window", type=float, default=20.0)
    p.add_argument("--site-rate", type=float, default=100.0)
    p.add_argument("--results", type=int, default=100_000)
    args = p.parse_args()
    with h.Processes() as procs, tempfile.TemporaryDirectory(prefix="bench-relay-") as tmp:
        env = _setup(procs, Path(tmp))
        fp = footprint(env, args.rounds, args.window, args.site_rate)
        tp = throughput(env, args.results)
    data = {"machine": h.machine_info(), "args": vars(args), "footprint": fp, "throughput": tp}
    path = h.write_json("relay.json", data)
    cpu = {n: [w[n] for w in fp["windows"]] for n in ("relay", "agent")}
    print(h.table(["process", "idle RSS / PSS MB", "after RSS / PSS MB",
                   f"CPU s per {args.window:g} s window (median; all)"],
                  [[n, f"{fp['idle'][n]['rss_mb']:.1f} / {fp['idle'][n]['pss_mb']:.1f}",
                    f"{fp['after'][n]['rss_mb']:.1f} / {fp['after'][n]['pss_mb']:.1f}",
                    f"{h.median(cpu[n]):.2f} ({', '.join(f'{c:.2f}' for c in cpu[n])})"] for n in ("relay", "agent")]))
    print()
    print(h.table(["results", "taken by the relay /s", "stored at the collector /s (end to end)", "relay peak RSS MB"],
                  [[tp["results"], f"{tp['accept_per_s']:.0f}", f"{tp['end_to_end_per_s']:.0f}",
                    f"{tp['relay_peak_rss_mb']:.1f}"]]))
    print(f"\n(the relay took the site's load of {args.site_rate:g} results/s during the windows) -> {path}")


if __name__ == "__main__":
    main()
