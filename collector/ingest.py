"""The ingest rule: validate a batch, store it idempotently, update the latest state.

A batch is all or nothing:

* any result that does not follow the wire format, or whose ``started_at``
  is before 2000 or more than a day ahead of the collector's clock
  (:mod:`collector.dates`) → :class:`BatchInvalid` (HTTP 422, listing each
  bad result's index, id and error; the agent bisects to isolate it),
  nothing stored;
* any result for a site or host the agent's token may not write (its own
  host, and the hosts of its site it was granted with ``--also-host``) →
  :class:`BatchForbidden` (HTTP 403), nothing stored;
* otherwise every new result is stored in one transaction, results already
  stored (by id) are reported as duplicates, the latest state of each check
  item moves forward, and the host's last-seen time (by the database's
  clock, shared by every collector; it never moves backwards), clock offset, spool
  backlog and agent version are recorded (each other host the batch holds
  results for, a host the agent checks remotely, gets its own last-seen
  time); in the same transaction the ticket rules (:mod:`collector.tickets`)
  see the new results, host by host.

Exceptions::

    IngestError (ValueError)       status_code, detail
    ├── BatchMalformed             422: not JSON, or not {"results": [...]}
    ├── BatchInvalid               422: some results fail validation
    ├── BatchForbidden             403: results for another site/host
    └── AwaitingApproval           403: the host enrolled with a key that needs approval
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

import orjson
from sqlalchemy import Engine

from checks.messages import answer_body
from checks.messages.reader import cli_said
from checks.result import (
    MAX_DETAILS_BYTES,
    ResultError,
    WireResult,
    format_time,
    is_name,
    parse_time,
    parse_wire_time,
    read_wire,
)
from collector import wire_fast
from collector.auth import Agent
from collector.dates import check_started_at, credible_until
from collector.messages import messages_json
from collector.store import queries
from collector.store.db import database_time, pipelined, writing
from collector.tickets import Tickets
from collector.wire_fast import stored_json

__all__ = [
    "AwaitingApproval",
    "BatchForbidden",
    "BatchInvalid",
    "BatchMalformed",
    "IngestError",
    "Outcome",
    "Ingestor",
    "parse_batch",
]

MAX_VERSION_LEN = 64
MAX_RELAYED_AGENTS = 5000  # a relay's batch says at most this many agents' versions
MAX_BACKLOG = 2**63 - 1


class IngestError(ValueError):
    status_code = 422

    def __init__(self, detail: Any) -> None:
        super().__init__(detail if isinstance(detail, str) else "invalid batch")
        self.detail = detail


class BatchMalformed(IngestError):
    """The body is not JSON or not shaped like a batch."""


class BatchInvalid(IngestError):
    """One or more results fail validation; ``detail`` lists them."""


class BatchForbidden(IngestError):
    """The batch holds results for a site or host the agent's token may not write."""

    status_code = 403


class AwaitingApproval(IngestError):
    """The host enrolled with a key that needs an administrator's approval; nothing is stored."""

    status_code = 403


@dataclass(frozen=True, slots=True)
class AgentReport:
    """What the agent says about itself alongside a batch (all optional)."""

    time: datetime | None = None
    spool_backlog: int | None = None
    version: str | None = None
    config_version: str | None = None  # the central config it runs (agents since the fleet)
    #: from a site relay: what each agent behind it last said about itself, by host
    agents: dict[str, AgentReport] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Batch:
    rows: list[dict[str, Any]]  # one per distinct result id, in batch order
    ids: list[str]  # distinct ids in batch order
    agent: AgentReport = field(default_factory=AgentReport)


@dataclass(frozen=True, slots=True)
class Outcome:
    accepted: list[str]
    duplicates: list[str]
    server_time: datetime
    agent: AgentReport = field(default_factory=AgentReport)  # what the sender said about itself

    def to_json(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "duplicates": self.duplicates,
                "server_time": format_time(self.server_time)}


def _reject_nul(result: WireResult) -> None:
    for name in ("item", "summary", "standard"):
        if "\x00" in getattr(result, name):
            raise ResultError(f"{name}: must not contain a NUL character")


def _row(data: Any, now: datetime, may_hold_nul: bool) -> dict[str, Any]:
    result = read_wire(data)  # Result.from_wire's rules, without building the objects
    check_started_at(result.started_at, now)
    if may_hold_nul:
        _reject_nul(result)
    return _stored_row(data, result, now)


_METRIC_ORDER = tuple(wire_fast.WireMetric.__struct_fields__)  # name, value, unit, warn, crit, min, max


def _stored_row(data: dict[str, Any], result: WireResult, now: datetime) -> dict[str, Any]:
    """The row stored for a wire result ``read_wire`` accepted (``result``): the slow path's.  Its metrics
    as sent, their members in the fast path's order; its messages as ``read_wire`` read them."""
    metrics = [{k: m[k] for k in _METRIC_ORDER if k in m} for m in data.get("metrics", [])]
    return _stored(result.id, result.site, result.host, result.check, result.item, result.status, result.summary,
                   result.standard, result.started_at, now, result.duration_ms, stored_json(metrics),
                   data.get("details", {}), messages_json(result))


def _stored(uid: str, site: str, host: str, check: str, item: str, status: int, summary: str, standard: str,
            started_at: datetime, now: datetime, duration_ms: float, metrics: str, details: Any,
            messages: str | None) -> dict[str, Any]:
    """The stored row; ``metrics`` and ``messages`` as :func:`~collector.wire_fast.stored_json` wrote them,
    ``details`` as decoded, written as JSON here (both paths)."""
    try:
        details_text = orjson.dumps(details).decode()
    except orjson.JSONEncodeError as exc:
        raise ResultError(f"details: cannot be stored ({exc})") from exc
    if len(details_text) > MAX_DETAILS_BYTES:
        raise ResultError(f"details: larger than {MAX_DETAILS_BYTES} bytes as JSON")
    return {
        "uid": uid, "site": site, "host": host, "check": check, "item": item, "status": status,
        "summary": summary, "standard": standard, "started_at": started_at, "received_at": now,
        "duration_ms": float(duration_ms), "metrics": metrics, "details": details_text, "messages": messages,
    }


_SITE, _HOST, _CHECK, _STARTED = (attrgetter(name) for name in ("site", "host", "check", "started_at"))


def _fast_rows(results: list[wire_fast.WireResult], now: datetime) -> list[dict[str, Any]] | None:
    """The rows of results :func:`collector.wire_fast.decode` passed, or None when one of them needs the
    slow path's verdict (a name, a time, details orjson cannot write): the slow path then judges the batch.

    A batch repeats a few names and start times (one host's patrols): each distinct one is checked once."""
    if not all(map(is_name, {*map(_SITE, results), *map(_HOST, results), *map(_CHECK, results)})):
        return None
    started: dict[str, datetime] = {}
    for text in set(map(_STARTED, results)):
        try:
            started[text] = check_started_at(parse_wire_time(text), now)
        except (ResultError, ValueError):
            return None
    rows = []
    for r in results:
        message, standard = r.message, r.standard_message
        if message is None:
            messages = None if standard is None else stored_json({"standard_message": standard})
        else:
            messages = stored_json({"message": message} if standard is None else
                                   {"message": message, "standard_message": standard})
        try:
            rows.append(_stored(r.id, r.site, r.host, r.check, r.item, r.status, r.summary, r.standard,
                                started[r.started_at], now, r.duration_ms, stored_json(r.metrics), r.details,
                                messages))
        except (ResultError, ValueError):
            return None
    return rows


def _agent_report(raw: Any) -> AgentReport:
    """What the agent says about itself; members that do not fit are left out.

    Never a reason to refuse a batch: an agent that answers a 422 by
    bisecting would otherwise quarantine good results for a fault in its
    own metadata.
    """
    if not isinstance(raw, dict):
        return AgentReport()
    when = None
    try:
        when = parse_time(raw.get("time"))
    except (ResultError, ValueError, OverflowError):
        pass
    backlog = raw.get("spool_backlog")
    if isinstance(backlog, bool) or not isinstance(backlog, int) or not 0 <= backlog <= MAX_BACKLOG:
        backlog = None
    version, config_version = (_short_text(raw.get(k)) for k in ("version", "config_version"))
    agents = raw.get("agents")
    behind = ({h: _agent_report(a) for h, a in list(agents.items())[:MAX_RELAYED_AGENTS] if isinstance(h, str)}
              if isinstance(agents, dict) else {})
    return AgentReport(time=when, spool_backlog=backlog, version=version, config_version=config_version,
                       agents={h: a for h, a in behind.items() if not a.agents})


def _short_text(value: Any) -> str | None:
    if not isinstance(value, str) or len(value) > MAX_VERSION_LEN or "\x00" in value:
        return None
    return value


def parse_batch(body: bytes, now: datetime) -> Batch:
    """Parse and validate a batch body; raise :class:`IngestError` on any fault."""
    # JSON carries a NUL character only escaped, so most bodies need no per-result check.
    may_hold_nul = b"\\u0000" in body
    decoded = None if may_hold_nul else wire_fast.decode(body)  # one decode in C: the values stored
    found = None if decoded is None else _fast_rows(decoded.results, now)
    errors: list[dict[str, Any]] = []
    if decoded is not None and found is not None:
        agent = _agent_report(decoded.agent)
    else:  # the slow way, which gives every verdict and error text
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise BatchMalformed(cli_said("cli.refusal.not_json", why=str(exc))) from exc
        if not isinstance(doc, dict):
            raise BatchMalformed(cli_said("cli.refusal.not_batch", example='{"results": [...]}'))
        raw_results = doc.get("results")
        if not isinstance(raw_results, list):
            raise BatchMalformed(cli_said("cli.refusal.results_list", key="results"))
        agent = _agent_report(doc.get("agent"))
        found = _slow_rows(raw_results, now, may_hold_nul, errors)
    if errors:
        raise BatchInvalid(errors)
    ids = [row["uid"] for row in found]
    if len(set(ids)) == len(ids):  # the usual batch: every id once
        return Batch(rows=found, ids=ids, agent=agent)
    rows: list[dict[str, Any]] = []
    ids = []
    seen: set[str] = set()
    for row in found:
        if row["uid"] not in seen:
            seen.add(row["uid"])
            rows.append(row)
            ids.append(row["uid"])
    return Batch(rows=rows, ids=ids, agent=agent)


def _slow_rows(raw_results: list[Any], now: datetime, may_hold_nul: bool,
               errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each result read with ``read_wire``; what fails is added to ``errors`` (index, id, error)."""
    rows = []
    for index, data in enumerate(raw_results):
        try:
            rows.append(_row(data, now, may_hold_nul))
        except (ResultError, ValueError, TypeError, OverflowError) as exc:
            rid = data.get("id") if isinstance(data, dict) else None
            errors.append(answer_body(exc.args[0] if exc.args else "", {
                "index": index, "id": rid[:64] if isinstance(rid, str) else None, "error": str(exc)[:500]}))
    return rows


Observer = Callable[[str, int], None]  # (outcome, count) -> None
Timer = Callable[[float], None]


class Ingestor:
    """Stores batches into one database; ``observe`` counts outcomes for /metrics."""

    def __init__(self, engine: Engine, observe: Observer | None = None,
                 time_batch: Timer | None = None, tickets: Tickets | None = None) -> None:
        self.engine = engine
        self.tickets = tickets  # the ticket rules run on each batch's new results, in its transaction
        self._observe = observe or (lambda outcome, n: None)
        self._time_batch = time_batch or (lambda seconds: None)

    def ingest(self, agent: Agent, body: bytes) -> Outcome:
        """Validate and store one batch body from ``agent``."""
        if not agent.approved:
            self._observe("rejected", 1)
            raise AwaitingApproval(cli_said(
                "cli.refusal.awaiting_approval", host=f"{agent.site}/{agent.host}",
                command=f"wardround-collector host approve --site {agent.site} --host {agent.host}"))
        start = time.perf_counter()
        try:  # received_at is set again from the database's clock when the batch is stored
            batch = parse_batch(body, datetime.now(UTC))
        except BatchInvalid as exc:
            self._observe("rejected", len(exc.detail))
            raise
        foreign = _foreign(agent, batch.rows)
        if foreign:
            self._observe("rejected", len(foreign))
            raise BatchForbidden(forbidden_message(agent, foreign))
        outcome = self.store(agent, batch)
        self._observe("accepted", len(outcome.accepted))
        self._observe("duplicate", len(outcome.duplicates))
        self._time_batch(time.perf_counter() - start)
        return outcome

    def store(self, agent: Agent, batch: Batch, now: datetime | None = None) -> Outcome:
        """Store ``batch`` in one transaction at ``now`` (default: the database's clock, read in it).

        On PostgreSQL the new results go in without an arbiter first (:func:`queries.store_new_results`'
        ``first_try``); if another transaction stored one of them at that moment, the transaction is run again
        with the arbiter, which reports those as duplicates."""
        try:
            return self._store(agent, batch, now, first_try=True)
        except queries.Raced:
            return self._store(agent, batch, now, first_try=False)

    def _store(self, agent: Agent, batch: Batch, now: datetime | None, first_try: bool) -> Outcome:
        report = batch.agent
        others = _other_hosts(agent, batch.rows)
        own = [] if agent.relay is not None else [agent.host]  # a relay reports no host of its own
        with writing(self.engine) as conn:
            # every host's ticket lock, in one fixed order, and the one clock every collector shares, read after them
            clock = self.tickets.lock(conn, agent.site, sorted([*own, *others])) if self.tickets is not None else None
            if now is None:
                now = clock or database_time(conn)
                for row in batch.rows:
                    row["received_at"] = now
            offset = (now - report.time).total_seconds() if report.time is not None else None
            stored = queries.store_new_results(conn, batch.rows, first_try=first_try)
            everything = len(stored) == len(batch.rows)  # the usual batch: nothing in it was stored before
            fresh = batch.rows if everything else [r for r in batch.rows if r["uid"] in stored]
            if self.tickets is not None:  # before upsert_latest: it reads the previous newest times
                if not others and own:
                    self.tickets.on_results(conn, agent.site, agent.host, fresh, now)
                else:
                    for host in [*own, *others]:
                        self.tickets.on_results(conn, agent.site, host,
                                                [r for r in fresh if r["host"] == host], now)
            with pipelined(conn):  # nothing read back: the latest states and the hosts' times in one round trip
                queries.upsert_latest(conn, fresh, credible_until=credible_until(now))
                if own:
                    queries.touch_host(conn, site=agent.site, host=agent.host, seen=now,
                                       clock_offset_s=offset, spool_backlog=report.spool_backlog,
                                       agent_version=report.version, config_version=report.config_version)
                # Hosts the agent checks remotely: seen now too; the agent's own facts are not theirs.
                # Behind a relay: each host's own agent's facts, as the relay passed them on.
                for host in others:
                    own_report = report.agents.get(host) if agent.relay is not None else None
                    if own_report is None:
                        queries.touch_host(conn, site=agent.site, host=host, seen=now, clock_offset_s=None,
                                           spool_backlog=None, agent_version=None)
                    else:
                        queries.touch_host(conn, site=agent.site, host=host, seen=now, clock_offset_s=None,
                                           spool_backlog=own_report.spool_backlog,
                                           agent_version=own_report.version,
                                           config_version=own_report.config_version)
        if everything:
            return Outcome(accepted=list(batch.ids), duplicates=[], server_time=now, agent=report)
        accepted = [i for i in batch.ids if i in stored]
        duplicates = [i for i in batch.ids if i not in stored]
        return Outcome(accepted=accepted, duplicates=duplicates, server_time=now, agent=report)


def forbidden_message(agent: Agent, foreign: list[dict[str, Any]]) -> str:
    """Why a batch was refused and what would allow it; ``--also-host`` only for a host of the same site (a keyed
    text: an agent says it in its reader's language)."""
    if agent.relay is not None:
        names = ", ".join(sorted({f"{r['site']}/{r['host']}" for r in foreign})[:5])
        return cli_said("cli.refusal.relay_foreign", relay=repr(agent.relay), site=agent.site, n=len(foreign),
                        names=names, enrol="wardround-agent enrol", approve="wardround-collector host approve")
    also = cli_said("cli.refusal.also", hosts=", ".join(sorted(agent.also_hosts))) if agent.also_hosts else ""
    same_site = [r for r in foreign if r["site"] == agent.site]
    first = same_site[0] if same_site else foreign[0]
    words = {"hosts": f"{agent.site}/{agent.host}", "also": also, "n": len(foreign),
             "example": f"{first['site']}/{first['host']}"}
    if not same_site:
        return cli_said("cli.refusal.other_site", **words, site=repr(first["site"]), key="site:")
    return cli_said("cli.refusal.same_site", **words, command=f"wardround-collector token create --site {agent.site} "
                    f"--host {agent.host} --also-host {first['host']}")


def _foreign(agent: Agent, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows ``agent`` may not write (a set lookup per row; most batches are all its own host)."""
    if not agent.also_hosts and agent.relay is None:
        return [r for r in rows if r["site"] != agent.site or r["host"] != agent.host]
    return [r for r in rows if not agent.may_write(r["site"], r["host"])]


def _other_hosts(agent: Agent, rows: list[dict[str, Any]]) -> list[str]:
    """The granted hosts this batch holds results for, sorted (a fixed lock order)."""
    if agent.relay is not None:  # every host of the batch (the relay's name is no host)
        return sorted({r["host"] for r in rows})
    if not agent.also_hosts:
        return []
    return sorted({r["host"] for r in rows} - {agent.host})
