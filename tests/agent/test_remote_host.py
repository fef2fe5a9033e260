"""A check entry's ``host:``: its results are reported under that host, the agent's own stay its own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agent.config import ConfigError, load_config
from agent.runner import CheckRun, Runner
from checks.catalogue import CheckSpec
from checks.context import CheckContext
from checks.result import Result, Status


def write(tmp_path: Path, checks: str) -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text(f"site: central-hospital\nhost: his-app-01\nspool: {tmp_path / 'spool.db'}\n"
                    f"checks:\n{checks}")
    return path


def test_config_keeps_the_host_and_names_the_instance_check_at_host_when_host_is_given(tmp_path):
    config = load_config(write(tmp_path,
                               "  - check: ssh\n    host: lab-nas-01\n    every: 5m\n"
                               "  - check: ssh\n    host: old-lis-01\n    every: 5m\n"
                               "  - check: ssh\n    host: old-lis-02\n    name: lis2\n    every: 5m\n"
                               "  - check: uptime\n    every: 1m\n"))
    assert [(c.name, c.host) for c in config.checks] == [
        ("ssh@lab-nas-01", "lab-nas-01"), ("ssh@old-lis-01", "old-lis-01"), ("lis2", "old-lis-02"),
        ("uptime", None)]


def test_config_error_names_the_key_when_the_host_breaks_the_name_rules(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, "  - check: ssh\n    host: 'lab nas/01'\n    every: 5m\n"
                                    "  - check: ssh\n    host: ''\n    every: 5m\n"))
    lines = err.value.errors
    assert any(line.endswith("checks[0].host: expected 1-64 letters, digits, '.', '_' or '-' "
                             "(starting with a letter or digit) (got 'lab nas/01')") for line in lines), lines
    assert any("checks[1].host: expected a non-empty string" in line for line in lines), lines


def test_config_refuses_two_entries_for_the_same_check_and_host_when_unnamed(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, "  - check: ssh\n    host: nas\n    every: 5m\n"
                                    "  - check: ssh\n    host: nas\n    every: 1h\n"))
    assert any("checks[1].name: 'ssh@nas' is already the name of checks[0]" in e for e in err.value.errors)


def _results(params: Any, ctx: CheckContext) -> list[Result]:
    return [Result(check="remote", item="df:/", status=Status.OK, summary="fine")]


def _hangs(params: Any, ctx: CheckContext) -> list[Result]:
    raise RuntimeError("boom")


@pytest.mark.parametrize(("host", "expected"), [("lab-nas-01", "lab-nas-01"), ("", "his-app-01")])
def test_runner_stamps_the_job_host_when_the_job_has_one(host, expected):
    spec = CheckSpec(name="remote", params=dict, run=_results, summary="test")
    runner = Runner("central-hospital", "his-app-01")
    [r] = runner.run(CheckRun(spec=spec, params={}, timeout_s=5, name="remote@x", host=host))
    assert (r.site, r.host) == ("central-hospital", expected)


def test_runner_reports_a_failed_remote_check_under_the_remote_host_with_no_item_when_unnamed():
    spec = CheckSpec(name="remote", params=dict, run=_hangs, summary="test")
    runner = Runner("central-hospital", "his-app-01")
    [r] = runner.run(CheckRun(spec=spec, params={}, timeout_s=5, name="remote@lab-nas-01", host="lab-nas-01"))
    assert (r.host, r.item, r.status) == ("lab-nas-01", "", Status.UNKNOWN)
    [r] = runner.run(CheckRun(spec=spec, params={}, timeout_s=5, name="nas-disks", host="lab-nas-01"))
    assert r.item == "nas-disks"


def test_once_prints_remote_results_under_their_host_when_run_for_real(tmp_path):
    """`wardround-agent once` with a real check (uptime) reported for another host and one for itself."""
    config = write(tmp_path, "  - check: uptime\n    host: lab-nas-01\n    every: 5m\n"
                             "  - check: uptime\n    name: own-uptime\n    every: 5m\n")
    run = subprocess.run([sys.executable, "-m", "agent", "once", "--config", str(config), "--json"],
                         capture_output=True, text=True, timeout=60)
    printed = json.loads(run.stdout)
    assert sorted((r["host"], r["check"]) for r in printed) == [("his-app-01", "uptime"),
                                                               ("lab-nas-01", "uptime")]
