"""Test helpers for the agent: results to spool and a small real collector stand-in."""

from __future__ import annotations

import gzip
import json
import socketserver
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from checks.result import Metric, Result, Status, format_time

TOKEN = "s3cret-agent-token-do-not-log"
REPO = Path(__file__).resolve().parents[2]


def make_result(item: str = "/", status: Status = Status.OK, check: str = "disk",
                summary: str = "fine", **kw: Any) -> Result:
    return Result(check=check, item=item, status=status, summary=summary,
                  metrics=(Metric("used_percent", 42.0, "%", 80, 90),),
                  site="central-hospital", host="his-db-01", **kw)


@dataclass
class Seen:
    """One request the fake collector received."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def ids(self) -> list[str]:
        return [r["id"] for r in self.body["results"]]


Responder = Callable[[Seen], tuple[int, Any]]


def serve_in_thread(server: socketserver.BaseServer) -> threading.Thread:
    """``server`` answering from a daemon thread, polled every 0.05 s: its ``shutdown()`` returns
    that soon (``serve_forever``'s default poll, 0.5 s, cost each test half a second)."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return thread


def accept_all(seen: Seen) -> tuple[int, Any]:
    now = format_time(datetime.now(UTC))
    return 200, {"accepted": seen.ids, "duplicates": [], "server_time": now}


@dataclass
class FakeCollector:
    """``POST /api/v1/results`` on 127.0.0.1 whose answers a test decides."""

    respond: Responder = accept_all
    seen: list[Seen] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None
    scheme: str = "http"

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}"

    @property
    def received_ids(self) -> list[str]:
        return [i for s in self.seen for i in s.ids]

    def start(self, port: int = 0, tls: ssl.SSLContext | None = None) -> FakeCollector:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    raw = gzip.decompress(raw)
                seen = Seen(self.path, dict(self.headers.items()), json.loads(raw))
                fake.seen.append(seen)
                status, answer = fake.respond(seen)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except BrokenPipeError:
                    pass  # the agent gave up waiting (the slow-collector test)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        serve_in_thread(self.server)
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


class TrickleServer:
    """A TCP server on 127.0.0.1 that reads a request, then answers one byte every ``interval`` s.

    Each byte arrives well within any socket timeout, so only an overall deadline ends the wait.
    """

    def __init__(self, interval: float = 0.5):
        import socket

        self.interval = interval
        self.stopped = threading.Event()
        self.connections = 0
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            self.connections += 1
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: Any) -> None:
        answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + b"X-Slow: " + b"." * 10_000
        with conn:
            conn.settimeout(5)
            try:
                conn.recv(65536)
                for i in range(len(answer)):
                    if self.stopped.wait(self.interval):
                        return
                    conn.sendall(answer[i:i + 1])
            except OSError:
                return  # the client gave up: what the tests want

    def stop(self) -> None:
        self.stopped.set()
        self._sock.close()


def spool_value(path: Path, query: str) -> Any:
    """The first value ``query`` reads from the spool at ``path``, read-only: works while an agent
    holds it (None when there is no spool or no such table yet)."""
    import sqlite3

    if not path.exists():
        return None
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        row = db.execute(query).fetchone()
        return None if row is None else row[0]
    except sqlite3.OperationalError:  # not created yet
        return None
    finally:
        db.close()


def spool_backlog(path: Path) -> int:
    """Results waiting in the spool at ``path`` (read-only)."""
    return int(spool_value(path, "SELECT count(*) FROM outbox") or 0)


def spool_outbox_bytes(path: Path) -> int:
    """The spool's own running total of the outbox's size, which its byte bound is judged by."""
    return int(spool_value(path, "SELECT value FROM meta WHERE key = 'outbox_bytes'"))


def spool_sound(path: Path) -> bool:
    """SQLite's full integrity check of the spool file passes."""
    return bool(spool_value(path, "PRAGMA integrity_check") == "ok")


def said_both(answer: dict[str, Any], monkeypatch: Any) -> tuple[str, str]:
    """(Chinese, English): a refusal body as an agent's reader reads it in each language (agent.http.said_reason)."""
    from agent.http import said_reason
    from checks.messages.reader import told

    monkeypatch.setenv("WARDROUND_LANG", "zh_CN")
    zh = told(said_reason(answer))
    monkeypatch.setenv("WARDROUND_LANG", "en")
    return zh, told(said_reason(answer))
