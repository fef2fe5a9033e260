"""Tickets remember their terms as written; each history event a snapshot of the ticket after it.

``tickets.terms`` (JSON): the response, resolution and on-site terms as the
policy wrote them (``3wd``, ``2h``) with their clock.  ``ticket_events.snapshot``
(JSON): level, state, times, deadlines, breaches and terms after the event, so a
record shows a ticket as it stood at the end of its period
(collector/ticket_history.py).  Both stay NULL in older rows: such tickets are
shown without terms, and their history is replayed from the events' actions.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tickets", sa.Column("terms", sa.JSON))
    op.add_column("ticket_events", sa.Column("snapshot", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("ticket_events") as batch:
        batch.drop_column("snapshot")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("terms")
