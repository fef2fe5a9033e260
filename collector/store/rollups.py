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

**How it is filled: a job over marked hours that adds only what is new.**  Ingest marks each
(series, hour) it stored into in ``rollup_dirty``, in the same transaction, with ``since``: the oldest
start among the results stored into it that its hour row does not hold yet.  :func:`refresh` (the job
runs it every minute with ``upto`` = :func:`fold_point`: now − :data:`GRACE` in steps of
:data:`FOLD_EVERY`) reads the results from ``since`` on and adds
them to the hour row (:class:`Span` read back from a row holds exactly what it held: the additions, and
the floating-point sums, are the ones a rebuild from all raw results makes) **when they all come after
the row's last result**; a result that starts earlier (late, out of order) makes it rebuild that one
hour from its raw results instead.  An open hour is folded up to ``upto`` (its ``since`` then moves to
its oldest result not folded), so results out of order by less than :data:`GRACE` cost nothing extra;
an hour closes when ``upto`` has passed its end.  A closed hour is added to its site-local day's row
when it comes after everything in it, else the day is rebuilt from its closed hour rows (from raw in a
zone off by a part of an hour).  A host's row (series (site, host, "", "")) has its own mark, handed on
by its items' marks, and is folded after them from its items' raw results.  The marks a round handles
are locked (``FOR UPDATE`` on PostgreSQL; SQLite's write lock holds the whole database), so a store
into one of them waits for the round's transaction and then moves ``since`` back: nothing is counted
twice or left out.  On PostgreSQL one collector at a time rolls up (a transaction-scoped advisory
lock; the others skip the round).  tests/collector/test_rollups_incremental.py checks the rows against
a rebuild from raw results on random runs with late and out-of-order results.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import Connection, Engine, Table, and_, bindparam, delete, func, or_, select, text, tuple_, update

from checks.result import SEVERITY
from collector.store import compact
from collector.store.db import writing
from collector.store.rollup_span import SILENT_AFTER, Span, merge, one
from collector.store.rollup_tables import rollup_days, rollup_dirty, rollup_hours
from collector.store.tables import result_rows, result_series, result_texts

__all__ = ["FOLD_EVERY", "GRACE", "HOST_ROW", "SILENT_AFTER", "Span", "fold_point", "hour_of", "local_day",
           "mark_dirty", "marks_pg", "merge", "newest_hours", "oldest_dirty", "prune", "refresh", "refresh_batch",
           "texts_of", "worst_of"]

log = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
HOST_ROW = ""  # check and item of a host's whole-traffic series
BATCH = 500  # dirty marks per transaction
GRACE = timedelta(minutes=2)  # the roll-up job folds an open hour's results this old: later ones may come out of order
FOLD_EVERY = timedelta(minutes=10)  # ... in steps of this (each row is rewritten once a step, not once a result)
_LOCK = 0x77617264  # the advisory lock of the roll-up job ("ward")
_US = timedelta(microseconds=1)
_RANK = {int(s): r for s, r in SEVERITY.items()}
_WORST_OF_RANK = {r: s for s, r in _RANK.items()}
Zone = Callable[[str], tzinfo]
Key = tuple[int, datetime]  # (series id, hour)
counts: Counter[str] = Counter()  # hour rows "added" to and "rebuilt" by this process (bench/ figures)


def fold_point(now: datetime) -> datetime:
    """How far the roll-up job folds at ``now``: :data:`GRACE` ago, down to a whole :data:`FOLD_EVERY`."""
    upto = now - GRACE
    return upto - (upto - hour_of(upto)) % FOLD_EVERY


def hour_of(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def local_day(at: datetime, zone: tzinfo) -> tuple[datetime, datetime]:
    """The site-local day holding ``at``: [its midnight, the next midnight), both UTC."""
    day = at.astimezone(zone).date()
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def mark_dirty(conn: Connection, stored: Iterable[tuple[int, datetime]]) -> None:
    """Mark the (series id, hour) of each stored result for :func:`refresh` (in the storing transaction), with
    the oldest start stored into it (``since``: the roll-up reads its raw results from there on)."""
    marks = set(stored)
    hours = {at: hour_of(at) for at in {at for _, at in marks}}  # a batch holds a few distinct times
    since: dict[Key, datetime] = {}
    for series, at in marks:
        key = (series, hours[at])
        if key not in since or at < since[key]:
            since[key] = at
    keys = sorted(since)
    if not keys:
        return
    # the ingest hot path: straight to the driver (a Stamp is integer microseconds on SQLite)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]  # open in a transaction
    try:
        if conn.dialect.name == "postgresql":  # one statement, three arrays
            cursor.execute(_MARK_PG, [[series for series, _ in keys], [hour for _, hour in keys],
                                      [since[k] for k in keys]])
        else:
            cursor.executemany(_MARK_SQLITE, [(series, compact.micros(hour), compact.micros(since[(series, hour)]))
                                              for series, hour in keys])
    finally:
        cursor.close()


_MARK_SQLITE = ("INSERT INTO rollup_dirty (series_id, hour, gen, since) VALUES (?, ?, 1, ?) "
                "ON CONFLICT (series_id, hour) DO UPDATE SET gen = rollup_dirty.gen + 1, "
                "since = min(rollup_dirty.since, excluded.since)")
_MARK_CONFLICT_PG = ("ON CONFLICT (series_id, hour) DO UPDATE SET gen = rollup_dirty.gen + 1, "
                     "since = LEAST(rollup_dirty.since, excluded.since)")
_MARK_PG = ("INSERT INTO rollup_dirty (series_id, hour, gen, since) SELECT s, h, 1, a FROM unnest(%b::integer[], "
            "%b::timestamptz[], %b::timestamptz[]) AS t (s, h, a) " + _MARK_CONFLICT_PG)


def marks_pg(stored: str) -> str:
    """PostgreSQL: :func:`mark_dirty`'s statement for the rows of ``stored`` (a CTE's name: the ``series_id``
    and ``started_at`` of the results just stored), run inside the statement that stores them (a data-modifying
    CTE: no round trip, no Python a result).  The same marks: each (series, UTC hour as :func:`hour_of`'s) once,
    in (series, hour) order, with the oldest start stored into it."""
    return ("INSERT INTO rollup_dirty (series_id, hour, gen, since) SELECT series_id, "
            f"date_trunc('hour', started_at, 'UTC'), 1, min(started_at) FROM {stored} GROUP BY 1, 2 ORDER BY 1, 2 "
            + _MARK_CONFLICT_PG)


# -- the job ------------------------------------------------------------------------------------

def refresh(engine: Engine, zone_of: Zone, *, before: datetime, upto: datetime | None = None,
            not_before: datetime | None = None, batch: int = BATCH, wait: bool = False) -> int:
    """Roll up every marked hour that started before ``before`` (its row, then its days), and fold what
    started before ``upto`` into the rows of the later (open) hours; the number of marks handled.

    An hour whose site-local day began before ``not_before`` (raw results may be pruned there) is not
    rebuilt: its mark is dropped and the roll-ups keep what they had (a result that late is logged).
    ``wait``: on PostgreSQL wait for another collector's roll-up instead of leaving the round to it
    (a record about to read the roll-ups needs them done).
    """
    handled = 0
    for host_rows in (False, True):  # the items' marks first: they hand their results on to their hosts' marks
        after: Key | None = None
        while True:
            with writing(engine) as conn:
                n, after = refresh_batch(conn, zone_of, before=before, upto=upto, not_before=not_before,
                                         batch=batch, wait=wait, after=after, host_rows=host_rows)
            handled += n
            if after is None:
                break
    return handled


def refresh_batch(conn: Connection, zone_of: Zone, *, before: datetime, upto: datetime | None = None,
                  not_before: datetime | None = None, batch: int = BATCH, wait: bool = False,
                  after: Key | None = None, host_rows: bool = False) -> tuple[int, Key | None]:
    """One transaction's share of :func:`refresh`: the marks of items (or of hosts' rows) after ``after``
    handled, and the last of them; (0, None) when none are left (or another collector holds the roll-up lock)."""
    if not _locked(conn, wait):
        return 0, None
    marks = _due(conn, before, upto, after, batch, host_rows)
    if not marks:
        return 0, None
    names = _series_names(conn, {sid for sid, _, _ in marks})
    late = {(sid, hour) for sid, hour, _ in marks if sid not in names or (
        hour < before and not_before is not None and local_day(hour, zone_of(names[sid][0]))[0] < not_before)}
    if late:
        log.warning("%s hour(s) stored into after the raw results of their day may have been pruned: roll-ups "
                    "kept as they were", len(late))
    since = {(sid, hour): at for sid, hour, at in marks if (sid, hour) not in late}
    hosts = _host_series(conn, {names[sid][:2] for sid, _ in since})
    since = _with_hosts(conn, since, names, hosts)
    ends = {k: k[1] + HOUR if k[1] < before or upto is None else upto for k in since}
    members = _members(conn, {sid for sid, _ in since} & set(hosts.values()), hosts)
    pending = _fold_hours(conn, since, ends, members)
    closing = {k for k in since if k[1] < before}
    _close_days(conn, closing, names, zone_of, hosts, before)
    _clear(conn, closing | late, {k: pending.get(k, k[1] + HOUR) for k in since if k not in closing})
    return len(marks), (marks[-1][0], marks[-1][1])


def _locked(conn: Connection, wait: bool) -> bool:
    """On PostgreSQL, one collector at a time rolls up (``wait`` for it, else leave the round to it)."""
    if conn.dialect.name != "postgresql":
        return True  # the write transaction holds the database
    if wait:
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK})
        return True
    return bool(conn.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _LOCK}).scalar())


def _due(conn: Connection, before: datetime, upto: datetime | None, after: Key | None, batch: int,
         host_rows: bool) -> list[tuple[int, datetime, datetime]]:
    """The next marks to handle, locked (a store into one waits until this transaction ends, then moves its
    ``since``), in (series, hour) order: the order stores lock them in."""
    d, s = rollup_dirty.c, result_series.c
    q = (select(d.series_id, d.hour, d.since).join_from(rollup_dirty, result_series, s.id == d.series_id)
         .where(d.hour < before if upto is None else or_(d.hour < before, d.since < upto),
                s.check == HOST_ROW if host_rows else s.check != HOST_ROW))
    if after is not None:
        q = q.where(or_(d.series_id > after[0], and_(d.series_id == after[0], d.hour > after[1])))
    return [(m.series_id, m.hour, m.since) for m in conn.execute(
        q.order_by(d.series_id, d.hour).limit(batch).with_for_update(of=rollup_dirty))]


def _with_hosts(conn: Connection, since: dict[Key, datetime], names: dict[int, tuple[str, str, str, str]],
                hosts: dict[tuple[str, str], int]) -> dict[Key, datetime]:
    """Each item's ``since`` handed on to its host's row: to its mark in this batch, else to a mark made or
    moved back for a later batch (the host row then reads its items' results from there on)."""
    host_ids = set(hosts.values())
    out = dict(since)
    handed: dict[Key, datetime] = {}
    for (sid, hour), at in since.items():
        if sid in host_ids:
            continue
        key = (hosts[names[sid][:2]], hour)
        if key in out:
            out[key] = min(out[key], at)
        else:
            handed[key] = min(handed.get(key, at), at)
    if handed:
        from collector.store.queries import _insert

        ins = _insert(conn, rollup_dirty)
        least = func.least if conn.dialect.name == "postgresql" else func.min
        conn.execute(ins.on_conflict_do_update(
            index_elements=["series_id", "hour"],
            set_={"gen": rollup_dirty.c.gen + 1, "since": least(rollup_dirty.c.since, ins.excluded.since)}),
            [{"series_id": s, "hour": h, "gen": 1, "since": at} for (s, h), at in sorted(handed.items())])
    return out


def _fold_hours(conn: Connection, since: dict[Key, datetime], ends: dict[Key, datetime],
                members: dict[int, list[int]]) -> dict[Key, datetime]:
    """Bring each (series, hour) row up to its end: add the results from ``since`` on to the row when all of
    them come after it, else rebuild the row from the hour's results (an open hour's row: when it closes).
    For an hour not closed (end before the hour's end) the start of its oldest result left out is answered."""
    held = _rows_at(conn, rollup_hours, set(since))
    groups: dict[tuple[datetime, datetime, bool], list[int]] = defaultdict(list)
    low: dict[Key, datetime] = {}
    pending: dict[Key, datetime] = {}
    for key, at in since.items():
        row = held.get(key)
        add = row is not None and row.last_at < at
        if row is not None and not add and ends[key] < key[1] + HOUR:
            pending[key] = at  # out of order in an open hour: rebuilt once, when it closes
            continue
        low[key] = at if add else key[1]
        groups[(key[1], ends[key], add)].append(key[0])
    built: list[dict[str, Any]] = []
    gone: list[Key] = []
    whole = _whole_hours(conn, [(hour, sids) for (hour, end, add), sids in sorted(groups.items())
                          if not add and end == hour + HOUR], members)
    for (hour, end, add), sids in sorted(groups.items()):
        counts["added" if add else "rebuilt"] += len(sids)
        start = min(low[(sid, hour)] for sid in sids)
        needed = sorted({m for sid in sids for m in members.get(sid, [sid])})
        found = whole[hour] if not add and end == hour + HOUR else _raw(conn, needed, start, end) \
            if start < end else {}
        later = _oldest(conn, needed, end, hour + HOUR) if end < hour + HOUR else {}
        for sid in sids:
            key, metrics = (sid, hour), sid not in members
            rows = _host_rows(found, members[sid]) if sid in members else found.get(sid, [])
            new = [x for x in rows if x.first_at >= low[key]]
            span = Span()
            if add:
                span.add(held[key], metrics)
            for x in new:
                span.add(x, metrics)
            if new or (span.results and not add):
                built.append(span.row(sid, hour))
            elif not add:
                gone.append(key)
            if end < hour + HOUR:
                pending[key] = min((later[m] for m in members.get(sid, [sid]) if m in later), default=hour + HOUR)
    _upsert(conn, rollup_hours, built, gone)
    return pending


def _whole_hours(conn: Connection, groups: list[tuple[datetime, list[int]]], members: dict[int, list[int]]
                 ) -> dict[datetime, dict[int, list[Any]]]:
    """The raw results of closed hours rebuilt whole, per hour and series: one read per run of nearby hours
    (a batch of marks made for a long past, e.g. by migration 0017, is a few series over many hours)."""
    runs: list[list[tuple[datetime, list[int]]]] = []
    for group in groups:  # in hour order
        if runs and group[0] - runs[-1][-1][0] <= 6 * HOUR:
            runs[-1].append(group)
        else:
            runs.append([group])
    out: dict[datetime, dict[int, list[Any]]] = {}
    for run in runs:
        needed = {m for _, sids in run for sid in sids for m in members.get(sid, [sid])}
        out.update({hour: defaultdict(list) for hour, _ in run})
        for sid, rows in _raw(conn, needed, run[0][0], run[-1][0] + HOUR).items():
            for x in rows:
                if (hour := hour_of(x.first_at)) in out:
                    out[hour][sid].append(x)
    return out


def _close_days(conn: Connection, closing: set[Key], names: dict[int, tuple[str, str, str, str]], zone_of: Zone,
                hosts: dict[tuple[str, str], int], before: datetime) -> None:
    """The site-local days holding closed hours: a closed hour that comes after everything in its day's row is
    added to it; else the day is rebuilt from its closed hour rows (from raw results in a zone off by a part
    of an hour)."""
    days: dict[tuple[int, datetime, datetime], set[datetime]] = defaultdict(set)
    for sid, hour in closing:
        zone = zone_of(names[sid][0])
        for at in (hour, hour + HOUR - _US):
            days[(sid, *local_day(at, zone))].add(hour)
    whole = {k for k in days if k[1] == hour_of(k[1]) and k[2] == hour_of(k[2])}
    if len(whole) < len(days):
        members = _members(conn, {k[0] for k in set(days) - whole} & set(hosts.values()), hosts)
        _rebuild(conn, rollup_days, set(days) - whole, members, lambda ids, start, end: _raw(conn, ids, start, end))
    hour_rows = _rows_at(conn, rollup_hours, closing)
    day_rows = _rows_at(conn, rollup_days, {(k[0], k[1]) for k in whole})
    built: list[dict[str, Any]] = []
    rebuild: set[tuple[int, datetime, datetime]] = set()
    for key in sorted(whole):
        span = _appended(day_rows.get((key[0], key[1])), [hour_rows.get((key[0], h)) for h in sorted(days[key])])
        if span is None:
            rebuild.add(key)
        else:
            built.append(span.row(key[0], key[1]))
    _upsert(conn, rollup_days, built, [])
    h = rollup_hours.c

    def hour_rows_of(ids: list[int], start: datetime, end: datetime) -> dict[int, list[Any]]:
        out: dict[int, list[Any]] = defaultdict(list)
        for chunk in _chunks(ids):  # the closed hours only: an open hour's row is not complete
            for r in conn.execute(select(rollup_hours).where(h.series_id.in_(chunk), h.start >= start,
                                                              h.start < min(end, before))
                                  .order_by(h.series_id, h.start)):
                out[r.series_id].append(r)
        return out

    _rebuild(conn, rollup_days, rebuild, {}, hour_rows_of)


def _appended(day: Any, hours: list[Any]) -> Span | None:
    """A day's row with these hours' rows added, if each comes after everything in it (None: rebuild it)."""
    if day is None or any(h is None for h in hours):
        return None
    span = Span()
    span.add(day)
    for h in hours:
        if span.last_at is None or h.first_at <= span.last_at:
            return None
        span.add(h)
    return span


def _rows_at(conn: Connection, table: Table, keys: set[Key]) -> dict[Key, Any]:
    """The rows of ``table`` at these (series, start) keys that exist (a batch is a few series over many
    hours, or many series in an hour: one range read per 500 series either way)."""
    if not keys:
        return {}
    low, high = min(k[1] for k in keys), max(k[1] for k in keys)
    out: dict[Key, Any] = {}
    for chunk in _chunks(sorted({sid for sid, _ in keys})):
        for r in conn.execute(select(table).where(table.c.series_id.in_(chunk), table.c.start >= low,
                                                  table.c.start <= high)):
            if (r.series_id, r.start) in keys:
                out[(r.series_id, r.start)] = r
    return out


def _oldest(conn: Connection, series: list[int], start: datetime, end: datetime) -> dict[int, datetime]:
    """The start of each series' oldest result in [start, end) (series that have one)."""
    r = result_rows.c
    out: dict[int, datetime] = {}
    for chunk in _chunks(series):
        out.update(dict(conn.execute(select(r.series_id, func.min(r.started_at)).where(
            _of_hosts(chunk), r.series_id.in_(chunk), r.started_at >= start, r.started_at < end)
            .group_by(r.series_id)).all()))
    return out


def _of_hosts(series: Sequence[int]) -> Any:
    """``result_rows`` of the hosts of ``series``: what ``ix_result_rows_host_started`` is read by."""
    s, h = result_series.alias("s"), result_series.alias("h")
    hosts = (select(h.c.id).join_from(s, h, and_(h.c.site == s.c.site, h.c.host == s.c.host,
                                                 h.c.check == HOST_ROW, h.c.item == HOST_ROW))
             .where(s.c.id.in_(series)))
    return result_rows.c.host_id.in_(hosts)


def _clear(conn: Connection, done: set[Key], moved: dict[Key, datetime]) -> None:
    """Drop the marks of closed hours; move each open hour's ``since`` to its oldest result left out."""
    d = rollup_dirty.c
    for chunk in _chunks(sorted(done)):
        conn.execute(delete(rollup_dirty).where(tuple_(d.series_id, d.hour).in_(chunk)))
    if moved:
        conn.execute(update(rollup_dirty).where(d.series_id == bindparam("b_sid"), d.hour == bindparam("b_hour"))
                     .values(since=bindparam("b_since")),
                     [{"b_sid": s, "b_hour": h, "b_since": at} for (s, h), at in sorted(moved.items())])


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


def _chunks(values: Sequence[Any], size: int = 500) -> Iterable[Sequence[Any]]:
    for i in range(0, len(values), size):
        yield values[i:i + size]


def _members(conn: Connection, host_ids: set[int], hosts: dict[tuple[str, str], int]) -> dict[int, list[int]]:
    """The series of each host row (its checks' series), in id order."""
    wanted = {k: v for k, v in hosts.items() if v in host_ids}
    s = result_series.c
    out: dict[int, list[int]] = {v: [] for v in wanted.values()}
    for chunk in _chunks(sorted(wanted)):
        q = (select(s.id, s.site, s.host).where(s.host.in_({h for _, h in chunk}), s.check != HOST_ROW)
             .order_by(s.id))
        mine = set(chunk)
        for r in conn.execute(q):
            if (r.site, r.host) in mine:
                out[wanted[(r.site, r.host)]].append(r.id)
    return out


def _raw(conn: Connection, series: Iterable[int], start: datetime, end: datetime) -> dict[int, list[Any]]:
    """The raw results of ``series`` in [start, end) as one-result rows, per series, oldest first."""
    r, t = result_rows.c, result_texts.c
    out: dict[int, list[Any]] = defaultdict(list)
    for chunk in _chunks(sorted(set(series))):
        q = (select(r.series_id, r.id, r.started_at, r.status, r.text_id, r.changed, t.template)
             .join_from(result_rows, result_texts, t.id == r.text_id)
             .where(_of_hosts(chunk), r.series_id.in_(chunk), r.started_at >= start, r.started_at < end))
        for x in conn.execute(q):
            out[x.series_id].append(x)
    return {sid: [one(x.started_at, int(x.status), x.text_id, x.changed, x.template)
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


def newest_hours(conn: Connection, key: tuple[str, str, str, str], count: int) -> datetime | None:
    """The start of the newest rolled-up hours that hold at least ``count`` results of the series ``key`` (site,
    host, check, item); None when the roll-ups hold fewer (none yet, or pruned before the results).

    Every result since then is at least ``count`` of the series' newest: hours not rolled up yet are newer, a
    stale hour counts fewer than it holds (the window only grows), and a pruned result takes every older one
    with it.  A reader of one series' newest results seeks its host's run from here instead of walking it
    all (``ix_result_rows_host_started`` has the series after the time, no seek key)."""
    s = result_series.c
    series = select(s.id).where(s.site == key[0], s.host == key[1], s.check == key[2], s.item == key[3])
    held = 0
    start: datetime  # a Stamp column: an aware datetime
    for start, n in conn.execute(select(rollup_hours.c.start, rollup_hours.c.results)
                                 .where(rollup_hours.c.series_id == series.scalar_subquery())
                                 .order_by(rollup_hours.c.start.desc()).limit(max(1, count))):
        held += n
        if held >= count:
            return start
    return None


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
