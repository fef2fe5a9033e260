"""service: named services are running — systemd units on Linux, Windows services on Windows.

One result per name in ``names`` (item = the name as written).  On Windows,
``automatic: true`` adds one result, item ``automatic services``, that judges
every service whose start type is Automatic, except the *delayed* ones
("Automatic (Delayed Start)") and the *trigger-start* ones (they are meant to
stop when idle), unless ``include_delayed`` / ``include_trigger`` say
otherwise, and except names or display names matching an ``exclude`` glob.

Linux reads ``systemctl show --property=ActiveState,SubState,LoadState,
UnitFileState,MainPID,ExecMainStartTimestamp <unit>`` (time-boxed).  Windows
reads ``psutil.win_service_get(name).as_dict()``; delayed and trigger-start
are read from the service's registry key (see ``checks/_windows.py``).

======== ==============================================================
status   meaning
======== ==============================================================
OK       running (systemd: ``active``, which includes a oneshot unit
         that stays ``active (exited)``)
WARNING  starting, stopping, reloading or paused (it is changing state)
CRITICAL not running (stopped, failed, dead), masked or disabled, or not
         installed; with ``automatic``: an automatic service that is not
         running
UNKNOWN  the state could not be read: systemctl missing, no systemd
         running (a container), no answer within ``timeout``; or no
         ``names`` configured
======== ==============================================================

Metrics: ``running`` (1 or 0) per service; ``stopped`` (count) for the
automatic services.
"""

from __future__ import annotations

import fnmatch
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence

from checks import _windows
from checks._params.service import ServiceParams
from checks.context import CheckContext
from checks.messages import error_text, say
from checks.result import Metric, Result, Status

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

NAME = "service"

SYSTEMD_PROPERTIES = ("ActiveState", "SubState", "LoadState", "UnitFileState", "MainPID",
                      "ExecMainStartTimestamp")


# -- Linux: systemd -----------------------------------------------------------

class SystemctlError(OSError):
    """systemctl could not tell (missing, no systemd, timed out)."""


def systemctl_show(unit: str, timeout: float) -> str:
    cmd = ["systemctl", "show", f"--property={','.join(SYSTEMD_PROPERTIES)}", "--", unit]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False,
                              errors="replace")
    except FileNotFoundError as exc:
        raise SystemctlError("systemctl not found (no systemd on this machine?)") from exc
    except subprocess.TimeoutExpired as exc:
        raise SystemctlError(f"systemctl gave no answer within {timeout:g} s") from exc
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        raise SystemctlError(f"systemctl show failed (exit {proc.returncode}): "
                             f"{'; '.join(lines[:2]) or 'no message'}")
    return proc.stdout


def parse_show(text: str) -> dict[str, str]:
    """``Key=value`` lines → dict (values may contain ``=``)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip():
            out[key.strip()] = value.strip()
    return out


def judge_systemd(unit: str, props: Mapping[str, str]) -> Result:
    load = props.get("LoadState", "")
    active = props.get("ActiveState", "")
    sub = props.get("SubState", "")
    enabled = props.get("UnitFileState", "")
    pid = props.get("MainPID", "0")
    since = props.get("ExecMainStartTimestamp", "")
    standard = say("service.standard_systemd")
    details = {k: v for k, v in props.items() if k in SYSTEMD_PROPERTIES}
    if load == "not-found":
        status, text = Status.CRITICAL, say("service.not_found")
    elif load == "masked":
        status, text = Status.CRITICAL, say("service.masked")
    elif load not in ("loaded", ""):
        status, text = Status.CRITICAL, say("service.broken", load=load)
    elif active == "active":
        status = Status.OK
        text = say("service.active_pid", sub=sub, pid=pid) if pid not in ("", "0") else say("service.active", sub=sub)
        if since:
            text = say("service.active_since", text=text, since=since)
    elif active in ("activating", "deactivating", "reloading"):
        status, text = Status.WARNING, say("service.changing", active=active, sub=sub)
    elif active in ("failed", "inactive"):
        status = Status.CRITICAL
        text = say("service.failed") if active == "failed" else say("service.not_running", active=active, sub=sub)
    else:
        status, text = Status.UNKNOWN, say("service.unexpected", active=repr(active))
    if enabled in ("disabled", "masked") and status is not Status.OK:
        text = say("service.at_boot", text=text, enabled=enabled)
    return Result(check=NAME, item=unit, status=status, standard=standard,
                  summary=say("service.item", item=unit, text=text),
                  metrics=(Metric("running", 1.0 if active == "active" else 0.0, "", min=0, max=1),),
                  details=details)


# -- Windows ----------------------------------------------------------------------

_WIN_WARNING = {"start_pending", "continue_pending", "pause_pending", "paused"}
_WIN_START_TYPES = {"automatic", "manual", "disabled"}  # psutil's WindowsService.start_type()


def judge_windows(name: str, info: Mapping[str, Any]) -> Result:
    status_text = str(info.get("status", ""))
    start_type = str(info.get("start_type", ""))
    display = str(info.get("display_name") or name)
    label = name if display == name else f"{name} ({display})"
    if status_text == "running":
        started = say(f"service.win.start.{start_type}") if start_type in _WIN_START_TYPES else start_type
        status, text = Status.OK, say("service.win.running", pid=str(info.get("pid")), start_type=started)
    elif status_text in _WIN_WARNING:
        status, text = Status.WARNING, say(f"service.win.{status_text}")
    elif status_text in ("stopped", "stop_pending"):
        status, text = Status.CRITICAL, say(f"service.win.{status_text}")
        if start_type == "disabled":
            text = say("service.win.disabled", text=text)
    else:
        status, text = Status.UNKNOWN, say("service.win.unexpected", state=repr(status_text))
    return Result(check=NAME, item=name, status=status, standard=say("service.standard"),
                  summary=say("service.item", item=label, text=text),
                  metrics=(Metric("running", 1.0 if status_text == "running" else 0.0, "", min=0, max=1),),
                  details={k: info.get(k) for k in ("display_name", "status", "start_type", "pid", "username",
                                                     "binpath")})


def judge_automatic(services: Sequence[Mapping[str, Any]], flags: Callable[[str], tuple[bool, bool]],
                    params: ServiceParams) -> Result:
    stopped: list[str] = []
    skipped = {"delayed": 0, "trigger": 0, "excluded": 0}
    judged = 0
    patterns = [p.lower() for p in params.exclude]
    for svc in services:
        if svc.get("start_type") != "automatic":
            continue
        name = str(svc.get("name", ""))
        display = str(svc.get("display_name") or "")
        if any(fnmatch.fnmatchcase(name.lower(), p) or fnmatch.fnmatchcase(display.lower(), p)
               for p in patterns):
            skipped["excluded"] += 1
            continue
        judged += 1
        if svc.get("status") == "running":
            continue
        # Only a service that is not running needs its registry read: a delayed or
        # trigger-start service that is stopped is doing what it was made to do.
        delayed, trigger = flags(name)
        if delayed and not params.include_delayed:
            skipped["delayed"] += 1
            continue
        if trigger and not params.include_trigger:
            skipped["trigger"] += 1
            continue
        stopped.append(name if not display or display == name else f"{name} ({display})")
    status = Status.CRITICAL if stopped else Status.OK
    if stopped:
        shown = ", ".join(stopped[:10])
        listed: str = shown if len(stopped) <= 10 else say("service.more", shown=shown, more=len(stopped) - 10)
        summary = say("service.some_stopped", n=len(stopped), judged=judged, shown=listed)
    else:
        summary = say("service.all_running", judged=judged)
    left_out = [say("service.left_delayed", n=skipped["delayed"])] if skipped["delayed"] else []
    if skipped["trigger"]:
        left_out.append(say("service.left_trigger", n=skipped["trigger"]))
    if skipped["excluded"]:
        left_out.append(say("service.left_excluded", n=skipped["excluded"]))
    if left_out:
        summary = say("service.not_judged", text=summary, parts=left_out)
    return Result(check=NAME, item="automatic services", status=status,
                  standard=say("service.standard_automatic"), summary=summary,
                  metrics=(Metric("stopped", float(len(stopped)), "count", crit=1, min=0),),
                  details={"stopped": stopped[:100], "judged": judged, "left_out": skipped})


# -- the check -------------------------------------------------------------------------

def run(params: ServiceParams, ctx: CheckContext, *,
        windows: bool = sys.platform == "win32",
        show: Callable[[str, float], str] = systemctl_show,
        win_service: Callable[[str], dict[str, Any]] = _windows.service_info,
        win_services: Callable[[], list[dict[str, Any]]] = _windows.all_services,
        win_flags: Callable[[str], tuple[bool, bool]] = _windows.start_flags) -> list[Result]:
    if not params.names and not params.automatic:
        return [Result(check=NAME, item="", status=Status.UNKNOWN, standard=say("service.standard"),
                       summary=say("service.not_configured"))]
    results: list[Result] = []
    for name in params.names:
        if windows:
            try:
                info = win_service(name)
            except _windows.ServiceMissing:
                results.append(Result(check=NAME, item=name, status=Status.CRITICAL, standard=say("service.standard"),
                                      summary=say("service.not_installed", name=name),
                                      metrics=(Metric("running", 0.0, "", min=0, max=1),)))
                continue
            except OSError as exc:
                results.append(_unknown(name, error_text(exc)))
                continue
            results.append(judge_windows(name, info))
        else:
            try:
                props = parse_show(show(name, params.timeout))
            except OSError as exc:
                results.append(_unknown(name, error_text(exc)))
                continue
            results.append(judge_systemd(name, props))
    if params.automatic:
        if not windows:
            results.append(Result(check=NAME, item="automatic services", status=Status.UNKNOWN,
                                  standard=say("service.standard_automatic"),
                                  summary=say("service.automatic_linux")))
        else:
            try:
                services = win_services()
            except OSError as exc:
                results.append(_unknown("automatic services", say("service.cannot_list", error=error_text(exc))))
            else:
                results.append(judge_automatic(services, win_flags, params))
    return results


def _unknown(item: str, why: str) -> Result:
    return Result(check=NAME, item=item, status=Status.UNKNOWN, standard=say("service.standard"),
                  summary=say("service.unknown", item=item, why=why))
