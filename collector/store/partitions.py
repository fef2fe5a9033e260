"""PostgreSQL: ``result_rows`` is range-partitioned by ``started_at``, one partition per month (UTC).

A partition is made when the first result of its month is stored
(:func:`ensure_months`, under an advisory lock so two collectors do not race
on the catalogue), and expiry drops the partitions that lie wholly before the
retention's cutoff (:func:`drop_before`) instead of deleting their rows; the
partition the cutoff falls in is pruned row by row like SQLite.  The unique
key is ``(uid, started_at)`` (a partitioned table's unique keys hold its
partition key); a resent result carries the same id and start time, so the
``ON CONFLICT`` of ingest still stores each result once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine

from collector.store.db import per_transaction

__all__ = ["create_parent", "drop_before", "ensure_months", "forget", "month_of", "partition_name"]

PARTITION_LOCK_KEY = 0x57415244 + 17  # beside the migration lock ("WARD")


def month_of(at: datetime) -> datetime:
    at = at.astimezone(UTC)
    return datetime(at.year, at.month, 1, tzinfo=UTC)


def _upper_sql(month: datetime) -> str:
    """The partition's exclusive upper bound; December 9999 (a bad clock's, stored before 0013) has none."""
    if month.year == 9999 and month.month == 12:
        return "MAXVALUE"
    return f"'{_next_month(month).isoformat()}'"


def _next_month(month: datetime) -> datetime:
    return datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=UTC)


def partition_name(month: datetime) -> str:
    return f"result_rows_{month.year:04d}_{month.month:02d}"


def create_parent(conn: Connection) -> None:
    """The partitioned ``result_rows`` as migration 0013 made it (later migrations change the parent).

    Its indexes are the parent's: PostgreSQL gives each partition made later (:func:`ensure_months`) the
    indexes the parent has then, so a month made after 0019 has ``ix_result_rows_host_started`` and not
    0013's series index, which 0019 dropped.  Nothing here names an index a second time."""
    conn.exec_driver_sql(
        "CREATE TABLE result_rows ("
        " id BIGSERIAL NOT NULL, started_at TIMESTAMP WITH TIME ZONE NOT NULL,"
        " received_at TIMESTAMP WITH TIME ZONE NOT NULL, duration_us BIGINT NOT NULL,"
        " series_id INTEGER NOT NULL, text_id INTEGER NOT NULL, status SMALLINT NOT NULL,"
        " uid BYTEA NOT NULL, changed TEXT NOT NULL,"
        " CONSTRAINT result_rows_pkey PRIMARY KEY (id, started_at),"
        " CONSTRAINT result_rows_uid_key UNIQUE (uid, started_at)"
        ") PARTITION BY RANGE (started_at)")
    conn.exec_driver_sql("CREATE INDEX ix_result_rows_series_started ON result_rows (series_id, started_at)")


def ensure_months(conn: Connection, times: Iterable[datetime]) -> None:
    """Make the monthly partitions that ``times`` fall in, where missing."""
    # (year, month) first: a batch holds hundreds of times and few months (month_of per time was 1 % of ingest)
    months = sorted(datetime(y, m, 1, tzinfo=UTC) for y, m in {(u.year, u.month) for u in
                                                               (t.astimezone(UTC) for t in times)})
    known = _present.setdefault(conn.engine, set())
    missing = [m for m in months if m not in known and not _exists(conn, partition_name(m))]
    # Remembered: a partition found, committed before this transaction, that no expiry can drop yet -- it ends
    # after now, and expiry drops only months wholly before its cutoff, which is in the past.  A batch then asks
    # the catalogue nothing (a round trip each, about 1.5 % of ingest's CPU in process).
    if not conn.info.get(_MADE):
        now = datetime.now(UTC)
        known.update(m for m in months if m not in missing and (m.year == 9999 or _next_month(m) > now))
    if not missing:  # the usual case
        return
    conn.info[_MADE] = True  # until the transaction ends: a rollback takes the new partition away again
    conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PARTITION_LOCK_KEY})")
    for month in missing:
        name = partition_name(month)
        if not _exists(conn, name):  # another collector may have made it while we waited
            conn.exec_driver_sql(
                f"CREATE TABLE {name} PARTITION OF result_rows FOR VALUES FROM "
                f"('{month.isoformat()}') TO ({_upper_sql(month)})")


def _exists(conn: Connection, name: str) -> bool:
    # pg_class read with the statement's snapshot: to_regclass looks in the catalogue cache, which taking an
    # advisory lock does not refresh, so after waiting for another collector's new partition it still missed it
    return bool(conn.exec_driver_sql("SELECT EXISTS (SELECT 1 FROM pg_class WHERE relname = %(n)s "
                                     "AND relnamespace = current_schema()::regnamespace)", {"n": name}).scalar())


_present: WeakKeyDictionary[Engine, set[datetime]] = WeakKeyDictionary()  # months known to have a partition


_MADE = per_transaction("wardround_made_partition")  # in Connection.info until the transaction ends


def forget() -> None:
    """Ask the catalogue again for every month (a partition was dropped, or an insert failed)."""
    _present.clear()


def drop_before(conn: Connection, cutoff: datetime, dry_run: bool) -> tuple[list[str], int]:
    """Drop (or with ``dry_run`` only count) the partitions wholly before ``cutoff``: (names, rows)."""
    forget()  # a cutoff in the future (a test's, a wrong clock's) drops a month remembered as present
    rows = conn.exec_driver_sql(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'result_rows'::regclass").all()
    names, count = [], 0
    for name, bound in rows:
        upper = _upper(bound)
        if upper is not None and upper <= cutoff:
            names.append(name)
            count += int(conn.exec_driver_sql(f"SELECT count(*) FROM {name}").scalar() or 0)
            if not dry_run:
                conn.exec_driver_sql(f"DROP TABLE {name}")
    return sorted(names), count


def _upper(bound: str) -> datetime | None:
    """The upper bound of ``FOR VALUES FROM ('...') TO ('...')``."""
    try:
        text = bound.split(" TO ('", 1)[1].split("')", 1)[0]
        return datetime.fromisoformat(text).astimezone(UTC)
    except (IndexError, ValueError):
        return None
