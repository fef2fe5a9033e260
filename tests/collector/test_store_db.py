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
