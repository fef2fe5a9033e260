"""One HTTP/1.1 exchange on a socket: what :mod:`agent.http` needs of ``http.client``, and no more.

``http.client`` imports the ``email`` package (to parse headers) and ``urllib.request`` adds
``tempfile``, ``shutil``, ``bz2``, ``lzma``, ``hashlib`` and ``calendar``; together about 2 MB of an
idle agent's memory (docs/benchmarks.md, "Agent footprint").  This module writes one request and
reads one answer with the standard library's ``socket`` (and ``ssl``, imported only for an
``https://`` collector or proxy):

* the request: ``Host``, ``Connection: close`` (one request per connection, as urllib did),
  ``Content-Length`` for a body, the caller's headers;
* the answer: the status line (``1xx`` interim answers skipped), headers (at most 100 lines of at
  most 64 KiB), and the body by ``Transfer-Encoding: chunked``, by ``Content-Length``, or up to
  the end of the connection; at most ``limit`` + 1 bytes are read;
* a proxy: ``CONNECT host:port`` for an https target (TLS runs inside the tunnel; the proxy's
  ``Proxy-Authorization`` goes only in the CONNECT request), the absolute URL for an http one;
  without an explicit proxy, the ``https_proxy``/``http_proxy``/``no_proxy`` environment variables
  with urllib's rules (lower case first; ``HTTP_PROXY`` ignored under CGI; credentials in a proxy
  URL become ``Basic``).  On Windows and macOS the system proxy settings apply as before
  (``urllib.request.getproxies``, imported there only).

A malformed answer raises :class:`BrokenAnswer`; network and TLS failures raise ``OSError``.
"""

from __future__ import annotations

import binascii
import os
import socket
import sys
from collections.abc import Callable, Iterator
from urllib.parse import unquote, urlsplit

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["BrokenAnswer", "Headers", "Route", "exchange", "proxy_for", "route"]

MAX_LINE = 65536
MAX_HEADERS = 100

Connect = Callable[[tuple[str, int]], socket.socket]


class BrokenAnswer(Exception):
    """The other side answered something that is not HTTP/1.x (or stopped half-way)."""


class Headers:
    """An answer's headers: case-insensitive :meth:`get` (the first value), :meth:`items` as received."""

    def __init__(self, pairs: list[tuple[str, str]]):
        self._pairs = pairs

    def get(self, name: str, default: str | None = None) -> str | None:
        low = name.lower()
        return next((v for k, v in self._pairs if k.lower() == low), default)

    def items(self) -> list[tuple[str, str]]:
        return list(self._pairs)

    def __iter__(self) -> Iterator[str]:
        return (k for k, _ in self._pairs)

    def __repr__(self) -> str:
        return f"Headers({[k for k, _ in self._pairs]!r})"  # names only: a value may be a secret


class Route:
    """Where to connect for a URL: the target, and the proxy (host, port, TLS to it, Basic auth)."""

    def __init__(self, url: str, proxy: str | None, proxy_auth: str | None):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"unknown url type: {url!r}")
        self.tls = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.tls else 80)
        self.url = url
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        name = f"[{self.host}]" if ":" in self.host else self.host
        self.authority = name if self.port == (443 if self.tls else 80) else f"{name}:{self.port}"
        self.proxy: tuple[str, int, bool] | None = None
        self.proxy_auth = proxy_auth
        if proxy:
            p = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
            if not p.hostname:
                raise ValueError(f"proxy URL has no host: {proxy!r}")
            self.proxy = (p.hostname, p.port or (443 if p.scheme == "https" else 80), p.scheme == "https")
            if proxy_auth is None and p.username is not None and p.password is not None:
                self.proxy_auth = _basic(f"{unquote(p.username)}:{unquote(p.password)}")


def route(url: str, proxy: str | None, proxy_credentials: str | None) -> Route:
    """The route for ``url``: through ``proxy`` when given, else through the environment's proxy."""
    auth = _basic(proxy_credentials) if proxy_credentials else None
    if proxy is None:
        parts = urlsplit(url)
        proxy = proxy_for(parts.scheme, parts.netloc.rpartition("@")[2])
    return Route(url, proxy, auth)


def _basic(credentials: str) -> str:
    return "Basic " + binascii.b2a_base64(credentials.encode(), newline=False).decode("ascii")


def proxy_for(scheme: str, hostport: str) -> str | None:
    """The proxy URL the environment names for ``scheme://hostport``, None when direct."""
    if sys.platform in ("win32", "darwin"):  # the registry / system configuration, as urllib reads it
        import urllib.request

        proxies = urllib.request.getproxies()
        bypass = bool(hostport) and bool(urllib.request.proxy_bypass(hostport))
        return None if bypass else proxies.get(scheme)
    proxies = environment_proxies(os.environ)
    if hostport and bypassed(hostport, proxies.get("no", "")):
        return None
    return proxies.get(scheme)


def environment_proxies(environ: Any) -> dict[str, str]:
    """``*_proxy`` variables by scheme (urllib's ``getproxies_environment``)."""
    proxies: dict[str, str] = {}
    for name, value in environ.items():
        if value and name.lower().endswith("_proxy"):
            proxies[name.lower()[:-6]] = value
    if "REQUEST_METHOD" in environ:  # CGI: HTTP_PROXY may come from a client's "Proxy:" header
        proxies.pop("http", None)
    for name, value in environ.items():  # the lower-case spelling wins
        if name.endswith("_proxy"):
            if value:
                proxies[name.lower()[:-6]] = value
            else:
                proxies.pop(name.lower()[:-6], None)
    return proxies


def bypassed(hostport: str, no_proxy: str) -> bool:
    """Whether ``no_proxy`` exempts ``hostport`` (urllib's ``proxy_bypass_environment``)."""
    if not no_proxy:
        return False
    if no_proxy.strip() == "*":
        return True
    hostport = hostport.lower()
    host = hostport.rsplit(":", 1)[0] if hostport.count(":") == 1 else hostport
    host = host.strip("[]")
    for name in (n.strip().lstrip(".").lower() for n in no_proxy.split(",")):
        if name and (name in (host, hostport) or host.endswith("." + name) or hostport.endswith("." + name)):
            return True
    return False


def exchange(r: Route, connect: Connect, tls_context: Callable[[], Any], method: str,
             body: bytes | None, headers: dict[str, str], limit: int) -> tuple[int, Headers, bytes]:
    """One request along ``r``; (status, headers, at most ``limit`` + 1 bytes of body).

    ``connect`` opens a TCP connection (the caller's deadline applies); ``tls_context`` gives
    the ``ssl.SSLContext`` for the target (called only for https).
    """
    target = r.path
    sock = connect(r.proxy[:2] if r.proxy else (r.host, r.port))
    try:
        if r.proxy and r.proxy[2] and not r.tls:
            import ssl

            sock = _handshake(ssl.create_default_context(), sock, r.proxy[0],
                              f"the proxy {r.proxy[0]}:{r.proxy[1]}", "the proxy URL names the proxy")
        if r.proxy and r.tls:
            _tunnel(sock, r)
        elif r.proxy:
            target = r.url  # a plain-HTTP proxy takes the absolute URL and its credentials
            if r.proxy_auth:
                headers = {**headers, "Proxy-Authorization": r.proxy_auth}
        if r.tls:
            sock = _handshake(tls_context(), sock, r.host, "the collector",
                              f"the URL names the collector and its port ({r.authority})")
        sock.sendall(_request(method, target, r.authority, headers, body))
        with sock.makefile("rb") as f:
            return read_answer(f, limit, method)
    finally:
        sock.close()


def _handshake(context: Any, sock: socket.socket, host: str, who: str, check: str) -> Any:
    """``sock`` wrapped in TLS for ``host``; a peer hanging up mid-handshake is one plain line.

    A dead or stopped server whose kernel still took the connection, or something else on that
    port, closes it without a ServerHello: ``ssl`` says ``[SSL: UNEXPECTED_EOF_WHILE_READING] EOF
    occurred in violation of protocol (_ssl.c:…)``, which names neither cause nor fix.
    """
    import ssl

    try:
        return context.wrap_socket(sock, server_hostname=_tls_name(host))
    except (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionResetError):
        raise ConnectionAbortedError(f"{who} closed the connection during the TLS handshake: "
                                     f"check that {check}") from None


def _tls_name(host: str) -> str | bytes:
    """The name to verify: bytes when ASCII (``ssl`` would run it through the ``idna`` codec, which
    loads ``stringprep`` and ``unicodedata``, about 0.3 MB, to return it unchanged)."""
    return host.encode("ascii") if host.isascii() else host


def _request(method: str, target: str, authority: str, headers: dict[str, str], body: bytes | None) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {authority}", "Accept-Encoding: identity", "Connection: close"]
    names = {k.lower() for k in headers}
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
        if "content-type" not in names:  # urllib's default for a body
            lines.append("Content-Type: application/x-www-form-urlencoded")
    for k, v in headers.items():
        if "\r" in k or "\n" in k or "\r" in v or "\n" in v:
            raise ValueError(f"invalid header {k!r}")
        lines.append(f"{k}: {v}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + body if body else head


def _tunnel(sock: socket.socket, r: Route) -> None:
    """CONNECT through the proxy; OSError "Tunnel connection failed: CODE reason" when it refuses."""
    where = f"[{r.host}]:{r.port}" if ":" in r.host else f"{r.host}:{r.port}"
    lines = [f"CONNECT {where} HTTP/1.1", f"Host: {where}"]
    if r.proxy_auth:
        lines.append(f"Proxy-Authorization: {r.proxy_auth}")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    # Read byte by byte up to the blank line: what follows belongs to the TLS handshake.
    head = bytearray()
    while not head.endswith(b"\r\n\r\n") and not head.endswith(b"\n\n"):
        byte = sock.recv(1)
        if not byte:
            raise BrokenAnswer("the proxy closed the connection during CONNECT")
        head += byte
        if len(head) > MAX_LINE:
            raise BrokenAnswer("the proxy's answer to CONNECT is too long")
    status, reason = _status_line(bytes(head.split(b"\n", 1)[0]))
    if status != 200:
        raise OSError(f"Tunnel connection failed: {status} {reason}")


def _status_line(line: bytes) -> tuple[int, str]:
    text = line.decode("iso-8859-1").rstrip("\r\n")
    version, _, rest = text.partition(" ")
    code, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/") or len(code) != 3 or not code.isdigit():
        raise BrokenAnswer(f"not an HTTP status line: {text[:60]!r}")
    return int(code), reason.strip()


def _line(f: Any) -> bytes:
    line: bytes = f.readline(MAX_LINE + 1)
    if len(line) > MAX_LINE:
        raise BrokenAnswer("a line of the answer is longer than 64 KiB")
    return line


def _headers(f: Any) -> Headers:
    pairs: list[tuple[str, str]] = []
    while True:
        line = _line(f)
        if line in (b"\r\n", b"\n", b""):
            return Headers(pairs)
        if len(pairs) >= MAX_HEADERS:
            raise BrokenAnswer(f"more than {MAX_HEADERS} header lines")
        text = line.decode("iso-8859-1").rstrip("\r\n")
        if text[:1] in (" ", "\t") and pairs:  # an obsolete folded line continues the previous one
            pairs[-1] = (pairs[-1][0], f"{pairs[-1][1]} {text.strip()}")
            continue
        name, sep, value = text.partition(":")
        if not sep or not name or name != name.strip():
            raise BrokenAnswer(f"not a header line: {text[:60]!r}")
        pairs.append((name, value.strip()))


def read_answer(f: Any, limit: int, method: str = "GET") -> tuple[int, Headers, bytes]:
    """Status, headers and at most ``limit`` + 1 bytes of the body from the buffered reader ``f``."""
    while True:
        line = _line(f)
        if not line:
            raise BrokenAnswer("the connection closed without an answer")
        status, _ = _status_line(line)
        headers = _headers(f)
        if not 100 <= status < 200 or status == 101:
            break
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return status, headers, b""
    if "chunked" in (headers.get("Transfer-Encoding") or "").lower():
        return status, headers, _chunked(f, limit)
    length = headers.get("Content-Length")
    if length is not None:
        if not length.strip().isdigit():
            raise BrokenAnswer(f"bad Content-Length {length[:40]!r}")
        want = int(length)
        body = f.read(min(want, limit + 1))
        if len(body) < min(want, limit + 1):
            raise BrokenAnswer(f"the answer ended after {len(body)} of {want} bytes")
        return status, headers, body
    return status, headers, f.read(limit + 1)  # up to the end of the connection


def _chunked(f: Any, limit: int) -> bytes:
    out = bytearray()
    while len(out) <= limit:
        size_text = _line(f).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise BrokenAnswer(f"bad chunk size {size_text[:20]!r}") from None
        if size == 0:
            while _line(f) not in (b"\r\n", b"\n", b""):  # trailers
                pass
            break
        chunk = f.read(min(size, limit + 1 - len(out)))
        out += chunk
        if len(out) > limit:
            break
        if len(chunk) < size or _line(f) not in (b"\r\n", b"\n"):
            raise BrokenAnswer("the chunked answer ended early")
    return bytes(out)
