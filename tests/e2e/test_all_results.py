"""``CollectorProcess.all_results`` (tests/e2e/conftest.py) reads every stored result exactly once.

The exactly-once tests (test_relay.py) count ids with it, so it must neither skip nor repeat a
result: results that share one ``started_at`` across a page boundary of ``GET /api/v1/results``
(the relay test's batches are built milliseconds apart, so two of them can share every instant of
their overlap) are each returned once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from checks.result import Result, Status
from tests.e2e.relay import post


def _result(host: str, at: datetime, i: int) -> dict[str, object]:
    r = Result(check="disk", item=f"/m{i % 7}", status=Status.OK, summary="fine", details={"i": i})
    return r.with_origin(site="e2e-hospital", host=host, started_at=at, duration_ms=1.0).to_wire()


def test_results_sharing_a_started_at_across_a_page_boundary_are_each_read_once(collector):
    t = datetime.now(UTC).replace(microsecond=123456) - timedelta(hours=1)
    # newest first: 999 results at distinct times, then two at t: the first page (1,000) ends between them
    batch = [_result("e2e-host", t + timedelta(milliseconds=i), i) for i in range(1, 1000)]
    batch += [_result("e2e-host", t, 1000), _result("e2e-host", t, 1001)]
    sent = [r["id"] for r in batch]
    for part in (batch[:400], batch[400:800], batch[800:]):
        status, answer = post(collector.url, collector.agent_token, part)
        assert status == 200, answer
    ids = [r["id"] for r in collector.all_results()]
    assert len(ids) == len(set(ids)) == len(sent) and set(ids) == set(sent)
