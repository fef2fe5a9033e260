"""ssh: checks run over SSH on a host that has no agent (appliances, network gear, old Linux boxes).

One SSH connection per run; each probe runs as its own command on it.
Host keys are verified against ``known_hosts`` only and never added (see
:mod:`checks._ssh`).  Every result has check ``ssh``; the item tells the
probe apart, so one instance's results read as one unit, and the metric
names are those of the local checks so dashboards treat both alike.  The
agent config's per-check ``host:`` reports them under the remote host's
name.

============== =========================== ===================================================
item           probe (remote command)       status
============== =========================== ===================================================
``df:<mount>`` ``env LC_ALL=C df -kPT``     used % ≥ ``warn`` (80) WARNING, ≥ ``crit`` (90)
               (falls back to ``df -kP``,   CRITICAL, as the local ``disk`` check; a mount
               then ``df -k``)              named in ``mounts`` that is not mounted CRITICAL
``df``         (the same)                   UNKNOWN: df failed, timed out, or printed what the
                                            parser does not know (raw text in details)
``uptime``     ``cat /proc/uptime; env      up less than ``min_uptime`` WARNING ("rebooted
               LC_ALL=C uptime``            recently"); else OK; UNKNOWN when neither parses
``command:*``  ``command`` (quoted with     Nagios plugin convention: exit 0/1/2/3 is OK/
               ``shlex.join``)              WARNING/CRITICAL/UNKNOWN, any other exit UNKNOWN;
                                            the text before ``|`` is the summary, perfdata
                                            become metrics; no answer within
                                            ``command_timeout`` UNKNOWN
``connection`` —                            CRITICAL: refused, no answer, authentication
                                            failed, unknown or changed host key (with the
                                            SHA256 fingerprint); UNKNOWN: our configuration
                                            (unreadable key, password or known_hosts file)
============== =========================== ===================================================

Metrics: ``df:*`` ``used_percent`` (%), ``free_bytes`` (B), ``total_bytes`` (B)
(as ``disk``); ``uptime`` ``uptime_seconds`` (s, as the ``uptime`` check),
``load1``, ``load5``, ``load15``; ``command:*`` the plugin's perfdata in base
units, parsed by :mod:`checks._perfdata` exactly as the ``nagios`` check does
(password-like options are masked in ``details.command``).

The parsers (:func:`parse_df`, :func:`parse_uptime`, :func:`parse_proc_uptime`)
are public and raise :class:`ParseError` for output they do not recognise:
an unknown format is UNKNOWN with the raw text in the details, never a
wrong OK.
"""

from __future__ import annotations

import re
import shlex
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from checks import _ssh
from checks._judge import above, below
from checks._params.ssh import PROBES, SshParams  # noqa: F401 (re-exported: the old import path)
from checks.context import CheckContext
from checks.disk import PSEUDO_FSTYPES
from checks.messages import say
from checks.nagios import mask_command, plugin_evidence, read_plugin
from checks.result import MAX_SUMMARY_LEN, Metric, Result, Status, format_time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeAlias

__all__ = ["DfOutput", "DfRow", "ParseError", "SshParams", "Uptime", "is_pseudo", "parse_df",
           "parse_proc_uptime", "parse_uptime", "run"]

NAME = "ssh"
RAW_LIMIT = 4000  # characters of unparsed remote output kept in details

DF_COMMANDS = ("env LC_ALL=C df -kPT", "env LC_ALL=C df -kP", "env LC_ALL=C df -k")
# One command for both (each command is a new session on the server, ~0.15 s): /proc/uptime's
# seconds where it exists, uptime's load (and, without /proc, its coarser time up).
UPTIME_COMMAND = "cat /proc/uptime; env LC_ALL=C uptime"

# Device names that mark a filesystem without user data when df shows no type column.
PSEUDO_DEVICES = frozenset({"tmpfs", "devtmpfs", "udev", "none", "shm", "proc", "sysfs", "devpts",
                            "cgroup", "cgroup2", "cgmfs", "overlay", "run", "dev", "mdev", "ramfs"})


class ParseError(ValueError):
    """Remote output the parser does not recognise."""


# --- df ----------------------------------------------------------------------

@dataclass(frozen=True)
class DfRow:
    device: str
    fstype: str  # "" when df printed no type column
    total_bytes: int
    used_bytes: int
    available_bytes: int
    mount: str

    @property
    def used_percent(self) -> float:
        """As df's Capacity and the local disk check: reserved blocks are neither used nor free."""
        denominator = self.used_bytes + self.available_bytes
        return round(100.0 * self.used_bytes / denominator, 2) if denominator > 0 else 0.0


@dataclass(frozen=True)
class DfOutput:
    rows: list[DfRow]
    unparsed: list[str] = field(default_factory=list)


_ROW_TAIL = r"(\d+)\s+(\d+)\s+(-?\d+)\s+(\d+%|-)\s+(\S.*?)\s*$"
_ROW_RE = re.compile(r"^(\S.*?)\s+" + _ROW_TAIL)
_ROW_TYPED_RE = re.compile(r"^(\S.*?)\s+(\S+)\s+" + _ROW_TAIL)
_CONT_RE = re.compile(r"^\s+" + _ROW_TAIL)
_CONT_TYPED_RE = re.compile(r"^\s+(\S+)\s+" + _ROW_TAIL)


def _block_size(token: str) -> int | None:
    t = token.lower()
    if t in ("kbytes", "1k-blocks"):
        return 1024
    m = re.fullmatch(r"(\d+)([kmg]?)-blocks", t)
    if not m:
        return None
    return int(m.group(1)) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[m.group(2)]


def parse_df(text: str) -> DfOutput:
    """Parse POSIX ``df -P`` output (with or without ``-T``), GNU, BusyBox or old wrapped ``df -k``.

    The header must name the block size (``1024-blocks``, ``1K-blocks``,
    ``512-blocks``, ``kbytes``); a device name too long for its column,
    which old df and BusyBox's ``df -k`` print alone on a line, is joined with
    the numbers on the next line.  A mount point listed twice (BusyBox shows
    bind mounts again) is kept once.  Lines that fit no row are returned in
    ``unparsed``.  :class:`ParseError` when there is no header or no row.
    """
    lines = [ln for ln in text.splitlines() if ln.strip()]
    header_at = next((i for i, ln in enumerate(lines) if ln.split()[0].lower() == "filesystem"), None)
    if header_at is None:
        raise ParseError("no df header line (Filesystem ... Mounted on)")
    header = lines[header_at].split()
    typed = len(header) > 1 and header[1].lower() == "type"
    size_token = header[2] if typed and len(header) > 2 else header[1] if len(header) > 1 else ""
    block = _block_size(size_token)
    if block is None:
        raise ParseError(f"df header names no block size: {lines[header_at][:120]!r}")
    row_re, cont_re = (_ROW_TYPED_RE, _CONT_TYPED_RE) if typed else (_ROW_RE, _CONT_RE)
    rows: list[DfRow] = []
    unparsed: list[str] = []
    seen: set[str] = set()
    pending: str | None = None  # a device name alone on its line
    for line in lines[header_at + 1:]:
        groups: tuple[str, ...] | None = None
        if pending is not None:
            m = cont_re.match(line)
            if m:
                groups = (pending, *m.groups())
            else:
                unparsed.append(pending)
            pending = None
        if groups is None:
            m = row_re.match(line)
            if m:
                groups = m.groups()
            elif len(line.split()) == 1 and not line[0].isspace():
                pending = line.strip()
                continue
            else:
                unparsed.append(line)
                continue
        if typed:
            device, fstype, total, used, avail, _cap, mount = groups
        else:
            device, total, used, avail, _cap, mount = groups
            fstype = ""
        if mount in seen:
            continue
        seen.add(mount)
        rows.append(DfRow(device=device, fstype=fstype, total_bytes=int(total) * block,
                          used_bytes=int(used) * block, available_bytes=max(0, int(avail)) * block,
                          mount=mount))
    if pending is not None:
        unparsed.append(pending)
    if not rows:
        raise ParseError("df printed a header but no filesystem line")
    return DfOutput(rows=rows, unparsed=unparsed)


def is_pseudo(row: DfRow) -> bool:
    """No user data: kernel and memory filesystems, container layers, snap images, size 0."""
    if row.total_bytes == 0:
        return True
    if row.fstype:
        return row.fstype.lower() in PSEUDO_FSTYPES
    if row.device.lower() in PSEUDO_DEVICES:
        return True
    return row.device.startswith("/dev/loop") and row.mount.startswith("/snap/")


# --- uptime ------------------------------------------------------------------

@dataclass(frozen=True)
class Uptime:
    seconds: float | None  # None when the text gave only the load
    load: tuple[float, float, float] | None


_PROC_UPTIME_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s+\d+(?:\.\d+)?\s*$")
_UP_RE = re.compile(r"\bup\s+(.*?)(?:,\s*\d+\s+users?\b|,?\s*load averages?:|$)", re.IGNORECASE)
_LOAD_RE = re.compile(r"load averages?:\s*(\d+[.,]\d+),?\s+(\d+[.,]\d+),?\s+(\d+[.,]\d+)", re.IGNORECASE)
_SPAN_RES: tuple[tuple[re.Pattern[str], float], ...] = (
    (re.compile(r"(\d+)\s+days?|(\d+)\s+day\(s\)", re.IGNORECASE), 86400.0),
    (re.compile(r"(\d+)\s+(?:hrs?|hours?)\b", re.IGNORECASE), 3600.0),
    (re.compile(r"(\d+)\s+(?:mins?|minutes?)\b", re.IGNORECASE), 60.0),
    (re.compile(r"(\d+)\s+(?:secs?|seconds?)\b", re.IGNORECASE), 1.0),
)


def parse_proc_uptime(text: str) -> float:
    """``/proc/uptime`` ("2231.05 2002.44") → seconds since boot."""
    m = _PROC_UPTIME_RE.match(text.strip().splitlines()[0] if text.strip() else "")
    if not m:
        raise ParseError(f"not /proc/uptime output: {text[:80]!r}")
    return float(m.group(1))


def parse_uptime(text: str) -> Uptime:
    """The ``uptime`` line of procps, BusyBox, BSD/macOS, Solaris or AIX → time up (whole minutes) and load.

    ``up 41 days, 16:37``, ``up 1 day, 37 min``, ``up 12:01``, ``up 3 mins``,
    ``up 120 day(s), 3:02``; load after ``load average:`` (``load
    averages:`` without commas on BSD; a decimal comma is accepted).
    """
    line = next((ln for ln in text.splitlines() if " up " in f" {ln} "), "")
    load_m = _LOAD_RE.search(text)
    load = None
    if load_m:
        a, b, c = (float(x.replace(",", ".")) for x in load_m.groups())
        load = (a, b, c)
    up_m = _UP_RE.search(line)
    if not up_m:
        if load is None:
            raise ParseError(f"not uptime output: {text[:120]!r}")
        return Uptime(seconds=None, load=load)
    span = up_m.group(1)
    seconds = 0.0
    matched = False
    for rx, unit in _SPAN_RES:
        for m in rx.finditer(span):
            seconds += int(next(g for g in m.groups() if g is not None)) * unit
            matched = True
    clock = re.search(r"(?<![\d:])(\d{1,2}):(\d{2})(?![\d:])", span)
    if clock:
        seconds += int(clock.group(1)) * 3600 + int(clock.group(2)) * 60
        matched = True
    if not matched:
        raise ParseError(f"uptime: cannot read the time up from {span[:80]!r}")
    return Uptime(seconds=seconds, load=load)


# --- the check ---------------------------------------------------------------

Connect: TypeAlias = "Callable[..., Any]"
RunCommand: TypeAlias = "Callable[..., _ssh.CommandOutput]"


class _OutOfTime(Exception):
    pass


def run(params: SshParams, ctx: CheckContext, *, connect: Connect = _ssh.connect,
        run_command: RunCommand = _ssh.run_command) -> list[Result]:
    began = time.monotonic()
    where = f"{params.target}:{params.port}"
    base = {"target": params.target, "port": params.port, "user": params.user}
    if not params.target:
        return [Result(check=NAME, item="connection", status=Status.UNKNOWN,
                       summary=say("ssh.no_target", param="target"))]
    # Leave the agent's time limit a second: our own deadline ends hung commands cleanly.
    deadline = began + max(1.0, ctx.timeout_s - 1.0)
    try:
        client = connect(params.target, params.port, params.user, known_hosts=params.known_hosts,
                         timeout=min(params.connect_timeout, max(0.5, deadline - time.monotonic())),
                         key_file=params.key_file, password_file=params.password_file,
                         passphrase_file=params.passphrase_file)
    except _ssh.SshFailure as exc:
        status = Status.UNKNOWN if exc.kind == "config" else Status.CRITICAL
        return [Result(check=NAME, item="connection", status=status, summary=exc.summary[:MAX_SUMMARY_LEN],
                       message=getattr(exc.summary, "message", None),
                       standard=say("ssh.standard", where=where),
                       details={**base, "failure": exc.kind, **exc.details})]
    # paramiko waits without a limit in a few places (exec request, channel close): a watchdog
    # closes the connection at our deadline, which wakes every such wait.
    watchdog = threading.Timer(max(0.1, deadline - time.monotonic()), client.close)
    watchdog.daemon = True
    watchdog.start()

    def remote(command: str) -> _ssh.CommandOutput:
        left = deadline - time.monotonic()
        if left <= 0.2:
            raise _OutOfTime
        return run_command(client, command, timeout=min(params.command_timeout, left))

    results: list[Result] = []
    try:
        for probe in params.enabled:
            try:
                if probe == "df":
                    results += _df(params, remote, base)
                elif probe == "uptime":
                    results.append(_uptime(params, remote, base, ctx))
                else:
                    results.append(_command(params, remote, base))
            except _OutOfTime:
                item = {"df": "df", "uptime": "uptime"}.get(probe, params.command_item)
                results.append(Result(check=NAME, item=item, status=Status.UNKNOWN, details=base,
                                      summary=say("ssh.out_of_time", probe=probe, limit=ctx.timeout_s)))
            except _ssh.SshFailure as exc:
                item = {"df": "df", "uptime": "uptime"}.get(probe, params.command_item)
                results.append(Result(check=NAME, item=item, status=Status.UNKNOWN,
                                      summary=say("ssh.probe_failed", probe=probe, error=exc.summary),
                                      details={**base, "failure": exc.kind}))
    finally:
        watchdog.cancel()
        client.close()
    return results


def _raw(out: _ssh.CommandOutput) -> dict[str, Any]:
    return {"exit_status": out.exit_status, "stdout": out.stdout[:RAW_LIMIT],
            "stderr": out.stderr[:RAW_LIMIT]}


def _df(params: SshParams, remote: Callable[[str], _ssh.CommandOutput],
        base: dict[str, Any]) -> list[Result]:
    standard = say("ssh.df_standard", warn=params.warn)
    attempts: list[dict[str, Any]] = []
    parsed: DfOutput | None = None
    used_command = ""
    for command in DF_COMMANDS:
        out = remote(command)
        if out.timed_out:
            return [Result(check=NAME, item="df", status=Status.UNKNOWN, standard=standard,
                           summary=say("ssh.df_hung", probe="df", seconds=out.seconds),
                           details={**base, "command": command, **_raw(out)})]
        try:
            parsed = parse_df(out.stdout)
        except ParseError as exc:
            attempts.append({"command": command, "error": str(exc), **_raw(out)})
            continue
        used_command = command
        if out.stderr.strip():
            attempts.append({"command": command, "stderr": out.stderr[:RAW_LIMIT]})
        break
    if parsed is None:
        last = attempts[-1]
        first_err = (last.get("stderr") or "").strip().splitlines()
        why = first_err[0][:200] if first_err else last["error"]
        return [Result(check=NAME, item="df", status=Status.UNKNOWN, standard=standard,
                       summary=say("ssh.df_not_understood", probe="df", why=why),
                       details={**base, "attempts": attempts})]
    extra: dict[str, Any] = {"command": used_command}
    if parsed.unparsed:
        extra["unparsed_lines"] = parsed.unparsed[:50]
    if attempts:
        extra["notes"] = attempts
    rows = parsed.rows
    if params.mounts:
        by_mount = {r.mount: r for r in rows}
        chosen: list[DfRow | str] = [by_mount.get(m, m) for m in params.mounts]
    else:
        chosen = [r for r in rows if not is_pseudo(r)]
        if not chosen:
            return [Result(check=NAME, item="df", status=Status.UNKNOWN, standard=standard,
                           summary=say("ssh.df_no_fs", probe="df"),
                           details={**base, **extra, "mounts": [r.mount for r in rows]})]
    results = []
    for row in chosen:
        if isinstance(row, str):
            results.append(Result(check=NAME, item=f"df:{row}"[:255], status=Status.CRITICAL,
                                  standard=standard, summary=say("ssh.not_mounted", mount=row, probe="df"),
                                  details={**base, **extra, "mounts": [r.mount for r in rows]}))
            continue
        pct = row.used_percent
        results.append(Result(
            check=NAME, item=f"df:{row.mount}"[:255], status=above(pct, params.warn, params.crit),
            standard=standard,
            summary=say("disk.used", mount=row.mount, used=pct, free=row.available_bytes, total=row.total_bytes),
            metrics=(
                Metric("used_percent", pct, "%", warn=params.warn, crit=params.crit, min=0, max=100),
                Metric("free_bytes", float(row.available_bytes), "B", min=0, max=float(row.total_bytes)),
                Metric("total_bytes", float(row.total_bytes), "B", min=0),
            ),
            details={**base, **extra, "device": row.device, "fstype": row.fstype},
        ))
    return results


def _uptime(params: SshParams, remote: Callable[[str], _ssh.CommandOutput], base: dict[str, Any],
            ctx: CheckContext) -> Result:
    standard = say("ssh.uptime_standard", min=params.min_uptime) if params.min_uptime else ""
    out = remote(UPTIME_COMMAND)
    seconds: float | None = None
    source = ""
    rest: list[str] = []
    for line in out.stdout.splitlines():
        if seconds is None and _PROC_UPTIME_RE.match(line):
            seconds, source = parse_proc_uptime(line), "/proc/uptime"
        else:
            rest.append(line)
    parsed: Uptime | None = None
    try:
        parsed = parse_uptime("\n".join(rest))
    except ParseError:
        pass
    if seconds is None and parsed is not None and parsed.seconds is not None:
        seconds, source = parsed.seconds, "uptime"
    if seconds is None:
        return Result(check=NAME, item="uptime", status=Status.UNKNOWN, standard=standard,
                      summary=(say("ssh.uptime_hung", probe="uptime", seconds=out.seconds, proc="/proc/uptime")
                               if out.timed_out else
                               say("ssh.uptime_not_understood", probe="uptime", proc="/proc/uptime")),
                      details={**base, "command": UPTIME_COMMAND, **_raw(out)})
    notes: dict[str, Any] = {} if parsed is not None else {"uptime_output": "\n".join(rest)[:RAW_LIMIT]}
    booted = ctx.now - timedelta(seconds=seconds)
    status = below(seconds, params.min_uptime, None) if params.min_uptime else Status.OK
    load = parsed.load if parsed is not None else None
    summary = say("ssh.up", up=seconds, since=format_time(booted)[:16].replace("T", " "))
    if status is Status.WARNING:
        summary = say("ssh.rebooted_recently", text=summary)
    if load is not None:
        summary = say("ssh.load", text=summary, load1=load[0], load5=load[1], load15=load[2])
    metrics = [Metric("uptime_seconds", round(seconds, 2), "s", warn=params.min_uptime, min=0)]
    if load is not None:
        metrics += [Metric("load1", load[0], "", min=0), Metric("load5", load[1], "", min=0),
                    Metric("load15", load[2], "", min=0)]
    return Result(check=NAME, item="uptime", status=status, standard=standard, summary=summary,
                  metrics=tuple(metrics),
                  details={**base, "booted_at": format_time(booted), "source": source, **notes})


_NAGIOS = {0: Status.OK, 1: Status.WARNING, 2: Status.CRITICAL, 3: Status.UNKNOWN}


def _command(params: SshParams, remote: Callable[[str], _ssh.CommandOutput], base: dict[str, Any]) -> Result:
    item = params.command_item[:255]
    standard = say("ssh.command_standard")
    details: dict[str, Any] = {**base, "command": mask_command(params.command)}
    out = remote(shlex.join(params.command))
    details.update(exit_code=out.exit_status, elapsed_s=round(out.seconds, 3))
    stdout, stderr = out.stdout, out.stderr
    plugin, stderr = read_plugin(stdout, stderr)
    if out.timed_out:
        return Result(check=NAME, item=item, status=Status.UNKNOWN, standard=standard,
                      summary=(say("ssh.command_hung_output", item=params.command_item, seconds=out.seconds,
                                   output=plugin.summary[:MAX_SUMMARY_LEN]) if plugin.summary
                               else say("ssh.command_hung", item=params.command_item, seconds=out.seconds)),
                      details={**details, "stdout": stdout[:RAW_LIMIT], "stderr": stderr[:RAW_LIMIT]})
    metrics = plugin_evidence(plugin, stderr, details)
    if out.truncated:
        details["truncated"] = True
    # the plugin's first line is its own words (an argument); only our framing has keys
    summary: str = plugin.summary[:MAX_SUMMARY_LEN] or say("nagios.no_output")
    if out.exit_status in _NAGIOS:
        status = _NAGIOS[out.exit_status]
    else:
        status = Status.UNKNOWN
        code = out.exit_status
        summary = say("ssh.command_killed" if code is None else "ssh.command_not_found" if code == 127
                      else "ssh.command_not_executable" if code == 126 else "ssh.command_exit",
                      item=params.command_item, code=code, output=summary)
    return Result(check=NAME, item=item, status=status, standard=standard, summary=summary[:MAX_SUMMARY_LEN],
                  message=getattr(summary, "message", None), metrics=metrics, details=details)
