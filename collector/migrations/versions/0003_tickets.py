"""Tickets: the ledger, its append-only history and the per-item streaks.

The partial unique index ``uq_tickets_live`` lets at most one ticket per
(site, host, check, item) be open or acknowledged; SQLite and PostgreSQL
both support it.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from collector.store.tables import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")
_LIVE = sa.text("state IN ('open', 'acknowledged')")


def upgrade() -> None:
    op.create_table(
        "tickets",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("host", sa.String(64), nullable=False),
        sa.Column("check", sa.String(64), nullable=False),
        sa.Column("item", sa.String(255), nullable=False),
        sa.Column("severity", sa.SmallInteger, nullable=False),
        sa.Column("initial_severity", sa.SmallInteger, nullable=False),
        sa.Column("level_name", sa.String(64), nullable=False),
        sa.Column("priority", sa.SmallInteger, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("reported_via", sa.String(32), nullable=False),
        sa.Column("reported_by", sa.String(64), nullable=False),
        sa.Column("opened_at", UTCDateTime, nullable=False),
        sa.Column("response_due", UTCDateTime, nullable=False),
        sa.Column("resolve_due", UTCDateTime, nullable=False),
        sa.Column("acknowledged_at", UTCDateTime),
        sa.Column("resolved_at", UTCDateTime),
        sa.Column("closed_at", UTCDateTime),
        sa.Column("occurrences", sa.Integer, nullable=False),
        sa.Column("last_result_id", sa.String(32)),
        sa.Column("last_status", sa.SmallInteger),
        sa.Column("last_seen_at", UTCDateTime),
        sa.Column("flapping", sa.Boolean, nullable=False),
        sa.Column("response_breached", sa.Boolean, nullable=False),
        sa.Column("resolve_breached", sa.Boolean, nullable=False),
        sa.Column("reopened_count", sa.Integer, nullable=False),
        sa.Column("onsite_requested_at", UTCDateTime),
        sa.Column("onsite_due", UTCDateTime),
        sa.Column("onsite_breached", sa.Boolean, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index("uq_tickets_live", "tickets", ["site", "host", "check", "item"], unique=True,
                    sqlite_where=_LIVE, postgresql_where=_LIVE)
    op.create_index("ix_tickets_site_host_state", "tickets", ["site", "host", "state"])
    op.create_index("ix_tickets_state_opened_at", "tickets", ["state", "opened_at"])
    op.create_table(
        "ticket_events",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("ticket_id", _ID, sa.ForeignKey("tickets.id"), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("from_state", sa.String(16)),
        sa.Column("to_state", sa.String(16)),
        sa.Column("note", sa.Text, nullable=False),
    )
    op.create_index("ix_ticket_events_ticket_id", "ticket_events", ["ticket_id", "id"])
    op.create_table(
        "ticket_streaks",
        sa.Column("site", sa.String(64), primary_key=True),
        sa.Column("host", sa.String(64), primary_key=True),
        sa.Column("check", sa.String(64), primary_key=True),
        sa.Column("item", sa.String(255), primary_key=True),
        sa.Column("bad_count", sa.Integer, nullable=False),
        sa.Column("good_count", sa.Integer, nullable=False),
        sa.Column("level", sa.SmallInteger),
        sa.Column("recent", sa.String(64), nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ticket_streaks")
    op.drop_index("ix_ticket_events_ticket_id", "ticket_events")
    op.drop_table("ticket_events")
    for name in ("ix_tickets_state_opened_at", "ix_tickets_site_host_state", "uq_tickets_live"):
        op.drop_index(name, "tickets")
    op.drop_table("tickets")
