"""uptime: how long this machine has been up, and whether it rebooted since the last run.

One result, item ``uptime``.  The check keeps the boot time in its state; a
boot time that moved (by more than ``tolerance``, which absorbs clock
adjustments) means the machine restarted between two runs.  That is reported
once, with the old and the new boot time: the next run is OK again unless the
uptime is still below ``min_uptime``.  The first run only records the boot
time.  Whether a reboot was clean is not known here; on Windows the
``logscan`` check reports the unexpected-shutdown events (41, 6008).

======== ==============================================================
status   meaning
======== ==============================================================
OK       up, and no restart since the previous run
WARNING  rebooted since the previous run (``reboot_status: critical``
         makes it CRITICAL); or up for less than ``min_uptime``; or up
         for longer than ``max_uptime`` (a server that misses its patch
         reboots)
CRITICAL rebooted since the previous run, with ``reboot_status: critical``
UNKNOWN  the boot time could not be read, or lies in the future
======== ==============================================================

Metrics: ``uptime_seconds`` (s).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from checks._params.uptime import UptimeParams
from checks.context import CheckContext
from checks.messages import say
from checks.result import Metric, Result, Status

NAME = "uptime"


def _boot_time() -> float:
    import psutil
    return float(psutil.boot_time())


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def run(params: UptimeParams, ctx: CheckContext, *,
        boot_time: Callable[[], float] = _boot_time) -> list[Result]:
    standard = say("uptime.standard_min", min=params.min_uptime) if params.min_uptime else say("uptime.standard")
    try:
        boot = boot_time()
    except OSError as exc:
        return [Result(check=NAME, item="uptime", status=Status.UNKNOWN, standard=standard,
                       summary=say("uptime.unreadable", error=exc.strerror or str(exc)))]
    now = ctx.now.timestamp()
    up = now - boot
    if up < 0:
        return [Result(check=NAME, item="uptime", status=Status.UNKNOWN, standard=standard,
                       summary=say("uptime.future", boot=_iso(boot)))]
    previous = ctx.state.get("boot_time")
    ctx.state["boot_time"] = boot
    statuses = [Status.OK]
    parts = [say("uptime.up", up=up, boot=_iso(boot))]
    details: dict[str, object] = {"boot_time": _iso(boot)}
    if isinstance(previous, int | float) and abs(boot - previous) > params.tolerance:
        statuses.append(Status.CRITICAL if params.reboot_status == "critical" else Status.WARNING)
        parts.insert(0, say("uptime.rebooted", previous=_iso(previous), boot=_iso(boot)))
        details["previous_boot_time"] = _iso(previous)
    if params.min_uptime and up < params.min_uptime:
        statuses.append(Status.WARNING)
        parts.append(say("uptime.below", min=params.min_uptime))
    if params.max_uptime is not None and up > params.max_uptime:
        statuses.append(Status.WARNING)
        parts.append(say("uptime.too_long", max=params.max_uptime))
    return [Result(
        check=NAME, item="uptime", status=Status.worst(statuses), standard=standard,
        summary=parts[0] if len(parts) == 1 else say("results.joined", parts=parts), details=details,
        metrics=(Metric("uptime_seconds", round(up, 1), "s", min=0,
                        warn=params.max_uptime),),
    )]
