"""A failed backup, found by the real agent and pushed to the real collector, becomes a ticket.

``wardround-agent once --push`` runs ``backup_files`` on a directory whose
only backup is three days old; the collector (``wardround-collector serve``)
must then show an open ticket at the default policy's level for a failed
backup (2, "general fault") with its response deadline.
"""

from __future__ import annotations

import os
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest

from checks.result import parse_time
from collector.policy import default_policies
from tests.e2e.conftest import command, write_agent_config

pytestmark = pytest.mark.slow


def test_failed_backup_pushed_by_the_agent_opens_a_ticket_with_its_deadline(collector, tmp_path: Path):
    backups = tmp_path / "backups"
    backups.mkdir()
    old = backups / "HIS_20261120_0200.bak"
    old.write_bytes(b"backup" * 1000)
    three_days_ago = time.time() - 3 * 86400
    os.utime(old, (three_days_ago, three_days_ago))
    config = write_agent_config(
        tmp_path / "agent.yaml", collector,
        f"  - check: backup_files\n    every: 1h\n    params: {{path: '{backups}', pattern: '*.bak', "
        "max_age: 26h}")
    run = subprocess.run([command("wardround-agent"), "once", "--config", str(config), "--push"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stdout + run.stderr  # CRITICAL

    [ticket] = collector.get("/api/v1/tickets?state=open")["tickets"]
    assert (ticket["site"], ticket["host"], ticket["check"]) == ("e2e-hospital", "e2e-host", "backup_files")
    assert ticket["item"] == f"{backups}/*.bak"
    assert (ticket["severity"], ticket["level_name"]) == (2, "general fault")
    assert "stale" in ticket["summary"]
    opened = parse_time(ticket["opened_at"])
    response_due, resolve_due = default_policies().default.deadlines(2, opened)
    assert parse_time(ticket["response_due"]) == response_due
    assert parse_time(ticket["resolve_due"]) == resolve_due
    assert response_due - opened >= timedelta(hours=2)  # business hours: never sooner than 2 h
    full = collector.get(f"/api/v1/tickets/{ticket['id']}")
    assert [h["action"] for h in full["history"]] == ["open"]
