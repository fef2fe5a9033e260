"""Every class of database error maps to 503 (the database's fault) or a logged 500 (ours), on every path.

PostgreSQL: a trigger in the test database raises a real error with the
SQLSTATE under test, once inside the bulk path (``results``: rows arrive by
one ``INSERT ... SELECT FROM unnest`` on psycopg directly, so the error is the
driver's own) and once inside a path that goes through SQLAlchemy (``hosts``,
written by ``touch_host``).  The real events behind the common classes
(cancel, statement and lock timeout, terminated backend, stopped and frozen
server, read-only database) are in ``test_db_faults.py``; SQLite's in
``test_sqlite_faults.py``.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from collector.app import create_app
from collector.auth import create_agent_token
from collector.config import Settings
from collector.store.db import make_engine
from collector.store.errors import classify
from tests.collector.conftest import HOST, SITE, TEMPLATE_DB, make_batch

pytestmark = [pytest.mark.postgres]

# (SQLSTATE, what it is, the answer the client must get)
PG_CLASSES = [
    ("08006", "connection failure", 503),
    ("28P01", "password refused (a rotated secret)", 503),
    ("3D000", "database does not exist", 503),
    ("40001", "serialization failure", 503),
    ("40P01", "deadlock detected", 503),
    ("53100", "disk full", 503),
    ("53200", "out of memory", 503),
    ("53300", "too many connections", 503),
    ("55P03", "lock not available (lock_timeout)", 503),
    ("57014", "query canceled (statement_timeout, pg_cancel_backend)", 503),
    ("57P01", "admin shutdown (pg_terminate_backend, fast stop)", 503),
    ("57P03", "cannot connect now (starting up)", 503),
    ("58030", "I/O error", 503),
    ("25006", "read-only transaction (a standby)", 503),
    ("42501", "insufficient privilege (deployment)", 503),
    ("XX001", "data corrupted", 503),
    ("42P01", "undefined table (our bug)", 500),
    ("42703", "undefined column (our bug)", 500),
    ("42601", "syntax error (our bug)", 500),
    ("23505", "unique violation (our bug: we insert with ON CONFLICT)", 500),
    ("23502", "not-null violation (our bug)", 500),
    ("22P02", "invalid text representation (our bug)", 500),
    ("25P02", "in failed transaction (our bug)", 500),
]


@pytest.fixture(scope="module")
def trap(pg_cluster: Any) -> Iterator[tuple[TestClient, dict[str, str], psycopg.Connection[Any]]]:
    """An app on a database whose ``result_rows`` and ``hosts`` triggers raise ``fault_injection.code``.

    ``result_rows`` is partitioned on PostgreSQL: its trigger fires on the month's partition
    (``result_rows_2026_11``), so a target also names the partitions of that table.
    """
    name = pg_cluster.create_db(template=TEMPLATE_DB)
    admin = psycopg.connect(host="127.0.0.1", port=pg_cluster.port, user="postgres", dbname=name,
                            autocommit=True)
    admin.execute("""
        CREATE TABLE fault_injection (target text PRIMARY KEY, code text);
        CREATE FUNCTION inject_fault() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE wanted text;
        BEGIN
          SELECT code INTO wanted FROM fault_injection
            WHERE target = TG_TABLE_NAME OR starts_with(TG_TABLE_NAME, target || '_');
          IF wanted IS NOT NULL THEN
            RAISE EXCEPTION 'injected fault %', wanted USING ERRCODE = wanted;
          END IF;
          RETURN NEW;
        END $$;
        CREATE TRIGGER inject BEFORE INSERT ON result_rows FOR EACH ROW EXECUTE FUNCTION inject_fault();
        CREATE TRIGGER inject BEFORE INSERT OR UPDATE ON hosts FOR EACH ROW EXECUTE FUNCTION inject_fault();
    """)
    engine = make_engine(pg_cluster.url(name))
    headers = {"Authorization": f"Bearer {create_agent_token(engine, site=SITE, host=HOST)}"}
    try:
        with TestClient(create_app(Settings(db_url=pg_cluster.url(name)), engine=engine),
                        raise_server_exceptions=False) as client:
            yield client, headers, admin
    finally:
        engine.dispose()
        admin.close()
        pg_cluster.drop_db(name)


@pytest.mark.parametrize("target", ["result_rows", "hosts"], ids=["bulk-insert-path", "sqlalchemy-path"])
@pytest.mark.parametrize(("sqlstate", "what", "status"), PG_CLASSES, ids=[c[0] for c in PG_CLASSES])
def test_postgresql_error_class_answers_503_or_logged_500(trap, target, sqlstate, what, status, caplog):
    client, headers, admin = trap
    admin.execute("INSERT INTO fault_injection VALUES (%s, %s) ON CONFLICT (target) DO UPDATE SET code = %s",
                  [target, sqlstate, sqlstate])
    try:
        with caplog.at_level(logging.WARNING, logger="collector"):
            r = client.post("/api/v1/results", json={"results": make_batch(3)}, headers=headers)
    finally:
        admin.execute("DELETE FROM fault_injection")
    assert r.status_code == status, (what, r.text)
    if status == 503:
        assert r.headers["Retry-After"] and r.json()["detail"] == "the database is unavailable; retry later"
        assert r.json()["message"] == {"key": "cli.refusal.unavailable", "args": {}}
        assert any(rec.levelno == logging.WARNING and sqlstate in rec.getMessage() for rec in caplog.records)
    else:
        assert r.json() == {"detail": "internal error"}
        assert any(rec.levelno == logging.ERROR and rec.exc_info for rec in caplog.records)  # the traceback
    assert client.post("/api/v1/results", json={"results": make_batch(3)},
                       headers=headers).status_code == 200  # and the connection is fine after


# SQLite: the primary result codes, each raised by the real sqlite3 module (a statement that fails so),
# where one can be provoked in a few milliseconds; FULL, BUSY, READONLY, CANTOPEN end to end are in
# test_sqlite_faults.py.
def _sqlite_error(sql: str, path: str = ":memory:") -> sqlite3.Error:
    conn = sqlite3.connect(path)
    try:
        conn.executescript("CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT NOT NULL);")
        conn.execute(sql)
    except sqlite3.Error as exc:
        return exc
    finally:
        conn.close()
    raise AssertionError(f"{sql} did not fail")


@pytest.mark.parametrize(("sql", "kind", "code"), [
    ("SELECT * FROM missing", "bug", "SQLITE_ERROR"),
    ("INSERT INTO t VALUES (1, NULL)", "bug", "SQLITE_CONSTRAINT_NOTNULL"),
    ("INSERT INTO t VALUES ('x', 'y')", "bug", "SQLITE_MISMATCH"),
])
def test_sqlite_bug_classes_are_bugs(sql, kind, code):
    fault = classify(_sqlite_error(sql))
    assert fault is not None and (fault.kind, fault.code) == (kind, code)


def test_sqlite_interrupted_statement_is_unavailable():
    conn = sqlite3.connect(":memory:")
    conn.set_progress_handler(lambda: 1, 1)  # abort the statement: SQLITE_INTERRUPT
    try:
        with pytest.raises(sqlite3.OperationalError) as caught:
            conn.execute("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT * FROM c")
    finally:
        conn.close()
    fault = classify(caught.value)
    assert fault is not None and fault.kind == "unavailable" and fault.code == "SQLITE_INTERRUPT"
