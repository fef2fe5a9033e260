"""The service archive (``archive_entries``) and people's browser sessions (``web_sessions``).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from collector.store.tables import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "archive_entries",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("host", sa.String(64)),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("phenomenon", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("parts", sa.Text, nullable=False),
        sa.Column("version", sa.String(255), nullable=False),
        sa.Column("signer", sa.String(128), nullable=False),
        sa.Column("ticket_id", _ID),
        sa.Column("corrects_id", _ID, sa.ForeignKey("archive_entries.id"), unique=True),
        sa.Column("engineer", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_archive_entries_site_at", "archive_entries", ["site", "at"])
    op.create_table(
        "web_sessions",
        sa.Column("id_hash", sa.String(64), primary_key=True),
        sa.Column("user_name", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_web_sessions_expires_at", "web_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_web_sessions_expires_at", "web_sessions")
    op.drop_table("web_sessions")
    op.drop_index("ix_archive_entries_site_at", "archive_entries")
    op.drop_table("archive_entries")
