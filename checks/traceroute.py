"""traceroute: the hop list to a target, compared with the path this agent saw before.

One result per target (item = the target).  The agent keeps a **baseline path** per
target in ``ctx.state``.  Paths are compared after normalising: per TTL the set of
addresses that answered (load-balanced hops answer from several); a hop where no probe
was answered (``*``) matches anything; the trailing run of ``*`` hops is dropped.  Two
hops match when their address sets overlap.

Rules, run by run:

* no baseline yet → this path becomes the baseline (OK);
* the path matches the baseline → OK; ``*`` hops of the baseline are filled in and
  new load-balanced addresses are added to it.  A trace that ends early (its last hops
  did not answer) matches as far as it goes: silence is not a new route;
* the path differs → it becomes the *candidate*.  While the same candidate has been
  seen in fewer than ``confirm_after`` (2) consecutive runs the result stays OK (the
  summary says so); from the ``confirm_after``-th run on it is WARNING "path changed"
  naming the changed hops, with both paths in ``details``;
* once the candidate has been seen ``adopt_after`` (12) consecutive runs it is adopted
  as the new baseline (OK, the summary says so).  ``adopt_after: 0`` never adopts;
* a run that changes back to the baseline clears the candidate (OK).

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
import logging
import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from checks import _icmp, _netcmd
from checks._netcmd import Trace
from checks.context import CheckContext
from checks.network import Hop
from checks.params import Duration
from checks.result import Metric, Result, Status

NAME = "traceroute"
METHODS = ("auto", "system", "native")
MAX_ADDRESSES_PER_HOP = 8

log = logging.getLogger(__name__)

Path = list[list[str]]  # per TTL the sorted responding addresses; [] = no answer (a wildcard)


@dataclass(frozen=True)
class TracerouteParams:
    target: str = ""
    max_hops: int = 30
    #: probes per hop (Linux; Windows tracert always sends 3)
    queries: int = 3
    #: how long to wait for each probe's answer
    wait: Duration = Duration(1.0)
    #: consecutive runs a new path must be seen before it is reported (WARNING)
    confirm_after: int = 2
    #: consecutive runs after which a new path becomes the baseline; 0 = never
    adopt_after: int = 12
    #: auto (system tool, else native ICMP as root), system, native
    method: str = "auto"

    def __post_init__(self) -> None:
        if not 1 <= self.max_hops <= 255:
            raise ValueError(f"max_hops: expected 1 to 255 (got {self.max_hops})")
        if not 1 <= self.queries <= 10:
            raise ValueError(f"queries: expected 1 to 10 (got {self.queries})")
        if not 0 < self.wait <= 60:
            raise ValueError(f"wait: expected more than 0 s and at most 60 s (got {self.wait:g})")
        if self.confirm_after < 1:
            raise ValueError(f"confirm_after: expected 1 or more (got {self.confirm_after})")
        if self.adopt_after and self.adopt_after <= self.confirm_after:
            raise ValueError(f"adopt_after: expected 0 (never) or more than confirm_after "
                             f"({self.adopt_after} <= {self.confirm_after})")
        if self.method not in METHODS:
            raise ValueError(f"method: expected one of {', '.join(METHODS)} (got {self.method!r})")


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
    return Trace(hops, "", None if hops else "no hop answered", "native")


def run(params: TracerouteParams, ctx: CheckContext, *, trace_fn: TraceFn = trace) -> list[Result]:
    target = params.target.strip()
    if not target:
        return [Result(check=NAME, item="", status=Status.UNKNOWN,
                       summary="no target: set the 'target' parameter")]
    standard = f"path as baseline; a change is reported after {params.confirm_after} runs"
    try:
        tr = trace_fn(target, params.max_hops, params.queries, float(params.wait),
                      max(5.0, ctx.timeout_s - 5.0), params.method)
    except _netcmd.ToolMissing as exc:
        return [Result(check=NAME, item=target, status=Status.UNKNOWN, standard=standard,
                       summary=f"no traceroute tool: {exc} is not installed (Debian: apt-get install "
                               f"traceroute)")]
    hops_wire = [hop_to_wire(h) for h in tr.hops]
    path = normalise(tr.hops)
    base_details: dict[str, Any] = {"target": target, "method": tr.method, "hops": hops_wire}
    if not path:
        if tr.failure == "cannot resolve host":
            status, summary = Status.CRITICAL, f"{target}: cannot resolve the name"
        elif tr.hops:
            status, summary = Status.UNKNOWN, f"{target}: no hop answered (probes blocked?)"
        elif tr.failure:
            status, summary = Status.UNKNOWN, f"{target}: traceroute failed ({tr.failure})"
        else:
            status, summary = Status.UNKNOWN, f"{target}: traceroute output not understood"
        return [Result(check=NAME, item=target, status=status, standard=standard, summary=summary,
                       details={**base_details, "raw": tr.raw[-4000:]},
                       metrics=(Metric("hops", 0.0, "count"),))]
    status, summary, changed, extra = judge(path, params, ctx)
    destination = _destination(target, tr.raw)
    reached = None if destination is None else destination in path[-1]
    if reached is False:
        summary += f"; destination not reached (last answer at hop {len(path)})"
    last = tr.hops[len(path) - 1]
    answered = [r for r in last.rtts_ms if r is not None]
    last_rtt = statistics.fmean(answered) / 1000 if answered else None
    return [Result(
        check=NAME, item=target, status=status, standard=standard, summary=f"{target}: {summary}",
        metrics=(Metric("hops", float(len(path)), "count"),
                 Metric("path_changed", 1.0 if changed else 0.0, "", min=0, max=1),
                 Metric("last_hop_rtt_seconds", None if last_rtt is None else round(last_rtt, 6), "s")),
        details={**base_details, "path": path, "reached": reached, **extra},
    )]


def judge(path: Path, params: TracerouteParams, ctx: CheckContext
          ) -> tuple[Status, str, bool, dict[str, Any]]:
    """Compare ``path`` with the baseline in ``ctx.state``; update the state (see the docstring)."""
    state = ctx.state
    now = ctx.now.isoformat()
    baseline: Path | None = state.get("baseline")
    hops_text = " → ".join(_fmt(h) for h in path)
    if not isinstance(baseline, list) or not baseline:
        state.update(baseline=path, baseline_since=now, candidate=None, candidate_runs=0)
        return Status.OK, f"{len(path)} hops, baseline recorded ({hops_text})", False, {"baseline": path}
    diff = differing_hops(baseline, path)
    if not diff:
        state.update(baseline=merge(baseline, path), candidate=None, candidate_runs=0)
        return Status.OK, f"{len(path)} hops, path as baseline", False, {"baseline": state["baseline"]}
    candidate = state.get("candidate")
    runs = int(state.get("candidate_runs") or 0)
    if isinstance(candidate, list) and candidate and not differing_hops(candidate, path):
        runs += 1
        candidate = merge(candidate, path)
    else:
        runs, candidate = 1, path
        state["candidate_since"] = now
    changes = "; ".join(f"hop {ttl}: {_fmt(_at(baseline, ttl))} → {_fmt(_at(path, ttl))}" for ttl in diff)
    extra = {"baseline": baseline, "changed_hops": diff, "candidate_runs": runs,
             "candidate_since": state.get("candidate_since")}
    if params.adopt_after and runs >= params.adopt_after:
        state.update(baseline=candidate, baseline_since=now, candidate=None, candidate_runs=0)
        return (Status.OK, f"{len(path)} hops, the new path (seen {runs} runs in a row) is now the "
                           f"baseline; was {changes}", False, {**extra, "adopted": True})
    state.update(candidate=candidate, candidate_runs=runs)
    if runs >= params.confirm_after:
        return (Status.WARNING, f"path changed, seen {runs} runs in a row: {changes}", True, extra)
    return (Status.OK, f"path differs from the baseline ({changes}); seen {runs} of "
                       f"{params.confirm_after} runs before it is reported", False, extra)


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


def differing_hops(a: Path, b: Path) -> list[int]:
    """TTLs where both paths have answers and the address sets do not overlap.

    A hop beyond the end of one path matches too: that trace ended early (the rest did
    not answer, e.g. a rate-limited destination), which says nothing about the route.
    A genuinely longer or shorter route still differs where the target's address moved.
    """
    return [i + 1 for i, (x, y) in enumerate(zip(a, b, strict=False)) if x and y and not set(x) & set(y)]


def merge(base: Path, seen: Path) -> Path:
    """The baseline with its wildcards filled in and new load-balanced addresses added."""
    longer = base if len(base) >= len(seen) else seen
    return [sorted(set(x) | set(y))[:MAX_ADDRESSES_PER_HOP] for x, y in zip(base, seen, strict=False)] \
        + [list(x) for x in longer[min(len(base), len(seen)):]]


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


def _fmt(hop: list[str] | None) -> str:
    if hop is None:
        return "(none)"
    return "/".join(hop) if hop else "*"


def hop_to_wire(h: Hop) -> dict[str, Any]:
    return {"ttl": h.ttl, "address": h.address, "addresses": list(h.addresses), "rtts_ms": list(h.rtts_ms),
            **({"annotations": list(h.annotations)} if h.annotations else {})}
