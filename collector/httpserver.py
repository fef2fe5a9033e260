"""The HTTP server's guard against slow clients and too many connections.

uvicorn closes a kept-alive connection that stays idle, but it waits for ever
for a client that opens a connection and then sends its headers one line
every ten seconds, or never finishes its body: a thousand such sockets held a
thousand file descriptors until the process could not accept ``/healthz``
any more.  :class:`GuardedProtocol` is uvicorn's httptools protocol with:

* a **header deadline**: a request's headers must have arrived
  ``header_timeout`` after the connection opened (or after the request's
  first byte on a kept-alive connection), else ``408`` and the connection
  is closed;
* a **body deadline**: its body must have arrived ``body_timeout`` after the
  headers, else the same;
* a **header size cap**: more than :data:`MAX_HEADER_BYTES` of request line
  and headers is ``431`` and closed;
* a **connection cap**: at most :func:`connection_cap` connections are open.
  When a new connection would pass it, the connection that has waited
  longest without sending a whole request is closed — idle or still sending
  headers first, then one still sending its body; connections whose request
  is being answered are never cut.  Only if there is none is the new one
  closed.  The cap stays below the process's file limit, so the collector
  can always accept: slow sockets cannot starve ``/healthz``.

Phases of a connection: ``headers`` (from connect, or from a request's first
byte) → ``body`` (headers complete) → ``answering`` (request complete: no
deadline of ours; uvicorn's keep-alive timer takes over after the answer) →
``idle`` → ``headers`` ...
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import socket
import time
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from checks.messages.reader import cli_said
from collector.config import HttpLimits

__all__ = ["MAX_HEADER_BYTES", "GuardedProtocol", "configure", "connection_cap"]

log = logging.getLogger(__name__)

MAX_HEADER_BYTES = 64 * 1024
_EVICTABLE = ("idle", "headers")
_TIMEOUT_ANSWER = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
                   b"content-length: 43\r\nconnection: close\r\n\r\nthe request did not arrive in time: send it\n")
_TOO_LARGE_ANSWER = (b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain; charset=utf-8\r\n"
                     b"content-length: 24\r\nconnection: close\r\n\r\nrequest headers too big\n")


def connection_cap(limits: HttpLimits, file_limit: int | None = None) -> int:
    """``max_connections``, lowered so the open connections leave a quarter of the file limit free.

    The free part (at least 64 descriptors) is for the database, logs, fonts
    and the connections the event loop accepts before the cap is applied.
    """
    if file_limit is None:
        file_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if file_limit == resource.RLIM_INFINITY or file_limit <= 0:
        return limits.max_connections
    return max(1, min(limits.max_connections, file_limit - max(64, file_limit // 4)))


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header/body deadlines, a header cap and a connection cap."""

    limits = HttpLimits()
    cap = connection_cap(HttpLimits())
    _closed: dict[str, int] = {}  # connections we closed since the last log line, by reason
    _logged = 0.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._phase = "headers"
        self._since = 0.0
        self._header_bytes = 0
        self._deadline: asyncio.TimerHandle | None = None

    # -- phases -------------------------------------------------------------------
    def _enter(self, phase: str, timeout: float | None) -> None:
        self._phase = phase
        self._since = self.loop.time()
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        if timeout is not None:
            self._deadline = self.loop.call_later(timeout, self._too_slow)

    def _too_slow(self) -> None:
        self._deadline = None
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(_TIMEOUT_ANSWER)
        self.transport.close()
        _note(f"slow {self._phase}")

    # -- uvicorn's protocol --------------------------------------------------------
    # uvicorn types it BaseTransport; ours is a Transport
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # see above
        super().connection_made(transport)
        self._enter("headers", self.limits.header_timeout)
        if len(self.connections) > self.cap:
            self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._phase = "closed"
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._phase != "headers":
            return
        self._header_bytes += len(data)  # the headers are still incomplete: all of it was header bytes
        if self._header_bytes > MAX_HEADER_BYTES and not self.transport.is_closing():
            self.transport.write(_TOO_LARGE_ANSWER)
            self.transport.close()
            _note("headers too large")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._phase in ("idle", "answering"):  # the next request of a kept-alive connection
            self._header_bytes = 0
            self._enter("headers", self.limits.header_timeout)

    def on_headers_complete(self) -> None:
        self._enter("body", self.limits.body_timeout)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        if self._phase == "body":
            self._enter("answering", None)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        pending = self.pipeline or (self.cycle is not None and not self.cycle.response_complete)
        if self._phase == "answering" and not pending and not self.transport.is_closing():
            self._enter("idle", None)  # uvicorn's keep-alive timer closes it if nothing comes

    # -- the cap -------------------------------------------------------------------
    def _make_room(self) -> None:
        """Close the longest-waiting connection without a whole request (or this new one)."""
        open_ = [c for c in self.connections if isinstance(c, GuardedProtocol) and c.transport is not None
                 and not c.transport.is_closing()]
        if len(open_) <= self.cap:
            return
        waiting = [c for c in open_ if c is not self and c._phase in _EVICTABLE]
        if not waiting:
            waiting = [c for c in open_ if c is not self and c._phase == "body"]
        victim = min(waiting, key=lambda c: c._since) if waiting else self
        victim.transport.close()
        _note(f"over the cap of {self.cap} connections")


def _note(reason: str) -> None:
    """Count a connection we closed; say so in the log at most every 10 s (an attack must not flood it)."""
    closed = GuardedProtocol._closed
    closed[reason] = closed.get(reason, 0) + 1
    now = time.monotonic()
    if now - GuardedProtocol._logged >= 10:
        log.warning("closed connections that did not send a whole request in time: %s",
                    ", ".join(f"{n} {why}" for why, n in sorted(closed.items())))
        closed.clear()
        GuardedProtocol._logged = now


def configure(limits: HttpLimits) -> type[GuardedProtocol]:
    """Set the limits (and the cap for this process's file limit); the protocol class for uvicorn's ``http``."""
    GuardedProtocol.limits = limits
    GuardedProtocol.cap = connection_cap(limits)
    return GuardedProtocol


def inherited_socket(fd: int) -> str:
    """``host:port`` of the listening TCP socket at ``fd`` (``serve --fd``); ValueError if it is not one."""
    try:
        sock = socket.socket(fileno=os.dup(fd))
    except OSError as exc:
        raise ValueError(f"--fd {fd}: not an open socket ({exc.strerror or exc})") from None
    with sock:
        listening = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
        if sock.type != socket.SOCK_STREAM or sock.family not in (socket.AF_INET, socket.AF_INET6) \
                or not listening:
            raise ValueError(f"--fd {fd}: expected a listening TCP socket")
        host, port = sock.getsockname()[:2]
    return f"{host}:{port}"


def free_address(host: str, port: int) -> str:
    """``host:port`` once a trial socket bound there as uvicorn's ``Config.bind_socket`` binds (and closed);
    ValueError when the port is taken or the address is not this machine's (uvicorn would say so only after
    start-up, and exit 3)."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as trial:
            trial.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            trial.bind((host, port))
    except OSError as exc:
        raise ValueError(cli_said("cli.collector.cannot_listen", address=f"{host}:{port}",
                                  error=exc.strerror or str(exc))) from None
    return f"{host}:{port}"
