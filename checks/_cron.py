"""The one crontab reader: when did a job last fire, when does it fire next?

Every schedule Wardround reads is read here: a check entry's ``cron:`` (the agent
schedules it with :class:`agent.timer.Crontab`, which asks :meth:`Schedule.next`),
``backup_files``' ``schedule``, a site policy's maintenance windows and record schedule.

APScheduler 3 reads weekday numbers with Monday = 0 (crontab says Sunday =
0) and ANDs day-of-month with day-of-week (crontab ORs them when both are
restricted), so a schedule copied from a crontab would fire on the wrong days
if APScheduler read it.  This module follows crontab(5) exactly for the five
fields and the ``@daily``-style macros:

* a day matches when its month matches and, if both the day-of-month and the
  day-of-week field are restricted (do not start with ``*``), **either** one
  matches; otherwise both must (``0 8 1 * 1``: the 1st of each month and every
  Monday; ``0 8 * * 1``: Mondays);
* weekdays run 0-7 (0 and 7 are Sunday) or ``sun``..``sat``; months 1-12 or ``jan``..``dec``.

Two more forms are read because schedules written for APScheduler used them:
``?`` for a whole day field (as ``*``) and ``last`` in the day-of-month field
(the month's last day).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

from checks.messages import Said, say

__all__ = ["Cron", "CronError", "Schedule", "parse_cron"]

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_MACROS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}
# (name, low, high, names mapped to low.. or None)
_FIELDS = (
    ("minute", 0, 59, None),
    ("hour", 0, 23, None),
    ("day of month", 1, 31, None),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)
_ITEM_RE = re.compile(r"^(\*|[0-9a-z]+(?:-[0-9a-z]+)?)(?:/(\d+))?$")
# The longest gap between two fires that the five fields allow is a leap day: 8 years
# (2096-02-29 → 2104-02-29).  Looking back that far makes "never" a sure answer.
_LOOKBACK_DAYS = 8 * 366 + 1


class CronError(ValueError):
    """A crontab expression that does not parse."""


@dataclass(frozen=True)
class Cron:
    expr: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday .. 6 = Saturday
    day_restricted: bool
    weekday_restricted: bool
    last_day: bool = False  # ``last`` in the day-of-month field

    def day_matches(self, d: date) -> bool:
        if d.month not in self.months:
            return False
        dom = d.day in self.days or (self.last_day and (d + timedelta(days=1)).month != d.month)
        dow = (d.isoweekday() % 7) in self.weekdays
        if self.day_restricted and self.weekday_restricted:
            return dom or dow  # crontab(5): either one matches
        return dom and dow

    def latest(self, at: datetime, tz: tzinfo) -> datetime | None:
        """The latest scheduled time ``<= at`` (aware, in ``tz``); None if it never fires."""
        if at.tzinfo is None:
            raise ValueError("at must be timezone-aware")
        local = at.astimezone(tz)
        times = sorted(((h, m) for h in self.hours for m in self.minutes), reverse=True)
        day = local.date()
        for back in range(_LOOKBACK_DAYS):
            d = day - timedelta(days=back)
            if not self.day_matches(d):
                continue
            for h, m in times:
                fire = datetime(d.year, d.month, d.day, h, m, tzinfo=tz)
                if fire <= at:
                    return fire
        return None

    def next(self, at: datetime, tz: tzinfo) -> datetime | None:
        """The earliest scheduled time ``>= at`` (aware, in ``tz``); None if it never fires."""
        if at.tzinfo is None:
            raise ValueError("at must be timezone-aware")
        local = at.astimezone(tz)
        times = sorted((h, m) for h in self.hours for m in self.minutes)
        day = local.date()
        for ahead in range(_LOOKBACK_DAYS):
            d = day + timedelta(days=ahead)
            if not self.day_matches(d):
                continue
            for h, m in times:
                fire = datetime(d.year, d.month, d.day, h, m, tzinfo=tz)
                if fire >= at:
                    # normalised: a time in a DST gap comes out as the wall clock after the jump
                    return fire.astimezone(UTC).astimezone(tz)
        return None

    def describe(self) -> str:
        """``daily 02:00``, ``Mon-Fri 02:00``, else the expression itself."""
        return self.said()

    def said(self) -> Said:
        """:meth:`describe` as a message (``cron.daily``: 每天 02:00)."""
        if len(self.minutes) != 1 or len(self.hours) != 1 or self.day_restricted or len(self.months) != 12:
            return say("cron.expr", expr=self.expr)
        hhmm = f"{next(iter(self.hours)):02d}:{next(iter(self.minutes)):02d}"
        if not self.weekday_restricted:
            return say("cron.daily", hhmm=hhmm)
        days = sorted(self.weekdays)
        if days == [1, 2, 3, 4, 5]:
            return say("cron.workdays", hhmm=hhmm)
        if len(days) == 1:
            return say("cron.weekly", day=f"cron.day.{_DAYS[days[0]]}", hhmm=hhmm)
        return say("cron.days", days=[f"cron.day.{_DAYS[d]}" for d in days], hhmm=hhmm)

    @property
    def time_of_day(self) -> tuple[int, int] | None:
        """(hour, minute) when the job fires once a day at a fixed time."""
        if len(self.minutes) == 1 and len(self.hours) == 1:
            return next(iter(self.hours)), next(iter(self.minutes))
        return None


def _word(field: str) -> str:
    """A field's name as a word of the command lines' catalogue (``cli.cron.field.minute`` …: ``{field:t}``)."""
    return f"cli.cron.field.{field.replace(' ', '_')}"


def _value(text: str, low: int, names: tuple[str, ...] | None, field: str) -> int:
    if text.isdigit():
        return int(text)
    if names is not None and text[:3] in names and len(text) == 3:
        return names.index(text) + (1 if names is _MONTHS else 0)
    from checks.messages.reader import cli_said  # each error a keyed text: said in the reader's language

    if names:
        raise CronError(cli_said("cli.cron.not_number_or_name", field=_word(field), text=repr(text)))
    raise CronError(cli_said("cli.cron.not_number", field=_word(field), text=repr(text)))


def _field(text: str, field: str, low: int, high: int, names: tuple[str, ...] | None) -> set[int]:
    out: set[int] = set()
    for item in text.lower().split(","):
        m = _ITEM_RE.match(item)
        if not m:
            from checks.messages.reader import cli_said

            raise CronError(cli_said("cli.cron.unreadable", field=_word(field), item=repr(item)))
        span, step_text = m.group(1), m.group(2)
        step = int(step_text) if step_text else 1
        if step < 1:
            from checks.messages.reader import cli_said

            raise CronError(cli_said("cli.cron.step", field=_word(field)))
        if span == "*":
            start, end = low, high
        elif "-" in span:
            a, b = span.split("-", 1)
            start, end = _value(a, low, names, field), _value(b, low, names, field)
        else:
            start = _value(span, low, names, field)
            end = high if step_text else start
        if not (low <= start <= high and low <= end <= high) or start > end:
            from checks.messages.reader import cli_said

            raise CronError(cli_said("cli.cron.outside", field=_word(field), item=repr(item), low=low, high=high))
        out.update(range(start, end + 1, step))
    return out


def parse_cron(expr: str) -> Cron:
    """Parse five crontab fields (or a macro such as ``@daily``)."""
    if not isinstance(expr, str):
        from checks.messages.reader import cli_said

        raise CronError(cli_said("cli.cron.expected", example='"0 8 * * *"', got=repr(expr)))
    text = _MACROS.get(expr.strip().lower(), expr)
    parts = text.split()
    if len(parts) != 5:
        from checks.messages.reader import cli_said

        raise CronError(cli_said("cli.cron.fields", n=len(parts)))
    parts = [("*" if part == "?" and i in (2, 4) else part) for i, part in enumerate(parts)]
    day_items = parts[2].lower().split(",")
    last_day = "last" in day_items
    if last_day:
        day_items.remove("last")
    sets = [_field(p, name, lo, hi, names) if p else set()
            for p, (name, lo, hi, names) in zip(parts[:2] + [",".join(day_items)] + parts[3:], _FIELDS,
                                                 strict=True)]
    weekdays = {d % 7 for d in sets[4]}
    return Cron(
        expr=expr.strip(), minutes=frozenset(sets[0]), hours=frozenset(sets[1]), days=frozenset(sets[2]),
        months=frozenset(sets[3]), weekdays=frozenset(weekdays),
        day_restricted=not parts[2].startswith("*"), weekday_restricted=not parts[4].startswith("*"),
        last_day=last_day,
    )


@dataclass(frozen=True)
class Schedule:
    """A crontab read in one time zone: the collector's maintenance windows and record schedules."""

    cron: Cron
    tz: tzinfo

    @classmethod
    def parse(cls, expr: str, tz: tzinfo) -> Schedule:
        return cls(parse_cron(expr), tz)

    def next(self, at: datetime) -> datetime | None:
        """The earliest scheduled time ``>= at``; None if it never fires."""
        return self.cron.next(at, self.tz)

    def latest(self, at: datetime) -> datetime | None:
        """The latest scheduled time ``<= at``; None if it never fired."""
        return self.cron.latest(at, self.tz)
