"""A delaying NFQUEUE handler: the stand-in for ``netem delay`` (this kernel has no netem).

Run inside a router namespace by :mod:`tests.checks.netdelay`::

    ip netns exec <router> python tests/checks/nfq_delay.py <queue-num> <delay-ms>

It binds NFQUEUE ``queue-num`` (the iptables rule ``-j NFQUEUE --queue-num N
--queue-bypass`` sends packets to it) and accepts every packet ``delay-ms`` after it
arrived.  Packets wait in a heap ordered by release time, never in a ``sleep`` inside the
callback, so each packet is late by the delay alone, not by the delay times the number of
packets queued before it, and packets arriving together leave together.

Protocol on stdin/stdout (one line each):

* after binding it prints ``ready``;
* a line with a number sets a new delay in ms (for packets arriving from then on) and is
  answered with ``ok <ms>``;
* end of input (the test process closed the pipe or died) or SIGTERM: every held packet
  is accepted at once, the queue is unbound, the process exits 0.

Exit status 2 with a message on stderr when the queue cannot be bound (another handler
holds that number, no CAP_NET_ADMIN) or NetfilterQueue is not installed.
"""

from __future__ import annotations

import heapq
import itertools
import os
import select
import signal
import socket
import sys
import time
from typing import Any


def main(argv: list[str]) -> int:
    try:
        from netfilterqueue import COPY_META, NetfilterQueue
    except ImportError as exc:
        print(f"NetfilterQueue is not installed: {exc}", file=sys.stderr)
        return 2
    queue_num, delay_s = int(argv[1]), float(argv[2]) / 1000.0
    held: list[tuple[float, int, Any]] = []  # (release at, arrival number, packet)
    arrivals = itertools.count()

    def hold(pkt: Any) -> None:
        heapq.heappush(held, (time.monotonic() + delay_s, next(arrivals), pkt))

    nfq = NetfilterQueue()
    try:
        nfq.bind(queue_num, hold, mode=COPY_META)  # the payload is not needed: no copy
    except OSError as exc:
        print(f"cannot bind NFQUEUE {queue_num}: {exc}", file=sys.stderr)
        return 2
    nl = socket.fromfd(nfq.get_fd(), socket.AF_NETLINK, socket.SOCK_RAW)
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    stdin = sys.stdin.fileno()
    print("ready", flush=True)
    try:
        while not stopping:
            wait = max(0.0, held[0][0] - time.monotonic()) if held else 1.0
            try:
                readable, _, _ = select.select([nl, stdin], [], [], wait)
            except InterruptedError:  # a signal: the loop condition decides
                continue
            if nl in readable:
                nfq.run(block=False)  # calls hold() for each packet waiting in the socket
            if stdin in readable:
                line = os.read(stdin, 4096).decode().strip()
                if not line:  # EOF: the test process is gone
                    break
                delay_s = float(line.splitlines()[-1]) / 1000.0
                print(f"ok {delay_s * 1000:g}", flush=True)
            now = time.monotonic()
            while held and held[0][0] <= now:
                heapq.heappop(held)[2].accept()
    finally:
        while held:  # nothing is dropped by stopping: the rest goes out now
            heapq.heappop(held)[2].accept()
        nfq.unbind()
        nl.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
