"""One ticket per problem under three real collector processes on one PostgreSQL.

Three ``wardround-collector serve`` subprocesses (or one ``serve --workers 3``, three worker
processes behind one port) share a throwaway PostgreSQL database.  Several senders push the same stream of failing
results for several hosts to all three at once, each sender in its own
order, so one collector stores a batch while another stores the next batch
of the same host.  Exactly one ticket per (host, check, item) must result,
every result counted once, and exactly one ``opened`` event per ticket in
the outbox.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from checks.result import Status
from collector.auth import create_agent_token
from collector.store.db import make_engine
from collector.store.tables import notify_events, tickets
from tests.collector.conftest import TEMPLATE_DB, make_result
from tests.collector.serve import Collector, post_results, start_collectors, stop_collectors

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SITE = "race-hospital"
HOSTS = ("db-1", "db-2", "file-1")
ITEMS = ("/backups/full", "/backups/log", "/backups/diff")
BATCHES_PER_HOST = 6
SENDERS = 6


@pytest.mark.parametrize("layout", ["three collectors", "one collector with --workers 3"])
def test_one_ticket_and_one_opened_event_per_problem_when_three_collectors_race(pg_cluster, tmp_path, layout):
    name = pg_cluster.create_db(template=TEMPLATE_DB)
    db_url = pg_cluster.url(name)
    engine = make_engine(db_url)
    procs: list[Collector] = []
    try:
        tokens = {h: create_agent_token(engine, site=SITE, host=h) for h in HOSTS}
        start = datetime.now(UTC) - timedelta(hours=1)
        stream: list[tuple[str, list[dict[str, Any]]]] = []  # (host, batch), the same for every sender
        for b in range(BATCHES_PER_HOST):
            for host in HOSTS:
                stream.append((host, [
                    make_result(site=SITE, host=host, check="backup_files", item=item, status=Status.CRITICAL,
                                started_at=start + timedelta(minutes=b, seconds=i), summary="no backup")
                    for i, item in enumerate(ITEMS)]))
        if layout == "three collectors":
            procs = start_collectors(db_url, tmp_path, 3)
            urls = [c.url for c in procs]
        else:
            procs = start_collectors(db_url, tmp_path, 1, config={"workers": 3})
            urls = [procs[0].url] * 3
        errors: list[BaseException] = []
        barrier = threading.Barrier(SENDERS)

        def sender(k: int) -> None:
            try:
                barrier.wait(timeout=60)
                order = stream[k % 3:] + stream[:k % 3] if k % 2 else list(reversed(stream))
                for j, (host, batch) in enumerate(order):
                    post_results(urls[(j + k) % 3], tokens[host], batch)
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                errors.append(exc)

        threads = [threading.Thread(target=sender, args=(k,)) for k in range(SENDERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=240)
        assert errors == []

        with engine.connect() as conn:
            rows = conn.execute(select(tickets)).all()
            events = conn.execute(select(notify_events.c.event, notify_events.c.ticket_id)).all()
        per_problem = Counter((r.host, r.check, r.item) for r in rows)
        assert per_problem == Counter({(h, "backup_files", i): 1 for h in HOSTS for i in ITEMS})
        assert {r.state for r in rows} == {"open"}
        assert {r.occurrences for r in rows} == {BATCHES_PER_HOST}  # every result counted once
        assert sorted((e, int(t)) for e, t in events) == sorted(("opened", r.id) for r in rows)
    finally:
        stop_collectors(procs)
        engine.dispose()
        pg_cluster.drop_db(name)
