"""The readers of stored results by host and time reach ``ix_result_rows_host_started`` (migration 0019).

SQLite's plan of each statement a reader runs on ``results``/``result_rows``: no
full scan of the rows (``SCAN r`` / ``SCAN result_rows``), the host index used.
bench/result_reads.py shows the same plans and times them at a million rows.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from collector.store import queries, records, rollups, today
from collector.store.db import make_engine, writing

T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
END = T0 + timedelta(hours=2)


def _rows(host: str, at: datetime) -> list[dict[str, Any]]:
    return [{"uid": f"{host[-1]}{int(at.timestamp()):015x}{i:016x}", "site": "s", "host": host,
             "check": "disk" if i % 2 else "system", "item": f"/d{i}", "status": (i + at.minute // 5) % 3,
             "summary": f"/d{i} {i} %", "standard": "< 90 %", "started_at": at, "received_at": at, "duration_ms": 1.0,
             "metrics": f'[{{"name":"used","value":{i},"unit":"%"}}]', "details": "{}", "messages": ""}
            for i in range(6)]


READERS: dict[str, Callable[[Any], Any]] = {
    "host_results": lambda c: today.host_results(c, "s", "h1", T0),
    "item_results": lambda c: today.item_results(c, "s", "h1", "disk", "/d1", 5),
    "last_changes": lambda c: today.last_changes(c, "s", "h1"),
    "period_items": lambda c: records.period_items(c, "s", T0, END),
    "newest_good": lambda c: records.newest_good(c, "s", ["disk"], T0, END),
    "check_results": lambda c: records.check_results(c, "s", "disk", T0, END),
    "find_results": lambda c: queries.find_results(c, site="s", host="h1", since=T0),
    "find_results check": lambda c: queries.find_results(c, site="s", host="h1", check="disk"),
    "roll-up raw": lambda c: rollups._raw(c, [1, 2, 3], T0, END),
    "roll-up oldest": lambda c: rollups._oldest(c, [1, 2, 3], T0, END),
}


@pytest.fixture(scope="module")
def filled(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = tmp_path_factory.mktemp("plans") / "wardround.db"
    shutil.copyfile(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    for step in range(24):
        at = T0 + timedelta(minutes=5 * step)
        for host in ("h0", "h1", "h2"):
            with writing(engine) as conn:
                rows = _rows(host, at)
                queries.store_new_results(conn, rows)
                queries.upsert_latest(conn, rows, credible_until=END)
    yield engine
    engine.dispose()


@pytest.mark.parametrize("reader", sorted(READERS))
def test_reader_of_results_by_host_and_time_uses_the_host_index(filled: Any, reader: str) -> None:
    seen: list[tuple[str, Any]] = []

    def grab(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        if re.search(r"\b(FROM|JOIN)\s+(results|result_rows)\b", statement):  # not the roll-ups' counts
            seen.append((statement, params))

    event.listen(filled, "before_cursor_execute", grab)
    try:
        with filled.connect() as conn:
            assert READERS[reader](conn)  # it found results
    finally:
        event.remove(filled, "before_cursor_execute", grab)
    assert seen
    with filled.connect() as conn:
        for statement, params in seen:
            plan = " | ".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params))
            assert "ix_result_rows_host_started" in plan, plan
            assert "SCAN r " not in plan + " " and "SCAN result_rows" not in plan, plan


def test_host_page_says_when_each_item_took_its_current_status(filled: Any) -> None:
    """``last_changes``: the first result with the current status after the last one with another."""
    with filled.connect() as conn:
        changes = today.last_changes(conn, "s", "h1")
    # each item's status moves every 5 minutes: the newest result (step 23) is the change
    assert changes == {("disk" if i % 2 else "system", f"/d{i}"): T0 + timedelta(minutes=5 * 23) for i in range(6)}
