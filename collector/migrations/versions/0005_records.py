"""Inspection records: issued content with its digest, and append-only signatures.

``uq_records_scheduled`` (partial unique index, SQLite and PostgreSQL) lets a
scheduled record be issued once per (site, kind, period_start) however many
collectors try; records issued by hand are not limited.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from collector.store.tables import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")
_SCHEDULED = sa.text("origin = 'scheduled'")


def upgrade() -> None:
    op.create_table(
        "records",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("period_start", UTCDateTime, nullable=False),
        sa.Column("period_end", UTCDateTime, nullable=False),
        sa.Column("period_from", sa.String(10), nullable=False),
        sa.Column("period_to", sa.String(10), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("issued_by", sa.String(64), nullable=False),
        sa.Column("issued_at", UTCDateTime, nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
    )
    op.create_index("uq_records_scheduled", "records", ["site", "kind", "period_start"], unique=True,
                    sqlite_where=_SCHEDULED, postgresql_where=_SCHEDULED)
    op.create_index("ix_records_site_kind_from", "records", ["site", "kind", "period_from"])
    op.create_table(
        "record_signatures",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("record_id", _ID, sa.ForeignKey("records.id"), nullable=False),
        sa.Column("signer", sa.String(100), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("signed_at", UTCDateTime, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("signed_by", sa.String(64), nullable=False),
    )
    op.create_index("ix_record_signatures_record_id", "record_signatures", ["record_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_record_signatures_record_id", table_name="record_signatures")
    op.drop_table("record_signatures")
    op.drop_index("ix_records_site_kind_from", table_name="records")
    op.drop_index("uq_records_scheduled", table_name="records")
    op.drop_table("records")
