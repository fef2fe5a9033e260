"""logscan: new lines of a log file, or new Windows events, that match what is worth an alert.

Two sources, each giving one result; both may be configured at once.

**A log file** (``path``; item = the path).  Each run reads only the lines
written since the previous run and matches each against ``critical_patterns``
and ``patterns`` (regular expressions, searched anywhere in the line) after
dropping lines that match ``ignore``.  The check remembers, in its state, the
file's inode, the offset read up to and a hash of its first bytes, so that:

- the **first run starts at the end** of the file: months of old history do
  not raise alerts on the day the agent is installed (``from_start: true``
  scans the existing content once instead);
- a **rotated** file (renamed, a new one created: logrotate's default, or a
  Windows application starting a new file) is noticed by its inode: the rest
  of the old file is read if it is still beside the new one (``<path>.1``,
  ``<path>-20261123``, ``<path>.2026-11-23``...; compressed ones are not
  opened), then the new file from its start;
- a **truncated** file (logrotate's ``copytruncate``, or an application that
  empties its log) is noticed by a size below the offset or by changed first
  bytes, and read from its start.

At most ``max_lines`` lines and ``max_bytes`` bytes are read per run; the rest
waits for the next run and the summary says so.  A line still being written
(no newline yet) waits for the next run.  Text is decoded as ``encoding``
(``utf-8`` by default, ``gbk``/``gb18030`` for Chinese Windows applications),
undecodable bytes replaced, never an error.

**Windows events** (``channels``, e.g. ``[System, Application]``; item =
``eventlog:<channel>``).  Each run asks ``wevtutil qe <channel> /q:<XPath>
/f:xml /rd:true /c:<max_events>`` for events newer than the last
``EventRecordID`` seen that are of interest (below), no older than
``lookback``; the XML is parsed (namespace
``http://schemas.microsoft.com/win/2004/08/events/event``).  The first run
records the newest record id and reports nothing old.  A record id below the
remembered one means the log was cleared: reading restarts, bounded by
``lookback``.

An event ID means something only with its provider: Kernel-Processor-Power
writes event 55 once per logical processor at every boot, Ntfs writes 98 "volume
is healthy" for every volume, Kernel-General writes 11, all informational, while
55 from Ntfs means a corrupt file system.  So the default events
(``default_events: true``) name their provider and the highest level they are
written at; the IDs other providers use often are filtered by provider in the
query itself, so a boot's flood cannot crowd out the events that matter:

=========== =================================== ===== =========================== ========
event id    provider                            level meaning                     status
=========== =================================== ===== =========================== ========
41          Microsoft-Windows-Kernel-Power      1     rebooted without a clean    CRITICAL
                                                      shutdown
6008        EventLog                            2     the previous shutdown was   CRITICAL
                                                      unexpected
7034        Service Control Manager             2     a service terminated        CRITICAL
                                                      unexpectedly
7031        Service Control Manager             2     the same, and a recovery    WARNING
                                                      action was taken
7, 11       disk                                2     bad block; controller error CRITICAL
55          Ntfs, Microsoft-Windows-Ntfs        2     file system corrupt         CRITICAL
98          Ntfs, Microsoft-Windows-Ntfs        any   the volume needs a scan or  CRITICAL
                                                      chkdsk: its
                                                      CorruptionActionState is
                                                      not 0 ("healthy")
51, 153     disk                                3     paging error; I/O retried   WARNING
129         any (the storage miniport driver)   3     reset to device (a RaidPort WARNING
                                                      or ScsiPort device)
104         Microsoft-Windows-Eventlog          any   the System log was cleared  WARNING
1102        Microsoft-Windows-Eventlog          any   the Security log was        WARNING
            (Security channel)                        cleared
=========== =================================== ===== =========================== ========

Defaults apply to their channel only (System, 1102 Security).  ``critical_ids``
and ``warning_ids`` add IDs from any provider (e.g. SQL Server's 823/824 in
Application); ``levels`` adds events by level from any provider: 1 (Critical)
is CRITICAL, 2 (Error) and 3 (Warning) are WARNING.  ``default_events: false``
leaves only those.

======== ==============================================================
status   meaning
======== ==============================================================
OK       no new line matched (or this first run only noted where to
         start); no new event of interest
WARNING  a new line matched ``patterns``; a new WARNING default event, an
         event with an ID in ``warning_ids`` or of level 2/3 in ``levels``
CRITICAL a new line matched ``critical_patterns``; a new CRITICAL default
         event, an event with an ID in ``critical_ids`` or of level 1 in
         ``levels``
UNKNOWN  the file cannot be read (missing, no permission); wevtutil
         failed or gave no answer in time; nothing configured
======== ==============================================================

A match is reported once, by the run that read it: the next run is OK again
unless new lines match.  The summary quotes the first matching line (cut at
300 characters); ``details`` holds up to 20 of them, so choose patterns that
do not match lines carrying secrets.

Metrics: ``lines`` (count read this run), ``critical_matches``,
``warning_matches`` (count); for events: ``events`` (count).
"""

from __future__ import annotations

import codecs
import glob
import hashlib
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from checks import _windows
from checks.context import CheckContext
from checks.params import Duration, format_duration
from checks.result import Metric, Result, Status

NAME = "logscan"

HEAD_BYTES = 256
MAX_SHOWN = 20
LINE_SHOWN = 300
EVENT_NS = "{http://schemas.microsoft.com/win/2004/08/events/event}"



@dataclass(frozen=True)
class LogscanParams:
    #: the log file to watch
    path: str = ""
    #: regular expressions: a new line matching one is WARNING
    patterns: tuple[str, ...] = ()
    #: regular expressions: a new line matching one is CRITICAL
    critical_patterns: tuple[str, ...] = ()
    #: regular expressions: matching lines are skipped
    ignore: tuple[str, ...] = ()
    #: text encoding of the file: utf-8, gbk, gb18030, latin-1...
    encoding: str = "utf-8"
    #: first run: scan the existing content instead of starting at the end
    from_start: bool = False
    #: lines read per run at most (the rest waits for the next run)
    max_lines: int = 10000
    #: bytes read per run at most
    max_bytes: int = 16 * 2**20
    #: Windows event channels to watch, e.g. System, Application
    channels: tuple[str, ...] = ()
    #: watch the default events, each paired with its provider and level (see the table)
    default_events: bool = True
    #: more event IDs, from any provider, that are CRITICAL
    critical_ids: tuple[int, ...] = ()
    #: more event IDs, from any provider, that are WARNING
    warning_ids: tuple[int, ...] = ()
    #: event levels of any ID to report: 1 critical, 2 error, 3 warning
    levels: tuple[int, ...] = ()
    #: events older than this are never reported
    lookback: Duration = Duration(86400.0)
    #: events read per channel and run at most
    max_events: int = 100
    #: seconds for each wevtutil call
    timeout: float = 30.0
    def __post_init__(self) -> None:
        for key in ("patterns", "critical_patterns", "ignore"):
            for pattern in getattr(self, key):
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ValueError(f"{key}: {pattern!r} is not a valid regex ({exc})") from None
        try:
            codecs.lookup(self.encoding)
            ascii_compatible = "\n".encode(self.encoding) == b"\n"
        except LookupError:
            raise ValueError(f"encoding: unknown encoding {self.encoding!r} (e.g. utf-8, gbk)") from None
        if not ascii_compatible:
            raise ValueError(f"encoding: {self.encoding!r} is not line-compatible with ASCII "
                             "(UTF-16 logs are not supported)")
        if self.max_lines < 1 or self.max_bytes < 1024:
            raise ValueError("max_lines: expected at least 1 line and max_bytes at least 1024")
        if self.path and not (self.patterns or self.critical_patterns):
            raise ValueError("patterns: give patterns or critical_patterns to look for in the file")
        for key in ("critical_ids", "warning_ids"):
            if any(not 0 <= i <= 65535 for i in getattr(self, key)):
                raise ValueError(f"{key}: event IDs are 0-65535")
        if any(lv not in (1, 2, 3, 4) for lv in self.levels):
            raise ValueError("levels: expected 1 (critical), 2 (error), 3 (warning) or 4 (information)")
        if any(not re.fullmatch(r"[A-Za-z0-9 _./\-]+", c) for c in self.channels):
            raise ValueError("channels: expected channel names such as System or Application")
        if not 1 <= self.max_events <= 10000 or self.timeout <= 0:
            raise ValueError("max_events: expected 1-10000 (and timeout above 0)")


# -- log files --------------------------------------------------------------------------

@dataclass
class _Scan:
    lines: int = 0
    critical: list[str] = field(default_factory=list)
    warning: list[str] = field(default_factory=list)
    critical_count: int = 0
    warning_count: int = 0
    capped: bool = False

    def feed(self, raw: bytes, params: LogscanParams) -> None:
        warn_re, crit_re, ignore_re = (tuple(re.compile(p) for p in ps) for ps in
                                       (params.patterns, params.critical_patterns, params.ignore))
        for line in raw.decode(params.encoding, errors="replace").splitlines():
            self.lines += 1
            if any(r.search(line) for r in ignore_re):
                continue
            if any(r.search(line) for r in crit_re):
                self.critical_count += 1
                if len(self.critical) < MAX_SHOWN:
                    self.critical.append(line[:LINE_SHOWN])
            elif any(r.search(line) for r in warn_re):
                self.warning_count += 1
                if len(self.warning) < MAX_SHOWN:
                    self.warning.append(line[:LINE_SHOWN])


def _head_hash(fh: BinaryIO, size: int) -> tuple[str, int]:
    fh.seek(0)
    head = fh.read(min(size, HEAD_BYTES))
    return hashlib.sha256(head).hexdigest(), len(head)


def _read_lines(fh: BinaryIO, offset: int, budget_lines: int, budget_bytes: int,
                to_end: bool) -> tuple[bytes, int, bool]:
    """Complete lines from ``offset``: (bytes, new offset, capped).

    ``to_end``: also take a last line without a newline (the file will not grow).
    """
    fh.seek(offset)
    data = fh.read(budget_bytes + 1)
    capped = len(data) > budget_bytes
    data = data[:budget_bytes]
    end = data.rfind(b"\n") + 1
    if to_end and not capped:
        end = len(data)
    data = data[:end]
    # the line budget
    count = 0
    pos = 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        nxt = len(data) if nl < 0 else nl + 1
        count += 1
        if count > budget_lines:
            capped = True
            break
        pos = nxt
    data = data[:pos]
    return data, offset + len(data), capped


def _find_rotated(path: str, inode: int, dev: int) -> str | None:
    """The renamed old file, found by its inode beside the new one."""
    candidates = [f"{path}.1", *sorted(glob.glob(glob.escape(path) + "[.-]*"))]
    for cand in candidates:
        if cand.endswith((".gz", ".bz2", ".xz", ".zst", ".zip")):
            continue
        try:
            st = os.stat(cand)
        except OSError:
            continue
        if st.st_ino == inode and st.st_dev == dev:
            return cand
    return None


def scan_file(params: LogscanParams, state: dict[str, Any]) -> Result:
    path = params.path
    standard = _file_standard(params)
    item = path
    previous = state.get("file")
    if not isinstance(previous, dict) or previous.get("path") != path:
        previous = None
    try:
        fh = open(path, "rb")  # noqa: SIM115 (closed below, after the stat)
    except OSError as exc:
        return Result(check=NAME, item=item, status=Status.UNKNOWN, standard=standard,
                      summary=f"{path}: cannot read ({exc.strerror or exc})")
    with fh:
        st = os.fstat(fh.fileno())
        head, head_len = _head_hash(fh, st.st_size)
        scan = _Scan()
        notes: list[str] = []
        if previous is None and not params.from_start:
            state["file"] = {"path": path, "inode": st.st_ino, "dev": st.st_dev, "offset": st.st_size,
                             "head": head, "head_len": head_len}
            return _file_result(item, standard, scan, [
                f"first run: watching from the end ({st.st_size} bytes of earlier history not scanned)"])
        offset = 0
        if previous is not None:
            offset = int(previous.get("offset", 0))
            same_file = previous.get("inode") == st.st_ino and previous.get("dev") == st.st_dev
            if not same_file:
                old = _find_rotated(path, int(previous.get("inode", -1)), int(previous.get("dev", -1)))
                if old is not None:
                    try:
                        with open(old, "rb") as ofh:
                            data, _, capped = _read_lines(ofh, offset, params.max_lines, params.max_bytes,
                                                          to_end=True)
                        scan.feed(data, params)
                        scan.capped |= capped
                        notes.append(f"rotated: read the rest of {os.path.basename(old)}, "
                                     "then the new file from its start")
                    except OSError as exc:
                        notes.append(f"rotated: the old file {old} could not be read ({exc.strerror})")
                else:
                    notes.append("rotated: new file read from its start (the old one is gone or compressed)")
                offset = 0
            elif st.st_size < offset:
                notes.append(f"truncated ({st.st_size} < {offset} bytes): read from the start")
                offset = 0
            elif previous.get("head_len", 0) and head_len >= previous["head_len"] \
                    and hashlib.sha256(_peek(fh, previous["head_len"])).hexdigest() != previous.get("head"):
                notes.append("rewritten (its first bytes changed): read from the start")
                offset = 0
        budget_lines = max(1, params.max_lines - scan.lines)
        budget_bytes = params.max_bytes
        data, new_offset, capped = _read_lines(fh, offset, budget_lines, budget_bytes, to_end=False)
        scan.feed(data, params)
        scan.capped |= capped
        if scan.capped:
            notes.append(f"more than {params.max_lines} lines or {params.max_bytes} bytes waiting: "
                         "the rest is read next run")
        state["file"] = {"path": path, "inode": st.st_ino, "dev": st.st_dev, "offset": new_offset,
                         "head": head, "head_len": head_len}
    return _file_result(item, standard, scan, notes)


def _peek(fh: BinaryIO, n: int) -> bytes:
    fh.seek(0)
    return fh.read(n)


def _file_standard(params: LogscanParams) -> str:
    n = len(params.patterns) + len(params.critical_patterns)
    return f"no new line matching the {n} pattern{'s' if n != 1 else ''}"


def _file_result(item: str, standard: str, scan: _Scan, notes: list[str]) -> Result:
    if scan.critical_count:
        status = Status.CRITICAL
        head = f"{scan.critical_count} new critical line{'s' if scan.critical_count != 1 else ''}: " \
               f"{scan.critical[0]!r}"
    elif scan.warning_count:
        status = Status.WARNING
        head = f"{scan.warning_count} new matching line{'s' if scan.warning_count != 1 else ''}: " \
               f"{scan.warning[0]!r}"
    else:
        status = Status.OK
        head = f"no new matching line in {scan.lines} new line{'s' if scan.lines != 1 else ''}"
    if scan.critical_count and scan.warning_count:
        head += f" (and {scan.warning_count} warning)"
    summary = "; ".join([f"{item}: {head}", *notes])
    return Result(
        check=NAME, item=item, status=status, standard=standard, summary=summary[:1000],
        metrics=(Metric("lines", float(scan.lines), "count", min=0),
                 Metric("critical_matches", float(scan.critical_count), "count", crit=1, min=0),
                 Metric("warning_matches", float(scan.warning_count), "count", warn=1, min=0)),
        details={"critical": scan.critical, "warning": scan.warning, "notes": notes},
    )


# -- Windows events ------------------------------------------------------------------------

@dataclass(frozen=True)
class Event:
    record_id: int
    event_id: int
    level: int
    provider: str
    time: str
    channel: str
    data: dict[str, str]


def parse_events(xml_text: str) -> list[Event]:
    """``wevtutil /f:xml`` output (``<Event>`` elements with no root) → events."""
    text = xml_text.strip()
    if text.startswith("<?xml"):
        text = text[text.index("?>") + 2:]
    if not text:
        return []
    root = ET.fromstring(f"<Events>{text}</Events>")
    out: list[Event] = []
    for ev in root.iter(f"{EVENT_NS}Event"):
        system = ev.find(f"{EVENT_NS}System")
        if system is None:
            continue

        def txt(tag: str, sys_el: ET.Element = system) -> str:
            el = sys_el.find(f"{EVENT_NS}{tag}")
            return (el.text or "").strip() if el is not None else ""

        provider_el = system.find(f"{EVENT_NS}Provider")
        time_el = system.find(f"{EVENT_NS}TimeCreated")
        data: dict[str, str] = {}
        for i, d in enumerate(ev.iter(f"{EVENT_NS}Data")):
            data[d.get("Name") or f"param{i + 1}"] = (d.text or "").strip()
        user_data = ev.find(f"{EVENT_NS}UserData")
        if user_data is not None:  # e.g. 104 "log cleared": <LogFileCleared><Channel>...
            for el in user_data.iter():
                if len(el) == 0 and el.text and el.text.strip():
                    data[el.tag.rsplit("}", 1)[-1]] = el.text.strip()
        try:
            record_id, event_id = int(txt("EventRecordID")), int(txt("EventID"))
        except ValueError:
            continue  # not an event we can place
        level_text = txt("Level")
        out.append(Event(
            record_id=record_id, event_id=event_id,
            level=int(level_text) if level_text.isdigit() else 0,
            provider=(provider_el.get("EventSourceName") or provider_el.get("Name") or "")
            if provider_el is not None else "",
            time=(time_el.get("SystemTime") or "") if time_el is not None else "",
            channel=txt("Channel"), data=data,
        ))
    return out


def _storage_reset(ev: Event) -> bool:
    """Event 129 from a storage miniport names the port it reset; Time-Service 129 does not."""
    return any(v.lower().startswith(("\\device\\raidport", "\\device\\scsiport")) for v in ev.data.values())


def _ntfs_needs_repair(ev: Event) -> bool:
    """Ntfs 98 reports every volume's state at mount; only a state other than 0 ("healthy") is news."""
    state = ev.data.get("CorruptionActionState", "").strip().lower()
    if state:
        return state not in ("0", "0x0")
    return 1 <= ev.level <= 3


@dataclass(frozen=True)
class EventRule:
    """An event of interest: its ID, from these providers, at this level or more severe."""

    event_id: int
    status: Status
    providers: tuple[str, ...] = ()  # empty: any provider
    max_level: int = 4  # 1 critical, 2 error, 3 warning, 4 information
    channel: str = "System"
    #: another provider writes this ID often: the query itself asks for these providers only
    crowded: bool = False
    when: Callable[[Event], bool] | None = None

    def matches(self, ev: Event) -> bool:
        if ev.event_id != self.event_id or (ev.level and ev.level > self.max_level):
            return False
        if self.providers and ev.provider.lower() not in {p.lower() for p in self.providers}:
            return False
        return self.when is None or self.when(ev)


_NTFS = ("Ntfs", "Microsoft-Windows-Ntfs")
_EVENTLOG = ("Microsoft-Windows-Eventlog",)
#: Providers and levels from the providers' manifests (Kernel-Power, Kernel-Processor-Power,
#: Kernel-General, Ntfs) and Microsoft's event documentation; see the module docstring.
DEFAULT_EVENTS = (
    EventRule(41, Status.CRITICAL, ("Microsoft-Windows-Kernel-Power",), max_level=1),
    EventRule(6008, Status.CRITICAL, ("EventLog",), max_level=2),
    EventRule(7034, Status.CRITICAL, ("Service Control Manager",), max_level=2),
    EventRule(7031, Status.WARNING, ("Service Control Manager",), max_level=2),
    EventRule(7, Status.CRITICAL, ("disk",), max_level=2),
    EventRule(11, Status.CRITICAL, ("disk",), max_level=2, crowded=True),  # Kernel-General 11: information
    EventRule(55, Status.CRITICAL, _NTFS, max_level=2, crowded=True),  # Kernel-Processor-Power 55: per CPU
    EventRule(98, Status.CRITICAL, _NTFS, when=_ntfs_needs_repair),
    EventRule(51, Status.WARNING, ("disk",), max_level=3),
    EventRule(153, Status.WARNING, ("disk",), max_level=3),
    EventRule(129, Status.WARNING, max_level=3, when=_storage_reset),
    EventRule(104, Status.WARNING, _EVENTLOG),
    EventRule(1102, Status.WARNING, _EVENTLOG, channel="Security"),
)


def event_rules(params: LogscanParams, channel: str) -> tuple[EventRule, ...]:
    """The rules for one channel: its default events, then the configured IDs from any provider."""
    defaults = [r for r in DEFAULT_EVENTS if r.channel.lower() == channel.lower()] if params.default_events else []
    return (*defaults, *(EventRule(i, Status.CRITICAL, channel=channel) for i in params.critical_ids),
            *(EventRule(i, Status.WARNING, channel=channel) for i in params.warning_ids))


def event_query(params: LogscanParams, after_record: int, channel: str = "System") -> str:
    """The XPath of new events of interest."""
    rules = event_rules(params, channel)
    open_ids = sorted({r.event_id for r in rules if not r.crowded})
    crowded = sorted({r.event_id for r in rules if r.crowded} - set(open_ids))
    terms = [f"EventID={i}" for i in open_ids]
    if crowded:
        names = sorted({p for r in rules if r.event_id in crowded for p in r.providers})
        terms.append("((" + " or ".join(f"EventID={i}" for i in crowded) + ") and Provider["
                     + " or ".join(f"@Name='{n}'" for n in names) + "])")
    terms += [f"Level={lv}" for lv in sorted(set(params.levels))]
    interest = " or ".join(terms) if terms else "EventID=-1"
    ms = int(params.lookback * 1000)
    return (f"*[System[({interest}) and EventRecordID > {after_record} "
            f"and TimeCreated[timediff(@SystemTime) <= {ms}]]]")


def event_status(ev: Event, params: LogscanParams, channel: str = "System") -> Status:
    """The worst status a rule or ``levels`` gives the event; OK when nothing claims it."""
    statuses = [r.status for r in event_rules(params, channel) if r.matches(ev)]
    if ev.level == 1 and 1 in params.levels:
        statuses.append(Status.CRITICAL)
    elif ev.level in params.levels:
        statuses.append(Status.WARNING)
    return Status.worst(statuses)


def scan_channel(channel: str, params: LogscanParams, state: dict[str, Any],
                 query: Callable[[str, str, int, float], str]) -> Result:
    item = f"eventlog:{channel}"
    standard = "no new event of interest"
    records = state.setdefault("records", {})
    if not isinstance(records, dict):
        records = state["records"] = {}
    try:
        newest_events = parse_events(query(channel, "*", 1, params.timeout))
    except (OSError, ET.ParseError) as exc:
        return Result(check=NAME, item=item, status=Status.UNKNOWN, standard=standard,
                      summary=f"{item}: cannot read events: {exc}")
    newest = newest_events[0].record_id if newest_events else 0
    last = records.get(channel)
    notes: list[str] = []
    if not isinstance(last, int):
        records[channel] = newest
        return _event_result(item, standard, [], params, [
            f"first run: watching from record {newest} (earlier events not reported)"], channel)
    if newest < last:
        notes.append(f"the log was cleared (newest record {newest} < {last}): "
                     f"reading again, back to {format_duration(params.lookback)}")
        last = 0
    if newest == last:
        return _event_result(item, standard, [], params, notes, channel)
    try:
        events = parse_events(query(channel, event_query(params, last, channel), params.max_events,
                                    params.timeout))
    except (OSError, ET.ParseError) as exc:
        return Result(check=NAME, item=item, status=Status.UNKNOWN, standard=standard,
                      summary=f"{item}: cannot read events: {exc}")
    if len(events) >= params.max_events:
        notes.append(f"at least {params.max_events} new events: only the newest are shown")
    records[channel] = max([newest, *(e.record_id for e in events)])
    return _event_result(item, standard, events, params, notes, channel)


def _event_result(item: str, standard: str, events: list[Event], params: LogscanParams,
                  notes: list[str], channel: str = "System") -> Result:
    # the query asks by ID (and provider where another one floods the log); what no rule claims
    # here (Ntfs 98 "healthy", Time-Service 129, an ID at a harmless level) is left out
    judged = [(st, e) for e in events if (st := event_status(e, params, channel)) is not Status.OK]
    if len(judged) < len(events):
        notes.append(f"{len(events) - len(judged)} event(s) with these IDs from other providers or "
                     "at harmless levels left out")
    status = Status.worst(s for s, _ in judged)
    # oldest first reads like a story; wevtutil /rd:true gave newest first
    judged.sort(key=lambda se: se[1].record_id)
    if judged:
        worst = [e for s, e in judged if s is status] or [judged[0][1]]
        ids = ", ".join(f"{e.event_id}" for _, e in judged[:10])
        first = worst[0]
        head = (f"{len(judged)} new event{'s' if len(judged) != 1 else ''} (IDs {ids}"
                f"{', ...' if len(judged) > 10 else ''}); first: {first.provider} {first.event_id} "
                f"at {first.time[:19]}Z{_event_words(first)}")
    else:
        head = "no new event of interest"
    return Result(
        check=NAME, item=item, status=status, standard=standard,
        summary="; ".join([f"{item}: {head}", *notes])[:1000],
        metrics=(Metric("events", float(len(judged)), "count", min=0),),
        details={"events": [{"record_id": e.record_id, "event_id": e.event_id, "level": e.level,
                             "provider": e.provider, "time": e.time, "status": s.name,
                             "data": {k: v[:200] for k, v in list(e.data.items())[:8]}}
                            for s, e in judged[:MAX_SHOWN]],
                 "notes": notes},
    )


def _event_words(ev: Event) -> str:
    """A few words from the event's data: which service crashed, which device failed."""
    if ev.event_id in (7031, 7034) and ev.data.get("param1"):
        return f" ({ev.data['param1']})"
    code = ev.data.get("BugcheckCode", "") if ev.event_id == 41 else ""
    if code.isdigit():
        return " (no bugcheck: power loss or hang)" if code == "0" else f" (bugcheck {int(code):#x})"
    values = [v for v in ev.data.values() if v][:2]
    return f" ({'; '.join(v[:80] for v in values)})" if values else ""


# -- the check ---------------------------------------------------------------------------------

def run(params: LogscanParams, ctx: CheckContext, *,
        query: Callable[[str, str, int, float], str] = _windows.wevtutil_query) -> list[Result]:
    results: list[Result] = []
    if not params.path and not params.channels:
        return [Result(check=NAME, item="", status=Status.UNKNOWN, standard="no new matching line",
                       summary="path: not configured (a log file with patterns, or channels on Windows)")]
    if params.path:
        results.append(scan_file(params, ctx.state))  # type: ignore[arg-type]
    for channel in params.channels:
        results.append(scan_channel(channel, params, ctx.state, query))  # type: ignore[arg-type]
    return results
