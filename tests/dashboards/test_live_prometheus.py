"""Every panel query returns data from a real Prometheus scraping a real collector fed by a real agent.

The stack (module scope, about a minute): ``wardround-collector serve`` on
SQLite; ``wardround-agent run`` (the daemon, so checks that keep state — the
disk forecast, the traceroute baseline — build it) with disk, system, uptime,
process, service, a *failing* ``backup_files`` (its newest file is two days
old), ``offsite_copy`` to a real sshd, ping and traceroute to 127.0.0.1, a
TCP port and a TLS certificate served here; a file that grows 4 MB a second
so the disk has a growth to forecast; and Debian's ``prometheus`` scraping
``/metrics`` every second.  Then every query of every dashboard, with the
template variables resolved to the real site and host, is run through
Prometheus's HTTP API (``query_range`` for graphs, ``query`` for instant
table/stat targets) until each returns at least one series with a number
that is not NaN (polled: the first scrape comes after ~6 s; the forecast
needs ~15 s of history).

Both languages' dashboards are read (their queries are the same; each is
run once).  A second host has an agent token and never reports; the disk
check runs with its own thresholds (70/85 %) so the drawn limits are the
item's, not a default.

Tickets are real too: the collector runs with a policy file that makes the
site a key customer with a 5-second level-2 response time and sweeps every
second.  The failing ``backup_files`` result opens a level-2 ticket through
the default mapping; once Prometheus has scraped the ticket families at 0,
an engineer (through the API) waits for its response breach and
acknowledges it, a hotline ticket (opened meanwhile) is breached and resolved, and a
level-3 one is left open — so every Tickets & SLA panel (opened and resolved
per day, response and resolution times, breaches, unacknowledged,
key-customer) has data that changed while Prometheus watched.  The engineer
then issues the site's daily record and signs it, so the Today row's record
panel has data; a last test reads the Today answers and the thresholds back
from Prometheus and checks their values.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import ssl
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from checks.catalogue import CATALOGUE
from tests.conftest import start_prometheus
from tests.dashboards.helpers import metric_names, panel_queries, resolve, variable_queries
from tests.deploy.certs import make_certs
from tests.e2e.conftest import (
    CollectorProcess,
    command,
    in_process_cli,
    start_agent,
    wait_for,
    write_agent_config,
)

SITE, HOST = "dash-hospital", "dash-db-01"
NEVER = "dash-pacs-02"  # enrolled (an agent token), never reports
DEADLINE_S = 120.0

# Which check feeds a metric family: a panel over a check that is not in the catalogue yet fails
# with that reason instead of "no data".
FED_BY = {"ping": "wardround_ping_", "traceroute": "wardround_traceroute_",
          "certificate": "wardround_certificate_", "offsite_copy": "wardround_offsite_copy_"}


POLICIES = f"""\
sites:
  {SITE}:
    key_customer: true
    levels:
      - {{name: system down, response: 2h, resolve: 8h, clock: 24x7}}
      - {{name: general fault, response: 5s, resolve: 8h, clock: 24x7}}
      - {{name: minor, response: 9h, resolve: 27h, clock: 24x7}}
"""


class PolicyCollector(CollectorProcess):
    """The e2e collector, served with a config file: the policies above and a sweep every second."""

    def start(self) -> None:
        (self.workdir / "policies.yaml").write_text(POLICIES)
        config = self.workdir / "collector.yaml"
        config.write_text("policy_file: policies.yaml\nsweep_seconds: 1\n")
        exe = command("wardround-collector")
        self.engineer_token = in_process_cli("user", "create", "--db", self.db, "dash-engineer", "--role", "engineer")
        in_process_cli("token", "create", "--db", self.db, "--site", SITE, "--host", NEVER)
        with open(self.workdir / "collector.log", "ab") as log:
            self.proc = subprocess.Popen(
                [exe, "serve", "--config", str(config), "--db", self.db, "--port", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(self._healthy, 30, "the collector's /healthz", interval=0.1)

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"collector exited: {(self.workdir / 'collector.log').read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        req = urllib.request.Request(f"{self.url}{path}", method=method,
                                     data=json.dumps(body or {}).encode(),
                                     headers={"Authorization": f"Bearer {self.engineer_token}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.load(r)


@dataclass
class Stack:
    prometheus: str
    collector: PolicyCollector
    work: Path


def _get(url: str, timeout: float = 10) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.load(r)


def _tls_server(certs_dir: Path) -> tuple[int, threading.Event]:
    """A TLS listener that completes handshakes (what the certificate check reads)."""
    certs = make_certs(certs_dir)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs.cert, certs.key)
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.settimeout(0.5)
    stop = threading.Event()

    def serve() -> None:
        with sock:
            while not stop.is_set():
                try:
                    conn, _ = sock.accept()
                except TimeoutError:
                    continue
                try:
                    with ctx.wrap_socket(conn, server_side=True) as tls:
                        tls.settimeout(2)
                        tls.recv(1)
                except (OSError, ssl.SSLError):
                    pass

    threading.Thread(target=serve, daemon=True).start()
    (certs_dir / "ca_path").write_text(str(certs.ca))
    return sock.getsockname()[1], stop


def _grow(path: Path, stop: threading.Event) -> None:
    chunk = b"\0" * (4 << 20)
    with open(path, "wb") as f:
        while not stop.wait(1.0) and f.tell() < (600 << 20):
            f.write(chunk)
            f.flush()
            os.fsync(f.fileno())


def _checks(work: Path, collector_port: int, tls_port: int, sshd: Any) -> str:
    backups = work / "backups"
    backups.mkdir()
    old = backups / "his_full_20261121.bak"
    old.write_bytes(b"x" * 4096)
    two_days_ago = time.time() - 2 * 86400
    os.utime(old, (two_days_ago, two_days_ago))
    entries = [
        ("disk", "1s", {"mounts": ["/"], "forecast_min_history": "10s", "forecast_window": "1h", "warn": 70,
                        "crit": 85}),
        ("system", "1s", {}),
        ("uptime", "5s", {}),
        ("process", "5s", {"name": "prometheus"}),
        ("service", "10s", {"names": ["ssh"]}),
        ("backup_files", "5s", {"path": str(backups), "pattern": "*.bak", "max_age": "1h", "verify": False}),
        ("port", "2s", {"host": "127.0.0.1", "port": collector_port}),
        ("certificate", "5s", {"host": "127.0.0.1", "port": tls_port,
                               "ca_file": (work / "tls" / "ca_path").read_text()}),
        ("ping", "2s", {"target": "127.0.0.1", "count": 2, "interval": "0.2s"}),
        ("traceroute", "5s", {"target": "127.0.0.1", "max_hops": 3}),
        ("clock", "2s", {}),  # the offset from the collector's clock, known after the first push
    ]
    if sshd is not None:
        remote = work / "offsite"
        remote.mkdir()
        shutil.copy2(old, remote / old.name)
        entries.append(("offsite_copy", "5s", {
            "local_path": str(backups), "pattern": "*.bak", "remote_host": sshd.host,
            "remote_port": sshd.port, "remote_user": sshd.user, "remote_path": str(remote),
            "key_file": str(sshd.client_key), "known_hosts": str(sshd.known_hosts), "max_delay": "1h"}))
    lines = []
    for name, every, params in entries:
        if name not in CATALOGUE:
            continue
        lines += [f"  - check: {name}", f"    every: {every}", f"    params: {json.dumps(params)}"]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("promstack")
    procs: list[subprocess.Popen[bytes]] = []
    stop = threading.Event()
    collector = PolicyCollector(work, site=SITE, host=HOST)
    collector.start()
    sshd = None
    try:
        from tests.checks.sshd import SSHD, start_sshd

        if Path(SSHD).exists():
            sshd = start_sshd(work / "sshd")
        tls_port, tls_stop = _tls_server(work / "tls")
        stop = tls_stop
        prometheus, prometheus_url = start_prometheus(work, f"127.0.0.1:{collector.port}")
        procs.append(prometheus)
        threading.Thread(target=_grow, args=(work / "growing.dat", stop), daemon=True).start()
        agent_config = write_agent_config(work / "agent.yaml", collector,
                                          _checks(work, collector.port, tls_port, sshd))
        agent_config.write_text(agent_config.read_text().replace("site: e2e-hospital", f"site: {SITE}")
                                .replace("host: e2e-host", f"host: {HOST}"))
        procs.append(start_agent(agent_config, work / "agent.log"))
        yield Stack(prometheus_url, collector, work)
    finally:
        stop.set()
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()
        if sshd is not None:
            sshd.stop()
        collector.stop()
        (work / "growing.dat").unlink(missing_ok=True)


def _prometheus_has(stack: Stack, expr: str) -> bool:
    try:
        return bool(_run(stack, expr, instant=True))
    except OSError:
        return False


def _act_on_tickets(stack: Stack) -> None:
    """The ticket work an engineer does, once Prometheus has seen the ticket families at 0."""
    c = stack.collector
    wait_for(lambda: _prometheus_has(stack, f'wardround_ticket_response_seconds_count{{site="{SITE}"}}'),
             90, "Prometheus to scrape the backup ticket's families", interval=0.5)
    time.sleep(2)  # a few scrapes of the zeros

    def tickets(**q: str) -> list[dict[str, Any]]:
        return c.get("/api/v1/tickets?" + urllib.parse.urlencode({"site": SITE, **q}))["tickets"]

    def breached(ticket_id: int) -> bool:
        return bool(c.get(f"/api/v1/tickets/{ticket_id}")["response_breached"])

    [backup] = [t for t in tickets(state="open") if t["check"] == "backup_files"]
    assert backup["key_customer"] is True and backup["initial_severity"] == 2
    # the hotline call comes in now, so that its 5 s run while the backup ticket's last ones do
    call = c.call("POST", "/api/v1/tickets", {"site": SITE, "host": HOST, "severity": 2,
                                               "summary": "ward 5 cannot print lab results",
                                               "reported_via": "hotline"})
    wait_for(lambda: breached(backup["id"]), 30, "the backup ticket's response breach (5 s)")
    c.call("POST", f"/api/v1/tickets/{backup['id']}/ack", {"note": "backup job on the NAS is stuck"})
    wait_for(lambda: breached(call["id"]), 30, "the hotline ticket's response breach (5 s)")
    c.call("POST", f"/api/v1/tickets/{call['id']}/resolve", {"note": "print spooler restarted"})
    c.call("POST", "/api/v1/tickets", {"site": SITE, "host": HOST, "severity": 3,
                                        "summary": "PACS viewer slow in radiology", "reported_via": "email"})
    record = c.call("POST", "/api/v1/records", {"site": SITE, "kind": "daily"})
    c.call("POST", f"/api/v1/records/{record['id']}/sign", {"signer": "dash-engineer", "role": "engineer"})


@pytest.fixture(scope="module")
def acted(stack: Stack) -> Stack:
    _act_on_tickets(stack)
    return stack


def _has_number(r: dict[str, Any]) -> bool:
    values = r.get("values") or [r.get("value")]
    return any(v and not math.isnan(float(v[1])) for v in values)


def _run(stack: Stack, expr: str, instant: bool) -> list[Any]:
    if instant:
        url = f"{stack.prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    else:
        now = time.time()
        url = f"{stack.prometheus}/api/v1/query_range?" + urllib.parse.urlencode(
            {"query": expr, "start": now - 120, "end": now, "step": "1"})
    body = _get(url)
    assert body["status"] == "success", body
    return [r for r in body["data"]["result"] if _has_number(r)]


def _targets() -> dict[tuple[str, bool], list[str]]:
    """(query, instant) → where it is drawn ("<lang>/<dashboard> / <panel>"), over both languages."""
    from tests.dashboards.helpers import dashboards, panels

    out: dict[tuple[str, bool], list[str]] = {}
    for name, d in dashboards().items():
        for p in panels(d):
            for t in p["targets"]:
                out.setdefault((t["expr"], bool(t.get("instant"))), []).append(f"{name} / {p['title']}")
    return out


def test_every_panel_query_returns_data_when_prometheus_scrapes_a_fed_collector(acted):
    stack = acted
    values = {"site": SITE, "host": HOST}
    targets = _targets()
    pending = {(resolve(expr, values), instant) for expr, instant in targets}
    unavailable = [f"{targets[(expr, i)][0]}: the {check} check is not in the catalogue"
                   for expr, i in targets for check, prefix in FED_BY.items()
                   if prefix in expr and check not in CATALOGUE]
    assert unavailable == []
    deadline = time.monotonic() + DEADLINE_S
    while pending and time.monotonic() < deadline:
        for target in sorted(pending):
            try:
                if _run(stack, *target):
                    pending.discard(target)
            except OSError:
                break  # Prometheus not up yet
        if pending:
            time.sleep(2)
    where = {(resolve(expr, values), i): places for (expr, i), places in targets.items()}
    empty = sorted(f"{where[t][0]}: {t[0]}" for t in pending)
    assert empty == [], f"no data after {DEADLINE_S:g} s:\n" + "\n".join(empty) + "\n" + _logs(stack)


def _values(stack: Stack, expr: str) -> dict[tuple[tuple[str, str], ...], float]:
    """label set (without instance/job) → value of an instant query."""
    return {tuple(sorted((k, v) for k, v in r["metric"].items() if k not in ("instance", "job"))):
            float(r["value"][1]) for r in _run(stack, expr, instant=True)}


def test_today_answers_and_limits_are_the_collectors_when_read_from_prometheus(acted):
    stack = acted
    test_every_panel_query_returns_data_when_prometheus_scrapes_a_fed_collector(stack)  # data is in
    hosts = {dict(k)["state"]: v for k, v in _values(stack, f'wardround_hosts{{site="{SITE}"}}').items()}
    # the host's backup is two days old (CRITICAL): abnormal; the second host never reported
    assert hosts == {"ok": 0, "warning": 0, "unknown": 0, "abnormal": 1, "silent": 0, "never_reported": 1}
    outcomes = {dict(k)["check"]: dict(k)["outcome"]
                for k in _values(stack, f'wardround_backup_outcome{{site="{SITE}"}}')}
    assert outcomes["backup_files"] == "missed"
    if "offsite_copy" in outcomes:  # copied to the real sshd
        assert outcomes["offsite_copy"] == "done"
    due = {(dict(k)["check"], dict(k)["item"].split("-")[0], dict(k)["deadline"]):
           (dict(k)["severity"], dict(k)["key_customer"], v)
           for k, v in _values(stack, f'wardround_ticket_due_timestamp_seconds{{site="{SITE}"}} - time()').items()}
    # the acknowledged backup ticket: only its resolution runs; the open level-3 e-mail one: both; the
    # resolved hotline one: none
    assert {k[2] for k in due if k[0] == "backup_files"} == {"resolve"}
    email = {k[2]: v for k, v in due.items() if k[:2] == ("manual", "email")}
    assert {d: v[:2] for d, v in email.items()} == {"response": ("3", "true"), "resolve": ("3", "true")}
    assert 0 < email["response"][2] < email["resolve"][2] <= 27 * 3600
    assert not [k for k in due if k[:2] == ("manual", "hotline")]
    limits = {(dict(k)["metric"], dict(k)["level"]): v
              for k, v in _values(stack, f'wardround_check_threshold{{site="{SITE}",host="{HOST}"}}').items()}
    assert limits[("wardround_disk_used_ratio", "warn")] == 0.70  # the item's own, not the default 0.8
    assert limits[("wardround_disk_used_ratio", "crit")] == 0.85
    assert limits[("wardround_cpu_busy_ratio", "warn")] == 0.80
    if ("wardround_certificate_expiry_timestamp_seconds", "warn") in limits:
        assert limits[("wardround_certificate_expiry_timestamp_seconds", "warn")] == 30 * 86400
    assert limits[("wardround_backup_age_seconds", "crit")] == 3600
    [issued] = _values(stack, f'time() - wardround_record_issued_timestamp_seconds{{site="{SITE}",kind="daily"}}'
                       ).values()
    assert 0 <= issued < DEADLINE_S * 3

    def signed() -> dict[str, float]:
        return {dict(k)["role"]: v for k, v in _values(stack, f'wardround_record_signatures{{site="{SITE}"}}').items()}

    # signed at the very end of the fixture: Prometheus may not have scraped since (every second; later under load)
    wait_for(lambda: signed() == {"engineer": 1, "customer": 0}, 30, "the record's engineer signature in Prometheus")


def test_template_variables_list_the_real_site_and_host_when_prometheus_has_data(acted):
    stack = acted
    test_every_panel_query_returns_data_when_prometheus_scrapes_a_fed_collector(stack)  # data is in
    for dashboard, variable, selector in variable_queries():
        label = "site" if variable == "site" else "host"
        query = {"match[]": resolve(selector, {"site": SITE})} if selector else {}
        url = f"{stack.prometheus}/api/v1/label/{label}/values?" + urllib.parse.urlencode(query)
        assert ({SITE} if label == "site" else {HOST}) <= set(_get(url)["data"]), f"{dashboard}: ${variable}"


def test_panels_name_only_metrics_the_collector_exports_when_scraped(acted):
    stack = acted
    test_every_panel_query_returns_data_when_prometheus_scrapes_a_fed_collector(stack)
    with urllib.request.urlopen(f"{stack.collector.url}/metrics", timeout=30) as r:
        text = r.read().decode()
    exported = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
    named = {n for _d, _t, expr in panel_queries() for n in metric_names(expr)}
    named |= {n for _d, _v, sel in variable_queries() for n in metric_names(sel)}
    assert named - exported == set()


def _logs(stack: Stack) -> str:
    parts = []
    for name in ("agent.log", "collector.log", "prometheus.log"):
        path = stack.work / name
        if path.exists():
            parts.append(f"--- {name}\n{path.read_text()[-1500:]}")
    return "\n".join(parts)
