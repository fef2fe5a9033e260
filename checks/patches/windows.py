"""Windows: the hotfix history, Windows Update's offline search and the pending-reboot markers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from checks import _windows
from checks._params.patches import PatchesParams
from checks.messages import say
from checks.patches.inventory import Inventory, Pending, SourceError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

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
        raise SourceError(say("accounts.no_object"))
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
        newest = (installed, say("patches.wu_installation"))
    if newest is not None:
        inv.last_update, inv.last_update_what = newest
    else:
        inv.history_error = say("patches.no_hotfix", source="Get-HotFix")
    inv.lists_updated = _safe_date(wu.get("LastSearchSuccessDate"))
    inv.lists_what = say("patches.lists_windows")
    reboot = _mapping(data.get("Reboot"))
    markers = [k for k in ("ComponentBasedServicing", "WindowsUpdate", "PendingFileRenameOperations")
               if reboot.get(k) is True]
    inv.reboot = bool(markers) if reboot else None
    inv.reboot_evidence = markers
    if data.get("SearchError"):
        inv.pending_error = say("patches.search_failed", error=str(data["SearchError"])[:300])
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
        raise SourceError(exc.message) from None
    if not params.windows_search:
        inv.pending_error = ""
    return inv


