"""Real receivers for the notification tests: an SMTP server (aiosmtpd), an HTTP server, and robots.

Test modules import the ``*_fixture`` functions to get the fixtures
``tls_cert``, ``mail_sink`` and ``hook_sink``.  Both listen on 127.0.0.1,
can be stopped and started again on the same port (to play an outage), and
record what they received.  The SMTP server offers
STARTTLS with a self-signed certificate made here (``cryptography``) and
requires AUTH (LOGIN/PLAIN) after TLS; the HTTP server answers what a test
scripts (status, JSON body, headers), by default ``{"errcode": 0, ...}``,
after an optional scripted delay (a slow receiver).

:class:`RobotSink` is that HTTP server playing group robots that enforce
their documented rate limits as the real ones do (``collector/notify/config.py``
``DEFAULT_RATES`` quotes the vendors): at most N messages in any sliding
window per robot (webhook path), refusing the excess with the vendor's own
answer -- DingTalk ``errcode 410100`` and then a 10-minute block of the
robot, WeCom ``errcode 45009``, Feishu HTTP 400 ``{"code": 9499, "msg":
"too many request"}`` -- and keeping what it accepted, in order.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import free_port, missing

SMTP_USER, SMTP_PASSWORD = "wardround", "s3cret-Pa55"


@dataclass
class Cert:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx


@pytest.fixture(scope="session", name="tls_cert")
def tls_cert_fixture(tmp_path_factory: pytest.TempPathFactory) -> Cert:
    """A self-signed certificate for 127.0.0.1 / localhost."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        missing("cryptography", "needed to make a test certificate for STARTTLS")
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    base = tmp_path_factory.mktemp("tls")
    (base / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (base / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                     serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()))
    return Cert(base / "cert.pem", base / "key.pem")


class MailSink:
    """An aiosmtpd server; ``messages`` are the parsed mails received."""

    def __init__(self, cert: Cert, *, implicit_tls: bool = False) -> None:
        try:
            from aiosmtpd.controller import Controller  # noqa: F401
        except ImportError:
            missing("aiosmtpd", "pip install aiosmtpd (a real SMTP server for the mail tests)")
        self.cert = cert
        self.implicit_tls = implicit_tls
        self.port = free_port()
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.auth_mechanisms: list[str] = []
        self.refuse_rcpt: dict[str, str] = {}  # address -> SMTP answer
        self._controller: Any = None

    def start(self) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        sink = self

        class Handler:
            async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
                if address in sink.refuse_rcpt:
                    return sink.refuse_rcpt[address]
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, server, session, envelope):  # noqa: N802
                sink.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
                sink.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
                return "250 Message accepted"

        def authenticator(server, session, envelope, mechanism, data):  # type: ignore[no-untyped-def]
            ok = (isinstance(data, LoginPassword) and data.login.decode() == SMTP_USER
                  and data.password.decode() == SMTP_PASSWORD)
            if ok:
                sink.auth_mechanisms.append(mechanism)
            return AuthResult(success=ok, handled=False)

        kwargs: dict[str, Any] = dict(authenticator=authenticator, auth_required=True)
        if self.implicit_tls:
            # the whole connection is TLS, but aiosmtpd only counts STARTTLS as TLS for AUTH
            kwargs.update(ssl_context=self.cert.server_context(), auth_require_tls=False)
        else:
            kwargs.update(tls_context=self.cert.server_context(), require_starttls=True,
                          auth_require_tls=True)
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, **kwargs)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture(name="mail_sink")
def mail_sink_fixture(tls_cert: Cert) -> Iterator[MailSink]:
    sink = MailSink(tls_cert)
    sink.start()
    yield sink
    sink.stop()


@dataclass
class Hit:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class HookSink:
    """A ThreadingHTTPServer on 127.0.0.1 recording POSTs; ``answer`` decides the reply."""

    port: int = field(default_factory=free_port)
    hits: list[Hit] = field(default_factory=list)
    answer: Callable[[Hit], tuple[int, Any, dict[str, str]]] = (
        lambda hit: (200, {"errcode": 0, "errmsg": "ok", "code": 0, "msg": "success"}, {}))
    delay: Callable[[Hit], float] = lambda hit: 0.0  # seconds before the hit is taken and answered
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                parts = urlsplit(self.path)
                hit = Hit(parts.path, parse_qs(parts.query), dict(self.headers.items()),
                          json.loads(raw.decode("utf-8")))
                wait = sink.delay(hit)
                if wait:
                    time.sleep(wait)
                with sink._lock:
                    sink.hits.append(hit)
                status, body, headers = sink.answer(hit)
                data = json.dumps(body).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def on(self, path: str) -> list[Hit]:
        with self._lock:
            return [h for h in self.hits if h.path == path]


@pytest.fixture(name="hook_sink")
def hook_sink_fixture() -> Iterator[HookSink]:
    sink = HookSink()
    sink.start()
    yield sink
    sink.stop()


# -- robots that enforce their limits -----------------------------------------------------------------

_OK = {"dingtalk": (200, {"errcode": 0, "errmsg": "ok"}), "wecom": (200, {"errcode": 0, "errmsg": "ok"}),
       "feishu": (200, {"code": 0, "msg": "success", "data": {}})}
_TOO_MANY = {"dingtalk": (200, {"errcode": 410100, "errmsg": "发送速度太快而限流"}),
             "wecom": (200, {"errcode": 45009, "errmsg": "api freq out of limit"}),
             "feishu": (400, {"code": 9499, "msg": "too many request", "data": {}})}
DOCUMENTED_LIMITS = {"dingtalk": ((20, 60.0),), "wecom": ((20, 60.0),), "feishu": ((100, 60.0), (5, 1.0))}
BLOCK_S = {"dingtalk": 600.0}  # DingTalk: "如果超过20条，会限流10分钟"


@dataclass
class Robot:
    kind: str
    limits: tuple[tuple[int, float], ...]
    block_s: float = 0.0
    accepted: list[float] = field(default_factory=list)  # the sink's clock at each accepted message
    messages: list[Hit] = field(default_factory=list)  # accepted, in order
    refused: int = 0
    blocked_until: float = 0.0

    def take(self, hit: Hit, now: float) -> tuple[int, Any]:
        if now < self.blocked_until:
            self.refused += 1
            return _TOO_MANY[self.kind]
        if any(sum(1 for t in self.accepted if t > now - per) >= count for count, per in self.limits):
            self.refused += 1
            if self.block_s:
                self.blocked_until = now + self.block_s
            return _TOO_MANY[self.kind]
        self.accepted.append(now)
        self.messages.append(hit)
        return _OK[self.kind]

    def text(self, hit: Hit) -> str:
        body = hit.body
        if self.kind == "feishu":
            return str(body["content"]["text"]) if "content" in body else json.dumps(body["card"])
        return str(body["markdown"]["text"] if self.kind == "dingtalk" else body["markdown"]["content"])


class RobotSink(HookSink):
    """Robots on paths of one HTTP server; :meth:`add` makes one with its vendor's documented limits.

    ``clock`` is the robots' sense of time (seconds): real by default; a test that injects the
    dispatcher's time gives the robots the same time.
    """

    def __init__(self) -> None:
        super().__init__()
        self.robots: dict[str, Robot] = {}
        self.answer = self._answer
        self.clock: Callable[[], float] = time.monotonic

    def add(self, path: str, kind: str, *, limits: tuple[tuple[int, float], ...] | None = None) -> Robot:
        robot = Robot(kind, limits or DOCUMENTED_LIMITS[kind], BLOCK_S.get(kind, 0.0))
        self.robots[path] = robot
        return robot

    def _answer(self, hit: Hit) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            status, body = self.robots[hit.path].take(hit, self.clock())
        return status, body, {}


@pytest.fixture(name="robots")
def robot_sink_fixture() -> Iterator[RobotSink]:
    sink = RobotSink()
    sink.start()
    yield sink
    sink.stop()
