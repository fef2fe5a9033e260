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

import glob
import gzip
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from checks import _windows
from checks._units import format_seconds
from checks.context import CheckContext
from checks.params import Duration, format_duration
from checks.result import Metric, Result, Status, format_time

NAME = "patches"
D = 86400.0
MANAGERS = ("auto", "apt", "dnf", "yum", "windows")
MAX_LISTED = 50
Run = Callable[..., Any]


@dataclass(frozen=True)
class PatchesParams:
    #: a security update pending longer than this is WARNING
    max_security_age: Duration = Duration(30 * D)
    #: no update installed for longer than this is WARNING
    max_since_update: Duration = Duration(90 * D)
    #: package lists (apt, dnf metadata, Windows Update's last search) older than this are WARNING;
    #: empty: not judged
    max_lists_age: Duration | None = Duration(7 * D)
    #: auto, apt, dnf, yum or windows
    manager: str = "auto"
    #: Windows: also list pending updates from Windows Update's local cache (offline search)
    windows_search: bool = True
    #: seconds for each package manager call
    timeout: Duration = Duration(120.0)

    def __post_init__(self) -> None:
        manager = self.manager.strip().lower()
        if manager not in MANAGERS:
            raise ValueError(f"manager: expected one of {', '.join(MANAGERS)} (got {self.manager!r})")
        object.__setattr__(self, "manager", manager)
        for key in ("max_security_age", "max_since_update", "timeout"):
            if getattr(self, key) <= 0:
                raise ValueError(f"{key}: must be more than 0")


# --------------------------------------------------------------------------- what every source gives

@dataclass
class Pending:
    """One update that is offered but not installed."""

    name: str
    candidate: str
    security: bool
    source: str = ""               # archive ("Debian-Security:12/stable-security") or advisory id
    installed: str = ""
    published: datetime | None = None  # when the source says it was released
    severity: str = ""


@dataclass
class Inventory:
    manager: str
    pending: list[Pending] | None = None       # None: could not be listed (pending_error says why)
    pending_error: str = ""
    last_update: datetime | None = None
    last_update_what: str = ""
    last_update_source: str = ""
    history_since: datetime | None = None     # the oldest entry of the logs read (when none had an update)
    history_error: str = ""
    lists_updated: datetime | None = None
    lists_what: str = ""
    reboot: bool | None = None
    reboot_since: datetime | None = None
    reboot_evidence: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class SourceError(Exception):
    """The package manager could not be asked; the message says why."""


def _run_text(run: Run, argv: list[str], timeout: float, env: Mapping[str, str] | None,
              ok: tuple[int, ...] = (0,)) -> tuple[int, str]:
    """``argv``'s exit code and output (stdout then stderr); SourceError when it cannot answer."""
    try:
        proc = run(argv, capture_output=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL,
                   env=dict(env) if env is not None else None)
    except FileNotFoundError:
        raise SourceError(f"{os.path.basename(argv[0])} is not installed") from None
    except PermissionError:
        raise SourceError(f"{argv[0]}: permission denied") from None
    except subprocess.TimeoutExpired:
        raise SourceError(f"{os.path.basename(argv[0])} gave no answer within {timeout:g} s") from None
    out = proc.stdout.decode("utf-8", "replace") if isinstance(proc.stdout, bytes) else str(proc.stdout or "")
    err = proc.stderr.decode("utf-8", "replace") if isinstance(proc.stderr, bytes) else str(proc.stderr or "")
    if proc.returncode not in ok:
        lines = [ln.strip() for ln in (err or out).splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith(("E:", "Error", "error"))] or lines
        raise SourceError(f"{' '.join(argv[:2])} failed (exit {proc.returncode}): "
                          f"{errors[0][:300] if errors else 'no message'}")
    return proc.returncode, out + ("\n" + err if err else "")


def _c_env(environ: Mapping[str, str]) -> dict[str, str]:
    return {**environ, "LC_ALL": "C", "LANG": "C"}


def _local(naive: datetime) -> datetime:
    """A naive local time (as logs write it) made aware, in UTC."""
    return naive.astimezone().astimezone(UTC)


# --------------------------------------------------------------------------- Debian / Ubuntu: apt

_APT_INST = re.compile(r"^Inst (\S+) (?:\[([^\]]*)\] )?\((\S+) (.*?) \[[^\]]*\]\)")


def parse_apt_simulation(text: str) -> list[Pending]:
    """The ``Inst`` lines of ``apt-get -s dist-upgrade`` (LC_ALL=C)."""
    out: list[Pending] = []
    for line in text.splitlines():
        m = _APT_INST.match(line)
        if not m:
            continue
        name, installed, candidate, origins = m.group(1), m.group(2) or "", m.group(3), m.group(4)
        archives = [o.strip() for o in origins.split(",") if o.strip()]
        security = [a for a in archives if _apt_security(a)]
        out.append(Pending(name=name, installed=installed, candidate=candidate, security=bool(security),
                           source=(security or archives or [""])[0]))
    return out


def _apt_security(origin: str) -> bool:
    """``Debian-Security:12/stable-security``, ``Ubuntu:22.04/jammy-security``: a security archive."""
    label, _, rest = origin.partition(":")
    suite = rest.rpartition("/")[2]
    return suite.endswith("-security") or label.lower().endswith("-security")


_DPKG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) (\S+) (.*)$")


def _dpkg_logs(root: str) -> list[str]:
    """dpkg.log, dpkg.log.1, dpkg.log.2.gz, ... newest first."""
    base = os.path.join(root, "var/log/dpkg.log")
    rotated = sorted(glob.glob(base + ".*"),
                     key=lambda p: int(m.group(1)) if (m := re.search(r"\.(\d+)(?:\.gz)?$", p)) else 10**6)
    return [p for p in [base, *rotated] if os.path.exists(p)]


def last_dpkg_upgrade(root: str) -> tuple[datetime | None, str, datetime | None, str]:
    """(time, package of the newest ``upgrade`` line, oldest entry read, error) from dpkg's logs."""
    oldest: datetime | None = None
    logs = _dpkg_logs(root)
    if not logs:
        return None, "", None, f"{os.path.join(root, 'var/log/dpkg.log')} does not exist"
    for path in logs:
        try:
            opener: Callable[..., Any] = gzip.open if path.endswith(".gz") else open
            with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
                lines = fh.read().splitlines()
        except PermissionError:
            return None, "", oldest, f"cannot read {path}: permission denied"
        except (OSError, EOFError) as exc:
            return None, "", oldest, f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}"
        for line in reversed(lines):
            m = _DPKG_LINE.match(line)
            if m and m.group(2) == "upgrade":
                pkg = m.group(3).split(" ", 1)[0].split(":", 1)[0]
                return _local(datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")), pkg, oldest, ""
        for line in lines:
            m = _DPKG_LINE.match(line)
            if m:
                oldest = _local(datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S"))
                break
    return None, "", oldest, ""


def _apt_lists_updated(root: str) -> datetime | None:
    """The newest of apt's list files (what the last successful ``apt-get update`` fetched)."""
    newest = 0.0
    for path in [*glob.glob(os.path.join(root, "var/lib/apt/lists/*Release*")),
                 os.path.join(root, "var/lib/apt/periodic/update-success-stamp")]:
        try:
            newest = max(newest, os.stat(path).st_mtime)
        except OSError:
            continue
    return datetime.fromtimestamp(newest, UTC) if newest else None


def _reboot_required_file(root: str, inv: Inventory) -> None:
    """Debian/Ubuntu: ``/run/reboot-required`` (and ``.pkgs``), written by the packages that need it."""
    flag = os.path.join(root, "run/reboot-required")
    try:
        st = os.stat(flag)
    except FileNotFoundError:
        inv.reboot = False
        return
    except OSError:
        return
    inv.reboot = True
    inv.reboot_since = datetime.fromtimestamp(st.st_mtime, UTC)
    try:
        with open(flag + ".pkgs", encoding="utf-8", errors="replace") as fh:
            pkgs = sorted({ln.strip() for ln in fh if ln.strip()})
    except OSError:
        pkgs = []
    inv.reboot_evidence = [flag] + [f"package {p}" for p in pkgs[:20]]


def collect_apt(params: PatchesParams, run: Run, environ: Mapping[str, str], root: str,
                which: Callable[[str], str | None]) -> Inventory:
    inv = Inventory(manager="apt")
    tool = which("apt-get") or "apt-get"
    try:
        _, out = _run_text(run, [tool, "-s", "-o", "Debug::NoLocking=1", "dist-upgrade"], params.timeout,
                           _c_env(environ))
        inv.pending = parse_apt_simulation(out)
    except SourceError as exc:
        inv.pending_error = str(exc)
    inv.last_update, what, inv.history_since, inv.history_error = last_dpkg_upgrade(root)
    inv.last_update_what = f"package {what}" if what else ""
    inv.last_update_source = "/var/log/dpkg.log"
    inv.lists_updated = _apt_lists_updated(root)
    inv.lists_what = "package lists (/var/lib/apt/lists)"
    _reboot_required_file(root, inv)
    return inv


# --------------------------------------------------------------------------- RHEL family: dnf / yum

_UPDATEINFO = re.compile(r"^(?:i\s+)?(\S+)\s+(?:(\w+)/Sec\.|security)\s+(\S+)"
                         r"(?:\s+(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d))?\s*$")
_EXPIRY = re.compile(r"Last metadata expiration check: (?:(\d+) days?, )?(\d+):(\d\d):(\d\d) ago")


def nevra_name(nevra: str) -> tuple[str, str]:
    """``openssl-libs-1:3.0.7-24.el9_5.x86_64`` → (``openssl-libs``, ``1:3.0.7-24.el9_5``)."""
    body = nevra.rsplit(".", 1)[0] if "." in nevra else nevra
    parts = body.rsplit("-", 2)
    if len(parts) == 3:
        return parts[0], f"{parts[1]}-{parts[2]}"
    return body, ""


def parse_updateinfo(text: str) -> list[Pending]:
    """``dnf updateinfo list security available -v`` lines: advisory, severity, package, date."""
    out: list[Pending] = []
    for line in text.splitlines():
        m = _UPDATEINFO.match(line.strip())
        if not m or not re.match(r"^[A-Z]+-\d{4}[:-]", m.group(1)):
            continue
        name, version = nevra_name(m.group(3))
        published = _local(datetime.fromisoformat(m.group(4).replace("T", " "))) if m.group(4) else None
        out.append(Pending(name=name, candidate=version, security=True, source=m.group(1),
                           published=published, severity=m.group(2) or ""))
    return out


def metadata_age(text: str) -> float | None:
    """Seconds since dnf's ``Last metadata expiration check``."""
    m = _EXPIRY.search(text)
    if not m:
        return None
    days, h, mi, s = (int(g or 0) for g in m.groups())
    return days * D + h * 3600 + mi * 60 + s


def parse_check_update(text: str) -> list[Pending]:
    """``dnf check-update`` (exit 100): ``name.arch  version  repo`` rows until "Obsoleting Packages"."""
    out: list[Pending] = []
    for line in text.splitlines():
        if line.startswith("Obsoleting Packages"):
            break
        parts = line.split()
        if len(parts) != 3 or "." not in parts[0] or line.startswith((" ", "Last metadata", "Security:")):
            continue
        name = parts[0].rsplit(".", 1)[0]
        out.append(Pending(name=name, candidate=parts[1], security=False, source=parts[2]))
    return out


def collect_rpm(params: PatchesParams, run: Run, environ: Mapping[str, str], tool: str,
                which: Callable[[str], str | None], now: datetime) -> Inventory:
    inv = Inventory(manager=tool)
    path = which(tool) or tool
    env = _c_env(environ)
    try:
        _, info = _run_text(run, [path, "-C", "-v", "updateinfo", "list", "security", "available"],
                            params.timeout, env)
        security = parse_updateinfo(info)
        _, listing = _run_text(run, [path, "-C", "check-update"], params.timeout, env, ok=(0, 100))
        everything = parse_check_update(listing)
        age = metadata_age(info) or metadata_age(listing)
        if age is not None:
            inv.lists_updated = now - timedelta(seconds=age)
        inv.lists_what = f"{tool} metadata (/var/cache/{tool})"
        secure = {p.name for p in security}
        inv.pending = security + [p for p in everything if p.name not in secure]
    except SourceError as exc:
        inv.pending_error = str(exc)
    try:
        _, rpms = _run_text(run, ["rpm", "-qa", "--qf", "%{INSTALLTIME} %{NAME}-%{VERSION}-%{RELEASE}\\n"],
                            params.timeout, env)
        stamps = [(int(t), n) for t, _, n in (ln.partition(" ") for ln in rpms.splitlines()) if t.isdigit()]
        if stamps:
            when, what = max(stamps)
            inv.last_update = datetime.fromtimestamp(when, UTC)
            inv.last_update_what = f"package {what}"
        else:
            inv.history_error = "rpm listed no installed package"
    except SourceError as exc:
        inv.history_error = str(exc)
    inv.last_update_source = "rpm install times"
    if which("needs-restarting"):
        try:
            code, out = _run_text(run, ["needs-restarting", "-r"], params.timeout, env, ok=(0, 1))
            inv.reboot = code == 1
            inv.reboot_evidence = ["needs-restarting -r"] + [ln.strip(" *") for ln in out.splitlines()
                                                             if ln.strip().startswith("*")][:20]
        except SourceError as exc:
            inv.notes.append(f"reboot state unknown: {exc}")
    return inv


# --------------------------------------------------------------------------- Windows

#: Installed updates, Windows Update's own record, the pending-reboot markers and (when asked)
#: the pending updates from Windows Update's local cache.  Security updates are told by their
#: category id (the category *name* is translated on Chinese Windows).
#: Sources: learn.microsoft.com Get-HotFix, IAutomaticUpdatesResults, IUpdateSearcher.Online,
#: IUpdate (LastDeploymentChangeTime, MsrcSeverity, Categories).
WINDOWS_SCRIPT = r"""
$search = __SEARCH__
$hotfixes = @(Get-HotFix | Select-Object HotFixID, Description, InstalledOn, InstalledBy)
$wu = $null
try { $r = (New-Object -ComObject Microsoft.Update.AutoUpdate).Results
      $wu = [pscustomobject]@{ LastSearchSuccessDate = $r.LastSearchSuccessDate;
                               LastInstallationSuccessDate = $r.LastInstallationSuccessDate } } catch { }
$cbs = 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending'
$wur = 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired'
$sm = Get-ItemProperty 'HKLM:\SYSTEM\CurrentControlSet\Control\Session Manager' `
      -Name PendingFileRenameOperations -ErrorAction SilentlyContinue
$reboot = [pscustomobject]@{ ComponentBasedServicing = (Test-Path $cbs); WindowsUpdate = (Test-Path $wur);
                             PendingFileRenameOperations = [bool]($sm -and $sm.PendingFileRenameOperations) }
$pending = $null; $searchError = $null
if ($search) {
  try { $s = (New-Object -ComObject Microsoft.Update.Session).CreateUpdateSearcher(); $s.Online = $false
        $found = $s.Search("IsInstalled=0 and IsHidden=0 and Type='Software'").Updates
        $pending = @($found | ForEach-Object { [pscustomobject]@{ Title = $_.Title; KB = @($_.KBArticleIDs);
            MsrcSeverity = $_.MsrcSeverity; Published = $_.LastDeploymentChangeTime;
            Categories = @($_.Categories | ForEach-Object { $_.CategoryID }) } }) }
  catch { $searchError = $_.Exception.Message } }
[pscustomobject]@{ HotFixes = $hotfixes; WindowsUpdate = $wu; Reboot = $reboot; Pending = $pending;
                   SearchError = $searchError } | ConvertTo-Json -Depth 5 -Compress
"""

SECURITY_UPDATES = "0fa1201d-4330-4fa8-8ae9-b877473b6441"  # the "Security Updates" classification


def judge_windows_data(data: Any) -> Inventory:
    """An inventory from what :data:`WINDOWS_SCRIPT` printed."""
    if not isinstance(data, dict):
        raise SourceError("PowerShell printed no object")
    inv = Inventory(manager="windows", last_update_source="Get-HotFix")
    newest: tuple[datetime, str] | None = None
    for hf in _windows.as_list(data.get("HotFixes")):
        if not isinstance(hf, dict):
            continue
        try:
            when = _windows.ps_datetime(hf.get("InstalledOn"))
        except ValueError:
            when = None
        if when is not None and (newest is None or when > newest[0]):
            newest = (when, f"{hf.get('HotFixID') or '?'} ({hf.get('Description') or 'update'})")
    wu = _mapping(data.get("WindowsUpdate"))
    installed = _safe_date(wu.get("LastInstallationSuccessDate"))
    if installed is not None and (newest is None or installed > newest[0]):
        newest = (installed, "Windows Update installation")
    if newest is not None:
        inv.last_update, inv.last_update_what = newest
    else:
        inv.history_error = "no installed update with a date (Get-HotFix)"
    inv.lists_updated = _safe_date(wu.get("LastSearchSuccessDate"))
    inv.lists_what = "Windows Update's last successful search"
    reboot = _mapping(data.get("Reboot"))
    markers = [k for k in ("ComponentBasedServicing", "WindowsUpdate", "PendingFileRenameOperations")
               if reboot.get(k) is True]
    inv.reboot = bool(markers) if reboot else None
    inv.reboot_evidence = markers
    if data.get("SearchError"):
        inv.pending_error = f"Windows Update search failed: {str(data['SearchError'])[:300]}"
    elif data.get("Pending") is not None:
        inv.pending = []
        for u in _windows.as_list(data.get("Pending")):
            if not isinstance(u, dict):
                continue
            cats = [str(c).lower() for c in _windows.as_list(u.get("Categories"))]
            kbs = [f"KB{k}" for k in _windows.as_list(u.get("KB"))]
            inv.pending.append(Pending(
                name=" ".join(kbs) or str(u.get("Title") or "?")[:80], candidate=str(u.get("Title") or "")[:200],
                security=SECURITY_UPDATES in cats or bool(u.get("MsrcSeverity")),
                source="Windows Update", published=_safe_date(u.get("Published")),
                severity=str(u.get("MsrcSeverity") or "")))
    return inv


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _safe_date(value: Any) -> datetime | None:
    try:
        return _windows.ps_datetime(value)
    except ValueError:
        return None


def collect_windows(params: PatchesParams, powershell: Callable[[str, float], Any]) -> Inventory:
    script = WINDOWS_SCRIPT.replace("__SEARCH__", "$true" if params.windows_search else "$false")
    try:
        inv = judge_windows_data(powershell(script, params.timeout))
    except _windows.WindowsError_ as exc:
        raise SourceError(str(exc)) from None
    if not params.windows_search:
        inv.pending_error = ""
    return inv


# --------------------------------------------------------------------------- run

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
                       summary=f"no supported package manager found (apt-get, dnf, yum or Windows) on "
                               f"{_os_name(root)}",
                       details={"platform": sys.platform})]
    try:
        if manager == "windows":
            inv = collect_windows(params, powershell)
        elif manager == "apt":
            inv = collect_apt(params, run, environ, root, which)
        else:
            inv = collect_rpm(params, run, environ, manager, which, ctx.now)
    except SourceError as exc:
        return [Result(check=NAME, item="", status=Status.UNKNOWN, summary=f"{manager}: {exc}",
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
    standard = f"security updates installed within {format_duration(params.max_security_age)}"
    lists_age = None if inv.lists_updated is None else round(_ago(now, inv.lists_updated))
    lists_metric = Metric("lists_age_seconds", lists_age, "s", warn=params.max_lists_age, min=0)
    base: dict[str, Any] = {"manager": inv.manager, "lists": inv.lists_what,
                            "lists_updated": format_time(inv.lists_updated) if inv.lists_updated else None}
    if inv.pending is None:
        return Result(check=NAME, item="security", status=Status.UNKNOWN, standard=standard,
                      summary=f"pending updates unknown: {inv.pending_error}"[:1000],
                      metrics=(lists_metric,), details={**base, "error": inv.pending_error})
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
        problems.append(f"{len(late)} security update(s) pending longer than "
                        f"{format_duration(params.max_security_age)} (oldest {format_seconds(oldest)}): "
                        + _names(late))
    stale_lists = params.max_lists_age is not None and (lists_age is None or lists_age >= params.max_lists_age)
    if stale_lists:
        problems.append(f"{inv.lists_what}: never updated" if lists_age is None else
                        f"{inv.lists_what} {format_seconds(lists_age)} old (over "
                        f"{format_duration(params.max_lists_age or 0)}): what is pending is not known "
                        f"beyond that")
    status = Status.WARNING if problems else Status.OK
    if problems:
        summary = "; ".join(problems)
    elif n_sec:
        counted = " since first seen" if any(r["since_is"] != "published" for r in rows) else ""
        summary = (f"{n_sec} security update(s) pending, oldest {format_seconds(oldest or 0)}{counted} "
                   f"(limit {format_duration(params.max_security_age)}): {_names(rows)}")
    else:
        summary = "no security update pending"
    summary += f"; {n_all} update(s) pending in all"
    if lists_age is not None and not stale_lists:
        summary += f"; lists {format_seconds(lists_age)} old"
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
    return Result(check=NAME, item="security", status=status, summary=summary[:1000], standard=standard,
                  metrics=metrics, details=details)


def _names(rows: list[dict[str, Any]], limit: int = 8) -> str:
    names = [r["name"] for r in rows[:limit]]
    more = f" (+{len(rows) - limit} more)" if len(rows) > limit else ""
    return ", ".join(names) + more


def _judge_last_update(inv: Inventory, params: PatchesParams, now: datetime) -> Result:
    standard = f"an update installed within {format_duration(params.max_since_update)}"
    limit = format_duration(params.max_since_update)
    details: dict[str, Any] = {"manager": inv.manager, "source": inv.last_update_source}
    if inv.last_update is not None:
        age = _ago(now, inv.last_update)
        details.update(last_update=format_time(inv.last_update), what=inv.last_update_what)
        status = Status.WARNING if age >= params.max_since_update else Status.OK
        head = f"no update installed for {format_seconds(age)}" if status is Status.WARNING else \
            f"last update installed {format_seconds(age)} ago"
        summary = (f"{head} (limit {limit}): {inv.last_update_what}, "
                   f"{inv.last_update.astimezone().strftime('%Y-%m-%d %H:%M')}")
        metric_value: float | None = round(age)
    elif inv.history_since is not None:
        span = _ago(now, inv.history_since)
        details["logs_since"] = format_time(inv.history_since)
        status = Status.WARNING if span >= params.max_since_update else Status.OK
        summary = (f"no update installed in the logs kept (since "
                   f"{inv.history_since.astimezone().strftime('%Y-%m-%d')}, {format_seconds(span)})")
        metric_value = round(span)
    else:
        status = Status.UNKNOWN
        summary = f"last update unknown: {inv.history_error or 'no record'}"
        details["error"] = inv.history_error
        metric_value = None
    return Result(check=NAME, item="last_update", status=status, summary=summary[:1000], standard=standard,
                  metrics=(Metric("since_update_seconds", metric_value, "s", warn=params.max_since_update,
                                  min=0),),
                  details=details)


def _judge_reboot(inv: Inventory, params: PatchesParams, ctx: CheckContext) -> Result | None:
    if inv.reboot is None:
        ctx.state.pop("reboot_since", None)
        return None
    standard = f"reboot within {format_duration(params.max_security_age)} of installing updates"
    now = ctx.now
    if not inv.reboot:
        ctx.state.pop("reboot_since", None)
        return Result(check=NAME, item="reboot", status=Status.OK, standard=standard,
                      summary="no reboot pending",
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
    evidence = ", ".join(inv.reboot_evidence[:6]) or "marker set"
    summary = (f"reboot pending for {format_seconds(age)} since {since.astimezone().strftime('%Y-%m-%d %H:%M')}: "
               f"installed updates are not in effect ({evidence})")
    return Result(check=NAME, item="reboot", status=status, summary=summary[:1000], standard=standard,
                  metrics=(Metric("reboot_pending_seconds", round(age), "s", warn=params.max_security_age,
                                  min=0),),
                  details={"manager": inv.manager, "reboot_pending": True, "since": format_time(since),
                           "evidence": inv.reboot_evidence})
