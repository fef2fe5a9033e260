"""The one range of days and times the collector takes from a client.

Every day or time a client sends — a result's ``started_at``, a query's
``since``/``until`` or ``from``/``to``, a record's period, an archive entry's
``at`` — must lie between :data:`EARLIEST` and :data:`LATEST` (both days
included); anything else is refused with a 422 that names the field.  Nothing
the collector keeps is older than 2000, and the bounds keep every calendar
step it takes from such a value (a week, a month, a year, a time-zone shift,
a day's end) far inside Python's dates, which stop at the years 1 and 9999:
past them a step raises ``OverflowError``, which used to answer 500.

A result's ``started_at`` has a tighter upper bound, because the latest
state of an item follows it: at most :data:`MAX_CLOCK_SKEW` ahead of the
collector's clock (:func:`credible_until`).  A stored time beyond that bound
(stored before the bound existed, or while the collector's own clock ran
ahead) is treated as not credible and never holds the latest state or a
ticket streak back.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from checks.messages.reader import cli_said
from checks.result import format_time

__all__ = ["EARLIEST", "LATEST", "MAX_CLOCK_SKEW", "RANGE_TEXT", "DateError", "check_day", "check_started_at",
           "check_time", "credible_until", "parse_day"]

EARLIEST = date(2000, 1, 1)
LATEST = date(2999, 12, 31)
MAX_CLOCK_SKEW = timedelta(days=1)  # the messages say "1 day"
RANGE_TEXT = f"between {EARLIEST.isoformat()} and {LATEST.isoformat()}"
_DAY_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_EARLIEST_TIME = datetime.combine(EARLIEST, time(), UTC)
_AFTER_LATEST_TIME = datetime.combine(LATEST + timedelta(days=1), time(), UTC)


class DateError(ValueError):
    """A day or time that is malformed or outside the collector's range; the message names the field.

    ``where``, ``got`` and ``fault`` (``date``: malformed, ``day``/``time``: out of range) let a
    caller say it in a reader's language."""

    def __init__(self, text: str, *, where: str = "", got: str = "", fault: str = "date") -> None:
        super().__init__(text)
        self.where, self.got, self.fault = where, got, fault


def check_day(value: date, where: str) -> date:
    """``value`` if it lies in the range; :class:`DateError` naming ``where`` otherwise."""
    if not EARLIEST <= value <= LATEST:
        raise DateError(f"{where}: expected a day {RANGE_TEXT} (got {value.isoformat()})", where=where,
                        got=value.isoformat(), fault="day")
    return value


def parse_day(value: Any, where: str) -> date:
    """A day written ``YYYY-MM-DD`` and within the range; :class:`DateError` naming ``where`` otherwise."""
    text = value.strip() if isinstance(value, str) else None
    try:
        day = date.fromisoformat(text) if text is not None and _DAY_RE.fullmatch(text) else None
    except ValueError:
        day = None
    if day is None:
        shown = repr(value[:40]) if isinstance(value, str) else repr(value)[:40]
        raise DateError(f"{where}: expected a date like 2026-11-22 (got {shown})", where=where, got=shown)
    return check_day(day, where)


def check_time(value: datetime, where: str) -> datetime:
    """``value`` if it lies in the range; :class:`DateError` naming ``where`` otherwise.

    Its own wall-clock day is checked first, so a time zone conversion of a
    value that passed can never leave Python's dates.
    """
    if not EARLIEST <= value.date() <= LATEST or (
            value.tzinfo is not None and not _EARLIEST_TIME <= value < _AFTER_LATEST_TIME):
        raise DateError(f"{where}: expected a time {RANGE_TEXT} (got {value.isoformat()[:40]})", where=where,
                        got=value.isoformat()[:40], fault="time")
    return value


def credible_until(now: datetime) -> datetime:
    """The latest ``started_at`` a result may carry when the collector's clock says ``now``."""
    return now + MAX_CLOCK_SKEW


def check_started_at(value: datetime, now: datetime) -> datetime:
    """A result's start time: in the range and at most :data:`MAX_CLOCK_SKEW` ahead of ``now``."""
    if value < _EARLIEST_TIME:
        # keyed: the agent quarantines such a result saying its clock was set before 2000 (agent/spool_notice.py)
        raise DateError(cli_said("cli.refusal.clock_behind", started_at=format_time(value),
                                 earliest=EARLIEST.isoformat()))
    if value > credible_until(now):  # keyed: the agent keeps its results while its own clock is this far ahead
        raise DateError(cli_said("cli.refusal.clock_ahead", started_at=format_time(value), now=format_time(now)))
    return value

