"""The policy model: levels, the business calendar, rules, windows and what a site's policy says.

Plain frozen dataclasses; the built-in values are in :mod:`collector.policy.defaults`, the YAML
reader in :mod:`collector.policy.loader`.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from checks._cron import Schedule
from checks.catalogue import BACKUP_CHECKS
from checks.messages.reader import cli_said
from collector import record_kinds
from collector.terms import Term, parse_term

__all__ = [
    "COMPLAINT_SCORE",
    "DEFAULT_RECORD_SCHEDULE",
    "DRILL_PERIODS",
    "FOLLOWUP_TICKETS",
    "MAX_CALENDAR_DAYS",
    "OPEN_AT_FIRST",
    "RECORD_KINDS",
    "SILENT_AFTER_DEFAULT",
    "Calendar",
    "FollowupPolicy",
    "Level",
    "Policies",
    "RecordsPolicy",
    "Rule",
    "SitePolicy",
    "Window",
    "parse_duration",
]

# Checks whose first bad result opens a ticket unless a rule says otherwise: backups (a failed
# backup must be a ticket before anyone needs it) and the restore drill (it runs weekly or less:
# a second bad result would come a week late).
OPEN_AT_FIRST = BACKUP_CHECKS | {"restore_drill"}
# How often a restore drill of each database is promised (restore_drills.every); None: not promised.
DRILL_PERIODS = ("weekly", "monthly", "quarterly", "yearly")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # as written in a policy file; 0 = Monday
MAX_CALENDAR_DAYS = 3 * 366  # a deadline further than this means a calendar with no working time


def parse_duration(text: Any) -> timedelta:
    """Elapsed time: ``30s``, ``15m``, ``2h``, ``3d``, ``1h30m`` → timedelta; ValueError otherwise.

    The grammar is :func:`collector.terms.parse_term`'s on a 24x7 clock.
    """
    return parse_term(text, business=False).time


@dataclass(frozen=True, slots=True)
class Level:
    """One fault level: 1 is the most severe."""

    number: int
    name: str  # as tickets store it (the English name, or the one name the policy gave)
    response: Term
    resolve: Term
    always: bool  # True: the clock runs 24x7; False: business hours only
    #: the name in each language people read (zh_CN, en); a language not given reads ``name``
    names: Mapping[str, str] = field(default_factory=dict)

    def name_in(self, lang: str) -> str:
        """The level's name for a reader of ``lang`` (``一般故障``, ``general fault``)."""
        return self.names.get(lang) or self.name

    def says(self, stored: str) -> bool:
        """Whether ``stored`` (a ticket's level name) is this level's name in some language."""
        return stored == self.name or stored in self.names.values()

    @property
    def clock(self) -> str:
        return "24x7" if self.always else "business"


@dataclass(frozen=True, slots=True)
class Calendar:
    """Working time: days, hours (one or more spans a day), holidays and make-up days."""

    zone: ZoneInfo
    days: frozenset[int]  # 0 = Monday
    spans: tuple[tuple[time, time], ...]
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()  # make-up working days (调休), worked whatever the weekday

    def is_working_day(self, day: date) -> bool:
        if day in self.workdays:
            return True
        return day.weekday() in self.days and day not in self.holidays

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """``start`` plus ``duration`` of working time (UTC in, UTC out)."""
        remaining = duration
        day = start.astimezone(self.zone).date()
        for _ in range(MAX_CALENDAR_DAYS):
            if self.is_working_day(day):
                for begin_t, end_t in self.spans:
                    begin = datetime.combine(day, begin_t, self.zone).astimezone(UTC)
                    end = datetime.combine(day, end_t, self.zone).astimezone(UTC)
                    if end <= start:
                        continue
                    begin = max(begin, start)
                    if remaining <= end - begin:
                        return begin + remaining
                    remaining -= end - begin
            day += timedelta(days=1)
        raise ValueError(cli_said("cli.policy.no_working_time"))

    def after_working_days(self, start: datetime, days: int) -> datetime:
        """The end of business of the ``days``-th working day after ``start``'s day (UTC in, UTC out).

        The day ``start`` falls on is not counted, as the PRC Civil Code counts a period in
        days (art. 201); the period ends when business stops on its last day (art. 203).
        """
        day = start.astimezone(self.zone).date()
        counted = 0
        for _ in range(MAX_CALENDAR_DAYS):
            day += timedelta(days=1)
            if self.is_working_day(day):
                counted += 1
                if counted == days:
                    return datetime.combine(day, self.spans[-1][1], self.zone).astimezone(UTC)
        raise ValueError(cli_said("cli.policy.no_working_time"))


@dataclass(frozen=True, slots=True)
class Rule:
    """Which statuses of matching check items open a ticket, and the noise controls."""

    check: str = "*"  # glob
    item: str = "*"  # glob
    open: Mapping[int, int] = field(default_factory=dict)  # status → level
    after: int = 2  # consecutive bad results before a ticket opens
    recover_after: int = 2  # consecutive good results that resolve it
    flap_window: int = 10  # results looked at for flapping
    flap_changes: int = 5  # bad↔good changes in the window that make it flapping

    def matches(self, check: str, item: str) -> bool:
        return fnmatch.fnmatchcase(check, self.check) and fnmatch.fnmatchcase(item, self.item)

    def level_for(self, status: int) -> int | None:
        return self.open.get(status)


@dataclass(frozen=True, slots=True)
class Window:
    """A maintenance window for hosts matching ``hosts`` (globs)."""

    hosts: tuple[str, ...] = ("*",)
    start: datetime | None = None  # one-off
    end: datetime | None = None
    cron: Schedule | None = None  # recurring: starts at each fire time, lasts ``duration``
    duration: timedelta = timedelta(0)
    reason: str = ""

    def covers(self, host: str, at: datetime) -> bool:
        if not any(fnmatch.fnmatchcase(host, p) for p in self.hosts):
            return False
        if self.cron is None:
            assert self.start is not None and self.end is not None
            return self.start <= at < self.end
        fire = self.cron.next(at - self.duration + timedelta(microseconds=1))
        return fire is not None and fire <= at

    def ends_within(self, host: str, after: datetime, until: datetime) -> bool:
        """Whether this window, for ``host``, ends in (``after``, ``until``]."""
        if not any(fnmatch.fnmatchcase(host, p) for p in self.hosts):
            return False
        if self.cron is None:
            assert self.end is not None
            return after < self.end <= until
        fire = self.cron.next(after - self.duration + timedelta(microseconds=1))
        return fire is not None and fire + self.duration <= until


RECORD_KINDS = record_kinds.NAMES
DEFAULT_RECORD_SCHEDULE: Mapping[str, str | None] = {k.name: k.schedule for k in record_kinds.BY_NAME.values()}


@dataclass(frozen=True, slots=True)
class RecordsPolicy:
    """What a site's inspection records say about it, and when each kind is issued.

    ``schedule`` maps a kind to a 5-field cron in the site's time zone (the
    record of the last complete period is issued at the first fire time after
    the period ends) or None (that kind is only issued by hand).
    """

    customer: str | None = None  # printed name of the customer; None: the site name
    systems: tuple[str, ...] = ()
    language: str = "zh_CN"  # zh_CN | en
    inspector: str | None = None  # None: the catalog's "automatic patrol"
    schedule: Mapping[str, str | None] = field(default_factory=lambda: dict(DEFAULT_RECORD_SCHEDULE))

    def trigger(self, kind: str, zone: ZoneInfo) -> Schedule | None:
        expr = self.schedule.get(kind)
        return Schedule.parse(expr, zone) if expr else None


FOLLOWUP_TICKETS = ("handled", "all", "off")
COMPLAINT_SCORE = 2  # a follow-up satisfaction (1-5) of this or less opens a service complaint


@dataclass(frozen=True, slots=True)
class FollowupPolicy:
    """The customer follow-up (回访) after a ticket is resolved.

    ``within``: how long after the resolution the follow-up is due, on the
    business calendar unless ``always`` (24x7).  ``tickets``: ``handled`` — the
    tickets a person dealt with (opened by hand, acknowledged, or resolved by an
    engineer); ``all`` — every resolved ticket; ``off`` — none.
    ``account_manager``: the person a service complaint (a satisfaction of
    :data:`COMPLAINT_SCORE` or less) is opened for; ``complaint_level``: its
    level (None: the least severe level of the site's scheme).
    """

    within: Term = Term("3wd", working_days=3)
    always: bool = False
    tickets: str = "handled"
    account_manager: str | None = None
    complaint_level: int | None = None


SILENT_AFTER_DEFAULT = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class SitePolicy:
    levels: tuple[Level, ...]
    calendar: Calendar
    rules: tuple[Rule, ...]
    key_customer: bool = False
    key_factor: float = 1.0
    maintenance: tuple[Window, ...] = ()
    silent_grace: Term | None = Term("15m", timedelta(minutes=15))  # None: agent-silent tickets are off
    silent_level: int = 2
    reopen_window: timedelta = timedelta(hours=1)
    escalate_on_breach: bool = True
    onsite_due: Term = Term("24h", timedelta(hours=24))
    onsite_always: bool = False
    records: RecordsPolicy = field(default_factory=RecordsPolicy)
    drill_every: str | None = "quarterly"  # one of DRILL_PERIODS, or None: no drill promised
    followup: FollowupPolicy = field(default_factory=FollowupPolicy)
    _rule_cache: dict[tuple[str, str], Rule | None] = field(default_factory=dict, compare=False, repr=False)

    @property
    def priority(self) -> int:
        """1 for a key customer's tickets (first in the queue), else 0."""
        return 1 if self.key_customer else 0

    @property
    def silent_after(self) -> timedelta:
        """How long a host may deliver nothing before it counts as silent: the agent-silent grace, or
        :data:`SILENT_AFTER_DEFAULT` where agent-silent tickets are off."""
        return self.silent_grace.time if self.silent_grace is not None else SILENT_AFTER_DEFAULT

    def level(self, number: int) -> Level:
        return self.levels[min(max(number, 1), len(self.levels)) - 1]

    def rule_for(self, check: str, item: str) -> Rule | None:
        """The first rule matching the item (site rules first, then the built-in defaults)."""
        key = (check, item)
        try:
            return self._rule_cache[key]
        except KeyError:
            pass
        rule = next((r for r in self.rules if r.matches(check, item)), None)
        if len(self._rule_cache) > 100_000:
            self._rule_cache.clear()
        self._rule_cache[key] = rule
        return rule

    def _due(self, start: datetime, term: Term, always: bool) -> datetime:
        if self.key_customer:
            term = term.scaled(self.key_factor)
        if term.working_days:
            return self.calendar.after_working_days(start, term.working_days)
        return start + term.time if always else self.calendar.add(start, term.time)

    def deadlines(self, number: int, opened_at: datetime) -> tuple[datetime, datetime]:
        """(response_due, resolve_due) of a ticket of level ``number`` opened at ``opened_at``."""
        lv = self.level(number)
        return (self._due(opened_at, lv.response, lv.always), self._due(opened_at, lv.resolve, lv.always))

    def onsite_deadline(self, requested_at: datetime) -> datetime:
        return self._due(requested_at, self.onsite_due, self.onsite_always)

    def followup_deadline(self, resolved_at: datetime) -> datetime:
        """When the customer follow-up of a ticket resolved at ``resolved_at`` is due."""
        return self._due(resolved_at, self.followup.within, self.followup.always)

    @property
    def complaint_level(self) -> int:
        """The level a service complaint opens at (the least severe level unless the policy says)."""
        n = len(self.levels)
        return min(self.followup.complaint_level or n, n)

    def in_maintenance(self, host: str, at: datetime) -> bool:
        return any(w.covers(host, at) for w in self.maintenance)

    def maintenance_ended(self, host: str, after: datetime, until: datetime) -> bool:
        """Whether a maintenance window of ``host`` ended in (``after``, ``until``]."""
        return any(w.ends_within(host, after, until) for w in self.maintenance)


@dataclass(frozen=True, slots=True)
class Policies:
    default: SitePolicy
    sites: Mapping[str, SitePolicy] = field(default_factory=dict)
    source: str = "built-in defaults"

    def for_site(self, site: str) -> SitePolicy:
        return self.sites.get(site, self.default)

