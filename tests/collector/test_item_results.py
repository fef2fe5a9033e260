"""One item's newest results (the ticket page's list), on both databases: read from the hours the roll-ups say
hold them, the same rows as a walk of the host's whole run, before and after the roll-ups ran."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import select

from collector.ingest import parse_batch
from collector.store import rollups
from collector.store.db import reading, writing
from collector.store.queries import store_new_results
from collector.store.tables import results
from collector.store.today import item_results
from tests.collector.conftest import HOST, SITE, make_result

START = datetime(2026, 11, 2, tzinfo=UTC)


def _store(engine: Any, wire: list[dict[str, Any]]) -> None:
    with writing(engine) as conn:
        store_new_results(conn, parse_batch(orjson.dumps({"results": wire}), datetime.now(UTC)).rows)


def _walked(engine: Any, item: str, limit: int) -> list[tuple[Any, ...]]:
    """What the read returned before the bound: the whole run, newest first."""
    with reading(engine) as conn:
        return [tuple(r) for r in conn.execute(
            select(results.c.status, results.c.summary, results.c.started_at, results.c.metrics, results.c.messages)
            .where(results.c.site == SITE, results.c.host == HOST, results.c.check == "disk", results.c.item == item)
            .order_by(results.c.started_at.desc(), results.c.id.desc()).limit(limit))]


def _read(engine: Any, item: str, limit: int) -> list[tuple[Any, ...]]:
    with reading(engine) as conn:
        return [tuple(r) for r in item_results(conn, SITE, HOST, "disk", item, limit)]


def test_an_items_newest_results_are_the_same_read_from_the_roll_ups_hours(engine):
    # every 10 minutes for two days an often-reporting item; a rare one on the first morning only
    _store(engine, [make_result(item="/often", started_at=START + timedelta(minutes=10 * i), summary=f"n{i}")
                    for i in range(288)])
    _store(engine, [make_result(item="/rare", started_at=START + timedelta(minutes=i), summary=f"r{i}")
                    for i in range(3)])
    cases = [("/often", 5), ("/often", 50), ("/often", 1000), ("/rare", 2), ("/rare", 50), ("/none", 5)]
    before = {c: _read(engine, *c) for c in cases}  # no roll-ups yet: the whole run
    rollups.refresh(engine, lambda site: UTC, before=START + timedelta(days=1, hours=12))  # half rolled up
    with reading(engine) as conn:
        assert rollups.newest_hours(conn, (SITE, HOST, "disk", "/often"), 50) is not None
    for case in cases:
        assert _read(engine, *case) == before[case] == _walked(engine, *case), case
    assert [r[1] for r in before[("/often", 5)]] == [f"n{i}" for i in range(287, 282, -1)]
    assert len(before[("/rare", 50)]) == 3 and len(before[("/often", 1000)]) == 288
    # a newer result not rolled up yet is still among the newest
    _store(engine, [make_result(item="/often", started_at=START + timedelta(days=3), summary="late")])
    assert [r[1] for r in _read(engine, "/often", 2)] == ["late", "n287"]
