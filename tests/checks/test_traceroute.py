"""traceroute: real traces through the namespace network, a real path change, real delay
behind router 1 (tests/checks/netdelay.py), and the path rules."""

from __future__ import annotations

import pytest

from checks.context import CheckContext
from checks.network import parse_traceroute
from checks.params import ParamError, parse_params
from checks.result import Status
from checks.traceroute import TracerouteParams, differing_hops, merge, normalise, run
from tests.checks.netdelay import delay
from tests.checks.netns import HOP_R1, HOP_R2, TARGET
from tests.checks.test_network_parsers import fixture_text

FAST = {"target": TARGET, "max_hops": 6, "queries": 2, "wait": 1}


def _metric(result, name):
    return next(m["value"] for m in result["metrics"] if m["name"] == name)


def test_path_change_is_reported_after_two_runs_and_clears_when_the_route_comes_back(net, worker):
    seen = []

    def once():
        (r,) = worker.run("traceroute", FAST, key="change")
        seen.append(r)
        return r["status"]

    assert once() == 0 and "baseline recorded" in seen[-1]["summary"]
    assert once() == 0 and "as baseline" in seen[-1]["summary"]
    net.via_router2()
    assert once() == 0 and "seen 1 of 2 runs" in seen[-1]["summary"]
    assert once() == 1
    warning = seen[-1]
    assert f"hop 1: {HOP_R1} → {HOP_R2}" in warning["summary"]
    assert warning["details"]["baseline"][0] == [HOP_R1] and warning["details"]["path"][0] == [HOP_R2]
    assert warning["details"]["changed_hops"] == [1]
    assert _metric(warning, "path_changed") == 1 and _metric(warning, "hops") == 2
    net.via_router1()
    assert once() == 0 and "as baseline" in seen[-1]["summary"]
    assert _metric(seen[-1], "path_changed") == 0
    assert seen[-1]["details"]["reached"] is True
    assert 0 < _metric(seen[-1], "last_hop_rtt_seconds") < 0.1


def test_new_path_becomes_the_baseline_when_it_persists_adopt_after_runs(net, worker):
    params = {**FAST, "confirm_after": 2, "adopt_after": 3}
    worker.run("traceroute", params, key="adopt")
    net.via_router2()
    statuses = [worker.run("traceroute", params, key="adopt")[0] for _ in range(4)]
    assert [r["status"] for r in statuses] == [0, 1, 0, 0]
    assert "now the baseline" in statuses[2]["summary"]
    assert "as baseline" in statuses[3]["summary"]


def test_traceroute_unknown_when_no_hop_answers(net, worker):
    net.silence()
    (result,) = worker.run("traceroute", {**FAST, "max_hops": 3, "queries": 1}, key="silent")
    assert result["status"] == 3 and "no hop answered" in result["summary"]
    assert len(result["details"]["hops"]) == 3


def test_traceroute_critical_when_the_name_does_not_resolve(net, worker):
    (result,) = worker.run("traceroute", {"target": "no-such-host.invalid", "max_hops": 3}, key="dns")
    assert result["status"] == 2 and "cannot resolve" in result["summary"]
    assert "Temporary failure" in result["details"]["raw"] or "resolve" in result["details"]["raw"]


def test_normalise_drops_the_trailing_timeouts_when_the_target_does_not_answer():
    path = normalise(parse_traceroute(fixture_text("tracert_zh_ipv6.txt")))
    assert len(path) == 19  # hops 20-22 were 请求超时
    assert path[4] == [] and path[0] == ["2001:da8:c800:ac05::1"]


def test_a_star_hop_matches_anything_when_paths_are_compared():
    before = normalise(parse_traceroute(fixture_text("tracert_zh_baidu.txt")))
    after = [list(h) for h in before]
    after[7] = ["10.9.9.9"]  # hop 8 was a 请求超时 in the baseline
    after[2] = []  # and hop 3 now does not answer
    assert differing_hops(before, after) == []
    assert merge(before, after)[7] == ["10.9.9.9"]


def test_a_longer_or_different_path_differs_at_the_hops_that_changed():
    base = [["192.0.2.1"], ["198.51.100.2"]]
    assert differing_hops(base, [["192.0.2.65"], ["198.51.100.2"]]) == [1]
    assert differing_hops(base, [["192.0.2.1"], ["203.0.113.1"], ["198.51.100.2"]]) == [2]
    assert differing_hops(base, [["192.0.2.1"]]) == []  # the trace ended early: not a new path
    assert differing_hops([["a", "b"]], [["b", "c"]]) == []  # load-balanced hop: overlap matches


def test_traceroute_does_not_touch_the_baseline_when_a_run_fails():
    ctx = CheckContext(state={"baseline": [["192.0.2.1"]], "candidate": None, "candidate_runs": 0})

    def no_hops(*args):
        from checks._netcmd import Trace
        return Trace([], "garbage", None, "system")

    (result,) = run(TracerouteParams(target=TARGET), ctx, trace_fn=no_hops)
    assert result.status == Status.UNKNOWN and result.details["raw"] == "garbage"
    assert ctx.state["baseline"] == [["192.0.2.1"]]


@pytest.mark.parametrize("raw,key", [
    ({"max_hops": "0"}, "max_hops"), ({"queries": "11"}, "queries"), ({"wait": "0"}, "wait"),
    ({"adopt_after": "2"}, "adopt_after"), ({"method": "magic"}, "method"),
])
def test_traceroute_params_name_the_key_when_a_value_is_wrong(raw, key):
    with pytest.raises(ParamError) as err:
        parse_params(TracerouteParams, {"target": TARGET, **raw}, text=True)
    assert err.value.errors[0][0] == key


def test_hops_behind_the_delaying_router_show_the_delay_when_router1_delays_by_200_ms(net, worker):
    with delay(net, 200):
        (result,) = worker.run("traceroute", FAST, key="delay")
    assert result["status"] == 0, result["summary"]
    first, second = result["details"]["hops"][:2]
    assert first["address"] == HOP_R1 and second["address"] == TARGET
    assert len(second["rtts_ms"]) == 2 and all(r is not None and r >= 200 for r in second["rtts_ms"])
    assert all(r is not None and r < 50 for r in first["rtts_ms"])  # router 1 itself is not delayed
    assert 0.2 <= _metric(result, "last_hop_rtt_seconds") < 0.4
