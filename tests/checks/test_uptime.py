from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import psutil
import pytest

from checks import uptime
from checks.context import CheckContext
from checks.params import ParamError, parse_params
from checks.result import Status

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
BOOT = (NOW - timedelta(days=3)).timestamp()


def run_at(state: dict, boot: float, now: datetime = NOW, **params):
    p = parse_params(uptime.UptimeParams, params)
    [r] = uptime.run(p, CheckContext(state=state, now=now), boot_time=lambda: boot)
    return r


def test_uptime_reports_this_machines_real_uptime():
    [r] = uptime.run(uptime.UptimeParams(), CheckContext())
    [m] = r.metrics
    assert m.name == "uptime_seconds" and m.unit == "s"
    assert m.value == pytest.approx(datetime.now(UTC).timestamp() - psutil.boot_time(), abs=5)
    assert r.status is Status.OK and r.standard == "no unplanned reboot"


def test_uptime_first_run_only_records_the_boot_time():
    state: dict = {}
    r = run_at(state, BOOT)
    assert r.status is Status.OK and "up 3 d since 2026-11-20 08:00:00Z" in r.summary
    assert state["boot_time"] == BOOT


def test_uptime_warns_once_with_old_and_new_boot_time_when_the_machine_rebooted():
    state = {"boot_time": BOOT}
    new_boot = (NOW - timedelta(minutes=10)).timestamp()
    r = run_at(state, new_boot)
    assert r.status is Status.WARNING
    assert ("rebooted since the last run: boot time was 2026-11-20 08:00:00Z, now 2026-11-23 07:50:00Z"
            in r.summary)
    assert r.details["previous_boot_time"] == "2026-11-20 08:00:00Z"
    again = run_at(state, new_boot, NOW + timedelta(minutes=5))
    assert again.status is Status.OK


def test_uptime_stays_warning_after_a_reboot_while_below_min_uptime():
    state = {"boot_time": BOOT}
    new_boot = (NOW - timedelta(minutes=10)).timestamp()
    run_at(state, new_boot, min_uptime="1h")
    r = run_at(state, new_boot, NOW + timedelta(minutes=5), min_uptime="1h")
    assert r.status is Status.WARNING and "below 1 h" in r.summary
    r = run_at(state, new_boot, NOW + timedelta(hours=1), min_uptime="1h")
    assert r.status is Status.OK


def test_uptime_ignores_a_boot_time_that_moved_by_a_clock_adjustment():
    r = run_at({"boot_time": BOOT}, BOOT + 2)
    assert r.status is Status.OK


def test_uptime_critical_when_reboot_status_is_critical_and_it_rebooted():
    r = run_at({"boot_time": BOOT - 86400}, BOOT, reboot_status="critical")
    assert r.status is Status.CRITICAL


def test_uptime_warns_when_up_longer_than_max_uptime():
    r = run_at({}, BOOT, max_uptime="2d")
    assert r.status is Status.WARNING and "without a reboot" in r.summary


def test_uptime_unknown_when_the_boot_time_cannot_be_read():
    def broken() -> float:
        raise OSError(13, "Permission denied")
    [r] = uptime.run(uptime.UptimeParams(), CheckContext(), boot_time=broken)
    assert r.status is Status.UNKNOWN and "Permission denied" in r.summary


def test_uptime_unknown_when_the_boot_time_is_in_the_future():
    r = run_at({}, (NOW + timedelta(hours=1)).timestamp())
    assert r.status is Status.UNKNOWN and "in the future" in r.summary


def test_uptime_config_rejects_an_unknown_reboot_status():
    with pytest.raises(ParamError, match="reboot_status"):
        parse_params(uptime.UptimeParams, {"reboot_status": "page"})


def test_uptime_cli_runs_with_params():
    out = subprocess.run([sys.executable, "-m", "agent", "check", "uptime", "--param", "max_uptime=100000d",
                          "--json"], capture_output=True, text=True, timeout=60)
    [r] = json.loads(out.stdout)
    assert out.returncode == 0 and r["check"] == "uptime" and r["metrics"][0]["value"] > 0
