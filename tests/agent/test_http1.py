"""The agent's own HTTP/1.1 exchange (agent/http1.py): answers framed every way a server may
frame them, broken answers, and the proxy rules urllib had (environment, no_proxy, CONNECT)."""

from __future__ import annotations

import os
import socket
import ssl
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.central import write_secret_file
from agent.http import Http, HttpError
from agent.http1 import bypassed, environment_proxies, route
from tests.agent.helpers import REPO, FakeCollector
from tests.agent.test_sender import _self_signed


class Canned:
    """A TCP server answering each connection with canned bytes; keeps what it received."""

    def __init__(self, *answers: bytes):
        self.answers = list(answers)
        self.received: list[bytes] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        for answer in self.answers:
            conn, _ = self.sock.accept()
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, rest = data.partition(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                while len(rest) < length:
                    rest += conn.recv(65536)
                self.received.append(data if length == 0 else head + b"\r\n\r\n" + rest)
                conn.sendall(answer)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def no_env_proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "no_proxy", "NO_PROXY",
                 "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    yield


def ask(server: Canned, method: str = "GET", data: bytes | None = None, **kw: object) -> tuple[int, bytes, Http]:
    http = Http(f"http://127.0.0.1:{server.port}", "tok", **kw)  # type: ignore[arg-type]
    got = http.exchange(method, http.url("/api/v1/x?y=1"), timeout=5, data=data)
    return got.status, got.raw, http


def test_a_chunked_answer_is_joined_and_its_trailers_skipped(no_env_proxy: None) -> None:
    server = Canned(b"HTTP/1.1 100 Continue\r\n\r\n"
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n"
                    b"5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nTrailer: x\r\n\r\n")
    try:
        status, raw, _ = ask(server, "POST", b'{"a": 1}')
    finally:
        server.close()
    assert (status, raw) == (200, b"hello, world")
    request = server.received[0]
    assert request.startswith(b"POST /api/v1/x?y=1 HTTP/1.1\r\n")
    assert b"\r\nHost: 127.0.0.1:" in request and b"\r\nContent-Length: 8\r\n" in request
    assert b"\r\nAuthorization: Bearer tok\r\n" in request and request.endswith(b'\r\n\r\n{"a": 1}')


def test_content_length_bounds_the_body_and_a_short_body_is_a_broken_answer(no_env_proxy: None) -> None:
    server = Canned(b"HTTP/1.1 404 Not Found\r\nContent-Length: 5\r\ncontent-encoding: x\r\n\r\nabcdeEXTRA",
                    b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nonly this")
    try:
        http = Http(f"http://127.0.0.1:{server.port}", "tok")
        got = http.exchange("GET", http.url("/"), timeout=5)
        assert (got.status, got.raw, got.header("Content-Encoding")) == (404, b"abcde", "x")
        with pytest.raises(HttpError, match="broken answer from the collector: the answer ended after 9 of 50"):
            http.exchange("GET", http.url("/"), timeout=5)
    finally:
        server.close()


def test_without_length_the_body_runs_to_the_close_and_garbage_is_a_broken_answer(no_env_proxy: None) -> None:
    server = Canned(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nto the end", b"SSH-2.0-OpenSSH\r\n", b"")
    try:
        http = Http(f"http://127.0.0.1:{server.port}", "tok")
        assert http.exchange("GET", http.url("/"), timeout=5).raw == b"to the end"
        with pytest.raises(HttpError, match="broken answer from the collector: not an HTTP status line"):
            http.exchange("GET", http.url("/"), timeout=5)
        with pytest.raises(HttpError, match="closed without an answer"):
            http.exchange("GET", http.url("/"), timeout=5)
    finally:
        server.close()


def test_the_environment_proxy_gets_the_absolute_url_and_the_basic_credentials_of_its_url(
        monkeypatch: pytest.MonkeyPatch, no_env_proxy: None) -> None:
    proxy = Canned(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
    monkeypatch.setenv("http_proxy", f"http://agent%40his:p%3Aw@127.0.0.1:{proxy.port}")
    try:
        http = Http("http://collector.invalid:8480", "tok")
        got = http.exchange("GET", http.url("/api/v1/agent/config"), timeout=5)
    finally:
        proxy.close()
    assert got.json() == {}
    request = proxy.received[0]
    assert request.startswith(b"GET http://collector.invalid:8480/api/v1/agent/config HTTP/1.1\r\n")
    assert b"\r\nProxy-Authorization: Basic YWdlbnRAaGlzOnA6dw==\r\n" in request  # agent@his:p:w


def test_a_refused_connect_tunnel_names_the_proxy_and_sends_no_token(no_env_proxy: None) -> None:
    proxy = Canned(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
    try:
        http = Http("https://collector.invalid:8480", "tok", proxy=f"http://127.0.0.1:{proxy.port}",
                    proxy_credentials="agent:pw")
        with pytest.raises(HttpError) as caught:
            http.exchange("POST", http.url("/api/v1/results"), timeout=5, data=b"{}")
    finally:
        proxy.close()
    assert "the proxy refused this agent's credentials" in str(caught.value)
    connect = proxy.received[0]
    assert connect.startswith(b"CONNECT collector.invalid:8480 HTTP/1.1\r\n")
    assert b"Proxy-Authorization: Basic YWdlbnQ6cHc=" in connect and b"tok" not in connect


def test_a_proxy_that_wants_credentials_when_none_are_configured_says_to_set_them(no_env_proxy: None) -> None:
    proxy = Canned(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
    try:
        http = Http("https://collector.invalid:8480", "tok", proxy=f"http://127.0.0.1:{proxy.port}")
        with pytest.raises(HttpError, match=r"the proxy asks for credentials .*set collector\.proxy_credentials_file"):
            http.exchange("POST", http.url("/api/v1/results"), timeout=5, data=b"{}")
    finally:
        proxy.close()
    assert b"Proxy-Authorization" not in proxy.received[0]


def test_environment_proxies_follow_urllibs_rules() -> None:
    env = {"HTTP_PROXY": "http://upper:1", "http_proxy": "http://lower:2", "HTTPS_PROXY": "http://s:3",
           "no_proxy": "example.org, .lan,10.0.0.1", "ftp_proxy": ""}
    assert environment_proxies(env) == {"http": "http://lower:2", "https": "http://s:3",
                                        "no": "example.org, .lan,10.0.0.1"}
    assert "http" not in environment_proxies({"HTTP_PROXY": "http://x:1", "REQUEST_METHOD": "GET"})
    assert bypassed("collector.example.org:8480", "example.org, .lan")
    assert bypassed("db.ward.lan", "example.org, .lan") and bypassed("10.0.0.1:443", "10.0.0.1")
    assert not bypassed("notexample.org", "example.org") and not bypassed("x", "")
    assert bypassed("anything", "*")


def test_a_route_without_a_proxy_of_its_own_reads_the_environment(monkeypatch: pytest.MonkeyPatch,
                                                                  no_env_proxy: None) -> None:
    monkeypatch.setenv("https_proxy", "proxy.lan:3128")
    monkeypatch.setenv("no_proxy", "direct.lan")
    assert route("https://c.example:8480/x", None, None).proxy == ("proxy.lan", 3128, False)
    assert route("https://direct.lan/x", None, None).proxy is None
    assert route("http://c.example/x", None, None).proxy is None  # no http_proxy
    explicit = route("http://direct.lan/x", "http://p.example:8080", "u:p")
    assert explicit.proxy == ("p.example", 8080, False) and explicit.proxy_auth == "Basic dTpw"
    with pytest.raises(ValueError):
        route("ftp://c.example/x", None, None)


LEAN_CLIENT = """
import sys
from agent.central import write_secret_file
from agent.http import Http
http = Http(sys.argv[1], "tok", ca_file=sys.argv[2])
got = http.exchange("POST", http.url("/api/v1/results"), timeout=10, data=b'{"results": []}',
                    headers={"Content-Type": "application/json"})
write_secret_file(sys.argv[3], "kept")
heavy = {"email", "http.client", "urllib.request", "tempfile", "shutil", "stringprep", "yaml", "hashlib"}
print(got.status, sorted(got.json()), sorted(heavy & set(sys.modules)))
"""


def test_an_https_push_and_a_kept_file_load_none_of_the_heavy_modules(tmp_path: Path) -> None:
    """What the lean client is for: email, http.client, urllib.request, tempfile... stay out of the agent."""
    cert, key = _self_signed(tmp_path, "collector")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    fake = FakeCollector().start(tls=ctx)
    try:
        out = subprocess.run([sys.executable, "-c", LEAN_CLIENT, fake.url, str(cert), str(tmp_path / "kept")],
                             cwd=REPO, capture_output=True, text=True, timeout=60)
    finally:
        fake.stop()
    assert out.returncode == 0, out.stderr
    assert out.stdout == "200 ['accepted', 'duplicates', 'server_time'] []\n"
    assert (tmp_path / "kept").read_text() == "kept"


def test_a_secret_file_is_replaced_whole_with_mode_0600_and_no_temporary_file_is_left(tmp_path: Path) -> None:
    target = tmp_path / "agent.token"
    target.write_text("old")
    target.chmod(0o644)
    old_umask = os.umask(0)
    try:
        write_secret_file(target, "new\n")
    finally:
        os.umask(old_umask)
    assert target.read_text() == "new\n" and stat.S_IMODE(target.stat().st_mode) == 0o600
    with pytest.raises(FileNotFoundError):
        write_secret_file(tmp_path / "missing-dir" / "x", "y")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agent.token"]


def test_plain_http_to_a_tls_collector_says_the_url_may_need_https(tmp_path: Path, no_env_proxy: None) -> None:
    cert, key = _self_signed(tmp_path, "collector")
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    fake = FakeCollector().start(tls=tls)
    try:
        http = Http(fake.url.replace("https://", "http://"), "tok")
        with pytest.raises(HttpError, match=r"collector\.url must start with https://"):
            http.exchange("POST", http.url("/api/v1/results"), timeout=5, data=b"{}")
    finally:
        fake.stop()


def test_a_certificate_for_another_name_points_at_the_url_not_the_ca_file(tmp_path: Path, no_env_proxy: None) -> None:
    cert, key = _self_signed(tmp_path, "collector")  # valid for IP 127.0.0.1 only
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    fake = FakeCollector().start(tls=tls)
    try:
        http = Http(fake.url.replace("127.0.0.1", "localhost"), "tok", ca_file=str(cert))
        with pytest.raises(HttpError) as caught:
            http.exchange("POST", http.url("/api/v1/results"), timeout=5, data=b"{}")
    finally:
        fake.stop()
    said = str(caught.value)
    assert "TLS certificate verification failed" in said and "ca_file" not in said
    assert "the host name in collector.url must be one the collector's certificate names" in said


def test_a_tls_handshake_cut_off_by_the_collector_says_so_in_one_line(no_env_proxy: None) -> None:
    server = socket.create_server(("127.0.0.1", 0))  # like a collector killed while stopped: the
    port = server.getsockname()[1]                   # kernel took the connection, nobody answers

    def hang_up() -> None:
        conn, _ = server.accept()
        conn.recv(65536)  # the ClientHello, then the connection closes without a ServerHello
        conn.close()

    thread = threading.Thread(target=hang_up, daemon=True)
    thread.start()
    try:
        http = Http(f"https://127.0.0.1:{port}", "tok")
        with pytest.raises(HttpError) as caught:
            http.exchange("POST", http.url("/api/v1/results"), timeout=5, data=b"{}")
    finally:
        thread.join(5)
        server.close()
    said = str(caught.value)
    assert "\n" not in said and "SSL" not in said and "_ssl.c" not in said
    assert ("the collector closed the connection during the TLS handshake: check that the URL "
            f"names the collector and its port (127.0.0.1:{port})") in said
