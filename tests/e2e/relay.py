"""A site relay as a real process (``wardround-agent relay``) beside a real collector (tests/e2e/conftest.py)."""

from __future__ import annotations

import gzip
import json
import os
import signal
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from checks.result import Result, Status
from tests.conftest import free_port
from tests.e2e.conftest import CollectorProcess, command, in_process_cli

SITE = "e2e-hospital"


class RelayProcess:
    """``wardround-agent relay`` for SITE with its own relay token, spool and port."""

    def __init__(self, workdir: Path, collector: CollectorProcess, *, name: str = "front-01",
                 spool: Path | None = None, extra: str = "", collector_extra: str = ""):
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = in_process_cli("token", "create", "--relay", "--site", SITE, "--host", name, "--db", collector.db)
        token_file = workdir / "relay.token"
        token_file.write_text(self.token + "\n")
        token_file.chmod(0o600)
        self.spool = spool or workdir / "relay.db"
        self.config = workdir / "relay.yaml"
        self.config.write_text(
            f"site: {SITE}\nlisten: 127.0.0.1:{self.port}\n"
            f"collector:\n  url: {collector.url}\n  token_file: {token_file}\n  timeout: 5s\n{collector_extra}"
            f"spool: {self.spool}\nsync_every: 1s\n{extra}")
        self.log = workdir / "relay.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *, tokens: int = 1, args: tuple[str, ...] = ()) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [command("wardround-agent"), "relay", "--config", str(self.config), "--log-level", "debug", *args],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"relay exited: {self.log.read_text()[-2000:]}")
            try:
                if self.health()["tokens"] >= tokens:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"relay did not know {tokens} token(s) within 30 s: {self.log.read_text()[-2000:]}")

    def health(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/healthz", timeout=5) as r:
            return json.load(r)  # type: ignore[no-any-return]

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=15)
        self.proc = None


def results(n: int, host: str, *, site: str = SITE, start: datetime | None = None) -> list[dict[str, Any]]:
    base = start or datetime.now(UTC) - timedelta(hours=1)
    out = []
    for i in range(n):
        r = Result(check="disk", item=f"/m{i % 50}", status=Status.OK, summary="fine", details={"i": i})
        out.append(r.with_origin(site=site, host=host, started_at=base + timedelta(milliseconds=i),
                                 duration_ms=1.0).to_wire())
    return out


def post(url: str, token: str, batch: list[dict[str, Any]], path: str = "/api/v1/results") -> tuple[int, Any]:
    """POST a batch (gzip JSON) as an agent does: (status, answer)."""
    data = gzip.compress(json.dumps({"results": batch}).encode())
    req = urllib.request.Request(url + path, data=data, method="POST", headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json", "Content-Encoding": "gzip"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def get(url: str, token: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, Any]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read(), r.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers


def stored(collector: CollectorProcess, sql: str) -> list[tuple[Any, ...]]:
    """Rows of the collector's SQLite database (read-only)."""
    path = collector.db.removeprefix("sqlite:///")
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as db:
        return db.execute(sql).fetchall()


def result_ids(collector: CollectorProcess) -> list[str]:
    """The ids of every result the collector stored, read through its own reader (whatever the table's shape)."""
    from collector import views
    from collector.store.db import make_engine

    engine = make_engine(collector.db)
    try:
        return [r["id"] for r in views.list_results(engine, views.ResultFilter(limit=10**6))]
    finally:
        engine.dispose()
