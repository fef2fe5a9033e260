"""A traced network path as people read it, from a stored result's ``details``.

The traceroute check's details carry ``hops`` (per TTL every router that answered, each
with the RTTs of its own probes: a load-balanced hop answers from several), ``baseline``
(per TTL the routers the hop is known to answer from, its *members*) and
``changed_hops``; the ping check carries a traceroute's ``hops`` as ``traceroute``
evidence.  :func:`path_hops` turns either into :class:`PathHop` rows for the host page and
the patrol record.

It reads what every agent version wrote: hops without ``members`` (agents before load-
balanced hops were kept) give their one router with the answered RTTs, or several routers
without RTTs of their own.  Malformed details give fewer rows or none, never an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["PathHop", "Responder", "path_hops", "routers_text"]

MAX_HOPS = 64


@dataclass(frozen=True, slots=True)
class Responder:
    """A router that answered a hop, and the RTTs (ms) of the probes it answered."""

    address: str
    rtts_ms: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class PathHop:
    ttl: int
    #: the routers that answered this run, in the order they answered
    answered: tuple[Responder, ...]
    #: probes of this TTL that got no answer
    lost: int
    #: the baseline's members of this hop (empty when there is no baseline: ping evidence)
    members: tuple[str, ...]
    #: routers of this run outside the members, at a hop the check reported as changed
    outside: tuple[str, ...]


def path_hops(details: Any) -> list[PathHop]:
    """The hops of a traceroute result's ``details``, or of a ping result's traceroute evidence."""
    if not isinstance(details, Mapping):
        return []
    hops = details.get("hops")
    if not isinstance(hops, list) and isinstance(details.get("traceroute"), Mapping):
        hops = details["traceroute"].get("hops")
    if not isinstance(hops, list):
        return []
    baseline = details.get("baseline")
    baseline = baseline if isinstance(baseline, list) else []
    changed_hops = details.get("changed_hops")
    changed = {t for t in changed_hops if _is_int(t)} if isinstance(changed_hops, list) else set()
    out: list[PathHop] = []
    for hop in hops[:MAX_HOPS]:
        if not isinstance(hop, Mapping) or not _is_int(hop.get("ttl")):
            continue
        ttl = int(hop["ttl"])
        answered = _responders(hop)
        probes = hop.get("rtts_ms")
        lost = sum(1 for r in probes if r is None) if isinstance(probes, list) else 0
        members = _addresses(baseline[ttl - 1]) if 0 < ttl <= len(baseline) else ()
        outside = tuple(r.address for r in answered if r.address not in members) if ttl in changed else ()
        out.append(PathHop(ttl=ttl, answered=answered, lost=lost,
                           members=members, outside=outside))
    return out


def routers_text(hop: PathHop) -> str:
    """``192.0.2.1 (0.3, 0.226 ms) / 192.0.2.65 (0.4 ms)``: the RTTs as the tool printed them
    (microseconds at most); ``""`` when no router answered."""
    parts = []
    for r in hop.answered:
        rtts = f" ({', '.join(f'{v:g}' for v in r.rtts_ms)} ms)" if r.rtts_ms else ""
        parts.append(r.address + rtts)
    return " / ".join(parts)


def _responders(hop: Mapping[str, Any]) -> tuple[Responder, ...]:
    members = hop.get("members")
    if isinstance(members, list):
        return tuple(Responder(str(m["address"]), _numbers(m.get("rtts_ms")))
                     for m in members if isinstance(m, Mapping) and isinstance(m.get("address"), str))
    addresses = _addresses(hop.get("addresses") or ([hop["address"]] if hop.get("address") else []))
    if len(addresses) == 1:  # an older agent: one router answered every probe
        return (Responder(addresses[0], _numbers(hop.get("rtts_ms"))),)
    return tuple(Responder(a, ()) for a in addresses)


def _addresses(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,) if value else ()
    if not isinstance(value, Sequence):
        return ()
    return tuple(a for a in value if isinstance(a, str) and a)


def _numbers(value: Any) -> tuple[float, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(float(v) for v in value if isinstance(v, int | float) and not isinstance(v, bool))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
