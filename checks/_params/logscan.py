"""logscan's parameters: the log file and its patterns, the Windows channels and their levels."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from checks.params import Duration

NAME = "logscan"

MAX_SHOWN = 20
LINE_SHOWN = 300



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


