"""Retention: how long the collector keeps raw results, and the prune that applies it.

Config (``retention:`` in the collector's YAML, docs/deploy.md)::

    retention:
      results: 100d         # raw results and their hour roll-ups; the default, and the shortest accepted
      rollups: 1095d        # the day roll-ups (collector/store/rollups.py); at least 400d
      ticket_events: 1095d  # history of tickets done before then (never: keep); at least 400d
      audit: 1095d          # the audit log (never: keep); at least 180d (网络安全法 §21)
      records: never        # issued records are never deleted automatically (the only value)

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

The same prune removes, each in batches of their own transactions
(:mod:`collector.store.prune`): the history of tickets done before ``ticket_events``
(never a live ticket's, never a ticket's own row), the relay provenance of results
(``relay_batches``/``relay_results``) and the daily claims with the results' cutoff, and the
audit log's entries older than ``audit`` after a signed checkpoint (:func:`collector.audit.prune_before`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, select

from checks._units import parse_duration
from checks.entries import Problems
from checks.messages.reader import cli_said
from collector import audit
from collector.keys import Keyring
from collector.store import partitions, rollups
from collector.store import prune as sql
from collector.store.db import writing
from collector.store.tables import maintenance_runs, result_rows

__all__ = ["MIN_AUDIT", "MIN_RESULTS", "MIN_ROLLUPS", "MIN_TICKET_EVENTS", "PruneReport", "Retention", "TablePrune",
           "claim_day", "parse_retention", "prune", "results_retention", "rollups_retention"]

#: the quarterly record (the longest read from raw results) is issued after its quarter ends
MIN_RESULTS = timedelta(days=100)
#: the annual record of a year is issued after the year ends and reads its day roll-ups
MIN_ROLLUPS = timedelta(days=400)
DEFAULT_ROLLUPS = timedelta(days=1095)
#: the records of a period (up to the year, issued after it ends) show its tickets from their history
MIN_TICKET_EVENTS = timedelta(days=400)
#: 网络安全法 §21: network logs are kept no less than six months
MIN_AUDIT = timedelta(days=180)
DEFAULT_HISTORY = timedelta(days=1095)  # ticket events and the audit log: three years
#: rows per transaction: SQLite holds its one write lock for a batch (about 0.15 ms a row at 10 M rows,
#: index upkeep), PostgreSQL only deletes the month the cutoff falls in (bench/prune_large.py)
BATCH = {"sqlite": 1000, "postgresql": 5000}
KEYS = ("results", "rollups", "ticket_events", "audit", "records")
_WHY = {"ticket_events": lambda: cli_said("cli.prune.why.ticket_events"),  # why not shorter
        "audit": lambda: cli_said("cli.prune.why.audit", law="网络安全法")}
_SPANS = ("results", "rollups", "ticket_events", "audit")


@dataclass(frozen=True, slots=True)
class Retention:
    results: timedelta = MIN_RESULTS  # raw results (and hour roll-ups) older than this are pruned
    rollups: timedelta = DEFAULT_ROLLUPS  # day roll-ups older than this are pruned
    ticket_events: timedelta | None = DEFAULT_HISTORY  # None: never pruned
    audit: timedelta | None = DEFAULT_HISTORY  # None: never pruned

    def as_json(self) -> dict[str, float | None]:
        """For the worker processes' settings (collector/cli.py); :meth:`from_json` reads it back."""
        spans: dict[str, timedelta | None] = {k: getattr(self, k) for k in _SPANS}
        return {k: None if v is None else v.total_seconds() for k, v in spans.items()}

    @classmethod
    def from_json(cls, data: Mapping[str, float | None]) -> Retention:
        def span(key: str) -> timedelta | None:
            value = data.get(key)
            return None if value is None else timedelta(seconds=value)

        return cls(results=span("results") or MIN_RESULTS, rollups=span("rollups") or DEFAULT_ROLLUPS,
                   ticket_events=span("ticket_events"), audit=span("audit"))


def parse_retention(raw: Any, p: Problems) -> Retention:
    """The ``retention:`` section; each fault is added to ``p`` (the config file's) as ``retention.key: ...``."""
    if not isinstance(raw, Mapping):
        p.add("retention", f"expected a mapping with {', '.join(KEYS)}",
              said=("cli.config.mapping_with", {"keys": ", ".join(KEYS)}))
        return Retention()
    for key in raw:
        if key not in KEYS:
            p.add(f"retention.{key}", f"unknown key (expected {', '.join(KEYS)}; see docs/deploy.md)",
                  said=("cli.config.unknown_key_see", {"expected": ", ".join(KEYS), "doc": "docs/deploy.md"}))
    if "records" in raw and raw["records"] != "never":
        p.add("retention.records", "expected never (issued records are never deleted)",
              said=("cli.config.records_never", {"never": "never"}))
    out = Retention()
    parsers: tuple[tuple[str, Callable[[Any], timedelta | None]], ...] = (
        ("results", results_retention), ("rollups", rollups_retention),
        ("ticket_events", lambda v: history_retention("ticket_events", v, MIN_TICKET_EVENTS)),
        ("audit", lambda v: history_retention("audit", v, MIN_AUDIT)))
    for key, parse in parsers:
        if key in raw:
            try:
                span: Any = parse(raw[key])  # results and rollups: never None
                out = replace(out, **{key: span})
            except ValueError as exc:
                p.add_error(f"retention.{key}", exc)
    return out


def _span(value: Any) -> timedelta:
    """A retention's duration; ValueError (keyed: the reader's language) when it is none."""
    try:
        return timedelta(seconds=parse_duration(value))
    except ValueError:
        raise ValueError(cli_said("cli.config.duration")) from None


def history_retention(key: str, value: Any, least: timedelta) -> timedelta | None:
    """``ticket_events`` or ``audit``: a duration of at least ``least``, or ``never`` (None)."""
    if value == "never":
        return None
    keep = _span(value)
    if keep < least:
        raise ValueError(cli_said("cli.config.history_short", value=str(value), least=f"{least.days}d",
                                  why=_WHY[key](), never="never"))
    return keep


def results_retention(value: Any) -> timedelta:
    """A raw-results retention from config or ``--keep-results``; ValueError with the reason when too short."""
    return _at_least(value, MIN_RESULTS, cli_said("cli.prune.why.results"))


def rollups_retention(value: Any) -> timedelta:
    """A day roll-up retention from config; ValueError with the reason when too short."""
    return _at_least(value, MIN_ROLLUPS, cli_said("cli.prune.why.rollups"))


def _at_least(value: Any, least: timedelta, why: str) -> timedelta:
    keep = _span(value)
    if keep < least:
        raise ValueError(cli_said("cli.prune.too_short", value=str(value), least=f"{least.days}d", why=why))
    return keep


@dataclass(frozen=True, slots=True)
class TablePrune:
    """What the prune removed (or would) from one table beside the raw results and roll-ups."""

    table: str  # ticket_events, relay (provenance), maintenance_runs, audit_log
    cutoff: datetime
    removed: int
    batches: int


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
    tables: tuple[TablePrune, ...] = ()
    kept: tuple[str, ...] = ("issued records",)  # what this retention never prunes

    def lines(self) -> list[str]:
        """What went (or would), one line each: keyed texts (:func:`checks.messages.reader.cli_said`), English
        in the log, in the reader's language where ``wardround-collector prune`` prints them (``told``)."""
        dry = self.dry_run
        out = [cli_said("cli.prune.results_dry" if dry else "cli.prune.results",
                        cutoff=self.cutoff.isoformat(timespec="seconds"), n=self.results, batches=self.batches)]
        if self.partitions:
            out.append(cli_said("cli.prune.partitions_dry" if dry else "cli.prune.partitions",
                                names=", ".join(self.partitions)))
        if self.freed_pages is not None and not dry:
            out.append(cli_said("cli.prune.freed", n=self.freed_pages))
        if self.held_back:
            out.append(cli_said("cli.prune.held_back"))
        out.append(cli_said("cli.prune.rollups_dry" if dry else "cli.prune.rollups", hours=self.rollups[0],
                            days=self.rollups[1], key="retention.rollups"))
        for t in self.tables:
            what = cli_said(f"cli.prune.what.{t.table}", action="audit.prune")
            out.append(cli_said("cli.prune.table_dry" if dry else "cli.prune.table", what=what,
                                cutoff=t.cutoff.isoformat(timespec="seconds"), n=t.removed, batches=t.batches))
        out.append(cli_said("cli.prune.kept", what=[cli_said(f"cli.prune.kept.{_KEPT[k]}") for k in self.kept]))
        return out


#: what is never pruned, as ``cli.prune.kept.*`` words (tables pruned are ``cli.prune.what.*``)
_KEPT = {"issued records": "records", "ticket events": "ticket_events", "the audit log": "audit_log"}


def prune(engine: Engine, retention: Retention, now: datetime, *, dry_run: bool = False,
          batch: int | None = None, pause: float = 0.0, keys: Keyring | None = None) -> PruneReport:
    """Remove raw results older than ``retention.results``, never before they are rolled up, then the other
    tables' (see the module doc).  ``keys`` sign the audit log's checkpoint; without them it is not pruned."""
    cutoff = now - retention.results
    batch = batch or BATCH[engine.dialect.name]
    with engine.connect() as conn:
        dirty = rollups.oldest_dirty(conn)
    held_back = dirty is not None and dirty < cutoff
    cutoff = min(cutoff, dirty) if dirty is not None else cutoff
    pruned = rollups.prune(engine, hours_before=cutoff, days_before=now - retention.rollups, dry_run=dry_run)
    old = result_rows.c.started_at < cutoff
    dropped: list[str] = []
    removed = batches = last = 0
    if engine.dialect.name == "postgresql":  # whole months first: a DROP, not a DELETE
        with writing(engine) as conn:
            dropped, removed = partitions.drop_before(conn, cutoff, dry_run)
    if dry_run:
        with engine.connect() as conn:
            removed = int(conn.execute(select(func.count()).select_from(result_rows).where(old)).scalar_one())
    while not dry_run:  # after the last id removed: PostgreSQL's index still holds the dead rows until vacuumed
        with writing(engine) as conn:
            ids = list(conn.execute(select(result_rows.c.id).where(old, result_rows.c.id > last)
                                    .order_by(result_rows.c.id).limit(batch)).scalars())
            if ids:  # ``old`` again: PostgreSQL looks in the partitions before the cutoff only
                conn.execute(delete(result_rows).where(result_rows.c.id.in_(ids), old))
        if not ids:
            break
        removed, last = removed + len(ids), ids[-1]
        batches += 1
        if pause:
            time.sleep(pause)  # ingest's turn
    tables = _prune_tables(engine, retention, now, cutoff, dry_run=dry_run, batch=batch, pause=pause, keys=keys)
    freed = _vacuum_sqlite(engine) if engine.dialect.name == "sqlite" and not dry_run else None
    kept = ("issued records",) + (("ticket events",) if retention.ticket_events is None else ()) \
        + (("the audit log",) if retention.audit is None or (keys is None and not dry_run) else ())
    return PruneReport(cutoff=cutoff, results=removed, batches=batches, dry_run=dry_run, freed_pages=freed,
                       partitions=tuple(dropped), rollups=pruned, held_back=held_back, tables=tables, kept=kept)


def _prune_tables(engine: Engine, retention: Retention, now: datetime, results_cutoff: datetime, *, dry_run: bool,
                  batch: int, pause: float, keys: Keyring | None) -> tuple[TablePrune, ...]:
    """The tables beside the raw results, each in batches of its own transactions."""
    plan: list[tuple[str, datetime, Any, Any]] = []
    if retention.ticket_events is not None:
        plan.append(("ticket_events", now - retention.ticket_events, sql.count_ticket_events,
                     sql.ticket_events_batch))
    plan.append(("relay", results_cutoff, sql.count_relay, sql.relay_batch))
    plan.append(("maintenance_runs", now - retention.results, sql.count_runs, sql.runs_batch))
    out = []
    for table, cutoff, count, one_batch in plan:
        n = done = 0
        if dry_run:
            with engine.connect() as conn:
                n = count(conn, cutoff)
        while not dry_run:
            with writing(engine) as conn:
                step = one_batch(conn, cutoff, batch)
            if not step:
                break
            n, done = n + step, done + 1
            if pause:
                time.sleep(pause)
        out.append(TablePrune(table, cutoff, n, done))
    if retention.audit is not None and (keys is not None or dry_run):
        cutoff = now - retention.audit
        cut = audit.prune_before(engine, keys, cutoff, dry_run=dry_run, batch=batch, pause=pause)
        out.append(TablePrune("audit_log", cutoff, cut.removed, cut.batches))
    return tuple(out)


def _vacuum_sqlite(engine: Engine, step: int = 1000) -> int:
    """Hand free pages back in steps of ``step`` pages (each a short write); 0 without incremental auto-vacuum."""
    with engine.connect() as conn:
        if conn.exec_driver_sql("PRAGMA auto_vacuum").scalar() != 2:
            return 0
        before = int(conn.exec_driver_sql("PRAGMA page_count").scalar() or 0)
    while True:
        with writing(engine) as conn:
            free = int(conn.exec_driver_sql("PRAGMA freelist_count").scalar() or 0)
            if not free:
                after = int(conn.exec_driver_sql("PRAGMA page_count").scalar() or 0)
                return max(0, before - after)
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]  # the DBAPI connection is open here
            try:  # the sqlite3 module steps the pragma once: one page per execute (about 50 µs each)
                for _ in range(min(step, free)):
                    cursor.execute("PRAGMA incremental_vacuum(1)")
            finally:
                cursor.close()


def claim_day(conn: Connection, job: str, day: date, now: datetime) -> bool:
    """True for the one collector that claims ``job`` on ``day`` (a unique key decides)."""
    from collector.store.queries import _insert

    stmt = _insert(conn, maintenance_runs).values(job=job, day=day.isoformat(), started_at=now)
    return conn.execute(stmt.on_conflict_do_nothing().returning(maintenance_runs.c.job)).first() is not None
