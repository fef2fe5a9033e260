"""nagios: run any Nagios-compatible plugin and turn its answer into a result.

The plugin is started from an argument list (``command``; or
``command_line``, one string split by POSIX quoting rules — still no
shell — for the command line, where a list's commas would split
``-w 5,4,3``), never through a shell, in its own process group, with stdin closed and ``LC_ALL=C`` (so
numbers use a decimal point). Its exit code is the status, the first line of
its output before ``|`` is the summary, further lines are long output
(``details.long_output``), and the performance data after ``|`` — on the
first line and on later lines, per the plugin API — becomes metrics in base
units (``ms``/``us`` → ``s``, ``KB``/``MB``/… → ``B``; ``%`` stays; see
:mod:`checks._perfdata`). One-sided warn/crit ranges (``10``, ``~:10``,
``10:``) become the metric's ``warn``/``crit``; every raw range is kept in
``details.perfdata``.

One result; item = ``item`` or the plugin's file name (set ``item`` when the
same plugin runs more than once on a host, e.g. ``check_tcp`` on two ports).

======== =================================================================
status   meaning
======== =================================================================
OK       the plugin exited 0
WARNING  the plugin exited 1
CRITICAL the plugin exited 2
UNKNOWN  the plugin exited 3; or any other exit code; or it was killed by
         a signal; or it ran past ``timeout`` ("plugin timed out after
         N s" — its whole process group is killed); or it could not be
         started (not found, not executable); or no ``command`` is set
======== =================================================================

Metrics: whatever the plugin reports (label → metric name: characters other
than letters, digits, ``_ . -`` become ``_``; the original label is in
``details.perfdata``). Secrets: arguments that follow an option whose name
says password/secret/token/community (``--password x``, ``--password=x``)
are masked in ``details.command``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from checks._params.nagios import NagiosParams
from checks._perfdata import PerfValue, PluginOutput, parse_output, parse_perfdata, parse_range
from checks.context import CheckContext
from checks.messages import say
from checks.result import MAX_METRICS, MAX_SUMMARY_LEN, Metric, Result, Status

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["NagiosParams", "parse_perfdata", "parse_range", "run"]

NAME = "nagios"
MAX_OUTPUT = 64 * 1024  # bytes of stdout kept (Nagios core keeps 8 KB)
MAX_LONG_LINES = 200

_SECRET_OPT = re.compile(r"(?i)^-{1,2}[\w-]*(pass|secret|token|community|authkey|privkey)[\w-]*")
_METRIC_BAD = re.compile(r"[^A-Za-z0-9_.\-]+")


@dataclass
class Completed:
    """What a finished (or killed) plugin left behind."""

    returncode: int | None  # None: timed out and killed
    stdout: bytes
    stderr: bytes


def execute(argv: list[str], timeout_s: float) -> Completed:
    """Run ``argv`` in its own process group; on timeout kill the whole group."""
    env = dict(os.environ, LC_ALL="C", LANG="C")
    kwargs: dict[str, Any] = {}
    if sys.platform == "win32":
        kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP  # type: ignore[attr-defined]  # Windows only
    else:
        kwargs["start_new_session"] = True
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, **kwargs)
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        try:
            out, err = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:  # a grandchild holds the pipes open
            out, err = b"", b""
        return Completed(None, out, err)
    return Completed(proc.returncode, out, err)


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill a process started in its own group (``start_new_session``) with all its children."""
    if sys.platform == "win32":
        proc.kill()
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _decode(raw: bytes) -> str:
    raw = raw[:MAX_OUTPUT]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        import locale

        return raw.decode(locale.getpreferredencoding(False) or "utf-8", errors="replace")


def mask_command(argv: tuple[str, ...] | list[str]) -> list[str]:
    """The command with the values of password-like options replaced by ``***``."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append("***")
            hide_next = False
            continue
        m = _SECRET_OPT.match(arg)
        if m and "=" in arg:
            out.append(arg.split("=", 1)[0] + "=***")
        elif m:
            out.append(arg)
            hide_next = True
        else:
            out.append(arg)
    return out


def _metric_name(label: str, taken: set[str]) -> str:
    name = _METRIC_BAD.sub("_", label).strip("_.-")[:56]
    if not name:
        name = "root" if label.strip() == "/" else "value"
    base, n = name, 2
    while name in taken:
        name = f"{base}_{n}"
        n += 1
    taken.add(name)
    return name


def _metrics(values: list[PerfValue]) -> tuple[tuple[Metric, ...], list[dict[str, Any]]]:
    taken: set[str] = set()
    metrics: list[Metric] = []
    described: list[dict[str, Any]] = []
    for v in values:
        name = _metric_name(v.label, taken)
        entry: dict[str, Any] = {"label": v.label, "metric": name}
        if v.raw_unit:
            entry["uom"] = v.raw_unit
        if v.warn_range:
            entry["warn"] = v.warn_range
        if v.crit_range:
            entry["crit"] = v.crit_range
        if len(metrics) < MAX_METRICS:
            metrics.append(Metric(name, v.value, v.unit, warn=v.warn, crit=v.crit, min=v.min, max=v.max))
        else:
            entry["dropped"] = f"more than {MAX_METRICS} metrics"
        described.append(entry)
    return tuple(metrics), described


def read_plugin(stdout: str, stderr: str) -> tuple[PluginOutput, str]:
    """A plugin's output and the stderr left to show: stdout, or stderr when stdout says nothing
    (then it is the output, not shown again)."""
    parsed = parse_output(stdout)
    if not parsed.summary and stderr.strip():
        return parse_output(stderr), ""
    return parsed, stderr


def plugin_evidence(parsed: PluginOutput, stderr: str, details: dict[str, Any]) -> tuple[Metric, ...]:
    """A plugin's metrics; its long output, perfdata (as read and as refused) and the tail of its
    stderr go into ``details``.  The nagios check and the ssh check's remote command share it, so a
    plugin reads the same run locally or over SSH."""
    metrics, perf = _metrics(parsed.perfdata.values)
    if parsed.long_output:
        details["long_output"] = [line[:500] for line in parsed.long_output[:MAX_LONG_LINES]]
    if perf:
        details["perfdata"] = perf
    if parsed.perfdata.errors:
        details["perfdata_errors"] = parsed.perfdata.errors[:20]
    if stderr.strip():
        details["stderr"] = stderr.strip()[-2000:]
    return metrics


def run(params: NagiosParams, ctx: CheckContext, *,
        execute: Callable[[list[str], float], Completed] = execute) -> list[Result]:
    argv = params.argv()
    if not argv:
        return [Result(check=NAME, item=params.item, status=Status.UNKNOWN,
                       summary=say("nagios.not_configured", command="params.command", command_line="command_line",
                                   example="--param command_line='/usr/lib/nagios/plugins/check_load -w 5,4,3 "
                                           "-c 9,8,7'"))]
    item = params.item or os.path.basename(argv[0])
    # stay inside the runner's own time limit so our message (not the runner's) reaches the user
    timeout = min(float(params.timeout), max(1.0, ctx.timeout_s - 2.0))
    details: dict[str, Any] = {"command": mask_command(argv)}
    t0 = time.monotonic()
    try:
        done = execute(argv, timeout)
    except FileNotFoundError:
        return [Result(check=NAME, item=item, status=Status.UNKNOWN, details=details,
                       summary=say("nagios.not_found", plugin=argv[0]))]
    except PermissionError:
        return [Result(check=NAME, item=item, status=Status.UNKNOWN, details=details,
                       summary=say("nagios.not_executable", plugin=argv[0]))]
    except OSError as exc:
        return [Result(check=NAME, item=item, status=Status.UNKNOWN, details=details,
                       summary=say("nagios.cannot_start", error=exc.strerror or str(exc)))]
    elapsed = time.monotonic() - t0
    stdout, stderr = _decode(done.stdout), _decode(done.stderr)
    parsed, stderr = read_plugin(stdout, stderr)
    metrics = plugin_evidence(parsed, stderr, details)
    details["exit_code"] = done.returncode
    details["elapsed_s"] = round(elapsed, 3)
    # the plugin's first line is the plugin's own words (an argument); only our framing has keys
    output = parsed.summary[:MAX_SUMMARY_LEN]
    summary: str = output or say("nagios.no_output")
    if done.returncode is None:
        status = Status.UNKNOWN
        summary = (say("nagios.timed_out_output", timeout=timeout, output=output) if output
                   else say("nagios.timed_out", timeout=timeout))
    elif done.returncode < 0:
        status = Status.UNKNOWN
        try:
            signame = signal.Signals(-done.returncode).name
        except ValueError:
            signame = f"signal {-done.returncode}"
        summary = (say("nagios.killed_output", signal=signame, output=output) if output
                   else say("nagios.killed", signal=signame))
    elif done.returncode in (0, 1, 2, 3):
        status = Status(done.returncode)
    else:
        status = Status.UNKNOWN
        summary = say("nagios.bad_exit", code=done.returncode, output=summary)
    return [Result(check=NAME, item=item[:255], status=status, summary=summary[:MAX_SUMMARY_LEN],
                   message=getattr(summary, "message", None), metrics=metrics, details=details)]
