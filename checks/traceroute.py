"""traceroute: the hop list to a target, compared with the path this agent saw before.

One result per target (item = the target).  The agent keeps a **baseline path** per
target in ``ctx.state``: per TTL the set of addresses that hop answered from (a
load-balanced hop answers from several routers; every one is kept in ``details.hops``
with the RTTs of its own probes).  A hop where no probe was answered (``*``) matches
anything; the trailing run of ``*`` hops is dropped and a trace that ends early matches
as far as it goes.  A hop matches when all its addresses are members; one that answered
from a member and from new routers in the same run teaches them (the balancer shows
itself); one answered only from outside the members differs, unless those routers came
back after a short excursion (the hop alternates, as Windows ``tracert`` shows a
balancer: one router per run).  A lost or extra hop or a different hop count differs
where the later hops moved.

Rules, run by run:

* no baseline yet → this path becomes the baseline (OK); the next runs up to
  ``learn_runs`` (3) add the routers they answered from (OK, "learning");
* the path matches the baseline → OK; ``*`` hops of the baseline are filled in and
  learned members added;
* the path differs → it becomes the *candidate*.  While the path has differed in fewer
  than ``confirm_after`` (2) consecutive runs the result stays OK (the summary says so);
  from the ``confirm_after``-th run on it is WARNING "path changed" naming the changed
  hops, with both paths in ``details``;
* once the path has differed ``adopt_after`` (12) consecutive runs, the candidate (every
  router those runs answered from) is adopted as the new baseline (OK, the summary says
  so).  ``adopt_after: 0`` never adopts;
* a run that changes back to the baseline clears the candidate (OK); the routers of a
  candidate shorter than ``confirm_after`` runs are remembered for the alternation rule.

A baseline stored by an older agent (one address per hop, or without a run count) is
read as it is and counts as learned.

======== ==============================================================
status   meaning
======== ==============================================================
OK       the path matches the baseline, is recorded, or differs in fewer
         than ``confirm_after`` consecutive runs
WARNING  the path differs from the baseline in ``confirm_after`` or more
         consecutive runs
CRITICAL the target's name does not resolve
UNKNOWN  no target; no traceroute tool; no hop answered (probes blocked?);
         output not understood (kept in ``details.raw``); ran out of time
======== ==============================================================

Metrics: ``hops`` (count; the last hop that answered), ``path_changed`` (1 when a
change is reported, i.e. WARNING, else 0), ``last_hop_rtt_seconds`` (s; mean RTT of
the last hop that answered).

Linux: ``traceroute -n -q Q -w W -m M`` (UDP probes, no root needed).  Windows:
``tracert -d -h M -w ms`` (3 probes per hop, fixed).  Without the tool, root may use
native ICMP probes (icmplib).
"""

from __future__ import annotations

import ipaddress
import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass

from checks import _icmp, _logs, _netcmd
from checks._netcmd import Trace
from checks._network import Hop
from checks._params.traceroute import METHODS, TracerouteParams  # noqa: F401 (re-exported: the old import path)
from checks.context import CheckContext
from checks.messages import Said, say
from checks.result import Metric, Result, Status

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

NAME = "traceroute"
MAX_ADDRESSES_PER_HOP = 16

log = _logs.get(__name__)  # logging itself only if a record needs it (checks/_logs.py)

Path = list[list[str]]  # per TTL the sorted responding addresses; [] = no answer (a wildcard)


TraceFn = Callable[[str, int, int, float, float, str], Trace]


def trace(target: str, max_hops: int, queries: int, wait: float, time_limit: float,
          method: str = "auto") -> Trace:
    """Run one trace by ``method``; raises :class:`checks._netcmd.ToolMissing` if none can run."""
    if method in ("auto", "system"):
        try:
            return _netcmd.traceroute(target, max_hops=max_hops, queries=queries, wait=wait,
                                      time_limit=time_limit)
        except _netcmd.ToolMissing:
            if method == "system" or _icmp.native_mode() != "privileged":
                raise
    try:
        hops = _icmp.traceroute(target, max_hops=max_hops, queries=queries, wait=wait)
    except _icmp.ResolveError:
        return Trace([], "", "cannot resolve host", "native")
    return Trace(hops, "", None if hops else say("traceroute.no_answer"), "native")


def run(params: TracerouteParams, ctx: CheckContext, *, trace_fn: TraceFn = trace) -> list[Result]:
    target = params.target.strip()
    if not target:
        return [Result(check=NAME, item="", status=Status.UNKNOWN,
                       summary=say("traceroute.no_target", param="target"))]
    standard = say("traceroute.standard", runs=params.confirm_after)
    try:
        tr = trace_fn(target, params.max_hops, params.queries, float(params.wait),
                      max(5.0, ctx.timeout_s - 5.0), params.method)
    except _netcmd.ToolMissing as exc:
        return [Result(check=NAME, item=target, status=Status.UNKNOWN, standard=standard,
                       summary=say("traceroute.no_tool", tool=str(exc), install="apt-get install traceroute"))]
    hops_wire = [hop_to_wire(h) for h in tr.hops]
    path = normalise(tr.hops)
    base_details: dict[str, Any] = {"target": target, "method": tr.method, "hops": hops_wire}
    if not path:
        if tr.failure == "cannot resolve host":
            status, summary = Status.CRITICAL, say("traceroute.cannot_resolve", target=target)
        elif tr.hops:
            status, summary = Status.UNKNOWN, say("traceroute.no_hop", target=target)
        elif tr.failure:
            status, summary = Status.UNKNOWN, say("traceroute.failed", target=target, error=tr.failure)
        else:
            status, summary = Status.UNKNOWN, say("traceroute.not_understood", target=target)
        return [Result(check=NAME, item=target, status=status, standard=standard, summary=summary,
                       details={**base_details, "raw": tr.raw[-4000:]},
                       metrics=(Metric("hops", 0.0, "count"),))]
    status, judged, changed, extra = judge(path, params, ctx)
    destination = _destination(target, tr.raw)
    reached = None if destination is None else destination in path[-1]
    summary = (say("traceroute.not_reached", target=target, text=judged, hop=len(path)) if reached is False
               else say("traceroute.result", target=target, text=judged))
    last = tr.hops[len(path) - 1]
    answered = [r for r in last.rtts_ms if r is not None]
    last_rtt = statistics.fmean(answered) / 1000 if answered else None
    return [Result(
        check=NAME, item=target, status=status, standard=standard, summary=summary,
        metrics=(Metric("hops", float(len(path)), "count"),
                 Metric("path_changed", 1.0 if changed else 0.0, "", min=0, max=1),
                 Metric("last_hop_rtt_seconds", None if last_rtt is None else round(last_rtt, 6), "s")),
        details={**base_details, "path": path, "reached": reached, **extra},
    )]


def judge(path: Path, params: TracerouteParams, ctx: CheckContext
          ) -> tuple[Status, Said, bool, dict[str, Any]]:
    """Compare ``path`` with the baseline in ``ctx.state``; update the state (see the docstring)."""
    state = ctx.state
    now = ctx.now.isoformat()
    baseline = read_path(state.get("baseline"))
    if not baseline:
        state.update(baseline=path, baseline_since=now, baseline_runs=1, candidate=None, candidate_runs=0,
                     strays={})
        return (Status.OK, say("traceroute.recorded", hops=len(path), path=_fmt_path(path),
                               learning=_learning(1, params)), False, {"baseline": path})
    # A baseline stored before its runs were counted has been learned already.
    formed = _int(state.get("baseline_runs"), params.learn_runs)
    if formed < params.learn_runs:
        merged = merge(baseline, path)
        formed += 1
        state.update(baseline=merged, baseline_runs=formed, candidate=None, candidate_runs=0)
        return (Status.OK, say("traceroute.path_recorded", hops=len(path), learning=_learning(formed, params)),
                False, {"baseline": merged})
    strays = read_strays(state.get("strays"))
    cmp = compare(baseline, path, strays)
    candidate = read_path(state.get("candidate"))
    runs = _int(state.get("candidate_runs"), 0)
    if not cmp.changed:
        if candidate and 0 < runs < params.confirm_after and len(candidate) == len(baseline):
            strays = add_strays(strays, baseline, candidate)  # a short excursion that came back
        for ttl, address, _how in cmp.learned:
            held = strays.get(str(ttl), [])
            if address in held:
                held.remove(address)
        strays = {k: v for k, v in strays.items() if v}
        state.update(baseline=cmp.baseline, candidate=None, candidate_runs=0, strays=strays)
        summary = say("traceroute.as_baseline", hops=len(path), learned=_learned_text(cmp.learned))
        extra: dict[str, Any] = {"baseline": cmp.baseline}
        if cmp.learned:
            extra["learned"] = [{"ttl": t, "address": a, "how": how} for t, a, how in cmp.learned]
        return Status.OK, summary, False, extra
    if candidate and runs:
        runs += 1
        candidate = merge(candidate, path)
    else:
        runs, candidate = 1, path
        state["candidate_since"] = now
    changes = [say("traceroute.hop_changed", ttl=ttl, before=_fmt(_at(baseline, ttl)), after=_fmt(_at(path, ttl)))
               for ttl in cmp.changed]
    extra = {"baseline": baseline, "changed_hops": cmp.changed, "candidate_runs": runs,
             "candidate_since": state.get("candidate_since")}
    if params.adopt_after and runs >= params.adopt_after:
        state.update(baseline=candidate, baseline_since=now, baseline_runs=params.learn_runs, candidate=None,
                     candidate_runs=0, strays={})
        return (Status.OK, say("traceroute.adopted", hops=len(path), runs=runs, changes=changes), False,
                {**extra, "adopted": True})
    state.update(candidate=candidate, candidate_runs=runs)
    if runs >= params.confirm_after:
        return (Status.WARNING, say("traceroute.changed", runs=runs, changes=changes), True, extra)
    return (Status.OK, say("traceroute.differs", changes=changes, runs=runs, confirm=params.confirm_after), False,
            extra)


@dataclass(frozen=True)
class Comparison:
    """How a path compares with a baseline (see :func:`compare`)."""

    #: TTLs where the path answered only from addresses outside the baseline's members
    changed: list[int]
    #: (ttl, address, how) of new members: ``alongside`` a known member in the same run, or
    #: ``alternating`` (seen before in a short excursion that came back)
    learned: list[tuple[int, str, str]]
    #: the baseline with the learned members, its ``*`` hops filled in and its end extended
    #: (meaningful when nothing changed)
    baseline: Path


def compare(baseline: Path, path: Path, strays: dict[str, list[str]] | None = None) -> Comparison:
    """Compare ``path`` with ``baseline`` hop by hop.

    A hop that did not answer (``[]``), or lies beyond the end of either path (a trace
    that ended early), matches; so does a hop whose addresses are all members.  A hop that
    answered from a member and from new addresses in the same run shows its balancer: the
    new addresses are members too.  A hop answered only by addresses outside the members
    changed, unless every one of them is a *stray* of that TTL (seen before in a short
    excursion that came back to the baseline: the hop alternates).
    """
    strays = strays or {}
    changed: list[int] = []
    learned: list[tuple[int, str, str]] = []
    merged: Path = []
    for i in range(max(len(baseline), len(path))):
        ttl = i + 1
        known = baseline[i] if i < len(baseline) else []
        seen = path[i] if i < len(path) else []
        new = [a for a in seen if a not in known]
        if not known or not new:
            merged.append(_members(known, seen))
            continue
        if len(new) < len(seen):
            learned += [(ttl, a, "alongside") for a in new]
        elif set(new) <= set(strays.get(str(ttl), [])):
            learned += [(ttl, a, "alternating") for a in new]
        else:
            changed.append(ttl)
        merged.append(_members(known, seen))
    return Comparison(changed=changed, learned=learned, baseline=merged)


def normalise(hops: list[Hop]) -> Path:
    """Per TTL the sorted responding addresses (``[]`` = no answer); trailing ``[]`` dropped."""
    path: Path = []
    by_ttl = {h.ttl: h for h in hops}
    for ttl in range(1, max(by_ttl, default=0) + 1):
        h = by_ttl.get(ttl)
        path.append(sorted(set(h.addresses))[:MAX_ADDRESSES_PER_HOP] if h else [])
    while path and not path[-1]:
        path.pop()
    return path


def merge(base: Path, seen: Path) -> Path:
    """Both paths' members per TTL (the union), as long as the longer one."""
    return [_members(base[i] if i < len(base) else [], seen[i] if i < len(seen) else [])
            for i in range(max(len(base), len(seen)))]


def add_strays(strays: dict[str, list[str]], baseline: Path, excursion: Path) -> dict[str, list[str]]:
    """``strays`` plus the addresses ``excursion`` answered from outside the baseline's members."""
    out = {k: list(v) for k, v in strays.items()}
    for i, seen in enumerate(excursion):
        known = baseline[i] if i < len(baseline) else []
        outside = [a for a in seen if a not in known]
        if known and outside:
            out[str(i + 1)] = _members(out.get(str(i + 1), []), outside)
    return out


def read_path(value: Any) -> Path:
    """A stored path or baseline: per TTL a list of addresses.

    Reads every form an agent has stored: a list of address lists, or (older) one
    address per hop, ``None`` or ``""`` for a hop that did not answer.  Anything else is
    an empty path (a new baseline is recorded).
    """
    if not isinstance(value, list):
        return []
    path: Path = []
    for hop in value:
        if isinstance(hop, str):
            path.append([hop] if hop else [])
        elif isinstance(hop, list):
            path.append(sorted({a for a in hop if isinstance(a, str) and a})[:MAX_ADDRESSES_PER_HOP])
        else:
            path.append([])
    return path


def read_strays(value: Any) -> dict[str, list[str]]:
    if not isinstance(value, dict):
        return {}
    return {str(k): sorted({a for a in v if isinstance(a, str)})[:MAX_ADDRESSES_PER_HOP]
            for k, v in value.items() if isinstance(v, list)}


def _members(*groups: list[str]) -> list[str]:
    return sorted({a for g in groups for a in g})[:MAX_ADDRESSES_PER_HOP]


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _learning(formed: int, params: TracerouteParams) -> str:
    """``""``, or "; learning its load-balanced hops (run 1 of 3)" (a tail of a summary)."""
    if formed >= params.learn_runs:
        return ""
    return say("traceroute.learning", run=formed, runs=params.learn_runs)


def _learned_text(learned: list[tuple[int, str, str]]) -> str:
    """``""``, or "; hop 3: 192.0.2.9 is a load-balanced member (...)" per member (a tail of a summary)."""
    if not learned:
        return ""
    return say("traceroute.learned", members=[say("traceroute.member", ttl=ttl, address=address,
                                                  how=f"traceroute.how.{how}") for ttl, address, how in learned])


_HEADER_ADDRESS = re.compile(r"(?:\(|\[)([0-9a-fA-F.:]+(?:%\w+)?)(?:\)|\])")


def _destination(target: str, raw: str) -> str | None:
    """The target's address: the target itself, or what the tool's header says it resolved to."""
    try:
        return str(ipaddress.ip_address(target.split("%")[0])).lower()
    except ValueError:
        pass
    for line in raw.splitlines()[:3]:
        m = _HEADER_ADDRESS.search(line)
        if m:
            return m.group(1).lower()
    return None


def _at(path: Path, ttl: int) -> list[str] | None:
    return path[ttl - 1] if ttl <= len(path) else None


def _fmt_path(path: Path) -> str:
    return " → ".join(_fmt(h) for h in path)


def _fmt(hop: list[str] | None) -> str:
    if hop is None:
        return say("traceroute.no_such_hop")
    return "/".join(hop) if hop else "*"


def hop_to_wire(h: Hop) -> dict[str, Any]:
    """A hop in ``details``: every member with the RTTs of its probes, and all probes in order."""
    return {"ttl": h.ttl, "address": h.address, "addresses": list(h.addresses), "rtts_ms": list(h.rtts_ms),
            "members": [{"address": m.address, "rtts_ms": list(m.rtts_ms)} for m in h.members],
            **({"annotations": list(h.annotations)} if h.annotations else {})}
