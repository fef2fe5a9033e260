#!/usr/bin/env python3
"""Agent footprint: the Wardround agent side by side with zabbix_agent2 and node_exporter.

All three run at the same time on this machine (same noise for all):

* ``wardround-agent run`` with checks ``disk`` and ``system`` every 10 s,
  pushing to a real ``wardround-collector serve`` (temp SQLite DB, a real
  agent token) on a free port, over https by default (a throwaway self-signed
  certificate as the agent's ``ca_file``; ``--scheme http`` for plain HTTP),
  its ``agent/`` and ``checks/`` byte-compiled first as an install would
  (``--no-bytecode`` skips that), with the environment its tree's systemd unit
  sets (the ``Environment=`` lines of ``deploy/systemd/wardround-agent.service``:
  the agent as deployed by the unit; ``--no-unit-env`` runs it without);
* ``zabbix_agent2`` (Debian ``zabbix-agent2``) twice: passive only, listening on
  127.0.0.1 on a free port, no ServerActive, temp pid/log/socket files; once in
  plain text (``zabbix_agent2``) and once with TLS in certificate mode
  (``zabbix_agent2 TLS``: ``TLSConnect=cert``, ``TLSAccept=cert``, a throwaway
  CA, agent certificate and key), queried over TLS with a client certificate
  signed by that CA, as a Zabbix server configured for encryption does
  (``--no-zabbix-tls`` leaves it out);
* ``prometheus-node-exporter --web.listen-address=127.0.0.1:PORT``.

Memory is RSS, PSS and USS (pages no other process maps), and RSS split into
anonymous memory (heap, stacks: the process's own) and file pages (program
text, libraries). PSS and USS of file pages depend on the other processes of
the machine: a library or program page shared with N processes counts 1/N in
PSS and not at all in USS. The Wardround agent shares libpython and its
libraries with the collector and any other Python of the same build running on
the machine; each zabbix_agent2 (and node_exporter) runs from its own copy of
the binary so they do not share theirs with each other or with another bench
run on the machine (on a host there is one). Anonymous memory does not depend
on the neighbours.

Phases: settle, then "idle" RSS/PSS/USS; then ``--rounds`` windows of
``--window`` seconds measuring CPU seconds of each process tree (RSS is
sampled every 2 s meanwhile); then ``--rounds`` query rounds (zabbix: 50 sets
of 6 passive items over the ZBXD protocol, each item a connection of its own,
over TLS for the TLS one; node_exporter: 50 GETs of
/metrics; CPU per query is measured), then RSS "after queries".  The
Wardround agent is not queried: it patrols every 10 s and pushes, so its
"after" RSS is taken after every patrol and push of the run, and its CPU per
patrol is its CPU over the windows divided by the patrols that started in
them (counted from the results the collector stored).

Usage::

    .venv/bin/python bench/agent_footprint.py            # 3 x 30 s windows
    .venv/bin/python bench/agent_footprint.py --long     # 3 x 60 s windows
    .venv/bin/python bench/agent_footprint.py --baseline /tmp/base   # also the agent of another tree

Writes ``bench/results/agent_footprint.json`` and prints a table, then the
comparisons of the agent's idle PSS and USS with both zabbix_agent2s: like for
like (an https collector against the TLS zabbix_agent2, an http one against the
plain one) and the other pairing too.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shlex
import shutil
import socket
import sqlite3
import ssl
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
AGENT_UNIT = Path("deploy/systemd/wardround-agent.service")


def zbx_get(port: int, key: str, timeout: float = 5.0, tls: ssl.SSLContext | None = None) -> str:
    """One passive item over the Zabbix protocol (what zabbix_get does; not packaged in Debian 12);
    inside TLS when ``tls`` is given (the agent tells TLS from plain text by the first byte)."""
    data = key.encode()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
        s = tls.wrap_socket(raw, server_hostname="127.0.0.1") if tls is not None else raw
        try:
            s.sendall(b"ZBXD\x01" + struct.pack("<II", len(data), 0) + data)
            buf = _read_answer(s)
        finally:
            if s is not raw:
                s.close()
    if not buf.startswith(b"ZBXD") or len(buf) < 13:
        raise RuntimeError(f"bad Zabbix answer to {key}: {buf[:40]!r}")
    (length,) = struct.unpack("<I", buf[5:9])
    return buf[13:13 + length].decode(errors="replace")


def _read_answer(s: socket.socket) -> bytes:
    """The header and the announced body; the agent closes the connection after it (over TLS
    possibly without a close_notify, which is the end here too)."""
    buf = b""
    while len(buf) < 13 or len(buf) < 13 + struct.unpack("<I", buf[5:9])[0]:
        try:
            chunk = s.recv(65536)
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            break
        if not chunk:
            break
        buf += chunk
    return buf


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
        self.unit_env: dict[str, str] = {}  # the Wardround agents: what their tree's systemd unit sets

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def mem(self) -> dict[str, Any]:
        assert self.proc is not None
        rss, pss, n = h.tree_mem_mb(self.proc.pid)
        pids = h.tree(self.proc.pid)
        uss = h.uss_kb(pids) * 1024 / 1e6
        anon, file = (kb * 1024 / 1e6 for kb in h.anon_file_kb(pids))
        return {"rss_mb": round(rss, 1), "pss_mb": round(pss, 1), "uss_mb": round(uss, 1),
                "anon_mb": round(anon, 1), "file_mb": round(file, 1), "processes": n}


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


def unit_environment(tree: Path) -> dict[str, str]:
    """The variables the agent's systemd unit of ``tree`` sets: the ``Environment=`` lines of its
    ``[Service]`` section, each split into words as systemd does (shell-like quoting), each word
    ``NAME=value``; an empty ``Environment=`` clears the ones before it. No unit file: none."""
    unit = tree / AGENT_UNIT
    env: dict[str, str] = {}
    if not unit.is_file():
        return env
    section = ""
    for line in unit.read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and line.startswith("Environment="):
            words = shlex.split(line.removeprefix("Environment="))
            if not words:
                env.clear()
            for word in words:
                name, eq, value = word.partition("=")
                if eq:
                    env[name] = value
    return env


def compile_tree(source: Path) -> None:
    """Byte-compile ``agent/`` and ``checks/`` of ``source`` (into their ``__pycache__``, ignored by
    git), as an install does: with PYTHONDONTWRITEBYTECODE set (this machine) an agent run from a
    source tree would compile every module at each start and keep ~1 MB more heap."""
    h.run([sys.executable, "-m", "compileall", "-q", str(source / "agent"), str(source / "checks")])


def start_wardround(procs: h.Processes, tmp: Path, subj: Subject, collector: Subject, db_url: str,
                    scheme: str, host: str = "bench-host", source: str | None = None, *,
                    unit_env: bool = True) -> None:
    """``wardround-agent run`` reporting as ``host``; from the source tree ``source`` (the baseline)
    instead of this checkout when given, with the same interpreter; with the environment that
    tree's systemd unit sets unless ``unit_env`` is false."""
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
    tree = Path(source) if source is not None else h.REPO
    subj.unit_env = unit_environment(tree)
    env = dict(os.environ, **(subj.unit_env if unit_env else {}))
    shown = " ".join(f"{k}={v}" for k, v in subj.unit_env.items()) or "nothing"
    subj.notes.append(f"as deployed by the unit: {tree / AGENT_UNIT} sets {shown}" if unit_env else
                      f"run WITHOUT the unit's environment (--no-unit-env; {tree / AGENT_UNIT} sets {shown})")
    subj.proc = procs.start([*exe, "run", "--config", str(config)], log=tmp / f"{host}.log", cwd=tmp, env=env)
    subj.version = version_of([*exe, "--version"]) + (f" ({source} at {_head(source)})" if source else "")


def _head(source: str) -> str:
    cp = subprocess.run(["git", "-C", source, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return cp.stdout.strip() or "?"


class ZabbixTls:
    """Throwaway certificates for zabbix_agent2 in certificate mode: a CA, the agent's certificate
    (CN bench-zabbix-agent, SAN IP:127.0.0.1) and a client certificate for the queries (what the
    Zabbix server presents), both signed by that CA. RSA in PEM, as Zabbix requires."""

    def __init__(self, directory: Path):
        directory.mkdir()
        self.ca, ca_key = directory / "ca.crt", directory / "ca.key"
        h.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
               "-subj", "/CN=bench-zabbix-ca", "-keyout", str(ca_key), "-out", str(self.ca)])
        self.agent_cert, self.agent_key = self._leaf(directory, "agent", ca_key)
        self.client_cert, self.client_key = self._leaf(directory, "server", ca_key)

    def _leaf(self, directory: Path, name: str, ca_key: Path) -> tuple[Path, Path]:
        cert, key, csr = (directory / f"{name}.{ext}" for ext in ("crt", "key", "csr"))
        h.run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN=bench-zabbix-{name}",
               "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(csr)])
        h.run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(self.ca), "-CAkey", str(ca_key),
               "-CAcreateserial", "-days", "2", "-copy_extensions", "copy", "-out", str(cert)])
        return cert, key

    def conf(self) -> str:
        """The agent's TLS lines (Zabbix 6.0 zabbix_agent2.conf): encrypted with a certificate both ways."""
        return (f"TLSConnect=cert\nTLSAccept=cert\nTLSCAFile={self.ca}\n"
                f"TLSCertFile={self.agent_cert}\nTLSKeyFile={self.agent_key}\n")

    def client(self) -> ssl.SSLContext:
        """The querying side: verifies the agent's certificate against the CA, presents its own."""
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.ca))
        ctx.load_cert_chain(str(self.client_cert), str(self.client_key))
        return ctx


def start_zabbix(procs: h.Processes, tmp: Path, subj: Subject, tls: ZabbixTls | None = None) -> None:
    exe = shutil.which("zabbix_agent2")
    if not exe:
        subj.missing = "not installed (apt-get install zabbix-agent2)"
        return
    subj.port = h.free_port(20000, 32767)  # ListenPort must be 1024-32767
    zdir = tmp / ("zabbix-tls" if tls else "zabbix")
    zdir.mkdir()
    # Each from its own copy of the program: two processes of one file share its text pages, which
    # would halve each one's PSS of it and take it out of their USS (on a host there is one agent).
    exe = shutil.copy2(exe, zdir / "zabbix_agent2")
    conf = zdir / "zabbix_agent2.conf"
    conf.write_text(
        f"Server=127.0.0.1\nListenIP=127.0.0.1\nListenPort={subj.port}\nHostname=bench-host\n"
        f"PidFile={zdir}/zabbix_agent2.pid\nLogType=file\nLogFile={zdir}/zabbix_agent2.log\n"
        f"ControlSocket={zdir}/agent.sock\nPluginSocket={zdir}/agent.plugin.sock\n"
        + (tls.conf() if tls else "")
    )
    subj.proc = procs.start([exe, "-c", str(conf)], log=zdir / "stdout.log")
    subj.version = version_of([exe, "--version"])
    subj.notes.append("run from its own copy of the binary; " +
                      ("TLSAccept=cert, TLSConnect=cert (throwaway CA); queried over TLS with a client certificate"
                       if tls else "plain text (no TLS parameters: TLSAccept=unencrypted, the default)"))


def check_zabbix_tls(subj: Subject, ctx: ssl.SSLContext) -> None:
    """The TLS agent answers over TLS with the client certificate and refuses plain text; else the
    run would measure something else than it says."""
    assert subj.port is not None
    with socket.create_connection(("127.0.0.1", subj.port), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
        version, cipher = s.version(), s.cipher()
    value = zbx_get(subj.port, "system.uptime", 10, tls=ctx)
    if not value.strip().isdigit():
        raise RuntimeError(f"{subj.name}: system.uptime over TLS answered {value!r}")
    try:
        plain = zbx_get(subj.port, "system.uptime", 10)
    except (OSError, RuntimeError):
        plain = None
    if plain is not None:
        raise RuntimeError(f"{subj.name} answered a plain-text query ({plain!r}): TLS is not enforced")
    subj.notes.append(f"checked: answers over {version} ({cipher[0] if cipher else '?'}) with the client "
                      "certificate; a plain-text query is refused")


def start_node_exporter(procs: h.Processes, tmp: Path, subj: Subject) -> None:
    exe = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
    if not exe:
        subj.missing = "not installed (apt-get install prometheus-node-exporter)"
        return
    subj.port = h.free_port()
    exe = shutil.copy2(exe, tmp / "node_exporter")  # its own copy, as each zabbix_agent2 (start_zabbix)
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


def query_round(s: Subject, queries: int, tls: ssl.SSLContext | None, *, zabbix: bool) -> None:
    """``queries`` sets of queries to one peer: its CPU per query and each query's latency."""
    assert s.proc is not None and s.port is not None
    c0 = h.tree_cpu(s.proc.pid)
    n = 0
    for _ in range(queries):
        for key in (ZABBIX_ITEMS if zabbix else ["/metrics"]):
            t0 = time.perf_counter()
            try:
                zbx_get(s.port, key, tls=tls) if zabbix else http_get(s.port, key)
            except Exception as exc:  # noqa: BLE001 - counted and reported
                s.query_errors += 1
                if s.query_errors <= 3:
                    s.notes.append(f"query {key}: {exc}")
            s.query_latency_ms.append((time.perf_counter() - t0) * 1000)
            n += 1
    s.queries += n
    s.query_cpu_ms.append(round((h.tree_cpu(s.proc.pid) - c0) * 1000 / n, 3))


def comparisons(agents: list[Subject], peers: list[Subject], tls_peer: Subject | None,
                scheme: str) -> list[dict[str, Any]]:
    """Each agent's idle PSS and USS against each zabbix_agent2, like for like first: an agent
    pushing over https against the zabbix_agent2 with TLS, over http against the plain one."""
    out = []
    for agent in agents:
        for peer in peers:
            if not agent.idle or not peer.idle:
                continue
            like = (peer is tls_peer) == (scheme == "https")
            row: dict[str, Any] = {"agent": agent.name, "agent_scheme": scheme, "peer": peer.name,
                                   "like_for_like": like}
            for fig in ("pss_mb", "uss_mb", "anon_mb"):
                a, b = agent.idle[fig], peer.idle[fig]
                row[fig] = {"agent": a, "peer": b, "delta": round(a - b, 1), "agent_at_most_peer": a <= b}
            out.append(row)
    return sorted(out, key=lambda r: not r["like_for_like"])


def print_comparisons(rows: list[dict[str, Any]]) -> None:
    print("\nidle memory, agent against peer (MB; delta = agent minus peer, the target is delta <= 0):")
    for r in rows:
        figs = ", ".join(f"{name} {r[fig]['agent']} vs {r[fig]['peer']} ({r[fig]['delta']:+.1f})"
                         for name, fig in (("PSS", "pss_mb"), ("USS", "uss_mb"), ("anon", "anon_mb")))
        print(f"  {'like for like' if r['like_for_like'] else 'also         '}  {r['agent']} ({r['agent_scheme']}) "
              f"vs {r['peer']}: {figs}")


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
    ap.add_argument("--no-zabbix-tls", action="store_true",
                    help="leave out the second zabbix_agent2, the one with TLS in certificate mode (the "
                         "like-for-like peer of an agent pushing over https)")
    ap.add_argument("--no-unit-env", action="store_true",
                    help="run the agents without the environment their tree's deploy/systemd/"
                         "wardround-agent.service sets (its Environment= lines, used by default)")
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
    zbx_tls = None if args.no_zabbix_tls else Subject("zabbix_agent2 TLS")
    subjects = [wr, *([base] if base else []), zbx, *([zbx_tls] if zbx_tls else []), nex]
    tls_ctx: ssl.SSLContext | None = None
    report: dict[str, Any] = {"machine": h.machine_info(), "params": vars(args).copy()}
    stop_sampler = threading.Event()
    try:
        with h.Processes() as procs:
            print(f"temp dir {tmp}", flush=True)
            start_zabbix(procs, tmp, zbx)
            if zbx_tls is not None:
                zcerts = ZabbixTls(tmp / "zabbix-certs")
                tls_ctx = zcerts.client()
                start_zabbix(procs, tmp, zbx_tls, zcerts)
            start_node_exporter(procs, tmp, nex)
            if not args.no_bytecode:
                for tree in [h.REPO, *([Path(args.baseline)] if args.baseline else [])]:
                    compile_tree(tree)
            db_url = start_collector(procs, tmp, coll, args.scheme)
            start_wardround(procs, tmp, wr, coll, db_url, args.scheme, unit_env=not args.no_unit_env)
            if base is not None:
                start_wardround(procs, tmp, base, coll, db_url, args.scheme, host="bench-base",
                                source=args.baseline, unit_env=not args.no_unit_env)
            for s in subjects:
                if s.proc is not None and s.port is not None:
                    h.wait_port(s.port, 30, s.proc)
            if zbx_tls is not None and zbx_tls.proc is not None:
                check_zabbix_tls(zbx_tls, tls_ctx)  # type: ignore[arg-type]
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
            peers = [(zbx, None), *([(zbx_tls, tls_ctx)] if zbx_tls else []), (nex, None)]
            for _ in range(args.rounds):
                for s, ctx in peers:
                    if s.proc is not None:
                        query_round(s, args.queries, ctx, zabbix=s is not nex)
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
            rows.append([s.name, s.missing] + ["-"] * 7)
            continue
        cpu_med = h.median(s.cpu_windows)
        per60 = cpu_med * 60 / args.window if cpu_med is not None else None
        rows.append([
            s.name,
            f"{s.idle.get('rss_mb')} / {s.idle.get('pss_mb')} / {s.idle.get('uss_mb')} ({s.idle.get('processes')}p)",
            f"{s.idle.get('anon_mb')} / {s.idle.get('file_mb')}",
            f"{s.after.get('rss_mb')} / {s.after.get('pss_mb')} / {s.after.get('uss_mb')}",
            f"{max(s.rss_samples):.1f}" if s.rss_samples else "-",
            f"{h.fmt(per60, '.2f')} ({', '.join(f'{c:.2f}' for c in s.cpu_windows)})",
            (f"{h.fmt(s.patrol_cpu_ms)} ms/patrol" if s in (wr, base)
             else f"{h.fmt(h.median(s.query_cpu_ms), '.2f')} ms/{'scrape' if s is nex else 'item'}"),
            (f"{h.fmt(h.median(s.query_latency_ms), '.2f')} ms" if s not in (wr, base) else "-"),
            s.version,
        ])
    headers = ["agent", "idle RSS / PSS / USS MB", "idle anon / file MB", "after RSS / PSS / USS MB", "max RSS MB",
               "CPU s per 60 s (windows)", "CPU per patrol / query", "query latency p50", "version"]
    print()
    print(h.table(headers, rows))
    print(f"\ncollector (not measured as a peer): RSS {coll.after.get('rss_mb')} MB, "
          f"CPU {coll_cpu:.2f} s over the windows")
    for s in subjects:
        for note in s.notes:
            print(f"note {s.name}: {note}")
    compared = comparisons([x for x in (wr, base) if x is not None],
                           [x for x in (zbx_tls, zbx) if x is not None and not x.missing], zbx_tls, args.scheme)
    print_comparisons(compared)

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
                "checks": {c: f"every {CHECK_INTERVAL_S}s" for c in CHECKS},
                "unit_environment": s.unit_env, "unit_environment_applied": not args.no_unit_env})
    report["comparisons"] = compared
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
