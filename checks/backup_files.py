"""backup_files: the newest backup file in a directory, judged against its schedule.

One result, item = ``path`` joined with ``pattern`` (``/backups/*.bak``,
``\\\\nas\\his\\*.bak``).  The judged file is the newest one matching
``pattern`` that is no longer being written (modified more than ``settle``
ago).

**Expected-by**: with ``schedule: "0 2 * * *"`` and ``grace: 1h30m`` the
02:00 run must have produced a file by 03:30.  The run judged is the latest
scheduled time whose deadline (time + grace) has passed; so at 10:00 the
newest file must be newer than today's 02:00, and before 03:30 yesterday's
run is the one judged.  Without a schedule, ``max_age`` bounds the age of
the newest file.

=================== ========= ===========================================
finding             status    summary starts with
=================== ========= ===========================================
fine                OK        ``HIS_20261123_0200.bak, 12.4 GiB, finished
                              02:41, expected by 03:30``
missed run          CRITICAL  ``no backup since the 02:00 run``
stale (max_age)     CRITICAL  ``stale:``
empty / < min_size  CRITICAL  ``... is empty`` / ``... is only``
too small           WARNING   ``... is below 50 % of the median``
incomplete/corrupt  CRITICAL  ``incomplete dump``, ``corrupt gzip`` ...
no file matches     CRITICAL  ``no file matches``
directory missing   CRITICAL  ``backup directory ... does not exist`` /
or unreadable                 ``cannot read``
share hangs         UNKNOWN   ``... share did not answer``
not configured      UNKNOWN   ``path: not configured``
=================== ========= ===========================================

"Too small" compares with the median size of the ``history`` earlier
files (on disk, or remembered in the check's state when the rotation has
deleted them); it needs at least three of them.  Completeness (``verify``)
is tested once per file and remembered: see :mod:`checks._verify`.  A
format we cannot test is reported as "not verified" in an OK result.

Metrics: ``age_seconds`` (s, age of the judged file), ``size_bytes`` (B),
``files`` (count of matching files).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo

from checks._cron import parse_cron
from checks._files import (
    BackupFile,
    ListingTimeout,
    Newest,
    TimedOut,
    call_with_timeout,
    list_matching,
    list_with_timeout,
    listing_problem,
    local_zone,
    newest_settled,
    when,
)
from checks._params.backup_files import BackupFilesParams, _zone
from checks._verify import Verification, verify_file
from checks.context import CheckContext
from checks.messages import Said, say
from checks.result import Message, Metric, Result, ResultError, Status, format_time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

NAME = "backup_files"
MIN_HISTORY = 3  # earlier files needed before "too small" is judged
_STATE_SIZES = "sizes"
_STATE_VERIFIED = "verified"


def item_of(path: str, pattern: str) -> str:
    return os.path.join(path, pattern) if path else pattern


def standard_of(params: BackupFilesParams) -> str:
    """What the backup is judged by (a message: ``备份计划 每天 02:00，03:30 前完成``)."""
    if params.schedule:
        cron = parse_cron(params.schedule)
        tod = cron.time_of_day
        if tod is not None and params.grace < 86400:
            done = (datetime(2000, 1, 1, *tod) + timedelta(seconds=params.grace)).strftime("%H:%M")
            return say("backup_files.standard_by", schedule=cron.said(), done=done)
        return say("backup_files.standard_within", schedule=cron.said(), grace=params.grace)
    if params.max_age is not None:
        return say("backup_files.standard_age", max_age=params.max_age)
    return ""


def run(params: BackupFilesParams, ctx: CheckContext, *,
        list_files: Callable[[str, str], list[BackupFile]] = list_matching,
        verify: Callable[[str, float], Verification] = lambda p, b: verify_file(p, budget_s=b),
        zone: Callable[[], tzinfo] = local_zone) -> list[Result]:
    began = time.monotonic()
    item = item_of(params.path, params.pattern)
    standard = standard_of(params)

    def result(status: Status, summary: str, metrics: tuple[Metric, ...] = (),
               details: dict[str, Any] | None = None) -> list[Result]:
        return [Result(check=NAME, item=item, status=status, summary=summary, standard=standard,
                       metrics=metrics, details=details or {"path": params.path, "pattern": params.pattern})]

    if not params.path:
        return result(Status.UNKNOWN, say("backup_files.no_path"))
    tz = _zone(params.timezone) if params.timezone else zone()
    now = ctx.now.astimezone(tz)

    try:
        files = list_with_timeout(list_files, params.path, params.pattern, params.list_timeout)
    except (ListingTimeout, OSError) as exc:
        return result(*listing_problem(exc, params.path, params.list_timeout))

    fire = deadline = None
    if params.schedule:
        fire = parse_cron(params.schedule).latest(now - timedelta(seconds=params.grace), tz)
        if fire is None:
            return result(Status.UNKNOWN, say("backup_files.never_fires", schedule=params.schedule))
        deadline = fire + timedelta(seconds=params.grace)
    count = Metric("files", float(len(files)), "count", min=0)

    if not files:
        none = say("backup_files.no_file", pattern=params.pattern, path=params.path) \
            if fire is None or deadline is None else \
            say("backup_files.no_file_expected", pattern=params.pattern, path=params.path, fire=when(fire, now),
                deadline=when(deadline, now))
        return result(Status.CRITICAL, none,
                      metrics=(Metric("age_seconds", None, "s"), Metric("size_bytes", None, "B"), count),
                      details=_schedule_details(params, fire, deadline, tz))

    newest = newest_settled(files, now.timestamp(), params.settle)
    assert newest is not None  # files is not empty
    judged = newest.judged
    age = max(0.0, now.timestamp() - judged.mtime)
    problems, age_limit = _freshness(params, judged, now, fire, deadline)
    earlier = _earlier_sizes(ctx, newest.settled, judged, params.history)
    median = statistics.median(earlier) if len(earlier) >= MIN_HISTORY else None
    if not newest.in_progress:
        problems += _size_problems(params, judged, median, len(earlier))
    verification: Verification | None = None
    if params.verify and not newest.in_progress and judged.size > 0:  # complete?
        verification = _verified(ctx, judged, params, verify, began)
        if verification.ok is False:
            problems.append((Status.CRITICAL, say("backup_files.verify_failed", name=judged.name,
                                                      text=verification.text)))
    if judged in newest.settled:
        _remember(ctx, newest.settled, params.history)

    status, summary = _verdict(problems, _notes(verification, newest), judged, age, now, deadline)
    details: dict[str, Any] = {
        "file": judged.path,
        "size_bytes": judged.size,
        "modified": format_time(datetime.fromtimestamp(judged.mtime, tz)),
        **_schedule_details(params, fire, deadline, tz),
        "median_size_bytes": median,
        "earlier_files": len(earlier),
        "verification": None if verification is None else {"ok": verification.ok, "text": verification.text},
        "still_being_written": [f.path for f in newest.writing],
    }
    size_warn = params.min_size_ratio * median if median is not None else None
    metrics = (
        Metric("age_seconds", round(age, 3), "s", crit=age_limit, min=0),
        Metric("size_bytes", float(judged.size), "B", warn=size_warn, crit=float(params.min_size), min=0),
        count,
    )
    return result(status, summary, metrics, details)


_Problem = tuple[Status, str]


def _freshness(params: BackupFilesParams, judged: BackupFile, now: datetime, fire: datetime | None,
               deadline: datetime | None) -> tuple[list[_Problem], float | None]:
    """Fresh enough?  The problems, and the age limit the ``age_seconds`` metric is judged by."""
    modified = datetime.fromtimestamp(judged.mtime, now.tzinfo)
    age = max(0.0, now.timestamp() - judged.mtime)
    if fire is not None and deadline is not None:
        limit: float | None = round(now.timestamp() - fire.timestamp(), 3)
        if judged.mtime < fire.timestamp():
            return [(Status.CRITICAL, say("backup_files.missed", fire=when(fire, now), deadline=when(deadline, now),
                                          name=judged.name, modified=when(modified, now), age=age))], limit
        return [], limit
    assert params.max_age is not None
    if age > params.max_age:
        return [(Status.CRITICAL, say("backup_files.stale", name=judged.name, age=age, max_age=params.max_age,
                                      modified=when(modified, now)))], \
            params.max_age
    return [], params.max_age


def _size_problems(params: BackupFilesParams, judged: BackupFile, median: float | None,
                   n_earlier: int) -> list[_Problem]:
    """Big enough?  Empty, below ``min_size``, or below its share of the earlier files' median."""
    if judged.size == 0:
        return [(Status.CRITICAL, say("backup_files.empty", name=judged.name))]
    if judged.size < params.min_size:
        return [(Status.CRITICAL, say("backup_files.too_small", name=judged.name, size=judged.size,
                                      min_size=params.min_size))]
    if median is not None and judged.size < params.min_size_ratio * median:
        return [(Status.WARNING, say("backup_files.below_median", name=judged.name, size=judged.size,
                                     ratio=params.min_size_ratio * 100, median=median, n=n_earlier))]
    return []


def _notes(verification: Verification | None, newest: Newest) -> list[str]:
    """What an OK or WARNING summary adds: the verification, a file still being written."""
    notes = []
    if verification is not None and verification.ok is not False:
        notes.append(verification.text)
    if newest.in_progress:
        notes.append(say("backup_files.still_writing"))
    elif newest.writing:
        notes.append(say("backup_files.other_writing", name=newest.writing[0].name))
    return notes


def _verdict(problems: list[_Problem], notes: list[str], judged: BackupFile, age: float, now: datetime,
             deadline: datetime | None) -> tuple[Status, str]:
    """The status and summary: the problems worst first, or the evidence that all is well."""
    if problems:
        problems.sort(key=lambda p: -p[0].severity)
        status = Status.worst(s for s, _ in problems)
        parts = [text for _, text in problems]
    else:
        status = Status.OK
        finished = when(datetime.fromtimestamp(judged.mtime, now.tzinfo), now)
        parts = [say("backup_files.ok_by", name=judged.name, size=judged.size, finished=finished,
                     deadline=when(deadline, now)) if deadline is not None else
                 say("backup_files.ok_age", name=judged.name, size=judged.size, finished=finished, age=age)]
    if notes and status is not Status.CRITICAL:
        parts += notes
    return status, parts[0] if len(parts) == 1 else say("results.joined", parts=parts)


def _schedule_details(params: BackupFilesParams, fire: datetime | None, deadline: datetime | None,
                      tz: tzinfo) -> dict[str, Any]:
    out: dict[str, Any] = {"path": params.path, "pattern": params.pattern, "timezone": str(tz)}
    if fire is not None and deadline is not None:
        out.update(schedule=params.schedule, expected_run=format_time(fire), deadline=format_time(deadline))
    elif params.max_age is not None:
        out["max_age_seconds"] = params.max_age
    return out


def _earlier_sizes(ctx: CheckContext, settled: list[BackupFile], judged: BackupFile,
                   history: int) -> list[int]:
    """Sizes of the ``history`` files before ``judged``: on disk, else remembered."""
    seen: dict[str, tuple[float, int]] = {}
    remembered = ctx.state.get(_STATE_SIZES)
    if isinstance(remembered, dict):
        for rel, entry in remembered.items():
            if isinstance(entry, list) and len(entry) == 2 and all(isinstance(v, int | float) for v in entry):
                seen[rel] = (float(entry[1]), int(entry[0]))
    for f in settled:
        seen[f.relative] = (f.mtime, f.size)
    earlier = sorted(((m, s) for rel, (m, s) in seen.items()
                      if m < judged.mtime and rel != judged.relative), reverse=True)
    return [s for _, s in earlier[:history]]


def _remember(ctx: CheckContext, settled: list[BackupFile], history: int) -> None:
    """Keep sizes of the newest files, so a rotation that keeps one file still has a median."""
    sizes = ctx.state.get(_STATE_SIZES)
    merged: dict[str, list[float]] = {}
    if isinstance(sizes, dict):
        merged.update({k: v for k, v in sizes.items() if isinstance(v, list) and len(v) == 2})
    for f in settled[: history + 1]:
        merged[f.relative] = [f.size, f.mtime]
    newest = sorted(merged.items(), key=lambda kv: kv[1][1], reverse=True)[: history + 1]
    ctx.state[_STATE_SIZES] = dict(newest)


def _verified(ctx: CheckContext, f: BackupFile, params: BackupFilesParams,
              verify: Callable[[str, float], Verification], began: float) -> Verification:
    """Test ``f`` once; the outcome is remembered for this exact file (name, size, mtime)."""
    key = f"{f.relative}|{f.size}|{f.mtime:.6f}"
    cached = ctx.state.get(_STATE_VERIFIED)
    if isinstance(cached, dict) and cached.get("key") == key and "text" in cached:
        return Verification(cached.get("ok"), _remembered_text(cached))
    # Leave a few seconds of the check's own timeout for judging and answering.
    budget = max(1.0, min(params.verify_timeout, ctx.timeout_s - (time.monotonic() - began) - 3.0))
    try:
        outcome = call_with_timeout(lambda: verify(f.path, budget), budget + min(5.0, budget),
                                    "backup-verify")
    except TimedOut:
        return Verification(None, say("backup_files.verify_timeout", budget=budget))
    if not outcome.text.startswith("not verified: cannot read"):
        ctx.state[_STATE_VERIFIED] = {"key": key, "ok": outcome.ok, "text": outcome.text,
                                      **({"message": outcome.text.message.to_wire()}
                                         if isinstance(outcome.text, Said) else {})}
    return outcome


def _remembered_text(cached: dict[str, Any]) -> str:
    """A remembered verification's text, keyed again from its saved message; a state saved
    before messages were (or with one this agent cannot read) gives the English text."""
    text = str(cached["text"])
    try:
        return Said(text, Message.from_wire(cached["message"], "message")) if "message" in cached else text
    except ResultError:
        return text
