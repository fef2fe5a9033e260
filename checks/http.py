"""http: an HTTP(S) request to a URL — status, latency, body text, certificate days left.

For HIS web services, interface engines (HL7/Web-service listeners with an
HTTP health page), the PACS viewer. One ``GET`` (or ``HEAD``) with the
standard library's :mod:`http.client` — no proxy from the environment, no
cookies, ``Connection: close``; ``user:password@`` in the URL is sent as
Basic authentication and never shown. Redirects are followed only when
``follow_redirects`` is true (up to 5; a 3xx is otherwise a valid answer).
For ``https`` the server certificate is verified (system CAs or
``ca_file``) and its days left are judged like the ``certificate`` check.

One result; item = the URL without credentials, and with the values of secret-looking
query parameters (token, key, password, sig...) shown as ``***``.

======== =================================================================
status   meaning
======== =================================================================
OK       the answer's status is expected (default any 2xx or 3xx), the
         body holds ``contains`` (if set), it came faster than ``warn``,
         and an https certificate is trusted with more than ``days_warn``
         days left
WARNING  the whole answer took ``warn`` (default 2 s) or longer; or the
         certificate has ``days_warn`` (default 30) days left or fewer
CRITICAL an unexpected status (HTTP 500, 404…); or ``contains`` is not in
         the body; or the answer took ``crit`` (default 5 s) or longer;
         or connection refused / no answer within ``timeout`` / cannot
         resolve the name / not HTTP; or the TLS handshake fails; or the
         certificate is expired, untrusted, for another name, or has
         ``days_crit`` (default 7) days left or fewer (days left are
         reported even when it is untrusted)
UNKNOWN  no ``url`` is set
======== =================================================================

Metrics: ``response_seconds`` (s, with warn/crit: from the start of the
connection to the last byte of the body, all redirects included),
``connect_seconds`` (s: DNS, TCP and TLS), ``first_byte_seconds`` (s),
``size_bytes`` (B, the body read; at most 1 MiB is read), ``status_code``;
for https also ``days_left`` (d) and ``expires_timestamp`` (s).
"""

from __future__ import annotations

import base64
import errno
import http.client
import re
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from checks import _tls
from checks._judge import above
from checks._params.http import _EXPECT_RE, HttpParams
from checks.certificate import judge_certificate
from checks.context import CheckContext
from checks.messages import say
from checks.result import Message, Metric, Result, Status

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["HttpParams", "run"]

NAME = "http"
MAX_BODY = 1024 * 1024
MAX_REDIRECTS = 5
USER_AGENT = "wardround-agent (http check)"


def _expected(code: int, expect: tuple[str, ...]) -> bool:
    if not expect:
        return 200 <= code < 400
    for e in expect:
        m = _EXPECT_RE.match(e.strip())
        assert m is not None  # checked in HttpParams
        if m.group(1):
            if code // 100 == int(m.group(1)):
                return True
        elif int(m.group(2)) <= code <= int(m.group(3) or m.group(2)):
            return True
    return False


_SECRET_QUERY_KEY = re.compile(r"(?i)pass|pwd|token|secret|key|sig|auth|session|credential")


def _public_url(url: str) -> str:
    """The URL without ``user:password@`` and with secret-looking query values as ``***``."""
    p = urlsplit(url)
    query = "&".join(f"{k}=***" if sep and _SECRET_QUERY_KEY.search(unquote(k)) else f"{k}{sep}{v}"
                     for k, sep, v in (part.partition("=") for part in p.query.split("&") if part))
    if p.username is None and p.password is None:
        return url if query == p.query else urlunsplit((p.scheme, p.netloc, p.path, query, p.fragment))
    netloc = p.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if p.port:
        netloc += f":{p.port}"
    return urlunsplit((p.scheme, netloc, p.path, query, p.fragment))


@dataclass
class _Answer:
    code: int
    reason: str
    body: bytes
    charset: str
    connect_s: float
    first_byte_s: float
    der: bytes  # the server certificate (https), empty for http
    location: str
    protocol: str
    cipher: str


def _request(url: str, method: str, timeout: float, ctx: ssl.SSLContext | None) -> _Answer:
    p = urlsplit(url)
    host = p.hostname or ""
    t0 = time.perf_counter()
    conn: http.client.HTTPConnection
    if p.scheme.lower() == "https":
        conn = http.client.HTTPSConnection(host, p.port or 443, timeout=timeout, context=ctx)
    else:
        conn = http.client.HTTPConnection(host, p.port or 80, timeout=timeout)
    try:
        conn.connect()
        connect_s = time.perf_counter() - t0
        der, protocol, cipher = b"", "", ""
        if isinstance(conn.sock, ssl.SSLSocket):
            der = conn.sock.getpeercert(binary_form=True) or b""
            protocol = conn.sock.version() or ""
            c = conn.sock.cipher()
            cipher = c[0] if c else ""
        headers = {"User-Agent": USER_AGENT, "Accept": "*/*", "Connection": "close"}
        if p.username is not None:
            token = f"{unquote(p.username)}:{unquote(p.password or '')}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(token).decode()
        target = urlunsplit(("", "", p.path or "/", p.query, ""))
        conn.request(method, target, headers=headers)
        resp = conn.getresponse()
        first_byte_s = time.perf_counter() - t0
        body = resp.read(MAX_BODY) if method != "HEAD" else b""
        return _Answer(resp.status, resp.reason, body, resp.headers.get_content_charset() or "utf-8",
                       connect_s, first_byte_s, der, resp.getheader("Location") or "", protocol, cipher)
    finally:
        conn.close()


def _failure(exc: BaseException, host: str, timeout: float) -> str:
    if isinstance(exc, ssl.SSLError):
        return say("http.tls_failed", reason=_tls._ssl_reason(exc))
    if isinstance(exc, TimeoutError):
        return say("http.timeout", timeout=timeout)
    if isinstance(exc, socket.gaierror):
        return say("port.unresolved", host=host, reason=exc.strerror or str(exc))
    if isinstance(exc, ConnectionRefusedError) or getattr(exc, "errno", None) == errno.ECONNREFUSED:
        return say("certificate.refused")
    if isinstance(exc, http.client.HTTPException):
        return say("http.not_http", error=f"{type(exc).__name__}: {str(exc)[:100]}")
    if isinstance(exc, OSError):
        return say("http.cannot_connect", reason=exc.strerror or str(exc))
    return f"{type(exc).__name__}: {exc}"  # evidence, as Python says it


def run(params: HttpParams, ctx: CheckContext, *,
        request: Callable[[str, str, float, ssl.SSLContext | None], _Answer] = _request,
        fetch: Callable[..., _tls.Fetched] = _tls.fetch) -> list[Result]:
    item = _public_url(params.url)[:255]
    expect = "/".join(params.expect) if params.expect else "2xx/3xx"
    wanted = [say("http.standard_answer", expect=expect, warn=params.warn)]
    if params.contains:
        wanted.append(say("http.standard_contains", text=repr(params.contains[:100])))
    if params.url.lower().startswith("https:"):
        wanted.append(say("http.standard_certificate", days=params.days_warn))
    standard: str = say("http.standard", parts=wanted)
    if len(standard) > 200:
        standard = standard[:200]  # a very long expect list: the English text, cut
    if not params.url:
        return [Result(check=NAME, item="", status=Status.UNKNOWN, standard=standard,
                       summary=say("http.not_configured", param="url",
                                   example="--param url=https://his-web.hospital.local/health"))]
    timeout = min(float(params.timeout), max(1.0, ctx.timeout_s - 1.0))
    tls_ctx: ssl.SSLContext | None = None
    if params.url.lower().startswith("https:"):
        try:
            tls_ctx = _tls.context(verify=params.verify, ca_file=params.ca_file)
        except OSError as exc:
            return [Result(check=NAME, item=item, status=Status.UNKNOWN, standard=standard,
                           summary=say("tls.ca_file", param="ca_file", path=params.ca_file,
                                       error=str(exc.strerror or getattr(exc, "reason", None) or exc)))]
    url = params.url
    hops: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    while True:
        host = urlsplit(url).hostname or ""
        try:
            answer = request(url, params.method.upper(), timeout, tls_ctx)
        except ssl.SSLCertVerificationError as exc:
            return [_untrusted(params, ctx, item, url, standard, exc, timeout, fetch)]
        except (OSError, http.client.HTTPException) as exc:
            return [Result(check=NAME, item=item, status=Status.CRITICAL, standard=standard,
                           summary=say("http.failed", url=_public_url(url), why=_failure(exc, host, timeout)),
                           details={"redirects": hops} if hops else {})]
        if (params.follow_redirects and answer.code in (301, 302, 303, 307, 308) and answer.location
                and len(hops) < MAX_REDIRECTS):
            hops.append({"url": _public_url(url), "status": answer.code})
            url = urljoin(url, answer.location)
            if urlsplit(url).scheme.lower() == "https" and tls_ctx is None:
                tls_ctx = _tls.context(verify=params.verify, ca_file=params.ca_file)
            continue
        break
    total = time.perf_counter() - t0
    return [_judge(params, ctx, item, url, standard, answer, total, hops)]


def _judge(params: HttpParams, ctx: CheckContext, item: str, url: str, standard: str, a: _Answer,
           total: float, hops: list[dict[str, Any]]) -> Result:
    statuses = []
    answered = f"HTTP {a.code} {a.reason}".strip()  # the server's status line: its words
    parts: list[str | Message] = [say("http.answered", status=answered, time=total)]
    details: dict[str, Any] = {"status_code": a.code, "url": _public_url(url)}
    if hops:
        details["redirects"] = hops
    if not _expected(a.code, params.expect):
        statuses.append(Status.CRITICAL)
        parts[0] = say("http.answered_unexpected", status=answered, time=total,
                       expect="/".join(params.expect) or "2xx/3xx")
    latency = above(total, params.warn, params.crit)
    statuses.append(latency)
    if latency is not Status.OK:
        parts.append(say("http.slow", limit=params.crit if latency is Status.CRITICAL else params.warn))
    if params.contains:
        text = a.body.decode(a.charset if _known_codec(a.charset) else "utf-8", errors="replace")
        wanted = repr(params.contains[:100])
        if params.contains in text:
            parts.append(say("http.found", text=wanted))
        else:
            statuses.append(Status.CRITICAL)
            parts.append(say("http.not_found_first_mib" if len(a.body) >= MAX_BODY else "http.not_found",
                             text=wanted))
            details["body_start"] = text[:300]
    metrics = [Metric("response_seconds", round(total, 6), "s", warn=params.warn, crit=params.crit, min=0),
               Metric("connect_seconds", round(a.connect_s, 6), "s", min=0),
               Metric("first_byte_seconds", round(a.first_byte_s, 6), "s", min=0),
               Metric("size_bytes", float(len(a.body)), "B", min=0),
               Metric("status_code", float(a.code))]
    if a.der:
        try:
            cert = _tls.parse_der(a.der)
        except ValueError as exc:
            details["certificate_error"] = str(exc)
        else:
            fetched = _tls.Fetched(cert, _tls.Verification("ok" if params.verify else "not_checked"),
                                   a.protocol, a.cipher)
            cs, csum, cmetrics, cdetails = judge_certificate(
                NAME, item, fetched, days_warn=params.days_warn, days_crit=params.days_crit,
                verify=params.verify, ctx=ctx, name=urlsplit(url).hostname or "")
            statuses.append(cs)
            metrics += cmetrics
            details.update(cdetails)
            said = getattr(csum, "message", None)  # certificate.item: "{item}: {text}"; the text is ours
            text_of_cert = said.args.get("text") if said is not None else None
            parts.append(text_of_cert if isinstance(text_of_cert, Message) else csum.split(": ", 1)[1])
    return Result(check=NAME, item=item, status=Status.worst(statuses), standard=standard,
                  summary=say("http.result", item=item, parts=parts), metrics=tuple(metrics), details=details)


def _known_codec(name: str) -> bool:
    import codecs

    try:
        codecs.lookup(name)
    except LookupError:
        return False
    return True


def _untrusted(params: HttpParams, ctx: CheckContext, item: str, url: str, standard: str,
               exc: ssl.SSLCertVerificationError, timeout: float,
               fetch: Callable[..., _tls.Fetched]) -> Result:
    """The certificate failed verification: no request is made; its days left still are reported."""
    p = urlsplit(url)
    verification = _tls.classify(exc)
    try:
        fetched = fetch(p.hostname or "", p.port or 443, verify=False, timeout=timeout)
    except (OSError, _tls.TlsError, ValueError):
        return Result(check=NAME, item=item, status=Status.CRITICAL, standard=standard,
                      summary=say("http.untrusted", item=item, reason=verification.message),
                      details={"verification": {"outcome": verification.outcome,
                                                "message": verification.message}})
    fetched.verification = verification
    _status, summary, metrics, details = judge_certificate(
        NAME, item, fetched, days_warn=params.days_warn, days_crit=params.days_crit, verify=True, ctx=ctx,
        name=p.hostname or "")
    return Result(check=NAME, item=item, status=Status.CRITICAL, standard=standard,
                  summary=say("http.no_request", text=summary), metrics=metrics, details=details)
