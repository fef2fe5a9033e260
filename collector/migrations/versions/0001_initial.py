"""Initial schema: tokens, users, results, latest state, hosts.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from collector.store.tables import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent_tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("host", sa.String(64), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("revoked_at", UTCDateTime),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "results",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True),
        sa.Column("uid", sa.String(32), nullable=False, unique=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("host", sa.String(64), nullable=False),
        sa.Column("check", sa.String(64), nullable=False),
        sa.Column("item", sa.String(255), nullable=False),
        sa.Column("status", sa.SmallInteger, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("standard", sa.Text, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("duration_ms", sa.Float, nullable=False),
        sa.Column("metrics", sa.Text, nullable=False),
        sa.Column("details", sa.Text, nullable=False),
    )
    op.create_index("ix_results_site_host_check_started", "results",
                    ["site", "host", "check", "started_at"])
    op.create_index("ix_results_started_at", "results", ["started_at"])
    op.create_table(
        "latest",
        sa.Column("site", sa.String(64), primary_key=True),
        sa.Column("host", sa.String(64), primary_key=True),
        sa.Column("check", sa.String(64), primary_key=True),
        sa.Column("item", sa.String(255), primary_key=True),
        sa.Column("status", sa.SmallInteger, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("standard", sa.Text, nullable=False),
        sa.Column("result_uid", sa.String(32), nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("metrics", sa.Text, nullable=False),
    )
    op.create_table(
        "hosts",
        sa.Column("site", sa.String(64), primary_key=True),
        sa.Column("host", sa.String(64), primary_key=True),
        sa.Column("first_seen", UTCDateTime, nullable=False),
        sa.Column("last_seen", UTCDateTime, nullable=False),
        sa.Column("clock_offset_s", sa.Float),
        sa.Column("spool_backlog", sa.BigInteger),
        sa.Column("agent_version", sa.String(64)),
    )


def downgrade() -> None:
    for name in ("hosts", "latest", "results", "users", "agent_tokens"):
        op.drop_table(name)
