"""The collector against a real PostgreSQL that misbehaves: cancels, timeouts, a stopped or frozen server.

The module runs its own throwaway cluster (not the session one), because
these tests stop it, freeze it with SIGSTOP and cancel its backends.  Every
fault is real: ``pg_cancel_backend``, ``pg_terminate_backend`` and
``statement_timeout`` on the ingest's ``INSERT INTO result_rows`` held open
inside the statement (a trigger made by the test waits for an advisory lock
the test holds), ``lock_timeout`` against a lock a test holds, ``pg_ctl
stop``/``start``, and SIGSTOP/SIGCONT of every server process.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from collector.app import create_app
from collector.auth import create_agent_token
from collector.config import Settings
from collector.notify import enqueue
from collector.store.db import REQUESTS, Limits, make_engine, reading, writing
from collector.store.tables import notify_deliveries, results
from tests.collector.conftest import (
    HOST,
    SITE,
    TEMPLATE_DB,
    PgCluster,
    make_batch,
    remove_pg_cluster,
    start_pg_cluster,
)
from tests.collector.notify_receivers import HookSink
from tests.collector.serve import Collector, post_results, start_collectors, stop_collectors

pytestmark = [pytest.mark.postgres]


@pytest.fixture(scope="module")
def faulty_pg() -> Iterator[PgCluster]:
    cluster = start_pg_cluster()
    try:
        yield cluster
    finally:
        remove_pg_cluster(cluster)


@pytest.fixture
def fault_db(faulty_pg: PgCluster) -> Iterator[str]:
    name = faulty_pg.create_db(template=TEMPLATE_DB)
    yield name
    faulty_pg.drop_db(name)


HOLD_KEY = 0x484F4C44  # "HOLD"


@contextmanager
def _held_inserts(cluster: PgCluster, dbname: str) -> Iterator[None]:
    """Inserts into ``result_rows`` wait inside their statement until the block ends: a statement trigger
    made here waits (without a lock timeout) for an advisory lock this holds."""
    with psycopg.connect(host="127.0.0.1", port=cluster.port, user="postgres", dbname=dbname,
                         autocommit=True) as admin:
        admin.execute(f"""
            CREATE OR REPLACE FUNCTION wait_for_test() RETURNS trigger LANGUAGE plpgsql SET lock_timeout = 0 AS $$
            BEGIN PERFORM pg_advisory_xact_lock_shared({HOLD_KEY}); RETURN NULL; END $$;
            CREATE TRIGGER held BEFORE INSERT ON result_rows FOR EACH STATEMENT EXECUTE FUNCTION wait_for_test();
        """)
        admin.execute("SELECT pg_advisory_lock(%s)", [HOLD_KEY])
        try:
            yield
        finally:
            admin.execute("SELECT pg_advisory_unlock(%s)", [HOLD_KEY])
            admin.execute("DROP TRIGGER held ON result_rows")


def _backend_in_insert(cluster: PgCluster, dbname: str) -> int:
    """The backend waiting inside ``INSERT INTO result_rows`` (waits until there is one)."""
    deadline = time.monotonic() + 30
    with cluster.admin() as conn:
        while time.monotonic() < deadline:
            row = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s AND state = 'active' "
                               "AND wait_event_type = 'Lock' AND query LIKE '%%INSERT INTO result_rows%%'",
                               [dbname]).fetchone()
            if row is not None:
                return int(row[0])
            time.sleep(0.02)
    raise AssertionError("no backend is inside INSERT INTO result_rows")


def _post_in_thread(client: TestClient, batch: list[dict[str, Any]], headers: dict[str, str]
                    ) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def post() -> None:
        out["response"] = client.post("/api/v1/results", json={"results": batch}, headers=headers)

    thread = threading.Thread(target=post)
    thread.start()
    return thread, out


def _interrupt_insert(client: TestClient, headers: dict[str, str], cluster: PgCluster, dbname: str,
                      interrupt: Callable[[int], object]) -> Any:
    """POST a batch, hold its insert inside the statement, ``interrupt(backend pid)``, let it go on: the response."""
    with _held_inserts(cluster, dbname):
        thread, out = _post_in_thread(client, make_batch(10), headers)
        interrupt(_backend_in_insert(cluster, dbname))
    thread.join(30)
    return out["response"]


def _to_backend(cluster: PgCluster, function: str) -> Callable[[int], object]:
    """Calls ``function`` (pg_cancel_backend, pg_terminate_backend) on a backend."""
    def call(pid: int) -> object:
        with cluster.admin() as admin:
            return admin.execute(f"SELECT {function}(%s)", [pid]).fetchone()
    return call


def test_next_batch_is_stored_when_the_first_insert_on_a_connection_was_cancelled(faulty_pg, fault_db):
    # One pooled connection, so the second request runs on the connection whose first insert was cancelled.
    engine = make_engine(faulty_pg.url(fault_db), pool_size=1, max_overflow=0)
    try:
        headers = {"Authorization": f"Bearer {create_agent_token(engine, site=SITE, host=HOST)}"}
        with TestClient(create_app(Settings(db_url=faulty_pg.url(fault_db)), engine=engine),
                        raise_server_exceptions=False) as client:
            cancelled = _interrupt_insert(client, headers, faulty_pg, fault_db,
                                          _to_backend(faulty_pg, "pg_cancel_backend"))
            assert cancelled.status_code == 503 and cancelled.headers["Retry-After"]

            for _ in range(3):  # the connection is usable after the rollback
                r = client.post("/api/v1/results", json={"results": make_batch(20)}, headers=headers)
                assert r.status_code == 200, r.text
                assert len(r.json()["accepted"]) == 20
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(results)).scalar_one() == 60
    finally:
        engine.dispose()


# Short bounds so the faults below take a second, not the production five.
QUICK = Limits(connect_s=2, statement_s=1, lock_s=0.5, pool_s=2, ping_s=1, hold_s=6)


@contextmanager
def _client(url: str, limits: Limits = QUICK) -> Iterator[tuple[TestClient, dict[str, str], Engine]]:
    engine = make_engine(url, limits=limits)
    try:
        headers = {"Authorization": f"Bearer {create_agent_token(engine, site=SITE, host=HOST)}"}
        with TestClient(create_app(Settings(db_url=url), engine=engine), raise_server_exceptions=False) as c:
            yield c, headers, engine
    finally:
        engine.dispose()


def _stored(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(results)).scalar_one())


def test_statement_timeout_during_the_insert_answers_503_and_the_next_batch_is_stored(faulty_pg, fault_db):
    with _client(faulty_pg.url(fault_db)) as (client, headers, engine):
        # the server cancels the insert it waits in: statement_timeout
        r = _interrupt_insert(client, headers, faulty_pg, fault_db, lambda _pid: time.sleep(QUICK.statement_s + 0.5))
        assert r.status_code == 503 and r.headers["Retry-After"]
        r = client.post("/api/v1/results", json={"results": make_batch(10)}, headers=headers)
        assert r.status_code == 200 and len(r.json()["accepted"]) == 10
        assert _stored(engine) == 10


def test_terminated_backend_mid_insert_answers_503_and_the_pool_reconnects(faulty_pg, fault_db):
    with _client(faulty_pg.url(fault_db)) as (client, headers, engine):
        r = _interrupt_insert(client, headers, faulty_pg, fault_db, _to_backend(faulty_pg, "pg_terminate_backend"))
        assert r.status_code == 503
        r = client.post("/api/v1/results", json={"results": make_batch(10)}, headers=headers)
        assert r.status_code == 200, r.text
        assert _stored(engine) == 10


def test_lock_timeout_answers_503_when_another_session_holds_the_host_lock(faulty_pg, fault_db):
    key = zlib.crc32(f"wardround-tickets:{SITE}/{HOST}".encode()) - 2**31  # collector.store.tickets.lock_host
    with _client(faulty_pg.url(fault_db)) as (client, headers, _engine), \
            psycopg.connect(host="127.0.0.1", port=faulty_pg.port, user="postgres", dbname=fault_db,
                            autocommit=True) as admin:
        admin.execute("SELECT pg_advisory_lock(%s, %s)", [0x57524454, key])  # advisory locks: per database
        start = time.monotonic()
        r = client.post("/api/v1/results", json={"results": make_batch(3)}, headers=headers)
        waited = time.monotonic() - start
        admin.execute("SELECT pg_advisory_unlock_all()")
        assert r.status_code == 503 and r.headers["Retry-After"]
        assert waited < QUICK.lock_s + 5  # lock_timeout, not forever
        r = client.post("/api/v1/results", json={"results": make_batch(3)}, headers=headers)
        assert r.status_code == 200


def test_read_only_database_answers_503_and_healthz_says_it_cannot_store(faulty_pg, fault_db):
    with _client(faulty_pg.url(fault_db)) as (client, headers, engine):
        with faulty_pg.admin() as admin:  # as after a failover to a standby
            admin.execute(f'ALTER DATABASE "{fault_db}" SET default_transaction_read_only = on')
        try:
            engine.dispose()  # the setting applies to new sessions
            assert client.get("/healthz").status_code == 200  # reachable, and nothing failed yet
            r = client.post("/api/v1/results", json={"results": make_batch(3)}, headers=headers)
            assert r.status_code == 503
            health = client.get("/healthz")
            assert health.status_code == 503 and "cannot store" in health.json()["detail"]
        finally:
            with faulty_pg.admin() as admin:
                admin.execute(f'ALTER DATABASE "{fault_db}" SET default_transaction_read_only = off')
        engine.dispose()
        assert client.post("/api/v1/results", json={"results": make_batch(3)}, headers=headers).status_code == 200
        assert client.get("/healthz").status_code == 200


def test_stopped_database_answers_503_and_service_resumes_when_it_is_back(faulty_pg, fault_db):
    with _client(faulty_pg.url(fault_db)) as (client, headers, engine):
        assert client.post("/api/v1/results", json={"results": make_batch(3)}, headers=headers).status_code == 200
        faulty_pg.stop()
        try:
            r = client.post("/api/v1/results", json={"results": make_batch(3)}, headers=headers)
            assert r.status_code == 503 and r.headers["Retry-After"]
        finally:
            faulty_pg.start()
        r = client.post("/api/v1/results", json={"results": make_batch(3)}, headers=headers)
        assert r.status_code == 200, r.text
        assert _stored(engine) == 6


def _get(url: str, timeout: float) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers


def _post_status(url: str, token: str, batch: list[dict[str, Any]]) -> tuple[int, Any, float]:
    req = urllib.request.Request(f"{url}/api/v1/results", data=orjson.dumps({"results": batch}),
                                 headers={"Authorization": f"Bearer {token}",
                                          "Content-Type": "application/json"}, method="POST")
    start = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.headers, time.monotonic() - start
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, time.monotonic() - start


@pytest.mark.slow
def test_clients_get_503_in_seconds_and_healthz_answers_at_once_when_the_database_is_frozen(
        faulty_pg, fault_db, tmp_path):
    url = faulty_pg.url(fault_db)
    engine = make_engine(url)
    collectors: list[Collector] = []
    pids: list[int] = []
    try:
        token = create_agent_token(engine, site=SITE, host=HOST)
        collectors = start_collectors(url, tmp_path, config={"sweep_seconds": 0})
        base = collectors[0].url
        post_results(base, token, make_batch(5))  # pooled connections exist, as in a running collector
        try:
            pids = faulty_pg.freeze()
            answers: list[tuple[int, Any, float]] = []
            posts = [threading.Thread(target=lambda: answers.append(_post_status(base, token, make_batch(5))))
                     for _ in range(3)]
            for t in posts:
                t.start()
            health: list[int] = []
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and (503 not in health or any(t.is_alive() for t in posts)):
                status, _ = _get(f"{base}/healthz", timeout=1.0)  # a timeout here fails the test
                health.append(status)
                time.sleep(0.2)
            for t in posts:
                t.join(30)
        finally:
            faulty_pg.thaw(pids)
        bound = REQUESTS.pool_s + REQUESTS.hold_s + 3  # the documented bound, plus slack for a busy machine
        assert [a[0] for a in answers] == [503, 503, 503]
        assert all(a[1].get("Retry-After") for a in answers)
        assert max(a[2] for a in answers) < bound, answers
        assert 503 in health
        deadline = time.monotonic() + 15
        while _get(f"{base}/healthz", timeout=1.0)[0] != 200:
            assert time.monotonic() < deadline, "healthz did not recover"
            time.sleep(0.2)
        assert len(post_results(base, token, make_batch(5))["accepted"]) == 5
    finally:
        stop_collectors(collectors)
        engine.dispose()


@pytest.mark.slow
def test_send_outcome_is_recorded_when_the_database_is_back_and_nothing_is_sent_twice(faulty_pg, fault_db,
                                                                                     tmp_path):
    url = faulty_pg.url(fault_db)
    sink = HookSink()
    in_flight = threading.Event()

    def slow(hit: Any) -> float:  # the receiver takes 1.5 s: the database goes away meanwhile
        in_flight.set()
        return 1.5

    sink.delay = slow
    sink.start()
    engine = make_engine(url)
    collectors: list[Collector] = []
    try:
        collectors = start_collectors(url, tmp_path, config={
            "sweep_seconds": 0,
            "notifications": {"poll": "0.5s", "channels": {"hook": {"type": "webhook", "url": sink.url("/hook")}},
                              "routes": [{"channels": ["hook"]}]}})
        for i in range(3):
            with writing(engine) as conn:
                enqueue(conn, event="opened", ticket={"id": i + 1, "site": SITE, "host": HOST, "severity": 2},
                        at=datetime.now(UTC))
        assert in_flight.wait(30), "nothing was sent"
        faulty_pg.stop()  # between sending and recording
        time.sleep(2)  # the receiver accepted the first message; recording it failed
        assert len(sink.on("/hook")) == 1
        faulty_pg.start()
        engine.dispose()
        deadline = time.monotonic() + 30
        while True:
            with reading(engine) as conn:
                states = Counter(conn.execute(select(notify_deliveries.c.state)).scalars())
            if states == Counter({"sent": 3}):
                break
            assert time.monotonic() < deadline, f"not recorded: {states} {collectors[0].log_text()[-3000:]}"
            time.sleep(0.3)
        time.sleep(1.5)  # a resend would show up now
        keys = Counter(hit.headers["Idempotency-Key"] for hit in sink.on("/hook"))
        assert len(keys) == 3 and set(keys.values()) == {1}, keys
        assert "outcome not recorded yet" in collectors[0].log_text()
    finally:
        stop_collectors(collectors)
        engine.dispose()
        sink.stop()


def test_a_token_lookup_on_a_lost_connection_answers_503_and_the_pool_replaces_it(faulty_pg, fault_db, caplog):
    with _client(faulty_pg.url(fault_db)) as (client, headers, engine):
        assert client.post("/api/v1/results", json={"results": make_batch(1)}, headers=headers).status_code == 200
        with faulty_pg.admin() as admin:  # the pooled connections' backends go, between two requests
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                          "AND pid <> pg_backend_pid()", [fault_db])
        answers = [client.post("/api/v1/results", json={"results": make_batch(1)}, headers=headers).status_code
                   for _ in range(4)]
        assert set(answers) <= {200, 503} and answers[-1] == 200, answers
        assert _stored(engine) == 1 + answers.count(200)
    assert "Exception during reset" not in caplog.text
