"""antivirus: an antivirus is installed, running, and its signatures are current.

Windows: Microsoft Defender through ``Get-MpComputerStatus`` (service and
antivirus enabled, real-time protection, the signatures' date), and the
products registered with Windows Security Center
(``root/SecurityCenter2 AntiVirusProduct``; client editions only, Windows
Server has no Security Center) with their ``productState`` decoded: bits
``0xF000`` the product (``0x1000`` on, ``0x0000`` off, ``0x2000`` snoozed,
``0x3000`` expired), bits ``0x00F0`` the signatures (``0x00`` up to date,
``0x10`` out of date), bits ``0x0F00`` the owner (``0x100`` Windows).

Linux: ClamAV.  The signature databases in ``clamav_db`` (``main``,
``daily``, ``bytecode`` as ``.cvd``, ``.cld`` or ``.cud``) each start with a
512-byte ASCII header ``ClamAV-VDB:<build time>:<version>:<signatures>:
<functionality level>:<md5>:<digital signature>:<builder>:<build time in
seconds>`` (written by ``sigtool --build``; the text time is
``%d %b %Y %H-%M %z``); the newest build time is the signatures' date.
freshclam's log gives its last run and how it ended; clamd (the scanning
daemon) must be running unless ``require_clamd`` is false.

One result per product (item ``defender``, ``clamav``, or the Security
Center product's name):

======== ================================================================
status   meaning
======== ================================================================
OK       enabled (running), real-time protection on, signatures younger
         than ``max_signature_age`` (default 3 d)
WARNING  signatures older than ``max_signature_age``; Defender's own
         "signatures out of date"; real-time protection off; a Security
         Center product snoozed or out of date
CRITICAL the antivirus is disabled or its service stopped (Defender
         AMServiceEnabled/AntivirusEnabled false; a Security Center
         product off or expired; clamd not running); ClamAV installed
         without a usable signature database
UNKNOWN  no antivirus found (no Defender, no Security Center product, no
         ClamAV); the state could not be read (PowerShell failed,
         ``clamav_db`` not readable: the reason is given)
======== ================================================================

Metrics: ``signature_age_seconds`` (s, warn = ``max_signature_age``);
``realtime`` (1 on, 0 off) where known.  Details: product, versions, the
signatures' date and version, per ClamAV database its version, signature
count and build time, freshclam's last run and last success.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from checks import _windows
from checks._params.antivirus import AntivirusParams, D
from checks.context import CheckContext
from checks.messages import fit_summary, say
from checks.result import Metric, Result, Status, format_time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

NAME = "antivirus"
HEADER_SIZE = 512
DB_SUFFIXES = (".cvd", ".cld", ".cud")


def _standard(params: AntivirusParams) -> str:
    return say("antivirus.standard", max=params.max_signature_age)


def _finding(findings: list[tuple[Status, str]]) -> tuple[Status, list[str]]:
    """The worst status and the texts of the findings that are not OK, worst first."""
    bad = [(s, t) for s, t in findings if s is not Status.OK]
    bad.sort(key=lambda f: -f[0].severity)
    return Status.worst(s for s, _ in bad), [t for _, t in bad]


def _age_finding(age: float | None, params: AntivirusParams) -> tuple[Status, str]:
    if age is None:
        return Status.WARNING, say("antivirus.age_unknown")
    if age >= params.max_signature_age:
        return Status.WARNING, say("antivirus.age_old", age=age, max=params.max_signature_age)
    return Status.OK, say("antivirus.age", age=age)


# --------------------------------------------------------------------------- Linux: ClamAV

@dataclass(frozen=True)
class CvdHeader:
    file: str
    version: int
    signatures: int
    built: datetime
    builder: str


class HeaderError(ValueError):
    """Not a ClamAV database header."""


def parse_cvd_header(raw: bytes, file: str = "") -> CvdHeader:
    """The 512-byte header of a ``.cvd``/``.cld``/``.cud`` file."""
    if not raw.startswith(b"ClamAV-VDB:"):
        raise HeaderError(say("antivirus.not_cvd", file=file))
    fields = raw[:HEADER_SIZE].decode("ascii", "replace").rstrip(" \x00\r\n").split(":")
    if len(fields) < 4:
        raise HeaderError(say("antivirus.truncated", file=file))
    try:
        version, sigs = int(fields[2]), int(fields[3])
    except ValueError:
        raise HeaderError(say("antivirus.bad_numbers", file=file)) from None
    built: datetime | None = None
    if len(fields) >= 9 and fields[8].strip().isdigit():
        built = datetime.fromtimestamp(int(fields[8].strip()), UTC)
    else:
        try:
            built = datetime.strptime(fields[1].strip(), "%d %b %Y %H-%M %z").astimezone(UTC)
        except ValueError:
            raise HeaderError(say("antivirus.bad_time", file=file, text=repr(fields[1][:40]))) from None
    return CvdHeader(file=file, version=version, signatures=sigs, built=built,
                     builder=fields[7].strip() if len(fields) >= 8 else "")


_FRESHCLAM_START = re.compile(r"ClamAV update process started at (\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4})")
_FRESHCLAM_OK = re.compile(r"\b(\w+\.c[lvu]d) (?:database is up-to-date|updated) \(version: (\d+)")


@dataclass(frozen=True)
class FreshclamRun:
    started: datetime
    ok: bool
    error: str  # the first ERROR line of a failed run


def parse_freshclam_log(text: str) -> list[FreshclamRun]:
    """freshclam's runs, oldest first: when each started and whether it brought the databases up to date."""
    runs: list[FreshclamRun] = []
    current: list[str] = []
    started: datetime | None = None

    def close() -> None:
        if started is None:
            return
        ok = any(_FRESHCLAM_OK.search(line) for line in current)
        failed = [line.split("ERROR:", 1)[1].strip() for line in current if "ERROR:" in line]
        gave_up = any("Update failed" in line or "update process failed" in line for line in current)
        runs.append(FreshclamRun(started=started, ok=ok and not gave_up,
                                 error="" if ok and not gave_up else (failed[-1] if failed
                                                                      else say("antivirus.nothing_updated"))))

    for line in text.splitlines():
        m = _FRESHCLAM_START.search(line)
        if m:
            close()
            current = []
            started = _local_ctime(m.group(1))
            continue
        current.append(line)
    close()
    return runs


def _local_ctime(text: str) -> datetime:
    """``Sat Dec  5 07:46:33 2026`` (freshclam writes local time) as aware UTC."""
    return datetime.strptime(" ".join(text.split()), "%a %b %d %H:%M:%S %Y").astimezone().astimezone(UTC)


def _clamd_running(names: Iterable[str]) -> bool:
    return any(n == "clamd" for n in names)


def _process_names() -> list[str]:
    import psutil
    out: list[str] = []
    for p in psutil.process_iter(["name"]):
        name = p.info.get("name")
        if name:
            out.append(str(name))
    return out


def check_clamav(params: AntivirusParams, ctx: CheckContext, *,
                 processes: Callable[[], list[str]],
                 which: Callable[[str], str | None]) -> Result:
    item, standard = "clamav", _standard(params)
    db = params.clamav_db
    installed = [t for t in ("clamd", "clamscan", "freshclam") if which(t)]
    try:
        names = sorted(os.listdir(db))
    except FileNotFoundError:
        if not installed:
            return Result(check=NAME, item="", status=Status.UNKNOWN, standard=standard,
                          summary=say("antivirus.no_clamav", db=db),
                          details={"clamav_db": db})
        return Result(check=NAME, item=item, status=Status.CRITICAL, standard=standard,
                      summary=say("antivirus.no_db_dir", tools=", ".join(installed), db=db),
                      details={"clamav_db": db, "installed": installed})
    except PermissionError:
        return Result(check=NAME, item=item, status=Status.UNKNOWN, standard=standard,
                      summary=say("antivirus.denied", db=db),
                      details={"clamav_db": db})
    except OSError as exc:
        return Result(check=NAME, item=item, status=Status.UNKNOWN, standard=standard,
                      summary=say("accounts.unreadable", path=db, error=exc.strerror or str(exc)),
                      details={"clamav_db": db})
    headers: list[CvdHeader] = []
    bad: list[str] = []
    for name in names:
        if not name.endswith(DB_SUFFIXES):
            continue
        try:
            with open(os.path.join(db, name), "rb") as fh:
                headers.append(parse_cvd_header(fh.read(HEADER_SIZE), name))
        except HeaderError as exc:
            bad.append(exc.args[0])
        except OSError as exc:
            bad.append(say("results.cannot_read", what=name, error=exc.strerror or str(exc)))
    running = _clamd_running(processes())
    details: dict[str, Any] = {
        "product": "ClamAV", "clamav_db": db, "clamd_running": running,
        "databases": [{"file": h.file, "version": h.version, "signatures": h.signatures,
                       "built": format_time(h.built), "builder": h.builder} for h in headers],
        "unreadable": [str.__str__(b) for b in bad],
    }
    findings: list[tuple[Status, str]] = []
    age: float | None = None
    if not headers:
        findings.append((Status.CRITICAL, say("antivirus.no_database_bad", db=db, errors=bad[:5]) if bad
                         else say("antivirus.no_database", db=db)))
    else:
        newest = max(headers, key=lambda h: h.built)
        age = max(0.0, (ctx.now - newest.built).total_seconds())
        details.update(signatures_built=format_time(newest.built), signature_version=newest.version,
                       signature_file=newest.file)
        findings.append(_age_finding(age, params))
        if bad:
            findings.append((Status.CRITICAL, say("antivirus.unreadable_db", errors=bad[:5])))
    if params.require_clamd and not running:
        findings.append((Status.CRITICAL, say("antivirus.clamd_down")))
    fresh = _freshclam(params.freshclam_log, details)
    status, problems = _finding(findings)
    if problems:
        summary = say("antivirus.problems", product="ClamAV", problems=problems)
    else:
        newest = max(headers, key=lambda h: h.built)
        summary = say("antivirus.clamav_ok", product="ClamAV", file=newest.file, version=newest.version,
                      built=newest.built.astimezone().strftime("%Y-%m-%d %H:%M"), age=age or 0,
                      clamd="antivirus.clamd_running" if running else "antivirus.clamd_not_required")
    if fresh:
        summary = say("results.joined", parts=[summary, fresh])
    metrics = (Metric("signature_age_seconds", None if age is None else round(age), "s",
                      warn=params.max_signature_age, min=0),)
    return Result(check=NAME, item=item, status=status, summary=fit_summary(summary), standard=standard,
                  metrics=metrics, details=details)


def _freshclam(path: str, details: dict[str, Any]) -> str:
    """freshclam's last run into ``details``; a short note for the summary."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            runs = parse_freshclam_log(fh.read())
    except FileNotFoundError:
        details["freshclam"] = {"log": path, "error": "no log"}
        return ""
    except PermissionError:
        details["freshclam"] = {"log": path, "error": "permission denied"}
        return say("antivirus.freshclam_denied", path=path)
    except OSError as exc:
        details["freshclam"] = {"log": path, "error": str(exc.strerror or exc)}
        return ""
    if not runs:
        details["freshclam"] = {"log": path, "runs": 0}
        return ""
    last = runs[-1]
    good = [r for r in runs if r.ok]
    details["freshclam"] = {"log": path, "last_run": format_time(last.started), "last_run_ok": last.ok,
                            "last_error": str.__str__(last.error) or None,
                            "last_success": format_time(good[-1].started) if good else None}
    when = last.started.astimezone().strftime("%Y-%m-%d %H:%M")
    if last.ok:
        return say("antivirus.freshclam_ok", when=when)
    error = last.error if len(last.error) <= 200 else last.error[:200]
    return say("antivirus.freshclam_failed", when=when, error=error)


# --------------------------------------------------------------------------- Windows

#: Defender's status and the Security Center's products.  Sources: learn.microsoft.com
#: Get-MpComputerStatus (MSFT_MpComputerStatus) and the SecurityCenter2 AntiVirusProduct class.
WINDOWS_SCRIPT = r"""
$mp = $null; $mpError = $null
try { $mp = Get-MpComputerStatus | Select-Object AMServiceEnabled, AntivirusEnabled, RealTimeProtectionEnabled,
        AMRunningMode, AntivirusSignatureLastUpdated, AntivirusSignatureAge, AntivirusSignatureVersion,
        AMProductVersion, DefenderSignaturesOutOfDate }
catch { $mpError = $_.Exception.Message }
$sc = $null; $scError = $null
try { $sc = @(Get-CimInstance -Namespace root/SecurityCenter2 -ClassName AntiVirusProduct |
              Select-Object displayName, productState, timestamp, pathToSignedProductExe) }
catch { $scError = $_.Exception.Message }
[pscustomobject]@{ Defender = $mp; DefenderError = $mpError; SecurityCenter = $sc;
                   SecurityCenterError = $scError } | ConvertTo-Json -Depth 4 -Compress
"""

_DEFENDER_NAMES = ("windows defender", "microsoft defender antivirus", "microsoft defender")


def decode_product_state(state: int) -> dict[str, str]:
    """Security Center's ``productState``: product on/off/snoozed/expired, signatures, owner."""
    product = {0x0000: "off", 0x1000: "on", 0x2000: "snoozed", 0x3000: "expired"}.get(state & 0xF000, "unknown")
    signatures = {0x00: "up to date", 0x10: "out of date"}.get(state & 0xF0, "unknown")
    owner = "Windows" if state & 0x0F00 == 0x100 else "third party"
    return {"product": product, "signatures": signatures, "owner": owner, "hex": f"0x{state:06X}"}


def judge_windows(data: Any, params: AntivirusParams, ctx: CheckContext) -> list[Result]:
    standard = _standard(params)
    if not isinstance(data, dict):
        return [Result(check=NAME, item="", status=Status.UNKNOWN, standard=standard,
                       summary=say("antivirus.state_unknown", error=say("accounts.no_object")))]
    results: list[Result] = []
    mp = data.get("Defender") if isinstance(data.get("Defender"), dict) else None
    defender_active = False
    if mp is not None:
        r = _judge_defender(mp, params, ctx)
        if r is not None:
            results.append(r)
            defender_active = True
    for product in _windows.as_list(data.get("SecurityCenter")):
        if not isinstance(product, dict):
            continue
        name = str(product.get("displayName") or "?")
        if name.strip().lower() in _DEFENDER_NAMES and (defender_active or mp is not None):
            continue  # Defender is judged from its own, richer status
        results.append(_judge_security_center(name, product, params))
    if not results:
        reasons = []
        if mp is not None:
            reasons.append(say("antivirus.defender_mode", mode=str(mp.get("AMRunningMode"))))
        elif data.get("DefenderError"):
            reasons.append(say("antivirus.defender_error", error=str(data["DefenderError"])[:150]))
        if data.get("SecurityCenterError"):
            reasons.append(say("antivirus.no_security_center"))
        else:
            reasons.append(say("antivirus.nothing_registered"))
        return [Result(check=NAME, item="", status=Status.UNKNOWN, standard=standard,
                       summary=say("antivirus.none_found", reasons=reasons),
                       details={"defender_error": data.get("DefenderError"),
                                "security_center_error": data.get("SecurityCenterError")})]
    return results


def _judge_defender(mp: dict[str, Any], params: AntivirusParams, ctx: CheckContext) -> Result | None:
    """Defender's result; None when it is not the active antivirus (passive mode beside another product)."""
    mode = str(mp.get("AMRunningMode") or "Normal")
    if mode.lower() in ("passive mode", "edr block mode", "not running"):
        return None
    item, standard = "defender", _standard(params)
    findings: list[tuple[Status, str]] = []
    if mp.get("AMServiceEnabled") is False:
        findings.append((Status.CRITICAL, say("antivirus.service_disabled")))
    if mp.get("AntivirusEnabled") is False:
        findings.append((Status.CRITICAL, say("antivirus.protection_disabled")))
    realtime = mp.get("RealTimeProtectionEnabled")
    if realtime is False:
        findings.append((Status.WARNING, say("antivirus.realtime_off")))
    try:
        updated = _windows.ps_datetime(mp.get("AntivirusSignatureLastUpdated"))
    except ValueError:
        updated = None
    age: float | None = None
    if updated is not None:
        age = max(0.0, (ctx.now - updated).total_seconds())
    elif isinstance(mp.get("AntivirusSignatureAge"), int) and mp["AntivirusSignatureAge"] < 65535:
        age = float(mp["AntivirusSignatureAge"]) * D  # whole days; 65535 means never
    findings.append(_age_finding(age, params))
    if mp.get("DefenderSignaturesOutOfDate") is True:
        findings.append((Status.WARNING, say("antivirus.defender_out_of_date")))
    status, problems = _finding(findings)
    version = str(mp.get("AntivirusSignatureVersion") or "?")
    if problems:
        summary = say("antivirus.defender_problems", product="Microsoft Defender", problems=problems,
                      version=version)
    else:
        when = updated.astimezone().strftime("%Y-%m-%d %H:%M") if updated else "?"
        summary = say("antivirus.defender_ok", product="Microsoft Defender", version=version, when=when,
                      age=age or 0)
    metrics = [Metric("signature_age_seconds", None if age is None else round(age), "s",
                      warn=params.max_signature_age, min=0)]
    if isinstance(realtime, bool):
        metrics.append(Metric("realtime", 1.0 if realtime else 0.0, "", min=0, max=1))
    details = {"product": "Microsoft Defender", "running_mode": mode,
               "service_enabled": mp.get("AMServiceEnabled"), "antivirus_enabled": mp.get("AntivirusEnabled"),
               "realtime": realtime, "signature_version": mp.get("AntivirusSignatureVersion"),
               "signatures_updated": format_time(updated),
               "product_version": mp.get("AMProductVersion")}
    return Result(check=NAME, item=item, status=status, summary=fit_summary(summary), standard=standard,
                  metrics=tuple(metrics), details=details)


def _judge_security_center(name: str, product: dict[str, Any], params: AntivirusParams) -> Result:
    standard = _standard(params)
    state = product.get("productState")
    if not isinstance(state, int):
        return Result(check=NAME, item=name[:255], status=Status.UNKNOWN, standard=standard,
                      summary=say("antivirus.sc_no_state", name=name), details={"product": name})
    decoded = decode_product_state(state)
    findings: list[tuple[Status, str]] = []
    if decoded["product"] in ("off", "expired"):
        findings.append((Status.CRITICAL, say("antivirus.sc_state", state=f"antivirus.state.{decoded['product']}")))
    elif decoded["product"] != "on":
        findings.append((Status.WARNING, say("antivirus.sc_state", state=f"antivirus.state.{decoded['product']}")))
    if decoded["signatures"] != "up to date":
        findings.append((Status.WARNING, say("antivirus.sc_signatures_unknown" if decoded["signatures"] == "unknown"
                                             else "antivirus.sc_signatures_out_of_date")))
    status, problems = _finding(findings)
    summary = (say("antivirus.problems", product=name, problems=problems) if problems
               else say("antivirus.sc_ok", name=name))
    return Result(check=NAME, item=name[:255], status=status, summary=fit_summary(summary), standard=standard,
                  metrics=(Metric("realtime", 1.0 if decoded["product"] == "on" else 0.0, "", min=0, max=1),),
                  details={"product": name, "product_state": decoded, "timestamp": product.get("timestamp"),
                           "executable": product.get("pathToSignedProductExe")})


# --------------------------------------------------------------------------- run

def run(params: AntivirusParams, ctx: CheckContext, *,
        powershell: Callable[[str, float], Any] = _windows.powershell_json,
        processes: Callable[[], list[str]] = _process_names,
        which: Callable[[str], str | None] = shutil.which,
        platform: str = sys.platform) -> list[Result]:
    if platform == "win32":
        try:
            data = powershell(WINDOWS_SCRIPT, params.timeout)
        except _windows.WindowsError_ as exc:
            return [Result(check=NAME, item="", status=Status.UNKNOWN, standard=_standard(params),
                           summary=say("antivirus.state_unknown", error=exc.message))]
        return judge_windows(data, params, ctx)
    if platform.startswith("linux"):
        return [check_clamav(params, ctx, processes=processes, which=which)]
    return [Result(check=NAME, item="", status=Status.UNKNOWN, standard=_standard(params),
                   summary=say("antivirus.unsupported", platform=platform))]

