"""Customer follow-ups (回访) of resolved tickets, and the person a ticket is for.

``ticket_followups``: one follow-up per ticket (satisfaction 1-5, the customer's
contact, a note, who recorded it and when, the service complaint a low score
opened).  ``tickets.assignee``: the person a ticket is for when it is not the
engineers' queue's (a service complaint opened for the site's account
manager); NULL for every older ticket.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from collector.store.tables import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.add_column("tickets", sa.Column("assignee", sa.String(64)))
    op.create_table(
        "ticket_followups",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("ticket_id", _ID, sa.ForeignKey("tickets.id"), nullable=False, unique=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("satisfaction", sa.SmallInteger, nullable=False),
        sa.Column("contact", sa.String(100), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("complaint_ticket_id", _ID),
    )
    op.create_index("ix_ticket_followups_site_at", "ticket_followups", ["site", "at"])


def downgrade() -> None:
    op.drop_index("ix_ticket_followups_site_at", "ticket_followups")
    op.drop_table("ticket_followups")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("assignee")
