"""service: systemd on Linux, Windows services from captured shapes.

This machine has systemctl but no running systemd (PID 1 is not systemd), so the
real systemctl is exercised on its failure path here, and the parser and judge
run on `systemctl show` output in the format systemd 252 prints
(tests/checks/fixtures/systemd_*.txt).  Windows is tested on psutil's
documented ``as_dict()`` shapes (tests/checks/fixtures/win_services.json).
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from checks import _windows, service
from checks.context import CheckContext
from checks.params import ParamError, parse_params
from checks.result import Status

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
WIN = json.loads((FIXTURES / "win_services.json").read_text(encoding="utf-8"))
WIN_BY_NAME = {s["name"]: s for s in WIN["services"]}


def show_fixture(name: str) -> str:
    text = (FIXTURES / f"systemd_show_{name}.txt").read_text(encoding="utf-8")
    return "\n".join(line for line in text.splitlines() if not line.startswith("#"))


def run_linux(units: dict[str, str], **params):
    p = parse_params(service.ServiceParams, {"names": list(units), **params})
    return service.run(p, CheckContext(), windows=False, show=lambda unit, timeout: show_fixture(units[unit]))


def run_windows(**params):
    def get(name):
        if name not in WIN_BY_NAME:
            raise _windows.ServiceMissing(name)
        return WIN_BY_NAME[name]
    p = parse_params(service.ServiceParams, params)
    flags = {k: tuple(v) for k, v in WIN["flags"].items()}
    return service.run(p, CheckContext(), windows=True, win_service=get,
                       win_services=lambda: WIN["services"], win_flags=lambda n: flags.get(n, (False, False)))


def systemd_is_running() -> bool:
    return os.path.isdir("/run/systemd/system")


# -- Linux -----------------------------------------------------------------------

def test_service_ok_when_the_unit_is_active_running():
    [r] = run_linux({"ssh.service": "running"})
    assert r.status is Status.OK
    assert r.summary == "ssh.service: active (running), pid 612, since Mon 2026-11-23 07:58:11 CST"
    assert r.metrics[0].name == "running" and r.metrics[0].value == 1
    assert r.standard == "active (running)"


def test_service_ok_when_a_oneshot_unit_stays_active_exited():
    [r] = run_linux({"his-mount-check.service": "oneshot"})
    assert r.status is Status.OK and "active (exited)" in r.summary


def test_service_critical_when_the_unit_failed():
    [r] = run_linux({"mariadb.service": "failed"})
    assert r.status is Status.CRITICAL and r.summary == "mariadb.service: failed"
    assert r.metrics[0].value == 0


def test_service_critical_not_installed_when_the_unit_does_not_exist():
    [r] = run_linux({"no-such.service": "not_found"})
    assert r.status is Status.CRITICAL and "not installed" in r.summary


@pytest.mark.parametrize(("props", "status", "text"), [
    ({"LoadState": "loaded", "ActiveState": "activating", "SubState": "start"}, Status.WARNING, "activating"),
    ({"LoadState": "loaded", "ActiveState": "inactive", "SubState": "dead", "UnitFileState": "disabled"},
     Status.CRITICAL, "not running (inactive/dead); disabled at boot"),
    ({"LoadState": "masked", "ActiveState": "inactive"}, Status.CRITICAL, "masked"),
    ({"LoadState": "loaded", "ActiveState": "weird"}, Status.UNKNOWN, "unexpected state"),
])
def test_service_status_follows_systemd_states(props, status, text):
    r = service.judge_systemd("x.service", props)
    assert r.status is status and text in r.summary


def test_service_parser_keeps_values_with_equals_signs():
    assert service.parse_show("A=b=c\nnoise\n=x\nB=\n") == {"A": "b=c", "B": ""}


def test_service_unknown_with_systemctls_own_message_when_no_systemd_runs_here():
    """The real systemctl of this machine, which has no systemd as PID 1."""
    if shutil.which("systemctl") is None:
        pytest.skip("systemctl is not installed here; the missing-systemctl test covers this machine")
    if systemd_is_running():
        pytest.skip("systemd runs here: the real path is covered by the next test")
    [r] = service.run(service.ServiceParams(names=("ssh.service",)), CheckContext())
    assert r.status is Status.UNKNOWN
    assert "systemctl show failed" in r.summary and "systemd" in r.summary


def test_service_real_systemd_when_it_runs():
    if not systemd_is_running():
        pytest.skip("no systemd running on this machine (checked /run/systemd/system)")
    [r] = service.run(service.ServiceParams(names=("no-such-unit-wardround.service",)), CheckContext())
    assert r.status is Status.CRITICAL and "not installed" in r.summary


def test_service_unknown_when_systemctl_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH with no systemctl: the real lookup fails
    [r] = service.run(service.ServiceParams(names=("ssh",)), CheckContext(), windows=False)
    assert r.status is Status.UNKNOWN and "systemctl not found" in r.summary


def test_service_unknown_when_systemctl_hangs(tmp_path, monkeypatch):
    fake = tmp_path / "systemctl"
    fake.write_text("#!/bin/sh\nexec /bin/sleep 5\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    p = parse_params(service.ServiceParams, {"names": "ssh", "timeout": 0.3})
    [r] = service.run(p, CheckContext(), windows=False)
    assert r.status is Status.UNKNOWN and "no answer within 0.3 s" in r.summary


def test_service_automatic_mode_is_unknown_on_linux():
    p = parse_params(service.ServiceParams, {"automatic": True})
    [r] = service.run(p, CheckContext(), windows=False)
    assert r.status is Status.UNKNOWN and "for Windows" in r.summary


def test_service_unknown_when_no_names_are_configured():
    [r] = service.run(service.ServiceParams(), CheckContext(), windows=False)
    assert r.status is Status.UNKNOWN and "names: not configured" in r.summary


def test_service_config_rejects_an_empty_name():
    with pytest.raises(ParamError, match="names"):
        parse_params(service.ServiceParams, {"names": ["ssh", " "]})


def test_service_cli_runs_with_params():
    out = subprocess.run([sys.executable, "-m", "agent", "check", "service", "--param", "names=ssh,cron",
                          "--param", "timeout=5", "--json"], capture_output=True, text=True, timeout=60)
    results = json.loads(out.stdout)
    assert [r["item"] for r in results] == ["ssh", "cron"]
    assert out.returncode == max(r["status"] for r in results)
    if not systemd_is_running():
        assert {r["status"] for r in results} == {3}


# -- Windows (captured shapes) ------------------------------------------------------

def test_service_windows_ok_when_sql_server_runs():
    [r] = run_windows(names=["MSSQLSERVER"])
    assert r.status is Status.OK
    assert r.summary == "MSSQLSERVER (SQL Server (MSSQLSERVER)): running, pid 2748, automatic"
    assert r.details["username"] == "NT Service\\MSSQLSERVER"


def test_service_windows_critical_when_sql_agent_is_stopped_and_warning_while_middleware_starts():
    agent, middleware, browser = run_windows(names=["SQLSERVERAGENT", "HisMiddleware", "SQLBrowser"])
    assert agent.status is Status.CRITICAL and agent.summary.endswith(": stopped")
    assert middleware.status is Status.WARNING and "start pending" in middleware.summary
    assert browser.status is Status.CRITICAL and "stopped and disabled" in browser.summary


def test_service_windows_critical_not_installed_when_the_service_does_not_exist():
    [r] = run_windows(names=["HISInterface"])
    assert r.status is Status.CRITICAL and "not installed" in r.summary


def test_service_windows_unknown_when_the_service_manager_fails():
    def denied(name):
        raise _windows.WindowsError_("cannot query service X: (originated from OpenSCManager) access denied")
    p = parse_params(service.ServiceParams, {"names": ["X"]})
    [r] = service.run(p, CheckContext(), windows=True, win_service=denied)
    assert r.status is Status.UNKNOWN and "access denied" in r.summary


def test_service_automatic_mode_leaves_out_delayed_and_trigger_start_services():
    [r] = run_windows(automatic=True)
    # automatic: MSSQLSERVER (running), SQLSERVERAGENT, HisMiddleware, sppsvc (delayed),
    # FontCache (trigger), gupdate (delayed)
    assert r.item == "automatic services" and r.status is Status.CRITICAL
    assert r.details["stopped"] == ["SQLSERVERAGENT (SQL Server Agent (MSSQLSERVER))",
                                    "HisMiddleware (HIS Middleware)"]
    assert r.summary.startswith("2 of 6 automatic services not running")
    assert "(2 stopped delayed-start, 1 stopped trigger-start not judged)" in r.summary
    assert r.metrics[0].name == "stopped" and r.metrics[0].value == 2


def test_service_automatic_mode_judges_delayed_and_trigger_start_when_asked():
    [r] = run_windows(automatic=True, include_delayed=True, include_trigger=True)
    assert len(r.details["stopped"]) == 5


def test_service_automatic_mode_accepts_exclude_patterns_on_name_or_display_name():
    [r] = run_windows(automatic=True, exclude=["sqlserveragent", "HIS *"])
    assert r.status is Status.OK and r.summary.startswith("all 4 automatic services running")
    assert "2 excluded" in r.summary


# -- what a zh_CN reader reads (issue 14) -------------------------------------------------------

def _zh(r) -> str:
    """The summary in Chinese, failing on English prose (service names and identifiers aside)."""
    import re

    from checks.messages import text_of
    from tests.checks.test_messages import IDENTIFIERS
    zh = text_of(r.summary, r.message, "zh_CN")
    bare = re.sub(r"\b(MSSQLSERVER|SQL Server|automatic services)\b|\(MSSQLSERVER\)", " ", zh)  # items
    assert re.search(r"[\u4e00-\u9fff]", zh) and not set(re.findall(r"[A-Za-z]{2,}", bare)) - IDENTIFIERS, zh
    return zh


def test_windows_service_texts_read_in_chinese_start_type_denied_query_and_list(monkeypatch):
    import psutil

    [running] = run_windows(names=["MSSQLSERVER"])
    assert "自动" in _zh(running)

    def denied(*args):  # what psutil raises when the agent's account may not query the service manager
        raise psutil.AccessDenied(pid=None, name="MSSQLSERVER",
                                  msg="service 'MSSQLSERVER' is not querable (not enough privileges)")
    monkeypatch.setattr(psutil, "win_service_get", denied, raising=False)
    monkeypatch.setattr(psutil, "win_service_iter", denied, raising=False)
    p = parse_params(service.ServiceParams, {"names": ["MSSQLSERVER"], "automatic": True})
    one, listed = service.run(p, CheckContext(), windows=True, win_service=_windows.service_info,
                              win_services=_windows.all_services)
    assert one.status is listed.status is Status.UNKNOWN
    assert "权限" in _zh(one) and "权限" in _zh(listed), (one.summary, listed.summary)
    with pytest.raises(_windows.WindowsError_) as raised:
        _windows.start_flags("MSSQLSERVER")  # this is not Windows: no service registry
    assert _zh(service._unknown("x", raised.value.message))
