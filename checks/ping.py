"""ping: loss and round-trip time to a target, with hysteresis, "down" after K silent runs.

One result per target (item = the target).  Each run sends ``count`` (10) echo requests,
``interval`` (1 s) apart, waiting ``timeout`` (2 s) for each answer.  It uses native ICMP
where this process may (a raw socket as root, a datagram ICMP socket where
``net.ipv4.ping_group_range`` allows; icmplib), else the system ``ping``, whose output
(Linux, Windows English or zh-CN, any console code page) is parsed by
:func:`checks._network.parse_ping`.  Linux ``ping``'s own summary, when printed, gives the
received count and the RTTs (a garbled reply line is not a loss); for Windows a probe counts
as answered only when the target itself replied: "Destination host unreachable" replies are
losses.

**Judging one run** (the *raw level*): loss ratio against ``loss_warn`` (0.2) /
``loss_crit`` (0.6), and the average RTT against ``rtt_warn`` (150 ms) / ``rtt_crit``
(500 ms), each "at or above"; the worse of the two.  Defaults: Zabbix's ICMP template
(loss 20 %, 0.15 s) and Nagios ``check_ping`` (``-c 500.0,60%``).

**Hysteresis** (the reported level; state in ``ctx.state``).  With ``raise_after`` = R (2)
and ``clear_after`` = C (2), and ``prev`` the level reported by the previous run::

    reported = max( min(prev, max(raw of the last C runs)),   # hold until C better runs
                    min(raw of the last R runs) )             # raise after R bad runs

So one noisy run never raises anything, a level is reported once R runs in a row
reached it, and it is cleared (or lowered) only after C runs in a row were better.
R = C = 1 turns hysteresis off.

**Down**: when no probe was answered in ``down_after`` (3) consecutive runs the result
is CRITICAL "down" at once, whatever the hysteresis says (Zabbix: ``max(#3)=0``); it
supersedes the loss and RTT verdicts.

**Evidence**: when the reported level turns bad or worse (OK → WARNING/CRITICAL,
WARNING → CRITICAL), the check runs a traceroute to the target at once (bounded by
the time left, at most 30 s; one probe per hop) and puts the hop list in
``details.traceroute``; later bad results carry the same evidence with its time
until the level is OK again.

======== ==============================================================
status   meaning
======== ==============================================================
OK       loss and RTT below the warning thresholds, or bad for fewer
         than ``raise_after`` runs
WARNING  loss or avg RTT at/above the warning threshold for
         ``raise_after`` runs (and not yet cleared)
CRITICAL loss or avg RTT at/above the critical threshold for
         ``raise_after`` runs; or "down": nothing answered in
         ``down_after`` consecutive runs (a name that does not resolve,
         or no route, is a run where nothing answered)
UNKNOWN  no target; no way to ping (no permission, no ``ping``); the
         output was not understood (kept in ``details.raw``)
======== ==============================================================

Metrics (base units, Prometheus style): ``loss_ratio`` (ratio 0–1), ``rtt_min_seconds``,
``rtt_avg_seconds``, ``rtt_max_seconds``, ``jitter_seconds`` (s; jitter is the mean
absolute difference between consecutive RTTs, as icmplib computes it).  RTTs are
unmeasured (null) when nothing answered.  Windows prints ``<1ms``, counted as 0.5 ms.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from checks import _icmp, _logs, _netcmd
from checks._judge import above
from checks._netcmd import Trace
from checks._network import PingStats
from checks._params.ping import METHODS, PingParams  # noqa: F401 (re-exported: the old import path)
from checks._units import _num
from checks.context import CheckContext
from checks.messages import say
from checks.result import Metric, Result, Status
from checks.traceroute import hop_to_wire, trace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

NAME = "ping"
EVIDENCE_MAX_S = 30.0

log = _logs.get(__name__)  # logging itself only if a record needs it (checks/_logs.py)


class CannotPing(Exception):
    """Neither native ICMP nor the system ping can be used."""


ProbeFn = Callable[[PingParams], tuple[PingStats, str]]
TraceFn = Callable[[str, int, int, float, float, str], Trace]


def probe(params: PingParams) -> tuple[PingStats, str]:
    """One measurement: the stats and how they were taken (icmp-raw, icmp-dgram, system ping)."""
    target = params.target.strip()
    if params.method in ("auto", "native"):
        mode = _icmp.native_mode()
        if mode is None and params.method == "native":
            raise CannotPing("native ICMP is not allowed for this process (not root, and "
                             "net.ipv4.ping_group_range excludes its groups), or icmplib is missing")
        if mode is not None:
            import icmplib

            method = "icmp-raw" if mode == "privileged" else "icmp-dgram"
            try:
                return _icmp.ping(target, count=params.count, interval=float(params.interval),
                                  timeout=float(params.timeout), privileged=mode == "privileged"), method
            except _icmp.ResolveError:
                return PingStats(error="cannot resolve host", recognised=True), method
            except (icmplib.ICMPLibError, OSError) as exc:
                if params.method == "native":
                    raise CannotPing(f"native ICMP failed: {type(exc).__name__}: {exc}") from exc
                log.info("ping %s: native ICMP failed (%s); using the system ping", target,
                         type(exc).__name__)
    try:
        return _netcmd.ping(target, count=params.count, interval=float(params.interval),
                            timeout=float(params.timeout)), "system ping"
    except _netcmd.ToolMissing as exc:
        raise CannotPing(f"no native ICMP and no {exc} command (Debian: apt-get install iputils-ping)"
                         ) from exc


def run(params: PingParams, ctx: CheckContext, *, probe_fn: ProbeFn = probe,
        trace_fn: TraceFn = trace) -> list[Result]:
    t0 = time.monotonic()
    target = params.target.strip()
    if not target:
        return [Result(check=NAME, item="", status=Status.UNKNOWN,
                       summary=say("ping.no_target"))]
    standard = say("ping.standard", loss=params.loss_warn * 100) if params.rtt_warn is None else \
        say("ping.standard_rtt", loss=params.loss_warn * 100, rtt=params.rtt_warn)
    try:
        stats, method = probe_fn(params)
    except CannotPing as exc:
        return [Result(check=NAME, item=target, status=Status.UNKNOWN, standard=standard,
                       summary=say("ping.cannot_ping", target=target, error=str(exc)))]
    if not stats.recognised:
        return [Result(check=NAME, item=target, status=Status.UNKNOWN, standard=standard,
                       summary=say("ping.not_understood", target=target),
                       details={"method": method, "raw": stats.raw[-4000:]})]
    if stats.sent == 0:  # resolution or local failure: nothing was sent, nothing answered
        stats = replace(stats, sent=params.count, received=0, loss_ratio=1.0)

    state = ctx.state
    raw_level = _raw_level(stats, params)
    levels = [int(x) for x in state.get("levels", []) if x in (0, 1, 2)][-100:] + [int(raw_level)]
    keep = max(params.raise_after, params.clear_after)
    state["levels"] = levels[-keep:]
    prev = int(state.get("reported", 0)) if state.get("reported", 0) in (0, 1, 2) else 0
    reported = _hysteresis(levels, prev, params.raise_after, params.clear_after)
    silent_runs = int(state.get("silent_runs", 0)) + 1 if stats.received == 0 else 0
    state["silent_runs"] = silent_runs
    down = silent_runs >= params.down_after
    if down:
        reported = 2
    state["reported"] = reported

    summary = _summary(target, stats, params, raw_level, reported, prev, down, silent_runs, levels)
    details: dict[str, Any] = {
        "method": method, "sent": stats.sent, "received": stats.received,
        "unreachable_replies": stats.unreachable, "rtts_ms": list(stats.rtts_ms)[:1000],
        "raw_level": Status(raw_level).name, "down": down, "silent_runs": silent_runs,
    }
    if stats.error:
        details["error"] = stats.error
    if stats.raw and (reported or raw_level):
        details["raw"] = stats.raw[-4000:]
    if reported and params.trace_on_bad:
        evidence = state.get("evidence")
        if reported > prev or not isinstance(evidence, dict):
            budget = min(EVIDENCE_MAX_S, ctx.timeout_s - (time.monotonic() - t0) - 3.0)
            evidence = _evidence(target, params, budget, trace_fn, ctx)
            state["evidence"] = evidence
        details["traceroute"] = evidence
    elif not reported:
        state.pop("evidence", None)

    ms = 1 / 1000
    return [Result(
        check=NAME, item=target, status=Status(reported), standard=standard, summary=summary,
        metrics=(
            Metric("loss_ratio", stats.loss_ratio, "ratio", warn=params.loss_warn, crit=params.loss_crit,
                   min=0, max=1),
            Metric("rtt_min_seconds", _s(stats.rtt_min_ms), "s"),
            Metric("rtt_avg_seconds", _s(stats.rtt_avg_ms), "s",
                   warn=None if params.rtt_warn is None else params.rtt_warn * ms,
                   crit=None if params.rtt_crit is None else params.rtt_crit * ms),
            Metric("rtt_max_seconds", _s(stats.rtt_max_ms), "s"),
            Metric("jitter_seconds", _s(stats.jitter_ms), "s"),
        ),
        details=details,
    )]


def _raw_level(stats: PingStats, params: PingParams) -> int:
    level = above(stats.loss_ratio, params.loss_warn, params.loss_crit)
    if stats.received and stats.rtt_avg_ms is not None:
        level = max(level, above(stats.rtt_avg_ms, params.rtt_warn, params.rtt_crit))
    return int(level)


def _hysteresis(levels: list[int], prev: int, raise_after: int, clear_after: int) -> int:
    """The reported level (see the module docstring); ``levels`` ends with this run's raw level."""
    if len(levels) < raise_after:
        sustained = 0
    else:
        sustained = min(levels[-raise_after:])
    recent_worst = max(levels[-clear_after:])
    return max(min(prev, recent_worst), sustained)


def _summary(target: str, stats: PingStats, params: PingParams, raw_level: int, reported: int,
             prev: int, down: bool, silent_runs: int, levels: list[int]) -> str:
    measured: str
    if stats.error:
        # the parser's two words (checks/_network.py, _icmp) have keys; anything else is the tool's own
        measured = _ERRORS[stats.error]() if stats.error in _ERRORS else stats.error
    else:
        parts = [say("ping.loss", loss=stats.loss_ratio * 100, received=stats.received, sent=stats.sent)]
        if stats.unreachable:
            parts.append(say("ping.unreachable", unreachable=stats.unreachable))
        if stats.rtt_avg_ms is not None:
            parts.append(say("ping.rtt", min=_ms(stats.rtt_min_ms), avg=_ms(stats.rtt_avg_ms),
                             max=_ms(stats.rtt_max_ms), jitter=_ms(stats.jitter_ms)))
        measured = say("ping.measured", parts=parts)
    if down:
        return say("ping.down", target=target, runs=silent_runs, measured=measured)
    texts = [say("ping.item", target=target, measured=measured)]
    if raw_level > reported:
        seen = 0
        for lv in reversed(levels):
            if lv < raw_level:
                break
            seen += 1
        texts.append(say("ping.raised_later", level=f"status.{Status(raw_level).name.lower()}", seen=seen,
                         after=params.raise_after))
    elif raw_level < reported:
        texts.append(say("ping.still", level=f"status.{Status(reported).name.lower()}", after=params.clear_after))
    if stats.received == 0 and silent_runs < params.down_after:
        texts.append(say("ping.no_reply", runs=silent_runs, down_after=params.down_after))
    return texts[0] if len(texts) == 1 else say("results.joined", parts=texts)


def _evidence(target: str, params: PingParams, budget: float, trace_fn: TraceFn,
              ctx: CheckContext) -> dict[str, Any]:
    taken_at = ctx.now.isoformat()
    if budget < 3.0:
        return {"taken_at": taken_at, "error": "no time left in this run for a traceroute"}
    try:
        tr = trace_fn(target, params.trace_max_hops, 1, 1.0, budget, "auto")
    except _netcmd.ToolMissing as exc:
        return {"taken_at": taken_at, "error": f"no traceroute tool ({exc})"}
    except Exception as exc:  # noqa: BLE001 - evidence must never cost the ping result
        log.warning("ping %s: the evidence traceroute failed (%s)", target, type(exc).__name__)
        return {"taken_at": taken_at, "error": f"traceroute failed: {type(exc).__name__}"}
    out: dict[str, Any] = {"taken_at": taken_at, "method": tr.method,
                           "hops": [hop_to_wire(h) for h in tr.hops][:64]}
    if tr.failure:
        out["error"] = tr.failure
    if not tr.hops and tr.raw:
        out["raw"] = tr.raw[-2000:]
    return out


def _s(ms: float | None) -> float | None:
    return None if ms is None else round(ms / 1000, 7)


_ERRORS = {"cannot resolve host": lambda: say("ping.error.unresolved"),
           "network unreachable": lambda: say("ping.error.unreachable")}


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.3g}" if 0.001 <= v < 10 else _num(v) if v < 10 else f"{v:.0f}"
