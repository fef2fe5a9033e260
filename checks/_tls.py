"""TLS helpers shared by ``certificate`` and ``http``: fetch a server's certificate and judge it.

Standard library only. A verified handshake tells whether clients will
trust the server; when it fails, a second handshake without verification
still fetches the certificate so its days left can be reported. The
certificate's dates, subject, issuer and DNS names are read by a small DER
reader (:func:`parse_der`), because :mod:`ssl` only decodes a certificate it
has verified.

Verification outcomes (``Verification.outcome``):

=================  ====================================================
outcome            meaning
=================  ====================================================
``ok``             the chain is trusted and the name matches
``expired``        the certificate (or one in its chain) has expired
``not_yet_valid``  its validity starts in the future (a clock problem?)
``hostname``       the certificate is not for the name we asked for
``untrusted``      the chain does not lead to a trusted CA (self-signed,
                   missing intermediate, unknown private CA)
``failed``         any other verification failure (revoked, bad purpose…)
``not_checked``    verification was switched off
=================  ====================================================
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime

from checks.messages import say

__all__ = ["CertInfo", "TlsError", "Verification", "classify", "context", "fetch", "parse_der"]

# OpenSSL X509_V_ERR_* codes
_EXPIRED = {10, 12}  # cert / CRL has expired
_NOT_YET = {9, 11}
_HOSTNAME = {62, 63, 64}
_UNTRUSTED = {2, 18, 19, 20, 21, 24, 27}


class TlsError(Exception):
    """The TLS handshake itself failed (not a verification problem): ``reason`` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class CertInfo:
    not_before: datetime
    not_after: datetime
    subject: str = ""
    issuer: str = ""
    dns_names: tuple[str, ...] = ()
    serial: str = ""

    def days_left(self, now: datetime) -> float:
        return (self.not_after - now).total_seconds() / 86400.0

    def describe(self) -> dict[str, object]:
        return {"subject": self.subject, "issuer": self.issuer, "dns_names": list(self.dns_names[:20]),
                "not_before": self.not_before.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "not_after": self.not_after.strftime("%Y-%m-%dT%H:%M:%SZ"), "serial": self.serial}


@dataclass(frozen=True)
class Verification:
    outcome: str  # see the module docstring
    message: str = ""
    code: int | None = None


@dataclass
class Fetched:
    cert: CertInfo | None
    verification: Verification
    protocol: str = ""
    cipher: str = ""
    extra: dict[str, object] = field(default_factory=dict)


def context(*, verify: bool = True, ca_file: str = "") -> ssl.SSLContext:
    if not verify:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    ctx = ssl.create_default_context(cafile=ca_file or None)
    return ctx


def classify(exc: ssl.SSLCertVerificationError) -> Verification:
    code = getattr(exc, "verify_code", None)
    message = getattr(exc, "verify_message", "") or str(exc)
    if code in _EXPIRED:
        outcome = "expired"
    elif code in _NOT_YET:
        outcome = "not_yet_valid"
    elif code in _HOSTNAME or "hostname mismatch" in message.lower() \
            or "doesn't match" in message.lower():
        outcome = "hostname"
    elif code in _UNTRUSTED:
        outcome = "untrusted"
    else:
        outcome = "failed"
    return Verification(outcome, message, code)


def _handshake(host: str, port: int, server_name: str, ctx: ssl.SSLContext,
               timeout: float) -> tuple[bytes, str, str]:
    with socket.create_connection((host, port), timeout=timeout) as raw:
        with ctx.wrap_socket(raw, server_hostname=server_name or None) as tls:
            der = tls.getpeercert(binary_form=True) or b""
            cipher = tls.cipher()
            return der, tls.version() or "", cipher[0] if cipher else ""


def fetch(host: str, port: int, *, server_name: str = "", verify: bool = True, ca_file: str = "",
          timeout: float = 10.0) -> Fetched:
    """Handshake with ``host:port``.

    Raises OSError for connection failures, :class:`TlsError` for TLS ones and
    ValueError for an unusable ``ca_file`` or an unreadable certificate.
    """
    name = server_name or host
    verification = Verification("not_checked")
    try:
        ctx = context(verify=verify, ca_file=ca_file)
    except OSError as exc:  # ssl.SSLError too: not PEM
        reason = exc.strerror or getattr(exc, "reason", None) or str(exc)
        raise ValueError(say("tls.ca_file", param="ca_file", path=ca_file, error=str(reason))) from exc
    try:
        der, proto, cipher = _handshake(host, port, name, ctx, timeout)
        if verify:
            verification = Verification("ok")
    except ssl.SSLCertVerificationError as exc:
        verification = classify(exc)
        try:
            der, proto, cipher = _handshake(host, port, name, context(verify=False), timeout)
        except ssl.SSLError as exc2:
            raise TlsError(_ssl_reason(exc2)) from exc2
    except ssl.SSLError as exc:
        raise TlsError(_ssl_reason(exc)) from exc
    cert = parse_der(der) if der else None
    return Fetched(cert, verification, proto, cipher)


def _ssl_reason(exc: ssl.SSLError) -> str:
    reason = getattr(exc, "reason", None) or ""
    text = str(exc)
    if reason == "WRONG_VERSION_NUMBER" or "wrong version number" in text:
        return "the server does not speak TLS on this port (wrong version number)"
    return (reason.replace("_", " ").lower() if reason else text)[:300]


# -- a minimal DER reader for X.509 -------------------------------------------

class _DerError(ValueError):
    pass


def _read(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the element at ``pos``."""
    if pos + 2 > len(data):
        raise _DerError("truncated")
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        if n == 0 or n > 4 or pos + n > len(data):
            raise _DerError("bad length")
        length = int.from_bytes(data[pos:pos + n], "big")
        pos += n
    end = pos + length
    if end > len(data):
        raise _DerError("truncated")
    return tag, pos, end


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    out = []
    pos = start
    while pos < end:
        tag, s, e = _read(data, pos)
        out.append((tag, s, e))
        pos = e
    return out


def _time(tag: int, raw: bytes) -> datetime:
    text = raw.decode("ascii")
    if tag == 0x17:  # UTCTime YYMMDDHHMMSSZ
        year = int(text[:2])
        text = ("19" if year >= 50 else "20") + text
    return datetime.strptime(text[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)


_OID_CN = bytes([0x55, 0x04, 0x03])
_OID_O = bytes([0x55, 0x04, 0x0A])
_OID_SAN = bytes([0x55, 0x1D, 0x11])


def _name(data: bytes, start: int, end: int) -> str:
    parts = []
    for _t, s, e in _children(data, start, end):  # SET of AttributeTypeAndValue
        for _t2, s2, e2 in _children(data, s, e):
            (_to, os_, oe), (_tv, vs, ve) = _children(data, s2, e2)[:2]
            oid = data[os_:oe]
            label = "CN" if oid == _OID_CN else "O" if oid == _OID_O else None
            if label:
                parts.append(f"{label}={data[vs:ve].decode('utf-8', 'replace')}")
    return ", ".join(parts)


def parse_der(der: bytes) -> CertInfo:
    """Validity, subject, issuer and DNS names of a DER certificate; ValueError if unreadable."""
    try:
        _t, cs, ce = _read(der, 0)
        tbs_tag, ts, te = _children(der, cs, ce)[0]
        fields = _children(der, ts, te)
        i = 1 if fields[0][0] == 0xA0 else 0  # [0] version is optional
        serial = der[fields[i][1]:fields[i][2]].hex()
        issuer = _name(der, fields[i + 2][1], fields[i + 2][2])
        (bt, bs, be), (at, as_, ae) = _children(der, fields[i + 3][1], fields[i + 3][2])
        subject = _name(der, fields[i + 4][1], fields[i + 4][2])
        dns: list[str] = []
        for tag, s, e in fields[i + 6:]:
            if tag != 0xA3:  # [3] extensions
                continue
            for _x, xs, xe in _children(der, *_children(der, s, e)[0][1:]):
                parts = _children(der, xs, xe)
                if der[parts[0][1]:parts[0][2]] != _OID_SAN:
                    continue
                _o, os_, oe = parts[-1]  # OCTET STRING holding the SAN SEQUENCE
                _sq, ss, se = _read(der, os_)
                for gtag, gs, ge in _children(der, ss, se):
                    if gtag == 0x82:  # dNSName
                        dns.append(der[gs:ge].decode("ascii", "replace"))
                    elif gtag == 0x87:  # iPAddress
                        raw = der[gs:ge]
                        fam = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
                        dns.append(socket.inet_ntop(fam, raw))
        return CertInfo(not_before=_time(bt, der[bs:be]), not_after=_time(at, der[as_:ae]),
                        subject=subject, issuer=issuer, dns_names=tuple(dns), serial=serial)
    except (IndexError, ValueError, UnicodeDecodeError) as exc:
        raise ValueError(say("tls.unreadable", error=str(exc))) from exc
