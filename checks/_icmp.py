"""Native ICMP echo and traceroute through icmplib, where this process may send ICMP.

=============== =========================================================
mode            when
=============== =========================================================
``privileged``  root (or Windows): a raw socket
``unprivileged`` Linux, not root, and ``net.ipv4.ping_group_range`` holds one
                of this process's groups: a datagram ICMP socket
``None``        otherwise, or icmplib is not installed: use the system tool
=============== =========================================================

Native pings need no subprocess and no parsing; their RTTs are microsecond-precise.
icmplib counts an ICMP error (destination unreachable, TTL exceeded) as a lost probe,
so the Windows "unreachable counts as received" trap cannot happen here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from checks import _logs
from checks._network import Hop, HopMember, PingStats

log = _logs.get(__name__)  # logging itself only if a record needs it (checks/_logs.py)

PING_GROUP_RANGE = "/proc/sys/net/ipv4/ping_group_range"


class ResolveError(Exception):
    """The target's name does not resolve."""


def native_mode(read: Callable[[str], str] | None = None) -> str | None:
    """``"privileged"``, ``"unprivileged"`` or ``None`` (see the module docstring)."""
    try:
        import icmplib  # noqa: F401
    except ImportError:
        return None
    if sys.platform == "win32":
        return "privileged"
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return "privileged"
    try:
        text = (read or _read)(PING_GROUP_RANGE)
        low, high = (int(x) for x in text.split()[:2])
    except (OSError, ValueError):
        return None
    groups = {os.getgid(), *os.getgroups()} if hasattr(os, "getgid") else set()
    return "unprivileged" if any(low <= g <= high for g in groups) else None


def _read(path: str) -> str:
    with open(path, encoding="ascii") as f:
        return f.read()


def ping(target: str, *, count: int, interval: float, timeout: float, privileged: bool) -> PingStats:
    """``count`` echo requests; raises :class:`ResolveError` when the name does not resolve.

    Other icmplib errors (no permission, a bad address) propagate as
    ``icmplib.ICMPLibError``: the caller falls back to the system ``ping``.
    """
    import icmplib

    try:
        host = icmplib.ping(target, count=count, interval=interval, timeout=timeout,
                            privileged=privileged)
    except icmplib.NameLookupError as exc:
        raise ResolveError(str(exc)) from exc
    rtts = tuple(round(r, 3) for r in host.rtts)
    received = host.packets_received
    sent = host.packets_sent
    return PingStats(
        sent=sent, received=received, loss_ratio=round(1 - received / sent, 6) if sent else 1.0,
        rtt_min_ms=round(host.min_rtt, 3) if received else None,
        rtt_avg_ms=round(host.avg_rtt, 3) if received else None,
        rtt_max_ms=round(host.max_rtt, 3) if received else None,
        jitter_ms=round(host.jitter, 3) if received else None,
        rtts_ms=rtts, target=host.address, recognised=True,
    )


def traceroute(target: str, *, max_hops: int, queries: int, wait: float) -> list[Hop]:
    """A raw-socket ICMP trace (root only); unanswered TTLs are filled in as ``*`` hops."""
    import icmplib

    try:
        found = icmplib.traceroute(target, count=queries, interval=0.02, timeout=wait,
                                   max_hops=max_hops, fast=True)
    except icmplib.NameLookupError as exc:
        raise ResolveError(str(exc)) from exc
    by_ttl = {h.distance: h for h in found}
    last = max(by_ttl, default=0)
    hops: list[Hop] = []
    for ttl in range(1, last + 1):
        h = by_ttl.get(ttl)
        if h is None:
            hops.append(Hop(ttl, (None,) * queries))
            continue
        answered = tuple(round(r, 3) for r in h.rtts)
        rtts: tuple[float | None, ...] = answered + (None,) * (queries - len(answered))
        hops.append(Hop(ttl, rtts, (HopMember(h.address, answered),)))
    return hops
