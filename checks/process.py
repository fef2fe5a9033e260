"""process: named processes are running, in the expected number, and what memory they hold.

One result, item = the ``name`` or ``cmdline`` looked for.  A process matches
when its name equals ``name`` (case-insensitive; a trailing ``.exe`` is
ignored, so ``sqlservr`` finds ``sqlservr.exe``) and, if ``cmdline`` is given,
its command line (arguments joined by spaces) contains a match of that
regular expression.  The agent's own process never counts (its command line
holds the pattern).  Processes that vanish or deny access while being read are
skipped.

======== ==============================================================
status   meaning
======== ==============================================================
OK       ``min`` ≤ count (≤ ``max`` when given)
WARNING  more than ``max`` processes (a runaway fork, a second instance)
CRITICAL fewer than ``min`` (default 1): the process is not running
UNKNOWN  the process table could not be read; neither ``name`` nor
         ``cmdline`` is configured
======== ==============================================================

Metrics: ``count`` (count), ``rss_bytes`` (B, the matching processes' resident
memory summed).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from checks._params.process import ProcessParams
from checks.context import CheckContext
from checks.messages import say
from checks.result import Metric, Result, Status

NAME = "process"


@dataclass(frozen=True)
class ProcInfo:
    pid: int
    name: str
    cmdline: tuple[str, ...]
    rss: int


def list_processes() -> list[ProcInfo]:
    import psutil
    out: list[ProcInfo] = []
    for p in psutil.process_iter(["pid", "name", "cmdline", "memory_info"]):
        info = p.info
        mem = info.get("memory_info")
        out.append(ProcInfo(pid=info["pid"], name=info.get("name") or "",
                            cmdline=tuple(info.get("cmdline") or ()), rss=mem.rss if mem else 0))
    return out


def _base(name: str) -> str:
    name = name.lower()
    return name[:-4] if name.endswith(".exe") else name


def matching(procs: Iterable[ProcInfo], params: ProcessParams, own_pid: int) -> list[ProcInfo]:
    pattern = re.compile(params.cmdline) if params.cmdline else None
    wanted = _base(params.name) if params.name else None
    found = []
    for p in procs:
        if p.pid == own_pid:
            continue
        if wanted is not None and _base(p.name) != wanted:
            continue
        if pattern is not None and not pattern.search(" ".join(p.cmdline)):
            continue
        found.append(p)
    return found


def run(params: ProcessParams, ctx: CheckContext, *,
        processes: Callable[[], list[ProcInfo]] = list_processes) -> list[Result]:
    item = " ".join(x for x in (params.name, f"/{params.cmdline}/" if params.cmdline else "") if x)
    bound = say("process.bound", min=params.min, max=params.max) if params.max is not None else \
        say("process.at_least", min=params.min)
    standard = say("process.standard", bound=bound)
    if not params.name and not params.cmdline:
        return [Result(check=NAME, item="", status=Status.UNKNOWN, standard=standard,
                       summary=say("process.not_configured"))]
    try:
        procs = processes()
    except OSError as exc:
        return [Result(check=NAME, item=item, status=Status.UNKNOWN, standard=standard,
                       summary=say("process.unreadable", error=exc.strerror or str(exc)))]
    found = matching(procs, params, os.getpid())
    count = len(found)
    rss = sum(p.rss for p in found)
    if count < params.min:
        status = Status.CRITICAL
        verdict = say("process.not_running", item=item) if count == 0 else \
            say("process.too_few", item=item, count=count, bound=bound)
    elif params.max is not None and count > params.max:
        status, verdict = Status.WARNING, say("process.too_many", item=item, count=count, max=params.max)
    else:
        status, verdict = Status.OK, say("process.running", item=item, count=count)
    summary = say("process.resident", verdict=verdict, rss=rss) if count else verdict
    return [Result(
        check=NAME, item=item, status=status, standard=standard, summary=summary,
        metrics=(Metric("count", float(count), "count", min=0),
                 Metric("rss_bytes", float(rss), "B", min=0)),
        details={"pids": [p.pid for p in found[:50]]},
    )]
