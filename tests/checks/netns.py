"""A real routed network in Linux network namespaces, for the ping and traceroute tests.

::

                 192.0.2.0/26              198.51.100.0/26
    client ── {p}c1 ─── {p}r1 (router 1) ─── {p}s1 ──┐
    {p}-a                                             server {p}-b
    (runs the  ── {p}c2 ─── {p}r2 (router 2) ─── {p}s2 ──┤  198.51.100.2
     checks)       192.0.2.64/26            203.0.113.0/26│
               ── {p}c3 ─── {p}r3 (router 3) ─── {p}s3 ──┘
                   192.0.2.128/26           203.0.113.64/26

Addresses come from the TEST-NET ranges (RFC 5737) and exist only inside the
namespaces; nothing leaves this machine.  The client reaches the server's
198.51.100.2 through router 1 (hop 1 = 192.0.2.1) until :meth:`Topology.via_router2`
switches its route to router 2 (hop 1 = 192.0.2.65): a real path change.
:meth:`Topology.ecmp` makes routers 1 and 2 equal next hops (``nexthop via … nexthop
via …``) with the client hashing each flow on its addresses and ports
(``net.ipv4.fib_multipath_hash_policy=1``); each UDP probe of a trace is a flow of its
own (traceroute opens a socket per probe, so the source port differs), so each takes
either router: hop 1 answers from both, in a different mix on every run.
:meth:`Topology.via_router3` re-routes through router 3 (hop 1 = 192.0.2.129), a router
outside that pair.
:meth:`Topology.loss` adds ``iptables -m statistic`` drops of echo requests in router
1's FORWARD chain (this kernel has no ``netem``); :meth:`Topology.blackhole` makes router 1
answer "host unreachable" for the server; :meth:`Topology.silence` makes it drop
everything and send no ICMP.  Real delay (NFQUEUE and a delaying handler in router 1,
again because there is no ``netem``) is :func:`tests.checks.netdelay.delay`.  ICMP rate
limits are off in the routers and the server.

Names carry this process's pid (``wr<pid>-a`` ...), so parallel sessions do not
collide; namespaces left behind by a session whose process is gone are removed at the
next start.  The checks run inside the client namespace through :class:`NetnsWorker`:
one ``ip netns exec <client> python -m tests.checks.netns`` process that runs checks
on request through the agent's real :class:`agent.runner.Runner`, so ``ctx.state``
persists between runs exactly as in the agent.

``topology`` (session scope) needs ``ip`` (iproute2), ``iptables``, ``ping``
(iputils-ping) and ``traceroute``, and root; without them it calls
:func:`tests.conftest.missing` (fails under ``CI=true``, skips elsewhere).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.conftest import missing

TARGET = "198.51.100.2"
HOP_R1 = "192.0.2.1"
HOP_R2 = "192.0.2.65"
HOP_R3 = "192.0.2.129"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True, timeout=20)


def _ns_sh(ns: str, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", ns, *cmd], check=check, capture_output=True,
                          text=True, timeout=60)


@dataclass
class Topology:
    prefix: str
    built: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def client(self) -> str:
        return f"{self.prefix}-a"

    @property
    def router1(self) -> str:
        return f"{self.prefix}-r1"

    @property
    def router2(self) -> str:
        return f"{self.prefix}-r2"

    @property
    def router3(self) -> str:
        return f"{self.prefix}-r3"

    @property
    def server(self) -> str:
        return f"{self.prefix}-b"

    def build(self) -> None:
        p = self.prefix.replace("wr", "w")  # interface names: at most 15 characters
        for ns in (self.client, self.router1, self.router2, self.router3, self.server):
            _ip("netns", "add", ns)
            self.built.append(ns)
            _ip("-n", ns, "link", "set", "lo", "up")
        links = [  # (ns1, if1, addr1, ns2, if2, addr2)
            (self.client, f"{p}c1", "192.0.2.2/26", self.router1, f"{p}x1", "192.0.2.1/26"),
            (self.router1, f"{p}y1", "198.51.100.1/26", self.server, f"{p}s1", "198.51.100.2/26"),
            (self.client, f"{p}c2", "192.0.2.66/26", self.router2, f"{p}x2", "192.0.2.65/26"),
            (self.router2, f"{p}y2", "203.0.113.1/26", self.server, f"{p}s2", "203.0.113.2/26"),
            (self.client, f"{p}c3", "192.0.2.130/26", self.router3, f"{p}x3", "192.0.2.129/26"),
            (self.router3, f"{p}y3", "203.0.113.65/26", self.server, f"{p}s3", "203.0.113.66/26"),
        ]
        for ns1, if1, a1, ns2, if2, a2 in links:
            _ip("link", "add", if1, "type", "veth", "peer", "name", if2)
            _ip("link", "set", if1, "netns", ns1)
            _ip("link", "set", if2, "netns", ns2)
            for ns, ifn, addr in ((ns1, if1, a1), (ns2, if2, a2)):
                _ip("-n", ns, "addr", "add", addr, "dev", ifn)
                _ip("-n", ns, "link", "set", ifn, "up")
        for ns in (self.router1, self.router2, self.router3, self.server):
            # no ICMP rate limit, or a fast trace's hops answer only once in a second
            _ns_sh(ns, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.icmp_ratelimit=0")
        _ip("-n", self.router2, "route", "add", "198.51.100.0/26", "via", "203.0.113.2")
        _ip("-n", self.router3, "route", "add", "198.51.100.0/26", "via", "203.0.113.66")
        _ip("-n", self.server, "route", "add", "192.0.2.0/26", "via", "198.51.100.1")
        _ip("-n", self.server, "route", "add", "192.0.2.64/26", "via", "203.0.113.1")
        _ip("-n", self.server, "route", "add", "192.0.2.128/26", "via", "203.0.113.65")
        # ECMP (see ecmp()): hash each flow on its addresses and ports, not on addresses only
        _ns_sh(self.client, "sysctl", "-qw", "net.ipv4.fib_multipath_hash_policy=1")
        _ip("-n", self.client, "route", "add", "198.51.100.0/26", "via", HOP_R1)
        self.reset()

    def via_router1(self) -> None:
        _ip("-n", self.client, "route", "replace", "198.51.100.0/26", "via", HOP_R1)

    def via_router2(self) -> None:
        _ip("-n", self.client, "route", "replace", "198.51.100.0/26", "via", HOP_R2)

    def via_router3(self) -> None:
        _ip("-n", self.client, "route", "replace", "198.51.100.0/26", "via", HOP_R3)

    def ecmp(self) -> None:
        """Routers 1 and 2 as equal next hops: each flow (UDP ports) takes one of them."""
        _ip("-n", self.client, "route", "replace", "198.51.100.0/26",
            "nexthop", "via", HOP_R1, "nexthop", "via", HOP_R2)

    def loss(self, probability: float) -> None:
        """Drop echo requests to the server in router 1 with this probability (0 = none)."""
        _ns_sh(self.router1, "iptables", "-F", "FORWARD")
        if probability > 0:
            _ns_sh(self.router1, "iptables", "-A", "FORWARD", "-d", TARGET, "-p", "icmp",
                   "--icmp-type", "echo-request", "-m", "statistic", "--mode", "random",
                   "--probability", f"{probability:g}", "-j", "DROP")

    def blackhole(self, on: bool) -> None:
        """Router 1 answers 'host unreachable' for the server: the target is down."""
        action = "add" if on else "del"
        _ip("-n", self.router1, "route", action, "unreachable", f"{TARGET}/32", check=on)

    def silence(self) -> None:
        """Router 1 forwards nothing and sends no ICMP: no hop of a trace answers."""
        _ns_sh(self.router1, "iptables", "-A", "FORWARD", "-j", "DROP")
        _ns_sh(self.router1, "iptables", "-A", "OUTPUT", "-p", "icmp", "-j", "DROP")

    def reset(self) -> None:
        self.via_router1()
        self.loss(0)  # flushes FORWARD
        _ns_sh(self.router1, "iptables", "-F", "OUTPUT")
        _ns_sh(self.router1, "iptables", "-t", "mangle", "-F", "FORWARD")  # a delay rule left over
        self.blackhole(False)

    def destroy(self) -> None:
        with self._lock:
            while self.built:
                ns = self.built.pop()
                _ip("netns", "del", ns, check=False)


def _remove_stale() -> None:
    """Namespaces of earlier sessions whose process is gone (a SIGKILLed pytest)."""
    out = _ip("netns", "list", check=False).stdout
    for line in out.splitlines():
        name = line.split()[0] if line.split() else ""
        if not name.startswith("wr") or "-" not in name:
            continue
        pid = name[2:].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not os.path.exists(f"/proc/{pid}"):
            _ip("netns", "del", name, check=False)


_TOPOLOGY: Topology | None = None


def get_topology() -> Topology:
    """Build the topology once per process (several test modules share it)."""
    global _TOPOLOGY
    for tool in ("ip", "iptables", "ping", "traceroute"):
        if shutil.which(tool) is None:
            missing(tool, "apt-get install iproute2 iptables iputils-ping traceroute")
    if os.geteuid() != 0:
        missing("root", "network namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN")
    if _TOPOLOGY is None:
        _remove_stale()
        topo = Topology(prefix=f"wr{os.getpid()}")
        atexit.register(topo.destroy)
        try:
            topo.build()
        except subprocess.CalledProcessError as exc:
            topo.destroy()
            missing("network namespaces", f"{' '.join(exc.cmd)}: {exc.stderr.strip()}")
        _TOPOLOGY = topo
    return _TOPOLOGY


@pytest.fixture(scope="session")
def topology():
    topo = get_topology()
    yield topo
    topo.destroy()


class NetnsWorker:
    """One Python process inside the client namespace that runs checks on request.

    ``run(check, params, key)`` → the list of wire results.  State is kept per
    ``key`` by the agent's Runner, as across the agent's scheduled runs.
    """

    def __init__(self, namespace: str):
        env = {**os.environ, "PYTHONPATH": REPO}
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", namespace, sys.executable, "-m", "tests.checks.netns"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO, env=env)

    def run(self, check: str, params: dict[str, Any], key: str = "", timeout_s: float = 60.0
            ) -> list[dict[str, Any]]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"check": check, "params": params, "key": key,
                                          "timeout_s": timeout_s}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the worker in the namespace ended (exit {self.proc.wait(5)})")
        return json.loads(line)

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def _serve() -> None:
    """The worker's loop: one JSON request per line on stdin, one JSON answer per line."""
    from agent.runner import CheckRun, Runner
    from checks.catalogue import get_check
    from checks.params import parse_params

    runner = Runner("test-site", "netns-client")
    for line in sys.stdin:
        req = json.loads(line)
        spec = get_check(req["check"])
        params = parse_params(spec.params, req["params"])
        results = runner.run(CheckRun(spec=spec, params=params, timeout_s=req["timeout_s"],
                                      name=req.get("key") or ""))
        sys.stdout.write(json.dumps([r.to_wire() for r in results], ensure_ascii=False) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    _serve()


@pytest.fixture(scope="module")
def worker(topology: Topology) -> Iterator[NetnsWorker]:
    """One check-running process in the client namespace per test module (state carries over)."""
    w = NetnsWorker(topology.client)
    yield w
    w.close()


@pytest.fixture
def net(topology: Topology) -> Iterator[Topology]:
    """The topology with loss rules and routes reset before and after the test."""
    topology.reset()
    yield topology
    topology.reset()

