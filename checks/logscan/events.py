"""Windows event logs: new events since the last run (wevtutil), judged by rules and levels."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass

from checks._params.logscan import MAX_SHOWN, NAME, LogscanParams
from checks.messages import error_text, fit_summary, say
from checks.result import Metric, Result, Status

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

EVENT_NS = "{http://schemas.microsoft.com/win/2004/08/events/event}"


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


def scan_channel(channel: str, params: LogscanParams, state: MutableMapping[str, Any],
                 query: Callable[[str, str, int, float], str]) -> Result:
    item = f"eventlog:{channel}"
    standard = say("logscan.no_event")
    records = state.setdefault("records", {})
    if not isinstance(records, dict):
        records = state["records"] = {}
    try:
        newest_events = parse_events(query(channel, "*", 1, params.timeout))
    except (OSError, ET.ParseError) as exc:
        return Result(check=NAME, item=item, status=Status.UNKNOWN, standard=standard,
                      summary=say("logscan.events_unreadable", item=item, error=error_text(exc)))
    newest = newest_events[0].record_id if newest_events else 0
    last = records.get(channel)
    notes: list[str] = []
    if not isinstance(last, int):
        records[channel] = newest
        return _event_result(item, standard, [], params, [say("logscan.first_record", record=newest)], channel)
    if newest < last:
        notes.append(say("logscan.cleared", newest=newest, last=last, lookback=params.lookback))
        last = 0
    if newest == last:
        return _event_result(item, standard, [], params, notes, channel)
    try:
        events = parse_events(query(channel, event_query(params, last, channel), params.max_events,
                                    params.timeout))
    except (OSError, ET.ParseError) as exc:
        return Result(check=NAME, item=item, status=Status.UNKNOWN, standard=standard,
                      summary=say("logscan.events_unreadable", item=item, error=error_text(exc)))
    if len(events) >= params.max_events:
        notes.append(say("logscan.many_events", n=params.max_events))
    records[channel] = max([newest, *(e.record_id for e in events)])
    return _event_result(item, standard, events, params, notes, channel)


def _event_result(item: str, standard: str, events: list[Event], params: LogscanParams,
                  notes: list[str], channel: str = "System") -> Result:
    # the query asks by ID (and provider where another one floods the log); what no rule claims
    # here (Ntfs 98 "healthy", Time-Service 129, an ID at a harmless level) is left out
    judged = [(st, e) for e in events if (st := event_status(e, params, channel)) is not Status.OK]
    if len(judged) < len(events):
        notes.append(say("logscan.left_out", n=len(events) - len(judged)))
    status = Status.worst(s for s, _ in judged)
    # oldest first reads like a story; wevtutil /rd:true gave newest first
    judged.sort(key=lambda se: se[1].record_id)
    if judged:
        worst = [e for s, e in judged if s is status] or [judged[0][1]]
        ids = ", ".join([f"{e.event_id}" for _, e in judged[:10]] + (["..."] if len(judged) > 10 else []))
        first = worst[0]
        head = say("logscan.event_one" if len(judged) == 1 else "logscan.events", n=len(judged), ids=ids,
                   provider=first.provider, event_id=first.event_id, time=first.time[:19],
                   words=_event_words(first))
    else:
        head = say("logscan.no_event")
    summary = say("logscan.item", item=item, head=head)
    if notes:
        summary = say("results.joined", parts=[summary, *notes])
    return Result(
        check=NAME, item=item, status=status, standard=standard, summary=fit_summary(summary),
        metrics=(Metric("events", float(len(judged)), "count", min=0),),
        details={"events": [{"record_id": e.record_id, "event_id": e.event_id, "level": e.level,
                             "provider": e.provider, "time": e.time, "status": s.name,
                             "data": {k: v[:200] for k, v in list(e.data.items())[:8]}}
                            for s, e in judged[:MAX_SHOWN]],
                 "notes": [str.__str__(n) for n in notes]},
    )


def _event_words(ev: Event) -> str:
    """A few words from the event's data: which service crashed, which device failed."""
    if ev.event_id in (7031, 7034) and ev.data.get("param1"):
        return say("logscan.event_data", text=ev.data["param1"])  # the event's own words: data
    code = ev.data.get("BugcheckCode", "") if ev.event_id == 41 else ""
    if code.isdigit():
        return say("logscan.no_bugcheck") if code == "0" else say("logscan.bugcheck", code=f"{int(code):#x}")
    values = [v for v in ev.data.values() if v][:2]
    return say("logscan.event_data", text="; ".join(v[:80] for v in values)) if values else ""


