"""Notifications outbox: ticket events and their deliveries per channel.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from collector.store.tables import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "notify_events",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("uid", sa.String(32), nullable=False, unique=True),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("ticket_id", sa.String(64), nullable=False),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("severity", sa.SmallInteger, nullable=False),
        sa.Column("ticket", sa.Text, nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("fanned_out_at", UTCDateTime),
    )
    op.create_index("ix_notify_events_fanned_out_at", "notify_events", ["fanned_out_at"])
    op.create_table(
        "notify_deliveries",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("event_id", _ID, sa.ForeignKey("notify_events.id"), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("next_at", UTCDateTime, nullable=False),
        sa.Column("claimed_by", sa.String(64)),
        sa.Column("claimed_until", UTCDateTime),
        sa.Column("sent_at", UTCDateTime),
        sa.Column("last_error", sa.Text),
        sa.UniqueConstraint("event_id", "channel", name="uq_notify_deliveries_event_channel"),
    )
    op.create_index("ix_notify_deliveries_state_next_at", "notify_deliveries", ["state", "next_at"])


def downgrade() -> None:
    op.drop_index("ix_notify_deliveries_state_next_at", "notify_deliveries")
    op.drop_table("notify_deliveries")
    op.drop_index("ix_notify_events_fanned_out_at", "notify_events")
    op.drop_table("notify_events")
