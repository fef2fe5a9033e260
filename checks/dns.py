"""dns: resolve a name, compare the addresses with the expected ones, time it.

Two ways to ask, chosen by ``server``:

* no ``server`` (default): the system resolver (``getaddrinfo``: hosts file,
  the configured DNS servers, on Windows the domain's) — what the HIS
  client on this machine gets. It has no timeout of its own, so it runs in
  a worker thread that is abandoned after ``timeout``.
* ``server`` set: one UDP query (RD set) straight to that DNS server with
  a small standard-library query builder and answer parser (A, AAAA, CNAME
  chains; name compression), so a broken hospital DNS server is seen even
  when this machine's resolver would fall back to another. A truncated
  answer (TC) is used as far as it goes; no TCP retry.

``record`` is ``A`` (IPv4, default) or ``AAAA`` (IPv6). With ``expect``,
the set of addresses must equal it exactly (order does not matter): a
missing address and an unexpected extra one (a hijacked or stale entry)
are both CRITICAL. One result; item = the name (``name@server`` with a
server).

======== =================================================================
status   meaning
======== =================================================================
OK       resolved (to the expected addresses, if given) faster than
         ``warn``
WARNING  resolving took ``warn`` (default 1 s) or longer
CRITICAL resolving took ``crit`` (default 3 s) or longer; or the name does
         not exist (NXDOMAIN / no such name) or has no address of this
         type; or the addresses differ from ``expect``; or the server
         answers SERVFAIL/REFUSED; or no answer within ``timeout``
UNKNOWN  no ``name`` set; or the server's answer cannot be parsed
======== =================================================================

Metrics: ``resolve_seconds`` (s, with warn/crit), ``addresses`` (count).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from checks._files import TimedOut, call_with_timeout
from checks._judge import above
from checks._params.dns import _TYPES, DnsParams
from checks.context import CheckContext
from checks.messages import say
from checks.result import Metric, Result, Status

__all__ = ["DnsError", "DnsParams", "build_query", "parse_answer", "run"]

NAME = "dns"
_CNAME = 5
_RCODES = (1, 2, 3, 4, 5)  # with words: dns.rcode.<n>


class DnsError(Exception):
    """No usable answer: ``status`` is how it is judged, the message says why."""

    def __init__(self, message: str, status: Status = Status.CRITICAL):
        super().__init__(message)
        self.status = status
        self.said = message  # a say() text keeps its key


# -- the wire format (RFC 1035) -------------------------------------------------

def build_query(name: str, qtype: int, query_id: int) -> bytes:
    """A standard query with recursion desired for ``name``."""
    header = struct.pack("!HHHHHH", query_id, 0x0100, 1, 0, 0, 0)
    labels = b""
    for label in name.rstrip(".").split("."):
        raw = label.encode("idna") if label else b""
        if not raw or len(raw) > 63:
            raise DnsError(f"{name!r} is not a valid DNS name", Status.UNKNOWN)
        labels += bytes([len(raw)]) + raw
    return header + labels + b"\0" + struct.pack("!HH", qtype, 1)


def _skip_name(data: bytes, pos: int) -> int:
    for _ in range(128):
        length = data[pos]
        if length & 0xC0 == 0xC0:
            return pos + 2
        if length == 0:
            return pos + 1
        pos += 1 + length
    raise ValueError("name too long")


def _read_name(data: bytes, pos: int) -> str:
    labels: list[str] = []
    for _ in range(128):  # bounded: a pointer loop cannot hang us
        length = data[pos]
        if length & 0xC0 == 0xC0:
            pos = ((length & 0x3F) << 8) | data[pos + 1]
            continue
        if length == 0:
            return ".".join(labels).lower()
        labels.append(data[pos + 1:pos + 1 + length].decode("ascii", "replace"))
        pos += 1 + length
    raise ValueError("compression loop")


@dataclass
class Answer:
    rcode: int
    truncated: bool
    addresses: list[str] = field(default_factory=list)
    cnames: list[str] = field(default_factory=list)


def parse_answer(data: bytes, query_id: int, qtype: int) -> Answer:
    """Addresses of type ``qtype`` (following CNAMEs in the answer); ValueError if malformed."""
    try:
        rid, flags, qd, an, _ns, _ar = struct.unpack("!HHHHHH", data[:12])
        if rid != query_id or not flags & 0x8000:
            raise ValueError("not the answer to our query")
        out = Answer(rcode=flags & 0xF, truncated=bool(flags & 0x0200))
        pos = 12
        for _ in range(qd):
            pos = _skip_name(data, pos) + 4
        for _ in range(an):
            owner_end = _skip_name(data, pos)
            rtype, _rclass, _ttl, rdlen = struct.unpack("!HHIH", data[owner_end:owner_end + 10])
            rdata = owner_end + 10
            if rdata + rdlen > len(data):
                if out.truncated:
                    break
                raise ValueError("record runs past the end")
            if rtype == qtype == 1 and rdlen == 4:
                out.addresses.append(socket.inet_ntop(socket.AF_INET, data[rdata:rdata + 4]))
            elif rtype == qtype == 28 and rdlen == 16:
                out.addresses.append(socket.inet_ntop(socket.AF_INET6, data[rdata:rdata + 16]))
            elif rtype == _CNAME:
                out.cnames.append(_read_name(data, rdata))
            pos = rdata + rdlen
        return out
    except (struct.error, IndexError) as exc:
        raise ValueError(f"malformed DNS answer ({exc})") from exc


def ask_server(name: str, qtype: int, server: str, port: int, timeout: float) -> tuple[list[str], list[str]]:
    """Addresses and CNAMEs from one UDP query to ``server``; DnsError when there are none."""
    query_id = int.from_bytes(os.urandom(2), "big")
    packet = build_query(name, qtype, query_id)
    try:
        family, _t, _p, _c, address = socket.getaddrinfo(server, port, type=socket.SOCK_DGRAM)[0]
    except socket.gaierror as exc:
        raise DnsError(say("dns.server_unresolved", server=server, error=exc.strerror or str(exc))) from exc
    deadline = time.monotonic() + timeout
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.connect(address)
        s.send(packet)
        while True:
            s.settimeout(max(0.001, deadline - time.monotonic()))
            try:
                data = s.recv(4096)
            except TimeoutError:
                raise DnsError(say("dns.timeout", server=server, timeout=timeout)) from None
            except ConnectionRefusedError:
                raise DnsError(say("dns.no_service", server=server)) from None
            if len(data) >= 2 and int.from_bytes(data[:2], "big") == query_id:
                break  # anything else is a stray packet: keep waiting
    try:
        answer = parse_answer(data, query_id, qtype)
    except ValueError as exc:
        raise DnsError(say("dns.unreadable", server=server, error=str(exc)), Status.UNKNOWN) from exc
    if answer.rcode:
        rcode = say(f"dns.rcode.{answer.rcode}") if answer.rcode in _RCODES else \
            say("dns.rcode_other", rcode=answer.rcode)
        raise DnsError(say("dns.answered", server=server, rcode=rcode))
    if not answer.addresses:
        raise DnsError(say("dns.no_record", server=server, record="A" if qtype == 1 else "AAAA"))
    return answer.addresses, answer.cnames


def ask_system(name: str, qtype: int, timeout: float) -> tuple[list[str], list[str]]:
    """Addresses from the system resolver, abandoned after ``timeout``."""
    family = socket.AF_INET if qtype == 1 else socket.AF_INET6
    try:
        infos = call_with_timeout(lambda: socket.getaddrinfo(name, None, family, socket.SOCK_STREAM), timeout,
                                  "dns-resolve")
    except TimedOut:
        raise DnsError(say("dns.system_timeout", timeout=timeout)) from None
    except socket.gaierror as exc:
        if exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", -5)):
            raise DnsError(say("dns.no_such_name", error=str(exc.strerror))) from None
        raise DnsError(say("dns.cannot_resolve", error=exc.strerror or str(exc))) from None
    except (OSError, UnicodeError) as exc:
        raise DnsError(say("dns.cannot_resolve", error=str(exc))) from None
    seen: list[str] = []
    for info in infos:
        addr = str(info[4][0]).split("%")[0]
        if addr not in seen:
            seen.append(addr)
    return seen, []


def run(params: DnsParams, ctx: CheckContext, *,
        system: Callable[[str, int, float], tuple[list[str], list[str]]] = ask_system,
        server: Callable[[str, int, str, int, float], tuple[list[str], list[str]]] = ask_server,
        ) -> list[Result]:
    item = params.name + (f"@{params.server}" if params.server else "")
    standard: str = say("dns.standard_expect", warn=params.warn, expect=", ".join(params.expect)) if params.expect \
        else say("dns.standard", warn=params.warn)
    standard = standard if len(standard) <= 200 else standard[:200]
    if not params.name:
        return [Result(check=NAME, item="", status=Status.UNKNOWN, standard=standard,
                       summary=say("dns.not_configured", example="--param name=his-db.hospital.local"))]
    qtype = _TYPES[params.record.upper()]
    timeout = min(float(params.timeout), max(0.5, ctx.timeout_s - 1.0))
    t0 = time.perf_counter()
    try:
        if params.server:
            addresses, cnames = server(params.name, qtype, params.server, params.port, timeout)
        else:
            addresses, cnames = system(params.name, qtype, timeout)
    except DnsError as exc:
        return [Result(check=NAME, item=item, status=exc.status, standard=standard,
                       summary=say("dns.failed", item=item, text=exc.said),
                       metrics=(Metric("resolve_seconds", None, "s", warn=params.warn, crit=params.crit),))]
    elapsed = time.perf_counter() - t0
    statuses = [above(elapsed, params.warn, params.crit)]
    shown = ", ".join(addresses[:8]) + (" …" if len(addresses) > 8 else "")
    details: dict[str, object] = {"addresses": addresses[:50], "record": params.record.upper()}
    if cnames:
        details["cnames"] = cnames[:10]
    parts = [say("dns.resolved", item=item, shown=shown, elapsed=elapsed) if statuses[0] is Status.OK else
             say("dns.resolved_slow", item=item, shown=shown, elapsed=elapsed,
                 limit=params.crit if statuses[0] is Status.CRITICAL else params.warn)]
    if params.expect:
        want = {ipaddress.ip_address(a) for a in params.expect}
        got = {ipaddress.ip_address(a) for a in addresses}
        missing = sorted(str(a) for a in want - got)
        extra = sorted(str(a) for a in got - want)
        if missing or extra:
            statuses.append(Status.CRITICAL)
            parts.append(say("dns.differs", parts=[
                *([say("dns.missing", addresses=", ".join(missing))] if missing else []),
                *([say("dns.unexpected", addresses=", ".join(extra))] if extra else [])]))
            details.update(missing=missing, unexpected=extra)
    text = parts[0] if len(parts) == 1 else say("results.joined", parts=parts)
    return [Result(check=NAME, item=item[:255], status=Status.worst(statuses), standard=standard,
                   summary=text if len(text) <= 1000 else text[:1000],
                   metrics=(Metric("resolve_seconds", round(elapsed, 6), "s", warn=params.warn,
                                   crit=params.crit, min=0),
                            Metric("addresses", float(len(addresses)), "", min=0)),
                   details=details)]
