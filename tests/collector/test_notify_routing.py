"""Routing: site patterns, level threshold, events, one delivery per channel."""

from __future__ import annotations

from collector.notify.config import Route
from collector.notify.routing import route

ROUTES = (
    Route(channels=("key-wecom", "mail"), sites=("central-hospital", "children-*"), min_level=2,
          events=("opened", "escalated", "breached", "resolved"), language="zh"),
    Route(channels=("mail", "itsm"), sites=("*",), min_level=4, events=("opened", "closed"), language="en"),
)


def test_severe_event_of_key_site_reaches_all_its_channels_when_routes_overlap():
    got = route(ROUTES, site="central-hospital", severity=1, event="opened")
    assert got == [("key-wecom", "zh"), ("mail", "zh"), ("itsm", "en")]  # mail once, first route's language


def test_minor_level_skips_the_urgent_route_when_below_its_min_level():
    got = route(ROUTES, site="central-hospital", severity=3, event="opened")
    assert got == [("mail", "en"), ("itsm", "en")]


def test_site_pattern_matches_when_site_fits_the_glob():
    assert route(ROUTES, site="children-east", severity=2, event="breached") == [("key-wecom", "zh"),
                                                                                  ("mail", "zh")]
    assert route(ROUTES, site="county-clinic", severity=1, event="breached") == []


def test_event_filter_applies_when_event_is_not_listed():
    assert route(ROUTES, site="central-hospital", severity=1, event="acknowledged") == []
    got = route(ROUTES, site="central-hospital", severity=4, event="closed")
    assert got == [("mail", "en"), ("itsm", "en")]
