"""The RHEL family: dnf / yum updateinfo and check-update, the metadata's age, rpm's install times."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

from checks._params.patches import PatchesParams
from checks._units import DAY, HOUR, MINUTE
from checks.messages import say
from checks.patches.inventory import Inventory, Pending, Run, SourceError, c_env, local, run_text

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
        published = local(datetime.fromisoformat(m.group(4).replace("T", " "))) if m.group(4) else None
        out.append(Pending(name=name, candidate=version, security=True, source=m.group(1),
                           published=published, severity=m.group(2) or ""))
    return out


def metadata_age(text: str) -> float | None:
    """Seconds since dnf's ``Last metadata expiration check``."""
    m = _EXPIRY.search(text)
    if not m:
        return None
    days, h, mi, s = (int(g or 0) for g in m.groups())
    return days * DAY + h * HOUR + mi * MINUTE + s


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
    env = c_env(environ)
    try:
        _, info = run_text(run, [path, "-C", "-v", "updateinfo", "list", "security", "available"],
                            params.timeout, env)
        security = parse_updateinfo(info)
        _, listing = run_text(run, [path, "-C", "check-update"], params.timeout, env, ok=(0, 100))
        everything = parse_check_update(listing)
        age = metadata_age(info) or metadata_age(listing)
        if age is not None:
            inv.lists_updated = now - timedelta(seconds=age)
        inv.lists_what = say("patches.lists_rpm", tool=tool, path=f"/var/cache/{tool}")
        secure = {p.name for p in security}
        inv.pending = security + [p for p in everything if p.name not in secure]
    except SourceError as exc:
        inv.pending_error = exc.message
    try:
        _, rpms = run_text(run, ["rpm", "-qa", "--qf", "%{INSTALLTIME} %{NAME}-%{VERSION}-%{RELEASE}\\n"],
                            params.timeout, env)
        stamps = [(int(t), n) for t, _, n in (ln.partition(" ") for ln in rpms.splitlines()) if t.isdigit()]
        if stamps:
            when, what = max(stamps)
            inv.last_update = datetime.fromtimestamp(when, UTC)
            inv.last_update_what = say("patches.package", name=what)
        else:
            inv.history_error = say("patches.rpm_empty", tool="rpm")
    except SourceError as exc:
        inv.history_error = exc.message
    inv.last_update_source = "rpm install times"
    if which("needs-restarting"):
        try:
            code, out = run_text(run, ["needs-restarting", "-r"], params.timeout, env, ok=(0, 1))
            inv.reboot = code == 1
            inv.reboot_evidence = ["needs-restarting -r"] + [ln.strip(" *") for ln in out.splitlines()
                                                             if ln.strip().startswith("*")][:20]
        except SourceError as exc:
            inv.notes.append(f"reboot state unknown: {exc}")
    return inv


