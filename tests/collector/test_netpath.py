"""Traced paths as people read them: what every agent version stored, and what no agent should."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from collector.netpath import PathHop, Responder, path_hops, routers_text


def test_hops_of_an_older_agent_without_members_keep_their_router_and_rtts():
    details = {"hops": [{"ttl": 1, "address": "192.0.2.1", "addresses": ["192.0.2.1"], "rtts_ms": [0.2, None]},
                        {"ttl": 2, "address": "198.51.100.1", "addresses": ["198.51.100.1", "198.51.100.5"],
                         "rtts_ms": [1.1, 1.3, None]},
                        {"ttl": 3, "address": None, "addresses": [], "rtts_ms": [None, None]}],
               "baseline": ["192.0.2.1", ["198.51.100.1"]]}
    one, two, three = path_hops(details)
    assert one == PathHop(1, (Responder("192.0.2.1", (0.2,)),), 1, ("192.0.2.1",), ())
    assert routers_text(two) == "198.51.100.1 / 198.51.100.5"  # whose probe was whose is unknown
    assert three.answered == () and three.lost == 2 and routers_text(three) == ""


def test_a_changed_hop_names_the_routers_outside_its_members():
    details = {"hops": [{"ttl": 1, "members": [{"address": "192.0.2.129", "rtts_ms": [0.05]}], "rtts_ms": [0.05]}],
               "baseline": [["192.0.2.1", "192.0.2.65"]], "changed_hops": [1]}
    [hop] = path_hops(details)
    assert hop.members == ("192.0.2.1", "192.0.2.65") and hop.outside == ("192.0.2.129",)
    assert routers_text(hop) == "192.0.2.129 (0.05 ms)"


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                         st.sampled_from(["hops", "ttl", "members", "address", "addresses", "rtts_ms",
                                          "baseline", "changed_hops", "traceroute"]), inner, max_size=5),
                     max_leaves=30)


@settings(max_examples=300, deadline=None)
@given(_JSON)
def test_path_hops_never_raises_when_details_are_malformed(details):
    for hop in path_hops(details):
        assert isinstance(hop, PathHop)
        routers_text(hop)
