"""Results → tickets: the streaks, flapping, opening, reopening, escalating and auto-resolving."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection

from checks.result import Message, format_time
from collector.dates import credible_until
from collector.messages import result_said, tsay
from collector.policy import Rule, SitePolicy
from collector.store import tickets as store
from collector.store.tables import LIVE_STATES
from collector.tickets.kinds import RuleKind
from collector.tickets.model import (
    AGENT_CHECK,
    MONITORING,
    SILENT_ITEM,
    SYSTEM,
    Change,
    LedgerBase,
    Ticket,
    level_names,
    level_terms,
    log,
    new_ticket,
    status_name,
    write_changes,
)


def _status(status: int) -> str:
    """A result's status as a word of the ticket texts (``tickets.status.CRITICAL``: 异常)."""
    return f"tickets.status.{status_name(status)}"


def _said(r: Mapping[str, Any], limit: int) -> str | Message:
    """A result's summary as an argument of a ticket text: its message keys, else its (cut) summary."""
    return result_said(r["summary"][:limit], r.get("messages"))


_ITEM_STATUS = itemgetter("check", "item", "status")


def relevant_groups(policy: SitePolicy, rows: Sequence[Mapping[str, Any]],
                    held: Callable[[tuple[str, str]], bool]
                    ) -> tuple[dict[tuple[str, str], Rule], dict[tuple[str, str], list[Mapping[str, Any]]]]:
    """The items of ``rows`` the rules must look at, each with its rule and its rows (in ``rows``' order).

    An item is looked at when one of its rows is bad by its rule, or ``held`` (a streak or a ticket is
    kept for it); an item without a rule never.  The hot path of every batch: most batches are all
    good and hold nothing, so each distinct (check, item, status) is looked at once, and only a batch
    with something to do groups its rows.
    """
    rules: dict[tuple[str, str], Rule | None] = {}
    relevant: set[tuple[str, str]] = set()
    for check, item, status in set(map(_ITEM_STATUS, rows)):  # each item's statuses once (C builds the set)
        key = (check, item)
        try:
            rule = rules[key]
        except KeyError:
            rule = rules[key] = policy.rule_for(check, item)
        if rule is not None and status in rule.open:
            relevant.add(key)
    found = {k: rule for k, rule in rules.items() if rule is not None}
    relevant.update(k for k in found if held(k))
    if not relevant:
        return found, {}
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {k: [] for k in sorted(relevant)}
    for r in rows:
        group = groups.get((r["check"], r["item"]))
        if group is not None:
            group.append(r)
    return found, groups


class ResultRules(LedgerBase):
    """The ledger's part called by the ingest transaction."""

    def lock(self, conn: Connection, site: str, hosts: Sequence[str]) -> datetime:
        """Take the hosts' ticket locks in the order given (call first in the ingest transaction, with the hosts
        in one fixed order); the database's time, read after them."""
        return store.lock_hosts(conn, site, hosts)

    def on_results(self, conn: Connection, site: str, host: str, rows: Sequence[Mapping[str, Any]],
                   now: datetime) -> None:
        """Apply the rules to the newly stored ``rows`` of one host (an agent's batch)."""
        policy = self.policies.for_site(site)
        found, known = store.host_state(conn, site, host, now - policy.reopen_window)
        by_key: dict[tuple[str, str], Ticket] = {}
        for row in found:  # ordered by id: a live ticket wins over a resolved one, newer over older
            key = (row.check, row.item)
            held = by_key.get(key)
            if held is None or held.state not in LIVE_STATES:
                by_key[key] = Ticket.from_row(row._mapping)
        change = Change(conn, now, self.policies)
        silent = by_key.get((AGENT_CHECK, SILENT_ITEM))
        if silent is not None and silent.state in LIVE_STATES:
            change.move(silent, LIVE_STATES, {"state": "resolved", "resolved_at": now}, actor=SYSTEM,
                        action="resolve", event="resolved",
                        note=tsay("tickets.note.agent_back", at=format_time(now)))
        if not rows:
            return
        rules, groups = relevant_groups(policy, rows, lambda key: key in known or key in by_key)
        if not groups:
            return
        relevant = groups.keys()
        newest = store.latest_started(conn, site, host, relevant, credible_until(now))
        changed: dict[tuple[str, str], store.Streak] = {}
        clean: list[tuple[str, str]] = []
        pending: list[Ticket] = []  # tickets with new occurrences: one executemany at the end
        for key in sorted(relevant):
            cutoff = newest.get(key)
            todo = sorted((r for r in groups[key] if cutoff is None or r["started_at"] > cutoff),
                          key=lambda r: r["started_at"])
            rule = rules[key]
            ticket = by_key.get(key)
            late_bad = sum(1 for r in groups[key] if cutoff is not None and r["started_at"] <= cutoff
                           and r["status"] in rule.open)
            if late_bad and ticket is not None and ticket.state in LIVE_STATES:
                # measured before the newest result: an occurrence, but no step of the streak
                ticket.occurrences += late_bad
                ticket.updated_at = now
            if not todo:
                if ticket is not None and ticket.changed:
                    pending.append(ticket)
                continue
            streak = known.get(key) or store.Streak()
            for r in todo:
                ticket = self._step(change, policy, rule, streak, ticket, r, site, host)
            if ticket is not None and ticket.changed:
                pending.append(ticket)
            live = ticket is not None and ticket.state in LIVE_STATES
            if not live and "b" not in streak.recent and streak.good_count >= rule.recover_after:
                if streak.stored:
                    clean.append(key)
            else:
                changed[key] = streak
        write_changes(conn, pending)
        store.save_streaks(conn, site, host, changed, now)
        store.delete_streaks(conn, site, host, clean)

    def _step(self, change: Change, policy: SitePolicy, rule: Rule, streak: store.Streak,
              ticket: Ticket | None, r: Mapping[str, Any], site: str, host: str
              ) -> Ticket | None:
        level = rule.level_for(r["status"])
        bad = level is not None
        streak.recent = (streak.recent + ("b" if bad else "g"))[-rule.flap_window:]
        if bad:
            assert level is not None
            streak.bad_count += 1
            streak.good_count = 0
            streak.level = level if streak.level is None else min(streak.level, level)
        else:
            streak.good_count += 1
            streak.bad_count = 0
            streak.level = None
        flapping = streak.changes() >= rule.flap_changes
        live = ticket is not None and ticket.state in LIVE_STATES
        now = change.now
        if live:
            assert ticket is not None
            ticket.last_result_id, ticket.last_status, ticket.updated_at = r["uid"], r["status"], now
            if bad:
                ticket.occurrences += 1
                ticket.last_seen_at = r["started_at"]
                if level is not None and level < ticket.severity:
                    self._worsen(change, policy, ticket, level, r)
                if flapping and not ticket.flapping:
                    ticket.flapping = True
                    self._flush(change.conn, ticket)
                    change.record(ticket, actor=SYSTEM, action="flapping",
                                  note=tsay("tickets.note.flapping", changes=streak.changes(),
                                            results=len(streak.recent)))
            elif streak.good_count >= rule.recover_after and not flapping \
                    and ticket.reported_via == MONITORING:  # a person's ticket is closed by people
                self._flush(change.conn, ticket)
                change.move(ticket, LIVE_STATES, {"state": "resolved", "resolved_at": now}, actor=SYSTEM,
                            action="resolve", event="resolved",
                            note=tsay("tickets.note.recovered", at=format_time(r["started_at"]),
                                      n=streak.good_count, status=_status(r["status"]), summary=_said(r, 200)))
            return ticket
        if not bad or (streak.bad_count < rule.after and not flapping):
            return ticket
        if policy.in_maintenance(host, r["started_at"]):
            log.debug("tickets: %s/%s %s %s is bad during maintenance; nothing opens",
                      site, host, r["check"], r["item"])
            return ticket
        what = tsay("tickets.what.streak_flapping" if flapping else "tickets.what.streak",
                    status=_status(r["status"]), n=streak.bad_count, summary=_said(r, 300))
        if ticket is not None and ticket.state == "resolved" and ticket.resolved_at is not None \
                and ticket.resolved_at >= now - policy.reopen_window:
            values = {"state": "open", "resolved_at": None, "reopened_count": ticket.reopened_count + 1,
                      "occurrences": ticket.occurrences + 1, "last_result_id": r["uid"],
                      "last_status": r["status"], "last_seen_at": r["started_at"],
                      "flapping": bool(ticket.flapping or flapping)}
            if change.move(ticket, ("resolved",), values, actor=SYSTEM, action="reopen", event="reopened",
                           note=tsay("tickets.note.reopened", at=format_time(r["started_at"]), what=what)):
                return ticket
        severity = streak.level or level or 1
        values = new_ticket(policy, site=site, host=host, check=r["check"], item=r["item"],
                             severity=severity, summary=f"{r['check']} {r['item']}: {r['summary']}",
                             via=MONITORING, by=SYSTEM, now=now)
        values.update(last_result_id=r["uid"], last_status=r["status"], last_seen_at=r["started_at"],
                      flapping=flapping, occurrences=streak.bad_count if not flapping else 1,
                      messages=r.get("messages"))
        opened = change.open(values, actor=SYSTEM,
                             note=tsay("tickets.note.opened_monitoring", level=severity, what=what,
                                       **level_names(policy, severity)))
        if opened is None:  # someone else's live ticket for this key: count this one there
            existing = store.live_ticket(change.conn, site, host, r["check"], r["item"])
            if existing is None:
                return ticket
            opened = Ticket.from_row(existing._mapping)
            opened.occurrences += 1
            opened.last_result_id, opened.last_status = r["uid"], r["status"]
            opened.last_seen_at, opened.updated_at = r["started_at"], now
        return opened

    def _worsen(self, change: Change, policy: SitePolicy, t: Ticket, level: int,
                r: Mapping[str, Any]) -> None:
        """The item got worse (e.g. UNKNOWN → CRITICAL): raise the level, keep the sooner deadlines."""
        self._flush(change.conn, t)
        before = t.severity
        response_due, resolve_due = policy.deadlines(level, t.opened_at)
        terms = dict(t.terms or {})
        for key, due, held in (("response", response_due, t.response_due), ("resolve", resolve_due, t.resolve_due)):
            if due < held:
                terms[key] = level_terms(policy, policy.level(level))[key]
        values = {"severity": level, "level_name": policy.level(level).name,
                  "response_due": min(t.response_due, response_due),
                  "resolve_due": min(t.resolve_due, resolve_due), "updated_at": change.now,
                  "terms": terms or None}
        store.update_ticket(change.conn, t.id, values)
        t.written(values)
        change.record(t, actor=SYSTEM, action="escalate", event="escalated",
                      note=tsay("tickets.note.escalated", before=before, level=level,
                                at=format_time(r["started_at"]), status=_status(r["status"]),
                                summary=_said(r, 300), **level_names(policy, level)))


KIND = RuleKind(
    name="results", opens="the result's check/item",
    settings="`rules`: `open`, `after` (2; 1 for backups, the drill, empty passwords, the agent's spool), "
             "`recover_after` (2), `flap_window` (10), `flap_changes` (5); `reopen_window` (1h), `maintenance`",
    doc="each newly stored result steps its item's streak: bad results in a row open (or reopen) a ticket, "
        "a worse one escalates it, good ones in a row resolve a monitoring ticket, flapping opens one at once "
        "(see *How results become tickets*)")
