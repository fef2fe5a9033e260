"""Three collectors on one PostgreSQL, one of them 20 minutes ahead (libfaketime on that process only).

Time decisions that several collectors share -- when a notification claim
expires, when a host was last seen, when an agent counts as silent, when a
deadline passed -- must not depend on which collector makes them.  Before,
the collector that ran ahead took over the others' live claims ("our claim
expired": notifications arrived twice), opened "agent silent" tickets for
hosts the others had just heard from, and wrote ``last_seen`` 20 minutes
into the future, which the others then moved backwards.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text

from checks.result import Status
from collector.auth import create_agent_token
from collector.store.db import make_engine
from collector.store.tables import hosts, notify_deliveries, tickets
from tests.collector.conftest import TEMPLATE_DB, make_result
from tests.collector.notify_receivers import HookSink
from tests.collector.serve import post_results, start_collectors, stop_collectors
from tests.conftest import missing

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SITE = "skew-hospital"
HOSTS = ("his-db", "lis-db", "pacs-01", "file-01")


def _batch(host: str, status: Status, start: datetime) -> list[dict[str, Any]]:
    """Two results of one backup item (a ticket opens after 2 bad, resolves after 2 good) and a system one."""
    return [make_result(site=SITE, host=host, check="db_backup", item="HIS", status=status,
                        started_at=start + timedelta(seconds=i), summary="backup") for i in range(2)] + [
        make_result(site=SITE, host=host, check="system", item="", started_at=start)]


def test_a_collector_twenty_minutes_ahead_changes_nothing(pg_cluster, tmp_path):
    faketime = shutil.which("faketime")
    if faketime is None:
        missing("faketime", "apt-get install faketime (libfaketime): one collector runs 20 minutes ahead")
    name = pg_cluster.create_db(template=TEMPLATE_DB)
    url = pg_cluster.url(name)
    engine = make_engine(url)
    sink = HookSink()
    sink.delay = lambda hit: 0.3  # a slowish receiver: claims are live while a message is on its way
    sink.start()
    collectors = []
    try:
        tokens = {h: create_agent_token(engine, site=SITE, host=h) for h in HOSTS}
        collectors = start_collectors(
            url, tmp_path, 3, wrap=[[], [], [faketime, "-f", "+20m"]],
            env={"FAKETIME_DONT_FAKE_MONOTONIC": "1"},
            config={"sweep_seconds": 1, "notifications": {
                "poll": "0.5s", "channels": {"hook": {"type": "webhook", "url": sink.url("/hook")}},
                "routes": [{"channels": ["hook"]}]}})
        ahead = collectors[2]
        seen: dict[str, list[datetime]] = {h: [] for h in HOSTS}
        for r, status in enumerate((Status.CRITICAL, Status.OK)):
            start = datetime.now(UTC) + timedelta(seconds=r * 10)
            for i, host in enumerate(HOSTS):
                pair = (collectors[(i + r) % 3], ahead)  # every host also reports to the one ahead ...
                for c in pair[::-1] if r % 2 else pair:  # ... last in one round, first in the next
                    post_results(c.url, tokens[host], _batch(host, status, start))
                    start += timedelta(seconds=3)
                    with engine.connect() as conn:
                        seen[host].append(conn.execute(select(hosts.c.last_seen).where(
                            hosts.c.site == SITE, hosts.c.host == host)).scalar_one())
        events = 2 * len(HOSTS)  # opened, resolved
        deadline = time.monotonic() + 60
        while True:
            with engine.connect() as conn:
                states = Counter(conn.execute(select(notify_deliveries.c.state)).scalars())
            if set(states) == {"sent"} and states["sent"] >= events:
                break
            assert time.monotonic() < deadline, states
            time.sleep(0.3)
        time.sleep(2.5)  # more sweeps of the collector ahead, and any resend, happen now
        with engine.connect() as conn:
            states = Counter(conn.execute(select(notify_deliveries.c.state)).scalars())

        keys = Counter(h.headers["Idempotency-Key"] for h in sink.on("/hook"))
        assert set(keys.values()) == {1}, [k for k, n in keys.items() if n > 1]  # nothing twice
        assert len(keys) == sum(states.values()) == events
        with engine.connect() as conn:
            rows = conn.execute(select(tickets)).all()
            db_now = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
            last_seen = dict(conn.execute(select(hosts.c.host, hosts.c.last_seen)).all())
        assert [r for r in rows if r.check == "agent"] == []  # no false "agent silent"
        assert {r.host for r in rows} == set(HOSTS)
        assert all(r.resolved_at is None or r.resolved_at >= r.opened_at for r in rows)
        assert all(r.opened_at <= db_now for r in rows)
        for host, values in seen.items():
            assert values == sorted(values), host  # last_seen never moved backwards
            assert last_seen[host] <= db_now, host  # nor into the future
    finally:
        stop_collectors(collectors)
        sink.stop()
        engine.dispose()
        pg_cluster.drop_db(name)
