"""PostgreSQL: the monthly partitions of result_rows are asked for once per process, and made again when dropped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import event, func, select

from collector.ingest import parse_batch
from collector.store import partitions
from collector.store.db import make_engine, writing
from collector.store.queries import store_new_results
from collector.store.tables import results
from tests.collector.conftest import TEMPLATE_DB, make_batch


def _rows(n: int, start: datetime) -> list[dict[str, Any]]:
    return parse_batch(orjson.dumps({"results": make_batch(n, start=start)}), datetime.now(UTC)).rows


@pytest.fixture
def pg_engine(pg_cluster):
    name = pg_cluster.create_db(template=TEMPLATE_DB)
    engine = make_engine(pg_cluster.url(name))
    try:
        yield engine
    finally:
        engine.dispose()
        pg_cluster.drop_db(name)


def _catalogue_reads(engine: Any) -> list[str]:
    seen: list[str] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "pg_class" in statement:
            seen.append(statement)
    return seen


def test_the_current_month_is_asked_for_once_and_made_again_after_expiry_dropped_it(pg_engine):
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    reads = _catalogue_reads(pg_engine)
    with writing(pg_engine) as conn:  # makes the month (not remembered: a rollback would take it away)
        store_new_results(conn, _rows(2, now))
    with writing(pg_engine) as conn:  # finds it committed: remembered
        store_new_results(conn, _rows(2, now + timedelta(seconds=10)))
    asked = len(reads)
    assert asked >= 2
    with writing(pg_engine) as conn:
        store_new_results(conn, _rows(2, now + timedelta(seconds=20)))
    assert len(reads) == asked  # no catalogue round trip for the next batch
    with writing(pg_engine) as conn:  # a cutoff ahead of now (a wrong clock's) drops the current month
        dropped, removed = partitions.drop_before(conn, now + timedelta(days=62), dry_run=False)
    assert partitions.partition_name(partitions.month_of(now)) in dropped and removed == 6
    with writing(pg_engine) as conn:
        assert len(store_new_results(conn, _rows(2, now))) == 2  # made again, not "no partition for the row"
    with pg_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(results)).scalar_one() == 2


def test_a_month_dropped_by_another_process_fails_one_batch_and_the_resend_is_stored(pg_engine):
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    for second in (0, 1):  # made, then found and remembered
        with writing(pg_engine) as conn:
            store_new_results(conn, _rows(1, now + timedelta(seconds=second)))
    with pg_engine.begin() as conn:  # not through drop_before, as another process would: remembered as present
        conn.exec_driver_sql(f"DROP TABLE {partitions.partition_name(partitions.month_of(now))}")
    rows = _rows(4, now + timedelta(seconds=30))
    with pytest.raises(Exception, match="no partition"), writing(pg_engine) as conn:
        store_new_results(conn, rows)
    with writing(pg_engine) as conn:  # the agent sends the batch again: nothing acknowledged was lost
        assert len(store_new_results(conn, rows)) == 4


def index_columns(conn: Any, table: str) -> list[str]:
    """Each index of ``table`` as its column list (partitions name theirs after the parent's columns)."""
    defs = conn.exec_driver_sql("SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = %(t)s::regclass",
                                {"t": table}).scalars()
    return sorted(d.split(" USING btree ", 1)[1] for d in defs)


def test_a_month_made_after_migration_0019_is_indexed_by_host_as_the_parent_is(pg_engine):
    # create_parent is migration 0013's table (series index); 0019 moved the parent to the host index, and
    # PostgreSQL gives every partition made later the parent's indexes: one definition, in the migrations
    month = partitions.month_of(datetime(2031, 3, 5, tzinfo=UTC))
    with writing(pg_engine) as conn:
        partitions.ensure_months(conn, [month])
    with pg_engine.connect() as conn:
        parent, child = index_columns(conn, "result_rows"), index_columns(conn, partitions.partition_name(month))
    assert parent == child == ["(host_id, started_at, series_id)", "(id, started_at)", "(uid, started_at)"]
