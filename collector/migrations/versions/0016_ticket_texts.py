"""The collector's own ticket texts carry message keys (issue 14).

``ticket_events.message``: a history note the collector wrote ("opened from monitoring…",
"recovered at… (auto)") as a message key with arguments (JSON ``{"key": ..., "args": {...}}``,
collector/records/i18n/tickets.*.json), rendered in each reader's language; NULL for a person's
note and for events written before this revision (their English note is shown).  The summaries
of tickets the collector opens itself (agent silent, relay silent) use ``tickets.messages``
(revision 0015) as ``{"message": {...}}``: no column for them.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("ticket_events", sa.Column("message", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("ticket_events") as batch:
        batch.drop_column("message")
