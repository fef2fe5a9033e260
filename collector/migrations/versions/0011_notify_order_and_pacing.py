"""Notifications in order per ticket and paced per robot.

``notify_deliveries.ticket_id`` (copied from the event) lets a dispatcher see
whether an earlier event of the same ticket is still waiting on the same
channel; ``notify_robots`` holds, per receiver (a hash of its URL), when it
may be sent to again and the times of the latest sends, shared by every
collector.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from collector.store.tables import UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("notify_deliveries", sa.Column("ticket_id", sa.String(64)))
    op.execute("UPDATE notify_deliveries SET ticket_id = "
               "(SELECT e.ticket_id FROM notify_events e WHERE e.id = notify_deliveries.event_id)")
    with op.batch_alter_table("notify_deliveries") as batch:
        batch.alter_column("ticket_id", existing_type=sa.String(64), nullable=False)
    op.create_index("ix_notify_deliveries_channel_ticket", "notify_deliveries",
                    ["channel", "ticket_id", "event_id"])
    op.create_index("ix_notify_events_ticket_id", "notify_events", ["ticket_id", "id"])
    op.create_table(
        "notify_robots",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("blocked_until", UTCDateTime),
        sa.Column("recent", sa.Text, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("notify_robots")
    op.drop_index("ix_notify_events_ticket_id", "notify_events")
    op.drop_index("ix_notify_deliveries_channel_ticket", "notify_deliveries")
    with op.batch_alter_table("notify_deliveries") as batch:
        batch.drop_column("ticket_id")
