"""The patrol record (daily, weekly, monthly, quarterly): what every host's checks said in the period.

How the content is decided (the rules ``docs/records.md`` states for users):

* **One row per (host, check, item)** that reported in the period.  Its
  verdict is that of the **newest result in the period**: a patrol record
  states the state at patrol time.  What went wrong earlier in the period is
  not lost: the row carries the number of results, of bad ones and the worst
  verdict, and every item that was not normal at some point is listed under
  anomalies (``recovered`` when it ended normal) and, if it opened one,
  under tickets.
* **Value and unit** come from the newest result's metrics: the first metric
  with a warning or critical threshold (the one the standard judges), else
  the first metric; the **standard** is the result's own standard text.
* **Gaps**: a host of the site (enrolled or seen before the period ended, and
  not retired by then) with no result in the period (shown with its newest
  result before the period's end, or as "never reported"), and an item that reported in the
  look-back window before the period (as long as the period, at least 7
  days) but not in it, are listed under ``gaps`` and get a ``no_data`` row.
  Nothing known is silently left out.
* **Tickets**: those opened, acknowledged or resolved in the period, each as
  it stood at the end of the period, from its history
  (:mod:`collector.ticket_history`): level, state, acknowledgement,
  resolution, breaches and on-site visit, with the SLA outcome of the
  response, the resolution and the visit, and the terms as the policy wrote
  them.  A record issued a week late says what the one issued on time said.
* **Backup evidence**: every item of a backup check (``db_backup``,
  ``backup_files``, ``offsite_copy``) seen in the period or a gap: its
  newest OK result in the period, the backup's time (the result's time minus
  the ``age_seconds`` metric) and size (``size_bytes``, else
  ``remote_size_bytes``); the verdict is the row's.
* **Security hygiene** and **restore drills** (sections, by
  :mod:`collector.records.hygiene`): per server the patch level, antivirus,
  local and database accounts from their newest results; per restore drill
  the last successful one and whether the drill the site's policy promises
  was done.
* **Network paths** (a section, when the site has ``traceroute`` items in the
  period): per target its newest trace, hop by hop: the routers that answered
  with their RTTs (every router of a load-balanced hop), the hop's known
  routers (the baseline's members) and, where the check reported a change, the
  routers outside them.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection

from checks._units import format_bytes, format_value
from checks.catalogue import BACKUP_CHECKS
from checks.result import format_time
from collector import record_kinds
from collector.messages import local_minute, texts
from collector.netpath import path_hops, routers_text
from collector.policy import SitePolicy, default_policy
from collector.records.hygiene import drills_section, hygiene_section
from collector.records.i18n import catalog, text
from collector.records.kinds import register
from collector.records.measure import metric_value, metrics_of
from collector.records.model import (
    VERDICTS,
    Anomaly,
    BackupEvidence,
    Gap,
    Header,
    RecordContent,
    Row,
    Section,
    Verdict,
    verdict_of_status,
)
from collector.records.tickets import ticket_lines
from collector.store import records as store
from collector.store import rollup_reads

__all__ = ["build", "item_label", "pick_metric"]

MIN_LOOKBACK = timedelta(days=7)


def item_label(lang: str, check: str, item: str) -> str:
    """The item in words: ``磁盘空间 /``, ``Database backup HIS/full``."""
    key = f"check.{check}"
    if key in catalog(lang):
        return text(lang, key, item=item).strip()
    return text(lang, "check.other", check=check, item=item).strip()


def suggestion(lang: str, check: str, verdict: Verdict) -> str:
    if verdict == "no_data":
        return text(lang, "suggest.unknown")
    key = f"suggest.{check}"
    return text(lang, key) if key in catalog(lang) else text(lang, "suggest.other")


def pick_metric(metrics: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The metric a row shows: the first with a threshold (the judged one), else the first."""
    for m in metrics:
        if m.get("warn") is not None or m.get("crit") is not None:
            return m
    return metrics[0] if metrics else None


def build(conn: Connection, *, site: str, period_start: datetime, period_end: datetime, lang: str,
          inspector: str, kind: str = "daily", policy: SitePolicy | None = None,
          from_rollups: bool = False) -> RecordContent:
    """The patrol record of ``site`` for [period_start, period_end) (see the module docstring).

    ``from_rollups``: its rows, gaps and backup evidence from the day roll-ups
    (:mod:`collector.store.rollup_reads`), for a period whose raw results were pruned.
    """
    policy = policy or default_policy()
    zone = period_start.tzinfo
    start, end = period_start, period_end
    read: Any = rollup_reads if from_rollups else store
    items = read.period_items(conn, site, start, end)
    rows, anomalies = _reported(items, lang)
    reported = {(it.host, it.check, it.item) for it in items}
    gaps, gap_rows, all_hosts = _gaps(conn, site, start, end, lang, reported, read)
    rows = sorted(rows + gap_rows, key=lambda r: (r.host, r.check, r.item))
    evidence = _backup_evidence(conn, site, rows, start, end, lang, read)
    counts: dict[str, int] = dict.fromkeys(VERDICTS, 0)
    for r in rows:
        counts[r.verdict] += 1
    last_day = (end - timedelta(microseconds=1)).astimezone(zone)
    header = Header(
        site=site, customer=site, systems=[], hosts=sorted(all_hosts), kind=kind,
        period_from=start.astimezone(zone).date().isoformat(), period_to=last_day.date().isoformat(),
        period_start=format_time(start), period_end=format_time(end), timezone=str(zone),
        inspector=inspector, generated_at="", language=lang, counts=counts)
    paths = _path_section(conn, site, start, end, lang)
    hygiene = hygiene_section(conn, site, items, start, end, lang)
    drills = drills_section(conn, site, start, end, lang, policy)
    lines = ticket_lines(conn, store.period_tickets(conn, site, start, end), start, end, lang, acted_only=True,
                         levels=policy.levels)
    sections = [s for s in (hygiene, drills, paths if paths.rows else None) if s is not None]
    return RecordContent(header=header, rows=rows, gaps=gaps, anomalies=anomalies, tickets=lines,
                         backup_evidence=evidence, sections=sections)


def _reported(items: list[store.PeriodItem], lang: str) -> tuple[list[Row], list[Anomaly]]:
    """A row for each item that reported in the period, and the anomalies among them."""
    rows: list[Row] = []
    anomalies: list[Anomaly] = []
    for it in items:
        metrics = metrics_of(it.metrics)
        m = pick_metric(metrics)
        value = float(m["value"]) if m is not None and isinstance(m.get("value"), int | float) else None
        unit = str(m.get("unit", "")) if m is not None else ""
        verdict = verdict_of_status(it.status)
        worst = verdict_of_status(it.worst_status)
        label = item_label(lang, it.check, it.item)
        summary, standard = texts(it.summary, it.standard, it.messages, lang)  # fixed at issue, in its language
        if verdict == "no_data":
            remark = text(lang, "remark.unknown", summary=summary)
        elif verdict != "normal":
            remark = summary
        elif it.bad:
            remark = text(lang, "remark.recovered", bad=it.bad)
        else:
            remark = ""
        rows.append(Row(host=it.host, check=it.check, item=it.item, label=label, standard=standard,
                        value=value, unit=unit, measured=format_value(value, unit, lang), verdict=verdict,
                        remark=remark, summary=summary, at=format_time(it.started_at), results=it.results,
                        bad=it.bad, worst=worst))
        if verdict != "normal" or worst != "normal":
            anomalies.append(Anomaly(host=it.host, check=it.check, item=it.item, label=label, verdict=verdict,
                                     worst=worst, bad=it.bad, summary=summary,
                                     suggestion=suggestion(lang, it.check, worst if verdict == "normal" else
                                                           verdict),
                                     recovered=verdict == "normal"))

    return rows, anomalies


def _gaps(conn: Connection, site: str, start: datetime, end: datetime, lang: str,
          reported: set[tuple[str, str, str]], read: Any = store) -> tuple[list[Gap], list[Row], list[str]]:
    """Gaps: known hosts without a result, items that went quiet; also every host of the record."""
    zone = start.tzinfo or UTC  # a period starts aware, in its site's zone
    gaps: list[Gap] = []
    gap_rows: list[Row] = []
    hosts_with_results = {k[0] for k in reported}
    # every host enrolled or seen before the period's end and not retired by then, reported or not
    site_hosts = store.site_hosts(conn, site)
    retired = {h.host for h in site_hosts if h.retired_at is not None and h.retired_at < end}
    known = [h for h in site_hosts if h.first_seen < end and h.host not in retired]
    all_hosts = sorted(hosts_with_results | {h.host for h in known})
    last_seen_before = read.last_results_before(
        conn, site, [h.host for h in known if h.host not in hosts_with_results], end)
    for h in known:
        if h.host in hosts_with_results:
            continue
        last_seen = last_seen_before.get(h.host)  # not hosts.last_seen: that moves on after the period
        label = text(lang, "gap.all_checks")
        remark = text(lang, "gap.host" if last_seen is not None else "gap.never_reported")
        gaps.append(Gap(host=h.host, check=None, item=None, label=label, last_seen=format_time(last_seen),
                        remark=remark))
        gap_rows.append(Row(host=h.host, check="", item="", label=label, standard="", value=None, unit="",
                            measured="", verdict="no_data", remark=remark, summary="", at=None, results=0,
                            bad=0, worst="no_data"))
    silent_hosts = {g.host for g in gaps}
    lookback = max(end - start, MIN_LOOKBACK)
    quiet = read.items_seen_between(conn, site, start - lookback, start)
    for key in sorted(quiet):
        if key in reported or key[0] in silent_hosts or key[0] in retired:
            continue  # reported, the whole host is a gap already, or it was retired
        host, check, item = key
        label = item_label(lang, check, item)
        remark = text(lang, "gap.item", last_seen=local_minute(quiet[key], zone, named=False))
        gaps.append(Gap(host=host, check=check, item=item, label=label, last_seen=format_time(quiet[key]),
                        remark=remark))
        gap_rows.append(Row(host=host, check=check, item=item, label=label, standard="", value=None, unit="",
                            measured="", verdict="no_data", remark=remark, summary="", at=None, results=0,
                            bad=0, worst="no_data"))
        if host not in all_hosts:
            all_hosts.append(host)

    return gaps, gap_rows, all_hosts


def _backup_evidence(conn: Connection, site: str, rows: list[Row], start: datetime, end: datetime,
                     lang: str, read: Any = store) -> list[BackupEvidence]:
    """Backup evidence: every backup item with a row (reported or a gap)."""
    good = read.newest_good(conn, site, BACKUP_CHECKS, start, end)
    evidence = []
    for r in rows:
        if r.check not in BACKUP_CHECKS:
            continue
        found = good.get((r.host, r.check, r.item))
        last_good, size = None, None
        if found is not None:
            at, raw = found
            ms = metrics_of(raw)
            age = metric_value(ms, "age_seconds")
            last_good = at - timedelta(seconds=age) if age is not None and age >= 0 else at
            size = metric_value(ms, "size_bytes", "remote_size_bytes")
        remark = r.remark if r.verdict != "normal" else ""
        if last_good is None and not remark:
            remark = text(lang, "remark.no_good_backup")
        evidence.append(BackupEvidence(host=r.host, check=r.check, item=r.item, label=r.label,
                                       last_good_at=format_time(last_good), size_bytes=size,
                                       size=format_bytes(size) if size is not None else "", verdict=r.verdict,
                                       remark=remark))
    return evidence


def _path_section(conn: Connection, site: str, start: datetime, end: datetime, lang: str) -> Section:
    """Each traced target's newest path in the period, hop by hop (see the module docstring)."""
    rows: list[list[str | int | float | None]] = []
    for (host, _check, item), raw in sorted(store.newest_details(conn, site, ("traceroute",), start, end).items()):
        try:
            details = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        for hop in path_hops(details):
            remark = (text(lang, "remark.path_outside", routers=" / ".join(hop.outside)) if hop.outside else
                      "" if hop.answered else text(lang, "remark.path_no_answer"))
            rows.append([host, item, hop.ttl, routers_text(hop), " / ".join(hop.members), remark])
    columns = [text(lang, f"column.{c}") for c in ("host", "target", "hop", "answered", "members", "remark")]
    return Section(key="paths", title=text(lang, "heading.paths"), columns=columns, rows=rows,
                   note=text(lang, "note.paths"))


for _kind in (k.name for k in record_kinds.BY_NAME.values() if k.module == __name__):  # record_kinds.py
    register(_kind, functools.partial(build, kind=_kind))
