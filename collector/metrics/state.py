"""The state part of ``/metrics`` (check items, agents, live deadlines, newest records) and the collector's registry."""

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
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
    INGEST_BATCH,
    INGEST_BUCKETS,
    INGEST_RESULTS,
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
from collector.metrics.shared import SharedIngest
from collector.metrics.text import Cached, Family, escape, metric_values, number
from collector.notify.metrics import NotificationCollector
from collector.policy import Policies, default_policies
from collector.store import scrape
from collector.store.db import database_time, reading
from collector.ticket_metrics import TicketCollector

log = logging.getLogger("collector.metrics")  # the name it always had


def state_exposition(engine: Engine, policies: Policies | None = None, now: datetime | None = None) -> str:
    """The state part of ``/metrics``: check items, agents and live deadlines, from ``latest``, ``hosts``,
    the fleet inventory and ``tickets`` (everything read: no cache)."""
    return b"".join(state_parts(engine, policies, now, ItemCache())).decode()


def state_parts(engine: Engine, policies: Policies | None, now: datetime | None, cache: ItemCache) -> list[bytes]:
    """:func:`state_exposition`, encoded, in parts (joined once, with the registry's, by the caller), with the
    item lines ``cache`` kept since the previous scrape."""
    try:
        with reading(engine) as conn, cache.lock:
            host_rows = _refresh(conn, cache)
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


def _refresh(conn: Connection, cache: ItemCache) -> Sequence[Any]:
    """Bring ``cache`` up to the database; returns the ``hosts`` rows it is of."""
    # hosts before latest: the cache's marks are never newer than the rows it holds
    host_rows = scrape.host_marks(conn)
    cache.refresh(conn, {(site, host): seen for site, host, seen, _o, _b in host_rows}, _host_lines)
    return host_rows


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


_STATUS_LINE = STATUS[0] + "{"
_THRESHOLD_LINE = THRESHOLD[0] + "{"
_OUTCOME_LINE = BACKUP_OUTCOME[0] + "{"
_STATUS_VALUE = {int(v): f"}} {number(float(v))}\n" for v in Status}
_KEEP: dict[str, Callable[[float, float], float]] = {name: max if w == "max" else min for name, w in _WORSE.items()}


def _host_lines(item_rows: Iterable[tuple[Any, ...]]) -> tuple[int, dict[str, bytes]]:
    """One host's ``latest`` rows → the worst status of its items (-1: none) and its lines of each item family."""
    # The hot loop (a million lines at 10,000 hosts × 30 checks on a full read): each line of the status,
    # threshold and outcome families is written once, as final text (their label sets cannot repeat across
    # rows); label text is built once per host and per distinct string; threshold values are written once
    # per distinct value; only the value families (a series fed by two items keeps the worse) hold floats.
    status_lines: list[str] = []
    threshold_lines: list[str] = []
    outcome_lines: list[str] = []
    values: dict[str, dict[str, float]] = {}
    numbers, escaped, esc = _NUMBERS, _ESCAPED, _esc
    by_check, by_item, bounds = SPECS_BY_CHECK, SPECS_BY_ITEM, BOUNDS
    parsed, backup_checks, status_value = PARSED_CHECKS, BACKUP_CHECKS, _STATUS_VALUE
    statuses: set[int] = set()
    base = ""
    for site, host, check, item, st, metrics_json in item_rows:
        if not base:
            base = f'site="{esc(site)}",host="{esc(host)}"'
        statuses.add(st)
        e_item = escaped.get(item)
        if e_item is None:
            e_item = esc(item)
        e_check = escaped.get(check)
        if e_check is None:
            e_check = esc(check)
        checked = f'{base},check="{e_check}",item="{e_item}"'
        tail = status_value.get(st)
        if tail is None:
            tail = f"}} {number(st)}\n"
        status_lines.append(f"{_STATUS_LINE}{checked}{tail}")
        if check not in parsed:
            continue
        specs = by_item.get((check, item)) or by_check.get(check) or {}
        measured = metric_values(metrics_json)
        with_item = f'{base},item="{e_item}"'
        row_bounds: dict[str, str] = {}  # a threshold named twice in one result is written once (the last)
        for name, value, warn, crit in measured:
            spec = specs.get(name)
            if spec is None:
                continue
            divisor = spec.divisor
            if value is not None and not spec.bounds_only:
                labels = with_item if spec.per_item else base
                _add(values, spec.name, labels, value / divisor)
                if spec.crit_as and crit is not None:
                    _add(values, spec.crit_as, labels, crit / divisor)
            if warn is not None or crit is not None:
                warn_labels, crit_labels = bounds[spec.name]
                for x, suffix in ((warn, warn_labels), (crit, crit_labels)):
                    if x is not None:
                        x /= divisor
                        text = numbers.get(x)
                        if text is None:
                            text = numbers[x] = number(x)
                        row_bounds[suffix] = f"{_THRESHOLD_LINE}{checked}{suffix}}} {text}\n"
        if row_bounds:
            threshold_lines.extend(row_bounds.values())
        if check in backup_checks:
            verdict = backup_outcome(check, st, {n: (v, w, c) for n, v, w, c in measured})
            outcome_lines.append(f'{_OUTCOME_LINE}{checked},outcome="{verdict}"}} 1.0\n')
    lines = {name: "".join(written).encode() for name, written in
             ((STATUS[0], status_lines), (THRESHOLD[0], threshold_lines), (BACKUP_OUTCOME[0], outcome_lines))
             if written}
    for name, samples in values.items():
        prefix = name + "{"
        lines[name] = "".join([f"{prefix}{labels}}} {number(v)}\n" for labels, v in samples.items()]).encode()
    return (int(Status.worst(statuses)) if statuses else -1), lines


def _add(values: dict[str, dict[str, float]], name: str, labels: str, value: float) -> None:
    """``value`` for the series ``labels`` of the value family ``name``; a series fed twice keeps the worse."""
    samples = values.get(name)
    if samples is None:
        values[name] = {labels: value}
        return
    held = samples.get(labels)
    samples[labels] = value if held is None else _KEEP[name](held, value)


def _build(cache: ItemCache, host_rows: Iterable[tuple[Any, ...]],
           inventory: tuple[list[tuple[str, str]], set[tuple[str, str]]], ticket_rows: Iterable[tuple[Any, ...]],
           policies: Policies, now: datetime) -> list[Family | Cached]:
    chunks: dict[str, list[bytes]] = {name: [] for name, _help in _ITEM_FAMILIES}
    for key in sorted(cache.hosts):  # one pass: each host's lines go to their families, hosts in order
        for name, text in cache.hosts[key].lines.items():
            chunks[name].append(text)
    items = [Cached(name, help, chunks[name]) for name, help in _ITEM_FAMILIES]
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
    worst_of = {key: h.worst for key, h in cache.hosts.items()}
    return [*items, *host_families, _hosts_by_state(last_seen, worst_of, policies, now, _esc),
            _deadlines(ticket_rows, _esc)]


def _hosts_by_state(last_seen: Mapping[tuple[str, str], datetime | None], worst: Mapping[tuple[str, str], int],
                    policies: Policies, now: datetime, esc: Callable[[str], str]) -> Family:
    counts: dict[str, dict[str, int]] = {}
    grace: dict[str, timedelta] = {}
    for (site, host), seen_at in last_seen.items():
        if site not in counts:
            counts[site] = dict.fromkeys(HOST_STATES, 0)
            grace[site] = policies.for_site(site).silent_after
        w = worst.get((site, host), -1)
        counts[site][host_state(() if w < 0 else (w,), seen_at, now, grace[site])] += 1
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


def _render(families: list[Family | Cached], up_value: float) -> list[bytes]:
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
    return out


class CollectorMetrics:
    """Everything ``/metrics`` serves for one collector app."""

    def __init__(self, engine: Engine, policies: Policies | None = None, *, shared: str | None = None,
                 routing: bool = False) -> None:
        """``shared``: the directory of ``serve --workers N``'s slots (:mod:`collector.metrics.shared`): the
        ingest families count this worker in its slot and show every worker's sum; else this process's.
        ``routing``: the collector has notification channels (events not routed yet are pending for it)."""
        # no *_created series: they double the scrape for nothing (prometheus_client leaves this unannotated)
        disable_created_metrics()  # type: ignore[no-untyped-call,unused-ignore]  # see above
        self.engine = engine
        self.policies = policies or default_policies()
        self.items = ItemCache()  # the item families between scrapes
        self.registry = CollectorRegistry()
        self.registry.register(NotificationCollector(engine, routing=routing))
        self.registry.register(TicketCollector(engine))
        self.registry.register(FerryCollector(engine))  # site relays and ferry bundles
        self.observe: Callable[[str, int], None]  # the Ingestor's callbacks: results by outcome, a batch's time
        self.time_batch: Callable[[float], None]
        if shared is not None:
            self.shared: SharedIngest | None = SharedIngest(shared)
            self.registry.register(self.shared)
            self.observe, self.time_batch = self.shared.observe, self.shared.time_batch
            return
        self.shared = None
        self.ingest_results = Counter(*INGEST_RESULTS, ["outcome"], registry=self.registry)
        for outcome in OUTCOMES:
            self.ingest_results.labels(outcome)
        self.ingest_batch_seconds = Histogram(*INGEST_BATCH, buckets=INGEST_BUCKETS, registry=self.registry)
        self.observe, self.time_batch = self._observe, self.ingest_batch_seconds.observe

    def _observe(self, outcome: str, count: int) -> None:
        if count:
            self.ingest_results.labels(outcome).inc(count)

    def warm(self) -> None:
        """Fill the item cache now if no scrape has (a full read: seconds at 10,000 hosts × 30 checks), and the
        registry's (the ticket history's families), so the first scrape after a start reads only what changed
        since.  Raises what the database raises."""
        with reading(self.engine) as conn, self.items.lock:
            if not self.items.filled:
                _refresh(conn, self.items)
        generate_latest(self.registry)

    def exposition(self) -> bytes:
        return b"".join([*state_parts(self.engine, self.policies, None, self.items), generate_latest(self.registry)])
