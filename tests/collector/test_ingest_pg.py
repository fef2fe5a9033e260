"""PostgreSQL's ingest insert: new rows go in without an arbiter first, a race is stored again with it, and the
roll-up marks the insert makes itself are :func:`collector.store.rollups.mark_dirty`'s."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select

from collector.auth import Agent
from collector.ingest import Batch, Ingestor, parse_batch
from collector.store import queries, rollups
from collector.store.db import make_engine, writing
from collector.store.rollup_tables import rollup_dirty
from collector.store.tables import result_rows
from tests.collector.conftest import HOST, SITE, TEMPLATE_DB, make_batch

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url(pg_cluster):
    name = pg_cluster.create_db(template=TEMPLATE_DB)
    try:
        yield pg_cluster.url(name)
    finally:
        pg_cluster.drop_db(name)


def _batch(n: int, start: datetime) -> Batch:
    return parse_batch(orjson.dumps({"results": make_batch(n, start=start)}), datetime.now(UTC))


def _waiting_on_a_lock(engine: Any) -> bool:
    with engine.connect() as conn:
        return bool(conn.exec_driver_sql("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                         "AND wait_event_type = 'Lock'").scalar())


def test_an_id_another_transaction_stores_at_that_moment_is_a_duplicate_not_a_second_row(pg_url, monkeypatch):
    engine = make_engine(pg_url)
    tries: list[bool] = []
    store = queries.store_new_results

    def spied(conn: Any, rows: Any, *, first_try: bool = False) -> set[str]:
        tries.append(first_try)
        return store(conn, rows, first_try=first_try)

    monkeypatch.setattr(queries, "store_new_results", spied)
    try:
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
        with writing(engine) as conn:  # the month's partition, made and committed (its making waits otherwise)
            store(conn, _batch(1, start - timedelta(minutes=1)).rows)
        batch = _batch(3, start)
        raced = batch.rows[1]
        outcome: list[Any] = []
        errors: list[BaseException] = []

        def ingest() -> None:
            try:
                outcome.append(Ingestor(engine).store(Agent(site=SITE, host=HOST), batch))
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                errors.append(exc)

        other = writing(engine)
        conn = other.__enter__()
        try:  # the other transaction holds one of the batch's ids, not committed yet
            assert store(conn, [dict(raced)]) == {raced["uid"]}
            thread = threading.Thread(target=ingest)
            thread.start()
            deadline = time.monotonic() + 30
            while not _waiting_on_a_lock(engine):  # the insert waits on the other's row
                assert time.monotonic() < deadline and thread.is_alive(), errors
                time.sleep(0.02)
        finally:
            other.__exit__(None, None, None)  # commits: the waiting insert fails, the transaction runs again
        thread.join(timeout=30)
        assert errors == [] and tries == [True, False]  # raced without the arbiter, then again with it
        assert outcome[0].accepted == [batch.ids[0], batch.ids[2]] and outcome[0].duplicates == [raced["uid"]]
        with engine.connect() as c:
            assert c.execute(select(func.count()).select_from(result_rows)).scalar_one() == 4
    finally:
        engine.dispose()


def test_the_marks_the_insert_makes_are_mark_dirtys_in_any_session_time_zone(pg_url):
    """The hours are UTC hours (``rollups.hour_of``), also for a session in a zone half an hour off UTC."""
    engine = make_engine(pg_url, connect_args={"options": "-c timezone=Asia/Kolkata"})
    try:
        start = datetime(2026, 11, 23, 7, 40, 7, tzinfo=UTC)
        first = _batch(40, start)
        first.rows.reverse()  # later starts first: since is the oldest start, whatever the order
        later = _batch(60, start + timedelta(minutes=19, seconds=30))  # into the next hour too
        with writing(engine) as conn:
            assert len(queries.store_new_results(conn, first.rows, first_try=True)) == 40
        with writing(engine) as conn:  # some stored already, the others new (the arbiter's insert)
            assert len(queries.store_new_results(conn, first.rows[:20] + later.rows, first_try=False)) == 60
        with engine.connect() as conn:
            rows = conn.execute(select(result_rows.c.uid, result_rows.c.series_id, result_rows.c.started_at)).all()
            marks = {(m.series_id, m.hour): (m.gen, m.since) for m in conn.execute(select(rollup_dirty))}
        expected: dict[tuple[int, datetime], tuple[int, datetime]] = {}
        for batch in (first, later):  # each batch marks each of its (series, hour) once
            oldest: dict[tuple[int, datetime], datetime] = {}
            for uid, series, at in rows:
                if uid in batch.ids:
                    key = (series, rollups.hour_of(at))
                    oldest[key] = min(oldest.get(key, at), at)
            for key, at in oldest.items():
                gen, since = expected.get(key, (0, at))
                expected[key] = (gen + 1, min(since, at))
        assert marks == expected
        assert {hour.minute for _, hour in marks} == {0} and {gen for gen, _ in marks.values()} == {1, 2}
    finally:
        engine.dispose()


def test_a_connection_opened_before_the_store_queries_were_imported_stores_a_batch(pg_url, tmp_path):
    # the binary array dumper (collector/store/pg_arrays.py) was registered when the queries were imported: a
    # connection opened before (a fresh process that migrated first: bench/result_reads.py --db postgresql, the
    # rows moved by migration 0013) could not send an array ("cannot adapt type 'Array'")
    script = tmp_path / "first.py"
    script.write_text(
        "import sys\n"
        "from datetime import UTC, datetime\n"
        "from collector.store.db import make_engine, writing\n"
        "engine = make_engine(sys.argv[1], pool_size=1, max_overflow=0)\n"
        "with engine.connect() as conn:\n"
        "    conn.exec_driver_sql('SELECT 1')\n"
        "from collector.store import queries\n"
        "with writing(engine) as conn:\n"
        "    print(queries.existing_uids(conn, ['00' * 16]))\n")
    got = subprocess.run([sys.executable, str(script), pg_url], capture_output=True, text=True, timeout=60,
                         cwd=str(Path(__file__).resolve().parents[2]))
    assert got.returncode == 0 and got.stdout.strip() == "set()", got.stderr[-2000:]
