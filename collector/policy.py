"""Site policies: the service contract a site's tickets are judged by, loaded from YAML.

A policy says, for one site (customer):

* the **level scheme**: 3 or 4 levels (1 most severe), each with a name, a
  response and a resolution term (:mod:`collector.terms`: ``2h``, ``3wd``,
  kept as written) and whether its clock runs ``24x7`` or only in
  ``business`` hours;
* the **business calendar**: working days and hours in a time zone, a
  holiday calendar file with statutory holidays and make-up working days
  (调休: a Saturday that is worked);
* whether the site is a **key customer** (its tickets get priority 1, which
  orders the queue first, and its deadlines are multiplied by
  ``key_factor``, e.g. 0.5 = twice as fast);
* the **mapping rules**: which statuses of which check items open a ticket
  at which level, after how many consecutive bad results (``after``), how
  many consecutive good ones resolve it (``recover_after``), and when an
  item counts as flapping;
* **maintenance windows** (one-off, or recurring as cron + duration) during
  which no ticket opens;
* the **agent-silent** grace (a host whose agent has not reported for longer
  opens a ticket ``agent``/``silent``), the reopen window, whether a breach
  raises the level, and the on-site visit deadline;
* the **inspection records** (``records:``, :class:`RecordsPolicy`): the
  customer's name and systems printed on them, their language, the
  inspector, and when each kind is issued (cron in the site's time zone, or
  ``off``; see ``docs/records.md``);
* the **restore drills** promised (``restore_drills: {every: quarterly}``):
  how often each database's newest backup must be restored in a drill, which
  the records set against the ``restore_drill`` results;
* the **customer follow-up** (回访, ``followup:``, :class:`FollowupPolicy`):
  within which time after resolution, for which tickets, who the account
  manager is, and at which level a low score opens a service complaint.

The file (every key optional; the full format with an example is in
``docs/tickets.md`` and ``deploy/policies.example.yaml``)::

    default: {...a policy...}        # for sites not listed; built-in defaults below it
    sites:
      central-hospital: {...}        # the default policy with these keys replaced

Every fault in the file is reported at once as ``FILE: path.to.key: expected
...`` (:class:`collector.config.ConfigError`, exit code 2).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from checks._cron import Schedule
from checks._units import format_duration
from checks.catalogue import BACKUP_CHECKS
from checks.result import Status
from collector.config import ConfigError
from collector.terms import Term, parse_term

__all__ = [
    "COMPLAINT_SCORE",
    "DRILL_PERIODS",
    "OPEN_AT_FIRST",
    "Calendar",
    "FollowupPolicy",
    "Level",
    "Policies",
    "RecordsPolicy",
    "Rule",
    "SILENT_AFTER_DEFAULT",
    "SitePolicy",
    "Term",
    "Window",
    "default_policies",
    "describe_policies",
    "load_policies",
    "parse_duration",
]

# Checks whose first bad result opens a ticket unless a rule says otherwise: backups (a failed
# backup must be a ticket before anyone needs it) and the restore drill (it runs weekly or less:
# a second bad result would come a week late).
OPEN_AT_FIRST = BACKUP_CHECKS | {"restore_drill"}
# How often a restore drill of each database is promised (restore_drills.every); None: not promised.
DRILL_PERIODS = ("weekly", "monthly", "quarterly", "yearly")
MAX_CALENDAR_DAYS = 3 * 366  # a deadline further than this means a calendar with no working time
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_duration(text: Any) -> timedelta:
    """Elapsed time: ``30s``, ``15m``, ``2h``, ``3d``, ``1h30m`` → timedelta; ValueError otherwise.

    The grammar is :func:`collector.terms.parse_term`'s on a 24x7 clock.
    """
    return parse_term(text, business=False).time


@dataclass(frozen=True, slots=True)
class Level:
    """One fault level: 1 is the most severe."""

    number: int
    name: str
    response: Term
    resolve: Term
    always: bool  # True: the clock runs 24x7; False: business hours only

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
        raise ValueError("the business calendar has no working time in the next three years")

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
        raise ValueError("the business calendar has no working time in the next three years")


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


RECORD_KINDS = ("daily", "weekly", "monthly", "quarterly", "annual")
DEFAULT_RECORD_SCHEDULE: Mapping[str, str | None] = {
    "daily": "30 7 * * *", "weekly": "0 8 * * 1", "monthly": "0 8 1 * *",
    "quarterly": "0 8 1 1,4,7,10 *", "annual": "0 8 2 1 *"}


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


# ---------------------------------------------------------------------------
# Built-in defaults

DEFAULT_LEVELS: tuple[Level, ...] = (
    Level(1, "system down", Term("2h", timedelta(hours=2)), Term("8h", timedelta(hours=8)), True),
    Level(2, "general fault", Term("2h", timedelta(hours=2)), Term("18h", timedelta(hours=18)), False),
    Level(3, "minor", Term("9h", timedelta(hours=9)), Term("27h", timedelta(hours=27)), False),
)
DEFAULT_CALENDAR = Calendar(zone=ZoneInfo("Asia/Shanghai"), days=frozenset(range(5)),
                            spans=((time(8, 30), time(17, 30)),))


def default_rules(n_levels: int) -> tuple[Rule, ...]:
    """The built-in mapping for a scheme of ``n_levels`` levels (after any site rules).

    * backup checks and the restore drill: CRITICAL (failed or missing backup,
      a drill whose restore or probe failed) opens at level 2, the second most
      severe; UNKNOWN (the backup could not be verified, the drill could not
      run) at the least severe level; after 1 bad result;
    * a login with an empty password (``accounts`` item ``empty_password``,
      ``db_accounts`` items ``*/empty_password``): CRITICAL at level 2 after 1;
    * the agent's report about its own spool (``agent``/``spool``): CRITICAL
      (the spool was corrupt, results may be lost) opens at the second least
      severe level after 1 result: it reports an event, not a reading that a
      second result would confirm;
    * ``antivirus``: WARNING (signatures older than ``max_signature_age``,
      real-time protection off) at the least severe level, CRITICAL (disabled,
      no usable signatures) at the second least severe, after 2;
    * every other check: CRITICAL opens at the second least severe level
      (2 of 3, 3 of 4) after 2 consecutive bad results; WARNING and UNKNOWN
      open nothing (they show on the inspection record).
    """
    critical, unknown, warning = int(Status.CRITICAL), int(Status.UNKNOWN), int(Status.WARNING)
    backup = {critical: 2, unknown: n_levels}
    rules = [Rule(check=c, open=backup, after=1) for c in sorted(OPEN_AT_FIRST)]
    rules += [Rule(check="accounts", item="empty_password", open={critical: 2}, after=1),
              Rule(check="db_accounts", item="*/empty_password", open={critical: 2}, after=1),
              Rule(check="antivirus", open={warning: n_levels, critical: max(n_levels - 1, 1)}, after=2),
              Rule(check="agent", item="spool", open={critical: max(n_levels - 1, 1)}, after=1)]
    rules.append(Rule(check="*", open={critical: max(n_levels - 1, 1)}, after=2))
    return tuple(rules)


def default_policy() -> SitePolicy:
    return SitePolicy(levels=DEFAULT_LEVELS, calendar=DEFAULT_CALENDAR, rules=default_rules(3))


def default_policies() -> Policies:
    return Policies(default=default_policy())


# ---------------------------------------------------------------------------
# Loading

_POLICY_KEYS = ("levels", "business_hours", "holidays", "key_customer", "key_factor", "rules",
                "maintenance", "agent_silent", "reopen_window", "escalate_on_breach", "onsite",
                "records", "restore_drills", "followup")


class _Problems:
    def __init__(self, where: str) -> None:
        self.where = where
        self.items: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.items.append(f"{self.where}: {path}: {message}")


def _yaml_file(path: Path, what: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read the {what}: {exc.strerror or exc}"]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError([f"{path}: expected UTF-8 text"]) from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError([f"{path}: not valid YAML{at}: {getattr(exc, 'problem', exc)}"]) from exc


def _date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value).strip())


def _dates(raw: Any, path: str, p: _Problems) -> frozenset[date]:
    """A list of dates and ``FROM..TO`` ranges (both ends included)."""
    if raw is None:
        return frozenset()
    if not isinstance(raw, list):
        p.add(path, "expected a list of dates (2026-10-01) or ranges (2026-10-01..2026-10-07)")
        return frozenset()
    out: set[date] = set()
    for i, entry in enumerate(raw):
        try:
            if isinstance(entry, str) and ".." in entry:
                first, _, last = entry.partition("..")
                a, b = _date(first), _date(last)
                if b < a or (b - a).days > 366:
                    raise ValueError("range runs backwards or is longer than a year")
                out.update(a + timedelta(days=k) for k in range((b - a).days + 1))
            else:
                out.add(_date(entry))
        except (ValueError, TypeError) as exc:
            p.add(f"{path}[{i}]",
                  f"expected a date like 2026-10-01 or a range 2026-10-01..2026-10-07 ({exc})")
    return frozenset(out)


def _holiday_file(raw: Any, base: Path, path: str, p: _Problems) -> tuple[frozenset[date], frozenset[date]]:
    if not isinstance(raw, str) or not raw.strip():
        p.add(path, "expected the path of a holiday calendar file (YAML with holidays: and workdays:)")
        return frozenset(), frozenset()
    file = (base / raw).resolve() if not Path(raw).is_absolute() else Path(raw)
    try:
        doc = _yaml_file(file, "holiday calendar")
    except ConfigError as exc:
        p.items.extend(exc.problems)
        return frozenset(), frozenset()
    if doc is None:
        doc = {}
    if not isinstance(doc, Mapping):
        p.add(path, f"{file}: expected a mapping with holidays: and workdays: lists")
        return frozenset(), frozenset()
    fp = _Problems(str(file))
    for key in doc:
        if key not in ("holidays", "workdays"):
            fp.add(str(key), "unknown key (expected holidays, workdays)")
    holidays = _dates(doc.get("holidays"), "holidays", fp)
    workdays = _dates(doc.get("workdays"), "workdays", fp)
    for d in sorted(holidays & workdays):
        fp.add("workdays", f"{d} is also listed as a holiday")
    p.items.extend(fp.items)
    return holidays, workdays


def _clock_time(text: str) -> time:
    hh, _, mm = text.strip().partition(":")
    if hh.strip() == "24" and mm.strip() in ("00", "0"):
        return time.max
    return time(int(hh), int(mm or 0))


def _calendar(raw: Any, holidays: tuple[frozenset[date], frozenset[date]] | None, base: Calendar,
              path: str, p: _Problems) -> Calendar:
    zone, days, spans = base.zone, base.days, base.spans
    if raw is not None:
        if not isinstance(raw, Mapping):
            p.add(path, "expected a mapping with timezone, days and hours")
            raw = {}
        for key in raw:
            if key not in ("timezone", "days", "hours"):
                p.add(f"{path}.{key}", "unknown key (expected timezone, days, hours)")
        if "timezone" in raw:
            try:
                zone = ZoneInfo(str(raw["timezone"]))
            except (ZoneInfoNotFoundError, ValueError):
                p.add(f"{path}.timezone", f"expected an IANA time zone such as Asia/Shanghai "
                                          f"(got {raw['timezone']!r})")
        if "days" in raw:
            got = raw["days"]
            names = [str(d).strip().lower()[:3] for d in got] if isinstance(got, list) else []
            if not names or any(n not in _WEEKDAYS for n in names):
                p.add(f"{path}.days",
                      f"expected a list of weekdays such as [mon, tue, wed, thu, fri] (got {got!r})")
            else:
                days = frozenset(_WEEKDAYS.index(n) for n in names)
        if "hours" in raw:
            got = raw["hours"]
            parsed: list[tuple[time, time]] = []
            try:
                if not isinstance(got, str):
                    raise ValueError
                for part in got.split(","):
                    a, _, b = part.partition("-")
                    begin, end = _clock_time(a), _clock_time(b)
                    if end <= begin or (parsed and begin < parsed[-1][1]):
                        raise ValueError
                    parsed.append((begin, end))
            except ValueError:
                p.add(f"{path}.hours", f"expected working hours like \"08:30-17:30\" or "
                                       f"\"08:00-12:00,13:30-17:30\" in order (got {got!r})")
            else:
                spans = tuple(parsed)
    hol, work = holidays if holidays is not None else (base.holidays, base.workdays)
    return Calendar(zone=zone, days=days, spans=spans, holidays=hol, workdays=work)


def _term(raw: Any, path: str, p: _Problems, default: Term, *, business: bool) -> Term:
    try:
        return parse_term(raw, business=business)
    except ValueError as exc:
        p.add(path, str(exc))
        return default


def _duration(raw: Any, path: str, p: _Problems, default: timedelta) -> timedelta:
    return _term(raw, path, p, Term(str(raw), default), business=False).time


def _bool(raw: Any, path: str, p: _Problems, default: bool) -> bool:
    if not isinstance(raw, bool):
        p.add(path, f"expected true or false (got {raw!r})")
        return default
    return raw


def _int(raw: Any, path: str, p: _Problems, low: int, high: int, default: int) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not low <= raw <= high:
        p.add(path, f"expected an integer {low}-{high} (got {raw!r})")
        return default
    return raw


def _levels(raw: Any, path: str, p: _Problems) -> tuple[Level, ...] | None:
    if not isinstance(raw, list) or len(raw) not in (3, 4):
        p.add(path, "expected a list of 3 or 4 levels, the most severe first, each "
                    "{name, response, resolve, clock: 24x7|business}")
        return None
    out = []
    for i, lv in enumerate(raw):
        here = f"{path}[{i}]"
        if not isinstance(lv, Mapping):
            p.add(here, "expected a mapping with name, response, resolve, clock")
            continue
        for key in lv:
            if key not in ("name", "response", "resolve", "clock"):
                p.add(f"{here}.{key}", "unknown key (expected name, response, resolve, clock)")
        name = lv.get("name", f"level {i + 1}")
        if not isinstance(name, str) or not name.strip():
            p.add(f"{here}.name", "expected a name such as \"system down\"")
            name = f"level {i + 1}"
        clock = lv.get("clock", "business")
        if clock not in ("24x7", "business"):
            p.add(f"{here}.clock", f"expected 24x7 or business (got {clock!r})")
        business = clock != "24x7"
        response = _term(lv.get("response"), f"{here}.response", p, Term("2h", timedelta(hours=2)),
                         business=business)
        resolve = _term(lv.get("resolve"), f"{here}.resolve", p, Term("24h", timedelta(hours=24)),
                        business=business)
        if not response.working_days and not resolve.working_days and resolve.time < response.time \
                or response.working_days > resolve.working_days > 0 \
                or response.working_days and not resolve.working_days:
            p.add(f"{here}.resolve", "expected a resolution time no shorter than the response time")
        out.append(Level(i + 1, name.strip(), response, resolve, not business))
    return tuple(out)


def _status(name: Any) -> int | None:
    if isinstance(name, str) and name.strip().upper() in Status.__members__:
        return int(Status[name.strip().upper()])
    return None


def _rules(raw: Any, n_levels: int, path: str, p: _Problems) -> tuple[Rule, ...]:
    if not isinstance(raw, list):
        p.add(path, "expected a list of rules {check, item, open: {CRITICAL: 2}, after, recover_after}")
        return ()
    keys = ("check", "item", "open", "after", "recover_after", "flap_window", "flap_changes")
    out = []
    for i, r in enumerate(raw):
        here = f"{path}[{i}]"
        if not isinstance(r, Mapping):
            p.add(here, "expected a mapping {check, item, open, after, recover_after}")
            continue
        for key in r:
            if key not in keys:
                p.add(f"{here}.{key}", f"unknown key (expected {', '.join(keys)})")
        check, item = r.get("check", "*"), r.get("item", "*")
        for k, v in (("check", check), ("item", item)):
            if not isinstance(v, str) or not v:
                p.add(f"{here}.{k}", f"expected a name or glob such as backup_* (got {v!r})")
        opened: dict[int, int] = {}
        raw_open = r.get("open", {})
        if raw_open is None or raw_open == "none":
            raw_open = {}
        if not isinstance(raw_open, Mapping):
            p.add(f"{here}.open",
                  "expected a mapping of status to level, e.g. {CRITICAL: 2, WARNING: 3}, or none")
            raw_open = {}
        for status_name, level in raw_open.items():
            st = _status(status_name)
            if st is None or st == int(Status.OK):
                p.add(f"{here}.open.{status_name}", "expected WARNING, CRITICAL or UNKNOWN")
                continue
            opened[st] = _int(level, f"{here}.open.{status_name}", p, 1, n_levels, 1)
        default_after = 1 if isinstance(check, str) and check in OPEN_AT_FIRST else 2
        after = _int(r.get("after", default_after), f"{here}.after", p, 1, 100, default_after)
        recover = _int(r.get("recover_after", 2), f"{here}.recover_after", p, 1, 100, 2)
        window = _int(r.get("flap_window", 10), f"{here}.flap_window", p, 2, 64, 10)
        changes = _int(r.get("flap_changes", 5), f"{here}.flap_changes", p, 2, 64, 5)
        if changes >= window:
            p.add(f"{here}.flap_changes", f"expected fewer changes than flap_window ({window})")
        out.append(Rule(check=str(check), item=str(item), open=opened, after=after, recover_after=recover,
                        flap_window=window, flap_changes=changes))
    return tuple(out)


def _aware(raw: Any, zone: ZoneInfo) -> datetime:
    value = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw).strip())
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def _windows(raw: Any, zone: ZoneInfo, path: str, p: _Problems) -> tuple[Window, ...]:
    if not isinstance(raw, list):
        p.add(path, "expected a list of windows {hosts, start, end} or {hosts, cron, duration}")
        return ()
    out = []
    for i, w in enumerate(raw):
        here = f"{path}[{i}]"
        if not isinstance(w, Mapping):
            p.add(here, "expected a mapping {hosts, start, end} or {hosts, cron, duration}")
            continue
        for key in w:
            if key not in ("hosts", "start", "end", "cron", "duration", "reason"):
                p.add(f"{here}.{key}", "unknown key (expected hosts, start, end, cron, duration, reason)")
        hosts = w.get("hosts", ["*"])
        if isinstance(hosts, str):
            hosts = [hosts]
        if not isinstance(hosts, list) or not hosts or not all(isinstance(h, str) and h for h in hosts):
            p.add(f"{here}.hosts", "expected a list of host names or globs (default [\"*\"], every host)")
            hosts = ["*"]
        reason = str(w.get("reason", ""))
        if "cron" in w:
            if "start" in w or "end" in w:
                p.add(here, "give start and end (one-off) or cron and duration (recurring), not both")
            try:
                trigger = Schedule.parse(str(w["cron"]), zone)
            except ValueError as exc:
                p.add(f"{here}.cron", f"expected a cron expression such as \"0 2 * * 0\" ({exc})")
                continue
            duration = _duration(w.get("duration"), f"{here}.duration", p, timedelta(hours=1))
            out.append(Window(hosts=tuple(hosts), cron=trigger, duration=duration, reason=reason))
            continue
        try:
            start, end = _aware(w.get("start"), zone), _aware(w.get("end"), zone)
        except (ValueError, TypeError):
            p.add(here, "expected start and end times such as 2026-11-28T22:00:00+08:00 "
                        "(or cron and duration for a recurring window)")
            continue
        if end <= start:
            p.add(f"{here}.end", "expected an end after the start")
            continue
        out.append(Window(hosts=tuple(hosts), start=start, end=end, reason=reason))
    return tuple(out)


def _records_policy(raw: Any, base: RecordsPolicy, path: str, p: _Problems) -> RecordsPolicy:
    keys = ("customer", "systems", "language", "inspector", "schedule")
    if not isinstance(raw, Mapping):
        p.add(path, f"expected a mapping with {', '.join(keys)}")
        return base
    for key in raw:
        if key not in keys:
            p.add(f"{path}.{key}", f"unknown key (expected {', '.join(keys)})")
    changes: dict[str, Any] = {}
    for key in ("customer", "inspector"):
        if key in raw:
            if not isinstance(raw[key], str) or not raw[key].strip() or len(raw[key]) > 100:
                p.add(f"{path}.{key}", "expected a name of 1-100 characters")
            else:
                changes[key] = raw[key].strip()
    if "systems" in raw:
        got = raw["systems"]
        if not isinstance(got, list) or not all(isinstance(x, str) and x.strip() for x in got):
            p.add(f"{path}.systems", f"expected a list of system names such as [HIS, LIS] (got {got!r})")
        else:
            changes["systems"] = tuple(x.strip() for x in got)
    if "language" in raw:
        lang = str(raw["language"]).strip().replace("-", "_")
        lang = {"zh": "zh_CN", "zh_cn": "zh_CN", "en_us": "en"}.get(lang.lower(), lang)
        if lang not in ("zh_CN", "en"):
            p.add(f"{path}.language", f"expected zh_CN or en (got {raw['language']!r})")
        else:
            changes["language"] = lang
    if "schedule" in raw:
        sched = raw["schedule"]
        if not isinstance(sched, Mapping):
            p.add(f"{path}.schedule",
                  "expected a mapping of kind to cron or off, e.g. {daily: \"30 7 * * *\"}")
        else:
            merged = dict(base.schedule)
            for kind, expr in sched.items():
                here = f"{path}.schedule.{kind}"
                if kind not in RECORD_KINDS:
                    p.add(here, f"unknown kind (expected {', '.join(RECORD_KINDS)})")
                    continue
                if expr is False or expr is None or expr == "off":
                    merged[kind] = None
                    continue
                try:
                    Schedule.parse(str(expr), UTC)
                except ValueError as exc:
                    p.add(here, f"expected a cron expression such as \"30 7 * * *\" or off ({exc})")
                    continue
                merged[kind] = str(expr)
            changes["schedule"] = merged
    return RecordsPolicy(**{**{f: getattr(base, f) for f in RecordsPolicy.__dataclass_fields__}, **changes})


def _clocked_term(raw: Mapping[str, Any], key: str, base: Term, base_always: bool, path: str,
                  p: _Problems) -> tuple[Term, bool]:
    """The term under ``key`` and the ``clock`` (24x7 or business) it runs on, of a mapping such as
    ``onsite: {due: 24h, clock: business}``; an inherited term is read again on a new clock."""
    always = base_always
    if "clock" in raw:
        if raw["clock"] not in ("24x7", "business"):
            p.add(f"{path}.clock", f"expected 24x7 or business (got {raw['clock']!r})")
        always = raw["clock"] == "24x7"
    if key in raw:
        return _term(raw[key], f"{path}.{key}", p, base, business=not always), always
    if always != base_always:
        return _term(base.text, f"{path}.{key}", p, base, business=not always), always
    return base, always


def _drills(raw: Any, base: str | None, path: str, p: _Problems) -> str | None:
    """``restore_drills: {every: quarterly}`` (or ``off``) → the promised period, None for none."""
    if raw is False or raw == "off":
        return None
    if not isinstance(raw, Mapping):
        p.add(path, f"expected {{every: {'|'.join(DRILL_PERIODS)}}} or off")
        return base
    for key in raw:
        if key != "every":
            p.add(f"{path}.{key}", "unknown key (expected every)")
    every = raw.get("every", base)
    if every is False or every == "off":
        return None
    if every not in DRILL_PERIODS:
        p.add(f"{path}.every", f"expected {', '.join(DRILL_PERIODS)} or off (got {every!r})")
        return base
    return str(every)


def _followup(raw: Any, base: FollowupPolicy, n_levels: int, path: str, p: _Problems) -> FollowupPolicy:
    keys = ("within", "clock", "tickets", "account_manager", "complaint_level")
    if raw is False or raw == "off":
        return FollowupPolicy(**{**{f: getattr(base, f) for f in FollowupPolicy.__dataclass_fields__},
                                 "tickets": "off"})
    if not isinstance(raw, Mapping):
        p.add(path, "expected {within: 3wd, clock: business, tickets: handled, account_manager: NAME, "
                    "complaint_level: 3}")
        return base
    for key in raw:
        if key not in keys:
            p.add(f"{path}.{key}", f"unknown key (expected {', '.join(keys)})")
    changes: dict[str, Any] = {}
    changes["within"], changes["always"] = _clocked_term(raw, "within", base.within, base.always, path, p)
    if "tickets" in raw:
        if raw["tickets"] is False:  # YAML reads a bare off as false
            changes["tickets"] = "off"
        elif raw["tickets"] not in FOLLOWUP_TICKETS:
            p.add(f"{path}.tickets", f"expected {', '.join(FOLLOWUP_TICKETS)} (got {raw['tickets']!r})")
        else:
            changes["tickets"] = raw["tickets"]
    if "account_manager" in raw:
        name = raw["account_manager"]
        if name is None:
            changes["account_manager"] = None
        elif not isinstance(name, str) or not name.strip() or len(name.strip()) > 64:
            p.add(f"{path}.account_manager", "expected a name of 1-64 characters")
        else:
            changes["account_manager"] = name.strip()
    if "complaint_level" in raw:
        changes["complaint_level"] = _int(raw["complaint_level"], f"{path}.complaint_level", p, 1, n_levels,
                                          n_levels)
    return FollowupPolicy(**{**{f: getattr(base, f) for f in FollowupPolicy.__dataclass_fields__}, **changes})


def _policy(raw: Any, base: SitePolicy, base_dir: Path, path: str, p: _Problems,
            explicit_rules: tuple[Rule, ...] = ()) -> tuple[SitePolicy, tuple[Rule, ...]]:
    """A policy from ``raw`` on top of ``base``; also returns the rules written in the file."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        p.add(path, "expected a mapping of policy settings")
        return base, explicit_rules
    for key in raw:
        if key not in _POLICY_KEYS:
            p.add(f"{path}.{key}", f"unknown key (expected {', '.join(_POLICY_KEYS)})")
    levels = base.levels
    if "levels" in raw:
        levels = _levels(raw["levels"], f"{path}.levels", p) or base.levels
    n = len(levels)
    holidays = (_holiday_file(raw["holidays"], base_dir, f"{path}.holidays", p)
                if "holidays" in raw else None)
    calendar = _calendar(raw.get("business_hours"), holidays, base.calendar, f"{path}.business_hours", p)
    rules = explicit_rules
    if "rules" in raw:
        rules = _rules(raw["rules"], n, f"{path}.rules", p)
    for i, r in enumerate(rules):
        for st, lv in r.open.items():
            if lv > n:
                p.add(f"{path}.rules[{i}].open.{Status(st).name}", f"level {lv} is not in a {n}-level scheme")
    changes: dict[str, Any] = {"levels": levels, "calendar": calendar,
                               "rules": rules + default_rules(n), "_rule_cache": {}}
    if "key_customer" in raw:
        changes["key_customer"] = _bool(raw["key_customer"], f"{path}.key_customer", p, False)
    if "key_factor" in raw:
        f = raw["key_factor"]
        if isinstance(f, bool) or not isinstance(f, int | float) or not 0 < f <= 1:
            p.add(f"{path}.key_factor", f"expected a number above 0 and at most 1, e.g. 0.5 (got {f!r})")
        else:
            changes["key_factor"] = float(f)
    if "maintenance" in raw:
        changes["maintenance"] = _windows(raw["maintenance"], calendar.zone, f"{path}.maintenance", p)
    if "agent_silent" in raw:
        s = raw["agent_silent"]
        if s is False or s == "off":
            changes["silent_grace"] = None
        elif not isinstance(s, Mapping):
            p.add(f"{path}.agent_silent", "expected {grace: 15m, level: 2} or off")
        else:
            for key in s:
                if key not in ("grace", "level"):
                    p.add(f"{path}.agent_silent.{key}", "unknown key (expected grace, level)")
            if "grace" in s:
                changes["silent_grace"] = (None if s["grace"] == "off" else
                                           _term(s["grace"], f"{path}.agent_silent.grace", p,
                                                 Term("15m", timedelta(minutes=15)), business=False))
            if "level" in s:
                changes["silent_level"] = _int(s["level"], f"{path}.agent_silent.level", p, 1, n, 2)
    if "reopen_window" in raw:
        changes["reopen_window"] = (timedelta(0) if raw["reopen_window"] in ("off", "0", 0) else
                                    _duration(raw["reopen_window"], f"{path}.reopen_window", p,
                                              timedelta(hours=1)))
    if "escalate_on_breach" in raw:
        changes["escalate_on_breach"] = _bool(raw["escalate_on_breach"], f"{path}.escalate_on_breach", p,
                                              True)
    if "onsite" in raw:
        o = raw["onsite"]
        if not isinstance(o, Mapping):
            p.add(f"{path}.onsite", "expected {due: 24h, clock: 24x7|business}")
        else:
            for key in o:
                if key not in ("due", "clock"):
                    p.add(f"{path}.onsite.{key}", "unknown key (expected due, clock)")
            changes["onsite_due"], changes["onsite_always"] = _clocked_term(
                o, "due", base.onsite_due, base.onsite_always, f"{path}.onsite", p)
    if "records" in raw:
        changes["records"] = _records_policy(raw["records"], base.records, f"{path}.records", p)
    if "restore_drills" in raw:
        changes["drill_every"] = _drills(raw["restore_drills"], base.drill_every, f"{path}.restore_drills", p)
    if "followup" in raw:
        changes["followup"] = _followup(raw["followup"], base.followup, n, f"{path}.followup", p)
    silent_level = changes.get("silent_level", base.silent_level)
    if silent_level > n:
        changes["silent_level"] = min(silent_level, n)
    policy = SitePolicy(**{**{f: getattr(base, f) for f in SitePolicy.__dataclass_fields__}, **changes})
    return policy, rules


def load_policies(path: str | Path) -> Policies:
    """Read and check a policy file; :class:`ConfigError` lists every fault at once."""
    file = Path(path)
    doc = _yaml_file(file, "policy file")
    p = _Problems(str(file))
    if doc is None:
        doc = {}
    if not isinstance(doc, Mapping):
        raise ConfigError([f"{file}: expected a mapping with default: and sites: at the top level"])
    for key in doc:
        if key not in ("default", "sites"):
            p.add(str(key), "unknown key (expected default, sites)")
    base_dir = file.resolve().parent
    default, default_rules_written = _policy(doc.get("default"), default_policy(), base_dir, "default", p)
    sites: dict[str, SitePolicy] = {}
    raw_sites = doc.get("sites") or {}
    if not isinstance(raw_sites, Mapping):
        p.add("sites", "expected a mapping of site name to policy")
        raw_sites = {}
    for name, raw in raw_sites.items():
        sites[str(name)], _ = _policy(raw, default, base_dir, f"sites.{name}", p, default_rules_written)
    if p.items:
        raise ConfigError(p.items)
    return Policies(default=default, sites=sites, source=str(file))


def describe_policies(policies: Policies) -> str:
    """A plain-text summary of each policy (``wardround-collector policy check``)."""
    lines = [f"{policies.source}: OK"]
    for name, p in [("default (sites not listed)", policies.default), *sorted(policies.sites.items())]:
        cal = p.calendar
        days = ",".join(_WEEKDAYS[d] for d in sorted(cal.days))
        hours = ",".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in cal.spans)
        lines.append(f"{name}: {len(p.levels)} levels; business hours {days} {hours} {cal.zone.key}; "
                     f"{len(cal.holidays)} holiday(s), {len(cal.workdays)} make-up working day(s)"
                     + (f"; key customer (deadlines x{p.key_factor:g})" if p.key_customer else ""))
        for lv in p.levels:
            lines.append(f"  level {lv.number} {lv.name}: respond {lv.response}, resolve "
                         f"{lv.resolve} ({'24x7' if lv.always else 'business hours'})")
        for r in p.rules:
            opens = ", ".join(f"{Status(s).name}→{lv}" for s, lv in sorted(r.open.items())) or "nothing"
            lines.append(f"  rule {r.check} {r.item}: opens {opens}; after {r.after}, recovers after "
                         f"{r.recover_after}, flapping at {r.flap_changes} changes in {r.flap_window}")
        silent = f"after {p.silent_grace} at level {p.silent_level}" if p.silent_grace else "off"
        reopen = format_duration(p.reopen_window.total_seconds())
        lines.append(f"  agent silent: {silent}; reopen window {reopen}; "
                     f"escalate on breach: {'yes' if p.escalate_on_breach else 'no'}; "
                     f"{len(p.maintenance)} maintenance window(s)")
        f = p.followup
        follow = ("off" if f.tickets == "off" else
                  f"{f.tickets} tickets within {f.within} ({'24x7' if f.always else 'business hours'}); "
                  f"a satisfaction of {COMPLAINT_SCORE} or less opens a complaint at level {p.complaint_level}"
                  f" for {f.account_manager or 'nobody named (followup.account_manager)'}")
        lines.append(f"  restore drills promised: {p.drill_every or 'none'}; customer follow-up: {follow}")
    return "\n".join(lines)
