"""The real agent against the real collector when things go wrong on the agent's side.

A spool overwritten with random bytes must not stop monitoring: the agent moves it aside, starts
afresh and reports it, and the report opens a ticket under the default ticket rules.  Results
that cannot be delivered (nothing listening, token refused, host not allowed) make
``once --push`` exit 4 with the reason, and stay in the spool.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
from pathlib import Path

import pytest

from checks.result import Status
from tests.agent.helpers import spool_backlog
from tests.conftest import free_port
from tests.e2e.conftest import CollectorProcess, command, in_process_cli, start_agent, wait_for, write_agent_config

pytestmark = pytest.mark.slow

UPTIME = "  - check: uptime\n    every: 1m"


def once_push(config: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([command("wardround-agent"), "once", "--config", str(config), "--push", "--json",
                           *extra], capture_output=True, text=True, timeout=120)


def corrupt_with_pending_results(collector: CollectorProcess, tmp_path: Path) -> Path:
    """A real spool holding undelivered results, then random bytes written over all of it."""
    config = write_agent_config(tmp_path / "agent.yaml", collector, UPTIME)
    collector.stop()
    run = once_push(config, "--wait", "1s")
    assert run.returncode == 4, run.stderr
    spool = tmp_path / "spool.db"
    assert spool_backlog(spool) == 1
    spool.write_bytes(random.Random(11).randbytes(spool.stat().st_size))
    collector.start()
    return config


def spool_ticket(collector: CollectorProcess) -> dict:
    tickets = [t for t in collector.get("/api/v1/tickets?state=open")["tickets"] if t["check"] == "agent"]
    assert len(tickets) == 1, tickets
    return tickets[0]


def test_a_corrupt_spool_is_replaced_and_opens_a_ticket_when_once_push_runs(collector, tmp_path):
    config = corrupt_with_pending_results(collector, tmp_path)
    run = once_push(config)
    printed = json.loads(run.stdout)
    (notice,) = [r for r in printed if r["check"] == "agent"]
    assert (notice["item"], notice["status"]) == ("spool", Status.CRITICAL)
    assert run.returncode == Status.CRITICAL, run.stderr  # delivered; the worst status is the notice's
    assert "SPOOL CORRUPT" in run.stderr
    ticket = spool_ticket(collector)
    assert (ticket["host"], ticket["item"]) == ("e2e-host", "spool")
    assert "spool was corrupt (file is not a database)" in ticket["summary"]
    assert "results may be lost" in ticket["summary"]
    kept = [p for p in tmp_path.glob("spool.db.corrupt-*") if not p.name.endswith(("-wal", "-shm"))]
    assert len(kept) == 1 and str(kept[0]) in ticket["summary"]
    assert spool_backlog(tmp_path / "spool.db") == 0  # the fresh spool delivered everything
    # then the all clear: the item's latest state is OK again (not the event for ever), and the
    # ticket stays open for an engineer (one good result does not resolve it)
    newest = collector.get("/api/v1/results?host=e2e-host&check=agent")["results"][0]
    assert (newest["status"], newest["message"]["key"]) == (Status.OK, "agent.spool.cleared")
    assert spool_ticket(collector)["id"] == ticket["id"]


def test_a_corrupt_spool_does_not_stop_the_daemon_and_its_report_opens_a_ticket(collector, tmp_path):
    config = corrupt_with_pending_results(collector, tmp_path)
    agent = start_agent(config, tmp_path / "agent.log")
    try:
        wait_for(lambda: any(t["check"] == "agent" for t in
                             collector.get("/api/v1/tickets?state=open")["tickets"]), 30,
                 "the agent's report of its corrupt spool to open a ticket")
        wait_for(lambda: collector.all_results("uptime"), 30, "the patrol to go on")
    finally:
        agent.send_signal(signal.SIGTERM)
        rc = agent.wait(timeout=30)
    log = (tmp_path / "agent.log").read_text()
    assert rc == 0, log[-3000:]
    assert "SPOOL CORRUPT" in log
    assert "spool was corrupt" in spool_ticket(collector)["summary"]


def test_once_push_exits_4_and_keeps_the_results_when_nothing_listens(collector, tmp_path):
    config = write_agent_config(tmp_path / "agent.yaml", collector, UPTIME)
    config.write_text(config.read_text().replace(collector.url, f"http://127.0.0.1:{free_port()}"))
    run = once_push(config, "--wait", "2s")
    assert run.returncode == 4
    assert "not delivered: 1 of 1 results stay in the spool" in run.stderr
    assert "cannot reach the collector" in run.stderr.splitlines()[-1]
    assert spool_backlog(tmp_path / "spool.db") == 1


@pytest.mark.parametrize("refusal", [401, 403])
def test_once_push_exits_4_with_the_reason_when_the_collector_refuses_the_token(collector, tmp_path, refusal):
    config = write_agent_config(tmp_path / "agent.yaml", collector, UPTIME)
    token_file = tmp_path / "agent.token"
    if refusal == 401:
        token_file.write_text("not-a-token-the-collector-knows\n")
    else:  # a valid token, for another host of the site
        token_file.write_text(in_process_cli("token", "create", "--db", collector.db, "--site", "e2e-hospital",
                                             "--host", "another-host") + "\n")
    run = once_push(config, "--wait", "30s")
    assert run.returncode == 4, run.stderr
    last = run.stderr.splitlines()[-1]
    assert last.startswith("not delivered: 1 of 1 results stay in the spool")
    assert f"HTTP {refusal}" in last
    assert token_file.read_text().strip() not in run.stderr
    assert spool_backlog(tmp_path / "spool.db") == 1
    assert [h["host"] for h in collector.get("/api/v1/hosts")["hosts"] if not h["never_reported"]] == []
    os.remove(token_file)
