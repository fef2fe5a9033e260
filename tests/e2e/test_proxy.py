"""The agent reaches the collector through a real HTTP proxy (Debian's tinyproxy) with Basic credentials.

HTTPS goes through a CONNECT tunnel (the proxy sees host and port only; the token travels
inside TLS); plain HTTP is sent to the proxy as an absolute URL.  The proxy's log proves the
traffic went through it; a wrong password is a clear 407, and the results stay spooled.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port, missing
from tests.deploy.certs import make_certs
from tests.e2e.conftest import CollectorProcess, command, write_agent_config

pytestmark = pytest.mark.slow
USER, PASSWORD = "his-agent", "pr0xy-s3cret"


class Tinyproxy:
    def __init__(self, workdir: Path):
        exe = shutil.which("tinyproxy")
        if exe is None:
            missing("tinyproxy", "apt-get install tinyproxy-bin")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "tinyproxy.log"
        conf = workdir / "tinyproxy.conf"
        conf.write_text(f"Port {self.port}\nListen 127.0.0.1\nTimeout 60\nMaxClients 20\nAllow 127.0.0.1\n"
                        f"BasicAuth {USER} {PASSWORD}\nLogLevel Info\n")
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen([str(exe), "-d", "-c", str(conf)], stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        import socket

        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"tinyproxy did not listen: {self.log.read_text()[-1000:]}")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[Tinyproxy]:
    p = Tinyproxy(tmp_path)
    yield p
    p.stop()


def _config(tmp_path: Path, c: CollectorProcess, proxy: Tinyproxy, password: str) -> Path:
    creds = tmp_path / "proxy.credentials"
    creds.write_text(f"{USER}:{password}\n")
    creds.chmod(0o600)
    extra = {"proxy": proxy.url, "proxy_credentials_file": str(creds)}
    if c.certs is not None:
        extra["ca_file"] = str(c.certs.ca)
    return write_agent_config(tmp_path / "agent.yaml", c, "  - {check: uptime, every: 1m}", **extra)


def _once_push(config: Path, wait: str = "10s") -> subprocess.CompletedProcess[str]:
    return subprocess.run([command("wardround-agent"), "once", "--config", str(config), "--push", "--wait", wait],
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("tls", [True, False], ids=["https-connect", "http-forward"])
def test_results_reach_the_collector_through_the_proxy_with_credentials_from_a_file(tmp_path, proxy, tls):
    c = CollectorProcess(tmp_path, site="e2e-hospital", host="e2e-host",
                         certs=make_certs(tmp_path / "certs") if tls else None)
    c.start()
    try:
        config = _config(tmp_path, c, proxy, PASSWORD)
        out = _once_push(config)
        assert out.returncode == 0, out.stderr
        assert [r["check"] for r in c.get("/api/v1/results?host=e2e-host")["results"]] == ["uptime"]
        log = proxy.log.read_text()
        if tls:
            assert f"CONNECT 127.0.0.1:{c.port}" in log  # a tunnel: the proxy sees no path, no token
        else:
            assert f"POST http://127.0.0.1:{c.port}/api/v1/results" in log
        assert c.agent_token not in log and PASSWORD not in log
        collector_log = (tmp_path / "collector.log").read_text()
        assert PASSWORD not in collector_log  # Proxy-Authorization never reaches the collector
    finally:
        c.stop()


def test_a_wrong_proxy_password_is_a_clear_407_and_the_results_stay_spooled(tmp_path, proxy):
    c = CollectorProcess(tmp_path, site="e2e-hospital", host="e2e-host", certs=make_certs(tmp_path / "certs"))
    c.start()
    try:
        out = _once_push(_config(tmp_path, c, proxy, "wrong-password"), wait="3s")
        assert out.returncode == 4
        last = out.stderr.strip().splitlines()[-1]
        assert "not delivered: 1 of 1 results stay in the spool" in last
        # tinyproxy answers a CONNECT with bad credentials 401 (others 407): either is said plainly
        assert "the proxy refused this agent's credentials" in last and "Unauthorized" in last
        assert "check collector.proxy_credentials_file" in last and "wrong-password" not in out.stderr
        assert c.get("/api/v1/results?host=e2e-host")["results"] == []
    finally:
        c.stop()


def test_credentials_in_the_proxy_url_are_refused_pointing_to_the_file(tmp_path):
    c = CollectorProcess(tmp_path, site="e2e-hospital", host="e2e-host")
    config = write_agent_config(tmp_path / "agent.yaml", c, "  - {check: uptime, every: 1m}",
                                proxy=f"http://{USER}:{PASSWORD}@127.0.0.1:3128")
    out = _once_push(config)
    assert out.returncode == 2
    assert "collector.proxy: expected no user:password@ in the proxy URL: put user:password in " \
           "collector.proxy_credentials_file" in out.stderr
    assert PASSWORD not in out.stderr
