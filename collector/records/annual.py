"""The annual service report (年度服务报告) of one site: record kind ``annual``.

What the contract promised set against what the year's evidence shows,
built from the results' day roll-ups (:mod:`collector.store.rollups`: never the
raw results, so the report says the same after they are pruned), tickets,
issued records and the service archive of the period (usually a calendar year
in the site's time zone).  Its SQL lives in :mod:`collector.store.annual`.
Every figure is in a titled section (``RecordContent.sections``) so the
generic renderers show it; every word comes from the records catalogs
(``annual.*`` keys).  Sections, in order:

``patrols``
    delivered versus promised: daily, weekly and monthly patrol records
    issued (distinct periods with a record of the kind ÷ periods in the
    year) and on-site inspections (quarterly records + archive entries of
    kind ``visit``) against the promised :data:`ONSITE_PER_YEAR`,
    pro-rated to the period's length.
``tickets``
    tickets opened in the period by level: count, response and resolution
    SLA met / breached / pending and the attainment rate (met ÷ decided).
    Each ticket counts as it stood at the period's end (its level then, its
    history up to then: :mod:`collector.records.tickets`), so a report issued
    later says the same.  A deadline is *breached* when the ticket was marked
    breached, kept late or left unanswered past it, *met* when kept, *pending*
    when still running at the period's end.
``breaches``
    every ticket with a breached deadline (response, resolution or on-site
    visit), and which one.
``followups``
    the customer follow-ups (回访) of the tickets resolved in the period, per
    level: coverage, on time, average satisfaction, complaints
    (:mod:`collector.records.followups`).
``backups``
    per backup item (``db_backup``, ``backup_files``, ``offsite_copy``):
    days with a good backup ÷ days observed (from the item's first result
    in the period).  A day counts when the newest result of that day (site
    time zone) is OK.  ``offsite_copy`` rows are the off-site copy rate.
``drills``, ``hygiene``
    restore drills per database (done, successful, failed; promise periods
    met of those promised by ``restore_drills.every``) and the security
    hygiene checks per aspect (servers checked, with a finding at the end,
    results with a finding, tickets): :mod:`collector.records.hygiene`.
``availability``
    per host: the share of the period it reported (time not inside a gap
    longer than :data:`SILENT_AFTER` between results, counted from its
    first result in the period), its longest silence, and the share of
    ``system``/``uptime`` results that were OK.
``recurring``
    the check items that went bad (from OK/no result to WARNING or
    CRITICAL) most often: times, bad results, tickets opened.
``capacity``
    per disk: used % and forecast days until full from its newest result in
    the period (``days_to_full`` from the disk check).
``recommendations``
    certificates expiring within :data:`CERT_WARN_DAYS`, disks forecast to
    fill within :data:`DISK_WARN_DAYS`, hosts silent at the period's end or
    reporting less than :data:`AVAILABILITY_WARN`, backup items below
    :data:`BACKUP_WARN`, restore drills the policy promised and missed,
    servers with hygiene findings at the end, SLA breaches to review and
    tickets not followed up in time.
``archive``
    the service archive's current entries of the period (corrected entries
    are left out; the correction stands in their place).

The ticket list of the content model carries every ticket opened in the
period (with SLA outcomes); ``rows``, ``gaps`` and ``backup_evidence`` are
left to the patrol records.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import Connection

from checks.catalogue import BACKUP_CHECKS
from checks.result import format_time
from collector.messages import local_minute
from collector.policy import SitePolicy, default_policy
from collector.records.followups import annual_followups
from collector.records.hygiene import annual_drills, annual_hygiene
from collector.records.i18n import catalog, text
from collector.records.kinds import register
from collector.records.measure import metric_value, metrics_of
from collector.records.model import Header, RecordContent, Section, TicketLine
from collector.records.tickets import ticket_lines
from collector.store import annual as annual_store
from collector.store import records as store
from collector.store.archive import ArchiveFilter, find_entries
from collector.store.rollups import SILENT_AFTER

__all__ = ["AVAILABILITY_WARN", "BACKUP_WARN", "CERT_WARN_DAYS", "DISK_WARN_DAYS", "ONSITE_PER_YEAR",
           "SILENT_AFTER", "build"]

log = logging.getLogger(__name__)

ONSITE_PER_YEAR = 4  # the key-customer promise: four on-site inspections a year
CERT_WARN_DAYS = 60.0
DISK_WARN_DAYS = 90.0
AVAILABILITY_WARN = 0.99
BACKUP_WARN = 0.95
RECURRING_TOP = 10
_BAD = (1, 2)
Cells = list[list[str | int | float | None]]
Rate = tuple[str, str, float]  # (host, item, a rate or a number of days)


def _columns(lang: str, *names: str) -> list[str]:
    return [text(lang, f"annual.column.{n}") for n in names]


def _note(lang: str, key: str, rows: Cells) -> str:
    return text(lang, key) if rows else text(lang, "annual.none")


def _pct(part: float, whole: float) -> str:
    return "—" if whole <= 0 else f"{100.0 * part / whole:.1f} %"


def _label(lang: str, check: str, item: str) -> str:
    key = f"check.{check}"
    return text(lang, key, item=item) if key in _catalog_keys(lang) else text(lang, "check.other",
                                                                                check=check, item=item)


def _catalog_keys(lang: str) -> dict[str, str]:
    return catalog(lang)


def _local_day(at: datetime, zone: tzinfo) -> str:
    return at.astimezone(zone).date().isoformat()


@dataclass(frozen=True, slots=True)
class _Period:
    start: datetime  # UTC
    end: datetime  # UTC, exclusive
    zone: tzinfo
    first_day: date
    last_day: date

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1


def _period(period_start: datetime, period_end: datetime) -> _Period:
    if period_start.tzinfo is None or period_end.tzinfo is None:
        raise ValueError("period_start and period_end must be timezone-aware")
    zone = period_start.tzinfo
    first = period_start.date()
    last = (period_end.astimezone(zone) - timedelta(microseconds=1)).date()
    return _Period(period_start.astimezone(UTC), period_end.astimezone(UTC), zone, first, last)


# -- patrols delivered versus promised --------------------------------------------------

def _distinct_periods(conn: Connection, site: str, kind: str, p: _Period) -> int:
    return annual_store.distinct_periods(conn, site, kind, p.first_day.isoformat(), p.last_day.isoformat())


def _weeks(p: _Period) -> int:
    """Whole ISO weeks (Monday starts) that begin inside the period."""
    return sum(1 for i in range(p.days) if (p.first_day + timedelta(days=i)).weekday() == 0)


def _months(p: _Period) -> int:
    return sum(1 for i in range(p.days) if (p.first_day + timedelta(days=i)).day == 1)


def _patrols(conn: Connection, site: str, p: _Period, lang: str,
             visits: int) -> tuple[Section, dict[str, Any]]:
    daily = _distinct_periods(conn, site, "daily", p)
    weekly = _distinct_periods(conn, site, "weekly", p)
    monthly = _distinct_periods(conn, site, "monthly", p)
    quarterly = _distinct_periods(conn, site, "quarterly", p)
    promised_onsite = round(ONSITE_PER_YEAR * p.days / 365)
    onsite = quarterly + visits
    rows: Cells = [
        [text(lang, "annual.patrol.daily"), p.days, daily, _pct(daily, p.days)],
        [text(lang, "annual.patrol.weekly"), _weeks(p), weekly, _pct(weekly, _weeks(p))],
        [text(lang, "annual.patrol.monthly"), _months(p), monthly, _pct(monthly, _months(p))],
        [text(lang, "annual.patrol.onsite", records=quarterly, visits=visits), promised_onsite, onsite,
         _pct(min(onsite, promised_onsite), promised_onsite)],
    ]
    section = Section(key="patrols", title=text(lang, "annual.heading.patrols"),
                      columns=_columns(lang, "item", "promised", "delivered", "rate"),
                      rows=rows, note=text(lang, "annual.note.patrols", onsite=ONSITE_PER_YEAR))
    return section, {"daily": daily, "onsite": onsite, "promised_onsite": promised_onsite}


# -- tickets and SLA ----------------------------------------------------------------------

def _ticket_lines(conn: Connection, site: str, p: _Period, lang: str, policy: SitePolicy) -> list[TicketLine]:
    """Every ticket opened in the period, as it stood at the period's end."""
    return ticket_lines(conn, annual_store.period_tickets(conn, site, p.start, p.end), p.start, p.end, lang,
                        acted_only=False, levels=policy.levels)


def _ticket_sections(lines: list[TicketLine], lang: str) -> tuple[Section, Section]:
    by_level: dict[int, list[TicketLine]] = defaultdict(list)
    for t in lines:
        by_level[t.severity].append(t)
    rows: Cells = []

    def counts(ts: list[TicketLine], attr: str) -> tuple[int, int, int]:
        values = [getattr(t, attr) for t in ts]
        return values.count("met"), values.count("breached"), values.count("pending")

    for level in sorted(by_level):
        ts = by_level[level]
        rm, rb, rp = counts(ts, "response")
        sm, sb, sp = counts(ts, "resolution")
        rows.append([f"{level} · {ts[0].level_name}", len(ts), rm, rb, rp, _pct(rm, rm + rb),
                     sm, sb, sp, _pct(sm, sm + sb)])
    if lines:
        rm, rb, rp = counts(lines, "response")
        sm, sb, sp = counts(lines, "resolution")
        rows.append([text(lang, "annual.total"), len(lines), rm, rb, rp, _pct(rm, rm + rb), sm, sb, sp,
                     _pct(sm, sm + sb)])
    cols = ("level", "tickets", "response_met", "response_breached", "response_pending", "response_rate",
            "resolution_met", "resolution_breached", "resolution_pending", "resolution_rate")
    by_level_section = Section(key="tickets", title=text(lang, "annual.heading.tickets"),
                               columns=[text(lang, f"annual.column.{c}") for c in cols], rows=rows,
                               note=text(lang, "annual.note.tickets"))
    breach_rows: Cells = []
    for t in lines:
        outcomes = (("response", t.response), ("resolution", t.resolution), ("onsite", t.onsite))
        which = [text(lang, f"annual.breach.{k}") for k, v in outcomes if v == "breached"]
        if which:
            breach_rows.append([t.id, t.opened_at[:10], t.host, _label(lang, t.check, t.item), t.severity,
                                t.summary, ", ".join(which)])
    breaches = Section(key="breaches", title=text(lang, "annual.heading.breaches"),
                       columns=_columns(lang, "ticket", "opened", "host", "item", "level", "summary",
                                        "breached"),
                       rows=breach_rows, note="" if breach_rows else text(lang, "annual.none"))
    return by_level_section, breaches


# -- backups ------------------------------------------------------------------------------

def _backups(conn: Connection, site: str, p: _Period, lang: str) -> tuple[Section, list[Rate]]:
    newest: dict[tuple[str, str, str], dict[str, int]] = defaultdict(dict)  # key -> day -> status
    first: dict[tuple[str, str, str], datetime] = {}
    for key, days in annual_store.day_rows(conn, site, p.start, p.end, BACKUP_CHECKS).items():
        for r in days:  # oldest first; a day row's last result is the day's newest
            newest[key][_local_day(r.last_at, p.zone)] = int(r.last_status)
        first[key] = days[0].first_at
    rows: Cells = []
    rates: list[Rate] = []
    for key in sorted(newest):
        host, check, item = key
        observed = (p.last_day - first[key].astimezone(p.zone).date()).days + 1
        good = sum(1 for status in newest[key].values() if status == 0)
        rows.append([host, _label(lang, check, item), good, observed, _pct(good, observed)])
        rates.append((host, _label(lang, check, item), good / observed))
    section = Section(key="backups", title=text(lang, "annual.heading.backups"),
                      columns=_columns(lang, "host", "item", "good_days", "observed_days", "rate"),
                      rows=rows, note=_note(lang, "annual.note.backups", rows))
    return section, rates


# -- availability -------------------------------------------------------------------------

def _availability(conn: Connection, site: str, p: _Period, lang: str, site_hosts: list[str]
                  ) -> tuple[Section, list[tuple[str, float, datetime | None]]]:
    spans = {host: (s.first_at, s.last_at, s.silent_us / 1e6, s.longest_us / 1e6)
             for host, s in annual_store.host_spans(conn, site, p.start, p.end).items()
             if s.first_at is not None and s.last_at is not None}  # (a span of rows has both)
    health = annual_store.health(conn, site, p.start, p.end, ("system", "uptime"))
    rows: Cells = []
    shares: list[tuple[str, float, datetime | None]] = []
    for host in site_hosts:
        if host not in spans:
            rows.append([host, _pct(0, 1), "—", "—", "—"])
            shares.append((host, 0.0, None))
            continue
        first, last, silent_inside, longest = spans[host]
        tail = max((p.end - last).total_seconds() - SILENT_AFTER.total_seconds(), 0.0)
        observed = (p.end - first).total_seconds()
        silent = float(silent_inside or 0.0) + tail
        longest_s = max(float(longest or 0.0), (p.end - last).total_seconds())
        share = 1.0 - silent / observed if observed > 0 else 0.0
        total, ok = health.get(host, (0, 0))
        rows.append([host, f"{100.0 * share:.2f} %", f"{silent / 3600:.1f}", f"{longest_s / 3600:.1f}",
                     _pct(ok, total)])
        shares.append((host, share, last))
    section = Section(key="availability", title=text(lang, "annual.heading.availability"),
                      columns=_columns(lang, "host", "reported", "silent_hours", "longest_silence_hours",
                                       "health_ok"),
                      rows=rows, note=text(lang, "annual.note.availability",
                                           minutes=int(SILENT_AFTER.total_seconds() // 60)))
    return section, shares


# -- recurring anomalies ----------------------------------------------------------------------

def _recurring(conn: Connection, site: str, p: _Period, lang: str) -> Section:
    ranked = annual_store.recurring(conn, site, p.start, p.end, RECURRING_TOP)
    opened = annual_store.opened_per_item(conn, site, p.start, p.end)
    rows: Cells = [[host, _label(lang, check, item), times, bad, opened.get((host, check, item), 0)]
                   for (host, check, item), times, bad in ranked]
    return Section(key="recurring", title=text(lang, "annual.heading.recurring"),
                   columns=_columns(lang, "host", "item", "went_bad", "bad_results", "tickets"),
                   rows=rows, note=text(lang, "annual.note.recurring") if rows else text(lang, "annual.none"))


# -- newest results per item (capacity, certificates) ---------------------------------------

def _newest(conn: Connection, site: str, check: str, p: _Period) -> list[annual_store.Newest]:
    return annual_store.newest(conn, site, check, p.start, p.end)


def _metric(raw: str, name: str) -> float | None:
    return metric_value(metrics_of(raw), name)


def _capacity(conn: Connection, site: str, p: _Period, lang: str) -> tuple[Section, list[Rate]]:
    rows: Cells = []
    filling: list[Rate] = []
    for r in _newest(conn, site, "disk", p):
        used = _metric(r.metrics, "used_percent")
        days = _metric(r.metrics, "days_to_full")
        rows.append([r.host, r.item, None if used is None else round(used, 1),
                     None if days is None else round(days), _local_day(r.started_at, p.zone)])
        if days is not None and days <= DISK_WARN_DAYS:
            filling.append((r.host, r.item, days))
    section = Section(key="capacity", title=text(lang, "annual.heading.capacity"),
                      columns=_columns(lang, "host", "mount", "used_percent", "days_to_full", "measured_on"),
                      rows=rows, note=_note(lang, "annual.note.capacity", rows))
    return section, filling


# -- recommendations ------------------------------------------------------------------------

def _recommendations(conn: Connection, site: str, p: _Period, lang: str, *, filling: list[Rate],
                     shares: list[tuple[str, float, datetime | None]], backup_rates: list[Rate],
                     breached: int, extra: Sequence[tuple[int, str]] = ()) -> Section:
    recs: list[tuple[int, str]] = []  # (order, text)
    for r in _newest(conn, site, "certificate", p):
        days = _metric(r.metrics, "days_left")
        if days is not None and days <= CERT_WARN_DAYS:
            key = "annual.rec.cert_expired" if days <= 0 else "annual.rec.cert"
            recs.append((0, text(lang, key, host=r.host, item=r.item, days=max(int(days), 0))))
    for host, item, days in sorted(filling, key=lambda f: f[2]):
        recs.append((1, text(lang, "annual.rec.disk", host=host, item=item, days=int(days))))
    for host, share, last in shares:
        if last is None or p.end - last > SILENT_AFTER:
            when = local_minute(last, p.zone, named=False) if last else text(lang, "annual.never")
            recs.append((2, text(lang, "annual.rec.silent", host=host, last=when)))
        elif share < AVAILABILITY_WARN:
            recs.append((3, text(lang, "annual.rec.availability", host=host, share=f"{100 * share:.1f}")))
    for host, label, rate in backup_rates:
        if rate < BACKUP_WARN:
            recs.append((4, text(lang, "annual.rec.backup", host=host, item=label, rate=f"{100 * rate:.1f}")))
    if breached:
        recs.append((5, text(lang, "annual.rec.breaches", count=breached)))
    recs += extra  # after the built-in ones of the same order
    rows: Cells = [[i + 1, t] for i, (_, t) in enumerate(sorted(recs, key=lambda r: r[0]))]
    return Section(key="recommendations", title=text(lang, "annual.heading.recommendations"),
                   columns=[text(lang, "annual.column.no"), text(lang, "annual.column.recommendation")],
                   rows=rows, note="" if rows else text(lang, "annual.rec.none"))


# -- the service archive ----------------------------------------------------------------------

def _archive(conn: Connection, site: str, p: _Period, lang: str) -> tuple[Section, int]:
    entries = find_entries(conn, ArchiveFilter(site=site, since=p.start, until=p.end, current_only=True,
                                               limit=100_000))
    rows: Cells = [
        [e.id, local_minute(e.at, p.zone, named=False), text(lang, f"annual.archive.{e.kind}"),
         e.host or "", e.phenomenon, e.action, e.parts, e.version, e.signer, e.engineer,
         e.ticket_id] for e in entries]
    visits = sum(1 for e in entries if e.kind == "visit")
    section = Section(key="archive", title=text(lang, "annual.heading.archive"),
                      columns=_columns(lang, "entry", "when", "kind", "host", "phenomenon", "action", "parts",
                                       "version", "signer", "engineer", "ticket"),
                      rows=rows, note="" if rows else text(lang, "annual.none"))
    return section, visits


def _site_hosts(conn: Connection, site: str, p: _Period) -> list[str]:
    """The hosts enrolled or seen before the year's end and not retired before its start."""
    return [h.host for h in store.site_hosts(conn, site)
            if h.first_seen < p.end and (h.retired_at is None or h.retired_at >= p.start)]


def build(conn: Connection, *, site: str, period_start: datetime, period_end: datetime, lang: str,
          inspector: str, policy: SitePolicy | None = None) -> RecordContent:
    """The annual service report of ``site`` for [period_start, period_end) (site-zone datetimes)."""
    policy = policy or default_policy()
    p = _period(period_start, period_end)
    site_hosts = _site_hosts(conn, site, p)
    archive_section, visits = _archive(conn, site, p, lang)
    patrols, _ = _patrols(conn, site, p, lang, visits)
    lines = _ticket_lines(conn, site, p, lang, policy)
    by_level, breaches = _ticket_sections(lines, lang)
    followups, not_followed = annual_followups(conn, site, period_start, period_end, lang, policy)
    backups, backup_rates = _backups(conn, site, p, lang)
    first_seen = annual_store.first_seen(conn, site)
    drills, drill_recs = annual_drills(conn, site, period_start, period_end, lang, policy, first_seen)
    hygiene, flagged = annual_hygiene(conn, site, period_start, period_end, lang)
    availability, shares = _availability(conn, site, p, lang, site_hosts)
    recurring = _recurring(conn, site, p, lang)
    capacity, filling = _capacity(conn, site, p, lang)
    extra = [(4, r) for r in drill_recs]
    if flagged:
        extra.append((4, text(lang, "annual.rec.hygiene", n=flagged)))
    if not_followed:
        extra.append((5, text(lang, "annual.rec.followups", n=not_followed)))
    recs = _recommendations(conn, site, p, lang, filling=filling, shares=shares, backup_rates=backup_rates,
                            breached=len(breaches.rows), extra=extra)
    header = Header(site=site, customer=site, systems=[], hosts=site_hosts, kind="annual",
                    period_from=p.first_day.isoformat(), period_to=p.last_day.isoformat(),
                    period_start=format_time(p.start), period_end=format_time(p.end),
                    timezone=str(p.zone), inspector=inspector, generated_at=format_time(p.end), language=lang)
    log.info("annual report for %s %s..%s built: %s tickets, %s archive entries", site, p.first_day,
             p.last_day, len(lines), len(archive_section.rows))
    return RecordContent(header=header, tickets=lines,
                         sections=[patrols, by_level, breaches, followups, backups, drills, hygiene, availability,
                                   recurring, capacity, recs, archive_section])


register("annual", build)
