"""Debian / Ubuntu: apt-get's simulation, dpkg's log, the package lists' age, reboot-required."""

from __future__ import annotations

import glob
import gzip
import os
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from checks._params.patches import PatchesParams
from checks.messages import say
from checks.patches.inventory import Inventory, Pending, Run, SourceError, c_env, local, run_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

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
        return None, "", None, say("patches.no_file", path=os.path.join(root, "var/log/dpkg.log"))
    for path in logs:
        try:
            opener: Callable[..., Any] = gzip.open if path.endswith(".gz") else open
            with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
                lines = fh.read().splitlines()
        except PermissionError:
            return None, "", oldest, say("patches.file_denied", path=path)
        except (OSError, EOFError) as exc:
            return None, "", oldest, say("accounts.unreadable", path=path,
                                         error=str(getattr(exc, "strerror", None) or exc))
        for line in reversed(lines):
            m = _DPKG_LINE.match(line)
            if m and m.group(2) == "upgrade":
                pkg = m.group(3).split(" ", 1)[0].split(":", 1)[0]
                return local(datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")), pkg, oldest, ""
        for line in lines:
            m = _DPKG_LINE.match(line)
            if m:
                oldest = local(datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S"))
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
    inv.reboot_evidence = [flag] + [say("patches.package", name=p) for p in pkgs[:20]]


def collect_apt(params: PatchesParams, run: Run, environ: Mapping[str, str], root: str,
                which: Callable[[str], str | None]) -> Inventory:
    inv = Inventory(manager="apt")
    tool = which("apt-get") or "apt-get"
    try:
        _, out = run_text(run, [tool, "-s", "-o", "Debug::NoLocking=1", "dist-upgrade"], params.timeout,
                           c_env(environ))
        inv.pending = parse_apt_simulation(out)
    except SourceError as exc:
        inv.pending_error = exc.message
    inv.last_update, what, inv.history_since, inv.history_error = last_dpkg_upgrade(root)
    inv.last_update_what = say("patches.package", name=what) if what else ""
    inv.last_update_source = "/var/log/dpkg.log"
    inv.lists_updated = _apt_lists_updated(root)
    inv.lists_what = say("patches.lists_apt", path="/var/lib/apt/lists")
    _reboot_required_file(root, inv)
    return inv


