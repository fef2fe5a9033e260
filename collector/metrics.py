"""Prometheus metrics for the collector: ``GET /metrics``.

Three parts, in this order in the exposition:

1. **State of every check item**, built at each scrape from the ``latest``
   table (one row per site/host/check/item; never a scan of ``results``):
   ``wardround_check_status`` plus the measured values that :data:`EXPORTS`
   maps to Prometheus metrics, the warning and critical thresholds they were
   judged by (``wardround_check_threshold``, only where the result carries
   them) and each backup item's outcome.  At 10,000 hosts × 30 checks this
   is a million series, so it is written straight to text
   (prometheus_client's ``generate_latest`` costs ~20 µs a series; see
   ``bench/metrics_scrape.py``).
2. **Per-agent state** from the ``hosts`` table: last seen, clock offset,
   spool backlog; hosts per site by state (ok … silent, never reported, the
   Today questions); the running deadlines of live tickets (same fast writer).
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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from sqlalchemy import Connection, Engine, and_, func, select
from sqlalchemy.exc import SQLAlchemyError

from checks.catalogue import BACKUP_CHECKS
from checks.result import Status
from collector.notify.metrics import NotificationCollector
from collector.policy import Policies, default_policies
from collector.store.db import database_time, reading
from collector.store.tables import (
    LIVE_STATES,
    agent_token_hosts,
    agent_tokens,
    hosts,
    latest,
    record_signatures,
    records,
    tickets,
)
from collector.ticket_metrics import TicketCollector, ticket_metric_names

__all__ = ["BACKUP_OUTCOMES", "CONTENT_TYPE", "EXPORTS", "HOST_STATES", "CollectorMetrics",
           "Export", "backup_outcome", "host_state", "state_exposition"]

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
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
    ``bounds_only`` exports nothing but the metric's thresholds, bounding
    ``name`` (fed by another entry): the certificate's ``days_left``
    thresholds bound the time left before its expiry timestamp.

    Every entry's warning and critical thresholds, where a result carries
    them, are exported as ``wardround_check_threshold{metric=name,
    level="warn"|"crit"}``, scaled by ``divisor`` like the value.
    """

    name: str
    help: str
    divisor: float = 1.0
    per_item: bool = True
    worse: str = "max"
    crit_as: str | None = None
    bounds_only: bool = False

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
_CERT_DAYS_LEFT = Export(_CERT_EXPIRY.name, "", divisor=1 / 86400, bounds_only=True)
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
    # days_warn/days_crit bound the time left before the expiry: exported in seconds (days × 86400)
    ("certificate", None, "days_left"): _CERT_DAYS_LEFT,
    ("http", None, "days_left"): _CERT_DAYS_LEFT,
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

# Check names whose rows are parsed: those with an entry, and the backup checks (their outcome).
_PARSED_CHECKS = frozenset(check for check, _item, _name in EXPORTS) | BACKUP_CHECKS


def _specs() -> tuple[dict[str, dict[str, Export]], dict[tuple[str, str], dict[str, Export]]]:
    """:data:`EXPORTS` as check → metric → entry, and (check, item) → metric → entry for the checks with
    entries for one item (those first, then the check's entries for any item): one lookup a row."""
    by_check: dict[str, dict[str, Export]] = {}
    for (check, item, name), e in EXPORTS.items():
        if item is None:
            by_check.setdefault(check, {})[name] = e
    by_item: dict[tuple[str, str], dict[str, Export]] = {}
    for (check, item, name), e in EXPORTS.items():
        if item is not None:
            by_item.setdefault((check, item), dict(by_check.get(check, {})))[name] = e
    return by_check, by_item


_SPECS_BY_CHECK, _SPECS_BY_ITEM = _specs()
# The end of a threshold series' labels, after site/host/check/item, per bounded family and level.
_BOUNDS = {e.name: (f',metric="{e.name}",level="warn"', f',metric="{e.name}",level="crit"')
           for e in EXPORTS.values()}

STATUS = ("wardround_check_status",
          "Current status of a check item: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN")
THRESHOLD = ("wardround_check_threshold",
             "Threshold an item's metric is judged by (level warn or crit), in the units of the Prometheus "
             "metric named by the metric label")
BACKUP_OUTCOME = ("wardround_backup_outcome",
                  "1 for each backup check item, labelled with what became of its newest backup: done, warning, "
                  "too_small, missed, failed or unknown")
HOSTS = ("wardround_hosts",
         "Hosts per site by state now: ok, warning, unknown, abnormal (their worst item), silent, never_reported")
TICKET_DUE = ("wardround_ticket_due_timestamp_seconds",
              "When a deadline still running on a live ticket falls due (Unix time; deadline response, resolve "
              "or onsite)")
RECORD_ISSUED = ("wardround_record_issued_timestamp_seconds",
                 "When the site's newest record of a kind (the latest period) was issued (Unix time)")
RECORD_SIGNATURES = ("wardround_record_signatures",
                     "Signatures on the site's newest record of a kind, by role (engineer, customer)")
SIGNER_ROLES = ("engineer", "customer")
HOST_FAMILIES = (
    ("wardround_agent_last_seen_timestamp_seconds",
     "When the host's agent last delivered a batch (Unix time)"),
    ("wardround_agent_clock_offset_seconds", "Collector time minus agent time at the last delivery"),
    ("wardround_agent_spool_backlog", "Results waiting in the agent's spool at the last delivery"),
)
DATABASE_UP = ("wardround_collector_database_up", "1 if the last scrape could read the database")

BACKUP_OUTCOMES = ("done", "warning", "too_small", "missed", "failed", "unknown")
HOST_STATES = ("ok", "warning", "unknown", "abnormal", "silent", "never_reported")
_STATE_OF_STATUS = {Status.OK: "ok", Status.WARNING: "warning", Status.UNKNOWN: "unknown",
                    Status.CRITICAL: "abnormal"}
# The metric that says how old a backup item's newest backup is (off-site: how long the copy is late).
_AGE_METRIC = {"db_backup": "age_seconds", "backup_files": "age_seconds", "offsite_copy": "lag_seconds"}

# (value, warn, crit) of one metric of a result; value None = could not be measured.
Measured = tuple[float | None, float | None, float | None]


def exported_names() -> list[str]:
    """Every metric name the collector can export (for docs and tests)."""
    names = {STATUS[0], THRESHOLD[0], BACKUP_OUTCOME[0], HOSTS[0], TICKET_DUE[0], RECORD_ISSUED[0],
             RECORD_SIGNATURES[0], DATABASE_UP[0],
             *(n for n, _h in HOST_FAMILIES), *ticket_metric_names()}
    for e in EXPORTS.values():
        names.add(e.name)
        if e.crit_as:
            names.add(e.crit_as)
    return sorted(names)


def backup_outcome(check: str, status: int, measured: Mapping[str, Measured]) -> str:
    """What became of a backup item's newest backup, read from its result as the agent judged it.

    ========== ==============================================================
    done       OK
    unknown    UNKNOWN: it could not be judged
    missed     the age (``offsite_copy``: the copy's lag) is at or past its
               critical limit, or no backup is known at all (age unmeasured)
    too_small  the size is below its critical limit (a WARNING: below its
               warning limit, e.g. half the median of the earlier files)
    failed     CRITICAL for any other reason: the job failed, the file does
               not verify, archiving fails
    warning    WARNING for any other reason (e.g. taken without CHECKSUM)
    ========== ==============================================================
    """
    if status == Status.OK:
        return "done"
    if status not in (Status.WARNING, Status.CRITICAL):
        return "unknown"
    age = measured.get(_AGE_METRIC.get(check, "age_seconds"))
    if age is not None:
        value, _warn, crit = age
        if value is None or (crit is not None and value >= crit):
            return "missed"
    size = measured.get("size_bytes")
    if size is not None and size[0] is not None:
        limit = size[2] if status == Status.CRITICAL else size[1]
        if limit is not None and size[0] < limit:
            return "too_small"
    return "failed" if status == Status.CRITICAL else "warning"


def host_state(statuses: Iterable[int], last_seen: datetime | None, now: datetime, silent_after: timedelta) -> str:
    """One of :data:`HOST_STATES` for a host: never reported, silent past its site's grace, else its worst item
    (a host that reported no item is ``unknown``)."""
    if last_seen is None:
        return "never_reported"
    if now - last_seen > silent_after:
        return "silent"
    seen = list(statuses)
    return _STATE_OF_STATUS[Status.worst(seen)] if seen else "unknown"


# -- the text writer -----------------------------------------------------------

def _escape(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


_SPECIAL = {"inf": "+Inf", "-inf": "-Inf", "nan": "NaN"}


def _number(v: float) -> str:
    s = repr(float(v))
    return _SPECIAL[s] if s[-1] in "fn" else s  # only inf, -inf and nan end in a letter


class _Texts:
    """One gauge family whose values are written as text already: label text → value text (a label set
    that comes twice is written once)."""

    __slots__ = ("name", "help", "samples")

    def __init__(self, name: str, help: str) -> None:
        self.name = name
        self.help = help
        self.samples: dict[str, str] = {}

    def render(self, out: list[str]) -> None:
        out.append(f"# HELP {self.name} {self.help}\n# TYPE {self.name} gauge\n")
        prefix = self.name + "{"
        out.extend(f"{prefix}{labels}}} {text}\n" for labels, text in self.samples.items())


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


def _measured(metrics_json: str | bytes) -> list[tuple[str, float | None, float | None, float | None]]:
    """(name, value, warn, crit) of each metric in a stored ``metrics`` JSON list; value None = unmeasured.

    A number is a JSON int or float (a bool is neither); anything else counts as absent.
    """
    try:
        items = orjson.loads(metrics_json)
    except orjson.JSONDecodeError:
        return []
    if type(items) is not list:
        return []
    out: list[tuple[str, float | None, float | None, float | None]] = []
    for m in items:
        if type(m) is dict:
            name, v, w, c = m.get("name"), m.get("value"), m.get("warn"), m.get("crit")
            if type(name) is str and (v is None or type(v) is float or type(v) is int):
                out.append((name, None if v is None else float(v),
                            w if type(w) is float else float(w) if type(w) is int else None,
                            c if type(c) is float else float(c) if type(c) is int else None))
    return out


def state_exposition(engine: Engine, policies: Policies | None = None, now: datetime | None = None) -> str:
    """The state part of ``/metrics``: check items, agents and live deadlines, from ``latest``, ``hosts``,
    ``agent_tokens`` and ``tickets``."""
    try:
        with reading(engine) as conn:
            item_rows = conn.execute(select(latest.c.site, latest.c.host, latest.c.check, latest.c.item,
                                            latest.c.status, latest.c.metrics)).all()
            host_rows = conn.execute(select(hosts.c.site, hosts.c.host, hosts.c.last_seen,
                                            hosts.c.clock_offset_s, hosts.c.spool_backlog)).all()
            live = agent_tokens.c.revoked_at.is_(None)
            enrolled = [*conn.execute(select(agent_tokens.c.site, agent_tokens.c.host).where(live)),
                        *conn.execute(select(agent_tokens.c.site, agent_token_hosts.c.host)
                                      .join(agent_token_hosts, agent_token_hosts.c.token_id == agent_tokens.c.id)
                                      .where(live))]
            ticket_rows = conn.execute(select(
                tickets.c.site, tickets.c.host, tickets.c.check, tickets.c.item, tickets.c.severity,
                tickets.c.priority, tickets.c.state, tickets.c.response_due, tickets.c.resolve_due,
                tickets.c.onsite_due).where(tickets.c.state.in_(LIVE_STATES))).all()
            record_families = _newest_records(conn)
            now = now or database_time(conn)  # the clock ingest stamped last_seen with
    except SQLAlchemyError as exc:
        log.warning("metrics: cannot read the database: %s", type(exc).__name__)
        return _render([], 0.0)
    return _render([*_build(item_rows, host_rows, enrolled, ticket_rows, policies or default_policies(), now),
                    *record_families], 1.0)


def _newest_records(conn: Connection) -> list[_Family]:
    """Per site and kind, the newest record (the latest period; of several, the last issued) and its
    signatures by role."""
    latest_period = (select(records.c.site, records.c.kind, func.max(records.c.period_end).label("end"))
                     .group_by(records.c.site, records.c.kind).subquery())
    newest: dict[tuple[str, str], tuple[Any, datetime]] = {}
    for record_id, site, kind, issued_at in conn.execute(
            select(records.c.id, records.c.site, records.c.kind, records.c.issued_at).join(
                latest_period, and_(records.c.site == latest_period.c.site, records.c.kind == latest_period.c.kind,
                                    records.c.period_end == latest_period.c.end))):
        held = newest.get((site, kind))
        if held is None or issued_at > held[1]:
            newest[(site, kind)] = (record_id, issued_at)
    signed: dict[tuple[Any, str], int] = {}
    ids = [record_id for record_id, _at in newest.values()]
    if ids:
        q = (select(record_signatures.c.record_id, record_signatures.c.role, func.count())
             .where(record_signatures.c.record_id.in_(ids))
             .group_by(record_signatures.c.record_id, record_signatures.c.role))
        signed = {(record_id, role): int(n) for record_id, role, n in conn.execute(q)}
    issued, signatures = _Family(*RECORD_ISSUED), _Family(*RECORD_SIGNATURES)
    for (site, kind), (record_id, issued_at) in newest.items():
        labels = f'site="{_escape(site)}",kind="{_escape(kind)}"'
        issued.samples[labels] = issued_at.timestamp()
        for role in SIGNER_ROLES:
            signatures.samples[f'{labels},role="{role}"'] = float(signed.get((record_id, role), 0))
    return [issued, signatures]


_STATUS_TEXT = {int(v): _number(float(v)) for v in Status}


def _build(item_rows: Iterable[tuple[Any, ...]], host_rows: Iterable[tuple[Any, ...]],
           enrolled: Iterable[tuple[Any, ...]], ticket_rows: Iterable[tuple[Any, ...]], policies: Policies,
           now: datetime) -> list[_Family | _Texts]:
    # The hot loop (a million rows at 10,000 hosts × 30 checks): label text is built once per host and
    # per distinct string, threshold values are written once per distinct value, and the families whose
    # label sets cannot repeat hold text, not floats.
    status, threshold, outcome = _Texts(*STATUS), _Texts(*THRESHOLD), _Texts(*BACKUP_OUTCOME)
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

    numbers: dict[float, str] = {}  # thresholds repeat across items: write each value once
    by_check, by_item, bounds = _SPECS_BY_CHECK, _SPECS_BY_ITEM, _BOUNDS
    parsed, backup_checks, status_text = _PARSED_CHECKS, BACKUP_CHECKS, _STATUS_TEXT
    per_host: dict[tuple[str, str], tuple[str, set[int]]] = {}  # label text, statuses of its items
    for site, host, check, item, st, metrics_json in item_rows:
        held = per_host.get((site, host))
        if held is None:
            held = per_host[(site, host)] = (f'site="{esc(site)}",host="{esc(host)}"', set())
        base, statuses = held
        statuses.add(st)
        e_item = escaped.get(item)
        if e_item is None:
            e_item = escaped[item] = _escape(item)
        checked = f'{base},check="{esc(check)}",item="{e_item}"'
        status.samples[checked] = status_text.get(st) or _number(st)
        if check not in parsed:
            continue
        specs = by_item.get((check, item)) or by_check.get(check) or {}
        measured = _measured(metrics_json)
        with_item = f'{base},item="{e_item}"'
        for name, value, warn, crit in measured:
            spec = specs.get(name)
            if spec is None:
                continue
            divisor = spec.divisor
            if value is not None and not spec.bounds_only:
                labels = with_item if spec.per_item else base
                families[spec.name].add(labels, value / divisor)
                if spec.crit_as and crit is not None:
                    families[spec.crit_as].add(labels, crit / divisor)
            if warn is not None or crit is not None:
                warn_labels, crit_labels = bounds[spec.name]
                for x, suffix in ((warn, warn_labels), (crit, crit_labels)):
                    if x is not None:
                        x /= divisor
                        text = numbers.get(x)
                        if text is None:
                            text = numbers[x] = _number(x)
                        threshold.samples[checked + suffix] = text
        if check in backup_checks:
            verdict = backup_outcome(check, st, {n: (v, w, c) for n, v, w, c in measured})
            outcome.samples[f'{checked},outcome="{verdict}"'] = "1.0"
    host_families = [_Family(n, h) for n, h in HOST_FAMILIES]
    seen, offset, backlog = host_families
    last_seen: dict[tuple[str, str], datetime | None] = {}
    for site, host, seen_at, clock_offset, spool_backlog in host_rows:
        last_seen[(site, host)] = seen_at
        labels = f'site="{esc(site)}",host="{esc(host)}"'
        seen.samples[labels] = seen_at.timestamp()
        if clock_offset is not None:
            offset.samples[labels] = float(clock_offset)
        if spool_backlog is not None:
            backlog.samples[labels] = float(spool_backlog)
    for site, host in enrolled:
        last_seen.setdefault((site, host), None)
    statuses_of = {key: held[1] for key, held in per_host.items()}
    return [status, threshold, outcome, *families.values(), *host_families,
            _hosts_by_state(last_seen, statuses_of, policies, now, esc), _deadlines(ticket_rows, esc)]


def _hosts_by_state(last_seen: Mapping[tuple[str, str], datetime | None], statuses: Mapping[tuple[str, str], set[int]],
                    policies: Policies, now: datetime, esc: Callable[[str], str]) -> _Family:
    counts: dict[str, dict[str, int]] = {}
    grace: dict[str, timedelta] = {}
    for (site, host), seen_at in last_seen.items():
        if site not in counts:
            counts[site] = dict.fromkeys(HOST_STATES, 0)
            grace[site] = policies.for_site(site).silent_after
        counts[site][host_state(statuses.get((site, host), ()), seen_at, now, grace[site])] += 1
    family = _Family(*HOSTS)
    for site, by_state in counts.items():
        for state, n in by_state.items():
            family.samples[f'site="{esc(site)}",state="{state}"'] = float(n)
    return family


def _deadlines(ticket_rows: Iterable[tuple[Any, ...]], esc: Callable[[str], str]) -> _Family:
    family = _Family(*TICKET_DUE)
    for site, host, check, item, severity, priority, state, response_due, resolve_due, onsite_due in ticket_rows:
        labels = (f'site="{esc(site)}",host="{esc(host)}",check="{esc(check)}",item="{esc(item)}",'
                  f'severity="{severity}",key_customer="{"true" if priority > 0 else "false"}",deadline=')
        if state == "open":
            family.samples[labels + '"response"'] = response_due.timestamp()
        family.samples[labels + '"resolve"'] = resolve_due.timestamp()
        if onsite_due is not None:
            family.samples[labels + '"onsite"'] = onsite_due.timestamp()
    return family


def _render(families: list[_Family | _Texts], up_value: float) -> str:
    name, help = DATABASE_UP
    out = [f"# HELP {name} {help}\n# TYPE {name} gauge\n{name} {_number(up_value)}\n"]
    for f in families:
        f.render(out)
    return "".join(out)


class CollectorMetrics:
    """Everything ``/metrics`` serves for one collector app."""

    def __init__(self, engine: Engine, policies: Policies | None = None) -> None:
        # no *_created series: they double the scrape for nothing (prometheus_client leaves this unannotated)
        disable_created_metrics()  # type: ignore[no-untyped-call,unused-ignore]
        self.engine = engine
        self.policies = policies or default_policies()
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
        return state_exposition(self.engine, self.policies).encode() + generate_latest(self.registry)
