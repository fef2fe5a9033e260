"""Prometheus metrics for the collector: ``GET /metrics``.

Three parts, in this order in the exposition:

1. **State of every check item**, built at each scrape from the ``latest``
   table (one row per site/host/check/item; never a scan of ``results``):
   ``wardround_check_status`` plus the measured values that :data:`EXPORTS`
   maps to Prometheus metrics.  At 10,000 hosts × 30 checks this is a
   million series, so it is written straight to text (prometheus_client's
   ``generate_latest`` costs ~20 µs a series; see ``bench/metrics_scrape.py``).
2. **Per-agent state** from the ``hosts`` table: last seen, clock offset,
   spool backlog (same fast writer).
3. **The registry**: ingest counters and the batch-time histogram (this
   process), and small database families — notifications, tickets — as
   prometheus_client collectors.  A small family (a few hundred series) goes
   there: register its collector in :class:`CollectorMetrics`.

:data:`EXPORTS` is the one mapping table from a check's metric to a
Prometheus metric.  Names carry base units (``_seconds``, ``_bytes``,
``_ratio``); percentages are divided by 100.  Labels are bounded: ``site``,
``host``, ``item`` (a mount, a database/type, a target — what the check
measured, never an id or free text) and, for ``wardround_check_status`` only,
``check``.  A metric fed by several checks (backup age from ``db_backup`` and
``backup_files``) keeps exactly the contract's labels; if two checks report
the same item on one host, the worse value wins (:attr:`Export.worse`), so a
series is never exported twice.  A value the check could not measure
(``None``) is not exported: the series is absent, and the item's status says
why.

With several uvicorn workers each worker counts its own ingest; everything
else is the same from every worker because it comes from the database.
``wardround_collector_database_up`` is 0 when the scrape could not read the
database (the state families are then absent, not zero).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from collector.notify.metrics import NotificationCollector
from collector.store.db import reading
from collector.store.tables import hosts, latest
from collector.ticket_metrics import TicketCollector, ticket_metric_names

__all__ = ["CollectorMetrics", "EXPORTS", "Export", "BACKUP_CHECKS", "CONTENT_TYPE", "state_exposition"]

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BACKUP_CHECKS = frozenset({"db_backup", "backup_files", "offsite_copy"})
OUTCOMES = ("accepted", "duplicate", "rejected")

SITE_HOST = ("site", "host")
SITE_HOST_ITEM = ("site", "host", "item")


@dataclass(frozen=True, slots=True)
class Export:
    """How one check metric appears in Prometheus.

    ``divisor`` divides the check's value (100: percent → ratio).
    ``per_item`` False drops the ``item`` label (the check has one fixed item,
    e.g. ``system``'s ``memory``).  ``worse`` picks the value kept when two
    checks feed the same series: ``max`` (ages, usage) or ``min`` (up flags,
    free space).  ``crit_as`` also exports the metric's critical threshold
    (scaled the same) under that name, so a panel can draw the line.
    """

    name: str
    help: str
    divisor: float = 1.0
    per_item: bool = True
    worse: str = "max"
    crit_as: str | None = None

    @property
    def labels(self) -> tuple[str, ...]:
        return SITE_HOST_ITEM if self.per_item else SITE_HOST


def _pct(name: str, help: str, **kw: object) -> Export:
    return Export(name, help, divisor=100.0, **kw)  # type: ignore[arg-type]


_BACKUP_AGE = Export("wardround_backup_age_seconds",
                     "Age of the newest backup a backup check found (item: database/type or path/pattern)",
                     crit_as="wardround_backup_max_age_seconds")
_BACKUP_SIZE = Export("wardround_backup_size_bytes", "Size of the newest backup a backup check found")
_CERT_EXPIRY = Export("wardround_certificate_expiry_timestamp_seconds",
                      "When the TLS certificate expires (Unix time)", worse="min")
_PORT_CONNECT = Export("wardround_port_connect_seconds", "Time to open a TCP connection to host:port")

# (check, item or None for any item, check metric name) -> Prometheus metric.
EXPORTS: dict[tuple[str, str | None, str], Export] = {
    # disk: item = mount point
    ("disk", None, "used_percent"): _pct("wardround_disk_used_ratio", "Used share of a filesystem (0-1)"),
    ("disk", None, "free_bytes"): Export("wardround_disk_free_bytes", "Space available to unprivileged users",
                                         worse="min"),
    ("disk", None, "total_bytes"): Export("wardround_disk_total_bytes", "Size of a filesystem"),
    ("disk", None, "inodes_free_percent"): _pct("wardround_disk_inodes_free_ratio",
                                                "Free share of a filesystem's inodes (0-1)", worse="min"),
    ("disk", None, "days_to_full"): Export("wardround_disk_days_to_full",
                                           "Forecast days until the filesystem is full (least-squares fit)",
                                           worse="min"),
    # system: fixed items cpu, memory, swap, load
    ("system", "cpu", "busy_percent"): _pct("wardround_cpu_busy_ratio",
                                            "CPU busy share since the previous run (0-1)", per_item=False),
    ("system", "memory", "used_percent"): _pct("wardround_memory_used_ratio", "Used share of memory (0-1)",
                                               per_item=False),
    ("system", "memory", "available_bytes"): Export("wardround_memory_available_bytes", "Memory available",
                                                    per_item=False, worse="min"),
    ("system", "memory", "total_bytes"): Export("wardround_memory_total_bytes", "Memory installed",
                                                per_item=False),
    ("system", "swap", "used_percent"): _pct("wardround_swap_used_ratio", "Used share of swap (0-1)",
                                             per_item=False),
    ("system", "load", "load1_per_core"): Export("wardround_load1_per_core", "1-minute load average per core",
                                                 per_item=False),
    ("system", "load", "cores"): Export("wardround_cpu_cores", "Logical CPU cores", per_item=False),
    # uptime
    ("uptime", None, "uptime_seconds"): Export("wardround_uptime_seconds", "Time since the host booted",
                                               per_item=False, worse="min"),
    # process: item = the name or /cmdline/ looked for
    ("process", None, "count"): Export("wardround_process_count", "Processes matching the item", worse="min"),
    ("process", None, "rss_bytes"): Export("wardround_process_rss_bytes",
                                           "Resident memory of the matching processes"),
    # service: item = unit or Windows service name
    ("service", None, "running"): Export("wardround_service_up", "1 if the service is running, else 0",
                                         worse="min"),
    ("service", None, "stopped"): Export("wardround_service_automatic_stopped",
                                         "Automatic-start services that are stopped (Windows)"),
    # port / tcp (one check under two names): item = host:port
    ("port", None, "connect_seconds"): _PORT_CONNECT,
    ("tcp", None, "connect_seconds"): _PORT_CONNECT,
    # ping / traceroute: item = the target
    ("ping", None, "loss_ratio"): Export("wardround_ping_loss_ratio",
                                         "Share of echo requests not answered (0-1)"),
    ("ping", None, "rtt_avg_seconds"): Export("wardround_ping_rtt_seconds", "Average round-trip time"),
    ("ping", None, "rtt_max_seconds"): Export("wardround_ping_rtt_max_seconds", "Longest round-trip time"),
    ("ping", None, "jitter_seconds"): Export("wardround_ping_jitter_seconds", "Round-trip time jitter"),
    ("traceroute", None, "hops"): Export("wardround_traceroute_hops", "Hops on the path to the target"),
    ("traceroute", None, "path_changed"): Export("wardround_traceroute_path_changed",
                                                 "1 if the path differs from the baseline, else 0"),
    ("traceroute", None, "last_hop_rtt_seconds"): Export("wardround_traceroute_last_hop_rtt_seconds",
                                                         "Round-trip time to the last hop"),
    # certificate: item = host:port[/sni]; http: item = the URL
    ("certificate", None, "expires_timestamp"): _CERT_EXPIRY,
    ("http", None, "expires_timestamp"): _CERT_EXPIRY,
    ("http", None, "response_seconds"): Export("wardround_http_response_seconds",
                                               "Time from connecting to the last byte of the answer"),
    ("http", None, "status_code"): Export("wardround_http_status_code", "HTTP status code of the answer"),
    # backups: db_backup item = database/type, backup_files item = path/pattern
    ("db_backup", None, "age_seconds"): _BACKUP_AGE,
    ("backup_files", None, "age_seconds"): _BACKUP_AGE,
    ("db_backup", None, "size_bytes"): _BACKUP_SIZE,
    ("backup_files", None, "size_bytes"): _BACKUP_SIZE,
    ("db_backup", None, "duration_seconds"): Export("wardround_backup_duration_seconds",
                                                    "How long the newest backup job took"),
    ("db_backup", None, "pending_wal_files"): Export("wardround_backup_pending_wal_files",
                                                     "PostgreSQL WAL segments not yet archived"),
    # offsite_copy: item = local -> remote
    ("offsite_copy", None, "lag_seconds"): Export(
        "wardround_offsite_copy_lag_seconds",
        "How long the newest local backup has waited for its off-site copy (0 when copied)",
        crit_as="wardround_offsite_copy_max_lag_seconds"),
    ("offsite_copy", None, "age_seconds"): Export("wardround_offsite_copy_age_seconds",
                                                  "Age of the newest file on the off-site server"),
    # clock: item = the NTP server, or "collector" (the offset from the collector's clock)
    ("clock", None, "offset_seconds"): Export("wardround_clock_offset_seconds",
                                              "Reference time minus this host's time (positive: the host is "
                                              "behind)"),
    ("clock", None, "delay_seconds"): Export("wardround_clock_ntp_delay_seconds",
                                             "Round trip of the NTP query"),
    # patches: items security, last_update, reboot (one of each per host)
    ("patches", "security", "pending_security"): Export(
        "wardround_patches_security_pending_count", "Security updates pending", per_item=False),
    ("patches", "security", "pending_updates"): Export(
        "wardround_patches_pending_count", "Updates pending (security ones included)", per_item=False),
    ("patches", "security", "oldest_security_age_seconds"): Export(
        "wardround_patches_oldest_security_age_seconds",
        "How long the oldest pending security update has been pending (published, or first seen on apt)",
        per_item=False),
    ("patches", "security", "lists_age_seconds"): Export(
        "wardround_patches_lists_age_seconds", "Age of the package lists / update catalogue the check read",
        per_item=False),
    ("patches", "last_update", "since_update_seconds"): Export(
        "wardround_patches_since_update_seconds", "Time since an update was last installed", per_item=False),
    ("patches", "reboot", "reboot_pending_seconds"): Export(
        "wardround_patches_reboot_pending_seconds",
        "How long a reboot has been pending to put installed updates in effect (0: none pending)",
        per_item=False),
    # antivirus: item = the product (defender, clamav, a Security Center product)
    ("antivirus", None, "signature_age_seconds"): Export(
        "wardround_antivirus_signature_age_seconds", "Age of the antivirus signatures"),
    ("antivirus", None, "realtime"): Export("wardround_antivirus_realtime_up",
                                            "1 if real-time protection is on, else 0", worse="min"),
    # accounts / db_accounts: item = the finding (empty_password, administrators, <engine>/trust...)
    ("accounts", None, "accounts"): Export("wardround_accounts_flagged_count",
                                           "Local accounts in the item's finding (e.g. with an empty password)"),
    ("accounts", None, "login_accounts"): Export("wardround_accounts_login_count",
                                                 "Local accounts that can log in with a password",
                                                 per_item=False),
    ("db_accounts", None, "accounts"): Export("wardround_db_accounts_flagged_count",
                                              "Database logins in the item's finding (<engine>/<finding>)"),
    # restore_drill: item = path/pattern of the backups drilled
    ("restore_drill", None, "duration_seconds"): Export("wardround_restore_drill_duration_seconds",
                                                        "How long the newest restore drill took, end to end"),
    ("restore_drill", None, "restore_seconds"): Export("wardround_restore_drill_restore_seconds",
                                                       "How long the newest drill's restore step took"),
    ("restore_drill", None, "restored_size_bytes"): Export("wardround_restore_drill_restored_bytes",
                                                           "Size of the database the newest drill restored"),
    ("restore_drill", None, "backup_age_seconds"): Export(
        "wardround_restore_drill_backup_age_seconds", "Age of the backup file the newest drill restored"),
}

# Check names that have at least one entry: rows of other checks skip the JSON parse.
_MAPPED_CHECKS = frozenset(check for check, _item, _name in EXPORTS)

STATUS = ("wardround_check_status",
          "Current status of a check item: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN")
HOST_FAMILIES = (
    ("wardround_agent_last_seen_timestamp_seconds",
     "When the host's agent last delivered a batch (Unix time)"),
    ("wardround_agent_clock_offset_seconds", "Collector time minus agent time at the last delivery"),
    ("wardround_agent_spool_backlog", "Results waiting in the agent's spool at the last delivery"),
)
DATABASE_UP = ("wardround_collector_database_up", "1 if the last scrape could read the database")


def exported_names() -> list[str]:
    """Every metric name the collector can export (for docs and tests)."""
    names = {STATUS[0], DATABASE_UP[0], *(n for n, _h in HOST_FAMILIES), *ticket_metric_names()}
    for e in EXPORTS.values():
        names.add(e.name)
        if e.crit_as:
            names.add(e.crit_as)
    return sorted(names)


# -- the text writer -----------------------------------------------------------

def _escape(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def _number(v: float) -> str:
    if v == math.inf:
        return "+Inf"
    if v == -math.inf:
        return "-Inf"
    if v != v:
        return "NaN"
    return repr(float(v))


class _Family:
    """One gauge family: label text → value, with a rule for a repeated series."""

    __slots__ = ("name", "help", "samples", "keep")

    def __init__(self, name: str, help: str, worse: str = "max") -> None:
        self.name = name
        self.help = help
        self.samples: dict[str, float] = {}
        self.keep: Callable[[float, float], float] = max if worse == "max" else min

    def add(self, labels: str, value: float) -> None:
        held = self.samples.get(labels)
        self.samples[labels] = value if held is None else self.keep(held, value)

    def render(self, out: list[str]) -> None:
        out.append(f"# HELP {self.name} {self.help}\n# TYPE {self.name} gauge\n")
        prefix = self.name + "{"
        out.extend(f"{prefix}{labels}}} {_number(v)}\n" for labels, v in self.samples.items())


def _metric_values(metrics_json: str | bytes) -> Iterable[tuple[str, float, float | None]]:
    """(name, value, crit) of each measured metric in a stored ``metrics`` JSON list."""
    try:
        items = orjson.loads(metrics_json)
    except orjson.JSONDecodeError:
        return ()
    if type(items) is not list:
        return ()
    out: list[tuple[str, float, float | None]] = []
    for m in items:
        if type(m) is dict:
            value, name = m.get("value"), m.get("name")
            if (type(value) is float or type(value) is int) and type(name) is str:
                crit = m.get("crit")
                out.append((name, float(value),
                            float(crit) if type(crit) is float or type(crit) is int else None))
    return out


def state_exposition(engine: Engine) -> str:
    """The state part of ``/metrics``: check items and agents, from ``latest`` and ``hosts``."""
    try:
        with reading(engine) as conn:
            item_rows = conn.execute(select(latest.c.site, latest.c.host, latest.c.check, latest.c.item,
                                            latest.c.status, latest.c.metrics)).all()
            host_rows = conn.execute(select(hosts.c.site, hosts.c.host, hosts.c.last_seen,
                                            hosts.c.clock_offset_s, hosts.c.spool_backlog)).all()
    except SQLAlchemyError as exc:
        log.warning("metrics: cannot read the database: %s", type(exc).__name__)
        return _render([], 0.0)
    return _render(_build(item_rows, host_rows), 1.0)


def _build(item_rows: Iterable[tuple[Any, ...]], host_rows: Iterable[tuple[Any, ...]]) -> list[_Family]:
    status = _Family(*STATUS)
    families: dict[str, _Family] = {}
    for e in EXPORTS.values():
        if e.name not in families:
            families[e.name] = _Family(e.name, e.help, e.worse)
        if e.crit_as and e.crit_as not in families:
            families[e.crit_as] = _Family(e.crit_as, f"Critical threshold of {e.name}", "min")
    escaped: dict[str, str] = {}  # site/host/item strings repeat: escape each once

    def esc(s: str) -> str:
        t = escaped.get(s)
        if t is None:
            t = escaped[s] = _escape(s)
        return t

    exports = EXPORTS
    mapped = _MAPPED_CHECKS
    for site, host, check, item, st, metrics_json in item_rows:
        base = f'site="{esc(site)}",host="{esc(host)}"'
        with_item = f'{base},item="{esc(item)}"'
        status.samples[f'{base},check="{esc(check)}",item="{esc(item)}"'] = float(st)
        if check not in mapped:
            continue
        for name, value, crit in _metric_values(metrics_json):
            spec = exports.get((check, item, name)) or exports.get((check, None, name))
            if spec is None:
                continue
            labels = with_item if spec.per_item else base
            families[spec.name].add(labels, value / spec.divisor)
            if spec.crit_as and crit is not None:
                families[spec.crit_as].add(labels, crit / spec.divisor)
    host_families = [_Family(n, h) for n, h in HOST_FAMILIES]
    seen, offset, backlog = host_families
    for site, host, last_seen, clock_offset, spool_backlog in host_rows:
        labels = f'site="{esc(site)}",host="{esc(host)}"'
        seen.samples[labels] = last_seen.timestamp()
        if clock_offset is not None:
            offset.samples[labels] = float(clock_offset)
        if spool_backlog is not None:
            backlog.samples[labels] = float(spool_backlog)
    return [status, *families.values(), *host_families]


def _render(families: list[_Family], up_value: float) -> str:
    name, help = DATABASE_UP
    out = [f"# HELP {name} {help}\n# TYPE {name} gauge\n{name} {_number(up_value)}\n"]
    for f in families:
        f.render(out)
    return "".join(out)


class CollectorMetrics:
    """Everything ``/metrics`` serves for one collector app."""

    def __init__(self, engine: Engine) -> None:
        # no *_created series: they double the scrape for nothing (prometheus_client leaves this unannotated)
        disable_created_metrics()  # type: ignore[no-untyped-call,unused-ignore]
        self.engine = engine
        self.registry = CollectorRegistry()
        self.registry.register(NotificationCollector(engine))
        self.registry.register(TicketCollector(engine))
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
        return state_exposition(self.engine).encode() + generate_latest(self.registry)
