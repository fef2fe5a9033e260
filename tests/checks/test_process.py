from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest

from checks import process
from checks.context import CheckContext
from checks.params import ParamError, parse_params
from checks.result import Status


@pytest.fixture(scope="module")
def sleepers():
    """Two real `sleep` processes with a unique argument; killed afterwards."""
    tag = str(70000 + uuid.uuid4().int % 20000)
    procs = [subprocess.Popen(["sleep", f"{tag}.{i}"]) for i in range(2)]
    yield tag
    for p in procs:
        p.kill()
        p.wait()


def check(**params):
    [r] = process.run(parse_params(process.ProcessParams, params), CheckContext())
    return r


def test_process_ok_with_count_and_memory_when_real_processes_run(sleepers):
    r = check(name="sleep", cmdline=rf"^sleep {sleepers}\.")
    metrics = {m.name: m for m in r.metrics}
    assert r.status is Status.OK and metrics["count"].value == 2
    assert metrics["rss_bytes"].unit == "B" and metrics["rss_bytes"].value > 0
    assert r.standard == "at least 1 running"


def test_process_critical_when_fewer_than_min_run(sleepers):
    r = check(cmdline=rf"sleep {sleepers}\.", min=3)
    assert r.status is Status.CRITICAL and "only 2 running, expected at least 3" in r.summary


def test_process_critical_not_running_when_nothing_matches():
    r = check(cmdline=f"no-such-process-{uuid.uuid4().hex}")
    assert r.status is Status.CRITICAL and "not running" in r.summary
    assert r.metrics[0].value == 0


def test_process_warning_when_more_than_max_run(sleepers):
    r = check(cmdline=rf"sleep {sleepers}\.", max=1)
    assert r.status is Status.WARNING and "more than 1" in r.summary


def test_process_name_ignores_case_and_exe_suffix():
    procs = [process.ProcInfo(10, "sqlservr.exe", ("C:\\MSSQL\\Binn\\sqlservr.exe", "-sMSSQLSERVER"), 2**30)]
    p = parse_params(process.ProcessParams, {"name": "SQLSERVR"})
    assert [x.pid for x in process.matching(procs, p, own_pid=1)] == [10]


def test_process_never_counts_the_agents_own_process():
    procs = [process.ProcInfo(1, "python", ("wardround-agent", "check", "process", "cmdline=java"), 1)]
    p = parse_params(process.ProcessParams, {"cmdline": "java"})
    assert process.matching(procs, p, own_pid=1) == []


def test_process_unknown_when_the_process_table_cannot_be_read():
    def broken():
        raise OSError(13, "Permission denied")
    [r] = process.run(process.ProcessParams(name="x"), CheckContext(), processes=broken)
    assert r.status is Status.UNKNOWN and "Permission denied" in r.summary


def test_process_unknown_when_neither_name_nor_cmdline_is_configured():
    [r] = process.run(process.ProcessParams(), CheckContext())
    assert r.status is Status.UNKNOWN and "name: not configured" in r.summary


@pytest.mark.parametrize(("params", "key"), [({"cmdline": "("}, "cmdline"),
                                             ({"name": "x", "min": 2, "max": 1}, "max")])
def test_process_config_rejects_bad_params(params, key):
    with pytest.raises(ParamError, match=key):
        parse_params(process.ProcessParams, params)


def test_process_cli_runs_with_params(sleepers):
    out = subprocess.run([sys.executable, "-m", "agent", "check", "process", "--param", "name=sleep",
                          "--param", f"cmdline={sleepers}", "--param", "min=2", "--json"],
                         capture_output=True, text=True, timeout=60)
    [r] = json.loads(out.stdout)
    assert out.returncode == 0 and r["metrics"][0]["value"] == 2
