"""Rolling out to a site with the real programs: a key, ``enrol``, ``run``; checks from the fleet file.

Real ``wardround-collector serve`` processes (HTTP and HTTPS with a throwaway CA), real
``wardround-agent enrol`` and ``run`` processes; nothing is faked.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.certs import make_certs
from tests.e2e.conftest import CollectorProcess, command, start_agent, wait_for

pytestmark = pytest.mark.slow

SITE = "e2e-hospital"
FLEET = """
templates:
  base:
    - {check: uptime, every: 1s}
assign:
  - {templates: [base]}
"""
FLEET_V2 = """
templates:
  base:
    - {check: uptime, every: 1s}
  db:
    - {check: system, every: 1s}
assign:
  - {templates: [base]}
  - {role: his-db, templates: [db]}
"""


@pytest.fixture
def https_collector(tmp_path: Path) -> Iterator[CollectorProcess]:
    c = CollectorProcess(tmp_path, site=SITE, host="e2e-host", certs=make_certs(tmp_path / "certs"))
    c.start()
    yield c
    c.stop()


def enrol(c: CollectorProcess, key: str, config: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    ca = ["--ca-file", str(c.certs.ca)] if c.certs else []
    return subprocess.run([command("wardround-agent"), "enrol", "--url", c.url, "--key", key, "--config",
                           str(config), "--spool", str(config.parent / "spool.db"), *ca, *extra],
                          capture_output=True, text=True, timeout=60)


def fast(config: Path) -> None:
    """The written config, with no start-up jitter and a config poll every 10 s (the minimum)."""
    with open(config, "a", encoding="utf-8") as fh:
        fh.write("jitter: 0s\nconfig_every: 10s\n")


def hosts(c: CollectorProcess) -> dict[str, dict]:
    return {h["host"]: h for h in c.get("/api/v1/hosts")["hosts"]}


def checks_of(c: CollectorProcess, host: str) -> set[str]:
    return {r["check"] for r in c.get(f"/api/v1/results?host={host}&limit=1000")["results"]}


def stop(proc: subprocess.Popen[bytes]) -> None:
    import signal

    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_a_new_server_patrols_with_the_fleets_checks_after_enrol_and_run_over_https(https_collector, tmp_path):
    c = https_collector
    fleet_file = tmp_path / "fleet.yaml"
    fleet_file.write_text(FLEET)
    assert "applied as fleet version 1" in c.cli("fleet", "apply", str(fleet_file)).stdout
    key = c.cli("enrol-key", "create", "--site", SITE, "--role", "his-db").stdout.strip().splitlines()[-1]
    agent_dir = tmp_path / "agent"
    agent_dir.mkdir()
    config = agent_dir / "agent.yaml"
    started = time.monotonic()
    out = enrol(c, key, config, "--host", "his-db-07")
    assert out.returncode == 0, out.stderr
    assert f"enrolled {SITE}/his-db-07 (roles: his-db)" in out.stdout
    token_file = agent_dir / "agent.token"
    for path in (token_file, config):
        st = path.stat()
        assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == os.geteuid(), path
    assert "\nchecks:" not in config.read_text() and key not in config.read_text()
    assert token_file.read_text().startswith("wra_")
    assert hosts(c)["his-db-07"]["never_reported"] is True
    fast(config)
    agent = start_agent(config, tmp_path / "agent.log")
    try:
        wait_for(lambda: "uptime" in checks_of(c, "his-db-07"), 60, "the fleet's uptime check from the new server")
        first_result_s = time.monotonic() - started
        h = hosts(c)["his-db-07"]
        assert h["config_version"].startswith("v1-") and h["config"] == "current"
        assert h["facts"]["agent_version"] and h["roles"] == ["his-db"]
        kept = Path(f"{agent_dir / 'spool.db'}.central.json")
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600
        assert json.loads(kept.read_text())["etag"].startswith("v1-")
        # the fleet changes: the running agent applies it without a restart
        fleet_file.write_text(FLEET_V2)
        assert "applied as fleet version 2" in c.cli("fleet", "apply", str(fleet_file)).stdout
        wait_for(lambda: "system" in checks_of(c, "his-db-07"), 40, "the check fleet version 2 added")
        wait_for(lambda: (hosts(c)["his-db-07"]["config_version"] or "").startswith("v2-"), 20,
                 "the agent to report running version 2")
        assert agent.poll() is None
        log = (tmp_path / "agent.log").read_text()
        assert "central config v2-" in log and "applied: 1 added, 0 changed, 0 removed" in log
        assert "push: delivered" in log  # one INFO line per push cycle
    finally:
        stop(agent)
    print(f"from enrol to the first stored result: {first_result_s:.1f} s")  # noqa: T201 - shown with -s


def test_a_reused_expired_or_forged_key_is_refused_and_nothing_is_written(https_collector, tmp_path):
    c = https_collector
    key = c.cli("enrol-key", "create", "--site", SITE).stdout.strip().splitlines()[-1]
    for sub in ("a", "b", "c"):
        (tmp_path / sub).mkdir()
    first = enrol(c, key, tmp_path / "a" / "agent.yaml", "--host", "one")
    assert first.returncode == 0, first.stderr
    again = enrol(c, key, tmp_path / "b" / "agent.yaml", "--host", "two")
    assert again.returncode == 1 and "used up (1 of 1 uses)" in again.stderr
    forged = enrol(c, "wre_" + "A" * 43, tmp_path / "b" / "agent.yaml", "--host", "two")
    assert forged.returncode == 1 and "unknown enrolment key" in forged.stderr
    assert list((tmp_path / "b").iterdir()) == []
    odd = enrol(c, key, tmp_path / "b" / "agent.yaml", "--host", "his db;01")
    assert odd.returncode == 2 and "--host: expected 1-64 letters" in odd.stderr
    taken = c.cli("enrol-key", "create", "--site", SITE).stdout.strip().splitlines()[-1]
    dup = enrol(c, taken, tmp_path / "c" / "agent.yaml", "--host", "one")
    assert dup.returncode == 1 and "already enrolled" in dup.stderr and "--replace" in dup.stderr
    assert "Traceback" not in again.stderr + forged.stderr + odd.stderr + dup.stderr


def test_an_unapproved_host_keeps_its_results_in_its_spool_until_approved(tmp_path):
    c = CollectorProcess(tmp_path, site=SITE, host="e2e-host")
    c.start()
    try:
        key = c.cli("enrol-key", "create", "--site", SITE, "--approve", "manual").stdout.strip().splitlines()[-1]
        config = tmp_path / "agent.yaml"
        out = enrol(c, key, config, "--host", "lab-09")
        assert out.returncode == 0 and "awaits approval" in out.stdout, out.stderr
        with open(config, "a", encoding="utf-8") as fh:
            fh.write("checks:\n  - {check: uptime, every: 1m}\n")
        once = subprocess.run([command("wardround-agent"), "once", "--config", str(config), "--push", "--wait",
                               "5s"], capture_output=True, text=True, timeout=60)
        assert once.returncode == 4, once.stderr
        assert "awaiting approval" in once.stderr and "host approve --site e2e-hospital --host lab-09" in once.stderr
        listed = c.cli("host", "list").stdout
        assert "lab-09" in listed and "awaiting approval" in listed and "never reported" in listed
        assert "approved" in c.cli("host", "approve", "--site", SITE, "--host", "lab-09").stdout
        again = subprocess.run([command("wardround-agent"), "once", "--config", str(config), "--push", "--wait",
                                "10s"], capture_output=True, text=True, timeout=60)
        assert again.returncode in (0, 1, 2, 3), again.stderr
        assert len(c.get("/api/v1/results?host=lab-09")["results"]) == 2  # the held one and the new one
    finally:
        c.stop()


def test_a_rotated_token_is_picked_up_by_the_running_agent_and_a_revoked_one_stops_it(tmp_path):
    c = CollectorProcess(tmp_path, site=SITE, host="e2e-host")
    c.start()
    agent = None
    try:
        key = c.cli("enrol-key", "create", "--site", SITE).stdout.strip().splitlines()[-1]
        config = tmp_path / "agent.yaml"
        assert enrol(c, key, config, "--host", "app-03").returncode == 0
        with open(config, "a", encoding="utf-8") as fh:
            fh.write("jitter: 0s\nchecks:\n  - {check: uptime, every: 1s}\n")
        old = (tmp_path / "agent.token").read_text().strip()
        agent = start_agent(config, tmp_path / "agent.log")
        wait_for(lambda: c.get("/api/v1/results?host=app-03")["results"], 30, "a first result")
        rotated = c.cli("token", "rotate", "--site", SITE, "--host", "app-03", "--grace", "1h").stdout
        new = rotated.strip().splitlines()[-1]
        assert new.startswith("wra_") and new != old
        wait_for(lambda: (tmp_path / "agent.token").read_text().strip() == new, 30,
                 "the agent to write its new token")
        assert stat.S_IMODE((tmp_path / "agent.token").stat().st_mode) == 0o600
        listed = c.cli("token", "list", "--json").stdout
        states = sorted(t["state"] for t in json.loads(listed) if t["host"] == "app-03")
        assert states == ["active", "rotating"] and new not in listed and old not in listed
        log = (tmp_path / "agent.log").read_text()
        assert "token rotation: new agent token written to" in log and new not in log and old not in log
        count = len(c.get("/api/v1/results?host=app-03&limit=1000")["results"])
        wait_for(lambda: len(c.get("/api/v1/results?host=app-03&limit=1000")["results"]) > count + 1, 20,
                 "results sent with the new token")
        assert "revoked 2 token(s)" in c.cli("token", "revoke", "--site", SITE, "--host", "app-03").stdout
        wait_for(lambda: "HTTP 401" in (tmp_path / "agent.log").read_text(), 20, "the agent to be refused")
    finally:
        if agent is not None:
            stop(agent)
        c.stop()
