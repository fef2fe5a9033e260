"""enqueue writes its outbox row in the caller's transaction (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from collector.notify import enqueue
from collector.store.db import writing
from collector.store.tables import notify_events

AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
TICKET = {"id": 7, "site": "central-hospital", "host": "his-db-01", "check": "db_backup", "item": "HIS",
          "severity": 2, "state": "open", "opened_at": AT, "summary": "全量备份失败"}


def test_event_is_stored_when_caller_commits(engine):
    with writing(engine) as conn:
        enqueue(conn, event="opened", ticket=TICKET, at=AT)
    with engine.connect() as conn:
        row = conn.execute(select(notify_events)).one()
    assert (row.event, row.ticket_id, row.site, row.severity) == ("opened", "7", "central-hospital", 2)
    assert row.at == AT and row.fanned_out_at is None and len(row.uid) == 32
    assert json.loads(row.ticket)["summary"] == "全量备份失败"
    assert json.loads(row.ticket)["opened_at"] == AT.isoformat()


def test_event_is_gone_when_caller_rolls_back(engine):
    with pytest.raises(RuntimeError), writing(engine) as conn:
        enqueue(conn, event="opened", ticket=TICKET, at=AT)
        raise RuntimeError("ticket insert failed")
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(notify_events)).scalar() == 0


@pytest.mark.parametrize(("event", "ticket", "message"), [
    ("exploded", TICKET, "unknown notification event"),
    ("opened", {**TICKET, "severity": 5}, "severity must be 1..4"),
    ("opened", {"id": 1}, "ticket lacks site, severity"),
])
def test_enqueue_refuses_when_event_or_ticket_is_malformed(engine, event, ticket, message):
    with pytest.raises(ValueError, match=message), writing(engine) as conn:
        enqueue(conn, event=event, ticket=ticket, at=AT)
