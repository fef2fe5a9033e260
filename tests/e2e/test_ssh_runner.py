"""A host without an agent, end to end: the real collector, `wardround-agent once --push`, a real sshd.

The agent runs the ``ssh`` check against OpenSSH on loopback with ``host:
remote-box``; the collector, given a token made with ``--also-host
remote-box``, lists remote-box as a host of its own.  Without the grant the
batch is refused (403) and stays in the agent's spool.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from checks.result import Status
from tests.agent.helpers import spool_backlog
from tests.checks.sshd import sshd  # noqa: F401 - the fixture
from tests.e2e.conftest import CollectorProcess, command, in_process_cli

pytestmark = pytest.mark.slow


def agent_config(path: Path, collector: CollectorProcess, token: str, server) -> Path:
    token_file = path.parent / "agent.token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    path.write_text(f"""\
site: e2e-hospital
host: e2e-host
collector:
  url: {collector.url}
  token_file: {token_file}
spool: {path.parent / 'spool.db'}
jitter: 0s
checks:
  - check: ssh
    host: remote-box
    every: 5m
    params:
      target: {server.host}
      port: {server.port}
      user: {server.user}
      key_file: {server.client_key}
      known_hosts: {server.known_hosts}
      mounts: [/]
  - check: uptime
    every: 5m
""")
    return path


def once_push(config: Path, wait: str = "60s") -> subprocess.CompletedProcess[str]:
    return subprocess.run([command("wardround-agent"), "once", "--config", str(config), "--push", "--json",
                           "--wait", wait], capture_output=True, text=True, timeout=120)


def test_remote_host_is_listed_with_its_own_results_when_the_token_grants_it(collector, sshd, tmp_path):  # noqa: F811
    token = in_process_cli("token", "create", "--db", collector.db, "--site", "e2e-hospital", "--host", "e2e-host",
                           "--also-host", "remote-box")
    run = once_push(agent_config(tmp_path / "agent.yaml", collector, token, sshd))
    printed = json.loads(run.stdout)
    assert run.returncode == Status.worst(r["status"] for r in printed), run.stderr
    assert {(r["host"], r["check"], r["item"]) for r in printed} == {
        ("remote-box", "ssh", "df:/"), ("remote-box", "ssh", "uptime"), ("e2e-host", "uptime", "uptime")}
    assert "the collector acknowledged 3 of 3 results" in run.stderr

    hosts = {h["host"]: h for h in collector.get("/api/v1/hosts")["hosts"]}
    assert set(hosts) == {"e2e-host", "remote-box"}
    assert hosts["remote-box"]["site"] == "e2e-hospital" and hosts["remote-box"]["last_seen"]
    stored = collector.get("/api/v1/results?host=remote-box")["results"]
    assert sorted(r["item"] for r in stored) == ["df:/", "uptime"]
    df = next(r for r in stored if r["item"] == "df:/")
    assert [m["name"] for m in df["metrics"]] == ["used_percent", "free_bytes", "total_bytes"]
    assert spool_backlog(tmp_path / "spool.db") == 0


def test_batch_stays_in_the_spool_when_the_token_was_not_granted_the_remote_host(collector, sshd,  # noqa: F811
                                                                                 tmp_path):
    run = once_push(agent_config(tmp_path / "agent.yaml", collector, collector.agent_token, sshd), wait="2s")
    assert run.returncode == 4  # not delivered
    assert "not delivered: 3 of 3 results stay in the spool" in run.stderr
    assert "HTTP 403" in run.stderr
    assert [h["host"] for h in collector.get("/api/v1/hosts")["hosts"] if not h["never_reported"]] == []
    assert spool_backlog(tmp_path / "spool.db") == 3
