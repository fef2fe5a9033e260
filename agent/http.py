"""HTTP to the collector for every agent request: results, central config, token pickup, enrolment.

Standard library only, and lean: one HTTP/1.1 exchange on a socket (:mod:`agent.http1`, not
``urllib``/``http.client``, which cost an idle agent about 2 MB), ``ssl`` only for https.  Every
request has one overall time limit (connect, send and the whole answer): a socket timeout alone limits each
wait, so a server trickling a byte a second would hold the agent forever; a watchdog shuts
the request's socket down when its limit passes.  An answer is read up to 4 MiB and, when
gzip-compressed, inflated up to 16 MiB; anything larger is refused.  Redirects are not
followed (a misconfigured URL is reported).

**Proxy** (``collector.proxy``): an HTTP proxy, tunnelled with CONNECT for an ``https://``
collector (TLS runs end to end, the proxy sees only the host and port), or sent the
absolute URL for an ``http://`` one.  Credentials come from ``collector.proxy_credentials_file``
(``user:password``) as ``Proxy-Authorization: Basic``, which goes only to the proxy: in the
CONNECT request for https, never inside the tunnel.  Without ``collector.proxy`` the usual
``https_proxy``/``http_proxy``/``no_proxy`` environment variables apply, as before.

Log lines and errors never contain the token, the proxy credentials or a body.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import socket
import sys
import threading
import time
import zlib
from dataclasses import dataclass

from agent import Worded, __version__
from agent.http1 import BrokenAnswer, Connect, Route, exchange, route
from checks._units import format_bytes

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Answer", "Http", "HttpError", "MAX_ANSWER_BYTES", "MAX_INFLATED_BYTES", "os_reason", "reason",
           "system_trust"]

MAX_ANSWER_BYTES = 4 * 1024 * 1024  # read at most this much of an answer
MAX_INFLATED_BYTES = 16 * 1024 * 1024  # and inflate a gzip answer at most to this
MAX_REASON_CHARS = 1000  # the collector's reason is printed whole (its hints run to ~300 characters)


class HttpError(Worded):
    """No usable answer: unreachable, timed out, broken, or too large (nothing was learnt); worded for the
    reader of a command line (:class:`agent.Worded`)."""


@dataclass(frozen=True)
class Answer:
    status: int
    raw: bytes
    headers: Any  # agent.http1.Headers (case-insensitive .get), or None
    sent_at: float

    def json(self) -> Any:
        """The JSON body (gzip inflated within its cap), or None when it is not JSON."""
        return decode(self.raw, self.headers.get("Content-Encoding", "") if self.headers else "")

    def header(self, name: str) -> str | None:
        return self.headers.get(name) if self.headers else None


class _Watchdog:
    """One request's overall time limit.

    The request's connections are made through :meth:`connect`, which bounds
    name resolution and each connection attempt by the time left and keeps a
    duplicate of the socket; at the deadline a timer shuts those sockets down,
    so a read blocked on a trickling server (or a TLS handshake) ends at once.
    """

    def __init__(self, deadline: float):
        self.deadline = deadline
        self.expired = False
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._timer.cancel()
        with self._lock:
            for sock in self._socks:
                sock.close()
            self._socks.clear()

    def _left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0 or self.expired:
            raise TimeoutError("out of time")
        return left

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._socks:
                _shut(sock)

    def connect(self, address: tuple[str, int], timeout: Any = None,
                source_address: Any = None) -> socket.socket:
        """``socket.create_connection`` within the deadline (http.client's ``_create_connection``)."""
        host, port = address
        limit = timeout if isinstance(timeout, int | float) else None
        infos = self._resolve(host, port)
        error: OSError = OSError(f"cannot resolve {host}")
        for family, kind, proto, _, addr in infos:
            sock = socket.socket(family, kind, proto)
            try:
                left = self._left()
                sock.settimeout(min(limit, left) if limit is not None else left)
                if source_address:
                    sock.bind(source_address)
                sock.connect(addr)
            except OSError as exc:
                sock.close()
                error = exc
                if isinstance(exc, TimeoutError) and self.expired:
                    break
                continue
            with self._lock:
                watched = sock.dup()  # the same connection, still open after TLS wraps ``sock``
                self._socks.append(watched)
                if self.expired:
                    _shut(watched)
            return sock
        raise error

    def _resolve(self, name: str, port: int) -> list[Any]:
        # bytes when ASCII: a str goes through the idna codec (stringprep, unicodedata: ~0.3 MB)
        host: str | bytes = name.encode("ascii") if name.isascii() else name
        try:
            ipaddress.ip_address(name)
        except ValueError:
            pass
        else:
            return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        # A name lookup cannot be interrupted: wait for it in a helper thread, at most until
        # the deadline (the thread ends with the resolver's own timeout).
        box: list[Any] = []

        def lookup() -> None:
            try:
                box.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
            except OSError as exc:
                box.append(exc)

        helper = threading.Thread(target=lookup, name="resolve", daemon=True)
        helper.start()
        helper.join(self._left())
        if not box:
            raise TimeoutError(f"resolving {name} took too long")
        if isinstance(box[0], OSError):
            raise box[0]
        return list(box[0])


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class Http:
    """Requests to one collector: TLS with its CA file, an optional proxy, the agent token."""

    def __init__(self, base_url: str, token: str, *, ca_file: str | None = None, proxy: str | None = None,
                 proxy_credentials: str | None = None, version: str = __version__):
        self.base_url = base_url.rstrip("/")
        self.token = token  # replaced in place when the agent picks up a rotated token
        self.version = version
        self._proxy_credentials = proxy_credentials
        self._tls: Any = None
        self._lazy_trust = False  # the system's CAs from their hashed directory (system_trust)
        if self.base_url.lower().startswith("https:"):
            import ssl  # only for an https collector: about 1.6 MB of an idle agent otherwise

            if ca_file:
                self._tls = ssl.create_default_context(cafile=ca_file)
            else:
                self._tls, self._lazy_trust = system_trust()
        self.proxy = proxy

    def __repr__(self) -> str:  # never show the token
        return f"Http({self.base_url!r}, proxy={self.proxy!r})"

    def url(self, path: str) -> str:
        return self.base_url + path

    def exchange(self, method: str, url: str, *, timeout: float, data: bytes | None = None,
                 headers: dict[str, str] | None = None, token: str | None = None) -> Answer:
        """One request within ``timeout`` seconds overall; HttpError when there is no usable answer.

        ``token``: the Bearer token to send instead of the agent's own (an enrolment key).
        """
        if timeout <= 0:
            raise HttpError("out of time")
        watchdog = _Watchdog(time.monotonic() + timeout)
        sent = {"Accept": "application/json", "User-Agent": f"wardround-agent/{self.version}",
                "Authorization": f"Bearer {token or self.token}", **(headers or {})}
        sent_at = time.time()
        path = None
        with watchdog:
            try:
                # the proxy's credentials go only to the proxy: in the CONNECT request for https
                path = route(url, self.proxy, self._proxy_credentials)
                status, got, raw = self._exchange(path, watchdog.connect, method, data, sent)
            except (OSError, ValueError, BrokenAnswer) as exc:
                # refused, reset, timeout, TLS, a proxy's refusal; BrokenAnswer: not HTTP.  A socket
                # timeout is set to the time left, so it and the watchdog mean the same deadline.
                if watchdog.expired or isinstance(exc, TimeoutError):
                    raise _no_answer(url, timeout) from None
                # a TLS port closes or resets a plain request without an HTTP answer
                hint = ("; if the collector serves HTTPS, collector.url must start with https://"
                        if url.startswith("http://") and isinstance(exc, BrokenAnswer | ConnectionResetError) else "")
                if isinstance(exc, BrokenAnswer):
                    raise HttpError(f"broken answer from the collector: {exc}{hint}", "cli.agent.http.broken"
                                    + ("_https" if hint else ""), error=str(exc), **_HTTPS) from None
                why = os_reason(exc, proxy_credentials=bool(path and path.proxy_auth))
                key = "" if hint and self.proxy else "cli.agent.http.unreachable" + (
                    "_https" if hint else "_proxy" if self.proxy else "")
                raise HttpError(f"cannot reach the collector at {url}{self._via()}: {why}{hint}", key, url=url,
                                proxy=self.proxy or "", why=why, **_HTTPS) from None
        if watchdog.expired:  # the answer was cut short at the deadline
            raise _no_answer(url, timeout)
        if len(raw) > MAX_ANSWER_BYTES:
            raise HttpError(f"the collector's answer is larger than {format_bytes(MAX_ANSWER_BYTES)}; not read")
        if status == 407:
            raise HttpError(f"the proxy {self.proxy} refused this agent (HTTP 407): check "
                            "collector.proxy_credentials_file", "cli.agent.http.proxy_407", proxy=self.proxy or "",
                            key="collector.proxy_credentials_file")
        return Answer(status=status, raw=raw, headers=got, sent_at=sent_at)

    def _exchange(self, path: Route, connect: Connect, method: str, data: bytes | None,
                  sent: dict[str, str]) -> tuple[int, Any, bytes]:
        try:
            return exchange(path, connect, self._context, method, data, sent, MAX_ANSWER_BYTES)
        except OSError as exc:
            if not self._lazy_trust or getattr(exc, "verify_code", None) not in _ISSUER_NOT_FOUND:
                raise
        # The system's hashed CA directory does not know the issuer: trust the system's whole store,
        # as ssl.create_default_context() does (nothing was sent: TLS failed in the handshake).
        import ssl

        self._tls, self._lazy_trust = ssl.create_default_context(), False
        return exchange(path, connect, self._context, method, data, sent, MAX_ANSWER_BYTES)

    def _context(self) -> Any:
        """The TLS context for an https URL (built once, with the CA file); the system's CAs otherwise."""
        if self._tls is None:  # an http base URL asked for an https one
            self._tls, self._lazy_trust = system_trust()
        return self._tls

    def _via(self) -> str:
        return f" through the proxy {self.proxy}" if self.proxy else ""


#: OpenSSL's verify codes for "the issuer is not in the trust store" (UNABLE_TO_GET_ISSUER_CERT,
#: DEPTH_ZERO_SELF_SIGNED_CERT, SELF_SIGNED_CERT_IN_CHAIN, UNABLE_TO_GET_ISSUER_CERT_LOCALLY)
_ISSUER_NOT_FOUND = frozenset({2, 18, 19, 20})
_HASHED_NAME = re.compile(r"[0-9a-f]{8}\.[0-9]+")


def system_trust() -> tuple[Any, bool]:
    """A TLS context trusting the system's CA certificates, like ``ssl.create_default_context()``,
    which parses the system's whole CA bundle file (144 certificates on Debian 12: about 1.35 MB
    of an idle agent) into memory.

    Where the system also has the hashed CA directory (``ssl.get_default_verify_paths().capath``
    holding ``<hash>.0`` names, as Debian's and Ubuntu's ``/etc/ssl/certs``), only that directory
    is given: OpenSSL then reads the one certificate a verification needs, when it needs it
    (the second value is then True).  When a verification does not find the issuer there,
    :meth:`Http._exchange` retries once with the whole store, so what is trusted stays exactly what
    ``create_default_context()`` trusts (the bundle file, or ``SSL_CERT_FILE``, included).  Without
    such a directory (RHEL's ``/etc/pki/tls/certs`` is not hashed; ``SSL_CERT_DIR`` naming another
    one is followed, as OpenSSL does) and on Windows (its certificate store) the context is
    ``create_default_context()``'s.
    """
    import ssl

    capath = None if sys.platform == "win32" else ssl.get_default_verify_paths().capath
    if capath is None or not _hashed(capath):
        return ssl.create_default_context(), False
    return ssl.create_default_context(capath=capath), True


def _hashed(directory: str) -> bool:
    """Whether ``directory`` has OpenSSL's ``<hash>.<n>`` certificate names (``c_rehash``)."""
    try:
        with os.scandir(directory) as entries:
            return any(_HASHED_NAME.fullmatch(e.name) for e in entries)
    except OSError:
        return False


def decode(raw: bytes, encoding: str) -> Any:
    """The JSON answer, or None when it is not JSON; raises HttpError for a gzip bomb."""
    try:
        if encoding.strip().lower() == "gzip":
            raw = _inflate(raw, MAX_INFLATED_BYTES)
        return json.loads(raw) if raw else None
    except (ValueError, OSError, EOFError, zlib.error):
        return None


_HTTPS = {"key": "collector.url", "scheme": "https://"}  # the words of the plain-request-to-a-TLS-port hint


def _no_answer(url: str, timeout: float) -> HttpError:
    return HttpError(f"no complete answer from the collector at {url} within {timeout:.3g} s",
                     "cli.agent.http.no_answer", url=url, within=f"{timeout:.3g} s")


def _inflate(raw: bytes, limit: int) -> bytes:
    """``gzip.decompress`` (several members too) that stops past ``limit`` bytes of output."""
    out = bytearray()
    rest = raw
    while rest:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        out += inflater.decompress(rest, limit + 1 - len(out))
        if len(out) > limit:
            raise HttpError(f"the collector's gzip answer inflates to more than {format_bytes(limit)} "
                            f"({len(raw)} bytes compressed); not read")
        if not inflater.eof:
            raise ValueError("truncated gzip answer")
        rest = inflater.unused_data.lstrip(b"\0")  # gzip allows zero padding after a member
    return bytes(out)


def reason(answer: Any) -> str:
    """A short, body-free account of why the collector refused (no echoed input)."""
    detail = answer.get("detail", answer) if isinstance(answer, dict) else answer
    if isinstance(detail, list):  # FastAPI style: [{"loc": [...], "msg": "..."}], a batch's invalid results
        parts = []                  # ([{"index", "id", "error"}]), or a list of lines
        for d in detail[:20]:
            if isinstance(d, dict):
                loc = ".".join(str(x) for x in d.get("loc", []) if not isinstance(x, dict))
                parts.append(f"{loc}: {d.get('msg') or d.get('error') or ''}".strip(": "))
            elif isinstance(d, str):
                parts.append(d)
        detail = "; ".join(parts)
    elif isinstance(detail, dict):
        detail = str(detail.get("message") or detail.get("error") or "")
    text = str(detail or "no reason given")
    return " ".join(text.split())[:MAX_REASON_CHARS]


def said_reason(answer: Any) -> str:
    """:func:`reason`, carrying the collector's message key when its answer has one (``"message": {"key",
    "args"}``, collector.errors.said_body): a command line says it in its reader's language (a ``{reason:msg}``
    placeholder; a key this agent does not know reads as the collector's English)."""
    text = reason(answer)
    message = answer.get("message") if isinstance(answer, dict) else None
    if not isinstance(message, dict):
        return text
    from checks.messages import Said
    from checks.result import Message, ResultError

    try:
        return Said(text, Message.from_wire(message))
    except (ResultError, ValueError, TypeError):
        return text


def os_reason(exc: BaseException, proxy_credentials: bool = True) -> str:
    """Why a request failed, in a line; ``proxy_credentials``: whether the proxy was sent any."""
    cause = getattr(exc, "reason", None)  # urllib's URLError wraps the error; an SSLError's is a string
    why = cause if isinstance(cause, BaseException) else exc
    ssl = sys.modules.get("ssl")  # imported when a TLS connection was attempted
    if ssl is not None and isinstance(why, ssl.SSLCertVerificationError):
        if why.verify_code in (62, 64):  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
            return (f"TLS certificate verification failed ({why.verify_message}); the host name in "
                    "collector.url must be one the collector's certificate names")
        return f"TLS certificate verification failed ({why.verify_message}); check collector.ca_file"
    if isinstance(why, TimeoutError):
        return "timed out"
    if isinstance(why, OSError) and "Tunnel connection failed" in str(why):
        text = " ".join(str(why).split())[:200]
        if (" 407 " in f"{text} " or " 401 " in f"{text} ") and not proxy_credentials:
            return f"the proxy asks for credentials ({text}): set collector.proxy_credentials_file"
        if " 407 " in f"{text} " or " 401 " in f"{text} ":
            return f"the proxy refused this agent's credentials ({text}): check collector.proxy_credentials_file"
        return f"the proxy refused the tunnel ({text})"
    return " ".join(str(why).split())[:200] or type(why).__name__
