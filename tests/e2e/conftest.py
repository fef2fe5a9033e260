"""End-to-end fixtures: the real console scripts as subprocesses.

A ``CollectorProcess`` is ``wardround-collector serve`` on a free port with
its own SQLite database; it can be stopped and started again on the same
port and database (migrated, with an agent token and a viewer, by the
collector's own CLI code run in this process: see ``collector_cli``); the
operator's commands around it (``CollectorProcess.cli``) run the same way.
``write_agent_config`` writes a config for the real
``wardround-agent``.  ``browser``: one headless Chromium per module,
each test's contexts closed after it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from checks.result import format_time, parse_time
from tests.conftest import free_port, missing

BIN = Path(sys.executable).parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]


def command(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{path} is missing: install the project into this venv (make test does)")
    return str(path)


def collector_cli(*args: str, env: Mapping[str, str | None] | None = None) -> subprocess.CompletedProcess[str]:
    """``wardround-collector ARGS`` run by its ``main`` in this process: exit code, stdout and stderr.

    The same code as the console script without a new interpreter (about 1 s of start-up and
    imports each, most of an e2e test's set-up); for the operator's commands around the
    processes under test (create a token, apply a fleet, revoke).  Log lines are not in its
    stderr (they go to this process's logging): a test that reads them runs the console
    script (``CollectorProcess.cli(..., process=True)``).  ``env``: variables set (None: unset)
    while it runs, as a process started with that environment would see them (the reader's
    language is read from it).  The console scripts themselves are run as subprocesses in
    tests/collector/test_cli.py, test_keys.py and the *_language.py tests.
    """
    from collector.cli import main

    before = {name: os.environ.get(name) for name in env or {}}
    out, err = io.StringIO(), io.StringIO()
    try:
        for name, value in (env or {}).items():
            _set_env(name, value)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse: a usage error (2), or --help (0)
                code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
    finally:
        for name, value in before.items():
            _set_env(name, value)
    return subprocess.CompletedProcess(["wardround-collector", *args], code, out.getvalue(), err.getvalue())


def _set_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def in_process_cli(*args: str) -> str:
    """The last line ``wardround-collector ARGS`` prints (:func:`collector_cli`); it must exit 0."""
    done = collector_cli(*args)
    if done.returncode != 0:
        raise AssertionError(f"wardround-collector {' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout.strip().splitlines()[-1]


class CollectorProcess:
    """``serve`` on its own SQLite file (or ``db``), on HTTPS with ``certs`` (tests/deploy/certs.py)."""

    def __init__(self, workdir: Path, site: str, host: str, *, certs: Any = None, db: str | None = None,
                 viewer: str = "e2e-viewer"):
        self.workdir = workdir
        self.db = db or f"sqlite:///{workdir / 'collector.db'}"
        self.port = free_port()
        self.certs = certs
        self.url = f"{'https' if certs else 'http'}://127.0.0.1:{self.port}"
        self.context = ssl.create_default_context(cafile=certs.ca) if certs else None
        self.proc: subprocess.Popen[bytes] | None = None
        command("wardround-collector")  # serve runs the installed console script
        in_process_cli("migrate", "--db", self.db)
        self.agent_token = in_process_cli("token", "create", "--db", self.db, "--site", site, "--host", host)
        self.user_token = in_process_cli("user", "create", "--db", self.db, viewer, "--role", "viewer")

    def cli(self, *args: str, check: bool = True, process: bool = False) -> subprocess.CompletedProcess[str]:
        """``wardround-collector ARGS --db <this collector's database>``: in this process (:func:`collector_cli`),
        or as the console script with ``process`` (its log lines in its stderr)."""
        if process:
            return subprocess.run([command("wardround-collector"), *args, "--db", self.db], check=check,
                                  capture_output=True, text=True, timeout=60)
        done = collector_cli(*args, "--db", self.db)
        if check:
            done.check_returncode()
        return done

    def start(self) -> None:
        log = open(self.workdir / "collector.log", "ab")  # noqa: SIM115 - closed with the process
        tls = ["--tls-cert", str(self.certs.cert), "--tls-key", str(self.certs.key)] if self.certs else []
        self.proc = subprocess.Popen(
            [command("wardround-collector"), "serve", "--db", self.db, "--port", str(self.port), *tls],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"collector exited: {(self.workdir / 'collector.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1, context=self.context) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("collector did not answer /healthz within 30 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def get(self, path: str) -> Any:
        req = urllib.request.Request(f"{self.url}{path}",
                                     headers={"Authorization": f"Bearer {self.user_token}"})
        with urllib.request.urlopen(req, timeout=30, context=self.context) as r:
            return json.load(r)

    def all_results(self, check: str | None = None, page: int = 1000) -> list[dict[str, Any]]:
        """Every stored result exactly once, newest first: the rows as stored, none skipped, none merged.

        ``GET /api/v1/results`` answers newest first with ``until`` exclusive, so a page's oldest
        ``started_at`` may be shared by results the next page must still return.  Each full page
        therefore keeps only its results newer than its oldest instant, and the next page starts
        at that instant (``until`` = it + 1 µs).  No id is dropped as "seen": a result stored twice
        would be returned twice, which is what the exactly-once tests look for.
        """
        rows: list[dict[str, Any]] = []
        until = ""
        while True:
            q = f"limit={page}" + (f"&check={check}" if check else "") + (f"&until={until}" if until else "")
            got = self.get(f"/api/v1/results?{q}")["results"]
            if len(got) < page:  # the rest, complete
                return rows + got
            oldest = got[-1]["started_at"]
            newer = [r for r in got if r["started_at"] > oldest]
            if not newer:
                raise AssertionError(f"more than {page} results started at {oldest}: page with a larger limit")
            rows += newer
            until = urllib.request.quote(format_time(parse_time(oldest) + timedelta(microseconds=1)))


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[CollectorProcess]:
    c = CollectorProcess(tmp_path, site="e2e-hospital", host="e2e-host")
    c.start()
    yield c
    c.stop()


def write_agent_config(path: Path, collector: CollectorProcess, checks: str, **extra: str) -> Path:
    token_file = path.parent / "agent.token"
    token_file.write_text(collector.agent_token + "\n")
    token_file.chmod(0o600)
    lines = [
        "site: e2e-hospital",
        "host: e2e-host",
        "collector:",
        f"  url: {collector.url}",
        f"  token_file: {token_file}",
    ]
    lines += [f"  {k}: {v}" for k, v in extra.items()]
    lines += [f"spool: {path.parent / 'spool.db'}", "jitter: 0s", "checks:", checks]
    path.write_text("\n".join(lines) + "\n")
    return path


def start_agent(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen([command("wardround-agent"), "run", "--config", str(config)],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def wait_for(predicate: Any, timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """One headless Chromium (driven by playwright) for a module's browser tests.

    Not one per session: while playwright's sync API is up, this thread's asyncio loop counts as
    running (playwright/_impl/_greenlets.py), so an ``asyncio.run`` in any later test would fail."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright", "pip install playwright")
    if not Path(CHROMIUM).exists():
        missing("chromium", f"{CHROMIUM} is missing: apt-get install chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def browser(chromium: Any) -> Iterator[Any]:
    """The module's Chromium; every context (and page) a test opens is its own, closed after it."""
    before = set(chromium.contexts)
    yield chromium
    for context in chromium.contexts:
        if context not in before:
            context.close()
