"""Parsers for the output of ``ping`` and ``traceroute``/``tracert`` (a library, not a check).

Public, stable names: :func:`parse_ping` → :class:`PingStats`, :func:`parse_traceroute`
→ ``list[`` :class:`Hop` ``]``, and :func:`decode_console` for the bytes a console
program wrote.  They accept:

* Linux iputils and busybox ``ping``; Linux ``traceroute`` (Dmitry Butskoy's, Debian's),
  with or without ``-n``, with ``-A`` AS marks (``[AS0]``, ``[*]``) and ``!H``-style
  annotations, and a load-balanced hop's further routers whether on the hop's line
  (Linux) or on indented lines of their own (BSD/macOS, Cisco IOS);
* Windows ``ping`` and ``tracert`` in English;
* Windows in Chinese (zh-CN): full-width punctuation (``，`` ``。`` ``：``), ``<1 毫秒`` next to
  ``ms`` on one line, the ``tracert`` header wrapped over two lines or on one, IPv6
  replies without ``字节=``/``TTL``, DNS failure text, and bytes in the GBK code page
  (decode them with :func:`decode_console` first).

Parsers never raise.  Output they do not recognise gives ``PingStats.recognised``
False (the ping check turns that into UNKNOWN with the raw text kept), or an empty hop
list for traceroute.

**Linux's summary is authoritative.**  When Linux ``ping`` (iputils or busybox) prints
its statistics (``N packets transmitted, M received``, ``rtt min/avg/max/mdev = …``),
the received count and the RTTs come from them: the summary counts the replies ping
itself matched (not duplicates, not ICMP errors) and carries microseconds, while a reply
line prints three significant digits and may be garbled by another writer on the same
terminal or log, which must not count as a lost packet.  Without a summary (a capture
cut short) the reply lines are counted.

**The Windows trap.**  ``ping.exe`` counts "Destination host unreachable" replies
(``无法访问目标主机``) — sent by a router or by the local host — as *received* and can
print ``0% loss`` for a target that is down.  So for Windows output a probe counts as
answered only when its reply line carries a round-trip time and comes from the target
itself (when the header names the target's address); the summary gives the number sent,
never the number received.  ``PingStats.unreachable`` counts the error replies
(``PING: transmit failed``, ``PING：传输失败`` with zh-CN's full-width colon, included).
"""

from __future__ import annotations

import codecs
import re
import statistics
from dataclasses import dataclass, field

from checks import _logs
from checks.messages import say

__all__ = ["Hop", "HopMember", "PingStats", "decode_console", "parse_ping", "parse_traceroute", "trace_failure"]

log = _logs.get(__name__)  # logging itself only if a record needs it (checks/_logs.py)

# An IPv4 address, or an IPv6 one (optionally with a %zone).  Deliberately loose:
# the parser extracts what the tool printed; it does not validate addresses.
_IP = r"(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:%[\w.]+)?)"
_NUM = r"\d+(?:\.\d+)?"
_MS = r"(?:ms|毫秒|msec)"  # 毫秒 = milliseconds

# -- ping --------------------------------------------------------------------

# Headers: the target's address.
_PING_HEADERS = (
    re.compile(rf"^PING\s+\S+\s+\(({_IP})\)"),  # Linux: PING host (1.2.3.4) 56(84) bytes
    re.compile(rf"^PING\s+({_IP})\b"),  # Linux, older / IPv6: PING ::1(::1) 56 data bytes
    re.compile(rf"^Pinging\s+\S+\s+\[({_IP})\]"),  # Windows: Pinging host [1.2.3.4] with 32 bytes
    re.compile(rf"^Pinging\s+({_IP})\s"),  # Windows: Pinging 1.2.3.4 with 32 bytes
    re.compile(rf"^正在\s*Ping\s+\S+\s+\[({_IP})\]"),  # zh: 正在 Ping host [1.2.3.4] 具有 32 字节的数据
    re.compile(rf"^正在\s*Ping\s+({_IP})\s"),  # zh: 正在 Ping 1.2.3.4 具有 32 字节的数据
)
# A reply line and who sent it.
_REPLY_FROM = (
    re.compile(rf"^\d+\s+bytes\s+from\s+(?:\S+\s+\()?({_IP})\)?:"),  # Linux
    re.compile(rf"^Reply\s+from\s+({_IP})\s*:", re.I),  # Windows en
    re.compile(rf"^来自\s*({_IP})\s*的回复\s*[:：]"),  # zh: 来自 1.2.3.4 的回复:
)
_TIME = re.compile(rf"(?:time|时间)\s*([=<])\s*({_NUM})\s*{_MS}", re.I)
# Error replies: a router (or this host) answered instead of the target.
_ERROR_TEXT = re.compile(
    r"unreachable|TTL expired|无法访问目标主机|无法到达|传输中过期|General failure|一般故障|常见故障|"
    r"transmit failed|传输失败|Time to live exceeded|Packet filtered|Redirect", re.I)
# "From 192.0.2.1 icmp_seq=1 Destination Host Unreachable", "来自 [redacted] 的回复: 无法访问目标主机。"
_ANY_REPLY = re.compile(r"^(?:From|Reply\s+from|来自)\s", re.I)
# "PING: transmit failed. General failure." · zh-CN: "PING：传输失败。常见故障。" (a full-width colon)
_BARE_ERROR = re.compile(r"^(?:Destination\s|PING\s*[:：]|General failure|无法访问|一般故障|常见故障)", re.I)
_TIMEOUT = re.compile(r"Request timed out|请求超时")
# Summaries.
_LINUX_SUMMARY = re.compile(
    r"(\d+)\s+packets\s+transmitted,\s+(\d+)\s+(?:packets\s+)?received(?:,\s+\+(\d+)\s+errors)?", re.I)
_WIN_SUMMARY = re.compile(r"Sent\s*=\s*(\d+)\s*,\s*Received\s*=\s*(\d+)", re.I)
_ZH_SUMMARY = re.compile(r"已发送\s*=\s*(\d+)\s*[，,]\s*已接收\s*=\s*(\d+)")
_LINUX_RTT = re.compile(rf"(?:rtt|round-trip)\s+min/avg/max(?:/\w+)?\s*=\s*({_NUM})/({_NUM})/({_NUM})")
_LINUX_SEQ = re.compile(r"icmp_seq=(\d+)")
_DUP = re.compile(r"\(DUP!\)|DUP!")
# Name resolution and local failures: nothing was sent.
_RESOLVE_FAIL = re.compile(
    r"could not find host|找不到主机|Name or service not known|unknown host|"
    r"Temporary failure in name resolution|No address associated with hostname|"
    r"Unable to resolve target|无法解析目标系统名|nodename nor servname", re.I)
_LOCAL_FAIL = re.compile(r"Network is unreachable|connect:|sendmsg:|Operation not permitted", re.I)


@dataclass(frozen=True)
class PingStats:
    """What one ``ping`` run found.

    ``loss_ratio`` is 0–1.  The RTTs are ``None`` when nothing answered.
    ``recognised`` is False for output this parser does not know (``raw`` keeps it);
    ``error`` names a failure before any probe was sent ("cannot resolve host",
    "network unreachable").
    """

    sent: int = 0
    received: int = 0
    loss_ratio: float = 1.0
    rtt_min_ms: float | None = None
    rtt_avg_ms: float | None = None
    rtt_max_ms: float | None = None
    jitter_ms: float | None = None
    rtts_ms: tuple[float, ...] = ()
    unreachable: int = 0
    target: str | None = None
    error: str | None = None
    recognised: bool = False
    raw: str = field(default="", repr=False)


def parse_ping(text: str | bytes) -> PingStats:
    """Parse the output of Linux, Windows (English or zh-CN) ``ping``; never raises."""
    try:
        if isinstance(text, bytes):
            text = decode_console(text, None)
        if not isinstance(text, str):
            return PingStats(raw=repr(text)[:4000])
        return _parse_ping(text)
    except Exception as exc:  # noqa: BLE001 - a parser bug must not crash a check
        log.warning("ping output not understood (%s)", type(exc).__name__)
        return PingStats(raw=text if isinstance(text, str) else "")


@dataclass
class _PingLines:
    """What the lines of one ping run said, counted line by line (:meth:`read`)."""

    target: str | None = None
    rtts: list[float] = field(default_factory=list)
    answered_seqs: set[str] = field(default_factory=set)
    replies: int = 0
    timeouts: int = 0
    unreachable: int = 0
    summary: tuple[int, int] | None = None  # (sent, received) as the tool's summary line says
    trust_summary: bool = False  # Linux counts only answers from the target; Windows counts any
    linux_rtt: tuple[float, float, float] | None = None
    error: str | None = None

    def read(self, line: str) -> None:
        """Take one non-empty, stripped line: a header, a summary, an error, a reply or a timeout."""
        if self.target is None:
            for rx in _PING_HEADERS:
                m = rx.search(line)
                if m:
                    self.target = _bare(m.group(1))
                    break
        m = _LINUX_SUMMARY.search(line)
        if m:
            self.summary, self.trust_summary = (int(m.group(1)), int(m.group(2))), True
            return
        m = _WIN_SUMMARY.search(line) or _ZH_SUMMARY.search(line)
        if m:
            self.summary, self.trust_summary = (int(m.group(1)), int(m.group(2))), False
            return
        m = _LINUX_RTT.search(line)
        if m:
            self.linux_rtt = (float(m.group(1)), float(m.group(2)), float(m.group(3)))
            return
        if _RESOLVE_FAIL.search(line):
            self.error = "cannot resolve host"
            return
        if _LOCAL_FAIL.search(line):
            self.error = self.error or "network unreachable"
            return
        source, tail = None, line
        for rx in _REPLY_FROM:
            m = rx.search(line)
            if m:
                source, tail = _bare(m.group(1)), line[m.end():]
                break
        time_m = _TIME.search(tail)
        if source is not None and time_m and not _ERROR_TEXT.search(tail):
            self._reply(source, tail, time_m)
        elif _TIMEOUT.search(line):
            self.timeouts += 1
        elif _ERROR_TEXT.search(tail) and (source is not None or _ANY_REPLY.match(line)
                                           or _BARE_ERROR.match(line)):
            self.unreachable += 1

    def _reply(self, source: str, tail: str, time_m: re.Match[str]) -> None:
        """An answer with a time: the target's (counted once per sequence number) or another host's."""
        if self.target is not None and source != self.target:
            self.unreachable += 1  # an answer with a time, but not from the target
            return
        if _DUP.search(tail):
            return
        seq = _LINUX_SEQ.search(tail)
        if seq:
            if seq.group(1) in self.answered_seqs:
                return
            self.answered_seqs.add(seq.group(1))
        self.replies += 1
        self.rtts.append(_rtt(time_m.group(1), float(time_m.group(2))))

    def counts(self) -> tuple[int, int]:
        """(sent, received): the summary's when there is one, else the probes seen."""
        per_probe = self.replies + self.timeouts + self.unreachable
        if self.summary is not None:
            sent = self.summary[0]
            received = self.summary[1] if self.trust_summary else self.replies
        elif per_probe:
            sent, received = per_probe, self.replies
        else:
            sent = received = 0
        return sent, (min(received, sent) if sent else received)

    def rtt_range(self, received: int) -> tuple[float | None, float | None, float | None]:
        """(min, avg, max) in ms: Linux's own summary when trusted (microseconds), else the replies'."""
        if self.trust_summary and received and self.linux_rtt is not None:
            return self.linux_rtt  # the replies print 3 significant digits
        if self.rtts:
            return min(self.rtts), statistics.fmean(self.rtts), max(self.rtts)
        return None, None, None


def _parse_ping(text: str) -> PingStats:
    lines = _PingLines()
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if line:
            lines.read(line)
    sent, received = lines.counts()
    rtt_min, rtt_avg, rtt_max = lines.rtt_range(received)
    rtts = lines.rtts
    jitter = (statistics.fmean(abs(b - a) for a, b in zip(rtts, rtts[1:], strict=False))
              if len(rtts) > 1 else (0.0 if rtts else None))
    loss = 1.0 - received / sent if sent else 1.0
    return PingStats(
        sent=sent, received=received, loss_ratio=round(max(0.0, min(1.0, loss)), 6),
        rtt_min_ms=_round(rtt_min), rtt_avg_ms=_round(rtt_avg), rtt_max_ms=_round(rtt_max),
        jitter_ms=_round(jitter), rtts_ms=tuple(rtts), unreachable=lines.unreachable, target=lines.target,
        error=lines.error if sent == 0 or received == 0 else None,
        recognised=sent > 0 or lines.error is not None, raw=text,
    )


def _rtt(op: str, value: float) -> float:
    """``time<1ms`` means somewhere below 1 ms: count it as half of it."""
    return value / 2 if op == "<" else value


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 3)


def _bare(address: str) -> str:
    return address.strip("[]()").lower()


# -- traceroute ----------------------------------------------------------------

@dataclass(frozen=True)
class HopMember:
    """One address that answered a TTL, with the round-trip times of the probes it answered."""

    address: str
    rtts_ms: tuple[float, ...] = ()


@dataclass(frozen=True)
class Hop:
    """One TTL of a trace.

    ``rtts_ms`` has one entry per probe in the order printed, ``None`` for a lost one
    (``*``).  ``members`` lists every address that answered (a load-balanced hop answers
    from several routers), each with the RTTs of its own probes; ``address`` is the
    first of them (``None`` when no probe of this TTL was answered).  ``annotations``
    keeps ``!H``/``!N``-style marks (ICMP unreachable replies).
    """

    ttl: int
    rtts_ms: tuple[float | None, ...]
    members: tuple[HopMember, ...] = ()
    annotations: tuple[str, ...] = ()

    @property
    def address(self) -> str | None:
        return self.members[0].address if self.members else None

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(m.address for m in self.members)


_HOP_LINE = re.compile(r"^\s*(\d{1,3})\s+(.*)$")
# A load-balanced hop's further responders on lines of their own (BSD/macOS traceroute,
# Cisco IOS): indented, no TTL number.
_CONTINUATION = re.compile(r"^\s+\S")
_TOKEN = re.compile(
    rf"(?P<lt><)?\s*(?<![\w.-])(?P<rtt>{_NUM})\s*{_MS}(?![A-Za-z])"  # 0.050 ms · <1 毫秒 · 2 ms · 464 msec
    rf"|\[(?P<bracket>{_IP})\]"  # Windows: name [ip]
    rf"|\[(?:AS[\w/.-]*|\*)\]"  # traceroute -A: [AS15169], [AS0], [*] (no AS known): not an answer
    rf"|(?P<star>\*)"
    rf"|(?P<ann>!(?:<\d+>|[A-Za-z]?\d*))"  # !H !N !X !P !<10>
    rf"|\((?P<paren>{_IP})\)"  # Linux without -n: name (ip)
    rf"|(?P<ip>(?<![\w.:]){_IP}(?![\w.:]))"
)


def parse_traceroute(text: str | bytes) -> list[Hop]:
    """Parse Linux ``traceroute`` or Windows ``tracert`` (English or zh-CN); never raises.

    Output without a single hop line gives an empty list.
    """
    try:
        if isinstance(text, bytes):
            text = decode_console(text, None)
        if not isinstance(text, str):
            return []
        return _parse_traceroute(text)
    except Exception as exc:  # noqa: BLE001 - a parser bug must not crash a check
        log.warning("traceroute output not understood (%s)", type(exc).__name__)
        return []


@dataclass
class _HopParts:
    rtts: list[float | None] = field(default_factory=list)
    members: dict[str, list[float]] = field(default_factory=dict)  # in first-answer order
    annotations: list[str] = field(default_factory=list)

    def read(self, rest: str) -> bool:
        """Add one line's tokens; True when the line held an address or a probe."""
        current: str | None = None
        unclaimed: list[float] = []  # Windows prints the times before the address
        seen = False
        for tok in _TOKEN.finditer(rest):
            if tok.group("rtt") is not None:
                value = float(tok.group("rtt"))
                value = value / 2 if tok.group("lt") else value
                self.rtts.append(value)
                (unclaimed if current is None else self.members[current]).append(value)
                seen = True
            elif tok.group("star"):
                self.rtts.append(None)
                seen = True
            elif tok.group("ann"):
                self.annotations.append(tok.group("ann"))
            else:
                addr = tok.group("bracket") or tok.group("paren") or tok.group("ip")
                if addr is None:
                    continue  # an [AS...] mark
                current = _bare(addr)
                self.members.setdefault(current, []).extend(unclaimed)
                unclaimed = []
                seen = True
        return seen

    def hop(self, ttl: int) -> Hop:
        return Hop(ttl=ttl, rtts_ms=tuple(self.rtts),
                   members=tuple(HopMember(a, tuple(r)) for a, r in self.members.items()),
                   annotations=tuple(self.annotations))


def _parse_traceroute(text: str) -> list[Hop]:
    hops: list[tuple[int, _HopParts]] = []
    after_hop = False  # the previous line was a hop (or its continuation)
    for raw_line in text.splitlines():
        if not raw_line.strip():
            after_hop = False
            continue
        m = _HOP_LINE.match(raw_line)
        if m:
            ttl = int(m.group(1))
            parts = _HopParts()
            if 1 <= ttl <= 255 and (not hops or ttl > hops[-1][0]) and parts.read(m.group(2)):
                hops.append((ttl, parts))
                after_hop = True
            else:
                after_hop = False  # a numbered line that is not a hop
            continue
        if after_hop and _CONTINUATION.match(raw_line):
            extra = _HopParts()
            if extra.read(raw_line) and extra.members:
                held = hops[-1][1]
                held.rtts += extra.rtts
                held.annotations += extra.annotations
                for addr, rtts in extra.members.items():
                    held.members.setdefault(addr, []).extend(rtts)
                continue
        after_hop = False
    return [parts.hop(ttl) for ttl, parts in hops]


def trace_failure(text: str) -> str | None:
    """Why a trace printed no hops, when the tool said so ("cannot resolve host")."""
    try:
        if _RESOLVE_FAIL.search(text):
            return "cannot resolve host"
        if _LOCAL_FAIL.search(text):
            return say("ping.error.unreachable")
    except Exception:  # noqa: BLE001
        return None
    return None


# -- bytes from a console program ------------------------------------------------

_CODEPAGE_ALIASES = {"936": "gbk", "cp936": "gbk", "65001": "utf-8", "54936": "gb18030", "950": "big5"}


def decode_console(data: bytes, codepage: str | None) -> str:
    """Text from a console program's output bytes; never raises.

    ``codepage`` is the console's code page as Windows names it (``"936"``, ``"cp936"``,
    ``"65001"``) or any Python codec name.  Without one (or with an unknown one): UTF-8
    if the bytes are valid UTF-8, else GB18030 (a superset of GBK, so zh-CN Windows
    output reads right), else Latin-1 with nothing lost.
    """
    if isinstance(data, str):
        return data
    try:
        data = bytes(data)
    except (TypeError, ValueError):
        return ""
    if codepage:
        name = str(codepage).strip().lower()
        name = _CODEPAGE_ALIASES.get(name, f"cp{name}" if name.isdigit() else name)
        try:
            codecs.lookup(name)
        except LookupError:
            log.warning("unknown console code page %r; guessing the encoding", codepage)
        else:
            return data.decode(name, errors="replace")
    for name in ("utf-8", "gb18030"):
        try:
            return data.decode(name)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")
