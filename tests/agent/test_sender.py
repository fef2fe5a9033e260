"""Pushing the spool to a small real HTTP server whose answers each test controls."""

from __future__ import annotations

import gzip
import logging
import shutil
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from agent.sender import Backoff, PushOutcome, Sender
from agent.spool import Spool, notice_factory
from tests.agent.helpers import (
    REPO,
    TOKEN,
    FakeCollector,
    Seen,
    TrickleServer,
    accept_all,
    make_result,
    serve_in_thread,
)
from tests.conftest import free_port, missing

NOTICE = notice_factory("central-hospital", "his-db-01")


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    with Spool(tmp_path / "spool.db") as s:
        yield s


@pytest.fixture
def collector() -> Iterator[FakeCollector]:
    fake = FakeCollector().start()
    yield fake
    fake.stop()


def sender_for(spool: Spool, url: str, **kw: object) -> Sender:
    kw.setdefault("timeout_s", 2.0)
    return Sender(spool, url, TOKEN, notice=NOTICE, site="central-hospital", host="his-db-01",
                  **kw)  # type: ignore[arg-type]


def test_acknowledged_results_leave_the_spool_when_the_collector_accepts(
        spool: Spool, collector: FakeCollector) -> None:
    ids = spool.put([make_result("/"), make_result("/var")])
    out = sender_for(spool, collector.url).push()
    assert out.ok and out.acknowledged == 2
    assert spool.backlog() == 0
    (seen,) = collector.seen
    assert seen.path == "/api/v1/results"
    assert seen.headers["Content-Encoding"] == "gzip"
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["Authorization"] == f"Bearer {TOKEN}"
    assert seen.ids == ids
    assert seen.body["agent"]["spool_backlog"] == 0  # nothing waits besides this batch
    assert seen.body["agent"]["version"]
    assert seen.body["agent"]["time"].endswith("Z")


def test_duplicates_are_deleted_too_when_the_collector_already_has_them(
        spool: Spool, collector: FakeCollector) -> None:
    spool.put([make_result("/a"), make_result("/b")])
    collector.respond = lambda s: (200, {"accepted": s.ids[:1], "duplicates": s.ids[1:],
                                         "server_time": "2026-11-23T08:00:00Z"})
    sender = sender_for(spool, collector.url)
    assert sender.push().acknowledged == 2
    assert spool.backlog() == 0
    assert sender.clock_offset_s is not None  # measured from server_time


def test_batches_go_oldest_first_when_the_backlog_exceeds_the_batch_size(
        spool: Spool, collector: FakeCollector) -> None:
    ids = [spool.put([make_result(f"/m{i}")])[0] for i in range(7)]
    out = sender_for(spool, collector.url, batch_size=3).push()
    assert out.acknowledged == 7
    assert [len(s.ids) for s in collector.seen] == [3, 3, 1]
    assert [s.body["agent"]["spool_backlog"] for s in collector.seen] == [4, 1, 0]
    assert collector.received_ids == ids


def test_nothing_is_deleted_before_the_acknowledgement_when_sending(
        spool: Spool, collector: FakeCollector) -> None:
    ids = spool.put([make_result(f"/m{i}") for i in range(3)])
    still_spooled: list[set[str]] = []

    def respond(seen: Seen) -> tuple[int, object]:
        still_spooled.append(spool.contains(seen.ids))
        return accept_all(seen)

    collector.respond = respond
    sender_for(spool, collector.url).push()
    assert still_spooled == [set(ids)]


@pytest.mark.parametrize("status", [500, 503, 429])
def test_everything_stays_spooled_when_the_collector_fails(
        spool: Spool, collector: FakeCollector, status: int) -> None:
    spool.put([make_result("/")])
    collector.respond = lambda s: (status, {"detail": "down"})
    out = sender_for(spool, collector.url).push()
    assert not out.ok and f"HTTP {status}" in out.error
    assert spool.backlog() == 1


def test_the_cause_is_logged_without_the_token_when_the_collector_refuses_it(
        spool: Spool, collector: FakeCollector, caplog: pytest.LogCaptureFixture) -> None:
    spool.put([make_result("/")])
    collector.respond = lambda s: (401, {"detail": "bad token"})
    caplog.set_level(logging.DEBUG)
    out = sender_for(spool, collector.url).push()
    assert not out.ok and "401" in out.error
    assert spool.backlog() == 1
    assert "refused the agent token" in caplog.text
    assert TOKEN not in caplog.text and '"summary"' not in caplog.text
    collector.respond = lambda s: (403, {"detail": "wrong host"})
    out = sender_for(spool, collector.url).push()
    assert "403" in out.error and "his-db-01" in out.error and spool.backlog() == 1
    assert "wrong host" in out.error  # the collector's own reason, e.g. the --also-host it needs


def test_a_404_says_the_collector_url_is_wrong_and_keeps_the_results(spool: Spool, collector: FakeCollector) -> None:
    spool.put([make_result("/")])
    collector.respond = lambda s: (404, {"detail": "Not Found"})  # e.g. collector.url with a path the collector lacks
    out = sender_for(spool, collector.url + "/wardround").push()
    assert not out.ok and "HTTP 404" in out.error and "check collector.url" in out.error
    assert "/wardround/api/v1/results" in out.error and spool.backlog() == 1


def test_everything_stays_spooled_when_the_collector_is_unreachable(spool: Spool) -> None:
    spool.put([make_result("/")])
    out = sender_for(spool, f"http://127.0.0.1:{free_port()}").push()
    assert not out.ok and "cannot reach the collector" in out.error
    assert spool.backlog() == 1


def test_the_send_times_out_and_keeps_the_results_when_the_collector_is_slow(
        spool: Spool, collector: FakeCollector) -> None:
    spool.put([make_result("/")])

    def slow(seen: Seen) -> tuple[int, object]:
        time.sleep(1.5)
        return accept_all(seen)

    collector.respond = slow
    started = time.monotonic()
    out = sender_for(spool, collector.url, timeout_s=0.5).push()
    assert time.monotonic() - started < 1.4
    assert not out.ok and "no complete answer from the collector" in out.error and "within 0.5 s" in out.error
    assert spool.backlog() == 1


def test_the_batch_size_halves_until_accepted_when_the_collector_answers_413(
        spool: Spool, collector: FakeCollector) -> None:
    ids = spool.put([make_result(f"/m{i}") for i in range(10)])
    collector.respond = lambda s: (413, {"detail": "too large"}) if len(s.ids) > 3 else accept_all(s)
    sender = sender_for(spool, collector.url, batch_size=10)
    out = sender.push()
    assert out.ok and out.acknowledged == 10
    assert sender.batch_size <= 3
    accepted = [s for s in collector.seen if len(s.ids) <= 3]
    assert [i for s in accepted for i in s.ids] == ids  # still oldest first
    assert spool.backlog() == 0


def test_only_the_invalid_results_are_quarantined_when_the_collector_answers_422(
        spool: Spool, collector: FakeCollector) -> None:
    ids = spool.put([make_result(f"/m{i}") for i in range(16)])
    bad = {ids[3], ids[11]}

    def strict(seen: Seen) -> tuple[int, object]:
        wrong = [i for i in seen.ids if i in bad]
        if wrong:
            return 422, {"detail": [{"loc": ["body", "results", 0, "item"], "msg": "too long",
                                     "input": "PATIENT DATA"}], "bad_ids": wrong}
        return accept_all(seen)

    collector.respond = strict
    out = sender_for(spool, collector.url).push()
    assert out.ok and out.quarantined == 2
    assert {q[0] for q in spool.quarantined()} == bad
    assert all("too long" in q[1] and "PATIENT" not in q[1] for q in spool.quarantined())
    accepted = {i for s in collector.seen for i in s.ids if not set(s.ids) & bad}
    assert accepted >= set(ids) - bad
    # the agent's WARNING about the quarantine went out as well
    notices = [s.body["results"] for s in collector.seen]
    quarantine_notices = [r for batch in notices for r in batch
                          if r["check"] == "agent" and r["summary"].startswith("quarantined 1 ")]
    assert len({r["id"] for r in quarantine_notices}) == 2
    assert spool.backlog() == 0


def test_unacknowledged_results_stay_spooled_when_the_collector_acknowledges_only_some(
        spool: Spool, collector: FakeCollector) -> None:
    ids = spool.put([make_result(f"/m{i}") for i in range(4)])
    collector.respond = lambda s: (200, {"accepted": s.ids[:2] + ["f" * 32], "duplicates": []})
    out = sender_for(spool, collector.url).push()
    assert out.acknowledged == 2 and not out.ok
    assert {r.id for r in spool.batch(10)} == set(ids[2:])


def test_backoff_doubles_up_to_the_cap_when_failures_repeat() -> None:
    top = Backoff(base=1.0, cap=300.0, rng=lambda: 1.0)
    assert [top.next_delay() for _ in range(11)] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    top.reset()
    assert top.next_delay() == 1
    jittered = Backoff(base=1.0, cap=300.0)
    for n in range(12):
        ceiling = jittered.ceiling()
        assert ceiling == min(300.0, 2.0 ** n)
        assert 0 <= jittered.next_delay() <= ceiling


# -- TLS --------------------------------------------------------------------

def _self_signed(tmp: Path, name: str) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        missing("openssl", "needed to make a self-signed certificate for the TLS test")
    cert, key = tmp / f"{name}.crt", tmp / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", f"/CN={name}", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return cert, key


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("tls")
    cert, key = _self_signed(tmp, "collector")
    other, _ = _self_signed(tmp, "someone-else")
    return {"cert": cert, "key": key, "other": other}


def test_results_are_sent_when_the_ca_file_signs_the_collector_certificate(
        spool: Spool, tls_files: dict[str, Path]) -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tls_files["cert"], tls_files["key"])
    fake = FakeCollector().start(tls=ctx)
    try:
        spool.put([make_result("/")])
        wrong = sender_for(spool, fake.url, ca_file=str(tls_files["other"])).push()
        assert not wrong.ok and "TLS certificate verification failed" in wrong.error
        system_store = sender_for(spool, fake.url).push()
        assert not system_store.ok and "TLS" in system_store.error
        assert spool.backlog() == 1 and fake.seen == []
        right = sender_for(spool, fake.url, ca_file=str(tls_files["cert"])).push()
        assert right.ok and right.acknowledged == 1
    finally:
        fake.stop()


def test_a_push_ends_at_its_overall_deadline_when_the_collector_trickles_its_answer(
        spool: Spool) -> None:
    """A byte every 0.5 s never trips a 2 s socket timeout; the request's overall limit must."""
    trickle = TrickleServer(interval=0.5)
    spool.put([make_result()])
    sender = sender_for(spool, trickle.url, timeout_s=2.0)
    outcome: list[PushOutcome] = []
    worker = threading.Thread(target=lambda: outcome.append(sender.push()), daemon=True)
    started = time.monotonic()
    try:
        worker.start()
        worker.join(20)
    finally:
        trickle.stop()
    assert outcome, "push() was still waiting for the trickled answer after 20 s"
    (out,) = outcome
    assert time.monotonic() - started < 6
    assert not out.ok and "within 2 s" in out.error, out.error
    assert spool.backlog() == 1


BOMB_CLIENT = """
import resource, sys
sys.path.insert(0, {repo!r})
resource.setrlimit(resource.RLIMIT_AS, (1536 << 20, 1536 << 20))
from agent.sender import Sender
from agent.spool import Spool
from tests.agent.helpers import TOKEN, make_result
spool = Spool({spool!r})
spool.put([make_result()])
out = Sender(spool, {url!r}, TOKEN, timeout_s=30).push()
print(repr(out.error), spool.backlog())
"""


def test_a_gzip_bomb_from_the_collector_is_refused_with_a_clear_error_when_it_inflates_too_far(
        tmp_path: Path) -> None:
    """4 MB of gzip that inflates to 4 GB: a clear error, not MemoryError (the client's memory is capped)."""
    member = gzip.compress(b"\0" * (16 << 20), compresslevel=9)
    bomb = member * (4096 // 16)  # 256 members of 16 MiB: 4 GiB inflated
    assert len(bomb) < 4_200_000

    class Bomb(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(bomb)))
            self.end_headers()
            self.wfile.write(bomb)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Bomb)
    serve_in_thread(server)
    try:
        script = BOMB_CLIENT.format(repo=str(REPO), spool=str(tmp_path / "spool.db"),
                                    url=f"http://127.0.0.1:{server.server_address[1]}")
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    finally:
        server.shutdown()
        server.server_close()
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "MemoryError" not in proc.stdout + proc.stderr
    error, backlog = proc.stdout.rsplit(" ", 1)
    assert "inflates to more than 16 MiB" in error
    assert backlog.strip() == "1"  # nothing acknowledged: the result stays spooled
