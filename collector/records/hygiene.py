"""Security hygiene and restore drills in the records: what the service plan promises besides backups.

The seed rows of the plans: "电脑上打全补丁", "安装杀毒软件, 及时更新病毒代码",
"做好服务器的密码保护工作" and "建立健全重要数据及时备份和灾难性数据恢复机制".
Every word comes from the records catalogs (``hygiene.*``, ``drills.*``);
the checks' own English summaries are not printed here: each cell is said
again from the result's metrics and details (names of accounts, products and
hosts are identifiers and stay as they are).

Patrol records (daily … quarterly) get two sections:

``hygiene`` (安全卫生)
    per server and aspect — patches (``patches``), antivirus
    (``antivirus``), local accounts (``accounts``), database accounts
    (``db_accounts``) — from each item's newest result in the period: the
    verdict (the worst of the aspect's items) and what was found (pending
    security updates and for how long, the last update, a pending reboot;
    the age of the signatures and real-time protection; accounts with an
    empty password, extra administrators, an enabled Guest, passwords that
    never expire; the database's own findings).  Left out when no host ran
    these checks in the period.
``drills`` (恢复演练)
    per restore drill (server and backup path, named by the database the
    dump held): the last **successful** drill up to the period's end (looked
    for back to a year before the period), how long it took and the size
    restored, the drills in the period (successful / all), and whether the
    drill the site's policy promises (``restore_drills.every``, default
    quarterly) was done in the promise period that holds the record's last
    day: ``met`` (a successful drill in it), ``pending`` (none yet, the
    period still running at the record's end) or ``missed`` (it ended
    without one).  Shown whenever the site has drills or promises them, so a
    promise that nobody set up is visible as ``missed``/``pending`` with no
    rows.

The annual service report counts both (:func:`annual_hygiene`,
:func:`annual_drills`): per aspect the servers checked, the servers with a
finding at the year's end, the results with a finding and the tickets
opened; per drill the drills done, successful and failed and the promise
periods met of those promised.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import Connection

from checks._units import format_bytes
from collector.messages import local_minute
from collector.policy import SitePolicy
from collector.records.i18n import catalog, text
from collector.records.measure import metric_value, metrics_of
from collector.records.model import Section, Verdict, verdict_of_status, worse
from collector.records.service import Period, containing_period
from collector.store import annual as annual_store
from collector.store import records as store
from collector.store import rollups
from collector.terms import say_term

__all__ = ["ASPECTS", "DRILL_CHECK", "annual_drills", "annual_hygiene", "drills_section", "hygiene_section"]

ASPECTS = ("patches", "antivirus", "accounts", "db_accounts")  # the hygiene checks, in the record's order
DRILL_CHECK = "restore_drill"
MAX_NAMES = 8
LOOK_BACK = timedelta(days=366)  # how far back a record looks for a drill's last success
# restore_drills.every → the record kind whose periods are the promise periods
_PROMISE_KIND = {"weekly": "weekly", "monthly": "monthly", "quarterly": "quarterly", "yearly": "annual"}
_ENGINES = {"sqlserver": "SQL Server", "postgresql": "PostgreSQL", "mysql": "MySQL", "mariadb": "MariaDB"}
_AV_PRODUCTS = {"defender": "Microsoft Defender", "clamav": "ClamAV"}
Cells = list[list[str | int | float | None]]


def _details(raw: str | None) -> dict[str, Any]:
    try:
        doc = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        return {}
    return doc if isinstance(doc, dict) else {}


def say_age(lang: str, seconds: float) -> str:
    """An elapsed time in words of ``lang``, in its largest sensible unit: ``12天`` / ``12 days``."""
    s = max(0.0, seconds)
    term = (f"{round(s / 86400)}d" if s >= 2 * 86400 else f"{round(s / 3600)}h" if s >= 7200 else
            f"{round(s / 60)}m" if s >= 120 else f"{round(s)}s")
    return say_term(term, lang, business=False)


def _names(lang: str, details: Mapping[str, Any], count: float | None) -> str:
    names = [str(n) for n in details.get("accounts") or [] if isinstance(n, str | int)]
    n = int(count) if count is not None else len(names)
    shown = ", ".join(names[:MAX_NAMES])
    return shown + (text(lang, "hygiene.more", n=n) if n > min(len(names), MAX_NAMES) else "")


# -- what one aspect's newest results say ---------------------------------------------------

@dataclass(slots=True)
class _Found:
    verdict: Verdict = "normal"
    parts: list[str] = field(default_factory=list)
    at: datetime | None = None

    def add(self, status: int, at: datetime, part: str = "") -> None:
        self.verdict = worse(self.verdict, verdict_of_status(status))
        self.at = at if self.at is None else max(self.at, at)
        if part:
            self.parts.append(part)


def _patches(lang: str, item: str, status: int, ms: list[dict[str, Any]], d: Mapping[str, Any]) -> str:
    if item == "security":
        if status == 3 and metric_value(ms, "pending_security") is None:
            return text(lang, "hygiene.patches.unknown")
        n = metric_value(ms, "pending_security") or 0
        oldest = metric_value(ms, "oldest_security_age_seconds")
        if n and oldest is not None:
            key = "hygiene.patches.security_seen" if d.get("age_note") else "hygiene.patches.security"
            said = text(lang, key, n=int(n), age=say_age(lang, oldest))
        else:
            said = text(lang, "hygiene.patches.no_security")
        total = metric_value(ms, "pending_updates")
        if total:
            said += text(lang, "hygiene.patches.all", n=int(total))
        lists = metric_value(ms, "lists_age_seconds")
        limit = next((m.get("warn") for m in ms if m.get("name") == "lists_age_seconds"), None)
        if lists is not None and isinstance(limit, int | float) and lists >= limit:
            said += text(lang, "hygiene.patches.stale_lists", age=say_age(lang, lists))
        return said
    if item == "last_update":
        since = metric_value(ms, "since_update_seconds")
        if since is None:
            return text(lang, "hygiene.patches.last_unknown")
        key = "hygiene.patches.last_update" if d.get("last_update") else "hygiene.patches.no_update_logged"
        return text(lang, key, age=say_age(lang, since))
    if item == "reboot":
        pending = metric_value(ms, "reboot_pending_seconds")
        return text(lang, "hygiene.patches.reboot", age=say_age(lang, pending)) if pending else ""
    return ""


def _antivirus(lang: str, item: str, status: int, ms: list[dict[str, Any]], d: Mapping[str, Any]) -> str:
    if not item:
        return text(lang, "hygiene.antivirus.none")
    product = _AV_PRODUCTS.get(item) or str(d.get("product") or item)
    age = metric_value(ms, "signature_age_seconds")
    if age is not None:
        said = text(lang, "hygiene.antivirus.signatures", product=product, age=say_age(lang, age))
    elif status == 2:
        return text(lang, "hygiene.antivirus.unusable", product=product)
    elif status == 3:
        return text(lang, "hygiene.antivirus.unknown", product=product)
    else:
        said = text(lang, "hygiene.antivirus.on", product=product)
    if metric_value(ms, "realtime") == 0:
        said += text(lang, "hygiene.antivirus.realtime_off")
    if status == 2:
        said += text(lang, "hygiene.antivirus.down")
    return said


def _accounts(lang: str, item: str, status: int, ms: list[dict[str, Any]], d: Mapping[str, Any]) -> str:
    if status == 0:
        return ""
    if status == 3:
        return text(lang, "hygiene.unknown", what=text(lang, f"hygiene.accounts.{item}.what"))
    return text(lang, f"hygiene.accounts.{item}", n=int(metric_value(ms, "accounts") or 0),
                names=_names(lang, d, metric_value(ms, "accounts")))


def _db_accounts(lang: str, item: str, status: int, ms: list[dict[str, Any]], d: Mapping[str, Any]) -> str:
    engine, _, finding = item.partition("/")
    name = _ENGINES.get(engine, engine)
    if finding == "connection" or (not finding and status != 0):
        return text(lang, "hygiene.db.connection", engine=name)
    if status == 0:
        return ""
    known = f"hygiene.db.{finding}" in catalog(lang)
    if status == 3:
        what = text(lang, f"hygiene.db.{finding}.what") if known else finding
        return text(lang, "hygiene.unknown", what=f"{name} {what}")
    if not known:
        return text(lang, "hygiene.db.other", engine=name, finding=finding,
                    verdict=text(lang, f"verdict.{verdict_of_status(status)}"))
    if finding == "trust":
        lines = ", ".join(str(t.get("line")) for t in d.get("trust_lines") or [] if isinstance(t, dict))
        if not lines:
            return f"{name} " + text(lang, "hygiene.db.hba_errors")
        key = "hygiene.db.trust" if status == 2 else "hygiene.db.trust_local"
        return f"{name} " + text(lang, key, lines=lines)
    return f"{name} " + text(lang, f"hygiene.db.{finding}", n=int(metric_value(ms, "accounts") or 0),
                             names=_names(lang, d, metric_value(ms, "accounts")))


# the order an aspect's findings are said in (others after these, by name)
_ITEM_ORDER = {name: i for i, name in enumerate(("security", "last_update", "reboot", "empty_password",
                                                  "administrators", "guest", "password_never_expires"))}
_SAY = {"patches": _patches, "antivirus": _antivirus, "accounts": _accounts, "db_accounts": _db_accounts}


def hygiene_section(conn: Connection, site: str, items: Sequence[store.PeriodItem], start: datetime,
                    end: datetime, lang: str) -> Section | None:
    """The patrol record's ``hygiene`` section from the period's items (see the module docstring)."""
    mine = [it for it in items if it.check in ASPECTS]
    if not mine:
        return None
    zone = start.tzinfo or ZoneInfo("UTC")
    details = store.newest_details(conn, site, ASPECTS, start, end)
    found: dict[tuple[str, str], _Found] = defaultdict(_Found)
    for it in sorted(mine, key=lambda it: (_ITEM_ORDER.get(it.item, len(_ITEM_ORDER)), it.item)):
        said = _SAY[it.check](lang, it.item, it.status, metrics_of(it.metrics),
                              _details(details.get((it.host, it.check, it.item))))
        found[(it.host, it.check)].add(it.status, it.started_at, said)
    rows: Cells = []
    for (host, check), f in sorted(found.items(), key=lambda kv: (kv[0][0], ASPECTS.index(kv[0][1]))):
        if not f.parts:
            f.parts.append(text(lang, f"hygiene.{check}.fine"))
        rows.append([host, text(lang, f"hygiene.aspect.{check}"), text(lang, f"verdict.{f.verdict}"),
                     text(lang, "hygiene.join").join(f.parts), local_minute(f.at, zone, named=False) if f.at else ""])
    columns = [text(lang, f"hygiene.column.{c}") for c in ("host", "aspect", "verdict", "found", "at")]
    return Section(key="hygiene", title=text(lang, "hygiene.heading"), columns=columns, rows=rows,
                   note=text(lang, "hygiene.note"))


# -- restore drills ---------------------------------------------------------------------------------

@dataclass(slots=True)
class _Drill:
    host: str
    item: str
    database: str = ""
    last_ok: Any = None  # the newest OK result
    newest: Any = None  # the newest result
    in_period: int = 0
    ok_in_period: int = 0
    ok_at: list[datetime] = field(default_factory=list)
    failed: int = 0
    not_run: int = 0


def _drills(rows: Iterable[Any], start: datetime) -> dict[tuple[str, str], _Drill]:
    out: dict[tuple[str, str], _Drill] = {}
    for r in rows:  # oldest first
        d = out.setdefault((r.host, r.item), _Drill(r.host, r.item))
        d.newest = r
        source = _details(r.details).get("source_database")
        if isinstance(source, str) and source:
            d.database = source
        if r.status == 0:
            d.last_ok = r
            d.ok_at.append(r.started_at)
        if r.started_at >= start:
            d.in_period += 1
            d.ok_in_period += r.status == 0
            d.failed += r.status == 2
            d.not_run += r.status == 3
    return out


def _drills_of_days(conn: Connection, site: str, start: datetime, end: datetime) -> dict[tuple[str, str], _Drill]:
    """The annual report's drills from the day roll-ups: counts per status, the days with a success, and
    the database the newest result that named one named (each day's newest result)."""
    found = annual_store.day_rows(conn, site, start, end, [DRILL_CHECK])
    said = rollups.texts_of(conn, [(r.last_text_id, r.last_changed) for rows in found.values() for r in rows])
    out: dict[tuple[str, str], _Drill] = {}
    for (host, _, item), rows in found.items():
        d = out[(host, item)] = _Drill(host, item)
        for r in rows:
            source = _details(said[(r.last_text_id, r.last_changed)]["details"]).get("source_database")
            if isinstance(source, str) and source:
                d.database = source
            d.in_period += r.results
            d.ok_in_period += r.ok
            d.failed += r.critical
            d.not_run += r.unknown
            if r.ok:
                d.ok_at.append(r.start)  # the day's midnight: promise periods are whole days
    return out


def promise_period(every: str, day: Any, zone: ZoneInfo) -> Period:
    """The promise period of ``restore_drills.every`` holding ``day`` (a date in the site's zone)."""
    return containing_period(_PROMISE_KIND[every], day, zone)


def _period_label(lang: str, every: str, p: Period) -> str:
    first = p.first
    if every == "quarterly":
        return text(lang, "drills.period.quarterly", year=first.year, quarter=(first.month - 1) // 3 + 1)
    if every == "monthly":
        return text(lang, "drills.period.monthly", year=first.year, month=f"{first.month:02d}")
    if every == "yearly":
        return text(lang, "drills.period.yearly", year=first.year)
    return text(lang, "drills.period.weekly", first=first.isoformat(), last=p.last.isoformat())


def drills_section(conn: Connection, site: str, start: datetime, end: datetime, lang: str,
                   policy: SitePolicy) -> Section | None:
    """The patrol record's ``drills`` section (see the module docstring)."""
    zone = start.tzinfo if isinstance(start.tzinfo, ZoneInfo) else policy.calendar.zone
    every = policy.drill_every
    promise = promise_period(every, (end - timedelta(microseconds=1)).astimezone(zone).date(), zone) \
        if every else None
    since = min(start, promise.start if promise else start, end - LOOK_BACK)
    drills = _drills(store.check_results(conn, site, DRILL_CHECK, since, end), start)
    if not drills and every is None:
        return None
    rows: Cells = []
    met = 0
    for (host, item), d in sorted(drills.items()):
        ok = d.last_ok
        ms = metrics_of(ok.metrics) if ok is not None else []
        duration = metric_value(ms, "duration_seconds")
        size = metric_value(ms, "restored_size_bytes")
        outcome = ""
        if promise is not None:
            done = any(promise.start <= at < promise.end for at in d.ok_at)
            met += done
            outcome = ("met" if done else "pending" if end < promise.end else "missed")
        newest = d.newest
        verdict = verdict_of_status(newest.status)
        remark = "" if newest.status == 0 else text(lang, f"drills.remark.{verdict}",
                                                     at=local_minute(newest.started_at, zone, named=False))
        rows.append([host, d.database or item, local_minute(ok.started_at, zone, named=False) if ok is not None else
                     text(lang, "drills.never"),
                     say_age(lang, duration) if duration is not None else "",
                     format_bytes(size) if size is not None else "",
                     text(lang, "drills.in_period", ok=d.ok_in_period, all=d.in_period),
                     text(lang, f"drills.promise.{outcome}") if outcome else "—",
                     text(lang, f"verdict.{verdict}"), remark])
    columns = [text(lang, f"drills.column.{c}") for c in ("host", "database", "last_success", "took", "size",
                                                         "in_period", "promise", "verdict", "remark")]
    if promise is None or every is None:
        note = text(lang, "drills.note.none_promised")
    else:
        note = text(lang, "drills.note.promised", every=text(lang, f"drills.every.{every}"))
        note += (text(lang, "drills.note.period", period=_period_label(lang, every, promise), done=met,
                      n=len(drills)) if drills else text(lang, "drills.note.no_drill"))
    return Section(key="drills", title=text(lang, "drills.heading"), columns=columns, rows=rows, note=note)


# -- the annual service report ----------------------------------------------------------------------

def annual_hygiene(conn: Connection, site: str, start: datetime, end: datetime, lang: str) -> tuple[Section, int]:
    """The annual report's ``hygiene`` counts, and how many servers had a finding at the year's end."""
    items = annual_store.period_items(conn, site, start, end, ASPECTS)
    opened = store.tickets_opened(conn, site, ASPECTS, start, end)
    rows: Cells = []
    flagged: set[str] = set()
    for check in ASPECTS:
        mine = [it for it in items if it.check == check]
        hosts = {it.host for it in mine}
        at_end = {it.host for it in mine if it.status in (1, 2)}
        flagged |= at_end
        results = sum(it.results for it in mine)
        bad = sum(it.bad for it in mine)
        rows.append([text(lang, f"hygiene.aspect.{check}"), len(hosts), len(at_end), bad, results,
                     int(opened.get(check, 0))])
    section = Section(key="hygiene", title=text(lang, "annual.heading.hygiene"),
                      columns=[text(lang, f"annual.hygiene.column.{c}") for c in
                               ("aspect", "servers", "flagged_at_end", "bad_results", "results", "tickets")],
                      rows=rows, note=text(lang, "annual.note.hygiene") if items else text(lang, "annual.none"))
    return section, len(flagged)


def annual_drills(conn: Connection, site: str, start: datetime, end: datetime, lang: str, policy: SitePolicy,
                  since: datetime | None) -> tuple[Section, list[str]]:
    """The annual report's ``drills`` counts, and its recommendations (promise periods missed).

    ``since``: when the site's first host was first seen; promise periods that ended before it are not
    counted.
    """
    zone = start.tzinfo if isinstance(start.tzinfo, ZoneInfo) else policy.calendar.zone
    drills = _drills_of_days(conn, site, start, end)
    every = policy.drill_every
    periods: list[Period] = []
    if every:
        day = start.astimezone(zone).date()
        last = (end - timedelta(microseconds=1)).astimezone(zone).date()
        while day <= last:
            p = promise_period(every, day, zone)
            if p.start >= start and p.end <= end and (since is None or p.end > since):
                periods.append(p)
            day = p.last + timedelta(days=1)
    rows: Cells = []
    recs: list[str] = []
    for (host, _item), d in sorted(drills.items()):
        met = sum(1 for p in periods if any(p.start <= at < p.end for at in d.ok_at))
        rows.append([host, d.database or d.item, d.in_period, d.ok_in_period, d.failed, d.not_run,
                     f"{met} / {len(periods)}" if every else "—",
                     f"{100.0 * met / len(periods):.1f} %" if periods else "—"])
        if met < len(periods):
            recs.append(text(lang, "annual.rec.drills", host=host, database=d.database or d.item,
                             missed=len(periods) - met, every=text(lang, f"drills.every.{every}")))
    if every and periods and not drills:
        recs.append(text(lang, "annual.rec.no_drills", every=text(lang, f"drills.every.{every}")))
    note = (text(lang, "annual.note.drills", every=text(lang, f"drills.every.{every}"), n=len(periods))
            if every else text(lang, "drills.note.none_promised"))
    section = Section(key="drills", title=text(lang, "annual.heading.drills"),
                      columns=[text(lang, f"annual.drills.column.{c}") for c in
                               ("host", "database", "drills", "succeeded", "failed", "not_run", "periods_met",
                                "rate")],
                      rows=rows, note=note if rows or every else text(lang, "annual.none"))
    return section, recs
