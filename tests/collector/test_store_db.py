"""Acknowledged means durable: the settings every collector connection commits with (collector/store/db.py)."""

from __future__ import annotations

import logging

import pytest

from collector.store.db import make_engine


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_commits_with_synchronous_full_when_the_collector_connects(engine):
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL (NORMAL is 1)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgresql_commits_synchronously_when_the_database_was_configured_off(db_url, engine, caplog):
    with engine.connect() as conn:
        database = conn.exec_driver_sql("SELECT current_database()").scalar()
        conn.exec_driver_sql(f'ALTER DATABASE "{database}" SET synchronous_commit = off')
        conn.commit()
    fresh = make_engine(db_url)  # new connections take the database's setting...
    try:
        with caplog.at_level(logging.WARNING, logger="collector.store.db"):
            for _ in range(3):  # ...and keep ours across the pool's reset of returned connections
                with fresh.connect() as conn:
                    assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
        assert [r.getMessage() for r in caplog.records if "synchronous_commit is off" in r.getMessage()]
    finally:
        fresh.dispose()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgresql_keeps_a_stronger_synchronous_commit_when_the_database_asks_for_one(db_url, engine):
    with engine.connect() as conn:
        database = conn.exec_driver_sql("SELECT current_database()").scalar()
        conn.exec_driver_sql(f'ALTER DATABASE "{database}" SET synchronous_commit = remote_apply')
        conn.commit()
    fresh = make_engine(db_url)
    try:
        with fresh.connect() as conn:
            assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "remote_apply"
    finally:
        fresh.dispose()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgresql_reads_statement_by_statement_without_a_transaction_when_asked(engine):
    from psycopg.pq import TransactionStatus

    from collector.store.db import reading

    def status(conn) -> TransactionStatus:
        return conn.connection.dbapi_connection.info.transaction_status

    with reading(engine, statements=True) as conn:  # a token's lookup: no BEGIN, no ROLLBACK
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1
        assert status(conn) == TransactionStatus.IDLE
    with reading(engine) as conn:  # the same pooled connection, transactional again
        conn.exec_driver_sql("SELECT 1")
        assert status(conn) == TransactionStatus.INTRANS


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_postgresql_pings_a_pooled_connection_only_when_it_was_back_in_the_pool_a_while(db_url, monkeypatch):
    from collector.store import db
    from collector.store.db import REQUESTS

    limited = make_engine(db_url, limits=REQUESTS, pool_size=1, max_overflow=0)
    pings: list[object] = []
    real = limited.dialect.do_ping
    monkeypatch.setattr(limited.dialect, "do_ping", lambda conn: pings.append(conn) or real(conn))
    try:
        for _ in range(3):  # the first checkout pings (the connection is new to the pool's clock); the next do not
            with limited.connect() as conn:
                assert conn.exec_driver_sql("SELECT 1").scalar() == 1
        assert len(pings) == 1
        monkeypatch.setattr(db, "UNPINGED_S", 0.0)  # back in the pool "a while": pinged again
        with limited.connect() as conn:
            assert conn.exec_driver_sql("SELECT 1").scalar() == 1
        assert len(pings) == 2
    finally:
        limited.dispose()


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_pipelined_statements_give_their_rows_after_the_block_and_an_error_in_it_is_raised(engine):
    from collector.store.db import pipelined, writing

    with writing(engine) as conn:
        driver = conn.connection.driver_connection
        first, second = driver.cursor(), driver.cursor()
        with pipelined(conn):
            first.execute("SELECT 1")
            second.execute("SELECT 2")
        assert (first.fetchall(), second.fetchall()) == ([(1,)], [(2,)])
    with pytest.raises(Exception, match="no_such_table"), writing(engine) as conn:
        cursor = conn.connection.driver_connection.cursor()
        with pipelined(conn):  # SQLite raises in the block, PostgreSQL at its end
            cursor.execute("SELECT * FROM no_such_table")
        pytest.fail("the block ended without the error")
