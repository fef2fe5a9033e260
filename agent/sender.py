"""Push spooled results to the collector: oldest first, in gzip JSON batches.

Standard library only (``urllib.request``): the agent must stay lean, and
an HTTP client library would cost more memory than the whole agent.

What each answer of ``POST /api/v1/results`` does:

=================  ==========================================================
answer             what the sender does
=================  ==========================================================
2xx                deletes the ids in ``accepted`` and ``duplicates``;
                   records the clock offset from ``server_time``
connection error,  keeps everything; the caller backs off (exponential,
timeout, 5xx, 429  full jitter, base 1 s, cap 5 min)
401 / 403          logs the cause (never the token), keeps everything, backs off
413                halves the batch size and retries; a single result that
                   is still too large goes to the quarantine
422                bisects the batch to find the invalid results; only those
                   go to the quarantine, the rest are sent
=================  ==========================================================

Every request has an overall time limit (connect, send and the whole answer):
``collector.timeout``, or less when the caller's deadline (``once --push --wait``)
comes sooner.  A socket timeout alone limits each wait, so a server trickling a
byte a second would hold the agent forever; a watchdog shuts the request's
socket down when its limit passes.  An answer is read up to 4 MiB and, when
gzip-compressed, inflated up to 16 MiB; anything larger is refused.

Log lines never contain the token or result bodies.
"""

from __future__ import annotations

import functools
import gzip
import http.client
import ipaddress
import json
import logging
import random
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from agent import __version__
from agent.spool import NoticeFactory, Spool, SpooledResult
from checks.result import ResultError, format_time, parse_time

__all__ = ["Backoff", "PushOutcome", "Sender", "results_url"]

log = logging.getLogger(__name__)

RESULTS_PATH = "/api/v1/results"
MAX_ANSWER_BYTES = 4 * 1024 * 1024  # read at most this much of an answer
MAX_INFLATED_BYTES = 16 * 1024 * 1024  # and inflate a gzip answer at most to this
CLOCK_SKEW_WARN_S = 120.0
MAX_REASON_CHARS = 1000  # the collector's reason is printed whole (its hints run to ~300 characters)


class Backoff:
    """Exponential backoff with full jitter: ``uniform(0, min(cap, base * 2**n))``."""

    def __init__(self, base: float = 1.0, cap: float = 300.0,
                 rng: Callable[[], float] = random.random):
        self.base = base
        self.cap = cap
        self.attempt = 0
        self._rng = rng

    def ceiling(self) -> float:
        return min(self.cap, self.base * 2.0 ** min(self.attempt, 32))

    def next_delay(self) -> float:
        delay = self._rng() * self.ceiling()
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0


@dataclass
class PushOutcome:
    """What one push round did.  ``ok`` False means: back off before the next."""

    acknowledged: int = 0
    quarantined: int = 0
    ok: bool = True
    error: str = ""
    retry_after: float | None = None
    logged: bool = False  # the error was already logged at ERROR (401, 403, other 4xx)
    refused: bool = False  # the collector refused (401, 403, other 4xx, a redirect): waiting will not help


class _Failure(Exception):
    """A send that must stop this round (nothing deleted)."""

    def __init__(self, message: str, retry_after: float | None = None, logged: bool = False,
                 refused: bool = False):
        super().__init__(message)
        self.retry_after = retry_after
        self.logged = logged
        self.refused = refused


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect of a POST is a misconfigured URL: report it, do not follow."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


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

    def _resolve(self, host: str, port: int) -> list[Any]:
        try:
            ipaddress.ip_address(host)
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
            raise TimeoutError(f"resolving {host} took too long")
        if isinstance(box[0], OSError):
            raise box[0]
        return list(box[0])


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class _Request(urllib.request.Request):
    watchdog: _Watchdog


class _HTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args: Any, watchdog: _Watchdog, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._create_connection = watchdog.connect


class _HTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args: Any, watchdog: _Watchdog, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._create_connection = watchdog.connect


class _HTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        assert isinstance(req, _Request)
        return self.do_open(functools.partial(_HTTPConnection, watchdog=req.watchdog), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, context: ssl.SSLContext):
        super().__init__(context=context)
        self._tls = context

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        assert isinstance(req, _Request)
        return self.do_open(functools.partial(_HTTPSConnection, watchdog=req.watchdog), req,
                            context=self._tls)


def results_url(base: str) -> str:
    """``https://collector:8480`` → ``https://collector:8480/api/v1/results``."""
    base = base.rstrip("/")
    return base if base.endswith(RESULTS_PATH) else base + RESULTS_PATH


class Sender:
    """Moves results from the spool to the collector; one push round at a time."""

    def __init__(self, spool: Spool, url: str, token: str, *, ca_file: str | None = None,
                 timeout_s: float = 10.0, batch_size: int = 500, site: str = "", host: str = "",
                 notice: NoticeFactory | None = None, version: str = __version__):
        self.spool = spool
        self.url = results_url(url)
        self._token = token
        self.timeout_s = timeout_s
        self.batch_size = max(1, batch_size)
        self.site = site
        self.host = host
        self.notice = notice
        self.version = version
        self.clock_offset_s: float | None = None
        self._skew_warned = False
        self._lock = threading.Lock()
        handlers: list[Any] = [_NoRedirect(), _HTTPHandler()]
        if urlsplit(self.url).scheme == "https":
            handlers.append(_HTTPSHandler(ssl.create_default_context(cafile=ca_file)))
        self._opener = urllib.request.build_opener(*handlers)

    def __repr__(self) -> str:  # never show the token
        return f"Sender(url={self.url!r}, batch_size={self.batch_size})"

    # -- public -----------------------------------------------------------

    def push(self, *, deadline: float | None = None, stop: threading.Event | None = None) -> PushOutcome:
        """Send batches, oldest first, until the spool is empty, a send fails,
        ``deadline`` (``time.monotonic()``) passes or ``stop`` is set."""
        out = PushOutcome()
        with self._lock:
            while stop is None or not stop.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    out.ok, out.error = False, "out of time"
                    break
                rows = self.spool.batch(self.batch_size)
                if not rows:
                    break
                try:
                    acked, quarantined = self._deliver(rows, deadline)
                except _Failure as exc:
                    out.ok, out.error, out.retry_after = False, str(exc), exc.retry_after
                    out.logged, out.refused = exc.logged, exc.refused
                    break
                out.acknowledged += acked
                out.quarantined += quarantined
                if acked + quarantined < len(rows):
                    out.ok = False
                    out.error = (f"the collector acknowledged {acked} of {len(rows)} results; "
                                 "the rest stay spooled")
                    log.warning("push: %s", out.error)
                    break
        return out

    # -- one request ------------------------------------------------------

    def _deliver(self, rows: Sequence[SpooledResult], deadline: float | None) -> tuple[int, int]:
        """Send ``rows``; split on 413/422 until the bad ones are alone. Returns (acked, quarantined)."""
        status, answer = self._post(rows, deadline)
        if 200 <= status < 300:
            return self._acknowledge(rows, answer), 0
        if status in (413, 422):
            if status == 413:
                self.batch_size = max(1, min(self.batch_size, len(rows) // 2))
                log.warning("push: the collector found a batch of %d results too large (413); "
                            "batch size now %d", len(rows), self.batch_size)
            if len(rows) == 1:
                reason = ("too large for the collector (413)" if status == 413
                          else "rejected as invalid (422): " + _reason(answer))
                return 0, self.spool.quarantine([rows[0].id], reason, self.notice)
            mid = len(rows) // 2
            a1, q1 = self._deliver(rows[:mid], deadline)
            a2, q2 = self._deliver(rows[mid:], deadline)
            return a1 + a2, q1 + q2
        raise self._failure(status, answer)

    def _post(self, rows: Sequence[SpooledResult], deadline: float | None) -> tuple[int, Any]:
        timeout = self.timeout_s
        if deadline is not None:
            timeout = min(timeout, deadline - time.monotonic())
            if timeout <= 0:
                raise _Failure("out of time")
        watchdog = _Watchdog(time.monotonic() + timeout)
        with watchdog:
            status, raw, headers, sent_at = self._exchange(rows, watchdog, timeout)
        answer = _decode(raw, headers.get("Content-Encoding", "") if headers else "")
        if status == 429 or status >= 500:
            retry_after = _retry_after(headers.get("Retry-After") if headers else None)
            raise _Failure(f"the collector answered HTTP {status}", retry_after)
        if 200 <= status < 300:
            self._note_clock(answer, sent_at, time.time())
        return status, answer

    def _exchange(self, rows: Sequence[SpooledResult], watchdog: _Watchdog,
                  timeout: float) -> tuple[int, bytes, Any, float]:
        """One POST within ``watchdog``'s deadline: (status, raw answer, headers, sent at)."""
        envelope = json.dumps({"time": format_time(datetime.now(UTC)),
                               "spool_backlog": self.spool.backlog(), "version": self.version})
        body = ('{"results":[' + ",".join(r.body for r in rows) + '],"agent":' + envelope + "}")
        data = gzip.compress(body.encode("utf-8"), compresslevel=6)
        req = _Request(self.url, data=data, method="POST", headers={
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "Accept": "application/json",
            "Authorization": f"Bearer {self._token}",
            "User-Agent": f"wardround-agent/{self.version}",
        })
        req.watchdog = watchdog
        sent_at = time.time()
        try:
            with self._opener.open(req, timeout=timeout) as resp:
                status, raw, headers = resp.status, resp.read(MAX_ANSWER_BYTES + 1), resp.headers
        except urllib.error.HTTPError as exc:
            status, headers = exc.code, exc.headers
            try:
                raw = exc.read(MAX_ANSWER_BYTES + 1)
            except (OSError, http.client.HTTPException):
                raw = b""
            finally:
                exc.close()
        except (OSError, ValueError, http.client.HTTPException) as exc:
            # URLError, refused, reset, timeout, TLS; HTTPException: a broken answer.  A socket
            # timeout is set to the time left, so it and the watchdog mean the same deadline.
            if watchdog.expired or isinstance(getattr(exc, "reason", exc), TimeoutError):
                raise _Failure(f"no complete answer from the collector at {self.url} within "
                               f"{timeout:.3g} s") from None
            if isinstance(exc, http.client.HTTPException):
                raise _Failure(f"broken answer from the collector: {type(exc).__name__}") from None
            raise _Failure(f"cannot reach the collector at {self.url}: {_os_reason(exc)}") from None
        if watchdog.expired:  # the answer was cut short at the deadline
            raise _Failure(f"no complete answer from the collector at {self.url} within {timeout:.3g} s")
        if len(raw) > MAX_ANSWER_BYTES:
            raise _Failure(f"the collector's answer is larger than {MAX_ANSWER_BYTES >> 20} MiB; not read")
        return status, raw, headers, sent_at

    def _acknowledge(self, rows: Sequence[SpooledResult], answer: Any) -> int:
        if not isinstance(answer, dict):
            raise _Failure("the collector's answer is not a JSON object")
        sent = {r.id for r in rows}
        ids: list[str] = []
        for key in ("accepted", "duplicates"):
            value = answer.get(key, [])
            if isinstance(value, list):
                ids.extend(i for i in value if isinstance(i, str) and i in sent)
        return self.spool.ack(ids)

    def _failure(self, status: int, answer: Any) -> _Failure:
        if status == 401:
            msg = ("the collector refused the agent token (HTTP 401): check collector.token_file "
                   "(or token) against `wardround-collector token create`")
        elif status == 403:
            # The collector names the host that was refused and the grant that would allow it
            # (`token create ... --also-host NAME`); its words beat our guess.
            msg = (f"the collector refused this batch from site {self.site!r} host {self.host!r} "
                   f"(HTTP 403): {_reason(answer)}")
        elif 300 <= status < 400:
            msg = f"the collector URL answered a redirect (HTTP {status}): fix collector.url"
        else:
            msg = f"the collector answered HTTP {status}: {_reason(answer)}"
        log.error("push: %s", msg)
        return _Failure(msg, logged=True, refused=status != 408)

    def _note_clock(self, answer: Any, sent_at: float, received_at: float) -> None:
        if not isinstance(answer, dict) or not isinstance(answer.get("server_time"), str):
            return
        try:
            server = parse_time(answer["server_time"]).timestamp()
        except ResultError:
            return
        self.clock_offset_s = server - (sent_at + received_at) / 2
        if abs(self.clock_offset_s) > CLOCK_SKEW_WARN_S and not self._skew_warned:
            self._skew_warned = True
            log.warning("this machine's clock is %+.0f s off the collector's; results carry "
                        "this machine's times (fix NTP)", -self.clock_offset_s)


def _decode(raw: bytes, encoding: str) -> Any:
    """The JSON answer, or None when it is not JSON; raises _Failure for a gzip bomb."""
    try:
        if encoding.strip().lower() == "gzip":
            raw = _inflate(raw, MAX_INFLATED_BYTES)
        return json.loads(raw) if raw else None
    except (ValueError, OSError, EOFError, zlib.error):
        return None


def _inflate(raw: bytes, limit: int) -> bytes:
    """``gzip.decompress`` (several members too) that stops past ``limit`` bytes of output."""
    out = bytearray()
    rest = raw
    while rest:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        out += inflater.decompress(rest, limit + 1 - len(out))
        if len(out) > limit:
            raise _Failure(f"the collector's gzip answer inflates to more than {limit >> 20} MiB "
                           f"({len(raw)} bytes compressed); not read")
        if not inflater.eof:
            raise ValueError("truncated gzip answer")
        rest = inflater.unused_data.lstrip(b"\0")  # gzip allows zero padding after a member
    return bytes(out)


def _reason(answer: Any) -> str:
    """A short, body-free account of why the collector refused (no echoed input)."""
    detail = answer.get("detail", answer) if isinstance(answer, dict) else answer
    if isinstance(detail, list):  # FastAPI style: [{"loc": [...], "msg": "..."}]
        parts = []
        for d in detail[:3]:
            if isinstance(d, dict):
                loc = ".".join(str(x) for x in d.get("loc", []) if not isinstance(x, dict))
                parts.append(f"{loc}: {d.get('msg', '')}".strip(": "))
        detail = "; ".join(parts)
    elif isinstance(detail, dict):
        detail = str(detail.get("message") or detail.get("error") or "")
    text = str(detail or "no reason given")
    return " ".join(text.split())[:MAX_REASON_CHARS]


def _os_reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    if isinstance(reason, ssl.SSLCertVerificationError):
        return f"TLS certificate verification failed ({reason.verify_message}); check collector.ca_file"
    if isinstance(reason, TimeoutError):
        return "timed out"
    return " ".join(str(reason).split())[:200] or type(reason).__name__


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
