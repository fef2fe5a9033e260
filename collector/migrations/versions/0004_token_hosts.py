"""Agent tokens may write for extra hosts of their site: ``agent_token_hosts``.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent_token_hosts",
        sa.Column("token_id", sa.Integer, sa.ForeignKey("agent_tokens.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("host", sa.String(64), primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("agent_token_hosts")
