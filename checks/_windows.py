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
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

__all__ = ["ServiceMissing", "WindowsError_", "all_services", "service_info", "start_flags",
           "wevtutil_query"]


class ServiceMissing(LookupError):
    """No service of that name is installed."""


class WindowsError_(OSError):
    """A Windows tool or API failed; the message says which and why."""


def service_info(name: str) -> dict[str, Any]:
    import psutil

    try:
        return dict(psutil.win_service_get(name).as_dict())  # type: ignore[attr-defined,unused-ignore]  # psutil: Windows-only
    except psutil.NoSuchProcess as exc:
        raise ServiceMissing(name) from exc
    except (psutil.Error, OSError) as exc:
        raise WindowsError_(f"cannot query service {name}: {exc}") from exc


def all_services() -> list[dict[str, Any]]:
    import psutil

    out: list[dict[str, Any]] = []
    for svc in psutil.win_service_iter():  # type: ignore[attr-defined,unused-ignore]  # psutil: Windows-only
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
        raise WindowsError_("the service registry exists only on Windows")
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
        raise WindowsError_("wevtutil not found (this is not Windows?)") from exc
    except subprocess.TimeoutExpired as exc:
        raise WindowsError_(f"wevtutil gave no answer within {timeout:g} s") from exc
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise WindowsError_(f"wevtutil qe {channel} failed (exit {proc.returncode}): "
                            f"{err[0] if err else 'no message'}")
    # wevtutil writes in the console's code page; the XML itself is ASCII-safe
    # except for message text, which /f:xml does not render.
    return proc.stdout.decode("utf-8", "replace")
