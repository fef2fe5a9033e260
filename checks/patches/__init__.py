"""patches: are the operating system's updates installed, security updates first?

Read-only: the check asks what the package manager already knows and never
installs anything, never refreshes package lists (no ``apt-get update``, dnf
runs with ``-C``, cache only).  How fresh that knowledge is depends on the
system's own timers (apt's ``apt-daily.timer`` / unattended-upgrades,
``dnf-makecache.timer``, Windows Update's scheduled scan); the check reports
the lists' age and judges it against ``max_lists_age``.

========== ==================================================================
system     what is read
========== ==================================================================
Debian,    ``apt-get -s -o Debug::NoLocking=1 dist-upgrade`` (a simulation:
Ubuntu     pending updates; a security update is one offered by an archive
           whose suite ends in ``-security`` or whose label is
           ``Debian-Security``); the last ``upgrade`` line of
           ``/var/log/dpkg.log*`` (rotated and gzipped ones too); the newest
           file in ``/var/lib/apt/lists``; ``/run/reboot-required``
RHEL,      ``dnf -C -v updateinfo list security available`` (advisories with
Rocky,     their date), ``dnf -C check-update`` (all pending updates), the
Alma,      newest ``rpm`` install time, ``needs-restarting -r`` when
CentOS 7   installed; ``yum`` instead of ``dnf`` where there is no dnf
Windows    ``Get-HotFix`` (installed updates with their date), Windows
           Update's last successful search and installation, the
           pending-reboot markers (registry: ``Component Based
           Servicing\\RebootPending``, ``WindowsUpdate\\Auto Update\\
           RebootRequired``, ``PendingFileRenameOperations``) and, with
           ``windows_search``, pending updates from Windows Update's local
           cache (an offline search: nothing is downloaded)
========== ==================================================================

Since when is an update pending?  Where the source says when it was published
(a dnf advisory's date, Windows Update's deployment date) that date counts;
apt keeps no publication dates, so the check remembers when it first saw each
pending version (in its state) and counts from then: a lower bound.

Items, one result each:

=========== ======== =====================================================
item        status   meaning
=========== ======== =====================================================
security    OK       no security update pending, or none pending longer
                     than ``max_security_age``
            WARNING  a security update pending longer than
                     ``max_security_age`` (default 30 d); or the package
                     lists older than ``max_lists_age`` (default 7 d:
                     what is pending is not known beyond that)
            UNKNOWN  the package manager could not be asked (missing,
                     failed, no answer within ``timeout``)
last_update OK       an update installed within ``max_since_update``
            WARNING  none installed for longer than ``max_since_update``
                     (default 90 d), or none in the logs kept
reboot      OK       no reboot pending, or pending for less than
                     ``max_security_age``
            WARNING  updates installed but waiting for a reboot longer
                     than ``max_security_age`` (they are not in effect)
(none)      UNKNOWN  no supported package manager or operating system
=========== ======== =====================================================

Metrics: ``pending_security`` and ``pending_updates`` (count),
``oldest_security_age_seconds`` (s), ``lists_age_seconds`` (s),
``since_update_seconds`` (s), ``reboot_pending_seconds`` (s).
Details list the pending security updates by package (name, installed and
offered version, archive or advisory, since when), at most 50.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from checks import _windows
from checks._params.patches import MAX_LISTED, NAME, PatchesParams
from checks.context import CheckContext
from checks.messages import fit_summary, listed, say
from checks.patches.apt import collect_apt
from checks.patches.inventory import Inventory, Run, SourceError
from checks.patches.rpm import collect_rpm, nevra_name
from checks.patches.windows import collect_windows
from checks.result import Metric, Result, Status, format_time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["NAME", "PatchesParams", "detect_manager", "judge", "nevra_name", "run"]


def detect_manager(windows: bool, which: Callable[[str], str | None] = shutil.which) -> str | None:
    if windows:
        return "windows"
    if not sys.platform.startswith("linux"):
        return None
    for tool, manager in (("apt-get", "apt"), ("dnf", "dnf"), ("yum", "yum")):
        if which(tool):
            return manager
    return None


def _os_name(root: str) -> str:
    try:
        with open(os.path.join(root, "etc/os-release"), encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return sys.platform


def run(params: PatchesParams, ctx: CheckContext, *,
        run: Run = subprocess.run,
        powershell: Callable[[str, float], Any] = _windows.powershell_json,
        environ: Mapping[str, str] = os.environ,
        root: str = "/",
        windows: bool = sys.platform == "win32",
        which: Callable[[str], str | None] = shutil.which) -> list[Result]:
    manager = params.manager if params.manager != "auto" else detect_manager(windows, which)
    if manager is None:
        return [Result(check=NAME, item="", status=Status.UNKNOWN,
                       summary=say("patches.no_manager", tools="apt-get, dnf, yum", os=_os_name(root)),
                       details={"platform": sys.platform})]
    try:
        if manager == "windows":
            inv = collect_windows(params, powershell)
        elif manager == "apt":
            inv = collect_apt(params, run, environ, root, which)
        else:
            inv = collect_rpm(params, run, environ, manager, which, ctx.now)
    except SourceError as exc:
        return [Result(check=NAME, item="", status=Status.UNKNOWN,
                       summary=say("patches.source_failed", manager=manager, error=exc.message),
                       details={"manager": manager})]
    return judge(inv, params, ctx)


def judge(inv: Inventory, params: PatchesParams, ctx: CheckContext) -> list[Result]:
    now = ctx.now
    results: list[Result] = []
    if inv.pending is not None or inv.pending_error:
        results.append(_judge_security(inv, params, ctx))
    results.append(_judge_last_update(inv, params, now))
    reboot = _judge_reboot(inv, params, ctx)
    if reboot is not None:
        results.append(reboot)
    return results


def _ago(now: datetime, then: datetime) -> float:
    return max(0.0, (now - then).total_seconds())


def _judge_security(inv: Inventory, params: PatchesParams, ctx: CheckContext) -> Result:
    now = ctx.now
    standard = say("patches.standard_security", max=params.max_security_age)
    lists_age = None if inv.lists_updated is None else round(_ago(now, inv.lists_updated))
    lists_metric = Metric("lists_age_seconds", lists_age, "s", warn=params.max_lists_age, min=0)
    base: dict[str, Any] = {"manager": inv.manager, "lists": str.__str__(inv.lists_what),
                            "lists_updated": format_time(inv.lists_updated) if inv.lists_updated else None}
    if inv.pending is None:
        return Result(check=NAME, item="security", status=Status.UNKNOWN, standard=standard,
                      summary=fit_summary(say("patches.pending_unknown", error=inv.pending_error)),
                      metrics=(lists_metric,), details={**base, "error": str.__str__(inv.pending_error)})
    seen = ctx.state.get("first_seen")
    seen = dict(seen) if isinstance(seen, dict) else {}
    kept: dict[str, float] = {}
    rows: list[dict[str, Any]] = []
    oldest: float | None = None
    for p in inv.pending:
        key = f"{p.name}={p.candidate}"
        known = seen.get(key)
        first = float(known) if isinstance(known, int | float) else now.timestamp()
        kept[key] = first
        if not p.security:
            continue
        since = p.published if p.published is not None else datetime.fromtimestamp(first, UTC)
        age = _ago(now, since)
        oldest = age if oldest is None else max(oldest, age)
        rows.append({"name": p.name, "installed": p.installed or None, "candidate": p.candidate,
                     "source": p.source, "severity": p.severity or None, "since": format_time(since),
                     "since_is": "published" if p.published is not None else "first seen by this check",
                     "age_seconds": round(age)})
    ctx.state["first_seen"] = kept
    rows.sort(key=lambda r: -r["age_seconds"])
    n_sec, n_all = len(rows), len(inv.pending)
    problems: list[str] = []
    if oldest is not None and oldest >= params.max_security_age:
        late = [r for r in rows if r["age_seconds"] >= params.max_security_age]
        problems.append(say("patches.late", n=len(late), max=params.max_security_age, oldest=oldest,
                            names=_names(late)))
    stale_lists = params.max_lists_age is not None and (lists_age is None or lists_age >= params.max_lists_age)
    if stale_lists:
        problems.append(say("patches.lists_never", lists=inv.lists_what) if lists_age is None else
                        say("patches.lists_old", lists=inv.lists_what, age=lists_age, max=params.max_lists_age or 0))
    status = Status.WARNING if problems else Status.OK
    parts = list(problems)
    if not problems and n_sec:
        parts.append(say("patches.pending_first_seen" if any(r["since_is"] != "published" for r in rows)
                         else "patches.pending", n=n_sec, oldest=oldest or 0, max=params.max_security_age,
                         names=_names(rows)))
    elif not problems:
        parts.append(say("patches.none_pending"))
    parts.append(say("patches.all_pending", n=n_all))
    if lists_age is not None and not stale_lists:
        parts.append(say("patches.lists_age", age=lists_age))
    summary = say("results.joined", parts=parts)
    metrics = (
        Metric("pending_security", float(n_sec), "count", min=0),
        Metric("pending_updates", float(n_all), "count", min=0),
        Metric("oldest_security_age_seconds", None if oldest is None else round(oldest), "s",
               warn=params.max_security_age, min=0),
        lists_metric,
    )
    details = {**base, "pending_security": n_sec, "pending_updates": n_all,
               "security_updates": rows[:MAX_LISTED], "security_updates_not_listed": max(0, n_sec - MAX_LISTED),
               "age_note": "apt keeps no publication dates: the age counts from when this check first saw "
                           "the update pending" if inv.manager == "apt" else ""}
    return Result(check=NAME, item="security", status=status, summary=fit_summary(summary), standard=standard,
                  metrics=metrics, details=details)


def _names(rows: list[dict[str, Any]], limit: int = 8) -> str:
    return listed([r["name"] for r in rows], limit)


def _judge_last_update(inv: Inventory, params: PatchesParams, now: datetime) -> Result:
    standard = say("patches.standard_update", max=params.max_since_update)
    details: dict[str, Any] = {"manager": inv.manager, "source": inv.last_update_source}
    if inv.last_update is not None:
        age = _ago(now, inv.last_update)
        details.update(last_update=format_time(inv.last_update), what=str.__str__(inv.last_update_what))
        status = Status.WARNING if age >= params.max_since_update else Status.OK
        summary = say("patches.no_update_for" if status is Status.WARNING else "patches.last_update", age=age,
                      limit=params.max_since_update, what=inv.last_update_what,
                      when=inv.last_update.astimezone().strftime("%Y-%m-%d %H:%M"))
        metric_value: float | None = round(age)
    elif inv.history_since is not None:
        span = _ago(now, inv.history_since)
        details["logs_since"] = format_time(inv.history_since)
        status = Status.WARNING if span >= params.max_since_update else Status.OK
        summary = say("patches.none_in_logs", since=inv.history_since.astimezone().strftime("%Y-%m-%d"), span=span)
        metric_value = round(span)
    else:
        status = Status.UNKNOWN
        summary = say("patches.last_unknown", error=inv.history_error or say("patches.no_record"))
        details["error"] = str.__str__(inv.history_error)
        metric_value = None
    return Result(check=NAME, item="last_update", status=status, summary=fit_summary(summary), standard=standard,
                  metrics=(Metric("since_update_seconds", metric_value, "s", warn=params.max_since_update,
                                  min=0),),
                  details=details)


def _judge_reboot(inv: Inventory, params: PatchesParams, ctx: CheckContext) -> Result | None:
    if inv.reboot is None:
        ctx.state.pop("reboot_since", None)
        return None
    standard = say("patches.standard_reboot", max=params.max_security_age)
    now = ctx.now
    if not inv.reboot:
        ctx.state.pop("reboot_since", None)
        return Result(check=NAME, item="reboot", status=Status.OK, standard=standard,
                      summary=say("patches.no_reboot"),
                      metrics=(Metric("reboot_pending_seconds", 0.0, "s", warn=params.max_security_age, min=0),),
                      details={"manager": inv.manager, "reboot_pending": False})
    remembered = ctx.state.get("reboot_since")
    candidates = [now.timestamp()]
    if isinstance(remembered, int | float):
        candidates.append(float(remembered))
    if inv.reboot_since is not None:
        candidates.append(inv.reboot_since.timestamp())
    since_ts = min(candidates)
    ctx.state["reboot_since"] = since_ts
    since = datetime.fromtimestamp(since_ts, UTC)
    age = _ago(now, since)
    status = Status.WARNING if age >= params.max_security_age else Status.OK
    evidence = inv.reboot_evidence[:6] or [say("patches.marker_set")]  # file and registry names: identifiers
    summary = say("patches.reboot_pending", age=age, since=since.astimezone().strftime("%Y-%m-%d %H:%M"),
                  evidence=evidence)
    return Result(check=NAME, item="reboot", status=status, summary=fit_summary(summary), standard=standard,
                  metrics=(Metric("reboot_pending_seconds", round(age), "s", warn=params.max_security_age,
                                  min=0),),
                  details={"manager": inv.manager, "reboot_pending": True, "since": format_time(since),
                           "evidence": [str.__str__(e) for e in inv.reboot_evidence]})
