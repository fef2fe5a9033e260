"""Routing: which channels hear an event of a site and level, and in which language.

A route matches when the site matches one of its ``sites`` (names or glob
patterns, ``*`` for all), the ticket's level is at least as severe as its
``min_level`` (level 1 is the most severe, so ``min_level: 2`` means levels 1
and 2) and the event is among its ``events``.  A channel gets each event at
most once: when several routes name it, the first matching route's language
wins.
"""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase

from collector.notify.config import Route

__all__ = ["matches", "route"]


def matches(r: Route, *, site: str, severity: int, event: str) -> bool:
    return (event in r.events and severity <= r.min_level
            and any(fnmatchcase(site, pattern) for pattern in r.sites))


def route(routes: Iterable[Route], *, site: str, severity: int, event: str) -> list[tuple[str, str]]:
    """``(channel, language)`` pairs for the event, each channel once, in route order."""
    out: dict[str, str] = {}
    for r in routes:
        if matches(r, site=site, severity=severity, event=event):
            for channel in r.channels:
                out.setdefault(channel, r.language)
    return list(out.items())
