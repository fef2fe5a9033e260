"""The collector on SQLite when the disk fills, the file is locked, read-only or missing; a bounded WAL.

The disk-full test runs on a real 8 MiB tmpfs mounted for it (we are root
on the build machine; elsewhere :func:`tests.conftest.missing`): the
database fills it through the API, exactly as agents would.
"""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
import string
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from collector.app import create_app
from collector.auth import create_agent_token
from collector.config import Settings
from collector.store.db import REQUESTS, WAL_LIMIT_BYTES, Limits, checkpoint_wal, make_engine, writing
from tests.collector.conftest import HOST, SITE, make_batch
from tests.conftest import missing

QUICK = Limits(connect_s=2, statement_s=1, lock_s=0.5, pool_s=2, ping_s=1, hold_s=6)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs."""
    if os.geteuid() != 0:
        missing("tmpfs", "mounting a small filesystem for the disk-full test needs root")
    where = tmp_path / "disk"
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0755", "tmpfs", str(where)],
                          capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        missing("tmpfs", f"mount -t tmpfs failed: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=30)


def _copy(tmp_path: Path, sqlite_template: Path) -> tuple[Path, Path]:
    """A migrated database file in ``tmp_path`` and the path of its WAL."""
    db = tmp_path / "wardround.db"
    shutil.copyfile(sqlite_template, db)
    return db, Path(f"{db}-wal")


def _app(url: str, limits: Limits = REQUESTS) -> tuple[Any, dict[str, str], Any]:
    engine = make_engine(url, limits=limits)
    headers = {"Authorization": f"Bearer {create_agent_token(engine, site=SITE, host=HOST)}"}
    return create_app(Settings(db_url=url), engine=engine), headers, engine


def _wait_for(client: TestClient, status: int, seconds: float = 15) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        r = client.get("/healthz")
        if r.status_code == status or time.monotonic() > deadline:
            return r
        time.sleep(0.2)


def test_healthz_says_it_cannot_store_when_the_disk_is_full_and_recovers_when_space_is_freed(
        small_disk, sqlite_template):
    db = small_disk / "wardround.db"
    shutil.copyfile(sqlite_template, db)
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * 1_500_000)  # freed later, as an operator deletes old files
    app, headers, engine = _app(f"sqlite:///{db}")
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            assert client.get("/healthz").status_code == 200
            for _ in range(200):  # agents keep sending until the disk is full
                r = client.post("/api/v1/results", json={"results": make_batch(500)}, headers=headers)
                if r.status_code != 200:
                    break
            else:
                pytest.fail("8 MiB never filled up")
            assert r.status_code == 503 and r.headers["Retry-After"], r.text
            health = client.get("/healthz")
            assert health.status_code == 503, "a load balancer would keep sending work here"
            assert "cannot store" in health.json()["detail"] and "full" in health.json()["detail"]

            filler.unlink()  # space again: the health probe's own write notices, no agent needed
            assert _wait_for(client, 200).status_code == 200
            r = client.post("/api/v1/results", json={"results": make_batch(100)}, headers=headers)
            assert r.status_code == 200, r.text
    finally:
        engine.dispose()


def _wordy_batch(n: int) -> list[dict[str, Any]]:
    """Results whose summaries share nothing (no template to reuse): about 0.4 KB stored each."""
    rows = make_batch(n)
    for r in rows:
        r["summary"] = "".join(random.choices(string.ascii_letters, k=300))
    return rows


def test_wal_stays_bounded_while_results_stream_in(tmp_path, sqlite_template):
    db, wal = _copy(tmp_path, sqlite_template)
    app, headers, engine = _app(f"sqlite:///{db}")
    largest = 0
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            for _ in range(40):  # about 7 MB of results
                r = client.post("/api/v1/results", json={"results": _wordy_batch(500)}, headers=headers)
                assert r.status_code == 200
                largest = max(largest, wal.stat().st_size)
        assert db.stat().st_size > 1.5 * WAL_LIMIT_BYTES  # the stream was larger than the bound
        # the limit plus one transaction's pages (about 2.5 MB for 500 fresh results); it was 43 MB
        # with the old policy (checkpoint at 10,000 pages, WAL never truncated)
        assert largest < 2 * WAL_LIMIT_BYTES, largest
    finally:
        engine.dispose()


def test_checkpoint_truncates_a_wal_that_a_long_reader_let_grow(tmp_path, sqlite_template):
    db, wal = _copy(tmp_path, sqlite_template)
    app, headers, engine = _app(f"sqlite:///{db}")
    try:
        reader = sqlite3.connect(db)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM results").fetchall()  # holds its snapshot: no checkpoint ends
        with TestClient(app, raise_server_exceptions=False) as client:
            for _ in range(25):
                assert client.post("/api/v1/results", json={"results": _wordy_batch(500)},
                                   headers=headers).status_code == 200
            assert wal.stat().st_size > 2 * WAL_LIMIT_BYTES
            reader.rollback()
            reader.close()
            assert checkpoint_wal(engine)
            assert wal.stat().st_size == 0
            assert not checkpoint_wal(engine)  # small now: nothing to do
    finally:
        engine.dispose()


def test_locked_database_answers_503_within_the_lock_bound(tmp_path, sqlite_template):
    db, _wal = _copy(tmp_path, sqlite_template)
    app, headers, engine = _app(f"sqlite:///{db}", QUICK)
    other = sqlite3.connect(db, isolation_level=None)  # e.g. a second process writing
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            other.execute("BEGIN IMMEDIATE")
            start = time.monotonic()
            r = client.post("/api/v1/results", json={"results": make_batch(3)}, headers=headers)
            waited = time.monotonic() - start
            other.execute("ROLLBACK")
            assert r.status_code == 503 and r.headers["Retry-After"]
            assert waited < QUICK.lock_s + 5
            assert client.post("/api/v1/results", json={"results": make_batch(3)},
                               headers=headers).status_code == 200
    finally:
        other.close()
        engine.dispose()


def test_read_only_database_answers_503_and_healthz_says_it_cannot_store(tmp_path, sqlite_template):
    db, _wal = _copy(tmp_path, sqlite_template)
    token = create_agent_token(writable := make_engine(f"sqlite:///{db}"), site=SITE, host=HOST)
    writable.dispose()
    url = f"sqlite:///file:{db}?mode=ro&uri=true"
    engine = make_engine(url, limits=REQUESTS)
    try:
        with TestClient(create_app(Settings(db_url=url), engine=engine), raise_server_exceptions=False) as c:
            r = c.post("/api/v1/results", json={"results": make_batch(3)},
                       headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 503
            health = c.get("/healthz")
            assert health.status_code == 503 and "cannot store" in health.json()["detail"]
    finally:
        engine.dispose()


def test_missing_database_file_answers_503_not_500(tmp_path):
    url = f"sqlite:///{tmp_path}/missing-dir/wardround.db"
    with TestClient(create_app(Settings(db_url=url)), raise_server_exceptions=False) as client:
        r = client.post("/api/v1/results", json={"results": make_batch(1)},
                        headers={"Authorization": "Bearer some-token"})
        assert r.status_code == 503 and r.headers["Retry-After"]
        assert client.get("/healthz").status_code == 503


def test_busy_writer_in_this_process_answers_503_within_the_lock_bound(tmp_path, sqlite_template):
    db, _wal = _copy(tmp_path, sqlite_template)
    app, headers, engine = _app(f"sqlite:///{db}", QUICK)
    try:
        with TestClient(app, raise_server_exceptions=False) as client, writing(engine):  # a write holds the lock
            start = time.monotonic()
            r = client.post("/api/v1/results", json={"results": make_batch(3)}, headers=headers)
            assert r.status_code == 503 and r.headers["Retry-After"]  # DatabaseBusy, not a wait without end
            assert time.monotonic() - start < QUICK.lock_s + 5
    finally:
        engine.dispose()


def test_exhausted_connection_pool_answers_503_within_the_pool_bound(tmp_path, sqlite_template):
    db, _wal = _copy(tmp_path, sqlite_template)
    engine = make_engine(f"sqlite:///{db}", limits=QUICK, pool_size=1, max_overflow=0)
    headers = {"Authorization": f"Bearer {create_agent_token(engine, site=SITE, host=HOST)}"}
    try:
        with TestClient(create_app(Settings(db_url=f"sqlite:///{db}"), engine=engine),
                        raise_server_exceptions=False) as client, engine.connect():  # the only connection
            start = time.monotonic()
            r = client.get("/api/v1/hosts", headers=headers)  # any request: the token lookup needs one
            assert r.status_code == 503 and r.headers["Retry-After"]  # SQLAlchemy's pool TimeoutError
            assert time.monotonic() - start < QUICK.pool_s + 5
    finally:
        engine.dispose()
