"""Today: the morning patrol at a glance, per site (the landing page after login).

For each site:

* **servers** by state — ``ok``, ``warning``, ``unknown``, ``abnormal``, ``silent``,
  ``never_reported`` — judged as ``wardround_hosts`` judges them
  (:func:`collector.metrics.host_state`: never reported = in the fleet inventory with no
  delivery; silent = nothing for longer than the site's :attr:`SitePolicy.silent_after`,
  by the database's clock; else the worst current item).  A host awaiting approval is
  never silent (its results are refused until approved), as on the hosts page;
* **last night's backups**: every item of a backup check (``BACKUP_CHECKS``) with what
  became of its newest backup (:func:`collector.metrics.backup_outcome`: done, warning,
  too small, missed, failed, unknown) and when that result was taken, worst first;
* **tickets by due time**: each open or acknowledged ticket with the deadline now
  running (response while open, resolve once acknowledged, the on-site visit once
  requested — the earliest of those) and the time left on it; breached first, then key
  customers (a ticket keeps the priority it was opened with), then the soonest due; the sites of
  key customers come first;
* **today's record**: the daily record of yesterday (the site's own calendar day), the
  one the morning schedule issues: issued or not, signed by an engineer and a customer
  or not.

``mine`` keeps the tickets the person acknowledged (or that are assigned to them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from checks.catalogue import BACKUP_CHECKS
from checks.result import Status
from collector.metrics import BACKUP_OUTCOMES, HOST_STATES, backup_outcome, host_state
from collector.metrics.text import metric_values
from collector.policy import Policies
from collector.store import fleet as fleet_store
from collector.store import today as store
from collector.store.db import database_time, reading

__all__ = ["BACKUP_OUTCOMES", "HOST_STATES", "SiteDay", "today"]

# worst first, for the order of lines on the page
_STATE_ORDER = ("abnormal", "silent", "never_reported", "warning", "unknown", "ok")
_OUTCOME_ORDER = ("failed", "missed", "too_small", "warning", "unknown", "done")


@dataclass(slots=True)
class SiteDay:
    """One site's patrol of the day."""

    site: str
    key_customer: bool = False
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(HOST_STATES, 0))
    hosts: list[dict[str, Any]] = field(default_factory=list)  # every host not OK, worst first
    backups: list[dict[str, Any]] = field(default_factory=list)
    tickets: list[dict[str, Any]] = field(default_factory=list)
    record_day: str = ""
    record: dict[str, Any] | None = None  # {"id", "issued_at", "engineer": bool, "customer": bool}

    @property
    def backup_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(BACKUP_OUTCOMES, 0)
        for b in self.backups:
            counts[b["outcome"]] += 1
        return counts


def today(engine: Engine, policies: Policies, *, site: str | None = None, mine: str | None = None,
          now: datetime | None = None) -> list[SiteDay]:
    """Every site's day (one site's with ``site``): key customers' sites first, then by name; ``mine``: only
    the tickets that person acknowledged or is assigned."""
    with reading(engine) as conn:
        now = now or database_time(conn)
        inventory = fleet_store.inventory(conn, site)
        backups = store.backup_items(conn, BACKUP_CHECKS, site)
        live = store.live_tickets(conn, site)
        acked = store.acknowledged_by(conn, [t.id for t in live], mine) if mine else set()
        retired_hosts = {(r["site"], r["host"]) for r in inventory if r["retired_at"] is not None}
        sites = sorted({r["site"] for r in inventory if r["retired_at"] is None}
                       | {b.site for b in backups if (b.site, b.host) not in retired_hosts} | {t.site for t in live})
        days = {s: _yesterday(policies, s, now) for s in sites}
        record_rows, roles = store.daily_records(conn, set(days.values()))
    out = {s: SiteDay(s, policies.for_site(s).key_customer, record_day=days[s]) for s in sites}
    for r in inventory:
        if r["retired_at"] is None:
            _add_host(out[r["site"]], r, policies, now)
    for b in backups:
        if (b.site, b.host) in retired_hosts:  # a retired host's backups are no longer watched
            continue
        # an OK backup is done whatever it measured: only the others' metrics are read
        measured = {n: (v, w, c) for n, v, w, c in metric_values(b.metrics)} if b.status != Status.OK else {}
        out[b.site].backups.append({"host": b.host, "check": b.check, "item": b.item, "status": int(b.status),
                                    "summary": b.summary, "at": b.started_at,
                                    "outcome": backup_outcome(b.check, b.status, measured)})
    for t in live:
        if not mine or t.id in acked or t.assignee == mine:
            out[t.site].tickets.append(_ticket_line(t, now))
    for r in record_rows:
        day = out.get(r.site)
        if day is not None and r.period_from == day.record_day and (
                day.record is None or r.issued_at > day.record["issued_at"]):
            signed = roles.get(int(r.id), set())
            day.record = {"id": r.id, "issued_at": r.issued_at, "engineer": "engineer" in signed,
                          "customer": "customer" in signed}
    for day in out.values():
        day.hosts.sort(key=lambda h: (_STATE_ORDER.index(h["state"]), h["host"]))
        day.backups.sort(key=lambda b: (_OUTCOME_ORDER.index(b["outcome"]), b["host"], b["check"], b["item"]))
        day.tickets.sort(key=lambda t: (not t["breached"], not t["key_customer"], t["due"], t["id"]))
    return sorted(out.values(), key=lambda d: (not d.key_customer, d.site))


def _yesterday(policies: Policies, site: str, now: datetime) -> str:
    zone = policies.for_site(site).calendar.zone
    return (now.astimezone(zone).date() - timedelta(days=1)).isoformat()


def _add_host(day: SiteDay, r: dict[str, Any], policies: Policies, now: datetime) -> None:
    last_seen = r["last_seen"]
    grace = policies.for_site(r["site"]).silent_after
    if last_seen is not None and r["approved_at"] is None and r["enrolled"]:
        grace = timedelta.max  # awaiting approval: its results are refused, it is not silent
    state = host_state(r["statuses"].keys(), last_seen, now, grace)
    day.counts[state] += 1
    if state != "ok":
        worst = Status.worst(r["statuses"]) if r["statuses"] else None
        day.hosts.append({"host": r["host"], "state": state, "last_seen": last_seen,
                          "worst": int(worst) if worst is not None else None,
                          "bad": sum(n for s, n in r["statuses"].items() if s != Status.OK)})


def _ticket_line(t: Any, now: datetime) -> dict[str, Any]:
    running = [("resolve", t.resolve_due)]
    if t.state == "open":
        running.append(("response", t.response_due))
    if t.onsite_due is not None:
        running.append(("onsite", t.onsite_due))
    deadline, due = min(running, key=lambda d: d[1])
    breached = bool(t.response_breached or t.resolve_breached or t.onsite_breached) or due <= now
    return {"id": t.id, "host": t.host, "check": t.check, "item": t.item, "severity": t.severity,
            "state": t.state, "summary": t.summary, "messages": getattr(t, "messages", None),
            "key_customer": t.priority > 0, "deadline": deadline,
            "due": due, "left": (due - now).total_seconds(), "breached": breached}
