from __future__ import annotations

import sys
import time

import pytest

from checks import system
from checks.context import CheckContext
from checks.params import ParamError, parse_params
from checks.result import Status


def test_system_reports_cpu_memory_swap_and_load_of_this_machine():
    results = system.run(system.SystemParams(sample=0.2), CheckContext())
    items = [r.item for r in results]
    assert items[:3] == ["cpu", "memory", "swap"]
    if sys.platform != "win32":
        assert items[3] == "load"
    mem = results[1]
    assert 0 < mem.metrics[0].value < 100
    assert mem.metrics[2].name == "total_bytes" and mem.metrics[2].value > 0


def test_cpu_is_averaged_since_the_previous_run_when_state_is_kept():
    ctx = CheckContext()
    system.run(system.SystemParams(sample=0.1), ctx)
    assert "cpu_times" in ctx.state
    time.sleep(0.3)
    t0 = time.monotonic()
    [cpu, *_] = system.run(system.SystemParams(sample=5), ctx)
    # the second run must not sample again: it averages over the time since the first
    assert time.monotonic() - t0 < 2
    assert cpu.details["window_s"] >= 0.3


def test_cpu_busy_share_is_computed_from_counter_deltas():
    before = {"user": 100.0, "system": 50.0, "idle": 800.0, "iowait": 50.0}
    after = {"user": 160.0, "system": 70.0, "idle": 810.0, "iowait": 60.0}
    assert system._busy_percent(before, after) == pytest.approx(80.0)


def test_cpu_critical_when_busy_above_crit():
    ctx = CheckContext(state={"cpu_times": {"user": 0.0, "system": 0.0, "idle": 0.0, "iowait": 0.0},
                              "cpu_at": time.time() - 60})
    # Everything the machine did since boot counts as busy relative to a zero baseline
    # only if idle is small; use a threshold of 0 to make the verdict certain.
    [cpu, *_] = system.run(parse_params(system.SystemParams, {"cpu_warn": 0, "cpu_crit": 0}), ctx)
    assert cpu.status is Status.CRITICAL


def test_system_config_rejects_warn_above_crit():
    with pytest.raises(ParamError, match="mem_warn"):
        parse_params(system.SystemParams, {"mem_warn": 99, "mem_crit": 90})


def test_memory_warning_when_used_above_mem_warn():
    p = parse_params(system.SystemParams, {"mem_warn": 0, "mem_crit": 100, "sample": 0.1})
    mem = system.run(p, CheckContext())[1]
    assert mem.item == "memory" and mem.status is Status.WARNING
    assert mem.standard == "memory used < 0 %"


def test_system_cli_runs_with_params():
    import json
    import subprocess
    out = subprocess.run([sys.executable, "-m", "agent", "check", "system", "--param", "sample=0.1",
                          "--param", "load_warn=1000", "--param", "load_crit=1000", "--json"],
                         capture_output=True, text=True, timeout=60)
    results = json.loads(out.stdout)
    assert [r["item"] for r in results][:3] == ["cpu", "memory", "swap"]
    assert out.returncode == max(r["status"] for r in results)
    assert all(r["standard"] for r in results)
