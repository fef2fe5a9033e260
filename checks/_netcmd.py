"""The system ``ping`` and ``traceroute``/``tracert``, time-boxed, their output decoded and parsed.

Linux: ``ping -n -c N -i I -W T -w D target`` and ``traceroute -n -q Q -w W -m M target``
with ``LC_ALL=C`` (English, dot decimals).  Windows: ``ping -n N -w ms target`` and
``tracert -d -h M -w ms target``; their bytes are decoded with the console's code page
(936 = GBK on zh-CN Windows), never as UTF-8.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

from checks import _logs
from checks._network import Hop, PingStats, decode_console, parse_ping, parse_traceroute, trace_failure
from checks.messages import say

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeAlias

log = _logs.get(__name__)  # logging itself only if a record needs it (checks/_logs.py)

WINDOWS = sys.platform == "win32"
Run: TypeAlias = "Callable[..., Any]"  # subprocess.run's shape


class ToolMissing(Exception):
    """The system tool is not installed."""


@dataclass(frozen=True)
class Trace:
    hops: list[Hop]
    raw: str
    failure: str | None  # "cannot resolve host", "timed out", ...
    method: str


def console_codepage() -> str | None:
    """The code page console programs write in: the OEM code page on Windows, else None."""
    if not WINDOWS:
        return None
    try:
        import ctypes

        return str(ctypes.windll.kernel32.GetOEMCP())  # type: ignore[attr-defined]  # ctypes.windll: Windows only
    except (ImportError, AttributeError, OSError):
        return None


def _env() -> dict[str, str]:
    return {**os.environ, "LC_ALL": "C", "LANG": "C"}


def _tool(name: str) -> str:
    path = shutil.which(name) or (f"/usr/bin/{name}" if os.path.exists(f"/usr/bin/{name}") else None) \
        or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
    if path is None:
        raise ToolMissing(name)
    return path


def ping_command(target: str, count: int, interval: float, timeout: float) -> tuple[list[str], float]:
    """The argument list and the longest it may take (seconds)."""
    if WINDOWS:
        return ([_tool("ping"), "-n", str(count), "-w", str(max(1, int(timeout * 1000))), target],
                count * (timeout + 1.0) + 5)
    deadline = int((count - 1) * interval + timeout + 1.999)
    return ([_tool("ping"), "-n", "-c", str(count), "-i", f"{interval:g}", "-W", f"{timeout:g}",
             "-w", str(deadline), target], deadline + 5.0)


def ping(target: str, *, count: int, interval: float, timeout: float,
         run: Run = subprocess.run) -> PingStats:
    argv, limit = ping_command(target, count, interval, timeout)
    try:
        proc = run(argv, capture_output=True, timeout=limit, env=None if WINDOWS else _env(), check=False)
    except subprocess.TimeoutExpired as exc:
        out = decode_console((exc.stdout or b"") + (exc.stderr or b""), console_codepage())
        stats = parse_ping(out)
        return stats if stats.recognised else PingStats(raw=f"ping ran past {limit:g} s\n{out}")
    out = decode_console(proc.stdout + proc.stderr, console_codepage())
    return parse_ping(out)


def traceroute(target: str, *, max_hops: int, queries: int, wait: float, time_limit: float,
               run: Run = subprocess.run) -> Trace:
    if WINDOWS:
        argv = [_tool("tracert"), "-d", "-h", str(max_hops), "-w", str(max(1, int(wait * 1000))), target]
    else:
        argv = [_tool("traceroute"), "-n", "-q", str(queries), "-w", f"{wait:g}", "-m", str(max_hops),
                target]
    try:
        proc = run(argv, capture_output=True, timeout=time_limit, env=None if WINDOWS else _env(),
                   check=False)
    except subprocess.TimeoutExpired as exc:
        out = decode_console((exc.stdout or b"") + (exc.stderr or b""), console_codepage())
        return Trace(parse_traceroute(out), out, say("traceroute.stopped", limit=time_limit), "system")
    out = decode_console(proc.stdout + proc.stderr, console_codepage())
    hops = parse_traceroute(out)
    return Trace(hops, out, None if hops else trace_failure(out), "system")
