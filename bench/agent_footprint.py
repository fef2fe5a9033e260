#!/usr/bin/env python3
"""Agent footprint: the Wardround agent side by side with zabbix_agent2 and node_exporter.

All three run at the same time on this machine (same noise for all):

* ``wardround-agent run`` with checks ``disk`` and ``system`` every 10 s,
  pushing to a real ``wardround-collector serve`` (temp SQLite DB, a real
  agent token) on a free port, over https by default (a throwaway self-signed
  certificate as the agent's ``ca_file``; ``--scheme http`` for plain HTTP),
  its ``agent/`` and ``checks/`` byte-compiled first as an install would
  (``--no-bytecode`` skips that);
* ``zabbix_agent2`` (Debian ``zabbix-agent2``): passive only, listening on
  127.0.0.1 on a free port, no ServerActive, temp pid/log/socket files;
* ``prometheus-node-exporter --web.listen-address=127.0.0.1:PORT``.

Memory is RSS, PSS and USS (private pages only: unlike PSS it does not shrink
when other processes on the machine map the same libraries).

Phases: settle, then "idle" RSS/PSS/USS; then ``--rounds`` windows of
``--window`` seconds measuring CPU seconds of each process tree (RSS is
sampled every 2 s meanwhile); then ``--rounds`` query rounds (zabbix: 50 sets
of 6 passive items over the ZBXD protocol; node_exporter: 50 GETs of
/metrics; CPU per query is measured), then RSS "after queries".  The
Wardround agent is not queried: it patrols every 10 s and pushes, so its
"after" RSS is taken after every patrol and push of the run, and its CPU per
patrol is its CPU over the windows divided by the patrols that started in
them (counted from the results the collector stored).

Usage::

    .venv/bin/python bench/agent_footprint.py            # 3 x 30 s windows
    .venv/bin/python bench/agent_footprint.py --long     # 3 x 60 s windows
    .venv/bin/python bench/agent_footprint.py --baseline /tmp/base   # also the agent of another tree

Writes ``bench/results/agent_footprint.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import http.client
import shutil
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _harness as h  # noqa: E402

from collector.store.compact import from_micros  # noqa: E402

ZABBIX_ITEMS = [
    "vfs.fs.size[/,pused]",
    "system.cpu.load[all,avg1]",
    "proc.num[]",
    "vm.memory.size[available]",
    "net.if.in[lo]",
    "system.uptime",
]
CHECK_INTERVAL_S = 10
CHECKS = ("disk", "system")


def zbx_get(port: int, key: str, timeout: float = 5.0) -> str:
    """One passive item over the Zabbix protocol (what zabbix_get does; not packaged in Debian 12)."""
    data = key.encode()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(b"ZBXD\x01" + struct.pack("<II", len(data), 0) + data)
        buf = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    if not buf.startswith(b"ZBXD") or len(buf) < 13:
        raise RuntimeError(f"bad Zabbix answer to {key}: {buf[:40]!r}")
    (length,) = struct.unpack("<I", buf[5:9])
    return buf[13:13 + length].decode(errors="replace")


def http_get(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"GET {path} -> {resp.status}")
        return len(body)
    finally:
        conn.close()


class Subject:
    """One agent under measurement."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.proc: subprocess.Popen[Any] | None = None
        self.version = ""
        self.missing: str | None = None
        self.port: int | None = None
        self.idle: dict[str, Any] = {}
        self.after: dict[str, Any] = {}
        self.cpu_windows: list[float] = []
        self.rss_samples: list[float] = []
        self.query_cpu_ms: list[float] = []
        self.query_latency_ms: list[float] = []
        self.query_errors = 0
        self.queries = 0
        self.notes: list[str] = []
        self.patrol_cpu_ms: float | None = None  # the Wardround agents: CPU per patrol over all windows
        self.patrol_cpu_by_window: list[float] = []
        self.patrols_per_window: list[int] = []

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def mem(self) -> dict[str, Any]:
        assert self.proc is not None
        rss, pss, n = h.tree_mem_mb(self.proc.pid)
        uss = h.uss_kb(h.tree(self.proc.pid)) * 1024 / 1e6
        return {"rss_mb": round(rss, 1), "pss_mb": round(pss, 1), "uss_mb": round(uss, 1), "processes": n}


def version_of(argv: list[str]) -> str:
    try:
        cp = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except OSError:
        return ""
    return (cp.stdout or cp.stderr).strip().splitlines()[0] if (cp.stdout or cp.stderr) else ""


def start_collector(procs: h.Processes, tmp: Path, collector: Subject, scheme: str) -> str:
    """The collector, over https (a throwaway self-signed certificate, ``tmp/collector.crt``) or http."""
    db_url = f"sqlite:///{tmp / 'collector.db'}"
    tls: list[str] = []
    if scheme == "https":
        cert, key = tmp / "collector.crt", tmp / "collector.key"
        h.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=bench",
               "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)])
        tls = ["--tls-cert", str(cert), "--tls-key", str(key)]
    collector.proc, collector.port = h.start_collector(procs, db_url, tmp, serve_args=tls)
    return db_url


def compile_tree(source: Path) -> None:
    """Byte-compile ``agent/`` and ``checks/`` of ``source`` (into their ``__pycache__``, ignored by
    git), as an install does: with PYTHONDONTWRITEBYTECODE set (this machine) an agent run from a
    source tree would compile every module at each start and keep ~1 MB more heap."""
    h.run([sys.executable, "-m", "compileall", "-q", str(source / "agent"), str(source / "checks")])


def start_wardround(procs: h.Processes, tmp: Path, subj: Subject, collector: Subject, db_url: str,
                    scheme: str, host: str = "bench-host", source: str | None = None) -> None:
    """``wardround-agent run`` reporting as ``host``; from the source tree ``source`` (the baseline)
    instead of this checkout when given, with the same interpreter."""
    token = h.create_token(db_url, host=host, site="bench-site")
    (tmp / f"{host}.token").write_text(token + "\n")
    (tmp / f"{host}.token").chmod(0o600)
    checks = "\n".join(f"  - check: {c}\n    every: {CHECK_INTERVAL_S}s" for c in CHECKS)
    config = tmp / f"{host}.yaml"
    config.write_text(
        "site: bench-site\n"
        f"host: {host}\n"
        "collector:\n"
        f"  url: {scheme}://127.0.0.1:{collector.port}\n"
        f"  token_file: {tmp / f'{host}.token'}\n"
        + (f"  ca_file: {tmp / 'collector.crt'}\n" if scheme == "https" else "") +
        f"spool: {tmp / f'{host}-spool.db'}\n"
        f"checks:\n{checks}\n"
    )
    exe = [h.venv_bin("wardround-agent")]
    if source is not None:
        exe = [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv.pop(1)); "
               "from agent.cli import main; sys.exit(main())", source]
    subj.proc = procs.start([*exe, "run", "--config", str(config)], log=tmp / f"{host}.log", cwd=tmp)
    subj.version = version_of([*exe, "--version"]) + (f" ({source} at {_head(source)})" if source else "")


def _head(source: str) -> str:
    cp = subprocess.run(["git", "-C", source, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return cp.stdout.strip() or "?"


def start_zabbix(procs: h.Processes, tmp: Path, subj: Subject) -> None:
    exe = shutil.which("zabbix_agent2")
    if not exe:
        subj.missing = "not installed (apt-get install zabbix-agent2)"
        return
    subj.port = h.free_port(20000, 32767)  # ListenPort must be 1024-32767
    zdir = tmp / "zabbix"
    zdir.mkdir()
    conf = zdir / "zabbix_agent2.conf"
    conf.write_text(
        f"Server=127.0.0.1\nListenIP=127.0.0.1\nListenPort={subj.port}\nHostname=bench-host\n"
        f"PidFile={zdir}/zabbix_agent2.pid\nLogType=file\nLogFile={zdir}/zabbix_agent2.log\n"
        f"ControlSocket={zdir}/agent.sock\nPluginSocket={zdir}/agent.plugin.sock\n"
    )
    subj.proc = procs.start([exe, "-c", str(conf)], log=zdir / "stdout.log")
    subj.version = version_of([exe, "--version"])


def start_node_exporter(procs: h.Processes, tmp: Path, subj: Subject) -> None:
    exe = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
    if not exe:
        subj.missing = "not installed (apt-get install prometheus-node-exporter)"
        return
    subj.port = h.free_port()
    subj.proc = procs.start([exe, f"--web.listen-address=127.0.0.1:{subj.port}"],
                            log=tmp / "node_exporter.log")
    subj.version = version_of([exe, "--version"])


def patrols(s: Subject, db_path: Path, host: str, windows: list[tuple[datetime, datetime]],
            t_started: datetime) -> None:
    """CPU per patrol of the agent reporting as ``host``: its CPU in each window over its patrols there."""
    starts = patrol_starts(db_path, host)
    per_window = [sum(1 for t in starts if a <= t < b) for a, b in windows]
    total = sum(1 for t in starts if t >= t_started)
    s.patrols_per_window = per_window
    s.patrol_cpu_by_window = [round(c * 1000 / p, 1) for c, p in zip(s.cpu_windows, per_window, strict=True) if p]
    # CPU ticks are 10 ms: the ratio of the sums is the steadier figure.
    s.patrol_cpu_ms = round(sum(s.cpu_windows) * 1000 / sum(per_window), 1) if sum(per_window) else None
    s.notes.append(f"patrols stored by the collector: {total} since start, per window {per_window}; "
                   f"results stored: {patrol_starts.total}")  # type: ignore[attr-defined]
    if not total:
        s.notes.append(f"NO RESULTS ARRIVED at the collector: check {host}.log")


def patrol_starts(db_path: Path, host: str = "bench-host") -> list[datetime]:
    """Start times of ``host``'s ``system`` check's ``cpu`` results the collector stored (one per patrol)."""
    con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        rows = con.execute('SELECT started_at FROM results WHERE "check" = ? AND item = ? AND host = ?',
                           ("system", "cpu", host)).fetchall()
        total = con.execute("SELECT COUNT(*) FROM results WHERE host = ?", (host,)).fetchone()[0]
    finally:
        con.close()
    out = []
    for (value,) in rows:
        if isinstance(value, int):  # microseconds since 1970 (collector/store/compact.py, migration 0013)
            out.append(from_micros(value))
            continue
        dt = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
        out.append(dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt)
    patrol_starts.total = total  # type: ignore[attr-defined]
    return sorted(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3, help="CPU windows and query rounds (default 3)")
    ap.add_argument("--window", type=float, default=30.0, help="seconds per CPU window (default 30)")
    ap.add_argument("--long", action="store_true", help="3 x 60 s windows (overrides --window)")
    ap.add_argument("--settle", type=float, default=15.0, help="seconds before the idle figures (default 15)")
    ap.add_argument("--queries", type=int, default=50, help="queries per round for the peers (default 50)")
    ap.add_argument("--keep", action="store_true", help="keep the temp directory (logs, DBs)")
    ap.add_argument("--baseline", metavar="SRC",
                    help="also run the agent of another source tree (e.g. a worktree of main), same interpreter")
    ap.add_argument("--scheme", choices=["https", "http"], default="https",
                    help="the collector URL's scheme (default https, as deployed: a throwaway certificate, "
                         "the agent's ca_file)")
    ap.add_argument("--no-bytecode", action="store_true",
                    help="do not byte-compile agent/ and checks/ first (an agent run from a source tree "
                         "under PYTHONDONTWRITEBYTECODE compiles them at each start)")
    args = ap.parse_args()
    if args.long:
        args.window = 60.0

    tmp = Path(tempfile.mkdtemp(prefix="wardround-bench-agent-"))
    wr, zbx, nex, coll = (Subject("wardround-agent"), Subject("zabbix_agent2"),
                          Subject("node_exporter"), Subject("wardround-collector (not a peer)"))
    base = Subject("wardround-agent baseline") if args.baseline else None
    subjects = [wr, *([base] if base else []), zbx, nex]
    report: dict[str, Any] = {"machine": h.machine_info(), "params": vars(args).copy()}
    stop_sampler = threading.Event()
    try:
        with h.Processes() as procs:
            print(f"temp dir {tmp}", flush=True)
            start_zabbix(procs, tmp, zbx)
            start_node_exporter(procs, tmp, nex)
            if not args.no_bytecode:
                for tree in [h.REPO, *([Path(args.baseline)] if args.baseline else [])]:
                    compile_tree(tree)
            db_url = start_collector(procs, tmp, coll, args.scheme)
            start_wardround(procs, tmp, wr, coll, db_url, args.scheme)
            if base is not None:
                start_wardround(procs, tmp, base, coll, db_url, args.scheme, host="bench-base",
                                source=args.baseline)
            for s in subjects:
                if s.proc is not None and s.port is not None:
                    h.wait_port(s.port, 30, s.proc)
            t_started = datetime.now(UTC)
            print(f"started; settling {args.settle:.0f} s", flush=True)
            time.sleep(args.settle)
            live = [s for s in subjects if s.proc is not None]
            for s in live:
                if not s.running:
                    raise RuntimeError(f"{s.name} exited early with {s.proc.returncode}")  # type: ignore[union-attr]
                s.idle = s.mem()

            def sampler() -> None:
                while not stop_sampler.wait(2.0):
                    for s in live:
                        if s.running:
                            s.rss_samples.append(s.mem()["rss_mb"])

            threading.Thread(target=sampler, daemon=True).start()

            windows: list[tuple[datetime, datetime]] = []
            coll_cpu0 = h.tree_cpu(coll.proc.pid)  # type: ignore[union-attr]
            for r in range(args.rounds):
                c0 = {s.name: h.tree_cpu(s.proc.pid) for s in live}  # type: ignore[union-attr]
                w0 = datetime.now(UTC)
                time.sleep(args.window)
                c1 = {s.name: h.tree_cpu(s.proc.pid) for s in live}  # type: ignore[union-attr]
                windows.append((w0, datetime.now(UTC)))
                for s in live:
                    s.cpu_windows.append(round(c1[s.name] - c0[s.name], 3))
                print(f"window {r + 1}/{args.rounds}: " + ", ".join(
                    f"{s.name} {s.cpu_windows[-1]:.2f} s" for s in live), flush=True)
            coll_cpu = h.tree_cpu(coll.proc.pid) - coll_cpu0  # type: ignore[union-attr]

            # Queries for the peers (the Wardround agent keeps patrolling meanwhile).
            for _ in range(args.rounds):
                for s in (zbx, nex):
                    if s.proc is None:
                        continue
                    c0 = h.tree_cpu(s.proc.pid)
                    n = 0
                    for _ in range(args.queries):
                        keys = ZABBIX_ITEMS if s is zbx else ["/metrics"]
                        for key in keys:
                            t0 = time.perf_counter()
                            try:
                                zbx_get(s.port, key) if s is zbx else http_get(s.port, key)  # type: ignore[arg-type]
                            except Exception as exc:  # noqa: BLE001 - counted and reported
                                s.query_errors += 1
                                if s.query_errors <= 3:
                                    s.notes.append(f"query {key}: {exc}")
                            s.query_latency_ms.append((time.perf_counter() - t0) * 1000)
                            n += 1
                    s.queries += n
                    s.query_cpu_ms.append(round((h.tree_cpu(s.proc.pid) - c0) * 1000 / n, 3))
            time.sleep(2.0)  # let the last pushes land
            stop_sampler.set()
            for s in live:
                if not s.running:
                    raise RuntimeError(f"{s.name} exited during the run with {s.proc.returncode}")  # type: ignore[union-attr]
                s.after = s.mem()
            coll.after = coll.mem()

            # Patrols per window, from what the collector stored.
            for s, host in ((wr, "bench-host"), (base, "bench-base")):
                if s is not None:
                    patrols(s, tmp / "collector.db", host, windows, t_started)
    finally:
        stop_sampler.set()
        agent_log = tmp / "bench-host.log"
        log_tail = agent_log.read_text(errors="replace")[-1500:] if agent_log.exists() else ""
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)

    rows = []
    for s in subjects:
        if s.missing:
            rows.append([s.name, s.missing] + ["-"] * 6)
            continue
        cpu_med = h.median(s.cpu_windows)
        per60 = cpu_med * 60 / args.window if cpu_med is not None else None
        rows.append([
            s.name,
            f"{s.idle.get('rss_mb')} / {s.idle.get('pss_mb')} / {s.idle.get('uss_mb')} ({s.idle.get('processes')}p)",
            f"{s.after.get('rss_mb')} / {s.after.get('pss_mb')} / {s.after.get('uss_mb')}",
            f"{max(s.rss_samples):.1f}" if s.rss_samples else "-",
            f"{h.fmt(per60, '.2f')} ({', '.join(f'{c:.2f}' for c in s.cpu_windows)})",
            (f"{h.fmt(s.patrol_cpu_ms)} ms/patrol" if s in (wr, base)
             else f"{h.fmt(h.median(s.query_cpu_ms), '.2f')} ms/{'item' if s is zbx else 'scrape'}"),
            (f"{h.fmt(h.median(s.query_latency_ms), '.2f')} ms" if s in (zbx, nex) else "-"),
            s.version,
        ])
    headers = ["agent", "idle RSS / PSS / USS MB", "after RSS / PSS / USS MB", "max RSS MB", "CPU s per 60 s "
               "(windows)", "CPU per patrol / query", "query latency p50", "version"]
    print()
    print(h.table(headers, rows))
    print(f"\ncollector (not measured as a peer): RSS {coll.after.get('rss_mb')} MB, "
          f"CPU {coll_cpu:.2f} s over the windows")
    for s in subjects:
        for note in s.notes:
            print(f"note {s.name}: {note}")

    report["subjects"] = {
        s.name: {
            "missing": s.missing, "version": s.version, "idle": s.idle, "after": s.after,
            "rss_samples_mb": s.rss_samples, "cpu_s_per_window": s.cpu_windows,
            "cpu_s_per_60s_median": ((h.median(s.cpu_windows) or 0) * 60 / args.window
                                     if s.cpu_windows else None),
            "query_cpu_ms_per_query_by_round": s.query_cpu_ms, "queries": s.queries,
            "query_errors": s.query_errors,
            "query_latency_ms_p50": h.median(s.query_latency_ms),
            "query_latency_ms_p95": h.percentile(s.query_latency_ms, 95),
            "notes": s.notes,
        } for s in subjects
    }
    for s in (wr, base):
        if s is not None:
            report["subjects"][s.name].update({
                "cpu_ms_per_patrol_by_window": s.patrol_cpu_by_window, "cpu_ms_per_patrol_all_windows":
                s.patrol_cpu_ms, "patrols_per_window": s.patrols_per_window,
                "checks": {c: f"every {CHECK_INTERVAL_S}s" for c in CHECKS}})
    report["collector"] = {"after": coll.after, "cpu_s_over_windows": round(coll_cpu, 2), "db": db_url}
    report["agent_log_tail"] = log_tail
    path = h.write_json("agent_footprint.json", report)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; processes stopped", file=sys.stderr)
        sys.exit(130)
