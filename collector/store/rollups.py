"""Roll-ups: what a series' raw results of one hour or one site-local day add up to.

A row of ``rollup_hours`` (one UTC hour) or ``rollup_days`` (one day in the
site's time zone) holds, for one result series (site, host, check, item):
the number of results and of each status, the worst, the first and last time
and status, how often it went bad (to WARNING/CRITICAL from anything else; the
first result counts when bad), the silences inside (the sum of what each gap
between consecutive results exceeds :data:`SILENT_AFTER`, and the longest gap),
min/max/sum/count of each metric, and the texts of the newest, of the first
non-OK and of the newest OK result as a ``result_texts`` id plus the numbers that changed — so their
summary, standard, details, metrics and message keys read back exactly, in any
language, after the raw results are pruned.  A host's whole traffic is rolled up
too, as the series (site, host, "", "") (:data:`HOST_ROW`), for availability.

**How it is filled: a job over dirty hours, not ingest.**  Ingest marks each
(series, hour) it stored into in ``rollup_dirty`` (same transaction,
``gen`` bumped on every store).  :func:`refresh` rebuilds each marked hour from
its raw results, then the site-local days holding it (from the hour rows when
the zone's offset is whole hours, else from raw), and deletes the mark *only if
its gen is still the one it read*.  A roll-up row is a function of the raw rows,
never an accumulation: rebuilding twice, or by two collectors at once, writes
the same row, so nothing is double counted; a result stored while a rebuild ran
leaves its mark (gen moved on) and is rolled up next time.  Built at ingest, the
ordered figures (went bad, silences) could not be kept exact when results
arrive late or out of order (agents' spools) or by two collectors at once, and
every store would pay for it.  On PostgreSQL one collector at a time rolls up
(a transaction-scoped advisory lock; the others skip the round); on SQLite the
write lock serialises them anyway.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, Table, delete, func, select, text, tuple_

from checks.result import SEVERITY
from collector.store import compact
from collector.store.db import writing
from collector.store.rollup_tables import rollup_days, rollup_dirty, rollup_hours
from collector.store.tables import result_rows, result_series, result_texts

__all__ = ["HOST_ROW", "SILENT_AFTER", "Span", "hour_of", "local_day", "mark_dirty", "merge", "oldest_dirty",
           "prune", "refresh", "refresh_batch", "texts_of", "worst_of"]

log = logging.getLogger(__name__)

SILENT_AFTER = timedelta(minutes=15)  # a gap between results longer than this counts as silent
HOUR = timedelta(hours=1)
HOST_ROW = ""  # check and item of a host's whole-traffic series
BATCH = 500  # dirty marks per transaction
_LOCK = 0x77617264  # the advisory lock of the roll-up job ("ward")
_US = timedelta(microseconds=1)
_SILENT_US = SILENT_AFTER // _US
_BAD = (1, 2)
_RANK = {int(s): r for s, r in SEVERITY.items()}
_WORST_OF_RANK = {r: s for s, r in _RANK.items()}
Zone = Callable[[str], tzinfo]


def hour_of(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def local_day(at: datetime, zone: tzinfo) -> tuple[datetime, datetime]:
    """The site-local day holding ``at``: [its midnight, the next midnight), both UTC."""
    day = at.astimezone(zone).date()
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def mark_dirty(conn: Connection, stored: Iterable[tuple[int, datetime]]) -> None:
    """Mark the (series id, hour) of each stored result for :func:`refresh` (in the storing transaction)."""
    marks = set(stored)
    hours = {at: hour_of(at) for at in {at for _, at in marks}}  # a batch holds a few distinct times
    keys = sorted({(series, hours[at]) for series, at in marks})
    if not keys:
        return
    # the ingest hot path: straight to the driver (a Stamp is integer microseconds on SQLite)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]  # open in a transaction
    try:
        if conn.dialect.name == "postgresql":  # one statement, two arrays
            cursor.execute(_MARK_PG, [[series for series, _ in keys], [hour for _, hour in keys]])
        else:
            cursor.executemany(_MARK_SQLITE, [(series, compact.micros(hour)) for series, hour in keys])
    finally:
        cursor.close()


_MARK_SQLITE = ("INSERT INTO rollup_dirty (series_id, hour, gen) VALUES (?, ?, 1) "
                "ON CONFLICT (series_id, hour) DO UPDATE SET gen = rollup_dirty.gen + 1")
_MARK_PG = ("INSERT INTO rollup_dirty (series_id, hour, gen) SELECT s, h, 1 FROM unnest(%b::integer[], "
            "%b::timestamptz[]) AS t (s, h) ON CONFLICT (series_id, hour) DO UPDATE SET gen = rollup_dirty.gen + 1")


# -- one row from results, one span from rows -------------------------------------------------

@dataclass(slots=True)
class Span:
    """What a run of results (raw, or roll-up rows in time order) adds up to; :func:`merge` builds it."""

    results: int = 0
    ok: int = 0
    warning: int = 0
    critical: int = 0
    unknown: int = 0
    worst: int = 0
    first_at: datetime | None = None
    first_status: int = 0
    last_at: datetime | None = None
    last_status: int = 0
    went_bad: int = 0
    silent_us: int = 0
    longest_us: int = 0
    metrics: dict[str, list[float]] = field(default_factory=dict)  # name -> [min, max, sum, n]
    last_text_id: int = 0
    last_changed: str = ""
    bad_at: datetime | None = None
    bad_status: int | None = None
    bad_text_id: int | None = None
    bad_changed: str | None = None
    good_at: datetime | None = None
    good_text_id: int | None = None
    good_changed: str | None = None

    def add(self, r: Any, with_metrics: bool = True) -> None:
        """Add a roll-up row (or a one-result row) that comes after everything added so far."""
        if self.last_at is not None:
            gap = (r.first_at - self.last_at) // _US
            self.silent_us += max(gap - _SILENT_US, 0)
            self.longest_us = max(self.longest_us, gap)
        else:
            self.first_at, self.first_status = r.first_at, r.first_status
        self.went_bad += r.went_bad - (1 if r.first_status in _BAD and self.results and self.last_status in _BAD
                                       else 0)
        self.results += r.results
        self.ok, self.warning = self.ok + r.ok, self.warning + r.warning
        self.critical, self.unknown = self.critical + r.critical, self.unknown + r.unknown
        self.worst = self.worst if _RANK[self.worst] >= _RANK[r.worst] else r.worst
        self.silent_us += r.silent_us
        self.longest_us = max(self.longest_us, r.longest_us)
        self.last_at, self.last_status = r.last_at, r.last_status
        self.last_text_id, self.last_changed = r.last_text_id, r.last_changed
        if self.bad_at is None and r.bad_at is not None:
            self.bad_at, self.bad_status, self.bad_text_id, self.bad_changed = (
                r.bad_at, r.bad_status, r.bad_text_id, r.bad_changed)
        if r.good_at is not None:
            self.good_at, self.good_text_id, self.good_changed = r.good_at, r.good_text_id, r.good_changed
        for name, (lo, hi, total, n) in (_metrics(r.metrics) if with_metrics else {}).items():
            held = self.metrics.get(name)
            self.metrics[name] = [lo, hi, total, n] if held is None else [
                min(held[0], lo), max(held[1], hi), held[2] + total, held[3] + n]

    def row(self, series_id: int, start: datetime) -> dict[str, Any]:
        values = {name: getattr(self, name) for name in self.__slots__ if name != "metrics"}
        values["metrics"] = orjson.dumps(self.metrics).decode() if self.metrics else ""
        return {"series_id": series_id, "start": start, **values}

    @property
    def bad(self) -> int:
        """Results that were not OK."""
        return self.results - self.ok


def _metrics(raw: Any) -> dict[str, list[float]]:
    if isinstance(raw, dict):
        return raw
    return orjson.loads(raw) if raw else {}


@dataclass(frozen=True, slots=True)
class _One:
    """One raw result seen as a roll-up row of itself."""

    first_at: datetime
    first_status: int
    last_at: datetime
    last_status: int
    worst: int
    went_bad: int
    ok: int
    warning: int
    critical: int
    unknown: int
    last_text_id: int
    last_changed: str
    bad_at: datetime | None
    bad_status: int | None
    bad_text_id: int | None
    bad_changed: str | None
    good_at: datetime | None
    good_text_id: int | None
    good_changed: str | None
    metrics: dict[str, list[float]]
    results: int = 1
    silent_us: int = 0
    longest_us: int = 0


def _one(at: datetime, status: int, text_id: int, changed: str, template: str | None) -> _One:
    ok, warning, critical, unknown = (int(status == s) for s in range(4))
    bad = status != 0
    return _One(at, status, at, status, status, int(status in _BAD), ok, warning, critical, unknown, text_id, changed,
                at if bad else None, status if bad else None, text_id if bad else None, changed if bad else None,
                None if bad else at, None if bad else text_id, None if bad else changed,
                _raw_metrics(template, changed) if template is not None else {})


def _raw_metrics(template: str, changed: str) -> dict[str, list[float]]:
    try:
        found = orjson.loads(compact.unpack(f"{template}\n{changed}", compact.TEXTS.index("metrics")) or "[]")
    except orjson.JSONDecodeError:
        return {}
    out: dict[str, list[float]] = {}
    for m in found if isinstance(found, list) else ():
        value = m.get("value") if isinstance(m, dict) else None
        if isinstance(m, dict) and isinstance(m.get("name"), str) and isinstance(value, int | float) \
                and not isinstance(value, bool):
            out[m["name"]] = [float(value), float(value), float(value), 1]
    return out


def merge(rows: Iterable[Any], *, with_metrics: bool = True) -> Span:
    """The span of roll-up rows (or raw ``_One`` rows) given in time order (metrics left out if asked)."""
    span = Span()
    for r in rows:
        span.add(r, with_metrics)
    return span


# -- the job ------------------------------------------------------------------------------------

def refresh(engine: Engine, zone_of: Zone, *, before: datetime, not_before: datetime | None = None,
            batch: int = BATCH, wait: bool = False) -> int:
    """Roll up every dirty hour that started before ``before``; the number of marks cleared.

    An hour whose site-local day began before ``not_before`` (raw results may be pruned there) is not
    rebuilt: its mark is dropped and the roll-ups keep what they had (a result that late is logged).
    ``wait``: on PostgreSQL wait for another collector's roll-up instead of leaving the round to it
    (a record about to read the roll-ups needs them done).
    """
    cleared = 0
    while True:
        with writing(engine) as conn:
            n = refresh_batch(conn, zone_of, before=before, not_before=not_before, batch=batch, wait=wait)
        if n <= 0:
            return cleared
        cleared += n


def refresh_batch(conn: Connection, zone_of: Zone, *, before: datetime, not_before: datetime | None = None,
                  batch: int = BATCH, wait: bool = False) -> int:
    """One transaction's share of :func:`refresh`: marks handled, 0 when none are left (or another collector
    holds the roll-up lock)."""
    if conn.dialect.name == "postgresql" and wait:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK})
    elif conn.dialect.name == "postgresql" and not conn.execute(
            text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _LOCK}).scalar():
        return 0  # another collector is rolling up
    d = rollup_dirty.c
    marks = conn.execute(select(d.series_id, d.hour, d.gen).where(d.hour < before)
                         .order_by(d.hour, d.series_id).limit(batch)).all()
    if not marks:
        return 0
    names = _series_names(conn, {m.series_id for m in marks})
    late = [m for m in marks if not_before is not None and (
        m.series_id not in names or local_day(m.hour, zone_of(names[m.series_id][0]))[0] < not_before)]
    if late:
        log.warning("%s hour(s) stored into after the raw results of their day may have been pruned: roll-ups "
                    "kept as they were", len(late))
    todo = [m for m in marks if m not in late]
    hosts = _host_series(conn, {names[m.series_id][:2] for m in todo})
    hour_keys = {(m.series_id, m.hour) for m in todo} | {
        (hosts[names[m.series_id][:2]], m.hour) for m in todo}
    _rebuild_hours(conn, hour_keys, hosts)
    days: set[tuple[int, datetime, datetime]] = set()
    for series, hour in hour_keys:
        zone = zone_of(names[series][0]) if series in names else zone_of(_site_of_host(hosts, series))
        days.add((series, *local_day(hour, zone)))
        days.add((series, *local_day(hour + HOUR - _US, zone)))
    _rebuild_days(conn, days, hosts)
    cleared = 0
    for chunk in _chunks([tuple(m) for m in marks]):  # only the marks as read: a newer store keeps its mark
        cleared += conn.execute(delete(rollup_dirty).where(tuple_(d.series_id, d.hour, d.gen).in_(chunk))
                                ).rowcount or 0
    return max(cleared, 1)  # a mark re-dirtied meanwhile stays for the next round; this one did work


def _series_names(conn: Connection, ids: set[int]) -> dict[int, tuple[str, str, str, str]]:
    s = result_series.c
    out: dict[int, tuple[str, str, str, str]] = {}
    for chunk in _chunks(sorted(ids)):
        out.update({r.id: (r.site, r.host, r.check, r.item) for r in conn.execute(
            select(s.id, s.site, s.host, s.check, s.item).where(s.id.in_(chunk)))})
    return out


def _host_series(conn: Connection, hosts: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
    from collector.store.queries import series_ids

    keys = {(site, host, HOST_ROW, HOST_ROW) for site, host in hosts}
    found = series_ids(conn, keys) if keys else {}  # (it answers every series of those hosts)
    return {(k[0], k[1]): v for k, v in found.items() if k in keys}


def _site_of_host(hosts: dict[tuple[str, str], int], series: int) -> str:
    return next(k[0] for k, v in hosts.items() if v == series)


def _chunks(values: Sequence[Any], size: int = 500) -> Iterable[Sequence[Any]]:
    for i in range(0, len(values), size):
        yield values[i:i + size]


def _members(conn: Connection, host_ids: set[int], hosts: dict[tuple[str, str], int]) -> dict[int, list[int]]:
    """The series of each host row (its checks' series)."""
    by_id = {v: k for k, v in hosts.items()}
    s = result_series.c
    out: dict[int, list[int]] = defaultdict(list)
    for site, host in sorted(by_id[h] for h in host_ids):
        out[hosts[(site, host)]] = list(conn.execute(
            select(s.id).where(s.site == site, s.host == host, s.check != HOST_ROW)).scalars())
    return out


def _raw(conn: Connection, series: Iterable[int], start: datetime, end: datetime) -> dict[int, list[Any]]:
    """The raw results of ``series`` in [start, end) as one-result rows, per series, oldest first."""
    r, t = result_rows.c, result_texts.c
    out: dict[int, list[Any]] = defaultdict(list)
    for chunk in _chunks(sorted(set(series))):
        q = (select(r.series_id, r.id, r.started_at, r.status, r.text_id, r.changed, t.template)
             .join_from(result_rows, result_texts, t.id == r.text_id)
             .where(r.series_id.in_(chunk), r.started_at >= start, r.started_at < end))
        for x in conn.execute(q):
            out[x.series_id].append(x)
    return {sid: [_one(x.started_at, int(x.status), x.text_id, x.changed, x.template)
                  for x in sorted(rows, key=lambda x: (x.started_at, x.id))] for sid, rows in out.items()}


def _host_rows(rows: dict[int, list[Any]], members: list[int]) -> list[Any]:
    """A host's results of all its series, in time order (without metrics: they do not add up across items)."""
    mine = [x for sid in members for x in rows.get(sid, ())]
    mine.sort(key=lambda x: x.first_at)
    return mine


def _upsert(conn: Connection, table: Table, built: list[dict[str, Any]], gone: list[tuple[int, datetime]]) -> None:
    for series, start in gone:  # nothing there (any more): no row
        conn.execute(delete(table).where(table.c.series_id == series, table.c.start == start))
    if built:
        from collector.store.queries import _insert

        ins = _insert(conn, table)
        conn.execute(ins.on_conflict_do_update(
            index_elements=["series_id", "start"],
            set_={c.name: ins.excluded[c.name] for c in table.c if c.name not in ("series_id", "start")}),
            sorted(built, key=lambda b: (b["series_id"], b["start"])))


def _rebuild(conn: Connection, table: Table, keys: Iterable[tuple[int, datetime, datetime]],
             members: dict[int, list[int]], source: Callable[[list[int], datetime, datetime], dict[int, list[Any]]]
             ) -> None:
    """Rebuild the rows of ``table`` for each (series, start, end): one read per distinct (start, end)."""
    by_range: dict[tuple[datetime, datetime], list[int]] = defaultdict(list)
    for series, start, end in keys:
        by_range[(start, end)].append(series)
    built: list[dict[str, Any]] = []
    gone: list[tuple[int, datetime]] = []
    for (start, end), wanted in sorted(by_range.items()):
        needed = {m for sid in wanted for m in members.get(sid, [sid])}
        found = source(sorted(needed), start, end)
        for sid in wanted:
            rows = _host_rows(found, members[sid]) if sid in members else found.get(sid, [])
            if rows:
                built.append(merge(rows, with_metrics=sid not in members).row(sid, start))
            else:
                gone.append((sid, start))
    _upsert(conn, table, built, gone)


def _rebuild_hours(conn: Connection, keys: set[tuple[int, datetime]], hosts: dict[tuple[str, str], int]) -> None:
    """Each (series, hour) from raw, reading each run of nearby hours once (not one read per hour)."""
    members = _members(conn, {k[0] for k in keys} & set(hosts.values()), hosts)
    runs: list[list[tuple[int, datetime]]] = []
    for key in sorted(keys, key=lambda k: k[1]):
        if runs and key[1] - runs[-1][-1][1] <= 6 * HOUR:
            runs[-1].append(key)
        else:
            runs.append([key])
    for run in runs:
        needed = {m for sid, _ in run for m in members.get(sid, [sid])}
        raw = _raw(conn, needed, run[0][1], run[-1][1] + HOUR)
        buckets: dict[tuple[int, datetime], list[Any]] = defaultdict(list)
        for sid, rows in raw.items():
            for x in rows:
                buckets[(sid, hour_of(x.first_at))].append(x)

        def source(ids: list[int], start: datetime, end: datetime,
                   buckets: dict[tuple[int, datetime], list[Any]] = buckets) -> dict[int, list[Any]]:
            return {sid: buckets[(sid, start)] for sid in ids if (sid, start) in buckets}

        _rebuild(conn, rollup_hours, ((s, h, h + HOUR) for s, h in run), members, source)


def _rebuild_days(conn: Connection, keys: set[tuple[int, datetime, datetime]],
                  hosts: dict[tuple[str, str], int]) -> None:
    """Days of whole hours are merged from their hour rows; others (zones off by a part of an hour) from raw."""
    h = rollup_hours.c

    def hour_rows(ids: list[int], start: datetime, end: datetime) -> dict[int, list[Any]]:
        out: dict[int, list[Any]] = defaultdict(list)
        for chunk in _chunks(ids):
            for r in conn.execute(select(rollup_hours).where(h.series_id.in_(chunk), h.start >= start,
                                                              h.start < end).order_by(h.series_id, h.start)):
                out[r.series_id].append(r)
        return out

    whole = {k for k in keys if k[1] == hour_of(k[1]) and k[2] == hour_of(k[2])}
    _rebuild(conn, rollup_days, whole, {}, hour_rows)
    if keys - whole:
        members = _members(conn, {k[0] for k in keys - whole} & set(hosts.values()), hosts)
        _rebuild(conn, rollup_days, keys - whole, members, lambda ids, start, end: _raw(conn, ids, start, end))


def worst_of(ranks: Iterable[int]) -> int:
    """The status of the highest severity rank among ``ranks`` (0 when none)."""
    return _WORST_OF_RANK.get(max(ranks, default=0), 0)


def texts_of(conn: Connection, refs: Iterable[tuple[int, str]]) -> dict[tuple[int, str], dict[str, str]]:
    """The texts (:data:`compact.TEXTS`: summary, standard, details, metrics, messages) of each
    (text id, changed) reference a roll-up row keeps."""
    wanted = sorted(set(refs))
    t = result_texts.c
    templates: dict[int, str] = {}
    for chunk in _chunks(sorted({i for i, _ in wanted})):
        templates.update(dict(conn.execute(select(t.id, t.template).where(t.id.in_(chunk))).all()))
    return {(i, changed): {name: compact.unpack(f"{templates[i]}\n{changed}", n)
                           for n, name in enumerate(compact.TEXTS)}
            for i, changed in wanted if i in templates}


def oldest_dirty(conn: Connection) -> datetime | None:
    """The oldest hour stored into and not rolled up yet: raw results from it on must not be pruned."""
    found: datetime | None = conn.execute(select(func.min(rollup_dirty.c.hour))).scalar()
    return found


def prune(engine: Engine, *, hours_before: datetime, days_before: datetime, dry_run: bool = False,
          step: timedelta = timedelta(days=7)) -> tuple[int, int]:
    """Remove hour rows that started before ``hours_before`` and day rows before ``days_before``, a week of
    rows per transaction; (hours, days) removed (or that would be, with ``dry_run``)."""
    removed = []
    for table, cutoff in ((rollup_hours, hours_before), (rollup_days, days_before)):
        old = table.c.start < cutoff
        with engine.connect() as conn:
            n, oldest = conn.execute(select(func.count(), func.min(table.c.start)).where(old)).one()
        removed.append(int(n))
        while not dry_run and oldest is not None and oldest < cutoff:
            upto = min(oldest + step, cutoff)
            with writing(engine) as conn:
                conn.execute(delete(table).where(table.c.start < upto))
            oldest = upto
    return removed[0], removed[1]
