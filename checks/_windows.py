"""The Windows calls of the service and logscan checks, kept behind small seams.

Nothing here runs on Linux: the checks take these functions as parameters with
these as defaults, and the tests pass functions that return what real Windows
machines return (psutil's documented ``as_dict()`` shape, ``wevtutil`` XML).

Services:

- :func:`service_info` — ``psutil.win_service_get(name).as_dict()``; a service
  that does not exist raises :class:`ServiceMissing`.
- :func:`all_services` — every service's ``as_dict()``; a service whose
  description cannot be read (psutil issue 2383, e.g. ``WaaSMedicSvc``) still
  comes back with what could be read.
- :func:`start_flags` — whether an automatic service is *delayed* or
  *trigger-start*.  psutil does not say; the Service Control Manager keeps
  both in the registry under
  ``HKLM\\SYSTEM\\CurrentControlSet\\Services\\<name>``: the value
  ``DelayedAutostart`` = 1 marks "Automatic (Delayed Start)", and a
  ``TriggerInfo`` subkey marks "Automatic (Trigger Start)" (what
  ``sc qtriggerinfo <name>`` lists).  Read access to that key is granted to
  every local user.

Events:

- :func:`wevtutil_query` — ``wevtutil qe <channel> /q:<XPath> /f:xml /rd:true /c:N``
  with a timeout; returns the XML text (a sequence of ``<Event>`` elements).

PowerShell (the hygiene checks: patches, antivirus, accounts):

- :func:`powershell_json` — runs a Windows PowerShell 5.1 script given as
  ``-EncodedCommand`` (no quoting problems), time-boxed, and parses the one JSON
  document it prints (``ConvertTo-Json``).  Output is forced to UTF-8 so Chinese
  account and product names survive.
- :func:`ps_datetime` — a date as ``ConvertTo-Json`` writes it: ``"\\/Date(ms)\\/"``
  (Windows PowerShell 5.1), the same wrapped as ``{"value": ..., "DateTime": ...}``
  (a DateTime with extended properties, e.g. ``Get-HotFix``'s ``InstalledOn``), or
  ISO-8601 (PowerShell 7).
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime

from checks.messages import say

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["ServiceMissing", "WindowsError_", "all_services", "as_list", "powershell_json", "ps_datetime",
           "service_info", "start_flags", "wevtutil_query"]


class ServiceMissing(LookupError):
    """No service of that name is installed."""


class WindowsError_(OSError):
    """A Windows tool or API failed; ``message`` says which and why (a keyed text when ours)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def service_info(name: str) -> dict[str, Any]:
    import psutil

    try:
        return dict(psutil.win_service_get(name).as_dict())  # type: ignore[attr-defined,unused-ignore]  # psutil: Windows-only
    except psutil.NoSuchProcess as exc:
        raise ServiceMissing(name) from exc
    except psutil.AccessDenied as exc:  # psutil's own English words: said in the reader's language
        raise WindowsError_(say("windows.service_query", name=name, error=say("windows.denied"))) from exc
    except (psutil.Error, OSError) as exc:  # Windows' own text (in the machine's language)
        raise WindowsError_(say("windows.service_query", name=name, error=str(exc))) from exc


def all_services() -> list[dict[str, Any]]:
    import psutil

    out: list[dict[str, Any]] = []
    try:
        found = list(psutil.win_service_iter())  # type: ignore[attr-defined,unused-ignore]  # psutil: Windows-only
    except psutil.AccessDenied as exc:
        raise WindowsError_(say("windows.denied")) from exc
    except (psutil.Error, OSError) as exc:
        raise WindowsError_(str(exc)) from exc
    for svc in found:
        try:
            out.append(dict(svc.as_dict()))
        except (psutil.Error, OSError):
            try:
                out.append({"name": svc.name(), "display_name": svc.display_name(),
                            "status": svc.status(), "start_type": svc.start_type(), "pid": svc.pid()})
            except (psutil.Error, OSError):
                continue  # removed while we looked
    return out


def start_flags(name: str) -> tuple[bool, bool]:
    """``(delayed, trigger_start)`` of a service, from its registry key."""
    if sys.platform != "win32":  # also tells mypy that winreg's Windows-only names exist below
        raise WindowsError_(say("windows.registry_only"))
    import winreg

    path = rf"SYSTEM\CurrentControlSet\Services\{name}"
    try:
        key = winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, path)
    except OSError:
        return False, False
    with key:
        try:
            delayed = winreg.QueryValueEx(key, "DelayedAutostart")[0] == 1
        except OSError:
            delayed = False
        try:
            winreg.OpenKey(key, "TriggerInfo").Close()
            trigger = True
        except OSError:
            trigger = False
    return delayed, trigger


def wevtutil_query(channel: str, xpath: str, count: int, timeout: float) -> str:
    """Newest-first events of ``channel`` matching ``xpath``, as wevtutil's XML text."""
    cmd = ["wevtutil", "qe", channel, f"/q:{xpath}", "/f:xml", "/rd:true", f"/c:{count}"]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
    except FileNotFoundError as exc:
        raise WindowsError_(say("windows.no_wevtutil", tool="wevtutil")) from exc
    except subprocess.TimeoutExpired as exc:
        raise WindowsError_(say("patches.no_answer", tool="wevtutil", timeout=timeout)) from exc
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise WindowsError_(say("results.tool_failed", command=f"wevtutil qe {channel}", code=proc.returncode,
                                error=err[0] if err else say("results.no_message")))
    # wevtutil writes in the console's code page; the XML itself is ASCII-safe
    # except for message text, which /f:xml does not render.
    return proc.stdout.decode("utf-8", "replace")


_PS_PRELUDE = ("$ErrorActionPreference = 'Stop'; $ProgressPreference = 'SilentlyContinue'; "
               "[Console]::OutputEncoding = [Text.Encoding]::UTF8; ")
_CLIXML_ERROR = re.compile(r'<S S="Error">(.*?)</S>', re.S)


def _clixml_text(stderr: str) -> str:
    """The error text of PowerShell's ``#< CLIXML`` stderr (what -EncodedCommand writes)."""
    if not stderr.lstrip().startswith("#< CLIXML"):
        return stderr
    parts = [p.replace("_x000D__x000A_", " ").replace("&lt;", "<").replace("&gt;", ">")
             .replace("&amp;", "&").replace("&quot;", '"').replace("&apos;", "'")
             for p in _CLIXML_ERROR.findall(stderr)]
    return " ".join(" ".join(parts).split())


def powershell_json(script: str, timeout: float, *, run: Callable[..., Any] = subprocess.run) -> Any:
    """Run ``script`` in Windows PowerShell; the JSON value it printed.

    Raises :class:`WindowsError_` with a readable reason: PowerShell missing,
    no answer within ``timeout``, the script failed (its first error line), or
    it printed no JSON.
    """
    encoded = base64.b64encode((_PS_PRELUDE + script).encode("utf-16-le")).decode("ascii")
    cmd = ["powershell.exe", "-NoLogo", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass",
           "-EncodedCommand", encoded]
    try:
        proc = run(cmd, capture_output=True, timeout=timeout, check=False, stdin=subprocess.DEVNULL)
    except FileNotFoundError as exc:
        raise WindowsError_(say("windows.no_powershell", tool="powershell.exe",
                                needed="Windows PowerShell 5.1")) from exc
    except subprocess.TimeoutExpired as exc:
        raise WindowsError_(say("patches.no_answer", tool="PowerShell", timeout=timeout)) from exc
    out = proc.stdout.decode("utf-8", "replace") if isinstance(proc.stdout, bytes) else str(proc.stdout or "")
    err = proc.stderr.decode("utf-8", "replace") if isinstance(proc.stderr, bytes) else str(proc.stderr or "")
    if proc.returncode != 0:
        lines = [ln.strip() for ln in _clixml_text(err).splitlines() if ln.strip()]
        raise WindowsError_(say("results.tool_failed", command="PowerShell", code=proc.returncode,
                                error=lines[0][:300] if lines else say("results.no_message")))
    text = out.strip().lstrip("\ufeff")
    if not text:
        return None  # ConvertTo-Json of nothing prints nothing
    try:
        return json.loads(text)
    except ValueError as exc:
        raise WindowsError_(say("windows.no_json", tool="PowerShell", text=repr(text[:120]))) from exc


_MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")


def ps_datetime(value: Any) -> datetime | None:
    """An aware UTC datetime from what ``ConvertTo-Json`` wrote for a DateTime; None if empty."""
    if isinstance(value, dict):
        value = value.get("value", value.get("DateTime"))
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError(f"not a date: {value!r}")
    text = value.strip().replace("\\/", "/")
    m = _MS_DATE.match(text)
    if m:
        ms = int(m.group(1))
        if ms <= 0:  # DateTime.MinValue and the like: no date recorded
            return None
        return datetime.fromtimestamp(ms / 1000, UTC)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a date: {value[:40]!r}") from None
    # PowerShell 7 writes a local time without an offset for DateTimeKind.Unspecified
    return (dt if dt.tzinfo is not None else dt.astimezone()).astimezone(UTC)


def as_list(value: Any) -> list[Any]:
    """``ConvertTo-Json`` writes one object without the list around it: always a list."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
