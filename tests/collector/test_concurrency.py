"""Several collectors on one database: each result is stored once, whoever gets it first."""

from __future__ import annotations

import threading
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from collector.app import create_app
from collector.config import Settings
from collector.store.db import make_engine
from collector.store.tables import latest, results
from tests.collector.conftest import make_batch


def test_batch_is_stored_once_when_two_collectors_ingest_it_concurrently(db_url, agent_headers):
    engines = [make_engine(db_url) for _ in range(2)]
    apps = [create_app(Settings(db_url=db_url), engine=e) for e in engines]
    batches = [make_batch(200) for _ in range(3)]
    answers: list[dict[str, Any]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def send(app: Any) -> None:
        try:
            with TestClient(app, raise_server_exceptions=False) as client:
                barrier.wait(timeout=30)
                for batch in batches:
                    r = client.post("/api/v1/results", json={"results": batch}, headers=agent_headers)
                    assert r.status_code == 200, r.text
                    answers.append(r.json())
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(apps[i % 2],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    try:
        assert errors == []
        all_ids = [r["id"] for b in batches for r in b]
        accepted = [i for a in answers for i in a["accepted"]]
        duplicates = [i for a in answers for i in a["duplicates"]]
        assert sorted(accepted) == sorted(all_ids)  # every id accepted exactly once
        assert len(duplicates) == 3 * len(all_ids)
        with engines[0].connect() as conn:
            assert conn.execute(select(func.count()).select_from(results)).scalar_one() == len(all_ids)
            assert conn.execute(select(func.count(func.distinct(results.c.uid)))).scalar_one() == len(all_ids)
            assert conn.execute(select(func.count()).select_from(latest)).scalar_one() == 200
    finally:
        for e in engines:
            e.dispose()
