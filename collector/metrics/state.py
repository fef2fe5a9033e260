"""The state part of ``/metrics`` (check items, agents, live deadlines, newest records) and the collector's registry."""

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from checks.catalogue import BACKUP_CHECKS
from checks.result import Status
from collector.ferry import FerryCollector
from collector.metrics.cache import ItemCache
from collector.metrics.exports import (
    BACKUP_OUTCOME,
    BOUNDS,
    DATABASE_UP,
    EXPORTS,
    HOST_FAMILIES,
    HOST_STATES,
    HOSTS,
    OUTCOMES,
    PARSED_CHECKS,
    RECORD_ISSUED,
    RECORD_SIGNATURES,
    SIGNER_ROLES,
    SPECS_BY_CHECK,
    SPECS_BY_ITEM,
    STATUS,
    THRESHOLD,
    TICKET_DUE,
    backup_outcome,
    host_state,
)
from collector.metrics.text import Cached, Family, Texts, escape, metric_values, number
from collector.notify.metrics import NotificationCollector
from collector.policy import Policies, default_policies
from collector.store import scrape
from collector.store.db import database_time, reading
from collector.ticket_metrics import TicketCollector

log = logging.getLogger("collector.metrics")  # the name it always had


def state_exposition(engine: Engine, policies: Policies | None = None, now: datetime | None = None) -> str:
    """The state part of ``/metrics``: check items, agents and live deadlines, from ``latest``, ``hosts``,
    the fleet inventory and ``tickets`` (everything read: no cache)."""
    return state_bytes(engine, policies, now, ItemCache()).decode()


def state_bytes(engine: Engine, policies: Policies | None, now: datetime | None, cache: ItemCache) -> bytes:
    """:func:`state_exposition`, encoded, with the item lines ``cache`` kept since the previous scrape."""
    try:
        with reading(engine) as conn, cache.lock:
            # hosts before latest: the cache's marks are never newer than the rows it holds
            host_rows = scrape.host_marks(conn)
            cache.refresh(conn, {(site, host): seen for site, host, seen, _o, _b in host_rows}, _host_lines)
            # the fleet inventory, as on the Today page: enrolled hosts count (reported or not), retired ones do not
            enrolled, retired = scrape.fleet_inventory(conn)
            ticket_rows = scrape.live_tickets(conn)
            record_families = _newest_records(conn)
            now = now or database_time(conn)  # the clock ingest stamped last_seen with
            families = _build(cache, host_rows, (enrolled, retired), ticket_rows, policies or default_policies(), now)
    except SQLAlchemyError as exc:
        log.warning("metrics: cannot read the database: %s", type(exc).__name__)
        return _render([], 0.0)
    return _render([*families, *record_families], 1.0)


def _newest_records(conn: Connection) -> list[Family]:
    """Per site and kind, the newest record (the latest period; of several, the last issued) and its
    signatures by role."""
    newest, signed = scrape.newest_records(conn)
    issued, signatures = Family(*RECORD_ISSUED), Family(*RECORD_SIGNATURES)
    for (site, kind), (record_id, issued_at) in newest.items():
        labels = f'site="{escape(site)}",kind="{escape(kind)}"'
        issued.samples[labels] = issued_at.timestamp()
        for role in SIGNER_ROLES:
            signatures.samples[f'{labels},role="{role}"'] = float(signed.get((record_id, role), 0))
    return [issued, signatures]


_STATUS_TEXT = {int(v): number(float(v)) for v in Status}


def _item_families() -> tuple[list[tuple[str, str]], dict[str, str]]:
    """(name, help) of every item family in exposition order, and each value family's ``worse``."""
    names = [STATUS, THRESHOLD, BACKUP_OUTCOME]
    worse: dict[str, str] = {}
    for e in EXPORTS.values():
        if e.name not in worse:
            worse[e.name] = e.worse
            names.append((e.name, e.help))
        if e.crit_as and e.crit_as not in worse:
            worse[e.crit_as] = "min"
            names.append((e.crit_as, f"Critical threshold of {e.name}"))
    return names, worse


_ITEM_FAMILIES, _WORSE = _item_families()
_ESCAPED: dict[str, str] = {}  # site/host/check/item strings repeat across scrapes: escape each once
_NUMBERS: dict[float, str] = {}  # thresholds repeat across items: write each value once


def _esc(s: str) -> str:
    t = _ESCAPED.get(s)
    if t is None:
        if len(_ESCAPED) > 1_000_000:
            _ESCAPED.clear()
        t = _ESCAPED[s] = escape(s)
    return t


def _host_lines(item_rows: Iterable[tuple[Any, ...]]) -> tuple[set[int], dict[str, bytes]]:
    """One host's ``latest`` rows → the statuses of its items and its lines of each item family."""
    # The hot loop (a million rows at 10,000 hosts × 30 checks on a full read): label text is built once
    # per host and per distinct string, threshold values are written once per distinct value, and the
    # families whose label sets cannot repeat hold text, not floats.
    status, threshold, outcome = Texts(*STATUS), Texts(*THRESHOLD), Texts(*BACKUP_OUTCOME)
    families: dict[str, Family] = {}
    numbers, esc = _NUMBERS, _esc
    by_check, by_item, bounds = SPECS_BY_CHECK, SPECS_BY_ITEM, BOUNDS
    parsed, backup_checks, status_text = PARSED_CHECKS, BACKUP_CHECKS, _STATUS_TEXT
    statuses: set[int] = set()
    base = ""
    for site, host, check, item, st, metrics_json in item_rows:
        if not base:
            base = f'site="{esc(site)}",host="{esc(host)}"'
        statuses.add(st)
        e_item = esc(item)
        checked = f'{base},check="{esc(check)}",item="{e_item}"'
        status.samples[checked] = status_text.get(st) or number(st)
        if check not in parsed:
            continue
        specs = by_item.get((check, item)) or by_check.get(check) or {}
        measured = metric_values(metrics_json)
        with_item = f'{base},item="{e_item}"'
        for name, value, warn, crit in measured:
            spec = specs.get(name)
            if spec is None:
                continue
            divisor = spec.divisor
            if value is not None and not spec.bounds_only:
                labels = with_item if spec.per_item else base
                _family(families, spec.name).add(labels, value / divisor)
                if spec.crit_as and crit is not None:
                    _family(families, spec.crit_as).add(labels, crit / divisor)
            if warn is not None or crit is not None:
                warn_labels, crit_labels = bounds[spec.name]
                for x, suffix in ((warn, warn_labels), (crit, crit_labels)):
                    if x is not None:
                        x /= divisor
                        text = numbers.get(x)
                        if text is None:
                            text = numbers[x] = number(x)
                        threshold.samples[checked + suffix] = text
        if check in backup_checks:
            verdict = backup_outcome(check, st, {n: (v, w, c) for n, v, w, c in measured})
            outcome.samples[f'{checked},outcome="{verdict}"'] = "1.0"
    lines: dict[str, bytes] = {}
    written: list[Texts | Family] = [status, threshold, outcome, *families.values()]
    for family in written:
        if family.samples:
            out: list[str] = []
            family.lines(out)
            lines[family.name] = "".join(out).encode()
    return statuses, lines


def _family(families: dict[str, Family], name: str) -> Family:
    family = families.get(name)
    if family is None:
        family = families[name] = Family(name, "", _WORSE[name])
    return family


def _build(cache: ItemCache, host_rows: Iterable[tuple[Any, ...]],
           inventory: tuple[list[tuple[str, str]], set[tuple[str, str]]], ticket_rows: Iterable[tuple[Any, ...]],
           policies: Policies, now: datetime) -> list[Family | Texts | Cached]:
    held = [cache.hosts[key] for key in sorted(cache.hosts)]
    items = [Cached(name, help, [text for h in held if (text := h.lines.get(name))])
             for name, help in _ITEM_FAMILIES]
    host_families = [Family(n, h) for n, h in HOST_FAMILIES]
    seen, offset, backlog = host_families
    last_seen: dict[tuple[str, str], datetime | None] = {}
    for site, host, seen_at, clock_offset, spool_backlog in host_rows:
        last_seen[(site, host)] = seen_at
        labels = f'site="{_esc(site)}",host="{_esc(host)}"'
        seen.samples[labels] = seen_at.timestamp()
        if clock_offset is not None:
            offset.samples[labels] = float(clock_offset)
        if spool_backlog is not None:
            backlog.samples[labels] = float(spool_backlog)
    enrolled, retired = inventory
    for key in enrolled:
        last_seen.setdefault(key, None)
    for key in retired:  # counted by state no more (its last report stays a fact in last_seen)
        last_seen.pop(key, None)
    statuses_of = {key: h.statuses for key, h in cache.hosts.items()}
    return [*items, *host_families, _hosts_by_state(last_seen, statuses_of, policies, now, _esc),
            _deadlines(ticket_rows, _esc)]


def _hosts_by_state(last_seen: Mapping[tuple[str, str], datetime | None], statuses: Mapping[tuple[str, str], set[int]],
                    policies: Policies, now: datetime, esc: Callable[[str], str]) -> Family:
    counts: dict[str, dict[str, int]] = {}
    grace: dict[str, timedelta] = {}
    for (site, host), seen_at in last_seen.items():
        if site not in counts:
            counts[site] = dict.fromkeys(HOST_STATES, 0)
            grace[site] = policies.for_site(site).silent_after
        counts[site][host_state(statuses.get((site, host), ()), seen_at, now, grace[site])] += 1
    family = Family(*HOSTS)
    for site, by_state in counts.items():
        for state, n in by_state.items():
            family.samples[f'site="{esc(site)}",state="{state}"'] = float(n)
    return family


def _deadlines(ticket_rows: Iterable[tuple[Any, ...]], esc: Callable[[str], str]) -> Family:
    family = Family(*TICKET_DUE)
    for site, host, check, item, severity, priority, state, response_due, resolve_due, onsite_due in ticket_rows:
        labels = (f'site="{esc(site)}",host="{esc(host)}",check="{esc(check)}",item="{esc(item)}",'
                  f'severity="{severity}",key_customer="{"true" if priority > 0 else "false"}",deadline=')
        if state == "open":
            family.samples[labels + '"response"'] = response_due.timestamp()
        family.samples[labels + '"resolve"'] = resolve_due.timestamp()
        if onsite_due is not None:
            family.samples[labels + '"onsite"'] = onsite_due.timestamp()
    return family


def _render(families: list[Family | Texts | Cached], up_value: float) -> bytes:
    name, help = DATABASE_UP
    out = [f"# HELP {name} {help}\n# TYPE {name} gauge\n{name} {number(up_value)}\n".encode()]
    for f in families:
        if isinstance(f, Cached):  # encoded when written: a million lines are not encoded again
            out.append(f"# HELP {f.name} {f.help}\n# TYPE {f.name} gauge\n".encode())
            out.extend(f.chunks)
        else:
            text: list[str] = []
            f.render(text)
            out.append("".join(text).encode())
    return b"".join(out)


class CollectorMetrics:
    """Everything ``/metrics`` serves for one collector app."""

    def __init__(self, engine: Engine, policies: Policies | None = None) -> None:
        # no *_created series: they double the scrape for nothing (prometheus_client leaves this unannotated)
        disable_created_metrics()  # type: ignore[no-untyped-call,unused-ignore]  # see above
        self.engine = engine
        self.policies = policies or default_policies()
        self.items = ItemCache()  # the item families between scrapes
        self.registry = CollectorRegistry()
        self.registry.register(NotificationCollector(engine))
        self.registry.register(TicketCollector(engine))
        self.registry.register(FerryCollector(engine))  # site relays and ferry bundles
        self.ingest_results = Counter(
            "wardround_ingest_results", "Results received, by outcome", ["outcome"],
            registry=self.registry)
        for outcome in OUTCOMES:
            self.ingest_results.labels(outcome)
        self.ingest_batch_seconds = Histogram(
            "wardround_ingest_batch_seconds", "Time to validate and store one accepted batch",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry)

    def observe(self, outcome: str, count: int) -> None:
        if count:
            self.ingest_results.labels(outcome).inc(count)

    def time_batch(self, seconds: float) -> None:
        self.ingest_batch_seconds.observe(seconds)

    def exposition(self) -> bytes:
        return state_bytes(self.engine, self.policies, None, self.items) + generate_latest(self.registry)
