"""The collector behind TLS (``serve --tls-cert/--tls-key``) and the agent's ``ca_file``, end to end.

A throwaway CA signs a certificate for 127.0.0.1; the real collector serves
HTTPS with it; the real agent's ``once --push`` delivers when its config names
the CA in ``collector.ca_file`` and refuses to send (results stay spooled)
when it does not — the CA is in no system trust store.  This is the set-up
``deploy/tls.md`` describes.
"""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.deploy.certs import Certs, make_certs
from tests.e2e.conftest import CollectorProcess, command, write_agent_config

SITE, HOST = "e2e-hospital", "e2e-host"


@pytest.fixture(scope="module")
def tls_collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CollectorProcess, Certs]]:
    work = tmp_path_factory.mktemp("tls")
    certs = make_certs(work / "certs")
    c = CollectorProcess(work, site=SITE, host=HOST)
    c.url = f"https://127.0.0.1:{c.port}"
    log = open(work / "collector.log", "ab")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([command("wardround-collector"), "serve", "--db", c.db, "--port", str(c.port),
                             "--tls-cert", str(certs.cert), "--tls-key", str(certs.key)],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    ctx = ssl.create_default_context(cafile=certs.ca)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (work / "collector.log").read_text()[-2000:]
            try:
                with urllib.request.urlopen(f"{c.url}/healthz", timeout=1, context=ctx) as r:
                    if r.status == 200:
                        break
            except OSError:
                assert time.monotonic() < deadline, "TLS collector did not answer within 30 s"
                time.sleep(0.1)
        yield c, certs
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)


def _once_push(config: Path, wait: str = "5s") -> subprocess.CompletedProcess[str]:
    return subprocess.run([command("wardround-agent"), "once", "--config", str(config), "--push",
                           "--wait", wait], capture_output=True, text=True, timeout=120)


def _hosts(c: CollectorProcess, certs: Certs) -> list[dict]:
    import json

    req = urllib.request.Request(f"{c.url}/api/v1/hosts", headers={"Authorization": f"Bearer {c.user_token}"})
    with urllib.request.urlopen(req, timeout=10, context=ssl.create_default_context(cafile=certs.ca)) as r:
        return json.load(r)["hosts"]


def test_plain_http_is_refused_when_the_collector_serves_tls(tls_collector):
    c, _certs = tls_collector
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{c.port}/healthz", timeout=5)


def test_agent_refuses_the_collector_when_ca_file_is_not_given(tls_collector, tmp_path):
    c, certs = tls_collector
    config = write_agent_config(tmp_path / "agent.yaml", c, "  - check: uptime\n    every: 1m")
    run = _once_push(config, wait="2s")  # refused at the first push; the agent retries until its wait ends
    assert "TLS certificate verification failed" in run.stderr
    assert "1 of 1 results stay in the spool" in run.stderr
    assert all(h["never_reported"] for h in _hosts(c, certs) if h["host"] == HOST)  # enrolled, no result


def test_agent_delivers_when_ca_file_names_the_collectors_ca(tls_collector, tmp_path):
    c, certs = tls_collector
    config = write_agent_config(tmp_path / "agent.yaml", c, "  - check: uptime\n    every: 1m",
                                ca_file=str(certs.ca))
    run = _once_push(config)
    assert "verification failed" not in run.stderr and "stay in the spool" not in run.stderr, run.stderr
    assert [h["host"] for h in _hosts(c, certs)] == [HOST]


def test_serve_says_what_is_wrong_when_only_one_tls_file_is_given(tmp_path):
    certs = make_certs(tmp_path / "certs")
    run = subprocess.run([command("wardround-collector"), "serve", "--db", f"sqlite:///{tmp_path}/c.db",
                          "--port", str(free_port()), "--tls-cert", str(certs.cert)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert run.stderr.strip() == "wardround-collector: --tls-cert and --tls-key go together"


def test_serve_says_what_is_wrong_when_the_key_file_is_missing(tmp_path):
    certs = make_certs(tmp_path / "certs")
    run = subprocess.run([command("wardround-collector"), "serve", "--db", f"sqlite:///{tmp_path}/c.db",
                          "--port", str(free_port()), "--tls-cert", str(certs.cert),
                          "--tls-key", str(tmp_path / "nope.key")],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 1
    assert "--tls-key: cannot read" in run.stderr and "Traceback" not in run.stderr
