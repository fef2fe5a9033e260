"""nagios: real plugins from Debian's monitoring-plugins-basic, a real listener, real process groups."""

from __future__ import annotations

import os
import pathlib
import socket
import subprocess
import sys
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checks import nagios
from checks.context import CheckContext
from checks.nagios import parse_perfdata
from checks.params import ParamError, parse_params
from checks.result import Result, Status
from tests.conftest import free_port, missing

PLUGINS = pathlib.Path("/usr/lib/nagios/plugins")
FIXTURES = pathlib.Path(__file__).parent / "fixtures"
REPO = pathlib.Path(__file__).resolve().parents[2]


def plugin(name: str) -> str:
    path = PLUGINS / name
    if not os.access(path, os.X_OK):
        missing("monitoring-plugins-basic", f"{path} not found (apt-get install monitoring-plugins-basic)")
    return str(path)


def check(**params) -> Result:
    [r] = nagios.run(parse_params(nagios.NagiosParams, params), CheckContext())
    Result.from_wire(r.with_origin(site="s", host="h").to_wire())  # valid on the wire
    return r


@pytest.mark.parametrize("code", [0, 1, 2, 3])
def test_nagios_status_is_the_exit_code_when_check_dummy_exits_with_it(code):
    r = check(command=[plugin("check_dummy"), str(code), "HIS interface engine"])
    assert r.status is Status(code)
    assert r.summary.endswith("HIS interface engine")
    assert r.item == "check_dummy"
    assert r.details["exit_code"] == code


def test_nagios_load_perfdata_becomes_metrics_with_thresholds_when_check_load_runs():
    r = check(command=[plugin("check_load"), "-w", "50,40,30", "-c", "90,80,70"])
    assert r.status is Status.OK and r.summary.startswith("LOAD OK")
    by_name = {m.name: m for m in r.metrics}
    assert set(by_name) == {"load1", "load5", "load15"}
    assert by_name["load1"].warn == 50 and by_name["load1"].crit == 90
    assert by_name["load15"].min == 0
    assert abs(by_name["load1"].value - os.getloadavg()[0]) < 5


def test_nagios_disk_bytes_are_in_base_units_when_check_disk_runs():
    r = check(command=[plugin("check_disk"), "-w", "1%", "-c", "1%", "-p", "/"])
    assert r.status in (Status.OK, Status.WARNING, Status.CRITICAL)
    [m] = r.metrics
    st_ = os.statvfs("/")
    total = st_.f_blocks * st_.f_frsize
    assert m.name == "root" and m.unit == "B"
    assert m.max == pytest.approx(total, rel=0.02)
    assert r.details["perfdata"][0]["label"] == "/"


def test_nagios_ok_when_check_tcp_reaches_a_real_listener():
    with socket.create_server(("127.0.0.1", 0)) as srv:
        port = srv.getsockname()[1]
        r = check(command=[plugin("check_tcp"), "-H", "127.0.0.1", "-p", str(port)])
    assert r.status is Status.OK
    assert [m.name for m in r.metrics] == ["time"] and r.metrics[0].unit == "s"


def test_nagios_critical_when_check_tcp_finds_the_port_closed():
    r = check(command=[plugin("check_tcp"), "-H", "127.0.0.1", "-p", str(free_port())])
    assert r.status is Status.CRITICAL
    assert "refused" in r.summary.lower()


def test_nagios_command_line_is_split_without_a_shell_when_given_as_text():
    r = check(command_line=f"{plugin('check_dummy')} 1 'two words; $(not run)'")
    assert r.status is Status.WARNING
    assert r.summary == "WARNING: two words; $(not run)"


def test_nagios_unknown_and_process_group_killed_when_the_plugin_hangs(tmp_path):
    pidfile = tmp_path / "child.pid"
    script = f"sleep 60 & echo $! > {pidfile}; echo 'still working'; wait"
    t0 = time.monotonic()
    r = check(command=["/bin/sh", "-c", script], timeout="1s")
    assert time.monotonic() - t0 < 10
    assert r.status is Status.UNKNOWN
    assert r.summary.startswith("plugin timed out after 1 s")
    child = int(pidfile.read_text())
    for _ in range(50):  # the kernel reaps the orphan shortly after SIGKILL
        if not pathlib.Path(f"/proc/{child}").exists() or \
                pathlib.Path(f"/proc/{child}/stat").read_text().split()[2] == "Z":
            break
        time.sleep(0.1)
    else:
        pytest.fail("the plugin's child survived the timeout")


def test_nagios_unknown_when_the_plugin_is_killed_by_a_signal():
    r = check(command=["/bin/sh", "-c", "echo half; kill -9 $$"])
    assert r.status is Status.UNKNOWN
    assert r.summary == "plugin killed by SIGKILL: half"


def test_nagios_unknown_when_the_exit_code_is_outside_0_to_3():
    r = check(command=["/bin/sh", "-c", "echo 'OK - fine'; exit 4"])
    assert r.status is Status.UNKNOWN
    assert "exited with code 4" in r.summary


def test_nagios_unknown_when_the_plugin_does_not_exist():
    r = check(command=["/usr/lib/nagios/plugins/check_nothing_here"])
    assert r.status is Status.UNKNOWN and "not found" in r.summary


def test_nagios_unknown_with_how_to_configure_when_no_command_is_given():
    r = check()
    assert r.status is Status.UNKNOWN and "command" in r.summary


def test_nagios_summary_from_stderr_when_stdout_is_empty():
    r = check(command=["/bin/sh", "-c", "echo 'cannot open /etc/x.conf' >&2; exit 3"])
    assert r.status is Status.UNKNOWN and r.summary == "cannot open /etc/x.conf"


def test_nagios_masks_password_arguments_when_showing_the_command():
    r = check(command=["/bin/sh", "-c", "echo OK", "--password", "s3cret", "--community=public"])
    shown = " ".join(r.details["command"])
    assert "s3cret" not in shown and "public" not in shown
    assert "--password ***" in shown


def test_nagios_config_rejects_command_and_command_line_together():
    with pytest.raises(ParamError, match="command_line"):
        parse_params(nagios.NagiosParams, {"command": ["a"], "command_line": "b"})


# -- the output and perfdata parsers ------------------------------------------

def test_nagios_multiline_output_when_perfdata_continues_on_later_lines():
    r = check(command=["/bin/cat", str(FIXTURES / "nagios_pluginapi_multiline.txt")])
    assert r.summary == "DISK OK - free space: / 3326 MB (56%);"
    assert r.details["long_output"] == ["/ 15272 MB (77%);", "/boot 68 MB (69%);", "/home 69357 MB (27%);",
                                        "/var/log 819 MB (84%);"]
    by_label = {p["label"]: p["metric"] for p in r.details["perfdata"]}
    assert set(by_label) == {"/", "/boot", "/home", "/var/log"}
    metrics = {m.name: m for m in r.metrics}
    assert metrics[by_label["/var/log"]].value == 818 * 1024 ** 2
    assert metrics[by_label["/var/log"]].crit == 975 * 1024 ** 2


def test_nagios_quoted_labels_and_lower_bound_ranges_when_parsing_mssql_health_output():
    text = (FIXTURES / "nagios_mssql_health.txt").read_text()
    perf = parse_perfdata(text.partition("|")[2])
    assert not perf.errors
    first = perf.values[0]
    assert first.label == "db_his_free_pct" and first.unit == "%" and first.value == 4.12
    assert first.warn == 10 and first.warn_range == "10:"
    assert perf.values[1].value == pytest.approx(2110.5 * 1024 ** 2)


@pytest.mark.parametrize(("text", "value", "unit"), [
    ("t=12ms", 0.012, "s"), ("t=5us", 5e-6, "s"), ("t=1.5s", 1.5, "s"), ("m=2KB", 2048, "B"),
    ("m=1TB", 1024 ** 4, "B"), ("p=99.5%", 99.5, "%"), ("n=17c", 17, "c"), ("x=3", 3, ""),
    ("x=1,5", 1.5, ""),
])
def test_perfdata_units_are_normalised_to_base_units_when_parsed(text, value, unit):
    [v] = parse_perfdata(text).values
    assert v.value == pytest.approx(value) and v.unit == unit


def test_perfdata_quotes_inside_labels_are_unescaped_when_doubled():
    [v] = parse_perfdata("'it''s a label'=1;2;3").values
    assert v.label == "it's a label" and (v.warn, v.crit) == (2, 3)


@pytest.mark.parametrize(("rng", "bound"), [
    ("10", 10), ("~:10", 10), ("10:", 10), ("0:10", 10), ("10:20", None), ("@10:20", None), ("x", None),
])
def test_perfdata_keeps_only_one_sided_ranges_as_numbers_when_thresholds_are_ranges(rng, bound):
    [v] = parse_perfdata(f"a=1;{rng};;").values
    assert v.warn == bound and v.warn_range == rng


def test_perfdata_unmeasured_value_is_none_when_plugin_writes_u():
    [v] = parse_perfdata("rta=U;100;500").values
    assert v.value is None and v.crit == 500


def test_perfdata_skips_and_reports_garbage_when_entries_are_malformed():
    perf = parse_perfdata("good=1 =2 bad=abc 'open=3 ok2=4s")
    assert [v.label for v in perf.values] == ["good", "ok2"]
    assert len(perf.errors) == 3


def test_nagios_range_alerts_follow_the_plugin_guidelines():
    r = nagios.parse_range
    assert r("10").alerts(11) and not r("10").alerts(10) and r("10").alerts(-1)
    assert r("10:").alerts(9) and not r("10:").alerts(100)
    assert r("~:10").alerts(11) and not r("~:10").alerts(-100)
    assert r("@10:20").alerts(15) and not r("@10:20").alerts(21)
    assert r("20:10") is None


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300))
def test_perfdata_parser_never_raises_when_given_arbitrary_text(text):
    perf = parse_perfdata(text)
    for v in perf.values:
        assert v.value is None or v.value == v.value  # never NaN
    nagios._metrics(perf.values)  # the metric names it makes are always valid


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="'=; ;:@~U.,0123456789abcKMBms%\n|", max_size=200))
def test_output_parser_never_raises_when_given_perfdata_like_text(text):
    from checks._perfdata import parse_output

    out = parse_output(text)
    metrics, _ = nagios._metrics(out.perfdata.values)
    for m in metrics:
        Result(check="nagios", item="x", status=Status.OK, summary="s", metrics=(m,),
               site="s", host="h").to_wire()
        from checks.result import Metric
        Metric.from_wire(m.to_wire())


def test_nagios_check_command_prints_the_plugin_result():
    dummy = plugin("check_dummy")
    proc = subprocess.run([sys.executable, "-m", "agent", "check", "nagios", "--param",
                           f"command_line={dummy} 1 'HIS queue 120 messages'", "--json"],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    import json
    [wire] = json.loads(proc.stdout)
    assert wire["check"] == "nagios" and wire["summary"] == "WARNING: HIS queue 120 messages"
