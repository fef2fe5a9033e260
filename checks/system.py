"""system: CPU, memory, swap and load of this machine.

Four results, item ``cpu``, ``memory``, ``swap`` and (not on Windows) ``load``.

CPU is the average busy share *since the previous run* (the agent keeps the
CPU counters in the check's state), so a patrol every 5 minutes judges five
minutes of CPU, not one instant.  The first run samples ``sample`` seconds.

========= ==========================================================
item      judged by (defaults)
========= ==========================================================
cpu       busy % ≥ ``cpu_warn`` (80) WARNING, ≥ ``cpu_crit`` (90) CRITICAL
memory    used % ≥ ``mem_warn`` (85) WARNING, ≥ ``mem_crit`` (95) CRITICAL
swap      used % ≥ ``swap_warn`` (50) WARNING, ≥ ``swap_crit`` (80); no swap is OK
load      1-minute load per core ≥ ``load_warn`` (1.5) / ``load_crit`` (3)
========= ==========================================================

Metrics: ``busy_percent``, ``used_percent``, ``available_bytes``,
``total_bytes``, ``load1_per_core``, ``load1``, ``cores``.
"""

from __future__ import annotations

import os
import sys
import time

from checks import _procfs
from checks._judge import above
from checks._params.system import SystemParams
from checks.context import CheckContext
from checks.messages import say
from checks.result import Metric, Result

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

NAME = "system"


def _busy_percent(before: dict[str, float], after: dict[str, float]) -> float:
    idle_keys = ("idle", "iowait")
    total = sum(after.values()) - sum(before.values())
    idle = sum(after.get(k, 0.0) - before.get(k, 0.0) for k in idle_keys)
    if total <= 0:
        return 0.0
    return max(0.0, min(100.0, 100.0 * (total - idle) / total))


#: Linux: psutil's readings from /proc without loading psutil (checks/_procfs.py, issue 16)
_LINUX = sys.platform.startswith("linux")


def _cpu_times() -> dict[str, float]:
    if _LINUX:
        return _procfs.cpu_times()
    import psutil
    times: dict[str, float] = psutil.cpu_times()._asdict()
    return times


def _memory() -> tuple[int, int]:
    """(total, available) bytes."""
    if _LINUX:
        return _procfs.memory()
    import psutil
    vm = psutil.virtual_memory()
    return vm.total, vm.available


def _swap() -> tuple[int, int]:
    """(total, used) bytes."""
    if _LINUX:
        return _procfs.swap()
    import psutil
    sw = psutil.swap_memory()
    return sw.total, sw.used


def _cores() -> int:
    if _LINUX:
        return os.cpu_count() or 1  # sysconf(_SC_NPROCESSORS_ONLN), as psutil.cpu_count() there
    import psutil
    return psutil.cpu_count() or 1


def cpu_average(ctx: CheckContext, sample: float) -> tuple[float, float]:
    """(busy %, seconds averaged over) since the last run, or over ``sample`` s."""
    now = time.time()
    current = _cpu_times()
    previous: Any = ctx.state.get("cpu_times")
    prev_at = ctx.state.get("cpu_at")
    if not isinstance(previous, dict) or not isinstance(prev_at, int | float) or now - prev_at <= 0.2 \
            or set(previous) != set(current):
        time.sleep(sample)
        before, since = current, now
        now = time.time()
        current = _cpu_times()
    else:
        before, since = previous, prev_at
    ctx.state["cpu_times"] = current
    ctx.state["cpu_at"] = now
    return round(_busy_percent(before, current), 2), round(now - since, 1)


def run(params: SystemParams, ctx: CheckContext) -> list[Result]:
    results: list[Result] = []

    busy, window = cpu_average(ctx, params.sample)
    results.append(Result(
        check=NAME, item="cpu", status=above(busy, params.cpu_warn, params.cpu_crit),
        standard=say("system.cpu_standard", warn=params.cpu_warn),
        summary=say("system.cpu", busy=busy, window=window),
        metrics=(Metric("busy_percent", busy, "%", warn=params.cpu_warn, crit=params.cpu_crit,
                        min=0, max=100),),
        details={"window_s": window, "cores": _cores()},
    ))

    total, available = _memory()
    mem_pct = round(100.0 * (total - available) / total, 2) if total else 0.0
    results.append(Result(
        check=NAME, item="memory", status=above(mem_pct, params.mem_warn, params.mem_crit),
        standard=say("system.memory_standard", warn=params.mem_warn),
        summary=say("system.memory", used=mem_pct, available=available, total=total),
        metrics=(
            Metric("used_percent", mem_pct, "%", warn=params.mem_warn, crit=params.mem_crit, min=0, max=100),
            Metric("available_bytes", float(available), "B", min=0, max=float(total)),
            Metric("total_bytes", float(total), "B", min=0),
        ),
    ))

    swap_total, swap_used = _swap()
    if swap_total:
        swap_pct = round(100.0 * swap_used / swap_total, 2)
        swap_status = above(swap_pct, params.swap_warn, params.swap_crit)
        swap_summary = say("system.swap", used=swap_pct, total=swap_total)
    else:
        swap_pct = 0.0
        swap_status = above(0.0, params.swap_warn, params.swap_crit)
        swap_summary = say("system.no_swap")
    results.append(Result(
        check=NAME, item="swap", status=swap_status, standard=say("system.swap_standard", warn=params.swap_warn),
        summary=swap_summary,
        metrics=(
            Metric("used_percent", swap_pct, "%", warn=params.swap_warn, crit=params.swap_crit,
                   min=0, max=100),
            Metric("total_bytes", float(swap_total), "B", min=0),
        ),
    ))

    if sys.platform != "win32" and hasattr(os, "getloadavg"):
        load1, load5, load15 = os.getloadavg()
        cores = _cores()
        per_core = round(load1 / cores, 3)
        results.append(Result(
            check=NAME, item="load", status=above(per_core, params.load_warn, params.load_crit),
            standard=say("system.load_standard", warn=params.load_warn),
            summary=say("system.load", load1=load1, load5=load5, load15=load15, cores=cores, per_core=per_core),
            metrics=(
                Metric("load1_per_core", per_core, "", warn=params.load_warn, crit=params.load_crit, min=0),
                Metric("load1", round(load1, 3), "", min=0),
                Metric("cores", float(cores), "", min=1),
            ),
        ))
    return results
