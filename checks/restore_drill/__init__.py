"""restore_drill: restore the newest backup on a scratch server, probe it, drop it.

A backup that was never restored is a hope.  The drill takes the newest
backup file in ``path`` matching ``pattern`` (the same file ``backup_files``
judges: the newest one no longer being written), restores it into a
throwaway database on the scratch server ``target_dsn``, runs ``probe`` there
(it must return at least one row), measures the time and the restored size,
and drops the throwaway database, whatever happened.

========== ===================================================================
engine     how the file is restored
========== ===================================================================
postgresql custom-format dumps (``PGDMP``) with ``pg_restore --no-owner
           --no-privileges --exit-on-error``; plain SQL dumps (also gzip, xz,
           bzip2) with ``psql -v ON_ERROR_STOP=1``, leaving out what ties the
           dump to the production server (``CREATE/ALTER DATABASE``,
           ``\\connect``, ``OWNER TO``, ``GRANT``/``REVOKE``)
mysql,     mysqldump / mariadb-dump files (also compressed) with the ``mysql``
mariadb    client, leaving out ``CREATE DATABASE`` and ``USE`` of the source
           database; a dump of several databases is refused
sqlserver  ``.bak`` files: ``RESTORE HEADERONLY`` (which backup, from which
           server and database), ``RESTORE VERIFYONLY`` (``WITH CHECKSUM``
           when the backup has checksums), then ``RESTORE DATABASE`` with
           every file moved to the scratch server's default data and log
           directories (``restore: false`` stops after VERIFYONLY).  The path
           is the one the scratch server sees (``server_path``, default
           ``path``)
========== ===================================================================

Safety: the throwaway database is named ``wardround_drill_<tag>_<time>_<random>``
(``<tag>`` is fixed per host, path and pattern), so a drill never writes into
an existing database; it is dropped at the end even when the restore fails
or runs out of time, and a database of this drill left by an agent that was
killed mid-drill is dropped at the start of the next one.  A target that is
the source's own server and database (from ``source_dsn``, or the dump's own
header: pg_dump's database name, mysqldump's host and database, SQL Server's
backup header) is refused.  Passwords travel in ``PGPASSWORD`` or a 0600
MySQL option file, never in arguments or output.  The probe runs on a
read-only connection and its rows are not reported (they are patient data).

The drill must finish within the check's own time limit (the ``timeout`` of
its entry in agent.yaml; default 1 h): the restore gets that limit less a
reserve for dropping the database.

======== ====================================================================
status   meaning
======== ====================================================================
OK       restored and the probe returned a row, within ``max_duration``
WARNING  restored and probed, but it took longer than ``max_duration``; or the
         restore ran past the time limit after ``max_duration`` was exceeded;
         or the throwaway database could not be dropped
CRITICAL the restore failed (a corrupt or truncated dump, an error from
         pg_restore / psql / mysql / RESTORE); the probe failed or returned no
         row; no backup file matches; the scratch server refused the login or
         did not answer
UNKNOWN  configuration: no path or target, a target that is the production
         database (refused), a dump format the engine cannot restore, client
         tools missing; the restore did not finish within the time limit;
         the newest file is still being written
======== ====================================================================

Metrics: ``duration_seconds`` (s, the whole drill; warn = ``max_duration``),
``restore_seconds`` (s), ``restored_size_bytes`` (B), ``backup_size_bytes``
(B), ``backup_age_seconds`` (s).  Details: the file, its format and source
database, the target server and throwaway database, each step's outcome and
time, whether the database was dropped.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Callable, Mapping

from checks._files import BackupFile, ListingTimeout, list_matching, list_with_timeout, listing_problem, newest_settled
from checks._params.restore_drill import ENGINES, NAME, PREFIX, RestoreDrillParams
from checks._verify import Verification, verify_file
from checks.backup_files import item_of
from checks.context import CheckContext
from checks.messages import fit_summary, say
from checks.restore_drill.drill import Drill, drill, throwaway_name
from checks.restore_drill.dumps import DrillError, identify
from checks.restore_drill.servers import refuse_production, server_of
from checks.restore_drill.sql import (
    DEFAULT_PROBES,
    SQL_DIALECTS,
    SQLSERVER_FILELISTONLY,
    SQLSERVER_HEADERONLY,
    SQLSERVER_LEFTOVERS,
    SQLSERVER_PROBE,
    SQLSERVER_SERVER,
    SQLSERVER_SIZE,
    SQLSERVER_VERIFYONLY_CHECKSUM,
)
from checks.result import Metric, Result, Status, format_time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "DEFAULT_PROBES", "ENGINES", "NAME", "PREFIX", "SQLSERVER_FILELISTONLY", "SQLSERVER_HEADERONLY",
    "SQLSERVER_LEFTOVERS", "SQLSERVER_PROBE", "SQLSERVER_SERVER", "SQLSERVER_SIZE",
    "SQLSERVER_VERIFYONLY_CHECKSUM", "SQL_DIALECTS", "DrillError", "RestoreDrillParams", "identify",
    "refuse_production", "run", "server_of", "throwaway_name",
]


def run(params: RestoreDrillParams, ctx: CheckContext, *,
        list_files: Callable[[str, str], list[BackupFile]] = list_matching,
        verify: Callable[[str, float], Verification] = lambda p, b: verify_file(p, budget_s=b),
        connect: Callable[..., Any] | None = None,
        environ: Mapping[str, str] = os.environ,
        which: Callable[[str], str | None] = shutil.which) -> list[Result]:
    began = time.monotonic()
    reserve = min(120.0, max(10.0, 0.1 * ctx.timeout_s))
    deadline = began + max(1.0, ctx.timeout_s - reserve)
    item = item_of(params.path, params.pattern)
    standard = (say("restore_drill.standard_within", max=params.max_duration) if params.max_duration
                else say("restore_drill.standard"))
    details: dict[str, Any] = {"engine": params.engine, "path": params.path, "pattern": params.pattern}
    metrics: list[Metric] = []

    def result(status: Status, summary: str) -> list[Result]:
        return [Result(check=NAME, item=item[:255], status=status, summary=fit_summary(summary), standard=standard,
                       metrics=tuple(metrics), details=details)]

    if not params.path:
        return result(Status.UNKNOWN, say("restore_drill.no_path", param="path"))
    if not params.target_dsn:
        return result(Status.UNKNOWN, say("restore_drill.no_target", param="target_dsn"))
    try:
        files = list_with_timeout(list_files, params.path, params.pattern, params.list_timeout)
    except (ListingTimeout, OSError) as exc:
        return result(*listing_problem(exc, params.path, params.list_timeout))
    newest = newest_settled(files, ctx.now.timestamp(), params.settle)
    if newest is None:
        return result(Status.CRITICAL, say("restore_drill.no_file", pattern=params.pattern, path=params.path))
    if newest.in_progress:
        return result(Status.UNKNOWN, say("restore_drill.in_progress", name=newest.judged.name))
    f = newest.judged
    age = max(0.0, ctx.now.timestamp() - f.mtime)
    details.update(file=f.path, file_size_bytes=f.size, file_modified=format_time(f.modified))
    metrics += [Metric("backup_size_bytes", float(f.size), "B", min=0),
                Metric("backup_age_seconds", round(age), "s", min=0)]
    d = Drill(params, ctx, environ, connect, which, deadline, began)
    tag_source = f"{socket.gethostname()}|{params.engine}|{params.path}|{params.pattern}"
    d.name = throwaway_name(tag_source, ctx.now)
    tag_prefix = d.name.rsplit("_", 2)[0] + "_"
    try:
        status, summary = drill(d, f, details, metrics, tag_prefix, verify)
    except DrillError as exc:
        status, summary = exc.status, exc.summary
    details["steps"] = d.steps
    took = time.monotonic() - began
    metrics.insert(0, Metric("duration_seconds", round(took, 3), "s", warn=params.max_duration, min=0))
    return result(status, summary)


