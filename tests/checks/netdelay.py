"""Real added delay in a router namespace: NFQUEUE plus a delaying handler (no netem here).

This kernel has no ``netem`` qdisc, so delay is made the way
``/work/shared/reference/components.md`` §3 verified: an iptables rule in the router's
``mangle`` FORWARD chain sends the forwarded packets toward the server to an NFQUEUE, and
:mod:`tests.checks.nfq_delay`, running in the router namespace, accepts each one
``ms`` later.  Only the direction client → server is delayed, so a ping's RTT grows by
the delay once (not twice), and router 1's own ICMP answers (traceroute hop 1) are not
delayed at all: hop 2 and later are.

The rule lives in the ``mangle`` table so that :meth:`Topology.loss`, which flushes the
``filter`` FORWARD chain, and delay can be combined.  ``--queue-bypass`` lets packets
through undelayed if the handler is gone, so a crashed handler never cuts the network.

::

    with delay(topology, 200) as d:   # 200 ms on client → server through router 1
        ...
        d.set(600)                    # change it without restarting the handler
    # the rule is removed and the handler stopped here, whatever happened inside

Queue numbers are unique per process (pid-based, then counting), and the routers'
namespaces are per process too, so parallel sessions never share a queue.  The handler
exits by itself when this process dies (its stdin closes); the namespace, rule included,
is removed with the topology.

:func:`need_netfilterqueue` calls :func:`tests.conftest.missing` when PyPI
``NetfilterQueue`` (built against Debian ``libnetfilter-queue-dev``) cannot be imported.
"""

from __future__ import annotations

import importlib.util
import itertools
import logging
import os
import select
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from tests.conftest import missing

if TYPE_CHECKING:
    from tests.checks.netns import Topology

HANDLER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nfq_delay.py")
SERVER_NET = "198.51.100.0/26"
START_TIMEOUT_S = 15.0

log = logging.getLogger(__name__)
_queue_numbers = itertools.count((os.getpid() * 8) % 60000 + 1)


def need_netfilterqueue() -> None:
    """Skip (fail under CI) when the NetfilterQueue module is not importable."""
    try:
        found = importlib.util.find_spec("netfilterqueue") is not None
        if found:
            import netfilterqueue  # noqa: F401 - loads libnetfilter_queue.so
    except ImportError as exc:
        missing("NetfilterQueue", f"{exc}; apt-get install libnetfilter-queue-dev, "
                                  "pip install NetfilterQueue==1.1.0")
        return
    if not found:
        missing("NetfilterQueue", "apt-get install libnetfilter-queue-dev build-essential, "
                                  "then pip install NetfilterQueue==1.1.0")


class Delay:
    """One delaying handler process and its iptables rule in ``namespace``."""

    def __init__(self, namespace: str, match: list[str], queue_num: int | None = None):
        self.namespace = namespace
        self.queue_num = next(_queue_numbers) if queue_num is None else queue_num
        self.rule = ["FORWARD", *match, "-j", "NFQUEUE", "--queue-num", str(self.queue_num),
                     "--queue-bypass"]
        self.proc: subprocess.Popen[bytes] | None = None
        self.rule_added = False
        self.ms = 0.0

    def start(self, ms: float) -> None:
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.namespace, sys.executable, HANDLER,
             str(self.queue_num), f"{ms:g}"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        reply = self._reply()
        if reply != "ready":
            raise RuntimeError(f"the delay handler did not start ({reply}): {self._stderr()}")
        self.ms = ms
        # the handler listens first, then packets are queued: none waits for a listener
        proc = self._iptables("-A")
        if proc.returncode != 0:
            raise RuntimeError(f"iptables NFQUEUE rule: {proc.stderr.strip()}")
        self.rule_added = True
        log.info("delay %s ms in %s (queue %s)", ms, self.namespace, self.queue_num)

    def set(self, ms: float) -> None:
        """A new delay for the packets arriving from now on."""
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(f"{ms:g}\n".encode())
        self.proc.stdin.flush()
        reply = self._reply()
        if reply != f"ok {ms:g}":
            raise RuntimeError(f"the delay handler did not take {ms:g} ms ({reply}): {self._stderr()}")
        self.ms = ms

    def stop(self) -> None:
        """Remove the rule and end the handler; safe to call twice or after a failed start."""
        if self.rule_added:
            self._iptables("-D")  # the rule may be gone already (a flush): not an error
            self.rule_added = False
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            assert proc.stdin is not None
            try:
                proc.stdin.close()  # EOF: it releases what it holds and exits
                proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait(5)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()

    def _iptables(self, action: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", self.namespace, "iptables", "-t", "mangle",
                               action, *self.rule], capture_output=True, text=True, timeout=20)

    def _reply(self) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], START_TIMEOUT_S)
        if not ready:
            return f"no answer in {START_TIMEOUT_S:g} s"
        line = self.proc.stdout.readline().decode().strip()
        return line or f"exit {self.proc.wait(5)}"

    def _stderr(self) -> str:
        assert self.proc is not None and self.proc.stderr is not None
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        return self.proc.stderr.read().decode(errors="replace").strip()


@contextmanager
def delay(topology: Topology, ms: float) -> Iterator[Delay]:
    """``ms`` of real delay on everything router 1 forwards toward the server, while inside."""
    need_netfilterqueue()
    d = Delay(topology.router1, ["-d", SERVER_NET])
    try:
        d.start(ms)
        yield d
    finally:
        d.stop()
