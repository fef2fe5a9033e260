"""Backup files on a local disk or a network share: listing, time-boxed.

Shared by ``backup_files`` and ``offsite_copy``.  Only :mod:`pathlib` and
:mod:`os` calls, so UNC paths (``\\\\nas\\backup``) work on Windows.  A dead
SMB/NFS share blocks ``stat()`` in the kernel, so the listing runs in a
worker thread and the caller waits at most ``timeout`` seconds.
"""

from __future__ import annotations

import os
import pathlib
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from checks.messages import say
from checks.result import Status

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TypeVar
    T = TypeVar("T")

__all__ = ["BackupFile", "ListingTimeout", "Newest", "TimedOut", "call_with_timeout", "list_matching",
           "list_with_timeout", "listing_problem", "local_zone", "newest_settled", "when"]


@dataclass(frozen=True)
class BackupFile:
    path: str  # full path as the OS spells it
    relative: str  # relative to the listed directory, with '/' separators
    size: int
    mtime: float  # seconds since the epoch

    @property
    def name(self) -> str:
        return self.relative.rsplit("/", 1)[-1]

    @property
    def modified(self) -> datetime:
        return datetime.fromtimestamp(self.mtime, UTC)


@dataclass(frozen=True)
class Newest:
    """Which backup file is judged: the newest one no longer being written."""

    judged: BackupFile
    settled: list[BackupFile]   # modified at least ``settle`` ago, newest first
    writing: list[BackupFile]   # modified more recently: still being written

    @property
    def in_progress(self) -> bool:
        """Every file is still being written: ``judged`` is the newest of those."""
        return not self.settled


def newest_settled(files: list[BackupFile], now_ts: float, settle: float) -> Newest | None:
    """The file ``backup_files`` (and ``restore_drill``) judge among ``files`` (newest first); None if none."""
    if not files:
        return None
    writing = [f for f in files if now_ts - f.mtime < settle]
    settled = [f for f in files if now_ts - f.mtime >= settle]
    return Newest(judged=settled[0] if settled else files[0], settled=settled, writing=writing)


class TimedOut(Exception):
    """A call did not return within the time allowed."""


class ListingTimeout(TimedOut):
    """The directory did not answer within the time allowed."""


def list_matching(path: str, pattern: str) -> list[BackupFile]:
    """Regular files under ``path`` matching the glob ``pattern``, newest first.

    Raises :class:`FileNotFoundError`, :class:`NotADirectoryError` or
    :class:`PermissionError` (all :class:`OSError`) when the directory itself
    cannot be read.
    """
    root = pathlib.Path(path)
    st = root.stat()  # FileNotFoundError / PermissionError for the directory itself
    if not stat.S_ISDIR(st.st_mode):
        raise NotADirectoryError(20, "not a directory", path)
    os.listdir(root)  # PermissionError here rather than an empty glob
    out: list[BackupFile] = []
    for p in root.glob(pattern):
        try:
            s = p.stat()
        except OSError:
            continue  # deleted by the rotation while we listed
        if not stat.S_ISREG(s.st_mode):
            continue
        out.append(BackupFile(path=str(p), relative=p.relative_to(root).as_posix(),
                              size=s.st_size, mtime=s.st_mtime))
    out.sort(key=lambda f: (f.mtime, f.relative), reverse=True)
    return out


def call_with_timeout(fn: Callable[[], T], timeout: float, name: str) -> T:
    """``fn()`` in a daemon thread: its value or its exception; :class:`TimedOut` after ``timeout`` s.

    A daemon thread, not a pool: a thread stuck in the kernel on a dead share
    must not keep the agent from exiting.
    """
    value: list[T] = []
    error: list[BaseException] = []
    done = threading.Event()

    def work() -> None:
        try:
            value.append(fn())
        except BaseException as exc:  # handed to the caller, who decides
            error.append(exc)
        finally:
            done.set()

    threading.Thread(target=work, name=name, daemon=True).start()
    if not done.wait(timeout):
        raise TimedOut(name)
    if error:
        raise error[0]
    return value[0]


def list_with_timeout(lister: Callable[[str, str], list[BackupFile]], path: str, pattern: str,
                      timeout: float) -> list[BackupFile]:
    """``lister(path, pattern)``; :class:`ListingTimeout` when the share does not answer in time."""
    try:
        return call_with_timeout(lambda: lister(path, pattern), timeout, "backup-listing")
    except TimedOut:
        raise ListingTimeout(path) from None


def listing_problem(exc: BaseException, path: str, timeout: float) -> tuple[Status, str]:
    """The status and summary for a backup directory that could not be listed."""
    if isinstance(exc, ListingTimeout):
        return Status.UNKNOWN, say("files.share_timeout", path=path, timeout=timeout)
    if isinstance(exc, FileNotFoundError):
        return Status.CRITICAL, say("files.no_directory", path=path)
    if isinstance(exc, NotADirectoryError):
        return Status.CRITICAL, say("files.not_a_directory", path=path)
    if isinstance(exc, PermissionError):
        return Status.CRITICAL, say("files.denied", path=path)
    if isinstance(exc, OSError):
        return Status.CRITICAL, say("files.unreadable", path=path, error=exc.strerror or str(exc))
    raise exc  # not a listing failure: a bug


def local_zone() -> tzinfo:
    """The machine's zone with its DST rules (tzlocal; a fixed offset without it)."""
    try:
        import tzlocal
        zone: tzinfo = tzlocal.get_localzone()
        return zone
    except Exception:  # no zone configured: a fixed offset is still right today
        return datetime.now().astimezone().tzinfo or UTC


def when(dt: datetime, now: datetime) -> str:
    """``02:41`` on the same day as ``now``, else ``2026-11-22 02:41`` (in ``dt``'s zone)."""
    return dt.strftime("%H:%M") if dt.date() == now.date() else dt.strftime("%Y-%m-%d %H:%M")
