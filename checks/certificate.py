"""certificate: days until a server's TLS certificate expires, and whether clients trust it.

For HIS web front-ends, interface engines, the PACS viewer — anything that
speaks TLS directly on host:port (no STARTTLS). The agent makes a verified
handshake (the system's trusted CAs, or ``ca_file`` for a hospital's own CA;
the name checked is ``server_name`` or else ``host``, also sent as SNI).
If verification fails, a second handshake without it fetches the
certificate anyway, so days left are reported even for an untrusted one.

One result; item = ``host:port`` (``host:port/server_name`` when SNI
differs from host).

======== =================================================================
status   meaning
======== =================================================================
OK       trusted, the name matches, more than ``days_warn`` days left
WARNING  ``days_warn`` (default 30) days left or fewer
CRITICAL ``days_crit`` (default 7) days left or fewer; or expired; or not
         yet valid; or the certificate is not for this name (hostname
         mismatch); or the chain is not trusted (self-signed, missing
         intermediate, unknown CA) — each with its own summary; or the
         server cannot be reached; or the TLS handshake fails
UNKNOWN  ``host`` is not set; or the certificate could not be read
======== =================================================================

With ``verify: false`` only the dates are judged (the verification
outcome is still in ``details.verification``): for a self-signed
certificate that everyone accepts on purpose.

Metrics: ``days_left`` (d, with warn/crit; negative once expired),
``expires_timestamp`` (s, Unix time of notAfter).
"""

from __future__ import annotations

import errno
from collections.abc import Callable

from checks import _tls
from checks._judge import below
from checks._params.certificate import CertificateParams
from checks.context import CheckContext
from checks.messages import error_text, say
from checks.result import Metric, Result, Status

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["CertificateParams", "judge_certificate", "run"]

NAME = "certificate"

#: verification outcomes with their own words (certificate.why.<outcome>); others "failed"
_OUTCOMES = ("expired", "not_yet_valid", "hostname", "untrusted", "failed")


def judge_certificate(check: str, item: str, fetched: _tls.Fetched, *, days_warn: float, days_crit: float,
                      verify: bool, ctx: CheckContext, name: str) -> tuple[Status, str, tuple[Metric, ...],
                                                                           dict[str, Any]]:
    """Status, summary, metrics and details for a fetched certificate (shared with ``http``)."""
    v = fetched.verification
    details: dict[str, Any] = {"verification": {"outcome": v.outcome, "message": v.message[:300]},
                               "protocol": fetched.protocol, "cipher": fetched.cipher}
    if fetched.cert is None:
        return Status.UNKNOWN, say("certificate.no_certificate", item=item), (), details
    cert = fetched.cert
    details["certificate"] = cert.describe()
    days = cert.days_left(ctx.now)
    metrics = (Metric("days_left", round(days, 2), "d", warn=days_warn, crit=days_crit),
               Metric("expires_timestamp", cert.not_after.timestamp(), "s"))
    status = below(days, days_warn, days_crit)
    expiry = cert.not_after.strftime("%Y-%m-%d")
    if days <= 0:
        status = Status.CRITICAL
        text = say("certificate.expired", days=-days, expiry=expiry)
    else:
        text = say("certificate.expires_in", days=days, expiry=expiry)
    if ctx.now < cert.not_before:
        status = Status.CRITICAL
        text = say("certificate.not_yet_valid", since=cert.not_before.strftime('%Y-%m-%d %H:%M'), then=text)
    if verify and v.outcome not in ("ok", "not_checked"):
        status = Status.CRITICAL
        if v.outcome not in ("expired", "not_yet_valid"):  # those the dates already say
            why = say(f"certificate.why.{v.outcome if v.outcome in _OUTCOMES else 'failed'}")
            if v.outcome == "hostname" and cert.dns_names:
                why = say("certificate.why_names", why=why, name=name, names=", ".join(cert.dns_names[:5]))
            elif v.message:
                why = say("certificate.why_detail", why=why, detail=v.message)
            text = say("certificate.problem", why=why, then=text)
    return status, say("certificate.item", item=item, text=text), metrics, details


def run(params: CertificateParams, ctx: CheckContext, *,
        fetch: Callable[..., _tls.Fetched] = _tls.fetch) -> list[Result]:
    name = params.server_name or params.host
    item = f"{params.host}:{params.port}" + (f"/{params.server_name}" if params.server_name
                                             and params.server_name != params.host else "")
    standard = say("certificate.standard_trusted" if params.verify else "certificate.standard", days=params.days_warn)
    if not params.host:
        return [Result(check=NAME, item="", status=Status.UNKNOWN, standard=standard,
                       summary=say("certificate.not_configured", example="--param host=his-web.hospital.local"))]
    timeout = min(float(params.timeout), max(1.0, (ctx.timeout_s - 1.0) / 2))
    try:
        fetched = fetch(params.host, params.port, server_name=params.server_name, verify=params.verify,
                        ca_file=params.ca_file, timeout=timeout)
    except _tls.TlsError as exc:
        return [Result(check=NAME, item=item, status=Status.CRITICAL, standard=standard,
                       summary=say("certificate.handshake_failed", item=item, reason=exc.reason))]
    except TimeoutError:
        return [Result(check=NAME, item=item, status=Status.CRITICAL, standard=standard,
                       summary=say("certificate.timeout", item=item, timeout=timeout))]
    except OSError as exc:
        if exc.errno == errno.ECONNREFUSED:
            reason: str = say("certificate.refused")
        elif exc.__class__.__name__ == "gaierror":
            reason = say("certificate.unresolved", host=params.host, reason=exc.strerror or str(exc))
        else:
            reason = exc.strerror or str(exc)
        return [Result(check=NAME, item=item, status=Status.CRITICAL, standard=standard,
                       summary=say("certificate.cannot_connect", item=item, reason=reason))]
    except ValueError as exc:  # an unusable ca_file, or a certificate we cannot read
        return [Result(check=NAME, item=item, status=Status.UNKNOWN, standard=standard,
                       summary=say("certificate.unusable", item=item, error=error_text(exc)))]
    status, summary, metrics, details = judge_certificate(
        NAME, item, fetched, days_warn=params.days_warn, days_crit=params.days_crit,
        verify=params.verify, ctx=ctx, name=name)
    return [Result(check=NAME, item=item, status=status, summary=summary, standard=standard,
                   metrics=metrics, details=details)]
