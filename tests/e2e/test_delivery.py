"""Agent → spool → collector with the real commands: nothing lost, nothing twice.

These run ``wardround-collector serve`` and ``wardround-agent`` as
subprocesses, stop the collector under a running agent, and kill the agent
with SIGKILL in the middle of sending.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agent.spool import Spool
from checks.result import Metric, Result, Status, parse_time
from tests.agent.helpers import spool_backlog
from tests.agent.test_cli_language import _english_prose
from tests.e2e.conftest import CollectorProcess, command, start_agent, wait_for, write_agent_config

pytestmark = pytest.mark.slow

SYSTEM_ITEMS = {"cpu", "memory", "swap", "load"}


def test_once_push_delivers_a_full_patrol_and_exits_with_the_worst_status(collector, tmp_path):
    config = write_agent_config(tmp_path / "agent.yaml", collector,
                                "  - check: disk\n    every: 5m\n  - check: system\n    every: 1m\n"
                                "    params: {sample: 0.2}")
    run = subprocess.run([command("wardround-agent"), "once", "--config", str(config), "--push", "--json"],
                         capture_output=True, text=True, timeout=120)
    printed = json.loads(run.stdout)
    assert {r["check"] for r in printed} == {"disk", "system"}
    assert run.returncode == Status.worst(r["status"] for r in printed)

    stored = collector.all_results()
    assert sorted(r["id"] for r in stored) == sorted(r["id"] for r in printed)
    [host] = collector.get("/api/v1/hosts")["hosts"]
    assert (host["site"], host["host"]) == ("e2e-hospital", "e2e-host")
    assert host["worst_status"] == run.returncode
    assert spool_backlog(tmp_path / "spool.db") == 0
    # the backlog the agent reported is what waits besides the batch it sent: a healthy agent
    # showed its last patrol's size as "results waiting" on the host page and in Grafana for ever
    assert host["spool_backlog"] == 0


def test_results_taken_during_an_outage_arrive_exactly_once_when_the_collector_returns(collector, tmp_path):
    config = write_agent_config(tmp_path / "agent.yaml", collector,
                                "  - check: system\n    every: 1s\n    params: {sample: 0.1}")
    agent = start_agent(config, tmp_path / "agent.log")
    try:
        wait_for(lambda: len(collector.all_results("system")) >= 8, 30, "the first results")
        collector.stop()
        outage_started = datetime.now(UTC)
        spool = tmp_path / "spool.db"  # the agent holds it: read it read-only
        # five patrols (the agent backs off longer the longer the outage: ten cost seconds, proved nothing more)
        wait_for(lambda: spool_backlog(spool) >= 20, 60, "five patrols to pile up in the spool during the outage")
        outage_ended = datetime.now(UTC)
        collector.start()
        wait_for(lambda: spool_backlog(spool) == 0, 60, "the agent to drain its spool")
    finally:
        agent.send_signal(signal.SIGTERM)
        rc = agent.wait(timeout=30)
    assert rc == 0, (tmp_path / "agent.log").read_text()[-3000:]

    stored = collector.all_results("system")
    ids = Counter(r["id"] for r in stored)
    assert max(ids.values()) == 1
    runs: dict[str, set[str]] = {}
    for r in stored:
        runs.setdefault(r["started_at"], set()).add(r["item"])
    # every patrol arrived whole ...
    assert all(items == SYSTEM_ITEMS for items in runs.values()), runs
    # ... including those taken while the collector was down ...
    during = [t for t in runs if outage_started < parse_time(t) < outage_ended]
    assert len(during) >= 4
    # ... and there is no hole in the once-a-second sequence.
    times = sorted(parse_time(t) for t in runs)
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
    assert max(gaps) < 3.0, gaps


def _backlog(n: int, started: datetime) -> list[Result]:
    return [Result(check="e2e_fill", item=f"item-{i % 10}", status=Status.OK, summary=f"filler {i}",
                   metrics=(Metric("n", float(i)),), site="e2e-hospital", host="e2e-host",
                   started_at=started + timedelta(milliseconds=10 * i))
            for i in range(n)]


def test_agent_killed_mid_send_loses_and_duplicates_nothing(collector, tmp_path):
    collector.stop()  # build a backlog as a day-long outage would
    backlog = _backlog(6000, datetime.now(UTC) - timedelta(hours=1))
    with Spool(tmp_path / "spool.db") as filling:
        filling.put(backlog)
    spool = tmp_path / "spool.db"  # from now on the agents hold it: read it read-only
    assert spool_backlog(spool) == 6000
    collector.start()
    config = write_agent_config(tmp_path / "agent.yaml", collector,
                                "  - check: disk\n    every: 1h", batch_size="100")
    kills = []
    for _ in range(3):
        before = spool_backlog(spool)
        if before == 0:  # a quick machine: the agent drained it before a later kill (the first came mid-send)
            break
        agent = start_agent(config, tmp_path / "agent.log")
        wait_for(lambda b=before, a=agent: spool_backlog(spool) < max(b - 150, 1) or a.poll() is not None, 30,
                 "the agent to send some batches")
        os.kill(agent.pid, signal.SIGKILL)
        agent.wait()
        kills.append(spool_backlog(spool))
    assert all(0 < k < 6000 for k in kills[:1]), f"the first kill came too late to be mid-send: {kills}"
    agent = start_agent(config, tmp_path / "agent.log")
    try:
        wait_for(lambda: spool_backlog(spool) == 0, 90, "the restarted agent to drain its spool")
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=30)

    stored = collector.all_results("e2e_fill")
    counts = Counter(r["id"] for r in stored)
    assert len(counts) == 6000 and max(counts.values()) == 1
    assert set(counts) == {r.id for r in backlog}
    # what arrived is what was taken, byte for byte in the fields that matter
    by_id = {r["id"]: r for r in stored}
    sample = backlog[4321]
    assert by_id[sample.id]["summary"] == "filler 4321"
    assert by_id[sample.id]["metrics"][0]["value"] == 4321.0


def test_collector_restart_keeps_the_hosts_it_knew(tmp_path):
    c = CollectorProcess(tmp_path, site="e2e-hospital", host="e2e-host")
    c.start()
    try:
        config = write_agent_config(tmp_path / "agent.yaml", c, "  - check: disk\n    every: 5m")
        subprocess.run([command("wardround-agent"), "once", "--config", str(config), "--push"],
                       capture_output=True, timeout=120)
        c.stop()
        c.start()
        hosts = c.get("/api/v1/hosts")["hosts"]
        assert [h["host"] for h in hosts] == ["e2e-host"]
        assert time.time() - parse_time(hosts[0]["last_seen"]).timestamp() < 300
    finally:
        c.stop()


def test_demo_runs_from_a_clean_directory_when_its_port_is_taken_and_speaks_chinese_to_a_chinese_reader(tmp_path):
    # Another program has bound the demo's port without listening yet (the moment a racing server
    # is in): the demo must not pick it, and serves on a port it holds from the start.
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        taken = squatter.getsockname()[1]
        env = {k: v for k, v in os.environ.items()
               if k not in ("WARDROUND_KEY_FILE", "WARDROUND_LANG", "LC_ALL", "LC_MESSAGES")}  # a fresh machine
        env.update(WARDROUND_DEMO_DIR=str(tmp_path / "demo"), WARDROUND_DEMO_PORT=str(taken), LANG="zh_CN.UTF-8")
        run = subprocess.run([command("python"), str(Path(__file__).parents[2] / "deploy" / "demo.py")],
                             capture_output=True, text=True, timeout=180, env=env)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert f"127.0.0.1:{taken}" not in run.stdout
    assert "==> 采集端现在掌握的情况" in run.stdout
    assert re.search(r"已存 \d+ 条结果", run.stdout)
    assert (tmp_path / "demo" / "collector.db").exists()
    assert (tmp_path / "demo" / "collector.key").stat().st_mode & 0o077 == 0
    assert "，已用密钥 " in run.stdout  # today's record, signed with the demo's key
    # times as the ticket texts show them, never raw ISO; no English prose outside identifiers
    assert re.search(r"最近上报 \d{4}-\d{2}-\d{2} \d{2}:\d{2} \(Asia/Shanghai\)", run.stdout), run.stdout
    assert re.search(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", run.stdout) is None, run.stdout
    readable = re.sub("|".join([
        r"\S*[/:=$\\]\S*", r"(?<!\S)--?[a-z][\w-]*", r"'[^']*'", r'"[^"]*"',  # paths, URLs, options, quoted
        r"\b[\w.-]*(?:\.[a-z]{2,4})\b", r"(?:[0-9a-f]{4} ){15}[0-9a-f]{4}",  # files, the key's fingerprint
        r"\b[\w-]*\d[\w-]*\b"]), " ", run.stdout)  # digests, key ids, versions
    commands = {"wardround-agent", "wardround-collector", "enrol", "record", "export", "verify", "audit", "curl",
                "kill", "vm", "disk", "system", "cpu", "memory", "load", "backup_files", "demo-hospital",
                "config_every", "Bearer"}
    prose = _english_prose(readable, commands)
    assert prose == [], (prose, run.stdout)
