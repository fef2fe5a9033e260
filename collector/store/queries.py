"""The SQL the collector runs: ingest writes and the reads behind the API and /metrics.

Writes are race-safe across several collector processes on one database:
results are inserted with ``ON CONFLICT (uid) DO NOTHING`` (see
:func:`store_new_results` for how each backend knows what it stored), and the latest state is
upserted only when the incoming result started later than the stored one
(or the stored one is dated beyond the collector's credible bound).
Rows are written in a fixed order (by uid, by key) so two concurrent
batches never wait on each other in a cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from itertools import chain, compress
from operator import itemgetter
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Dialect, Engine, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from collector.store import compact, partitions, rollups
from collector.store.compact import micros
from collector.store.db import per_transaction, pipelined
from collector.store.tables import health_probe, hosts, latest, result_rows, result_series, result_texts, results

__all__ = [
    "HostState",
    "Raced",
    "existing_uids",
    "index_probes_only",
    "store_new_results",
    "series_ids",
    "template_ids",
    "time_processor",
    "upsert_latest",
    "touch_host",
    "find_results",
    "host_states",
    "latest_states",
    "host_latest",
    "result_details",
    "ping",
    "write_probe",
]

_LATEST_KEY = ("site", "host", "check", "item")
_LATEST_VALUES = ("status", "summary", "standard", "result_uid", "started_at", "received_at", "metrics", "messages")


def _insert(conn: Connection, table: Any) -> Any:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


_ROW_COLUMNS = ("uid", "series_id", "status", "started_at", "received_at", "duration_us", "text_id", "changed",
                "host_id")
_QUOTED_COLUMNS = ", ".join(f'"{c}"' for c in _ROW_COLUMNS)
_SQLITE_INSERT_HEAD = f"INSERT INTO result_rows ({_QUOTED_COLUMNS}) VALUES "
_SQLITE_ROW = f"({', '.join('?' * len(_ROW_COLUMNS))})"
_SQLITE_INSERT_TAIL = " ON CONFLICT (uid) DO NOTHING RETURNING uid"


def existing_uids(conn: Connection, uids: Sequence[str]) -> set[str]:
    """Which of ``uids`` are stored already (one indexed query; on PostgreSQL the rest of the transaction
    plans without sequential scans)."""
    if not uids:
        return set()
    if conn.dialect.name == "postgresql":
        return _existing_uids_pg(conn, uids)
    return set(conn.execute(select(result_rows.c.uid).where(result_rows.c.uid.in_(uids))).scalars())


# One array parameter, sent binary: a 500-value IN list cost PostgreSQL a fresh plan each time, and a text array
# an escaped value each.  A month's partition has no statistics until autovacuum has analysed it (a new month,
# a new collector): the planner then took ``uid = ANY`` of 500 ids for every row and scanned the whole partition
# for each batch (55 ms a batch at 400,000 rows in bench/ingest.py) — an index probe is always right here.
# The setting is left on for the rest of the transaction (a statement fewer a batch): what an ingest runs after
# the lookup is inserts and reads by key, which have their index anyway.  The ingest's first statement (the hosts'
# ticket locks, collector.store.tickets.lock_hosts) turns it off already (:func:`index_probes_only`): the lookup is
# then one statement, not a pipeline of two (a pipeline cost psycopg more CPU than two statements).
_PG_PRESENT = ("SET LOCAL enable_seqscan = off", "SELECT uid FROM result_rows WHERE uid = ANY(%b::bytea[])")
_PROBES_ONLY = per_transaction("wardround_enable_seqscan_off")  # in Connection.info: set in this transaction


def index_probes_only(conn: Connection) -> str:
    """PostgreSQL: an expression that turns sequential scans off for the rest of ``conn``'s transaction (as
    :func:`existing_uids` needs), for a statement that runs before it; noted, so the lookup does not again."""
    conn.info[_PROBES_ONLY] = True
    return "set_config('enable_seqscan', 'off', true)"


def _existing_uids_pg(conn: Connection, uids: Sequence[str]) -> set[str]:
    # the DBAPI connection, typed Optional, is open here
    from collector.store.pg_arrays import array  # PostgreSQL only: make_engine imported it

    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]  # see above
    present = [array("bytea", list(map(bytes.fromhex, uids)))]
    try:
        if conn.info.get(_PROBES_ONLY):
            cursor.execute(_PG_PRESENT[1], present)
        else:
            with pipelined(conn):  # the setting and the lookup: one round trip
                cursor.execute(_PG_PRESENT[0])
                cursor.execute(_PG_PRESENT[1], present)
        found = {bytes(uid).hex() for (uid,) in cursor.fetchall()}
    finally:
        cursor.close()
    return found


class Raced(Exception):
    """Another transaction stored one of the ids this one looked up as absent, at the same moment: the
    insert without an arbiter failed and this transaction is lost (:func:`store_new_results`' ``first_try``)."""


def store_new_results(conn: Connection, rows: Sequence[dict[str, Any]], *, first_try: bool = False) -> set[str]:
    """Store the rows whose uid is not stored yet; return the uids this transaction stored.

    Each row is stored compactly (:mod:`collector.store.compact`): its series and
    text template are looked up (and added if new, ``ON CONFLICT DO NOTHING``, in
    sorted order) first.  This is the hot path, so the rows go to the driver directly:

    * SQLite: the uid alone is the key, so the rows go in with multi-row ``INSERT ... ON CONFLICT
      (uid) DO NOTHING RETURNING uid`` statements (:data:`SQLITE_ROWS_PER_INSERT` rows each, no
      SELECT of present ids first): what comes back is exactly what this transaction stored.
    * PostgreSQL: the ids already stored are looked up first (the key there is (uid, started_at),
      partitioned by month: a resent result with another start time must not be stored again);
      the new rows go in with one ``INSERT ... SELECT FROM unnest(arrays) ... ON CONFLICT (uid,
      started_at) DO NOTHING RETURNING uid`` (into the month's partition, made if
      missing: :mod:`collector.store.partitions`); what comes back is exactly what this
      transaction stored, even when another collector stores the same ids
      at the same moment.  With ``first_try`` the insert has no ``ON CONFLICT``: the rows the lookup
      found absent are new unless another transaction stores one of them at this very moment (the
      ingest holds each host's ticket lock, so only for an id sent for two hosts at once).  Then the
      insert fails (after that transaction commits: the unique index waits for it) and :class:`Raced` is
      raised; the transaction is lost, and the caller runs it again without ``first_try``.  The arbiter
      costs the server a speculative insertion a row (about 1.5 us of its CPU and 48 bytes of WAL a result).

    The (series, hour) of each stored row is marked for the roll-up job
    (:func:`collector.store.rollups.mark_dirty`) in the same transaction; on PostgreSQL by the insert
    itself (:func:`collector.store.rollups.marks_pg`).
    """
    if not rows:
        return set()
    if conn.dialect.name != "postgresql":
        columns = _compact_columns(conn, sorted(rows, key=_UID))
        stored = _insert_results_sqlite(conn, columns)
        marks: Iterable[tuple[int, datetime]] = zip(columns[1], columns[3], strict=True)  # (series, started_at)
        if len(stored) < len(rows):
            marks = compress(marks, [uid in stored for uid in columns[0]])
        rollups.mark_dirty(conn, marks)
        return stored
    # before anything else: making a month's partition waits for every transaction that read result_rows,
    # so it must not hold a row (a new template) another one of those waits for (a deadlock otherwise)
    partitions.ensure_months(conn, set(map(_STARTED, rows)))
    present = existing_uids(conn, list(map(_UID, rows)))
    fresh = [r for r in rows if r["uid"] not in present] if present else rows  # (the insert sorts them by uid)
    if not fresh:
        return set()
    columns = _compact_columns(conn, fresh)
    from psycopg.errors import UniqueViolation  # loaded already: this connection is psycopg's

    try:
        return _insert_results_pg(conn, columns, arbiter=not first_try)
    except UniqueViolation as exc:  # only without the arbiter: an id stored by another transaction just now
        raise Raced(str(exc)) from exc
    except Exception:  # e.g. no partition for a row: a month remembered as present was dropped by someone
        partitions.forget()
        raise


SQLITE_ROWS_PER_INSERT = 500  # 4,500 parameters a statement (SQLite allows 32,766)


def _insert_results_sqlite(conn: Connection, columns: list[Sequence[Any]]) -> set[str]:
    """Insert the rows of ``columns`` (the write transaction holds SQLite's one write lock); the uids stored."""
    # the DBAPI connection, typed Optional, is open here
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]  # see above
    uids, series, status, started, received, duration, text_ids, changed, host_ids = columns
    times = {at: micros(at) for at in {*started, *received}}  # a batch holds a few distinct times
    rows = list(zip(map(bytes.fromhex, uids), series, status, map(times.__getitem__, started),
                    map(times.__getitem__, received), duration, text_ids, changed, host_ids, strict=True))
    stored: set[str] = set()
    try:
        for at in range(0, len(rows), SQLITE_ROWS_PER_INSERT):
            chunk = rows[at:at + SQLITE_ROWS_PER_INSERT]
            cursor.execute(_SQLITE_INSERT_HEAD + ", ".join([_SQLITE_ROW] * len(chunk)) + _SQLITE_INSERT_TAIL,
                           list(chain.from_iterable(chunk)))
            stored.update(uid.hex() for (uid,) in cursor.fetchall())
    finally:
        cursor.close()
    return stored


def _compact_rows(conn: Connection, rows: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Each row as a ``result_rows`` tuple (uid still hex, times as datetimes)."""
    return list(zip(*_compact_columns(conn, rows), strict=True))


def _compact_columns(conn: Connection, rows: Sequence[dict[str, Any]]) -> list[Sequence[Any]]:
    """The rows as ``result_rows``' columns (:data:`_ROW_COLUMNS`; uid still hex, times as datetimes).

    A batch repeats a few hosts, series and texts: each distinct one is looked up (and packed) once.  Each row's
    dict is read once, all its fields together (a pass over the batch's dicts a field cost more than the lookups:
    the memory each touches), and the columns are mapped through those lookups in C, not built a row at a time."""
    if not rows:
        return [[] for _ in _ROW_COLUMNS]
    uids, sites, hosts, checks, items, status, started, received, durations, *texts = _fields(rows)
    keys = list(zip(sites, hosts, checks, items, strict=True))
    distinct = set(keys)
    whole = {(site, host): (site, host, rollups.HOST_ROW, rollups.HOST_ROW) for site, host, _, _ in distinct}
    series = series_ids(conn, distinct.union(whole.values()))
    host_series = {key: series[host] for key, host in whole.items()}
    text_ids, changed = _packed_texts(conn, list(zip(*texts, strict=True)))
    micros = {ms: round(ms * 1000) for ms in set(durations)}
    return [uids, list(map(series.__getitem__, keys)), status, started, received,
            list(map(micros.__getitem__, durations)), text_ids, changed,
            list(map(host_series.__getitem__, zip(sites, hosts, strict=True)))]


_FIELDS = ("uid", "site", "host", "check", "item", "status", "started_at", "received_at", "duration_ms")
_ROW_FIELDS = itemgetter(*_FIELDS, *compact.TEXTS)
_REQUIRED_FIELDS = itemgetter(*_FIELDS)


def _fields(rows: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """The columns of ``rows``' :data:`_FIELDS` and :data:`compact.TEXTS` (a text a row lacks or holds as None:
    an empty text), each row read once."""
    try:
        return list(zip(*map(_ROW_FIELDS, rows), strict=True))
    except KeyError:  # rows made elsewhere than the ingest (a migration's, a test's) may leave texts out
        return list(zip(*[(*_REQUIRED_FIELDS(r), *map(r.get, compact.TEXTS)) for r in rows], strict=True))


def _packed_texts(conn: Connection, texts: list[tuple[str | None, ...]]) -> tuple[list[int], list[str]]:
    """The ``result_texts`` id and the changed numbers of each row's texts; each distinct texts packed once."""
    distinct: dict[tuple[str | None, ...], Any] = dict.fromkeys(texts)
    packs = list(map(compact.packed, distinct))
    templates = template_ids(conn, {key: (skeletons, numbers) for key, skeletons, numbers in reversed(packs)})
    for t, (key, _, numbers) in zip(distinct, packs, strict=True):
        text_id, defaults = templates[key]
        distinct[t] = (text_id, compact.packed_diff(t, defaults, numbers))
    found = list(map(distinct.__getitem__, texts))
    return list(map(_FIRST, found)), list(map(_SECOND, found))


_UID = itemgetter("uid")
_FIRST = itemgetter(0)
_SECOND = itemgetter(1)


def series_ids(conn: Connection, keys: set[tuple[str, str, str, str]]) -> dict[tuple[str, str, str, str], int]:
    """The ``result_series`` id of each (site, host, check, item), adding the new ones."""
    seen = _seen(conn, _SERIES_SEEN)
    if keys <= seen.keys():
        return {k: seen[k] for k in keys}

    def known() -> dict[tuple[str, str, str, str], int]:
        s = result_series.c
        q = select(s.id, s.site, s.host, s.check, s.item).where(
            s.site.in_(sorted({k[0] for k in keys})), s.host.in_(sorted({k[1] for k in keys})))
        return {(r.site, r.host, r.check, r.item): r.id for r in conn.execute(q)}

    found = _remember(conn, seen, known())
    missing = sorted(keys - found.keys())
    if missing:
        conn.info[_ADDED] = True
        conn.execute(_insert(conn, result_series).on_conflict_do_nothing(),
                     [{"site": k[0], "host": k[1], "check": k[2], "item": k[3]} for k in missing])
        found = known()
    return found


def template_ids(conn: Connection, packs: dict[bytes, tuple[compact.Skeletons, list[str]]]
                 ) -> dict[bytes, tuple[int, list[str]]]:
    """The ``result_texts`` id and default numbers of each template, adding the new ones."""
    seen = _seen(conn, _TEMPLATES_SEEN)
    if packs.keys() <= seen.keys():
        return {k: seen[k] for k in packs}

    def known() -> dict[bytes, tuple[int, list[str]]]:
        t = result_texts.c
        q = select(t.id, t.digest, t.template).where(t.digest.in_(sorted(packs)))
        return {bytes(r.digest): (r.id, compact.defaults(r.template)) for r in conn.execute(q)}

    found = _remember(conn, seen, known())
    missing = sorted(packs.keys() - found.keys())
    if missing:
        conn.info[_ADDED] = True
        conn.execute(_insert(conn, result_texts).on_conflict_do_nothing(),
                     [{"digest": k, "template": compact.template_text(*packs[k])} for k in missing])
        found = known()
    return found


# Series and templates are never changed or deleted once stored, so their ids are remembered per engine —
# only ids read before this transaction added any (those rows are committed: a rollback cannot take them away).
_SERIES_SEEN: WeakKeyDictionary[Engine, dict[Any, Any]] = WeakKeyDictionary()
_TEMPLATES_SEEN: WeakKeyDictionary[Engine, dict[Any, Any]] = WeakKeyDictionary()
_SEEN_KEPT = 200_000
_ADDED = per_transaction("wardround_added_series_or_templates")  # in Connection.info until the transaction ends


def _seen(conn: Connection, table: WeakKeyDictionary[Engine, dict[Any, Any]]) -> dict[Any, Any]:
    seen = table.setdefault(conn.engine, {})
    if len(seen) > _SEEN_KEPT:
        seen.clear()
    return seen


def _remember(conn: Connection, seen: dict[Any, Any], found: dict[Any, Any]) -> dict[Any, Any]:
    if not conn.info.get(_ADDED):
        seen.update(found)
    return found


def _insert_results_pg(conn: Connection, columns: list[Sequence[Any]], arbiter: bool) -> set[str]:
    """One statement: the rows' ``columns`` as one binary array each, in uid order, and their roll-up marks; the
    uids stored (with the arbiter those it returns; without, all of them: else the statement failed)."""
    from collector.store.pg_arrays import array  # PostgreSQL only: make_engine imported it

    uids = columns[0]
    arrays = [array(t, c) for t, c in zip(_ROW_TYPES_PG, [list(map(bytes.fromhex, uids)), *columns[1:]], strict=True)]
    # the DBAPI connection, typed Optional, is open here
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]  # see above
    try:
        cursor.execute(_insert_rows_pg(arbiter), arrays)
        return {bytes(uid).hex() for (uid,) in cursor.fetchall()} if arbiter else set(uids)
    finally:
        cursor.close()


# %b: binary arrays (packed by pg_arrays), no escaping and no text parsing on the server; the types are
# result_rows' (_ROW_COLUMNS).
# (COPY into a temporary staging table, then INSERT ... SELECT from it, cost the server about 2.5 us and the
# collector 1-3 us a row more, measured in process: the staging rows were written, read and truncated.)
_ROW_TYPES_PG = ("bytea", "integer", "smallint", "timestamptz", "timestamptz", "bigint", "integer", "text",
                 "integer")


def _insert_rows_pg(arbiter: bool) -> str:
    """The insert (with ``ON CONFLICT`` when ``arbiter``), its roll-up marks made from what it stored."""
    return (f"WITH stored AS (INSERT INTO result_rows ({_QUOTED_COLUMNS}) SELECT * FROM unnest("
            + ", ".join(f"%b::{t}[]" for t in _ROW_TYPES_PG) + f") AS r ({_QUOTED_COLUMNS}) ORDER BY uid"
            + (" ON CONFLICT (uid, started_at) DO NOTHING" if arbiter else "")
            + f" RETURNING uid, series_id, started_at), marked AS ({rollups.marks_pg('stored')}) "
            + ("SELECT uid FROM stored" if arbiter else "SELECT"))


def upsert_latest(conn: Connection, rows: Iterable[dict[str, Any]], *, credible_until: datetime) -> None:
    """Make each row the latest state of its item unless a later one is stored.

    A stored state that started after ``credible_until`` (a bad clock's, see
    :mod:`collector.dates`) is not later than anything: the row replaces it.
    """
    newest = newest_by_item(rows)
    if not newest:
        return
    ordered = [newest[k] for k in sorted(newest)]
    # the ingest hot path: straight to the driver, times converted by the column type's own processor,
    # once for each of the batch's few distinct times
    when = time_processor(conn.dialect)
    # the DBAPI connection, typed Optional, is open here
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]  # see above
    try:
        if conn.dialect.name == "postgresql":  # one array a column: a short statement psycopg parses once
            from collector.store.pg_arrays import array  # PostgreSQL only: make_engine imported it

            try:  # the columns taken in C (pg_arrays converts the times)
                columns = [list(c) for c in zip(*map(_LATEST_ROW, ordered), strict=True)]
            except KeyError:  # rows made elsewhere than the ingest may leave the messages out
                columns = [list(c) for c in zip(*[(*_LATEST_ROW_LEFT(r), r.get("messages")) for r in ordered],
                                                strict=True)]
            columns[-1] = [m or None for m in columns[-1]]  # no messages: NULL
            cursor.execute(_UPSERT_LATEST_PG, [array(t, column) for t, column in zip(
                _LATEST_PG_TYPES, columns, strict=True)] + [when(credible_until)])
            return
        stamp = _memo(when)
        values: list[tuple[Any, ...]] = [
            (*_ITEM_KEY(r), r["status"], r["summary"], r["standard"], r["uid"], stamp(r["started_at"]),
             stamp(r["received_at"]), r["metrics"], r.get("messages") or None) for r in ordered]
        for at in range(0, len(values), _LATEST_ROWS_PER_UPSERT):
            chunk = values[at:at + _LATEST_ROWS_PER_UPSERT]
            cursor.execute(_upsert_latest_sql(len(chunk)), [*chain.from_iterable(chunk), when(credible_until)])
    finally:
        cursor.close()


def newest_by_item(rows: Iterable[dict[str, Any]]) -> dict[tuple[str, ...], dict[str, Any]]:
    """Each (site, host, check, item)'s row that started last; of rows that started at once, the first.

    Ordered by start time, ties latest-first (a stable sort of the reversed rows), so the row each key
    keeps is the last one written to the dict: the sort and the keys run in C, not a comparison a row.
    """
    ordered = sorted(reversed(list(rows)), key=_STARTED)
    return dict(zip(map(_ITEM_KEY, ordered), ordered, strict=True))


_STARTED = itemgetter("started_at")
_ITEM_KEY = itemgetter("site", "host", "check", "item")
# a row's latest columns (_LATEST_KEY, _LATEST_VALUES: the row's uid is the latest's result_uid)
_LATEST_ROW_LEFT = itemgetter("site", "host", "check", "item", "status", "summary", "standard", "uid", "started_at",
                              "received_at", "metrics")
_LATEST_ROW = itemgetter("site", "host", "check", "item", "status", "summary", "standard", "uid", "started_at",
                         "received_at", "metrics", "messages")
_LATEST_ROWS_PER_UPSERT = 500  # 6,000 parameters a statement


def _memo(process: Callable[[datetime], Any]) -> Callable[[datetime], Any]:
    done: dict[datetime, Any] = {}

    def convert(value: datetime) -> Any:
        held = done.get(value)
        if held is None:
            held = done[value] = process(value)
        return held
    return convert


@lru_cache(maxsize=8)
def time_processor(dialect: Dialect) -> Callable[[datetime], Any]:
    """How a ``UTCDateTime`` value goes to this dialect's driver: SQLAlchemy's own conversion."""
    process = latest.c.started_at.type.dialect_impl(dialect).bind_processor(dialect)
    if process is None:  # pragma: no cover  # UTCDateTime always converts
        raise TypeError("UTCDateTime has no bind processor")
    return process


_LATEST_NAMES = ", ".join(f'"{c}"' for c in (*_LATEST_KEY, *_LATEST_VALUES))
_LATEST_UPDATE = (f"ON CONFLICT ({', '.join(f'{chr(34)}{c}{chr(34)}' for c in _LATEST_KEY)}) DO UPDATE SET "
                  + ", ".join(f'"{c}" = excluded."{c}"' for c in _LATEST_VALUES)
                  + ' WHERE excluded."started_at" > latest."started_at" OR latest."started_at" > {mark}')
_LATEST_PG_TYPES = ("text", "text", "text", "text", "smallint", "text", "text", "text", "timestamptz", "timestamptz",
                    "text", "text")
_UPSERT_LATEST_PG = (f"INSERT INTO latest ({_LATEST_NAMES}) SELECT * FROM unnest("
                     + ", ".join(f"%b::{t}[]" for t in _LATEST_PG_TYPES) + ") "  # %b: binary, no escaping
                     + _LATEST_UPDATE.format(mark="%s"))


@lru_cache(maxsize=64)
def _upsert_latest_sql(n: int) -> str:
    """SQLite's ``INSERT INTO latest`` of ``n`` rows: a row replaces the stored one if it started later, or if
    that one started after the credible bound (the statement's last parameter)."""
    row = f"({', '.join(['?'] * (len(_LATEST_KEY) + len(_LATEST_VALUES)))})"
    return f"INSERT INTO latest ({_LATEST_NAMES}) VALUES {', '.join([row] * n)} {_LATEST_UPDATE.format(mark='?')}"


def touch_host(conn: Connection, *, site: str, host: str, seen: datetime,
               clock_offset_s: float | None, spool_backlog: int | None,
               agent_version: str | None, config_version: str | None = None) -> None:
    """Record that the agent of ``site``/``host`` reported at ``seen``; ``last_seen`` never moves back.

    Two collectors may store two batches of one host in either order (and a
    collector's clock may be off), so the newer time wins, never the later write.
    """
    reported = {"clock_offset_s": clock_offset_s, "spool_backlog": spool_backlog, "agent_version": agent_version,
                "config_version": config_version}
    # What the agent did not report stays as last reported.  Once a batch: straight to the driver (through
    # SQLAlchemy the statement cost about 0.3 ms of CPU a call).
    sql = _touch_host_sql(conn.dialect.name, tuple(k for k, v in reported.items() if v is not None))
    when = time_processor(conn.dialect)(seen)
    # the DBAPI connection, typed Optional, is open here
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]  # see above
    try:
        cursor.execute(sql, (site, host, when, when, *reported.values()))
    finally:
        cursor.close()


_HOST_COLUMNS = ("site", "host", "first_seen", "last_seen", "clock_offset_s", "spool_backlog", "agent_version",
                 "config_version")


@lru_cache(maxsize=64)
def _touch_host_sql(dialect: str, updated: tuple[str, ...]) -> str:
    """:func:`touch_host`'s statement (it runs once a batch): ``updated`` are the facts reported."""
    mark, newer = ("%s", "greatest") if dialect == "postgresql" else ("?", "max")  # SQLite's max(a, b) is scalar
    sets = ", ".join([f"last_seen = {newer}(hosts.last_seen, excluded.last_seen)",
                      *(f"{name} = excluded.{name}" for name in updated)])
    return (f"INSERT INTO hosts ({', '.join(_HOST_COLUMNS)}) VALUES ({', '.join([mark] * len(_HOST_COLUMNS))}) "
            f"ON CONFLICT (site, host) DO UPDATE SET {sets}")


def find_results(conn: Connection, *, site: str | None = None, host: str | None = None,
                 check: str | None = None, since: datetime | None = None,
                 until: datetime | None = None, limit: int = 100) -> list[Any]:
    """Stored results matching the filters, newest (by started_at) first."""
    q = select(results)
    if site is not None:
        q = q.where(results.c.site == site)
    if host is not None:
        q = q.where(results.c.host == host)
    if check is not None:
        q = q.where(results.c.check == check)
    if since is not None:
        q = q.where(results.c.started_at >= since)
    if until is not None:
        q = q.where(results.c.started_at < until)
    q = q.order_by(results.c.started_at.desc(), results.c.id.desc()).limit(limit)
    return list(conn.execute(q))


@dataclass(frozen=True, slots=True)
class HostState:
    site: str
    host: str
    first_seen: datetime
    last_seen: datetime
    clock_offset_s: float | None
    spool_backlog: int | None
    agent_version: str | None
    statuses: dict[int, int]  # status code -> number of check items in it


def host_states(conn: Connection) -> list[HostState]:
    """Every host that reported, with a count of its current check items per status."""
    counts: dict[tuple[str, str], dict[int, int]] = {}
    q = select(latest.c.site, latest.c.host, latest.c.status, func.count()).group_by(
        latest.c.site, latest.c.host, latest.c.status)
    for site, host, status, n in conn.execute(q):
        counts.setdefault((site, host), {})[int(status)] = int(n)
    out = []
    for row in conn.execute(select(hosts).order_by(hosts.c.site, hosts.c.host)):
        out.append(HostState(
            site=row.site, host=row.host, first_seen=row.first_seen, last_seen=row.last_seen,
            clock_offset_s=row.clock_offset_s, spool_backlog=row.spool_backlog,
            agent_version=row.agent_version, statuses=counts.get((row.site, row.host), {})))
    return out


def latest_states(conn: Connection) -> list[Any]:
    """The current state of every check item (site, host, check, item, status, metrics)."""
    q = select(latest.c.site, latest.c.host, latest.c.check, latest.c.item, latest.c.status,
               latest.c.metrics)
    return list(conn.execute(q))


def host_latest(conn: Connection, site: str, host: str) -> list[Any]:
    """The latest result of each check item of ``site``/``host``, by check and item (the host page)."""
    q = (select(latest).where(latest.c.site == site, latest.c.host == host)
         .order_by(latest.c.check, latest.c.item))
    return list(conn.execute(q))


def result_details(conn: Connection, uids: Sequence[str]) -> dict[str, str]:
    """The details (JSON text) of the results ``uids``."""
    if not uids:
        return {}
    return {uid: raw for uid, raw in conn.execute(select(results.c.uid, results.c.details)
                                                  .where(results.c.uid.in_(uids)))}


def write_probe(conn: Connection, at: float, pad: bytes) -> None:
    """The health monitor's write probe: rewrite its one row (/healthz's "the database stores")."""
    conn.execute(update(health_probe).where(health_probe.c.id == 1).values(at=at, pad=pad))


def ping(conn: Connection) -> None:
    conn.exec_driver_sql("SELECT 1").scalar()
