"""Traceroute results for the collector tests, made by the real check from real outputs.

* ``181.40.91.83``: the macOS trace with load-balanced hops 6-8 on continuation lines
  (tests/checks/fixtures/traceroute_bsd_ecmp_continuation.txt), recorded as the baseline: OK,
  hop 6 answered from 94.142.122.45 (42.79, 46.352 ms) and 94.142.122.44 (41.479 ms);
* ``199.58.80.40``: the Linux trace whose hop 4 answered from three routers
  (traceroute_linux_ecmp_n.txt) as the baseline, then twice the run where hop 4 answered
  from a fourth (traceroute_linux_ecmp_n_q1.txt): WARNING, hop 4 changed, 192.171.61.161
  outside the known routers.

:func:`ping_with_evidence`: a ping of 198.51.100.2 where nothing answered
(ping_linux_unreachable.txt), CRITICAL at once, with the traceroute evidence of the
namespace trace traceroute_linux_ok.txt (hop 1 192.0.2.1 at 0.226, 0.008, 0.006 ms).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson

from checks._netcmd import Trace
from checks._network import parse_ping, parse_traceroute
from checks.context import CheckContext
from checks.ping import PingParams
from checks.ping import run as ping_run
from checks.result import Result
from checks.traceroute import TracerouteParams, run
from tests.checks.test_network_parsers import fixture_text

BALANCED = "181.40.91.83"
MOVED = "199.58.80.40"
OUTSIDE = "192.171.61.161"


def _runs(target: str, fixtures: list[str], site: str, host: str, at: datetime) -> list[dict[str, Any]]:
    ctx = CheckContext()
    out = []
    for i, name in enumerate(fixtures):
        raw = fixture_text(name)
        trace = Trace(parse_traceroute(raw), raw, None, "system")
        (result,) = run(TracerouteParams(target=target, learn_runs=1), ctx, trace_fn=lambda *a, t=trace: t)
        when = at - timedelta(minutes=15 * (len(fixtures) - 1 - i))
        out.append(result.with_origin(site=site, host=host, started_at=when, duration_ms=40.0).to_wire())
    return out


def traceroute_results(site: str, host: str, at: datetime) -> list[dict[str, Any]]:
    """Wire results of both targets, the last of each at ``at``."""
    return (_runs(BALANCED, ["traceroute_bsd_ecmp_continuation.txt"], site, host, at)
            + _runs(MOVED, ["traceroute_linux_ecmp_n.txt", "traceroute_linux_ecmp_n_q1.txt",
                            "traceroute_linux_ecmp_n_q1.txt"], site, host, at))


def ping_with_evidence(site: str, host: str, at: datetime) -> dict[str, Any]:
    stats = parse_ping(fixture_text("ping_linux_unreachable.txt"))
    raw = fixture_text("traceroute_linux_ok.txt")
    (result,) = ping_run(PingParams(target="198.51.100.2", raise_after=1), CheckContext(),
                         probe_fn=lambda p: (stats, "system ping"),
                         trace_fn=lambda *a: Trace(parse_traceroute(raw), raw, None, "system"))
    return result.with_origin(site=site, host=host, started_at=at, duration_ms=4000.0).to_wire()


def store_rows(wire: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Wire results as rows of the results table (for tests that write through the store layer)."""
    rows = []
    for data in wire:
        r = Result.from_wire(data)
        rows.append({"uid": r.id, "site": r.site, "host": r.host, "check": r.check, "item": r.item,
                     "status": int(r.status), "summary": r.summary, "standard": r.standard,
                     "started_at": r.started_at, "received_at": r.started_at, "duration_ms": r.duration_ms,
                     "metrics": orjson.dumps(data["metrics"]).decode(),
                     "details": orjson.dumps(data["details"]).decode()})
    return rows
