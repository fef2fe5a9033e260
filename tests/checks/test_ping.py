"""ping: real probes through the namespace network (tests/checks/netns.py), and the rules.

The status sequences run the check again and again inside the client namespace, with
real loss (iptables statistic drops in router 1), real delay (NFQUEUE and a delaying
handler in router 1, tests/checks/netdelay.py: this kernel has no netem) and a real
"down" target (router 1 answers host unreachable).  Windows output is fed through the
system-ping path with the bytes a zh-CN console writes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from checks import _netcmd
from checks.context import CheckContext
from checks.params import ParamError, parse_params
from checks.ping import PingParams, _hysteresis, run
from checks.result import Status
from tests.checks.netdelay import delay
from tests.checks.netns import HOP_R1, REPO, TARGET
from tests.checks.test_network_parsers import FIXTURES

# the shortest interval the check allows; an answer in these namespaces takes well under a millisecond, so
# a quarter of a second is long enough to wait for one (each probe a loss rule drops costs the timeout)
FAST = {"target": TARGET, "count": 10, "interval": 0.2, "timeout": 0.25}


def _metric(result, name):
    return next(m for m in result["metrics"] if m["name"] == name)


def test_ping_ok_through_the_cli_when_the_server_answers(net):
    proc = subprocess.run(
        ["ip", "netns", "exec", net.client, sys.executable, "-m", "agent", "check", "ping",
         "--param", f"target={TARGET}", "--param", "count=3", "--param", "interval=0.2", "--json"],
        capture_output=True, text=True, timeout=60, cwd=REPO, env={**os.environ, "PYTHONPATH": REPO})
    assert proc.returncode == 0, proc.stderr
    (result,) = json.loads(proc.stdout)
    assert result["status"] == 0 and result["item"] == TARGET
    assert result["details"]["method"] == "icmp-raw"  # root in the namespace: a raw socket
    assert _metric(result, "loss_ratio")["value"] == 0.0
    assert 0 < _metric(result, "rtt_avg_seconds")["value"] < 0.1


def test_ping_ok_with_the_system_ping_when_method_is_system(net, worker):
    (result,) = worker.run("ping", {**FAST, "count": 3, "method": "system"}, key="system")
    assert result["status"] == 0, result["summary"]
    assert result["details"]["method"] == "system ping"
    assert result["details"]["received"] == 3
    assert _metric(result, "rtt_max_seconds")["value"] >= _metric(result, "rtt_min_seconds")["value"] > 0


def test_ping_loss_episode_raises_after_two_bad_runs_and_clears_after_two_good(net, worker):
    statuses, results = [], []

    def once():
        (r,) = worker.run("ping", FAST, key="episode")
        statuses.append(r["status"])
        results.append(r)

    once()  # clean
    net.loss(0.6)
    once()  # lossy, first time: not reported
    once()  # lossy again: reported, with the traceroute evidence
    net.loss(0)
    once()  # clean once: still held
    once()  # clean twice: cleared
    assert statuses[0] == 0 and statuses[1] == 0, [r["summary"] for r in results]
    assert statuses[2] in (1, 2), results[2]["summary"]
    assert statuses[3] == statuses[2] and "until 2 better runs" in results[3]["summary"]
    assert statuses[4] == 0, results[4]["summary"]
    assert all(_metric(r, "loss_ratio")["value"] > 0.1 for r in results[1:3])
    assert "reported after 2" in results[1]["summary"]
    evidence = results[2]["details"]["traceroute"]
    assert [h["address"] for h in evidence["hops"]][:2] == [HOP_R1, TARGET]
    assert results[3]["details"]["traceroute"] == evidence  # the same evidence, not a new trace
    assert "traceroute" not in results[4]["details"]


def test_ping_down_when_nothing_answers_in_down_after_runs(net, worker):
    net.blackhole(True)
    params = {**FAST, "count": 3, "method": "system", "down_after": 2, "trace_on_bad": False}
    (first,) = worker.run("ping", params, key="down")
    (second,) = worker.run("ping", params, key="down")
    assert first["status"] == 0 and "1 of 2 runs before 'down'" in first["summary"]
    assert second["status"] == 2 and "down" in second["summary"]
    assert second["details"]["down"] is True
    assert second["details"]["unreachable_replies"] >= 1  # router 1 answered "unreachable"
    assert _metric(second, "rtt_avg_seconds")["value"] is None


def test_ping_warning_by_rtt_when_the_real_rtt_is_above_rtt_warn(net, worker):
    params = {**FAST, "count": 3, "rtt_warn": 0.001, "rtt_crit": 1000, "raise_after": 1,
              "trace_on_bad": False}
    (result,) = worker.run("ping", params, key="rtt")
    assert result["status"] == 1, result["summary"]
    assert _metric(result, "rtt_avg_seconds")["warn"] == pytest.approx(1e-6)
    assert _metric(result, "loss_ratio")["value"] == 0.0


def test_ping_critical_when_the_name_does_not_resolve_for_down_after_runs(net, worker):
    params = {"target": "no-such-host.invalid", "count": 2, "down_after": 1, "trace_on_bad": False}
    (result,) = worker.run("ping", params, key="dns")
    assert result["status"] == 2 and "cannot resolve host" in result["summary"]


@pytest.mark.parametrize("levels,prev,expected", [
    ([0, 1], 0, 0),  # one bad run: not reported
    ([1, 1], 0, 1),  # two: reported
    ([1, 2], 0, 1),  # WARNING held twice, CRITICAL once: WARNING
    ([2, 2], 1, 2),
    ([1, 0], 1, 1),  # one good run: held
    ([0, 0], 1, 0),  # two: cleared
    ([2, 1], 2, 2),  # one better run: held
    ([1, 1], 2, 1),  # two WARNING runs after CRITICAL: lowered to WARNING
    ([2], 0, 0),  # the very first run is never reported bad
])
def test_hysteresis_follows_the_documented_rule_when_levels_change(levels, prev, expected):
    assert _hysteresis(levels, prev, 2, 2) == expected


def test_hysteresis_is_off_when_raise_and_clear_after_are_one():
    assert _hysteresis([0, 2], 0, 1, 1) == 2
    assert _hysteresis([2, 0], 2, 1, 1) == 0


def test_system_ping_decodes_zh_cn_console_bytes_when_windows_writes_code_page_936():
    data = (FIXTURES / "ping_zh_unreachable.gbk").read_bytes().partition(b"\n")[2]

    def fake_run(argv, **kwargs):  # Windows cannot run here: its captured bytes stand in
        return subprocess.CompletedProcess(argv, 0, stdout=data, stderr=b"")

    stats = _netcmd.ping("192.0.2.9", count=4, interval=1, timeout=1, run=fake_run)
    assert (stats.sent, stats.received, stats.unreachable) == (4, 0, 4)


def test_ping_unknown_with_raw_output_when_the_output_is_not_understood():
    from checks._network import parse_ping

    def probe_fn(params):
        return parse_ping("ping: invalid argument: 'abc'\n"), "system ping"

    (result,) = run(PingParams(target="192.0.2.9"), CheckContext(), probe_fn=probe_fn)
    assert result.status == Status.UNKNOWN
    assert "invalid argument" in result.details["raw"]


def test_ping_unknown_when_no_target_is_set():
    (result,) = run(PingParams(), CheckContext())
    assert result.status == Status.UNKNOWN and "target" in result.summary


@pytest.mark.parametrize("raw,key", [
    ({"loss_warn": "20"}, "loss_warn"),
    ({"loss_warn": "0.7"}, "loss_warn"),
    ({"rtt_warn": "600"}, "rtt_warn"),
    ({"count": "0"}, "count"),
    ({"interval": "0.01"}, "interval"),
    ({"method": "carrier-pigeon"}, "method"),
])
def test_ping_params_name_the_key_when_a_value_is_wrong(raw, key):
    with pytest.raises(ParamError) as err:
        parse_params(PingParams, {"target": TARGET, **raw}, text=True)
    assert err.value.errors[0][0] == key


def test_ping_rtt_episode_warns_at_200_ms_goes_critical_at_600_ms_and_clears_when_delay_ends(net, worker):
    # default thresholds: rtt_warn 150 ms, rtt_crit 500 ms, raise_after = clear_after = 2
    params = {"target": TARGET, "count": 3, "interval": 0.2, "timeout": 2}  # 3 delayed echoes a run
    runs = []

    def once():
        (r,) = worker.run("ping", params, key="delay")
        runs.append(r)
        return r["status"]

    with delay(net, 200) as d:
        first, second = once(), once()
        d.set(600)
        third, fourth = once(), once()
    fifth, sixth = once(), once()
    summaries = [r["summary"] for r in runs]
    assert (first, second, third, fourth, fifth, sixth) == (0, 1, 1, 2, 2, 0), summaries
    assert "reported after 2" in summaries[0]
    assert "until 2 better runs" in summaries[4]
    avg = [_metric(r, "rtt_avg_seconds")["value"] for r in runs]
    assert all(0.18 <= a <= 0.4 for a in avg[:2]), avg  # the added 200 ms, measured
    assert all(0.58 <= a <= 0.9 for a in avg[2:4]), avg
    assert all(a < 0.05 for a in avg[4:]), avg
    assert _metric(runs[1], "rtt_min_seconds")["value"] >= 0.2
    assert _metric(runs[1], "rtt_avg_seconds")["warn"] == pytest.approx(0.15)
    assert all(_metric(r, "loss_ratio")["value"] == 0.0 for r in runs)
    assert [r["details"]["raw_level"] for r in runs] == ["WARNING"] * 2 + ["CRITICAL"] * 2 + ["OK"] * 2
    # evidence: taken when WARNING began, again when it worsened to CRITICAL
    warn_hops = runs[1]["details"]["traceroute"]["hops"]
    crit_hops = runs[3]["details"]["traceroute"]["hops"]
    assert [h["address"] for h in warn_hops] == [HOP_R1, TARGET]
    assert min(warn_hops[1]["rtts_ms"]) >= 200 and max(warn_hops[0]["rtts_ms"]) < 50
    assert min(crit_hops[1]["rtts_ms"]) >= 600
    assert "traceroute" not in runs[5]["details"]
