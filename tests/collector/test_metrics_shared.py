"""The ingest counters of ``serve --workers N`` (collector/metrics/shared.py): every worker's ``/metrics``
shows every worker's counts, added up, exactly, and never less than the scrape before."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine

from collector.auth import create_agent_token
from collector.metrics.shared import SharedIngest
from collector.metrics.state import CollectorMetrics
from collector.store.db import make_engine
from tests.collector.conftest import HOST, SITE, make_batch
from tests.collector.serve import post_results, start_collectors, stop_collectors
from tests.conftest import start_prometheus

# what the Ingestor reports: outcome counts, and batch times (binary fractions: their sum is exact in any order)
OBSERVED = [("accepted", 500), ("duplicate", 3), ("rejected", 0), ("rejected", 7), ("accepted", 499)]
TIMES = [0.001953125, 0.005, 0.0078125, 0.25, 1.0, 2.5, 11.0, 0.03125, 0.5]


def _ingest_lines(metrics: CollectorMetrics) -> list[bytes]:
    return [line for line in generate_latest(metrics.registry).splitlines() if b"wardround_ingest" in line]


def _values(text: str) -> dict[tuple[str, str], float]:
    return {(s.name, s.labels.get("outcome", s.labels.get("le", ""))): s.value
            for f in text_string_to_metric_families(text) if f.name.startswith("wardround_ingest") for s in f.samples}


@pytest.fixture
def engine():
    engine = create_engine("sqlite://")  # no tables: the database families are absent, the ingest ones are not
    yield engine
    engine.dispose()


def test_workers_sharing_a_directory_each_show_the_sum_written_as_one_process_writes_it(engine, tmp_path):
    one = CollectorMetrics(engine)
    workers = [CollectorMetrics(engine, shared=str(tmp_path)) for _ in range(3)]
    for i, (outcome, n) in enumerate(OBSERVED):
        one.observe(outcome, n)
        workers[i % 3].observe(outcome, n)
    for i, seconds in enumerate(TIMES):
        one.time_batch(seconds)
        workers[(i + 1) % 3].time_batch(seconds)
    expected = _ingest_lines(one)
    assert b'wardround_ingest_results_total{outcome="accepted"} 999.0' in expected
    assert b"wardround_ingest_batch_seconds_count 9.0" in expected
    for w in workers:  # each worker's scrape: every worker's counts, byte for byte as one process writes them
        assert _ingest_lines(w) == expected
    assert sorted(os.listdir(tmp_path)) == ["slot-0", "slot-1", "slot-2"]


def test_threads_of_one_worker_lose_no_count(engine, tmp_path):
    metrics = CollectorMetrics(engine, shared=str(tmp_path))
    reader = CollectorMetrics(engine, shared=str(tmp_path))

    def count() -> None:
        for _ in range(2000):
            metrics.observe("accepted", 3)
            metrics.time_batch(0.25)

    threads = [threading.Thread(target=count) for _ in range(4)]
    for t in threads:
        t.start()
    seen = []
    while any(t.is_alive() for t in threads):
        seen.append(_values(generate_latest(reader.registry).decode()))
    for t in threads:
        t.join()
    seen.append(_values(generate_latest(reader.registry).decode()))
    last = seen[-1]
    assert last[("wardround_ingest_results_total", "accepted")] == 24_000
    assert last[("wardround_ingest_batch_seconds_count", "")] == 8000
    assert last[("wardround_ingest_batch_seconds_sum", "")] == 2000
    for before, after in zip(seen, seen[1:], strict=False):  # never backwards
        assert all(after[k] >= v for k, v in before.items())
    for s in seen:  # a scrape's histogram is of the same batches throughout
        assert s[("wardround_ingest_batch_seconds_count", "")] == s[("wardround_ingest_batch_seconds_bucket", "+Inf")]
        assert s[("wardround_ingest_batch_seconds_sum", "")] == s[("wardround_ingest_batch_seconds_count", "")] / 4


_WORKER = """
import sys, time
from collector.metrics.shared import SharedIngest
s = SharedIngest(sys.argv[1])
s.observe("accepted", 500)
s.time_batch(0.5)
print(s.name, flush=True)
time.sleep(600)
"""


def test_a_worker_that_replaces_a_killed_one_counts_on_from_its_slot(tmp_path):
    survivor = SharedIngest(str(tmp_path))  # slot-0
    proc = subprocess.Popen([sys.executable, "-c", _WORKER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "slot-1"
    finally:
        proc.kill()
        proc.wait()
    before = survivor.totals()
    replacement = SharedIngest(str(tmp_path))  # the killed worker's lock is gone: it takes slot-1
    assert replacement.name == "slot-1"
    assert replacement.totals() == before
    replacement.observe("accepted", 500)
    assert survivor.totals()[1] == 1000  # the killed worker's 500 and its replacement's
    assert SharedIngest(str(tmp_path)).name == "slot-2"  # held slots are not taken


def test_a_slot_left_mid_batch_is_read_as_it_stands_and_evened_by_its_next_owner(tmp_path):
    (tmp_path / "probe").mkdir()
    (tmp_path / "slots").mkdir()
    fields = len(SharedIngest(str(tmp_path / "probe")).totals())
    values = [0.0] * fields
    values[0], values[1] = 7.0, 500.0  # an odd sequence number: its writer was killed between the two increments
    slot = tmp_path / "slots" / "slot-0"
    slot.write_bytes(struct.pack(f"={fields}d", *values))
    with open(slot, "rb") as held:  # a worker stopped mid-batch (SIGSTOP) still holds its slot
        fcntl.flock(held, fcntl.LOCK_EX)
        other = SharedIngest(str(tmp_path / "slots"))
        assert other.name == "slot-1"
        assert other.totals()[1] == 500  # waited for it, then read it as it stands
    assert other.totals()[1] == 500  # nobody holds it now: read as it stands
    replacement = SharedIngest(str(tmp_path / "slots"))  # the slot is free: taken, and its number evened
    assert replacement.name == "slot-0"
    assert struct.unpack_from("=d", slot.read_bytes())[0] == 8
    replacement.time_batch(0.25)
    assert replacement.totals()[-1] == 0.25
    assert struct.unpack_from("=d", slot.read_bytes())[0] == 10


# -- a real serve --workers 2 ---------------------------------------------------------------------------------

BATCHES = 12
SCRAPES = 8


def _scrape(url: str) -> float:
    with urllib.request.urlopen(f"{url}/metrics", timeout=30) as r:
        values = _values(r.read().decode())
    return values[("wardround_ingest_results_total", "accepted")]


def _query(prometheus: str, expr: str) -> float | None:
    """The one value of an instant query (None: no series yet, or Prometheus not listening yet)."""
    url = f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            found = json.loads(r.read())["data"]["result"]
    except urllib.error.URLError:
        return None
    return float(found[0]["value"][1]) if found else None


def _workers(pid: int) -> list[int]:
    """The serving parent's worker processes (uvicorn spawns them)."""
    children = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += [int(c) for c in (task / "children").read_text().split()]
    workers = []
    for child in children:
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                workers.append(child)
        except FileNotFoundError:  # it has just ended
            pass
    return workers


@pytest.mark.slow
def test_every_scrape_of_serve_with_two_workers_counts_every_batch_also_after_a_worker_is_killed(tmp_path):
    db_url = f"sqlite:///{tmp_path}/collector.db"
    (tmp_path / "tmp").mkdir()
    collectors = start_collectors(db_url, tmp_path, 1, config={"workers": 2}, env={"TMPDIR": str(tmp_path / "tmp")})
    c = collectors[0]
    engine = make_engine(db_url)
    (tmp_path / "prometheus").mkdir()
    prometheus, prometheus_url = start_prometheus(tmp_path / "prometheus", c.url.removeprefix("http://"))
    try:
        token = create_agent_token(engine, site=SITE, host=HOST)
        start = datetime.now(UTC) - timedelta(days=1)
        sent = 0

        def send(n: int) -> None:
            nonlocal sent
            for _ in range(n):
                answer = post_results(c.url, token, make_batch(500, start=start + timedelta(hours=sent)))
                assert len(answer["accepted"]) == 500
                sent += 1

        accepted = 'wardround_ingest_results_total{outcome="accepted"}'
        deadline = time.monotonic() + 60
        while _query(prometheus_url, accepted) != 0:  # Prometheus has started scraping
            assert time.monotonic() < deadline, (tmp_path / "prometheus" / "prometheus.log").read_text()[-2000:]
            time.sleep(0.5)
        send(BATCHES)
        shared = next((tmp_path / "tmp").iterdir())

        def per_slot() -> list[float]:  # each worker's accepted count, as its slot holds it
            return [struct.unpack_from("=2d", p.read_bytes())[1] for p in sorted(shared.iterdir())]

        while 0 in per_slot() and sent < 10 * BATCHES:  # the kernel gave one worker every connection so far
            send(1)
        assert len(per_slot()) == 2 and 0 not in per_slot(), per_slot()  # both workers took batches
        seen = [_scrape(c.url) for _ in range(SCRAPES)]  # new connections, answered by either worker
        assert seen == [sent * 500] * SCRAPES  # each answer has both workers' counts
        assert sum(per_slot()) == sent * 500

        victim = _workers(c.proc.pid)[0]
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while victim in _workers(c.proc.pid) or len(_workers(c.proc.pid)) < 2:  # the supervisor replaces it
            assert time.monotonic() < deadline, c.log_text()[-2000:]
            time.sleep(0.2)
        scrapes = []
        while len(scrapes) < SCRAPES:  # the replacement answers /metrics once it has started
            try:
                scrapes.append(_scrape(c.url))
            except OSError:
                time.sleep(0.2)
        assert scrapes == [sent * 500] * SCRAPES  # the killed worker's counts are kept
        send(BATCHES)
        seen = [_scrape(c.url) for _ in range(SCRAPES)]
        assert seen == [sent * 500] * SCRAPES
        assert len(per_slot()) == 2  # the replacement took the killed worker's slot
        # Prometheus, scraping every second all along, saw the counter only grow: no reset, rate() is right
        deadline = time.monotonic() + 60
        while _query(prometheus_url, accepted) != sent * 500:
            assert time.monotonic() < deadline, (tmp_path / "prometheus" / "prometheus.log").read_text()[-2000:]
            time.sleep(0.5)
        while _query(prometheus_url, f"count_over_time({accepted}[10m])") < 5:  # a fast run: a few scrapes more
            assert time.monotonic() < deadline, (tmp_path / "prometheus" / "prometheus.log").read_text()[-2000:]
            time.sleep(0.5)
        assert _query(prometheus_url, f"resets({accepted}[10m])") == 0  # over every scrape, the kill's among them
    finally:
        os.killpg(prometheus.pid, signal.SIGTERM)
        prometheus.wait(timeout=30)
        stop_collectors(collectors)
        engine.dispose()
    assert not (tmp_path / "tmp" / shared.name).exists()  # removed with the collector
