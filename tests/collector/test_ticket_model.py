"""The ledger's Ticket: a dataclass that knows which of its columns changed, and writes only those."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from collector.policy import default_policies
from collector.store import tickets as store
from collector.store.db import writing
from collector.store.tables import tickets
from collector.tickets.model import COLUMNS, Ticket, new_ticket, write_changes

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


def _opened(engine) -> Ticket:
    values = new_ticket(default_policies().for_site("ward"), site="ward", host="db-1", check="disk", item="/",
                        severity=2, summary="disk / 97 % full", via="monitoring", by="system", now=T0)
    with writing(engine) as conn:
        ticket_id = store.insert_ticket(conn, values)
        assert ticket_id is not None
        row = store.get_ticket(conn, ticket_id)
    return Ticket.from_row(row._mapping)


def test_a_ticket_read_from_its_row_has_changed_nothing_and_counts_each_assignment():
    values = new_ticket(default_policies().for_site("ward"), site="ward", host="db-1", check="disk", item="/",
                        severity=2, summary="s", via="monitoring", by="system", now=T0)
    t = Ticket.from_row({**values, "id": 7})
    assert t.changed == set() and t.row().keys() == set(COLUMNS) and t.messages is None
    assert t.row() == Ticket(**values, id=7).row()  # the fast path reads the row as __init__ would
    with pytest.raises(TypeError, match="site"):
        Ticket.from_row({"id": 7})
    t.occurrences += 1
    t.last_status = 2
    assert t.changed == {"occurrences", "last_status"}
    t.written({"state": "resolved", "last_status": 0})  # written by the caller: not pending any more
    assert (t.state, t.last_status, t.changed) == ("resolved", 0, {"occurrences"})


def test_write_changes_writes_only_the_changed_columns_when_the_row_moved_meanwhile(engine):
    t = _opened(engine)
    with writing(engine) as conn:  # a column the ticket did not change, written behind its back
        conn.execute(update(tickets).where(tickets.c.id == t.id).values(summary="edited elsewhere"))
    t.occurrences += 2
    t.updated_at = T0 + timedelta(minutes=5)
    with writing(engine) as conn:
        write_changes(conn, [t])
        row = conn.execute(select(tickets).where(tickets.c.id == t.id)).one()
    assert (row.occurrences, row.updated_at, row.summary) == (3, T0 + timedelta(minutes=5), "edited elsewhere")
    assert t.changed == set()


def test_host_tickets_are_the_live_ones_and_those_resolved_in_the_window_and_none_for_a_host_without(engine):
    """The ingest asks the driver first whether a host has any (most have none), then reads them."""
    policy = default_policies().for_site("ward")
    since = T0 + timedelta(hours=1)
    made = {}
    with writing(engine) as conn:
        for host, item, state, resolved in [("db-1", "/", "open", None), ("db-1", "/a", "acknowledged", None),
                                            ("db-1", "/b", "resolved", since), ("db-1", "/c", "resolved",
                                                                               since - timedelta(microseconds=1)),
                                            ("db-1", "/d", "closed", since), ("db-2", "/", "open", None),
                                            ("db-4", "/", "resolved", since), ("db-5", "/", "resolved", T0)]:
            values = new_ticket(policy, site="ward", host=host, check="disk", item=item, severity=2, summary="s",
                                via="monitoring", by="system", now=T0)
            made[(host, item)] = store.insert_ticket(conn, {**values, "state": state, "resolved_at": resolved})
    with writing(engine) as conn:
        assert [r.id for r in store.host_tickets(conn, "ward", "db-1", since)] == [
            made[("db-1", i)] for i in ("/", "/a", "/b")]  # resolved at the window's start: in it
        assert store.host_tickets(conn, "ward", "db-3", since) == []
        assert [r.id for r in store.host_tickets(conn, "ward", "db-4", since)] == [made[("db-4", "/")]]
        assert store.host_tickets(conn, "ward", "db-5", since) == []
        assert store.host_tickets(conn, "ward", "db-4", since + timedelta(microseconds=1)) == []
        assert store.host_tickets(conn, "ward", "db-1", since + timedelta(microseconds=1))[-1].item == "/a"
