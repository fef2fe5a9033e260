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

from collections.abc import Callable

from checks import _windows
from checks._params.logscan import NAME, LogscanParams
from checks.context import CheckContext
from checks.logscan.events import (
    DEFAULT_EVENTS,
    Event,
    EventRule,
    event_query,
    event_rules,
    event_status,
    parse_events,
    scan_channel,
)
from checks.logscan.files import scan_file
from checks.messages import say
from checks.result import Result, Status

__all__ = ["DEFAULT_EVENTS", "NAME", "Event", "EventRule", "LogscanParams", "event_query", "event_rules",
           "event_status", "parse_events", "run", "scan_channel", "scan_file"]


def run(params: LogscanParams, ctx: CheckContext, *,
        query: Callable[[str, str, int, float], str] = _windows.wevtutil_query) -> list[Result]:
    results: list[Result] = []
    if not params.path and not params.channels:
        return [Result(check=NAME, item="", status=Status.UNKNOWN, standard=say("logscan.standard_none"),
                       summary=say("logscan.not_configured", param="path", channels="channels"))]
    if params.path:
        results.append(scan_file(params, ctx.state))
    for channel in params.channels:
        results.append(scan_channel(channel, params, ctx.state, query))
    return results
