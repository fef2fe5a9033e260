"""The relay's HTTP side: the agents' API for one site, standard library only.

=============================  ==============================================================
request                        answer
=============================  ==============================================================
``POST /api/v1/results``       agent token checked locally (401), 413 past 16 MiB (or 64 MiB
                               inflated), 422 malformed, 403 another site or host, 503 spool
                               full or disk full; else 200 once the batch is on disk
``POST /api/v1/enrol``         passed to the collector as it is, naming the relay's site in
                               ``Wardround-Relay-Site`` (503 while it is unreachable)
``GET /api/v1/agent/config``   agent token checked locally; the collector's answer, kept per
                               host; the kept one while the collector is unreachable
``GET /api/v1/agent/token``    agent token checked locally; passed to the collector
``GET /healthz``               200 with the backlog
=============================  ==============================================================

Plain HTTP inside the hospital, or HTTPS with ``tls_cert``/``tls_key``; the TLS handshake
runs in the request's own thread, so a slow client holds up nobody else.
"""

from __future__ import annotations

import json
import ssl
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from agent import logs
from agent.relay import Answer, Grant, Relay, refusal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["MAX_BODY_BYTES", "make_server"]

log = logs.get(__name__)

MAX_BODY_BYTES = 16 * 2**20
MAX_INFLATED_BYTES = 64 * 2**20


class _TooLarge(Exception):
    pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    relay: Relay


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = 60  # a client that stops sending mid-request is dropped
    server_version = "wardround-relay"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        log.debug("%s %s", self.address_string(), format % args)

    # -- dispatch -------------------------------------------------------

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/api/v1/results":
            self._answer(self._results())
        elif path == "/api/v1/enrol":
            try:
                body = self._body(raw=True)
            except _TooLarge:
                from checks.messages.reader import cli_said

                self._answer(Answer(413, refusal(cli_said("cli.refusal.relay.body_too_large"))))
                return
            token = self._bearer() or ""
            self._answer(self.server.relay.pass_through(
                "POST", "/api/v1/enrol", token, body,
                {"Content-Type": self.headers.get("Content-Type", "application/json"),
                 "Wardround-Relay-Site": self.server.relay.site,  # the collector refuses another site's key
                 **({"Content-Encoding": e} if (e := self.headers.get("Content-Encoding")) else {})}))
        else:
            self._drain()
            from checks.messages.reader import cli_said

            self._answer(Answer(404, refusal(cli_said("cli.refusal.relay.post_path", path=path,
                                                      results="/api/v1/results", enrol="/api/v1/enrol",
                                                      config="/api/v1/agent/config"))))

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        relay = self.server.relay
        if path == "/healthz":
            self._answer(Answer(200, {"status": "ok", "site": relay.site, "backlog": relay.spool.backlog(),
                                     "tokens": len(relay.tokens), "forwarded": relay.forwarded}))
            return
        if path not in ("/api/v1/agent/config", "/api/v1/agent/token"):
            from checks.messages.reader import cli_said

            self._answer(Answer(404, refusal(cli_said("cli.refusal.relay.not_served", path=path))))
            return
        grant, token = self._grant()
        if grant is None:
            return
        if path == "/api/v1/agent/config":
            self._answer(relay.agent_config(grant, token, self.headers.get("If-None-Match", "")))
        else:
            self._answer(relay.pass_through("GET", path, token, None, {}))

    # -- results --------------------------------------------------------

    def _results(self) -> Answer:
        grant, _ = self._grant(drain=True)
        if grant is None:
            return Answer(0, None)  # answered already
        try:
            raw = self._body(raw=False)
        except _TooLarge as exc:
            from checks.messages.reader import cli_said

            return Answer(413, refusal(cli_said("cli.refusal.relay.too_large", why=str(exc))))
        try:
            doc = json.loads(raw)
        except ValueError as exc:
            from checks.messages.reader import cli_said

            return Answer(422, refusal(cli_said("cli.refusal.relay.not_json", why=str(exc))))
        return self.server.relay.accept(grant, doc)

    # -- plumbing -------------------------------------------------------

    def _bearer(self) -> str | None:
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        return token if scheme.lower() == "bearer" and token else None

    def _grant(self, drain: bool = False) -> tuple[Grant | None, str]:
        token = self._bearer()
        grant = self.server.relay.tokens.lookup(token) if token else None
        if grant is None:
            if drain:
                self._drain()
            from checks.messages.reader import cli_said

            why = (cli_said("cli.refusal.relay.missing_token", header="Authorization: Bearer")
                   if not token else cli_said("cli.refusal.relay.relay_token") if token.startswith("wrr_")
                   else cli_said("cli.refusal.relay.unknown_token"))
            self._answer(Answer(401, refusal(why), (("WWW-Authenticate", "Bearer"),)))
            return None, ""
        return grant, token or ""

    def _length(self) -> int:
        try:
            return max(0, int(self.headers.get("Content-Length", "0")))
        except ValueError:
            return 0

    def _drain(self) -> None:
        """Read what the client sent (up to the cap) so the connection stays usable."""
        n = self._length()
        if n > MAX_BODY_BYTES:
            self.close_connection = True
            return
        while n > 0:
            got = self.rfile.read(min(n, 65536))
            if not got:
                break
            n -= len(got)

    def _body(self, raw: bool) -> bytes:
        n = self._length()
        if n > MAX_BODY_BYTES:
            self.close_connection = True
            raise _TooLarge(f"{n} bytes; at most {MAX_BODY_BYTES}")
        data = self.rfile.read(n) if n else b""
        if raw or self.headers.get("Content-Encoding", "").strip().lower() != "gzip":
            return data
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            out = inflater.decompress(data, MAX_INFLATED_BYTES + 1)
        except zlib.error:
            return b"\0not gzip"  # answered as "not JSON"
        if len(out) > MAX_INFLATED_BYTES:
            raise _TooLarge(f"inflates to more than {MAX_INFLATED_BYTES} bytes")
        return out

    def _answer(self, answer: Answer) -> None:
        if answer.status == 0:
            return
        body = answer.raw if answer.raw is not None else (
            json.dumps(answer.doc, ensure_ascii=False).encode("utf-8") if answer.doc is not None else b"")
        self.send_response(answer.status)
        names = {k.lower() for k, _ in answer.headers}
        if "content-type" not in names and body:
            self.send_header("Content-Type", "application/json")
        for k, v in answer.headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)


def make_server(relay: Relay) -> _Server:
    """The relay's HTTP(S) server on ``listen:`` (not started)."""
    config = relay.config
    server = _Server((config.listen_host, config.listen_port), _Handler)
    server.relay = relay
    if config.tls_cert and config.tls_key:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(config.tls_cert, config.tls_key)
        server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    return server
