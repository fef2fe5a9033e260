"""Retention: how long the collector keeps raw results, and the prune that applies it.

Config (``retention:`` in the collector's YAML, docs/deploy.md)::

    retention:
      results: 100d     # raw results and their hour roll-ups; the default, and the shortest accepted
      rollups: 1095d    # the day roll-ups (collector/store/rollups.py); at least 400d
      records: never    # issued records are never deleted automatically (the only value)

:func:`prune` deletes raw results that started before ``now - results`` in
bounded batches, each its own write transaction, so ingest gets the database
between batches and a crash leaves every batch either done or not started (the
next prune carries on).  On SQLite the freed pages are handed back to the file
system with ``PRAGMA incremental_vacuum``; on PostgreSQL the monthly partitions
wholly before the cutoff are dropped (:mod:`collector.store.partitions`) and only
the month the cutoff falls in is deleted row by row when the file was created with
incremental auto-vacuum (every database made by this version is); an older file
keeps them for reuse.  :class:`collector.jobs.RetentionJob` runs the prune once a day across
all collectors (the day is claimed in ``maintenance_runs``).

The daily, weekly, monthly and quarterly records read raw results, so ``results`` is refused
below :data:`MIN_RESULTS` (a quarter and its issue window); the annual record reads the day
roll-ups, so ``rollups`` is refused below :data:`MIN_ROLLUPS` (a year and its issue window).
The prune removes hour roll-ups with the raw results and day roll-ups older than ``rollups``.

Not built yet (issue 17): the retention of ticket events and the audit log.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, select

from checks._units import parse_duration
from collector.store import partitions, rollups
from collector.store.db import writing
from collector.store.tables import maintenance_runs, result_rows

__all__ = ["MIN_RESULTS", "MIN_ROLLUPS", "PruneReport", "Retention", "claim_day", "parse_retention", "prune",
           "results_retention", "rollups_retention"]

#: the quarterly record (the longest read from raw results) is issued after its quarter ends
MIN_RESULTS = timedelta(days=100)
#: the annual record of a year is issued after the year ends and reads its day roll-ups
MIN_ROLLUPS = timedelta(days=400)
DEFAULT_ROLLUPS = timedelta(days=1095)
BATCH = 5000
KEYS = ("results", "rollups", "records")


@dataclass(frozen=True, slots=True)
class Retention:
    results: timedelta = MIN_RESULTS  # raw results (and hour roll-ups) older than this are pruned
    rollups: timedelta = DEFAULT_ROLLUPS  # day roll-ups older than this are pruned


def parse_retention(raw: Any, where: str, problems: list[str]) -> Retention:
    """The ``retention:`` section; each fault is appended to ``problems`` as ``where: retention.key: ...``."""
    if not isinstance(raw, Mapping):
        problems.append(f"{where}: retention: expected a mapping with {', '.join(KEYS)}")
        return Retention()
    for key in raw:
        if key not in KEYS:
            problems.append(f"{where}: retention.{key}: unknown key (expected {', '.join(KEYS)}; "
                            "ticket events and the audit log are kept for ever in this version)")
    if "records" in raw and raw["records"] != "never":
        problems.append(f"{where}: retention.records: expected never (issued records are never deleted)")
    out = Retention()
    for key, parse in (("results", results_retention), ("rollups", rollups_retention)):
        if key in raw:
            try:
                out = replace(out, **{key: parse(raw[key])})
            except ValueError as exc:
                problems.append(f"{where}: retention.{key}: {exc}")
    return out


def results_retention(value: Any) -> timedelta:
    """A raw-results retention from config or ``--keep-results``; ValueError with the reason when too short."""
    return _at_least(value, MIN_RESULTS, "the quarterly record is built from the raw results of its quarter "
                                         "after the quarter ends")


def rollups_retention(value: Any) -> timedelta:
    """A day roll-up retention from config; ValueError with the reason when too short."""
    return _at_least(value, MIN_ROLLUPS, "the annual record is built from the day roll-ups of its year after "
                                         "the year ends")


def _at_least(value: Any, least: timedelta, why: str) -> timedelta:
    keep = timedelta(seconds=parse_duration(value))
    if keep < least:
        raise ValueError(f"{value} is shorter than {least.days}d: {why}")
    return keep


@dataclass(frozen=True, slots=True)
class PruneReport:
    cutoff: datetime
    results: int  # raw results removed (or that would be, with dry_run)
    batches: int
    dry_run: bool
    freed_pages: int | None  # SQLite pages handed back to the file system; None on PostgreSQL
    partitions: tuple[str, ...] = ()  # PostgreSQL monthly partitions dropped whole (or that would be)
    rollups: tuple[int, int] = (0, 0)  # hour and day roll-ups removed (or that would be)
    held_back: bool = False  # the cutoff waits for hours not rolled up yet

    def lines(self) -> list[str]:
        verb = "would remove" if self.dry_run else "removed"
        out = [f"raw results started before {self.cutoff.isoformat(timespec='seconds')}: {verb} {self.results}"
               + ("" if self.dry_run else f" in {self.batches} batch(es)")]
        if self.partitions:
            out.append(f"PostgreSQL partitions {'to drop' if self.dry_run else 'dropped'}: "
                       + ", ".join(self.partitions))
        if self.freed_pages is not None and not self.dry_run:
            out.append(f"SQLite pages returned to the file system: {self.freed_pages}")
        if self.held_back:
            out.append("raw results of hours not rolled up yet are kept until the roll-up job has done them")
        out.append(f"roll-ups: {verb} {self.rollups[0]} hour row(s) (with the raw results), "
                   f"{self.rollups[1]} day row(s) (older than retention.rollups)")
        out.append("issued records, ticket events and the audit log: kept")
        return out


def prune(engine: Engine, retention: Retention, now: datetime, *, dry_run: bool = False,
          batch: int = BATCH, pause: float = 0.0) -> PruneReport:
    """Remove raw results older than ``retention.results``, never before they are rolled up (see the module doc)."""
    cutoff = now - retention.results
    with engine.connect() as conn:
        dirty = rollups.oldest_dirty(conn)
    held_back = dirty is not None and dirty < cutoff
    cutoff = min(cutoff, dirty) if dirty is not None else cutoff
    pruned = rollups.prune(engine, hours_before=cutoff, days_before=now - retention.rollups, dry_run=dry_run)
    old = result_rows.c.started_at < cutoff
    dropped: list[str] = []
    removed = 0
    if engine.dialect.name == "postgresql":  # whole months first: a DROP, not a DELETE
        with writing(engine) as conn:
            dropped, removed = partitions.drop_before(conn, cutoff, dry_run)
    if dry_run:
        with engine.connect() as conn:
            n = int(conn.execute(select(func.count()).select_from(result_rows).where(old)).scalar_one())
        return PruneReport(cutoff=cutoff, results=n, batches=0, dry_run=True, freed_pages=None,
                           partitions=tuple(dropped), rollups=pruned, held_back=held_back)
    batches = 0
    while True:
        with writing(engine) as conn:
            ids = list(conn.execute(select(result_rows.c.id).where(old).order_by(result_rows.c.id)
                                    .limit(batch)).scalars())
            if ids:
                conn.execute(delete(result_rows).where(result_rows.c.id.in_(ids)))
        if not ids:
            break
        removed += len(ids)
        batches += 1
        if pause:
            time.sleep(pause)  # ingest's turn
    freed = _vacuum_sqlite(engine) if engine.dialect.name == "sqlite" else None
    return PruneReport(cutoff=cutoff, results=removed, batches=batches, dry_run=False, freed_pages=freed,
                       partitions=tuple(dropped), rollups=pruned, held_back=held_back)


def _vacuum_sqlite(engine: Engine, step: int = 2000) -> int:
    """Hand free pages back in steps of ``step`` pages (each a short write); 0 without incremental auto-vacuum."""
    with engine.connect() as conn:
        if conn.exec_driver_sql("PRAGMA auto_vacuum").scalar() != 2:
            return 0
        before = int(conn.exec_driver_sql("PRAGMA page_count").scalar() or 0)
    while True:
        with writing(engine) as conn:
            if not int(conn.exec_driver_sql("PRAGMA freelist_count").scalar() or 0):
                after = int(conn.exec_driver_sql("PRAGMA page_count").scalar() or 0)
                return max(0, before - after)
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]  # the DBAPI connection is open here
            try:  # stepped to the end: each step frees one page
                cursor.execute(f"PRAGMA incremental_vacuum({step})").fetchall()
            finally:
                cursor.close()


def claim_day(conn: Connection, job: str, day: date, now: datetime) -> bool:
    """True for the one collector that claims ``job`` on ``day`` (a unique key decides)."""
    from collector.store.queries import _insert

    stmt = _insert(conn, maintenance_runs).values(job=job, day=day.isoformat(), started_at=now)
    return conn.execute(stmt.on_conflict_do_nothing().returning(maintenance_runs.c.job)).first() is not None
