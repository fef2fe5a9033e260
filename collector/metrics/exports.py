"""What is exported: the one table from a check's metric to a Prometheus metric, the families,
and the Today questions (a backup's outcome, a host's state)."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from checks.catalogue import BACKUP_CHECKS
from checks.result import Status
from collector.ticket_metrics import ticket_metric_names

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OUTCOMES = ("accepted", "duplicate", "rejected")
# the two families a collector process counts in memory (collector.metrics.shared sums them over workers)
INGEST_RESULTS = ("wardround_ingest_results", "Results received, by outcome")
INGEST_BATCH = ("wardround_ingest_batch_seconds", "Time to validate and store one accepted batch")
INGEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

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
    return Export(name, help, divisor=100.0, **kw)  # type: ignore[arg-type]  # **kw are Export fields, typed per field


_BACKUP_AGE = Export("wardround_backup_age_seconds",
                     "Age of the newest backup a backup check found (item: database/type or path/pattern)",
                     crit_as="wardround_backup_max_age_seconds")
_BACKUP_SIZE = Export("wardround_backup_size_bytes", "Size of the newest backup a backup check found")
_CERT_EXPIRY = Export("wardround_certificate_expiry_timestamp_seconds",
                      "When the TLS certificate expires (Unix time)", worse="min")
_CERT_DAYS_LEFT = Export(_CERT_EXPIRY.name, "", divisor=1 / 86400, bounds_only=True)
_PORT_CONNECT = Export("wardround_port_connect_seconds", "Time to open a TCP connection to host:port")


def _shared(checks: tuple[str, ...], **exports: Export) -> dict[tuple[str, str | None, str], Export]:
    """The same entries (check metric name → export, for any item) for several checks that measure alike."""
    return {(check, None, metric): export for metric, export in exports.items() for check in checks}


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
    **_shared(("port", "tcp"), connect_seconds=_PORT_CONNECT),
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
    # certificate: item = host:port[/sni]; http: item = the URL. days_warn/days_crit bound the time left
    # before the expiry: exported in seconds (days × 86400)
    **_shared(("certificate", "http"), expires_timestamp=_CERT_EXPIRY, days_left=_CERT_DAYS_LEFT),
    ("http", None, "response_seconds"): Export("wardround_http_response_seconds",
                                               "Time from connecting to the last byte of the answer"),
    ("http", None, "status_code"): Export("wardround_http_status_code", "HTTP status code of the answer"),
    # backups: db_backup item = database/type, backup_files item = path/pattern
    **_shared(("db_backup", "backup_files"), age_seconds=_BACKUP_AGE, size_bytes=_BACKUP_SIZE),
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
PARSED_CHECKS = frozenset(check for check, _item, _name in EXPORTS) | BACKUP_CHECKS


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


SPECS_BY_CHECK, SPECS_BY_ITEM = _specs()
# The end of a threshold series' labels, after site/host/check/item, per bounded family and level.
BOUNDS = {e.name: (f',metric="{e.name}",level="warn"', f',metric="{e.name}",level="crit"')
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
    ("wardround_agent_spool_backlog", "Results still waiting in the agent's spool after its last delivered batch"),
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
