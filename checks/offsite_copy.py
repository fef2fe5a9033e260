"""offsite_copy: the newest local backup must also be on the off-site server, whole.

One result, item = ``<local_path>/<pattern> -> <remote_host>:<remote_path>``.
The newest local file matching ``pattern`` must exist over SFTP as
``remote_path/<its path relative to local_path>`` with the same size, at
the latest ``max_delay`` after the local file was last modified.  Host keys
are verified against ``known_hosts`` and never added (see
:mod:`checks._ssh`).

=================== ========= ===========================================
finding             status    summary starts with
=================== ========= ===========================================
copy there, whole   OK        ``HIS.bak is off-site on nas:/offsite``
not yet due         OK        ``copy pending, due by 04:41`` /
                              ``copy in progress: 3.1 GiB of 12.4 GiB``
missing when due    CRITICAL  ``no off-site copy of HIS.bak``
partial when due    CRITICAL  ``copy incomplete: 3.1 GiB of 12.4 GiB``
bigger remote file  CRITICAL  ``copy differs``
unknown host key    CRITICAL  ``unknown host key for nas:22: ssh-ed25519
                              SHA256:...`` and the known_hosts line
changed host key    CRITICAL  ``host key mismatch``
auth failure        CRITICAL  ``authentication failed``
port closed         CRITICAL  ``connection refused``
no answer           CRITICAL  ``no answer from`` / ``SSH handshake ...``
local side          CRITICAL  directory missing or unreadable (as
                              backup_files); UNKNOWN when no local file
                              matches (backup_files reports that)
configuration       UNKNOWN   unreadable key, password or known_hosts
=================== ========= ===========================================

Metrics: ``lag_seconds`` (remote copy mtime − local mtime; while the copy
is missing, the age of the local file), ``size_bytes`` (local),
``remote_size_bytes``, ``age_seconds`` (age of the newest off-site copy
matching the pattern).
"""

from __future__ import annotations

import fnmatch
import posixpath
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from checks._files import (
    BackupFile,
    ListingTimeout,
    TimedOut,
    call_with_timeout,
    list_matching,
    list_with_timeout,
    listing_problem,
    local_zone,
    when,
)
from checks._params.offsite_copy import OffsiteCopyParams
from checks._ssh import SshFailure, connect
from checks.context import CheckContext
from checks.messages import say
from checks.result import Metric, Result, Status, format_time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

NAME = "offsite_copy"


@dataclass(frozen=True)
class Remote:
    size: int | None  # None: the copy is not there
    mtime: float | None
    newest_name: str | None  # the newest off-site file matching the pattern
    newest_mtime: float | None


def item_of(params: OffsiteCopyParams) -> str:
    local = posixpath.join(params.local_path, params.pattern) if "\\" not in params.local_path \
        else params.local_path.rstrip("\\") + "\\" + params.pattern
    return f"{local} -> {params.remote_host}:{params.remote_path}"


def fetch_remote(params: OffsiteCopyParams, remote_file: str, *, client_factory: Any = None) -> Remote:
    """Stat the copy and list its directory over SFTP; :class:`SshFailure` on failure."""
    client = connect(params.remote_host, params.remote_port, params.remote_user,
                     known_hosts=params.known_hosts, timeout=params.connect_timeout,
                     key_file=params.key_file, password_file=params.password_file,
                     passphrase_file=params.passphrase_file, client_factory=client_factory)
    where = f"{params.remote_host}:{remote_file}"
    try:
        sftp = client.open_sftp()
        sftp.get_channel().settimeout(params.connect_timeout)
        try:
            st = sftp.stat(remote_file)
            size, mtime = st.st_size, st.st_mtime
        except FileNotFoundError:
            size = mtime = None
        except PermissionError:
            raise SshFailure("remote", say("offsite_copy.denied", where=where)) from None
        newest_name = newest_mtime = None
        directory = posixpath.dirname(remote_file)
        name_pattern = posixpath.basename(params.pattern.replace("\\", "/"))
        try:
            for attr in sftp.listdir_attr(directory):
                if attr.st_mode is not None and not stat.S_ISREG(attr.st_mode):
                    continue
                if fnmatch.fnmatchcase(attr.filename, name_pattern) and attr.st_mtime is not None \
                        and (newest_mtime is None or attr.st_mtime > newest_mtime):
                    newest_name, newest_mtime = attr.filename, float(attr.st_mtime)
        except OSError:
            pass  # the directory itself is missing: the copy is reported missing
        return Remote(size=size, mtime=None if mtime is None else float(mtime),
                      newest_name=newest_name, newest_mtime=newest_mtime)
    except TimeoutError:
        raise SshFailure("timeout", say("offsite_copy.sftp_timeout", host=params.remote_host,
                                        timeout=params.connect_timeout)) from None
    except OSError as exc:  # the SFTP channel failed (EOF, server closed it)
        raise SshFailure("ssh_error", say("offsite_copy.sftp_failed", host=params.remote_host,
                                          error=exc.strerror or str(exc))) from None
    finally:
        client.close()


def run(params: OffsiteCopyParams, ctx: CheckContext, *,
        list_files: Callable[[str, str], list[BackupFile]] = list_matching,
        remote: Callable[[OffsiteCopyParams, str], Remote] = fetch_remote,
        zone: Callable[[], tzinfo] = local_zone) -> list[Result]:
    began = time.monotonic()
    item = item_of(params)
    standard = say("offsite_copy.standard", host=params.remote_host, delay=params.max_delay)

    def result(status: Status, summary: str, metrics: tuple[Metric, ...] = (),
               details: dict[str, Any] | None = None) -> list[Result]:
        base = {"local_path": params.local_path, "pattern": params.pattern, "remote_host": params.remote_host,
                "remote_port": params.remote_port, "remote_path": params.remote_path}
        return [Result(check=NAME, item=item[:255], status=status,
                       summary=summary if len(summary) <= 1000 else summary[:1000], standard=standard,
                       metrics=metrics, details={**base, **(details or {})})]

    if not params.local_path:
        return result(Status.UNKNOWN, say("offsite_copy.no_local_path"))
    tz = zone()
    now = ctx.now.astimezone(tz)
    now_ts = now.timestamp()

    try:
        files = list_with_timeout(list_files, params.local_path, params.pattern, params.list_timeout)
    except (ListingTimeout, OSError) as exc:
        return result(*listing_problem(exc, params.local_path, params.list_timeout))
    if not files:
        return result(Status.UNKNOWN, say("offsite_copy.no_local", pattern=params.pattern, path=params.local_path))

    local = files[0]
    remote_file = posixpath.join(params.remote_path, local.relative)
    due = datetime.fromtimestamp(local.mtime, tz) + timedelta(seconds=params.max_delay)
    local_size = Metric("size_bytes", float(local.size), "B", min=0)
    details: dict[str, Any] = {"local_file": local.path, "local_size_bytes": local.size,
                               "local_modified": format_time(datetime.fromtimestamp(local.mtime, tz)),
                               "remote_file": remote_file, "due": format_time(due)}

    budget = max(1.0, ctx.timeout_s - (time.monotonic() - began) - 1.0)
    try:
        r = call_with_timeout(lambda: remote(params, remote_file), budget, "offsite-sftp")
    except TimedOut:
        return result(Status.UNKNOWN, say("offsite_copy.no_result", host=params.remote_host, budget=round(budget)),
                      (local_size,), details)
    except SshFailure as exc:
        status = Status.UNKNOWN if exc.kind == "config" else Status.CRITICAL
        return result(status, exc.summary, (local_size,), {**details, "failure": exc.kind, **exc.details})

    status, summary, lag = _judge_copy(params, r, local, remote_file, due, now)
    if r.size is not None:
        assert r.mtime is not None
        details.update(remote_size_bytes=r.size,
                       remote_modified=format_time(datetime.fromtimestamp(r.mtime, tz)))
    if r.newest_name is not None and r.newest_mtime is not None:
        details.update(newest_remote_file=r.newest_name,
                       newest_remote_modified=format_time(datetime.fromtimestamp(r.newest_mtime, tz)))
    metrics = (
        Metric("lag_seconds", round(lag, 3), "s", crit=params.max_delay),
        local_size,
        Metric("remote_size_bytes", None if r.size is None else float(r.size), "B", min=0),
        Metric("age_seconds", None if r.newest_mtime is None else round(max(0.0, now_ts - r.newest_mtime), 3),
               "s", min=0),
    )
    return result(status, summary, metrics, details)


def _judge_copy(params: OffsiteCopyParams, r: Remote, local: BackupFile, remote_file: str, due: datetime,
                now: datetime) -> tuple[Status, str, float]:
    """The copy's status, summary and lag (copy time, or time waited, minus the local file's time)."""
    tz = now.tzinfo
    overdue = now >= due
    where = f"{params.remote_host}:{posixpath.dirname(remote_file)}"
    if r.size is None:
        lag = now.timestamp() - local.mtime
        if overdue:
            status, text = Status.CRITICAL, say("offsite_copy.missing", name=local.name, where=where,
                                                due=when(due, now))
        else:
            status, text = Status.OK, say("offsite_copy.pending", due=when(due, now), name=local.name,
                                          size=local.size, age=lag, where=where)
        if r.newest_name is not None and r.newest_mtime is not None:
            text = say("offsite_copy.newest", text=text, name=r.newest_name,
                       when=when(datetime.fromtimestamp(r.newest_mtime, tz), now))
        return status, text, lag
    assert r.mtime is not None
    lag = r.mtime - local.mtime
    if r.size == local.size:
        return Status.OK, say("offsite_copy.same", name=local.name, where=where, size=local.size,
                              copied=when(datetime.fromtimestamp(r.mtime, tz), now)), lag
    if r.size > local.size:
        return Status.CRITICAL, say("offsite_copy.differs", name=local.name, where=where, remote=r.size,
                                    remote_b=r.size, local=local.size, local_b=local.size), lag
    if overdue:
        return Status.CRITICAL, say("offsite_copy.incomplete", remote=r.size, local=local.size, name=local.name,
                                    where=where, due=when(due, now)), lag
    return Status.OK, say("offsite_copy.in_progress", remote=r.size, local=local.size, name=local.name,
                          where=where, due=when(due, now)), lag
