"""A minimal SNTP client (RFC 4330) with the standard library.

One 48-byte request (LI 0, version 4, mode 3 = client) with our transmit
time; the answer's receive (T2) and transmit (T3) times and our own send
(T1) and receive (T4) times give

* offset θ = ((T2 − T1) + (T3 − T4)) / 2 — positive when the server's clock
  is ahead of ours (our clock is behind), and
* round-trip delay δ = (T4 − T1) − (T3 − T2).

An answer is refused (:class:`SntpError`) when it is not a server answer
(mode 4, or 5 broadcast), does not echo our transmit time as its originate
time (a stale or spoofed packet), is a kiss-o'-death (stratum 0: ``RATE``,
``DENY``, ``RSTR``…; :class:`KissOfDeath`), or has a zero transmit time. A
server with leap indicator 3 or stratum 16 is *unsynchronised*: the answer
is returned with ``synchronised=False`` for the caller to judge.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from checks.messages import say

__all__ = ["KissOfDeath", "SntpAnswer", "SntpError", "query", "to_ntp", "from_ntp"]

NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900-01-01 to 1970-01-01
_PACKET = struct.Struct("!BBbbII4sQQQQ")


class SntpError(Exception):
    """No usable answer; the message says why."""


class KissOfDeath(SntpError):
    """The server told us to go away (stratum 0); ``code`` is its ASCII kiss code."""

    def __init__(self, code: str):
        super().__init__(say("clock.kiss_rate" if code == "RATE" else "clock.kiss_deny" if code in ("DENY", "RSTR")
                             else "clock.kiss", code=repr(code)))
        self.code = code


@dataclass(frozen=True)
class SntpAnswer:
    offset_s: float
    delay_s: float
    stratum: int
    leap: int
    synchronised: bool
    reference: str  # reference id: an IPv4 address or an ASCII source such as GPS
    server_time: float  # Unix time of T3


def to_ntp(unix: float) -> int:
    """Unix seconds → 64-bit NTP timestamp (era 0)."""
    t = unix + NTP_EPOCH_OFFSET
    return (int(t) << 32 | int((t - int(t)) * 2 ** 32)) & 0xFFFFFFFFFFFFFFFF


def from_ntp(value: int) -> float:
    """64-bit NTP timestamp → Unix seconds (era 0; values before 1968 are taken as era 1, after 2036)."""
    seconds, fraction = value >> 32, value & 0xFFFFFFFF
    if seconds < 0x80000000:  # RFC 4330 §3: MSB 0 means era 1 (2036-2104)
        seconds += 2 ** 32
    return seconds - NTP_EPOCH_OFFSET + fraction / 2 ** 32


def _reference(stratum: int, ref: bytes) -> str:
    if stratum <= 1:
        return ref.rstrip(b"\0").decode("ascii", "replace")
    return socket.inet_ntoa(ref)


def query(server: str, port: int = 123, *, timeout: float = 5.0,
          clock: Callable[[], float] = time.time) -> SntpAnswer:
    """Ask ``server`` once. OSError for network failures (TimeoutError for no answer), SntpError else."""
    infos = socket.getaddrinfo(server, port, type=socket.SOCK_DGRAM)
    family, _t, _p, _c, address = infos[0]
    # A random transmit time would hide our clock (RFC 4330 §3 allows it); we send the real one
    # with random low bits so the echo check also defeats blind spoofing.
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.connect(address)
        t1 = clock()
        transmit = (to_ntp(t1) & ~0xFFFF) | int.from_bytes(os.urandom(2), "big")
        s.send(_PACKET.pack(0 << 6 | 4 << 3 | 3, 0, 0, 0, 0, 0, b"\0" * 4, 0, 0, 0, transmit))
        deadline = time.monotonic() + timeout
        while True:
            s.settimeout(max(0.001, deadline - time.monotonic()))
            data = s.recv(512)
            t4 = clock()
            if len(data) >= _PACKET.size:
                fields = _PACKET.unpack(data[:_PACKET.size])
                if fields[8] == transmit:  # originate == our transmit: the answer to our request
                    break
            if time.monotonic() >= deadline:
                raise TimeoutError("no matching answer")
    first, stratum, _poll, _prec, _rdelay, _rdisp, ref, _reft, _orig, recv_ts, xmit_ts = fields
    leap, mode = first >> 6, first & 0x7
    if mode not in (4, 5):
        raise SntpError(say("clock.not_server", mode=mode))
    if stratum == 0:
        raise KissOfDeath(ref.rstrip(b"\0").decode("ascii", "replace") or "?")
    if xmit_ts == 0:
        raise SntpError(say("clock.no_transmit"))
    t2, t3 = from_ntp(recv_ts), from_ntp(xmit_ts)
    t1_sent = from_ntp(transmit)
    offset = ((t2 - t1_sent) + (t3 - t4)) / 2
    delay = (t4 - t1_sent) - (t3 - t2)
    return SntpAnswer(offset_s=offset, delay_s=max(0.0, delay), stratum=stratum, leap=leap,
                      synchronised=leap != 3 and stratum < 16, reference=_reference(stratum, ref),
                      server_time=t3)
