"""Slow clients and too many connections cannot hold the collector (collector/httpserver.py).

Real sockets against a real ``wardround-collector serve`` process whose file
limit is lowered to 256, so a few hundred sockets are enough to exhaust it.
"""

from __future__ import annotations

import http.client
import resource
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.config import HttpLimits
from collector.httpserver import connection_cap
from tests.collector.conftest import serving

FILE_LIMIT = 256


class Served:
    def __init__(self, port: int, log: Path) -> None:
        self.port, self.log = port, log

    def healthz(self, timeout: float) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("GET", "/healthz")
            return conn.getresponse().status
        finally:
            conn.close()

    def slow_socket(self, first: bytes = b"GET /healthz HTTP/1.1\r\nHost: x\r\n") -> socket.socket:
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        s.sendall(first)
        return s


def _lower_file_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FILE_LIMIT, FILE_LIMIT))


def _serve(tmp_path: Path, config: str) -> Iterator[Served]:
    cfg = tmp_path / "collector.yaml"
    cfg.write_text(config)
    with serving(tmp_path, "--config", str(cfg), "--db", f"sqlite:///{tmp_path}/c.db",
                 preexec_fn=_lower_file_limit) as (url, log):
        yield Served(int(url.rsplit(":", 1)[1]), log)


@pytest.fixture
def patient(tmp_path: Path) -> Iterator[Served]:
    """Deadlines far away: only the connection cap can keep /healthz answering."""
    yield from _serve(tmp_path, "http: {header_timeout: 60s, body_timeout: 60s}\n")


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    yield from _serve(tmp_path_factory.mktemp("strict"),
                      "http: {header_timeout: 2s, body_timeout: 2s, keep_alive: 5s}\n")


def _closed_by_server(s: socket.socket, wait: float) -> bytes | None:
    """What the server sent before closing ``s`` within ``wait`` seconds; None if it is still open."""
    s.settimeout(wait)
    got = b""
    try:
        while True:
            chunk = s.recv(4096)
            if not chunk:
                return got
            got += chunk
    except TimeoutError:
        return None
    except ConnectionResetError:
        return got


def test_healthz_answers_while_300_slow_sockets_try_to_exhaust_the_file_limit(patient):
    cap = connection_cap(HttpLimits(), FILE_LIMIT)
    slow = []
    try:
        for _ in range(300):
            slow.append(patient.slow_socket())
        assert patient.healthz(timeout=5) == 200
        # The cap closed the oldest half-sent requests to make room: at most `cap` stay open.
        still_open = [s for s in slow if _closed_by_server(s, 0.01) is None]
        assert len(still_open) <= cap < len(slow)
        assert patient.healthz(timeout=5) == 200
    finally:
        for s in slow:
            s.close()
    assert "over the cap of" in patient.log.read_text()


def test_slow_headers_and_slow_bodies_are_cut_off_when_their_deadline_passes(strict):
    slow_headers = [strict.slow_socket() for _ in range(20)]
    # The login form is read before anything else is decided, so the app waits for this body.
    slow_bodies = [strict.slow_socket(b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\ntoken=")
                   for _ in range(5)]
    stop = threading.Event()

    def trickle() -> None:  # one more line (or body byte) every half second: no progress resets the deadline
        while not stop.wait(0.5):
            for s in slow_headers:
                try:
                    s.sendall(b"X-Slow: 1\r\n")
                except OSError:
                    pass
            for s in slow_bodies:
                try:
                    s.sendall(b" ")
                except OSError:
                    pass

    t = threading.Thread(target=trickle, daemon=True)
    t.start()
    try:
        answers = [_closed_by_server(s, 15) for s in slow_headers + slow_bodies]
    finally:
        stop.set()
        t.join()
        for s in slow_headers + slow_bodies:
            s.close()
    assert all(a is not None and a.startswith(b"HTTP/1.1 408 ") for a in answers), \
        repr([a if a is None else a[:13] for a in answers])
    assert strict.healthz(timeout=5) == 200


def test_a_kept_alive_client_is_answered_and_oversized_headers_are_refused_when_limits_apply(strict):
    conn = http.client.HTTPConnection("127.0.0.1", strict.port, timeout=5)
    try:
        for _ in range(3):  # a normal client on one connection, well within every deadline
            conn.request("GET", "/healthz")
            assert conn.getresponse().read() and True
        time.sleep(2.5)  # idle longer than the header deadline: kept alive is not "slow"
        conn.request("GET", "/healthz")
        assert conn.getresponse().status == 200
    finally:
        conn.close()
    s = strict.slow_socket(b"GET /healthz HTTP/1.1\r\n" + b"X-Big: " + b"a" * 70_000 + b"\r\n")
    try:
        answer = _closed_by_server(s, 10)
    finally:
        s.close()
    assert answer is not None and answer.startswith(b"HTTP/1.1 431 ")


def test_cap_leaves_a_quarter_of_the_file_limit_free_when_the_limit_is_low():
    assert connection_cap(HttpLimits(max_connections=4096), 1024) == 768
    assert connection_cap(HttpLimits(max_connections=4096), 65536) == 4096
    assert connection_cap(HttpLimits(max_connections=4096), 256) == 192
    assert connection_cap(HttpLimits(max_connections=100), 256) == 100
