"""traceroute: real traces through the namespace network, a real path change, a real
load-balanced hop (routers 1 and 2 as equal next hops), real delay behind router 1
(tests/checks/netdelay.py), and the path rules on real outputs of load-balanced paths."""

from __future__ import annotations

import json
import re

import pytest

from checks._netcmd import Trace
from checks._network import parse_traceroute, trace_failure
from checks.context import CheckContext
from checks.messages import text_of
from checks.params import ParamError, parse_params
from checks.result import Status
from checks.traceroute import TracerouteParams, compare, judge, normalise, run
from tests.checks.netdelay import delay
from tests.checks.netns import HOP_R1, HOP_R2, HOP_R3, TARGET
from tests.checks.test_network_parsers import fixture_text

FAST = {"target": TARGET, "max_hops": 6, "queries": 2, "wait": 1, "learn_runs": 1}


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


def test_a_load_balanced_hop_flapping_between_two_routers_gives_no_warning_but_a_reroute_does(net, worker):
    """Routers 1 and 2 balance per flow: every run's hop 1 answers from one or both, mixed anew."""
    params = {**FAST, "queries": 3, "learn_runs": 3}  # the defaults
    net.ecmp()
    runs = [worker.run("traceroute", params, key="ecmp")[0] for _ in range(8)]
    assert [r["status"] for r in runs] == [0] * 8, [r["summary"] for r in runs]
    assert all(_metric(r, "path_changed") == 0 for r in runs)
    seen_at_hop1 = {a for r in runs for a in r["details"]["path"][0]}
    assert seen_at_hop1 == {HOP_R1, HOP_R2}  # the flows did take both routers
    assert runs[-1]["details"]["baseline"][0] == [HOP_R1, HOP_R2]
    hop1 = runs[-1]["details"]["hops"][0]
    assert {m["address"] for m in hop1["members"]} <= {HOP_R1, HOP_R2}
    assert sum(len(m["rtts_ms"]) for m in hop1["members"]) == 3
    net.via_router3()  # a real re-route through a router outside the pair
    moved = [worker.run("traceroute", params, key="ecmp")[0] for _ in range(2)]
    assert [r["status"] for r in moved] == [0, 1]
    assert f"hop 1: {HOP_R1}/{HOP_R2} → {HOP_R3}" in moved[1]["summary"]
    net.ecmp()
    (back,) = worker.run("traceroute", params, key="ecmp")
    assert back["status"] == 0 and "as baseline" in back["summary"]


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
    cmp = compare(before, after)
    assert cmp.changed == [] and cmp.learned == []
    assert cmp.baseline[7] == ["10.9.9.9"] and cmp.baseline[2] == before[2]


def test_a_new_address_a_lost_hop_or_another_hop_count_differs_at_the_hops_that_changed():
    base = [["192.0.2.1"], ["198.51.100.2"]]
    assert compare(base, [["192.0.2.65"], ["198.51.100.2"]]).changed == [1]
    assert compare(base, [["192.0.2.1"], ["203.0.113.1"], ["198.51.100.2"]]).changed == [2]  # a hop more
    assert compare(base, [["198.51.100.2"]]).changed == [1]  # a hop less: the target moved up
    assert compare(base, [["192.0.2.1"]]).changed == []  # the trace ended early: not a new path
    assert compare([["a", "b"]], [["c"]]).changed == [1]  # outside the members
    assert compare([["a", "b"]], [["b"]]).changed == []  # a known member alone


def test_a_router_answering_alongside_a_known_member_in_one_trace_is_learned_not_a_change():
    cmp = compare([["a", "b"]], [["b", "c"]])
    assert cmp.changed == [] and cmp.learned == [(1, "c", "alongside")]
    assert cmp.baseline == [["a", "b", "c"]]


# Two real runs over the same load-balanced path (jc's fixtures): hop 4 answered from three
# routers with 3 probes, then from a fourth with 1 probe.
ECMP_RUN = normalise(parse_traceroute(fixture_text("traceroute_linux_ecmp_n.txt")))
ECMP_RUN_Q1 = normalise(parse_traceroute(fixture_text("traceroute_linux_ecmp_n_q1.txt")))


def _runs(paths, **params):
    """Judge ``paths`` one run after another with one state, as the agent does."""
    ctx = CheckContext()
    p = TracerouteParams(target="199.58.80.40", **params)
    out = [judge(path, p, ctx) for path in paths]
    json.dumps(dict(ctx.state))  # the agent stores the state as JSON
    return out, ctx.state


def test_alternating_among_the_members_of_a_load_balanced_hop_is_not_a_change():
    assert ECMP_RUN[3] == ["192.171.61.61", "192.171.63.17", "206.248.155.109"]
    one_router_each = [[list(h) for h in ECMP_RUN] for _ in range(3)]
    for run_path, member in zip(one_router_each, ECMP_RUN[3], strict=True):
        run_path[3] = [member]  # as tracert shows it: one router per hop, another each run
    judged, state = _runs([ECMP_RUN, *one_router_each, ECMP_RUN], learn_runs=1)
    assert [status for status, *_ in judged] == [Status.OK] * 5
    assert all("as baseline" in summary for _, summary, *_ in judged[1:])
    assert state["candidate_runs"] == 0 and state["baseline"] == ECMP_RUN


def test_a_router_outside_the_members_is_reported_after_confirm_after_runs_in_a_row():
    judged, state = _runs([ECMP_RUN, ECMP_RUN_Q1, ECMP_RUN_Q1], learn_runs=1)
    assert [status for status, *_ in judged] == [Status.OK, Status.OK, Status.WARNING]
    _, summary, changed, extra = judged[2]
    assert changed and extra["changed_hops"] == [4]
    assert "hop 4: 192.171.61.61/192.171.63.17/206.248.155.109 → 192.171.61.161" in summary


def test_a_router_that_comes_back_after_a_short_excursion_is_learned_as_a_member():
    judged, state = _runs([ECMP_RUN, ECMP_RUN_Q1, ECMP_RUN, ECMP_RUN_Q1, ECMP_RUN_Q1], learn_runs=1)
    assert [status for status, *_ in judged] == [Status.OK] * 5
    assert "seen 1 of 2 runs" in judged[1][1]
    assert "192.171.61.161 is a load-balanced member (alternates" in judged[3][1]
    assert judged[3][3]["learned"] == [{"ttl": 4, "address": "192.171.61.161", "how": "alternating"}]
    assert "192.171.61.161" in state["baseline"][3] and state["strays"] == {}


def test_the_first_learn_runs_runs_form_the_members_of_the_baseline():
    judged, state = _runs([ECMP_RUN, ECMP_RUN_Q1, ECMP_RUN, ECMP_RUN_Q1], learn_runs=3)
    assert [status for status, *_ in judged] == [Status.OK] * 4
    assert "learning its load-balanced hops (run 1 of 3)" in judged[0][1]
    assert "run 2 of 3" in judged[1][1] and "as baseline" in judged[3][1]
    assert state["baseline"][3] == ["192.171.61.161", "192.171.61.61", "192.171.63.17", "206.248.155.109"]


def test_windows_tracert_alternating_between_two_routers_at_a_hop_is_not_reported():
    """zh-CN tracert prints one router per hop; on a balanced hop it is another on some runs.

    The first run is the real ``tracert -d www.baidu.com`` output; in the others hop 4 answers
    from 61.148.155.78, standing for the second router of a balanced pair (no published pair
    of runs over one balanced path was found; the rules do not depend on the address).
    """
    first = normalise(parse_traceroute(fixture_text("tracert_zh_baidu.txt")))
    other = [list(h) for h in first]
    other[3] = ["61.148.155.78"]
    judged, state = _runs([first, other, first, other, first, other, other, first], learn_runs=1)
    assert [status for status, *_ in judged] == [Status.OK] * 8
    assert state["baseline"][3] == ["61.148.155.77", "61.148.155.78"]
    moved, _ = _runs([first, other, other], learn_runs=1)
    assert moved[2][0] == Status.WARNING  # a route that moved and stayed is still reported


def test_a_new_path_that_balances_is_adopted_with_all_its_members():
    new_x = [["192.0.2.1"], ["203.0.113.5"], ["198.51.100.2"]]
    new_y = [["192.0.2.1"], ["203.0.113.6"], ["198.51.100.2"]]  # the new hop 2 balances over two routers
    judged, state = _runs([[["192.0.2.1"], ["198.51.100.9"], ["198.51.100.2"]], new_x, new_y, new_x],
                          learn_runs=1, confirm_after=2, adopt_after=3)
    assert [status for status, *_ in judged] == [Status.OK, Status.OK, Status.WARNING, Status.OK]
    assert judged[3][3]["adopted"] is True
    assert state["baseline"] == [["192.0.2.1"], ["203.0.113.5", "203.0.113.6"], ["198.51.100.2"]]


@pytest.mark.parametrize("stored", [
    ["192.0.2.1", None, "198.51.100.2"],  # one address per hop, None for a hop that did not answer
    [["192.0.2.1"], [], ["198.51.100.2"]],  # per hop a list, before baseline_runs was kept
])
def test_a_baseline_stored_by_an_older_agent_is_read_and_kept(stored):
    ctx = CheckContext(state={"baseline": stored, "candidate": None, "candidate_runs": 0})
    params = TracerouteParams(target=TARGET)
    status, summary, _, _ = judge([["192.0.2.1"], ["192.0.2.7"], ["198.51.100.2"]], params, ctx)
    assert status == Status.OK and "as baseline" in summary  # hop 2 was unanswered: filled in
    assert ctx.state["baseline"] == [["192.0.2.1"], ["192.0.2.7"], ["198.51.100.2"]]
    status, summary, _, extra = judge([["192.0.2.65"], ["192.0.2.7"], ["198.51.100.2"]], params, ctx)
    assert extra["changed_hops"] == [1] and "seen 1 of 2" in summary
    assert text_of(summary, summary.message, "zh_CN") == (
        "路径与基线不同（第 1 跳：192.0.2.1 → 192.0.2.65）；已出现 1 次，连续 2 次才报告")


def test_traceroute_details_carry_every_member_of_a_hop_with_its_rtts():
    raw = fixture_text("traceroute_bsd_ecmp_continuation.txt")

    def trace_fn(*args):
        return Trace(parse_traceroute(raw), raw, None, "system")

    (result,) = run(TracerouteParams(target="181.40.91.83"), CheckContext(), trace_fn=trace_fn)
    hop6 = result.details["hops"][5]
    assert hop6["members"] == [{"address": "94.142.122.45", "rtts_ms": [42.79, 46.352]},
                               {"address": "94.142.122.44", "rtts_ms": [41.479]}]
    assert result.details["path"][5] == ["94.142.122.44", "94.142.122.45"]


def test_traceroute_does_not_touch_the_baseline_when_a_run_fails():
    ctx = CheckContext(state={"baseline": [["192.0.2.1"]], "candidate": None, "candidate_runs": 0})

    def no_hops(*args):
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


def test_a_failed_trace_reads_in_chinese_for_a_chinese_reader():  # issue 14: the failure is keyed too
    raw = "traceroute to 192.0.2.1 (192.0.2.1), 30 hops max\nconnect: Network is unreachable\n"
    for failure, zh in ((trace_failure(raw), "网络不可达"), (None, "")):
        def failed(*args, failure=failure):
            return Trace([], raw, failure, "system")

        (result,) = run(TracerouteParams(target=TARGET), CheckContext(), trace_fn=failed)
        said = text_of(result.summary, result.message, "zh_CN")
        assert result.status == Status.UNKNOWN and zh in said and not re.search(r"[A-Za-z]{3,}", said), said
