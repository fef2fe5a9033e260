"""port: a TCP connect to host:port, timed — what a user of a database port feels.

Works where ICMP is blocked. The name is resolved first (timed apart, so a
slow DNS server is not blamed on the port), then each resolved address is
tried in turn until one accepts; ``connect_seconds`` is the handshake time
of the address that answered. Nothing is sent: the connection is closed at
once (SQL Server, Oracle listeners and HIS interface engines log nothing
worse than an empty session).

The same check is registered as ``tcp`` (see :mod:`checks.tcp`): one
implementation, two names, because the host and the network catalogues
both name it. One result; item = ``host:port``.

======== =================================================================
status   meaning
======== =================================================================
OK       connected; handshake faster than ``warn``
WARNING  connected, handshake took ``warn`` (default 1 s) or longer
CRITICAL connected, handshake took ``crit`` (default 3 s) or longer;
         or "connection refused" (nothing listens; the service is down);
         or "no answer within N s" (a firewall drops the packets, or the
         host is down); or "cannot resolve NAME" (DNS); or the network
         or host is unreachable
UNKNOWN  ``host`` or ``port`` is not set
======== =================================================================

Metrics: ``connect_seconds`` (s, with warn/crit), ``resolve_seconds`` (s).
"""

from __future__ import annotations

import errno
import socket
import time
from collections.abc import Callable

from checks._judge import above
from checks._params.port import PortParams
from checks.context import CheckContext
from checks.messages import say
from checks.result import Metric, Result, Status

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeAlias

__all__ = ["PortParams", "probe", "run"]

NAME = "port"

Resolver: TypeAlias = "Callable[[str, int], list[tuple[Any, ...]]]"


def _resolve(host: str, port: int) -> list[tuple[Any, ...]]:
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)


def _connect(family: int, address: Any, timeout: float) -> None:
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(address)


def standard(params: PortParams) -> str:
    return say("port.standard", warn=params.warn)


def probe(params: PortParams, ctx: CheckContext, *, check: str = NAME,
          resolve: Resolver = _resolve,
          connect: Callable[[int, Any, float], None] = _connect) -> list[Result]:
    """Resolve, connect, judge; the shared body of ``port`` and ``tcp``."""
    item = f"{params.host}:{params.port}"
    std = standard(params)
    if not params.host or not params.port:
        return [Result(check=check, item=item if params.host else "", status=Status.UNKNOWN, standard=std,
                       summary=say("port.not_configured", example="--param host=his-db-01 --param port=1433",
                                   host=repr(params.host), port=params.port))]
    timeout = min(float(params.timeout), max(0.5, ctx.timeout_s - 1.0))
    t0 = time.perf_counter()
    try:
        infos = resolve(params.host, params.port)
    except (socket.gaierror, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, socket.gaierror) and exc.strerror else str(exc)
        return [Result(check=check, item=item, status=Status.CRITICAL, standard=std,
                       summary=say("port.unresolved", host=params.host, reason=reason),
                       details={"error": "dns", "reason": reason})]
    resolve_s = time.perf_counter() - t0
    attempts: list[dict[str, Any]] = []
    for family, _type, _proto, _canon, address in infos:
        t1 = time.perf_counter()
        try:
            connect(family, address, timeout)
        except TimeoutError:
            attempts.append({"address": address[0], "error": "timeout"})
            continue
        except OSError as exc:
            attempts.append({"address": address[0],
                             "error": errno.errorcode.get(exc.errno or 0, "error"),
                             "reason": exc.strerror or str(exc)})
            continue
        connect_s = time.perf_counter() - t1
        status = above(connect_s, params.warn, params.crit)
        limit = params.crit if status is Status.CRITICAL else params.warn
        return [Result(
            check=check, item=item, status=status, standard=std,
            summary=say("port.connected", item=item, connect=connect_s) if status is Status.OK else
            say("port.connected_slow", item=item, connect=connect_s, limit=limit),
            metrics=(Metric("connect_seconds", round(connect_s, 6), "s", warn=params.warn, crit=params.crit,
                            min=0),
                     Metric("resolve_seconds", round(resolve_s, 6), "s", min=0)),
            details={"address": address[0], "failed_attempts": attempts} if attempts
            else {"address": address[0]})]
    return [Result(check=check, item=item, status=Status.CRITICAL, standard=std,
                   summary=_failure_summary(item, attempts, timeout),
                   metrics=(Metric("connect_seconds", None, "s", warn=params.warn, crit=params.crit),
                            Metric("resolve_seconds", round(resolve_s, 6), "s", min=0)),
                   details={"attempts": attempts})]


def _failure_summary(item: str, attempts: list[dict[str, Any]], timeout: float) -> str:
    if not attempts:
        return say("port.no_address", item=item)
    errors = {a["error"] for a in attempts}
    where = str(attempts[0]["address"]) if len(attempts) == 1 else say("port.addresses", n=len(attempts))
    if errors == {"ECONNREFUSED"}:
        return say("port.refused", item=item, where=where)
    if errors == {"timeout"}:
        return say("port.timeout", item=item, timeout=timeout, where=where)
    reasons = [say("port.attempt", address=a["address"], reason=a["reason"]) if "reason" in a else
               say("port.attempt_silent", address=a["address"], timeout=timeout) for a in attempts]
    return say("port.cannot_connect", item=item, attempts=reasons)


def run(params: PortParams, ctx: CheckContext, **seams: Any) -> list[Result]:
    return probe(params, ctx, check=NAME, **seams)
