"""Prometheus metrics for the collector: ``GET /metrics``.

Three parts, in this order in the exposition:

1. **State of every check item**, from the ``latest`` table (one row per
   site/host/check/item; never a scan of ``results``), kept per host between
   scrapes and re-read for the hosts that reported since (:mod:`~collector.metrics.cache`):
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
   process; all the workers of ``serve --workers N``, :mod:`~collector.metrics.shared`),
   and small database families — notifications, tickets — as
   prometheus_client collectors.  A small family (a few hundred series) goes
   there: register its collector in :class:`CollectorMetrics`.

The modules: :mod:`~collector.metrics.exports` (what is exported, :data:`EXPORTS`, the Today
questions), :mod:`~collector.metrics.text` (the fast text writer), :mod:`~collector.metrics.state`
(the state part read from the database, and :class:`CollectorMetrics`), :mod:`~collector.metrics.cache`
(the item lines kept per host between scrapes), :mod:`~collector.metrics.shared` (the workers' ingest
counters of ``serve --workers N``).

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

With several uvicorn workers each worker counts its own ingest in shared memory and every worker's
scrape adds up all of them (:mod:`~collector.metrics.shared`); everything else is the same from every
worker because it comes from the database.
``wardround_collector_database_up`` is 0 when the scrape could not read the
database (the state families are then absent, not zero).
"""

from __future__ import annotations

from collector.metrics.exports import (
    BACKUP_OUTCOMES,
    CONTENT_TYPE,
    EXPORTS,
    HOST_STATES,
    Export,
    backup_outcome,
    exported_names,
    host_state,
)
from collector.metrics.state import CollectorMetrics, state_exposition

__all__ = ["BACKUP_OUTCOMES", "CONTENT_TYPE", "EXPORTS", "HOST_STATES", "CollectorMetrics",
           "Export", "backup_outcome", "exported_names", "host_state", "state_exposition"]
